"""Snapshots and takeover: the size and cost of the detect leader's checkpoint, and how long a SIGKILLed leader
leaves the stream without incident events, with a checkpoint and without.

    python benchmarks/takeover.py                                   # state: 2 days at 20k, 100k, 400k a day
    python benchmarks/takeover.py --skip-state --takeover-days 4 --takeover-per-day 20000
    python benchmarks/takeover.py --input two-weeks.jsonl --skip-rebuild    # 14 days at 400k/day: see --input

**State**: a simulated stream goes through one Engine (in process, no servers), then the engine is saved
(:func:`correlate.snapshot.save`) and restored; printed: the snapshot's size, the time of each, and the time the
replay of the whole stream took (what a takeover without a checkpoint redoes, at replay speed at best).

**Takeover**: Tansu and Redis on loopback, two ``correlate worker`` processes (a leader and a standby). The stream
is produced up to a little before the contact that releases an incident event near its end; once the leader has
taken all of it in (and, with checkpoints, stored a checkpoint that covers it), the leader is killed with SIGKILL
and the rest is produced at once. Printed: the wall time from the kill to the first incident event published
after it (Kafka create time of the event; one machine, one clock), with ``checkpoint_every`` on and off. Both
include the lease's time to live (``--lease-ttl``), during which nobody leads.

The machine may be shared: run it twice and read the range.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from pathlib import Path
from typing import Any

import orjson

from correlate import snapshot
from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine, rare_collections
from correlate.events import IncidentEvent
from correlate.lab.simulate import minimum_days, simulate
from correlate.replay import replay
from correlate.streams import kafka_io
from correlate.streams.checkpoint import stored_covers
from correlate.streams.client import produce
from correlate.streams.detect import Progress
from correlate.streams.embedded import EmbeddedBroker, EmbeddedRedis, free_port
from correlate.streams.settings import StackSettings
from correlate.vendors import VendorRegistry

START = parse_timestamp("2026-03-02T00:00:00Z")


def stream_lines(days: float, per_day: int, seed: int) -> list[bytes]:
    faults = None if days >= minimum_days(4) else 0
    sim = simulate(seed=seed, days=days, contacts_per_day=per_day, start=START, faults=faults)
    return [orjson.dumps(record) for record in sim.contacts]


# -- state ---------------------------------------------------------------------------------------------------
def state_figures(lines: list[bytes]) -> dict[str, float]:
    engine = Engine()
    started = time.perf_counter()
    with rare_collections():
        replay(engine, [line + b"\n" for line in lines], io.BytesIO(), None, close=False)
    replayed = time.perf_counter() - started
    started = time.perf_counter()
    data = snapshot.save(engine)
    saved = time.perf_counter() - started
    started = time.perf_counter()
    snapshot.restore(data, Settings(), VendorRegistry())
    restored = time.perf_counter() - started
    return {
        "contacts": engine.counts.accepted,
        "mb": len(data) / 1e6,
        "save_s": saved,
        "restore_s": restored,
        "replay_s": replayed,
    }


# -- takeover ------------------------------------------------------------------------------------------------
def start_worker(broker: str, store: str, prefix: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "CORRELATE_TOPIC_PREFIX": prefix, **env}
    argv = [sys.executable, "-m", "correlate.cli", "worker", "--broker", broker, "--store", store]
    argv += ["--metrics-port", str(free_port())]
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=environment, stdout=out, stderr=subprocess.STDOUT)


def progress(store: str, prefix: str) -> Progress:
    return Progress.read(store, StackSettings(topic_prefix=prefix))


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise SystemExit(f"not reached within {timeout:g} s: {what}")


def split_before_an_event(lines: list[bytes]) -> tuple[int, int, int]:
    """One pass of the engine over the stream: a line index shortly before the contact that releases the last
    incident event of the stream's last tenth (so the leader is killed with history behind it and an event ahead),
    the contacts accepted before that line, and the contacts accepted in all."""
    engine = Engine()
    tips: list[int] = []
    accepted_before = array("L")  # contacts accepted before each line: 4 bytes a line, for weeks of stream
    with rare_collections():
        for index, line in enumerate(lines):
            accepted_before.append(engine.counts.accepted)
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if any(isinstance(event, IncidentEvent) for event in engine.process(record).events):
                tips.append(index)
    late = [tip for tip in tips if tip >= len(lines) * 0.9] or tips[-1:]
    if not late:
        raise SystemExit("the stream releases no incident event: use more days")
    split = max(0, late[0] - 2_000)
    return split, accepted_before[split], engine.counts.accepted


async def next_event_after(broker: str, topic: str, since_ms: int, timeout: float) -> float | None:
    """Create time (s) of the first record on ``topic`` created after ``since_ms``."""
    from aiokafka import TopicPartition

    client = kafka_io.consumer(broker)
    await client.start()
    try:
        deadline = time.monotonic() + timeout
        partitions = [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or ())]
        client.assign(partitions)
        await client.seek_to_beginning(*partitions)
        while time.monotonic() < deadline:
            batches = await client.getmany(timeout_ms=200, max_records=10_000)
            found = [r.timestamp for records in batches.values() for r in records if r.timestamp > since_ms]
            if found:
                return min(found) / 1000
        return None
    finally:
        await kafka_io.stop(client)


def takeover(
    broker: str,
    store: str,
    lines: list[bytes],
    split: tuple[int, int, int],
    every: float,
    lease_ttl: float,
    logs: Path,
) -> dict[str, float]:
    """``split``: the line the leader is killed after, the contacts accepted before it and in all."""
    split_at, expected, total = split
    prefix = f"takeover-{uuid.uuid4().hex[:8]}."
    env = {"CORRELATE_CHECKPOINT_EVERY": f"{every:g}", "CORRELATE_LEASE_TTL": f"{lease_ttl:g}"}
    leader = start_worker(broker, store, prefix, env, logs / f"{prefix}leader.log")
    standby: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: progress(store, prefix).leader.endswith(f":{leader.pid}"), 120, "a leader")
        time.sleep(2.0)  # the validate consumer joins its group
        standby = start_worker(broker, store, prefix, env, logs / f"{prefix}standby.log")
        asyncio.run(produce(broker, prefix + "contacts", [line + b"\n" for line in lines[:split_at]]))
        wait_until(lambda: progress(store, prefix).accepted >= expected, 7_200, "the leader took the history in")
        if every:
            wait_until(
                lambda: stored_covers(store, StackSettings(topic_prefix=prefix)).get("accepted", 0) >= expected,
                600,
                "a checkpoint",
            )
        if not progress(store, prefix).leader.endswith(f":{leader.pid}"):
            raise SystemExit("the lease moved before the kill: the machine is too busy for this --lease-ttl")
        killed_at = time.time()
        leader.send_signal(signal.SIGKILL)
        leader.wait()
        asyncio.run(produce(broker, prefix + "contacts", [line + b"\n" for line in lines[split_at:]]))
        published = asyncio.run(next_event_after(broker, prefix + "incidents", int(killed_at * 1000), 7_200))
        if published is None:
            raise SystemExit("no incident event after the kill")
        wait_until(lambda: progress(store, prefix).accepted >= total, 7_200, "the rest taken in")
        taken_over = progress(store, prefix)
        return {
            "seconds": published - killed_at,
            "read": taken_over.records_read,
            "covered": sum(taken_over.restored.values()),
            "restored": float(taken_over.start == "checkpoint"),
        }
    finally:
        for worker in (leader, standby):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers and workers on the way out
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=2.0, help="days of stream behind the state measured")
    parser.add_argument("--per-day", type=int, nargs="+", default=[20_000, 100_000, 400_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-state", action="store_true")
    parser.add_argument("--skip-takeover", action="store_true")
    parser.add_argument("--takeover-days", type=float, default=4.0)
    parser.add_argument("--takeover-per-day", type=int, default=20_000)
    parser.add_argument(
        "--input",
        type=Path,
        help="the takeover's stream from this contacts JSONL instead of simulated (weeks of it "
        "do not fit in memory as the simulator's records: write it in stretches with `correlate simulate --start`)",
    )
    parser.add_argument("--checkpoint-every", type=float, default=30.0, help="the checkpointed run's setting (s)")
    parser.add_argument("--lease-ttl", type=float, default=2.0, help="the workers' lease time to live (s)")
    parser.add_argument(
        "--skip-rebuild",
        action="store_true",
        help="time only the checkpointed takeover (a rebuild of weeks takes hours)",
    )
    args = parser.parse_args()

    given: list[bytes] | None = None
    if args.input is not None:
        with open(args.input, "rb") as stream:
            given = [line.rstrip(b"\n") for line in stream]
    if not args.skip_state:
        streams = (
            [(str(args.input), given)]
            if given is not None
            else [(f"{args.days:g} days at {p:,}/day", p) for p in args.per_day]
        )
        for what, source in streams:
            lines = source if isinstance(source, list) else stream_lines(args.days, source, args.seed)
            f = state_figures(lines)
            print(
                f"state after {what} ({f['contacts']:,.0f} contacts): "
                f"snapshot {f['mb']:.1f} MB, save {f['save_s']:.2f} s, restore {f['restore_s']:.2f} s; "
                f"replaying the stream took {f['replay_s']:.1f} s",
                flush=True,
            )
            del lines
    if args.skip_takeover:
        return
    if given is not None:
        lines, what = given, str(args.input)
    else:
        lines = stream_lines(args.takeover_days, args.takeover_per_day, args.seed)
        what = f"{args.takeover_days:g} days x {args.takeover_per_day:,}/day"
    split = split_before_an_event(lines)
    print(
        f"takeover: {len(lines):,} lines ({what}), leader killed after {split[0]:,}; lease ttl {args.lease_ttl:g} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="correlate-takeover-") as tmp:
        folder = Path(tmp)
        with (
            EmbeddedBroker().start(log=folder / "broker.log") as broker,
            EmbeddedRedis().start(folder / "redis", log=folder / "redis.log", persistent=False) as store,
        ):
            for every in (args.checkpoint_every,) if args.skip_rebuild else (args.checkpoint_every, 0.0):
                f = takeover(broker.bootstrap, store.url, lines, split, every, args.lease_ttl, folder)
                how = f"checkpoint every {every:g} s" if every else "no checkpoint (rebuild from the start)"
                started = "restored a checkpoint" if f["restored"] else "rebuilt from scratch"
                print(
                    f"  {how}: next incident event {f['seconds']:.1f} s after SIGKILL "
                    f"(the new leader {started}, covering {f['covered']:,.0f} records of the topic; "
                    f"it read {f['read']:,.0f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
