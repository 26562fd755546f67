"""The ``correlate`` command line: one sub-command per job."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final

from correlate import logs, progress
from correlate.config import load_config
from correlate.engine import Engine
from correlate.errors import CorrelateError
from correlate.extras import MissingExtra, extra_of
from correlate.replay import run_replay

__all__ = ["SERVER_LOG_LEVELS", "build_parser", "main"]

# The long-running servers, with the level each logs at unless told otherwise: the API's requests and
# deliveries are worth a line each (info); a worker's Kafka clients are chatty below warning.
SERVER_LOG_LEVELS: Final = {"up": "warning", "worker": "warning", "api": "info"}


def _replay(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    engine, lines_before = Engine(config.settings, config.vendors), 0
    stretch: dict[str, Any] = {}
    if args.state is not None:
        from correlate import snapshot

        state = Path(args.state)
        saved = state.read_bytes() if state.exists() else None
        try:
            engine, lines_before = snapshot.continue_replay(saved, config.settings, config.vendors)
        except snapshot.SnapshotRefused as refused:
            raise snapshot.SnapshotRefused(f"--state {args.state}: {refused} (remove it to start afresh)") from None

        def save(last_line: int) -> None:
            _write_whole(state, snapshot.save(engine, {snapshot.REPLAY_LINES: last_line}))

        stretch = {"first_line": lines_before + 1, "before_close": save, "close": args.final}
    # Events printed to this terminal already show progress, and a bar would cut through them.
    events_on_terminal = args.output == "-" and sys.stdout.isatty()
    shown = progress.wanted(args.quiet) and not events_on_terminal
    files = [*([] if args.input == "-" else [args.input]), *args.merge]
    total = progress.count_lines(files) if shown and args.input != "-" else None
    with ExitStack() as stack:
        rejects, spool = args.rejects, None
        if shown and rejects == "-":  # rejects on stderr would cut through the bar: they follow it instead
            spool = stack.enter_context(tempfile.NamedTemporaryFile(prefix="correlate-rejects-", suffix=".jsonl"))
            rejects = spool.name
        with progress.Bar(shown, desc="replay", total=total, unit=" lines", unit_scale=True) as bar:

            def counted(lines: Iterable[bytes]) -> Iterable[bytes]:
                return progress.counting(lines, bar)

            summary = run_replay(engine, args.input, args.output, rejects, args.merge, progress=counted, **stretch)
        if spool is not None:
            with open(spool.name, "rb") as spooled:
                shutil.copyfileobj(spooled, sys.stderr.buffer)
            sys.stderr.buffer.flush()
    if not args.quiet:
        print(summary.line(), file=sys.stderr)
        if args.state is not None:
            ending = "" if args.final else "; its last steps stay open for the next input (--final scores them)"
            print(f"replay: state after line {summary.lines} saved to {args.state}{ending}", file=sys.stderr)
    return 0


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a run killed mid-write leaves the previous state."""
    spare = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(spare, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(spare, path)
    finally:
        spare.unlink(missing_ok=True)


def _add_replay(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="run detection over a JSONL file of contacts, no servers",
        description="Reads contacts (JSONL, event-time order), writes incident events (JSONL). At a terminal, "
        "a progress bar on stderr shows lines read, their rate and the time left.",
    )
    parser.add_argument("input", help="contacts file, '-' for stdin")
    parser.add_argument("--output", "-o", default="-", help="incident events file (default stdout)")
    parser.add_argument("--config", "-c", help="settings file (TOML or JSON)")
    parser.add_argument(
        "--rejects", default="-", help="where rejected records go, with the reason (JSONL; default stderr)"
    )
    parser.add_argument(
        "--merge", action="append", default=[], metavar="FILE", help="more input (e.g. telemetry), merged by event time"
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="continue the stream the state in FILE stopped at (if FILE exists), and save the state there at the "
        "end: replaying a stream in parts gives the events of one replay of the whole. The last steps stay open "
        "for the next part unless --final. FILE is pickled state: keep it where only you write",
    )
    parser.add_argument(
        "--final",
        action="store_true",
        help="with --state: this input ends the stream; score its last steps (as a replay without --state does)",
    )
    progress.add_quiet(parser)
    parser.set_defaults(func=_replay)


def build_parser() -> argparse.ArgumentParser:
    from correlate.api import commands as api_commands
    from correlate.lab import demo, evaluate, simulate
    from correlate.streams import commands as streams_commands

    parser = argparse.ArgumentParser(prog="correlate", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    demo.add_parser(subparsers)
    _add_replay(subparsers)
    simulate.add_parser(subparsers)
    evaluate.add_parser(subparsers)
    # The edges register their own commands (each module owns its parsers):
    streams_commands.add_parsers(subparsers)
    api_commands.add_parsers(subparsers)
    for command in SERVER_LOG_LEVELS:
        logs.add_arguments(subparsers.choices[command])
    return parser


def _log_as_asked(args: argparse.Namespace) -> None:
    """A server's logging, from its flags or its parent's environment; passed on to what it starts."""
    choice = logs.LogChoice.chosen(args.log_level, args.log_format)
    choice.export(os.environ)
    logs.configure(choice, SERVER_LOG_LEVELS[args.command])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in SERVER_LOG_LEVELS:
            _log_as_asked(args)
        return int(args.func(args))
    except MissingExtra as error:  # its message names the command already
        print(error, file=sys.stderr)
        return 2
    except (OSError, CorrelateError) as error:  # what correlate refuses, and files: one line, no traceback
        print(f"correlate {args.command}: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:  # an extra the command's own check missed: still one line, not a trace
        extra = extra_of(error.name)
        if extra is None:
            raise
        print(MissingExtra(args.command, [extra]), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
