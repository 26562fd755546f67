"""The pure parts of the Kafka edge, without a broker: validate verdicts, publish dedup, lag proofs, settings,
and the merged metrics of a worker's two processes."""

from __future__ import annotations

import orjson
import pytest

from correlate.config import ConfigError
from correlate.events import IncidentEvent
from correlate.metrics import Metrics
from correlate.streams import upstream
from correlate.streams.exposition import merge
from correlate.streams.publish import PublishedLog, vendors_of
from correlate.streams.settings import load_stack_settings
from correlate.streams.validate import check, route
from correlate.topics import pipeline_topics, vendor_spec
from sample_events import incident_event

GOOD = {
    "contact_id": "c1",
    "ts": "2026-03-02T10:00:00Z",
    "channel": "voice",
    "customer_id": "cust-1",
    "source": "own",
    "dimensions": {"device_brand": "Vizo"},
}


def test_an_accepted_record_is_forwarded_byte_for_byte_keyed_by_customer() -> None:
    value = orjson.dumps(GOOD)
    verdict = check(value)
    out = route(verdict, value, "contacts", 2, 17)
    assert out.accepted and out.value == value and out.key == b"cust-1"


@pytest.mark.parametrize(
    ("value", "field", "in_reason"),
    [
        (b"{not json", "", "not valid JSON"),
        (None, "", "empty record"),
        (orjson.dumps({**GOOD, "channel": "pigeon"}), "channel", "is not one of"),
        (orjson.dumps({**GOOD, "ts": "yesterday"}), "ts", "RFC 3339"),
        (orjson.dumps([1, 2]), "", "JSON object"),
    ],
)
def test_a_refused_record_becomes_a_dead_letter_with_field_reason_and_origin(
    value: bytes | None, field: str, in_reason: str
) -> None:
    out = route(check(value), value, "contacts", 1, 42)
    letter = orjson.loads(out.value)
    assert not out.accepted
    assert (letter["topic"], letter["partition"], letter["offset"], letter["field"]) == ("contacts", 1, 42, field)
    assert in_reason in letter["reason"]
    assert "record" in letter


def _event(name: str, at: str, incident: str = "inc-1") -> IncidentEvent:
    return incident_event(name, incident, at=at, at_fault=["Vizo"])


@pytest.mark.parametrize(
    ("published", "candidate", "new"),
    [
        ([], _event("opened", "2026-03-02T10:00:00Z"), True),
        ([_event("opened", "2026-03-02T10:00:00Z")], _event("opened", "2026-03-02T10:00:00Z"), False),
        ([_event("opened", "2026-03-02T10:00:00Z")], _event("updated", "2026-03-02T10:15:00Z"), True),
        ([_event("updated", "2026-03-02T10:15:00Z")], _event("opened", "2026-03-02T10:00:00Z"), False),
        ([_event("updated", "2026-03-02T11:00:00Z")], _event("resolved", "2026-03-02T11:00:00Z"), True),
        ([_event("resolved", "2026-03-02T11:00:00Z")], _event("updated", "2026-03-02T11:00:00Z"), False),
        ([_event("resolved", "2026-03-02T11:00:00Z", "inc-2")], _event("opened", "2026-03-02T10:00:00Z"), True),
    ],
)
def test_a_new_leader_publishes_only_what_is_not_on_the_incidents_topic(
    published: list[IncidentEvent], candidate: IncidentEvent, new: bool
) -> None:
    log = PublishedLog.from_values([orjson.dumps(e.to_json()) for e in published] + [b"not an event"])
    assert log.is_new(candidate) is new


def test_an_event_goes_to_every_vendor_at_fault_or_affected_once() -> None:
    event = incident_event(at_fault=["Vizo", "flixco"], affected=["flixco", "Stream Plus"])
    assert vendors_of(event) == ["flixco", "stream-plus", "vizo"]
    assert vendor_spec("stream-plus", "t.").name == "t.incidents.vendor.stream-plus"


def test_a_partition_is_quiet_only_up_to_its_slowest_validate_report() -> None:
    fed = upstream.feeders({"a": [0, 1, 2, 3], "b": [0]}, accepted_partitions=2)
    assert fed == {0: ["a:0", "a:2", "b:0"], 1: ["a:1", "a:3"]}
    reports = {
        b"a:0": upstream.encode(0, 10.0, 10.5),
        b"a:2": upstream.encode(0, 12.0, 12.5),
        b"b:0": upstream.encode(0, 11.0, 11.5),
        b"a:1": upstream.encode(0, 10.0, 10.5),
        b"a:3": upstream.encode(5, 12.0, 12.5),  # behind: proves nothing
    }
    proven = upstream.quiet_until(reports, fed)
    assert proven[0] == (10.0, 12.5)
    assert proven[1][0] == float("-inf")
    assert upstream.quiet_until({}, fed)[0][0] == float("-inf")  # no report: an owner may be dead
    assert upstream.quiet_until({}, {0: []})[0][0] == float("inf")  # nothing feeds it


def test_stack_settings_come_from_the_table_then_the_environment_then_flags() -> None:
    settings = load_stack_settings(
        {"input_partitions": 8, "broker": "a:9092", "input_topics": ["x", "y"]},
        {"CORRELATE_BROKER": "b:9092", "CORRELATE_LEASE_TTL": "3"},
        store="redis://c",
    )
    assert (settings.broker, settings.store, settings.lease_ttl) == ("b:9092", "redis://c", 3.0)
    assert settings.input_topics == ("x", "y") and settings.input_partitions == 8
    names = [spec.name for spec in pipeline_topics(settings.input_topics, settings.input_partitions, "p.")]
    assert names == ["p.x", "p.y", "p.contacts.accepted", "p.contacts.rejects", "p.incidents", "p.notifications"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"brokers": "x"}, "unknown setting"),
        ({"validate_runner": "spark"}, "validate_runner"),
        ({"input_partitions": 0}, "input_partitions"),
        ({"lease_ttl": "soon"}, "lease_ttl"),
    ],
)
def test_bad_stack_settings_are_an_error_that_names_them(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_stack_settings(section, {})


def test_one_scrape_shows_both_processes_of_a_worker() -> None:
    validate, detect = Metrics(), Metrics()
    validate.rejects.labels("ts").inc(2)
    detect.rejects.labels("ts").inc(1)
    detect.rejects.labels("late").inc(3)
    detect.set_leader(True)
    detect.observe_detection_latency(detect.clock() - 0.2)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in merge(validate.registry.collect(), detect.expose().decode())
        for s in family.samples
    }
    assert samples[("correlate_rejects_total", (("reason", "ts"),))] == 3
    assert samples[("correlate_rejects_total", (("reason", "late"),))] == 3
    assert samples[("correlate_detector_leader", ())] == 1
    assert samples[("correlate_detection_latency_seconds_count", ())] == 1
