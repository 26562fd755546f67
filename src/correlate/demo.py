"""``correlate demo``: the main job on the embedded default, start to finish.

Simulates a week of contacts with injected faults and decoys, starts the local stack (``correlate up``: a Tansu
broker, Redis, a worker and the API, all on loopback), produces the contacts to it, waits until the detector
has read them all, scores the incidents it published against the truth, and shows the banner an agent would
see for an open incident. Then it stops the stack. ``--no-servers`` runs the same core through
``correlate replay`` instead — the two give the same incidents.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from correlate.config import load_config
from correlate.contracts import Contact, parse_timestamp, validate
from correlate.engine import Engine
from correlate.evaluate import evaluate
from correlate.procs import stop
from correlate.replay import run_replay
from correlate.simulate import simulate

_START = parse_timestamp("2026-03-02T00:00:00Z")  # a Monday
_STACK_START_LIMIT = 180.0  # seconds: only stops a demo whose stack never comes up
_QUIET = 3.0  # seconds without progress after which the detector is taken to have read everything


def run(args: argparse.Namespace) -> int:
    folder = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="correlate-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    contacts, truth, incidents = folder / "contacts.jsonl", folder / "truth.jsonl", folder / "incidents.jsonl"
    print(f"simulating {args.days:g} days x {args.per_day:,} contacts/day (seed {args.seed}) ...", file=sys.stderr)
    simulation = simulate(seed=args.seed, days=args.days, contacts_per_day=args.per_day, start=_START)
    contacts.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in simulation.contacts))
    truth.write_bytes(b"".join(orjson.dumps(fault) + b"\n" for fault in simulation.truth))
    if args.no_servers:
        config = load_config(args.config)
        summary = run_replay(
            Engine(config.settings, config.vendors), str(contacts), str(incidents), str(folder / "rejects.jsonl")
        )
        print(summary.line(), file=sys.stderr)
        banner = None
    else:
        valid = sum(isinstance(validate(record), Contact) for record in simulation.contacts)
        banner = _through_the_stack(folder, contacts, incidents, valid, args.config)
    events = [orjson.loads(line) for line in incidents.read_bytes().splitlines()]
    for event in events:
        if event["event"] == "opened":
            print(f"  {event['opened_at']}  {event['summary']}")
    print(evaluate(simulation.truth, events).render())
    if banner:
        print(f"\nbanner an agent sees for {banner[0]}:\n  {banner[1]}")
    elif not args.no_servers:
        print("\nno incident is still open at the end of the stream, so no agent sees a banner now")
    print(f"\nfiles: {folder}  (contacts, truth, incidents; replay them with `correlate replay`)")
    return 0


def _correlate(*args: str, env: dict[str, str], **options: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "correlate.cli", *args], env=env, capture_output=True, **options)


def _through_the_stack(
    folder: Path, contacts: Path, incidents: Path, valid: int, config: str | None
) -> tuple[str, str] | None:
    """Run ``correlate up`` in a home of its own, feed it, collect what it published; always stop it."""
    from correlate.streams.stack import stack_status

    home = folder / "stack"
    env = {**os.environ, "CORRELATE_HOME": str(home)}
    up_args = ["up", *(["--config", config] if config else [])]
    with open(folder / "up.log", "wb") as log:
        up = subprocess.Popen([sys.executable, "-m", "correlate.cli", *up_args], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + _STACK_START_LIMIT
        while not (status := stack_status(home))["healthy"]:
            if up.poll() is not None or time.monotonic() > deadline:
                raise OSError(f"the local stack did not come up; see {folder / 'up.log'}")
            time.sleep(0.5)
        print(f"stack up: broker {status['broker']}, store {status['store']}, API {status['api']}", file=sys.stderr)
        produced = _correlate("produce", str(contacts), env=env)
        print(produced.stderr.decode().strip(), file=sys.stderr)
        if produced.returncode != 0:
            raise OSError("produce failed")
        _wait_for_the_detector(home, valid)
        published = _correlate("subscribe", "--all", "--timeout", "3", env=env, check=True)
        incidents.write_bytes(published.stdout)
        events = [orjson.loads(line) for line in published.stdout.splitlines()]
        return _banner(status["api"], env, events)
    finally:
        stop(up, signal.SIGINT, grace=60)  # Ctrl-C: up stops its workers, the API and its servers in order


def _wait_for_the_detector(home: Path, valid: int) -> None:
    """Until the detect leader has taken in every valid contact (or a repeat or late one), or stops moving."""
    from correlate.streams.stack import stack_status

    last, still_since = -1, time.monotonic()
    while True:
        progress = stack_status(home).get("progress") or {}
        seen = int(progress.get("accepted", 0)) + int(progress.get("duplicates", 0))
        seen += sum(int(n) for n in (progress.get("rejected") or {}).values())
        if seen != last:
            print(f"\rdetector has read {seen:,} of {valid:,} contacts", end="", file=sys.stderr, flush=True)
            last, still_since = seen, time.monotonic()
        if seen >= valid or time.monotonic() - still_since > _QUIET * 10:
            break
        time.sleep(0.5)
    print(file=sys.stderr)
    time.sleep(_QUIET)  # the last events on their way to the topic


def _banner(api: str, env: dict[str, str], events: Sequence[dict[str, Any]]) -> tuple[str, str] | None:
    """The known-incident banner for the scope of the last incident still open, as the agent API gives it."""
    still_open: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["event"] == "resolved":
            still_open.pop(event["incident_id"], None)
        else:
            still_open[event["incident_id"]] = event
    if not still_open or not api:
        return None
    scope = list(still_open.values())[-1]["scope"]
    token = _correlate("token", "--role", "agent", "--name", "demo", env=env, check=True).stdout.decode().strip()
    url = f"{api}/v1/known-incidents?{urllib.parse.urlencode(scope)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the API's feed may still be a moment behind the topic
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                found = json.load(response)
        except OSError:
            found = {}
        if found.get("incidents"):
            return ", ".join(f"{k}={v}" for k, v in scope.items()), str(found["incidents"][0]["banner"])
        time.sleep(0.5)
    return None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="simulate a week with faults, run it through the local stack, score the incidents"
    )
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", "-c", help="settings file (TOML or JSON)")
    parser.add_argument("--workdir", help="where to keep the files (default: a new temporary folder)")
    parser.add_argument(
        "--no-servers", action="store_true", help="run the detection core through `correlate replay` instead"
    )
    parser.set_defaults(func=run)
