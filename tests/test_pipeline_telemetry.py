"""Telemetry and vendors' status records through the Kafka workers (real Tansu and Redis, workers as processes).

Contacts, a monitored fleet's heartbeats and a vendor's status records, produced to the input topic merged by
event time (``correlate produce --merge``), give the events ``correlate replay --merge`` gives for the same
files, byte for byte: the silence incident, the vendor's declared incident, every customer notification. A
telemetry record that breaks its contract is dead-lettered with replay's reason. A new leader rebuilds from
``contacts.accepted`` and publishes nothing twice, notifications included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from correlate.cli import main
from correlate.contracts import parse_timestamp
from correlate.streams.embedded import EmbeddedBroker
from correlate.vendor_view import vendor_event
from streams import DAY, HOUR, START, stream
from test_pipeline import Worker, final_clock, lag_reports, produce, progress, topic_values, vendors_of, wait_for
from test_silence import SILENCE_AT, Quiet, fleet

LATENESS, STEP = 300.0, 60.0
QUIET_DEVICE = "dev-0007"
STATUSES = [
    {"type": "vendor-status", "vendor": "tubo", "status_id": "TB-1", "ts": START + DAY + 20 * HOUR,
     "status": "investigating", "component": "playback", "scope": {"service": "Tubo"}, "message": "playback fails"},
    {"type": "vendor-status", "vendor": "tubo", "status_id": "TB-1", "ts": START + DAY + 21 * HOUR,
     "status": "resolved", "component": "playback", "scope": {"service": "Tubo"}},
]  # fmt: skip
BROKEN = [  # each breaks its contract: dead-lettered by the validate stage with replay's reason
    {"type": "heartbeat", "device_id": "dev-9999", "customer_id": "cust-9999", "ts": START + DAY,
     "source": "partner:alarmco", "status": "asleep"},
    {"type": "heartbeat-summary", "summary_id": "s-1", "ts": START + DAY + HOUR, "source": "partner:fleet",
     "devices": -3},
    {"type": "vendor-status", "vendor": "tubo", "status_id": "TB-0", "ts": START + DAY + 2 * HOUR,
     "status": "investigating", "component": "playback"},
]  # fmt: skip


@dataclass
class Replayed:
    contacts: Path
    telemetry: Path
    incidents: list[bytes]  # replay's incident events (one JSON document each)
    notifications: list[bytes]  # replay's customer-notification events
    rejects: list[tuple[str, str, Any]]  # (field, reason, record) of every line replay rejected
    accepted: int
    telemetry_records: int
    statuses: int
    last_ts: float


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """Two days: contacts, 60 monitored devices (a region goes quiet for two hours on day two, one device for
    three), a vendor's declared incident, a few broken telemetry records; and what replay makes of them."""
    directory = tmp_path_factory.mktemp("telemetry-stream")
    contacts = stream(days=2.0, per_day=2000)
    quiet = [
        Quiet({"region": "North"}, SILENCE_AT, 2 * HOUR),
        Quiet({"device_id": QUIET_DEVICE}, START + DAY, 3 * HOUR),
    ]
    beats = fleet(devices=60, interval=600.0, quiet=quiet)
    telemetry = sorted([*beats, *STATUSES, *BROKEN], key=lambda record: float(record["ts"]))  # type: ignore[arg-type]
    paths = directory / "contacts.jsonl", directory / "telemetry.jsonl"
    for path, records in zip(paths, (contacts, telemetry), strict=True):
        path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    out, rejects = directory / "events.jsonl", directory / "rejects.jsonl"
    argv = ["replay", str(paths[0]), "--merge", str(paths[1]), "-o", str(out), "--rejects", str(rejects)]
    assert main(argv) == 0
    events = out.read_bytes().splitlines()
    letters = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    return Replayed(
        contacts=paths[0],
        telemetry=paths[1],
        incidents=[event for event in events if b'"incident_id"' in event],
        notifications=[event for event in events if b'"incident_id"' not in event],
        rejects=[(letter["field"], letter["reason"], letter["record"]) for letter in letters],
        accepted=len(contacts),
        telemetry_records=len(beats),
        statuses=len(STATUSES),
        last_ts=final_clock([float(record["ts"]) for record in telemetry]),  # type: ignore[arg-type]
    )


def settled(events: list[bytes], last_ts: float) -> list[bytes]:
    """Replay's events for the steps the stream itself closes (replay also closes the last ones at its end)."""
    horizon = last_ts - LATENESS - STEP
    return [event for event in events if parse_timestamp(json.loads(event)["at"]) <= horizon]


def assert_as_replay(published: list[bytes], expected: list[bytes], last_ts: float) -> None:
    done = settled(expected, last_ts)
    assert published[: len(done)] == done
    assert published == expected[: len(published)]  # nothing more, nothing else


def test_the_workers_give_replays_incidents_and_notifications_for_contacts_with_telemetry(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, replayed: Replayed, tmp_path: Path
) -> None:
    # What the test stands on: replay finds a silence, the vendor's incident and the quiet device, in time.
    kinds = {json.loads(event)["kind"] for event in settled(replayed.incidents, replayed.last_ts)}
    assert {"silence", "vendor"} <= kinds
    devices = {json.loads(event)["device_id"] for event in settled(replayed.notifications, replayed.last_ts)}
    assert QUIET_DEVICE in devices
    assert [field for field, _, _ in replayed.rejects] == ["status", "devices", "scope"]

    broker = kafka_broker.bootstrap
    incidents, notifications = topic_prefix + "incidents", topic_prefix + "notifications"

    def caught_up() -> bool:
        done = progress(redis_url, topic_prefix)
        counts = done.accepted, done.telemetry, done.statuses
        return counts == (replayed.accepted, replayed.telemetry_records, replayed.statuses)

    def published_all() -> bool:
        wanted = {incidents: replayed.incidents, notifications: replayed.notifications}
        return all(len(topic_values(broker, t)) >= len(settled(e, replayed.last_ts)) for t, e in wanted.items())

    first = Worker(broker, redis_url, topic_prefix, tmp_path, "first")
    try:
        wait_for(lambda: lag_reports(redis_url, topic_prefix).count("lag") == 4, 120, first.log)
        producer = produce(broker, topic_prefix, replayed.contacts, "--merge", str(replayed.telemetry))
        assert producer.wait(180) == 0, producer.stderr.read() if producer.stderr else ""
        explain = lambda: f"{progress(redis_url, topic_prefix)}\n{lag_reports(redis_url, topic_prefix)}\n{first.log()}"  # noqa: E731
        wait_for(caught_up, 180, explain)
        wait_for(published_all, 90, first.log)
        published = topic_values(broker, incidents)
        assert_as_replay(published, replayed.incidents, replayed.last_ts)
        assert_as_replay(topic_values(broker, notifications), replayed.notifications, replayed.last_ts)
        for vendor in {vendor for value in published for vendor in vendors_of(json.loads(value))}:
            expected = [
                orjson.dumps(vendor_event(json.loads(value)))
                for value in published
                if vendor in vendors_of(json.loads(value))
            ]
            assert topic_values(broker, f"{topic_prefix}incidents.vendor.{vendor}") == expected, vendor
        letters = [json.loads(value) for value in topic_values(broker, topic_prefix + "contacts.rejects")]
        # Dead letters of different input partitions interleave: the same letters, in any order.
        got = [(letter["field"], letter["reason"], letter["record"]) for letter in letters]
        assert sorted(map(orjson.dumps, got)) == sorted(map(orjson.dumps, replayed.rejects))
        assert progress(redis_url, topic_prefix).rejected == {}, "nothing late"
        assert first.metric("correlate_telemetry_total") == replayed.telemetry_records + replayed.statuses
        assert first.metric("correlate_contacts_total") == replayed.accepted
        assert first.metric("correlate_rejects_total") == len(replayed.rejects)
    finally:
        first.stop()
    assert first.process.returncode == 0, first.log()
    before = topic_values(broker, incidents), topic_values(broker, notifications)

    # A new leader rebuilds the engine from contacts.accepted, telemetry and all, and repeats nothing.
    second = Worker(broker, redis_url, topic_prefix, tmp_path, "second")
    try:
        wait_for(
            lambda: progress(redis_url, topic_prefix).leader.endswith(f":{second.pid}") and caught_up(),
            180,
            lambda: f"{progress(redis_url, topic_prefix)}\n{second.log()}",
        )
        wait_for(lambda: progress(redis_url, topic_prefix).rebuilt, 90, second.log)
        assert (topic_values(broker, incidents), topic_values(broker, notifications)) == before
        assert progress(redis_url, topic_prefix).rejected == {}
    finally:
        second.stop()
    assert second.process.returncode == 0, second.log()
