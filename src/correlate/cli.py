"""The ``correlate`` command line: one sub-command per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from correlate.config import ConfigError, load_config
from correlate.engine import Engine
from correlate.replay import run_replay


def _replay(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    engine = Engine(config.settings, config.vendors)
    summary = run_replay(engine, args.input, args.output, args.rejects, args.merge)
    print(summary.line(), file=sys.stderr)
    return 0


def _add_replay(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="run detection over a JSONL file of contacts, no servers",
        description="Reads contacts (JSONL, event-time order), writes incident events (JSONL).",
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
    parser.set_defaults(func=_replay)


def build_parser() -> argparse.ArgumentParser:
    from correlate import demo, evaluate, simulate
    from correlate.api import commands as api_commands
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (OSError, ConfigError) as error:
        print(f"correlate {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
