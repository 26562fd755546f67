"""Telemetry and status records at the Kafka edge, without a broker: the validate verdict, their place in the
event-time merge, a copy forwarded twice, and the customer notifications a new leader must not send again.
The same through a real broker: ``test_pipeline_telemetry.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from correlate.config import Config, Settings
from correlate.intake import validate_record
from correlate.metrics import Metrics
from correlate.streams.checkpoint import Coverage
from correlate.streams.detect import DetectStage, _Held
from correlate.streams.identity import Redeliveries, merge_key
from correlate.streams.kafka_io import accepted_headers, input_position
from correlate.streams.merge import EventTimeMerge
from correlate.streams.publish import PublishedLog
from correlate.streams.settings import StackSettings
from correlate.streams.validate import check, route
from correlate.telemetry import Heartbeat
from correlate.vendors import VendorRegistry
from sample_events import notification

BEAT = {"type": "heartbeat", "device_id": "dev-1", "customer_id": "cust-1", "ts": "2026-03-02T10:00:00Z",
        "source": "partner:alarmco", "dimensions": {"region": "North"}}  # fmt: skip
SUMMARY = {"type": "heartbeat-summary", "summary_id": "s-1", "ts": "2026-03-02T10:00:00Z", "source": "partner:fleet",
           "dimensions": {"region": "North"}, "devices": 120}  # fmt: skip
STATUS = {"type": "vendor-status", "vendor": "tubo", "status_id": "TB-1", "ts": "2026-03-02T10:00:00Z",
          "status": "investigating", "component": "playback", "scope": {"service": "Tubo"}}  # fmt: skip


@pytest.mark.parametrize(("record", "key"), [(BEAT, b"cust-1"), (SUMMARY, None), (STATUS, None)])
def test_telemetry_and_status_records_are_forwarded_as_they_came(record: dict[str, Any], key: bytes | None) -> None:
    value = orjson.dumps(record)
    out = route(check(value), value, "contacts", 3, 9)
    assert out.accepted and out.value == value and out.key == key


@pytest.mark.parametrize(
    "record",
    [
        {**BEAT, "status": "asleep"},
        {k: v for k, v in BEAT.items() if k != "device_id"},
        {**SUMMARY, "devices": -1},
        {k: v for k, v in STATUS.items() if k != "scope"},
        {**BEAT, "type": "pulse"},
    ],
)
def test_a_broken_telemetry_record_is_dead_lettered_with_replays_reason(record: dict[str, Any]) -> None:
    value = orjson.dumps(record)
    out = route(check(value), value, "contacts", 1, 42)
    expected = validate_record(record)
    letter = orjson.loads(out.value)
    assert not out.accepted
    assert (letter["field"], letter["reason"], letter["record"]) == (expected.field, expected.reason, record)  # type: ignore[union-attr]


def test_records_of_every_kind_have_a_place_of_their_own_in_the_merge() -> None:
    items = [validate_record(r) for r in (BEAT, SUMMARY, STATUS, {**STATUS, "status": "resolved"})]
    keys = [merge_key(item) for item in items]  # type: ignore[arg-type]
    assert len(set(keys)) == len(keys) and {ts for ts, _ in keys} == {items[0].ts}  # type: ignore[union-attr]


def test_a_copy_of_an_input_record_is_a_repeat_whoever_forwarded_it() -> None:
    seen = Redeliveries()
    # A worker forwards offsets 3-6 of contacts/0, dies before committing; the next owner starts again at 3.
    first = [seen.repeated(("contacts", 0, offset)) for offset in (3, 4, 5, 6)]
    again = [seen.repeated(("contacts", 0, offset)) for offset in (3, 4, 5, 6, 7)]
    assert first == [False] * 4 and again == [True] * 4 + [False]
    assert not seen.repeated(("contacts", 1, 3)) and not seen.repeated(("other", 0, 3)), "other partitions"
    assert not seen.repeated(None) and not seen.repeated(None), "no position: never taken for a repeat"


@dataclass
class _Accepted:
    """An accepted record as the detect leader reads it (the attributes of aiokafka's ConsumerRecord it uses)."""

    value: bytes
    offset: int
    headers: list[tuple[str, bytes]]
    timestamp: int = 1_000


def test_the_leader_takes_a_heartbeat_forwarded_twice_once_and_a_repeated_one_as_replay_does() -> None:
    stage = DetectStage(StackSettings(), Config(Settings(), VendorRegistry()), "", None, Metrics(), "me")
    merge: EventTimeMerge[_Held] = EventTimeMerge([0], 0.0)
    seen = Coverage({0: 0})  # what the leader has taken in, and the repeats it found
    value = orjson.dumps(BEAT)
    arrivals = [(0, 17), (1, 18), (2, 17)]  # offset 2 is offset 0 forwarded again; offset 1 is a second send
    for offset, input_offset in arrivals:
        record = _Accepted(value, offset, accepted_headers(1_000, "contacts", 0, input_offset))
        assert input_position(record) == ("contacts", 0, input_offset)
        stage._hold(merge, 0, record, None, "contacts.accepted", seen)  # type: ignore[arg-type]
    held = merge.drain()
    assert [h.offset for h in held] == [0, 1], "the copy is dropped; the second send goes on, to the engine"
    assert all(isinstance(h.item, Heartbeat) and h.record == BEAT for h in held)


def test_a_new_leader_sends_no_device_notification_twice_even_within_one_step() -> None:
    log = PublishedLog()
    at, later = "2026-03-02T10:05:00Z", "2026-03-02T10:06:00Z"
    mine = notification("dev-1", "c", at=at).to_json()
    resolved_notice = {**notification("x", "c", at=later).to_json(), "incident_id": "inc-1"}  # the notifier's own
    log.note_notifications([orjson.dumps(mine), orjson.dumps(resolved_notice), b"not json"])
    assert not log.is_new(notification("dev-1", "c", at=at))
    assert log.is_new(notification("dev-2", "c", at=at)), "a crash between two notifications of one step"
    assert not log.is_new(notification("dev-2", "c", at="2026-03-02T10:04:00Z"))
    assert log.is_new(notification("x", "c", at=later))
    log.note(notification("x", "c", at=later))
    assert not log.is_new(notification("dev-2", "c", at=at))
