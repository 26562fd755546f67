"""The ``correlate`` command line: one sub-command per job."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from typing import Final

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
    engine = Engine(config.settings, config.vendors)
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

            summary = run_replay(engine, args.input, args.output, rejects, args.merge, progress=counted)
        if spool is not None:
            with open(spool.name, "rb") as spooled:
                shutil.copyfileobj(spooled, sys.stderr.buffer)
            sys.stderr.buffer.flush()
    if not args.quiet:
        print(summary.line(), file=sys.stderr)
    return 0


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
