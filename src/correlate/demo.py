"""``correlate demo``: the whole detection core on a simulated week, start to finish, no servers.

Simulates contacts with injected faults and decoys, replays them through the detector, and scores the
incidents against the truth — the three commands a newcomer would otherwise type by hand.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import orjson

from correlate.config import load_config
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.evaluate import evaluate
from correlate.replay import run_replay
from correlate.simulate import simulate

_START = parse_timestamp("2026-03-02T00:00:00Z")  # a Monday


def run(args: argparse.Namespace) -> int:
    folder = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="correlate-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    contacts, truth, incidents = folder / "contacts.jsonl", folder / "truth.jsonl", folder / "incidents.jsonl"
    print(f"simulating {args.days:g} days x {args.per_day:,} contacts/day (seed {args.seed}) ...", file=sys.stderr)
    simulation = simulate(seed=args.seed, days=args.days, contacts_per_day=args.per_day, start=_START)
    contacts.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in simulation.contacts))
    truth.write_bytes(b"".join(orjson.dumps(fault) + b"\n" for fault in simulation.truth))
    config = load_config(args.config)
    summary = run_replay(
        Engine(config.settings, config.vendors), str(contacts), str(incidents), str(folder / "rejects.jsonl")
    )
    print(summary.line(), file=sys.stderr)
    events = [orjson.loads(line) for line in incidents.read_bytes().splitlines()]
    for event in events:
        if event["event"] == "opened":
            print(f"  {event['opened_at']}  {event['summary']}")
    print(evaluate(simulation.truth, events).render())
    print(f"\nfiles: {folder}  (contacts, truth, incidents, rejects; replay them with `correlate replay`)")
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="simulate a week with faults, detect, and score the result")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", "-c", help="settings file (TOML or JSON)")
    parser.add_argument("--workdir", help="where to keep the files (default: a new temporary folder)")
    parser.set_defaults(func=run)
