"""The Kafka pipeline against a real broker (Tansu) and Redis, workers as real processes.

Same contacts, same incidents as ``correlate replay`` — byte for byte; two workers share the input, the
leader is killed mid-stream and the other takes over without counting a contact twice, opening an incident
twice, or leaving a vendor without an event.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.lab.simulate import simulate
from correlate.replay import replay
from correlate.streams.detect import Progress, read_all
from correlate.streams.embedded import EmbeddedBroker, free_port
from correlate.streams.settings import StackSettings
from correlate.topics import vendor_topic
from correlate.vendor_view import vendor_event

START = parse_timestamp("2026-03-02T00:00:00Z")


@dataclass
class Stream:
    path: Path
    lines: list[bytes]
    events: list[bytes]  # replay's incident events, one JSON document each (no newline)
    accepted: int
    rejected: int
    last_ts: float


def simulated_stream(directory: Path, *, seed: int = 5, days: float = 4, per_day: int = 2_000) -> Stream:
    """A small simulated stream with faults and some broken records, and what replay makes of it."""
    sim = simulate(seed=seed, days=days, contacts_per_day=per_day, start=START, faults=3, bad_records=0.01)
    lines = [orjson.dumps(record) for record in sim.contacts]
    path = directory / "contacts.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = io.BytesIO()
    summary = replay(Engine(), [line + b"\n" for line in lines], out, None)
    events = [line for line in out.getvalue().split(b"\n") if line]
    times = [
        parse_timestamp(r["ts"])
        for r in sim.contacts
        if isinstance(r, dict) and isinstance(r.get("ts"), str) and _parses(r["ts"])
    ]
    return Stream(path, lines, events, summary.accepted, summary.rejected, final_clock(times))


def final_clock(times: list[float]) -> float:
    """Where a stream that never ends leaves the engine's clock, at the earliest: the clock is the median of the
    latest ``clock_quorum`` records in arrival order, never below the ``clock_quorum``-th latest event time."""
    return sorted(times)[-Settings().clock_quorum]


def _parses(text: str) -> bool:
    try:
        parse_timestamp(text)
    except Exception:
        return False
    return True


class Worker:
    """``correlate worker`` as a child process, with its log and metrics port."""

    def __init__(self, broker: str, store: str, prefix: str, home: Path, name: str, **env: str) -> None:
        self.metrics_port = free_port()
        self.log_path = home / f"{name}.log"
        self.cwd = home / f"{name}.cwd"  # where it was started from, which it must leave as it found it
        self.cwd.mkdir()
        environment = {
            **os.environ,
            "CORRELATE_TOPIC_PREFIX": prefix,
            "CORRELATE_HOME": str(home),
            "CORRELATE_LEASE_TTL": "2",
            **env,
        }
        argv = [sys.executable, "-m", "correlate.cli", "worker", "--broker", broker, "--store", store]
        argv += ["--metrics-port", str(self.metrics_port)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=self.cwd)

    @property
    def pid(self) -> int:
        return self.process.pid

    def metric(self, name: str) -> float:
        """The sum of a metric's series as the worker exposes it now."""
        from urllib.request import urlopen

        try:
            with urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:  # not serving yet
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#") and (line[len(name)] in "{ ")
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def produce(broker: str, prefix: str, path: Path, *options: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CORRELATE_TOPIC_PREFIX": prefix}
    argv = [sys.executable, "-m", "correlate.cli", "produce", str(path), "--broker", broker, *options]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def progress(store: str, prefix: str) -> Progress:
    return Progress.read(store, StackSettings(topic_prefix=prefix))


def lag_reports(store: str, prefix: str) -> str:
    """The validate stage's lag reports, for failure messages: what the detect leader is waiting for."""
    client = redis.Redis.from_url(store)
    try:
        reports = client.hgetall(prefix + "correlate:validate-lag")
    finally:
        client.close()
    now = time.time()
    lines = []
    for name, value in sorted(reports.items()):
        lag, fetched_at, reported_at = json.loads(value)
        lines.append(
            f"{name.decode()}: lag {lag}, fetched {now - fetched_at:.1f} s ago, reported {now - reported_at:.1f} s ago"
        )
    return "\n".join(lines)


def wait_for(condition: Callable[[], bool], timeout: float, explain: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout:g} s:\n{explain()}")


def kill_leader(
    leader: Worker, survivor: Worker, producer: subprocess.Popen[bytes], store: str, prefix: str, accepted: int
) -> None:
    """SIGKILL the leader; once the producer is done, wait until the survivor leads and has taken in every
    accepted record."""
    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait()
    assert producer.wait(180) == 0, producer.stderr.read() if producer.stderr else ""
    wait_for(
        lambda: (
            progress(store, prefix).leader.endswith(f":{survivor.pid}") and progress(store, prefix).accepted == accepted
        ),
        180,
        lambda: f"{progress(store, prefix)}\n{survivor.log()}",
    )


def topic_values(broker: str, topic: str) -> list[bytes]:
    return asyncio.run(read_all(broker, topic))


def vendors_of(event: dict[str, Any]) -> set[str]:
    vendors = event.get("vendors") or {}
    return {*vendors.get("at_fault", ()), *vendors.get("affected", ())}


def settled_events(stream: Stream, lateness: float = 300.0, step: float = 60.0) -> list[bytes]:
    """Replay's events for steps the stream itself closes (replay also scores the last steps at end of input;
    a stream that never ends leaves those open)."""
    horizon = stream.last_ts - lateness - step
    return [e for e in stream.events if parse_timestamp(json.loads(e)["at"]) <= horizon]


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    return simulated_stream(tmp_path_factory.mktemp("stream"))


def _check_incidents_as_replay(broker: str, prefix: str, stream: Stream) -> list[bytes]:
    published = topic_values(broker, prefix + "incidents")
    settled = settled_events(stream)
    assert settled, "the stream must give incidents before its end"
    assert published[: len(settled)] == settled
    assert published == stream.events[: len(published)]  # nothing more, nothing else
    return published


def _check_published_once(broker: str, prefix: str, stream: Stream, survivor: Worker) -> None:
    """After a takeover: every event replay releases is on ``incidents`` and the vendor topics, none twice."""
    wait_for(lambda: len(topic_values(broker, prefix + "incidents")) >= len(settled_events(stream)), 90, survivor.log)
    published = _check_incidents_as_replay(broker, prefix, stream)
    opened = Counter(json.loads(v)["incident_id"] for v in published if json.loads(v)["event"] == "opened")
    assert opened and max(opened.values()) == 1
    assert len(set(published)) == len(published)  # none twice
    _check_vendor_topics(broker, prefix, published)


def _check_vendor_topics(broker: str, prefix: str, published: list[bytes]) -> None:
    by_vendor: dict[str, list[bytes]] = {}
    for value in published:
        for vendor in vendors_of(json.loads(value)):
            by_vendor.setdefault(vendor, []).append(orjson.dumps(vendor_event(json.loads(value))))
    assert by_vendor
    for vendor, expected in by_vendor.items():
        on_topic = topic_values(broker, prefix + vendor_topic(vendor))
        assert list(dict.fromkeys(on_topic)) == expected, vendor  # a crash may repeat one, never lose one


@pytest.mark.parametrize("runner", ["aiokafka", "faust"])
def test_the_pipeline_gives_the_same_incidents_as_replay_byte_for_byte(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, stream: Stream, tmp_path: Path, runner: str
) -> None:
    broker = kafka_broker.bootstrap
    worker = Worker(broker, redis_url, topic_prefix, tmp_path, "worker", CORRELATE_VALIDATE_RUNNER=runner)
    try:
        # The validate stage has joined its group and fetched every input partition (Faust takes seconds).
        wait_for(lambda: lag_reports(redis_url, topic_prefix).count("lag") == 4, 120, worker.log)
        producer = produce(broker, topic_prefix, stream.path)
        assert producer.wait(180) == 0, producer.stderr.read() if producer.stderr else ""
        wait_for(
            lambda: progress(redis_url, topic_prefix).accepted == stream.accepted,
            120,
            lambda: f"{progress(redis_url, topic_prefix)}\n{lag_reports(redis_url, topic_prefix)}\n{worker.log()}",
        )
        wait_for(
            lambda: len(topic_values(broker, topic_prefix + "incidents")) >= len(settled_events(stream)),
            90,
            worker.log,
        )
        published = _check_incidents_as_replay(broker, topic_prefix, stream)
        _check_vendor_topics(broker, topic_prefix, published)
        letters = [json.loads(v) for v in topic_values(broker, topic_prefix + "contacts.rejects")]
        assert len(letters) == stream.rejected  # every broken record dead-lettered once, with the reason
        assert all(letter["reason"] and "record" in letter and letter["topic"] for letter in letters)
        assert worker.metric("correlate_rejects_total") == stream.rejected
        assert worker.metric("correlate_contacts_total") == stream.accepted
        assert worker.metric("correlate_detector_leader") == 1
        latency_count = worker.metric("correlate_detection_latency_seconds_count")
        assert latency_count > 0  # timed from the contact's production (its Kafka timestamp, carried over)
        assert 0 < worker.metric("correlate_detection_latency_seconds_sum") / latency_count < 60
    finally:
        worker.stop()
    assert worker.process.returncode == 0, worker.log()
    assert list(worker.cwd.iterdir()) == []  # Faust's table folders go to a temporary directory, then away


def test_two_workers_split_the_input_and_survive_the_leader_being_killed(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, stream: Stream, tmp_path: Path
) -> None:
    broker = kafka_broker.bootstrap
    # The stream runs ~40,000x faster than real time here, so 5 min of lateness is a few ms of wall time: the
    # merge's slack must cover a producer starved for CPU on a shared machine (real time needs far less).
    slack = {"CORRELATE_MERGE_IDLE": "1.5"}
    first = Worker(broker, redis_url, topic_prefix, tmp_path, "first", **slack)
    wait_for(lambda: progress(redis_url, topic_prefix).leader != "", 90, first.log)
    second = Worker(broker, redis_url, topic_prefix, tmp_path, "second", **slack)
    workers = {w.pid: w for w in (first, second)}
    try:
        # Paced, so that the leader is most likely killed while input still flows; on a machine too slow for
        # that, the takeover is tested all the same (the survivor rebuilds from the start of the topic).
        producer = produce(broker, topic_prefix, stream.path, "--rate", "500")
        # Both validate their share of the input partitions before the leader is killed.
        wait_for(
            lambda: all(w.metric("correlate_contacts_total") > 0 for w in workers.values()),
            180,
            lambda: first.log() + second.log(),
        )
        leader_id = progress(redis_url, topic_prefix).leader
        leader = workers[int(leader_id.rsplit(":", 1)[1])]
        survivor = second if leader is first else first
        kill_leader(leader, survivor, producer, redis_url, topic_prefix, stream.accepted)
        final = progress(redis_url, topic_prefix)
        assert final.rejected == {}  # no contact made late by the takeover: every accepted one counted, once
        _check_published_once(broker, topic_prefix, stream, survivor)
        assert survivor.metric("correlate_detector_leader") == 1
    finally:
        for worker in workers.values():
            worker.stop()
