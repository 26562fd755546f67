"""Kafka pipeline throughput (one and two workers) and detection latency, through the embedded broker.

    python benchmarks/pipeline_throughput.py                      # 7 days x 20,000 contacts/day
    python benchmarks/pipeline_throughput.py --days 14 --runners aiokafka faust --workers 1 2

Starts Tansu and Redis (loopback), runs `correlate worker` processes, produces a simulated stream as fast as
possible and clocks the wall time until the detect leader has taken in every accepted contact (its progress
report in Redis, written once a second and as soon as a burst is taken in: the figure is low by at most one
round of the leader, ~50 ms). Then
detection latency: the stream is produced at a fixed rate (default 1,000 contacts/s) and, for every incident
event, the wall time from producing the contact that released it (found by running the same Engine over the
file) to the event's copy on its vendor topic (Kafka create times of both records; one machine, one clock).

Targets (issue 3): >= 10,000 contacts/s end to end with one worker; p99 detection latency <= 2 s at
1,000 contacts/s. The machine is shared: run it twice and read the range.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from correlate.contracts import Contact, parse_timestamp, validate
from correlate.engine import Engine
from correlate.events import IncidentEvent
from correlate.lab.simulate import simulate
from correlate.replay import replay
from correlate.streams import kafka_io
from correlate.streams.client import produce
from correlate.streams.detect import Progress
from correlate.streams.embedded import EmbeddedBroker, EmbeddedRedis, free_port
from correlate.streams.settings import StackSettings
from correlate.topics import VENDOR_PREFIX

START = parse_timestamp("2026-03-02T00:00:00Z")


def stream_file(folder: Path, days: float, per_day: int, seed: int) -> tuple[Path, list[bytes]]:
    sim = simulate(seed=seed, days=days, contacts_per_day=per_day, start=START)
    lines = [orjson.dumps(record) for record in sim.contacts]
    path = folder / f"contacts-{days:g}x{per_day}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines


def accepted_count(lines: list[bytes]) -> int:
    engine = Engine()
    replay(engine, [line + b"\n" for line in lines], io.BytesIO(), None)
    return engine.counts.accepted


def start_workers(count: int, broker: str, store: str, prefix: str, runner: str, logs: Path) -> list[Any]:
    env = {**os.environ, "CORRELATE_TOPIC_PREFIX": prefix, "CORRELATE_VALIDATE_RUNNER": runner}
    workers = []
    for index in range(count):
        argv = [sys.executable, "-m", "correlate.cli", "worker", "--broker", broker, "--store", store]
        argv += ["--metrics-port", str(free_port())]
        with open(logs / f"{prefix}worker-{index}.log", "wb") as log:
            workers.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
    return workers


def stop_workers(workers: list[Any]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()


def progress(store: str, prefix: str) -> Progress:
    return Progress.read(store, StackSettings(topic_prefix=prefix))


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def throughput(
    broker: str, store: str, path: Path, expected: int, workers: int, runner: str, logs: Path
) -> dict[str, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    processes = start_workers(workers, broker, store, prefix, runner, logs)
    try:
        if not wait_until(lambda: progress(store, prefix).leader != "", 60):
            raise SystemExit(f"no leader elected; see {logs}")
        time.sleep(6.0 if runner == "faust" else 2.0)  # the validate consumers join their group
        started = time.time()
        with open(path, "rb") as lines:
            asyncio.run(produce(broker, prefix + "contacts", lines))
        produced = time.time() - started
        if not wait_until(lambda: progress(store, prefix).accepted >= expected, 600):
            raise SystemExit(f"pipeline did not take in {expected} contacts: {progress(store, prefix)}")
        done = progress(store, prefix)
        elapsed = done.updated_at - started
        return {"contacts_per_s": expected / elapsed, "seconds": elapsed, "produce_s": produced}
    finally:
        stop_workers(processes)


def tipping_contacts(lines: list[bytes]) -> dict[tuple[str, str, str], str]:
    """(incident_id, event, at) -> contact_id of the contact whose arrival released the event."""
    engine = Engine()
    tips: dict[tuple[str, str, str], str] = {}
    for line in lines:
        record = orjson.loads(line)
        contact = validate(record)
        outcome = engine.process(record)
        for event in outcome.events:
            if isinstance(contact, Contact) and isinstance(event, IncidentEvent):
                tips[(event.incident_id, event.event.value, event.at)] = contact.contact_id
    return tips


async def _read_times(broker: str, topics: list[str]) -> list[tuple[bytes, float]]:
    """(value, Kafka create time in seconds) of every record on the topics."""
    client = kafka_io.consumer(broker)
    await client.start()
    try:
        from aiokafka import TopicPartition

        partitions = [TopicPartition(t, p) for t in topics for p in sorted(client.partitions_for_topic(t) or ())]
        client.assign(partitions)
        await client.seek_to_beginning(*partitions)
        out: list[tuple[bytes, float]] = []
        while True:
            batches = await client.getmany(timeout_ms=200, max_records=10_000)
            for records in batches.values():
                out += [(r.value, r.timestamp / 1000) for r in records]
            positions = {tp: await client.position(tp) for tp in partitions}
            if all(client.highwater(tp) is not None and positions[tp] >= client.highwater(tp) for tp in partitions):
                return out
    finally:
        await kafka_io.stop(client)


async def _topics(broker: str) -> set[str]:
    client = kafka_io.consumer(broker)
    await client.start()
    try:
        return set(await client.topics())
    finally:
        await kafka_io.stop(client)


def latency(broker: str, store: str, lines: list[bytes], rate: float, runner: str, logs: Path) -> dict[str, float]:
    prefix = f"lat-{uuid.uuid4().hex[:8]}."
    expected = accepted_count(lines)
    processes = start_workers(1, broker, store, prefix, runner, logs)
    try:
        if not wait_until(lambda: progress(store, prefix).leader != "", 60):
            raise SystemExit("no leader elected")
        time.sleep(6.0 if runner == "faust" else 2.0)
        asyncio.run(produce(broker, prefix + "contacts", lines, rate=rate))
        wait_until(lambda: progress(store, prefix).accepted >= expected, 120)
        time.sleep(2.0)
        produced = {
            orjson.loads(v).get("contact_id"): t for v, t in asyncio.run(_read_times(broker, [prefix + "contacts"]))
        }
        vendor_topics = sorted(t for t in asyncio.run(_topics(broker)) if t.startswith(prefix + VENDOR_PREFIX))
        tips = tipping_contacts(lines)
        seconds = []
        for value, published_at in asyncio.run(_read_times(broker, vendor_topics)):
            event = IncidentEvent.from_json(orjson.loads(value))
            tip = tips.get((event.incident_id, event.event.value, event.at))
            if tip in produced:
                seconds.append(published_at - produced[tip])
    finally:
        stop_workers(processes)
    if not seconds:
        raise SystemExit("no incident events on the vendor topics")
    seconds.sort()
    return {
        "events": len(seconds),
        "p50": statistics.median(seconds),
        "p99": seconds[min(len(seconds) - 1, round(0.99 * (len(seconds) - 1)))],
        "max": seconds[-1],
    }


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers and workers on the way out
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runners", nargs="+", default=["aiokafka"], choices=["aiokafka", "faust"])
    parser.add_argument("--latency-rate", type=float, default=1_000.0, help="contacts/s for the latency run")
    parser.add_argument("--latency-days", type=float, default=5.0)
    parser.add_argument("--latency-per-day", type=int, default=5_000)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="correlate-bench-") as tmp:
        folder = Path(tmp)
        path, lines = stream_file(folder, args.days, args.per_day, args.seed)
        expected = accepted_count(lines)
        started = time.perf_counter()
        replay(Engine(), [line + b"\n" for line in lines], io.BytesIO(), None)
        replay_rate = len(lines) / (time.perf_counter() - started)
        print(f"stream: {len(lines):,} lines, {expected:,} accepted ({args.days:g} days x {args.per_day:,}/day)")
        print(f"replay alone (same machine, same moment): {replay_rate:,.0f} contacts/s")
        with (
            EmbeddedBroker().start(log=folder / "broker.log") as broker,
            EmbeddedRedis().start(folder / "redis", log=folder / "redis.log", persistent=False) as store,
        ):
            for runner in args.runners:
                rates: dict[int, float] = {}
                for workers in args.workers:
                    figures = throughput(broker.bootstrap, store.url, path, expected, workers, runner, folder)
                    rates[workers] = figures["contacts_per_s"]
                    print(
                        f"{runner}, {workers} worker(s): {figures['contacts_per_s']:,.0f} contacts/s end to end "
                        f"({figures['seconds']:.1f} s; producing took {figures['produce_s']:.1f} s)"
                    )
                if 1 in rates and len(rates) > 1:
                    for workers, rate in rates.items():
                        if workers != 1:
                            print(f"{runner}: speed-up with {workers} workers: {rate / rates[1]:.2f}x")
            if not args.skip_latency:
                _, latency_lines = stream_file(folder, args.latency_days, args.latency_per_day, args.seed)
                figures = latency(
                    broker.bootstrap, store.url, latency_lines, args.latency_rate, args.runners[0], folder
                )
                print(
                    f"detection latency at {args.latency_rate:,.0f} contacts/s ({runner}): "
                    f"p50 {figures['p50']:.3f} s, p99 {figures['p99']:.3f} s, max {figures['max']:.3f} s "
                    f"over {figures['events']:.0f} events"
                )


if __name__ == "__main__":
    main()
