"""Severity, readable numbers and event ids: what a NOC engineer routes and reads out over the phone."""

from __future__ import annotations

import io
from dataclasses import replace

import orjson
import pytest

from correlate.config import Settings, load_config
from correlate.engine import Engine
from correlate.events import EvidenceKind, IncidentEvent
from correlate.replay import replay
from correlate.severity import Severity, SeverityFacts, SeverityRules, assess
from correlate.stamps import Stamper
from sample_events import incident_event
from streams import DAY, HOUR, START, Fault, as_jsonl, stream

RULES = SeverityRules(warning_customers=10, error_customers=50, critical_customers=500, low_confidence=0.99)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (SeverityFacts(customers=3), Severity.INFO),
        (SeverityFacts(customers=10), Severity.WARNING),
        (SeverityFacts(customers=60), Severity.ERROR),
        (SeverityFacts(customers=5000), Severity.CRITICAL),
        # Corroborated by heartbeats: one up, but a handful of callers stay a record, never a page.
        (SeverityFacts(customers=60, evidence_kinds=2), Severity.CRITICAL),
        (SeverityFacts(customers=3, evidence_kinds=2), Severity.INFO),
        # Doubled since the last event: one up.
        (SeverityFacts(customers=20, previous_customers=10), Severity.ERROR),
        (SeverityFacts(customers=20, previous_customers=15), Severity.WARNING),
        # Two vendors at fault: one up; several reasons still only one.
        (SeverityFacts(customers=20, vendors_at_fault=2, evidence_kinds=2), Severity.ERROR),
        # A test that barely passed: one down.
        (SeverityFacts(customers=60, confidence=0.95), Severity.WARNING),
        # A vendor's own declaration is never below warning, even with no caller.
        (SeverityFacts(customers=0, vendor_declared=True), Severity.WARNING),
    ],
)
def test_severity_levels_follow_the_documented_rules(facts: SeverityFacts, expected: Severity) -> None:
    assert assess(facts, RULES) is expected


def test_thresholds_are_settings() -> None:
    config = load_config(
        environ={"CORRELATE_SEVERITY_ERROR_CUSTOMERS": "5", "CORRELATE_SEVERITY_WARNING_CUSTOMERS": "2"}
    )
    assert assess(SeverityFacts(customers=6), config.settings.severity_rules()) is Severity.ERROR


def test_a_silence_is_as_severe_as_the_devices_gone_quiet() -> None:
    from correlate.events import TelemetryEvidence

    quiet = incident_event(customers=0)
    telemetry = TelemetryEvidence({"region": "North"}, heartbeats=100.0, expected=900.0, window_minutes=10, p_value=0)
    quiet = replace(
        quiet, evidence=replace(quiet.evidence, telemetry=telemetry), evidence_kinds=(EvidenceKind.TELEMETRY,)
    )
    (stamped,) = Stamper(RULES).stamp([quiet])
    assert isinstance(stamped, IncidentEvent)
    assert stamped.severity is Severity.CRITICAL  # 800 devices silent


def test_numbers_count_up_in_opening_order_and_severity_never_drops_while_open() -> None:
    stamper = Stamper(RULES)
    events = [
        incident_event("opened", "inc-a", customers=60),
        incident_event("opened", "inc-b", customers=3),
        incident_event("updated", "inc-a", customers=12),  # milder numbers, same page
        incident_event("resolved", "inc-a", customers=12),
        incident_event("opened", "inc-c", customers=1),
    ]
    stamped = [e for e in stamper.stamp(events) if isinstance(e, IncidentEvent)]
    assert [(e.incident_id, e.number, e.severity) for e in stamped] == [
        ("inc-a", "INC-1001", Severity.ERROR),
        ("inc-b", "INC-1002", Severity.INFO),
        ("inc-a", "INC-1001", Severity.ERROR),
        ("inc-a", "INC-1001", Severity.ERROR),
        ("inc-c", "INC-1003", Severity.INFO),
    ]
    assert len({e.event_id for e in stamped}) == len(stamped)


FAULT_AT = START + 2 * DAY + 13 * HOUR


def _replayed() -> list[dict[str, object]]:
    data = as_jsonl(
        stream(
            seed=11,
            faults=[
                Fault({"device_brand": "Vizo"}, FAULT_AT, 2 * HOUR, 2.7),
                Fault({"service": "Vidz"}, FAULT_AT + 5 * HOUR, HOUR, 2.5),
            ],
        )
    )
    out = io.BytesIO()
    replay(Engine(Settings(symptoms=False)), io.BytesIO(data).readlines(), out, None)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_every_replayed_incident_event_has_a_unique_id_a_readable_number_and_a_severity() -> None:
    first, second = _replayed(), _replayed()
    assert first == second  # the stamps are a function of the stream: the same on every run
    incidents = [e for e in first if "incident_id" in e]
    assert incidents
    assert len({e["event_id"] for e in incidents}) == len(incidents)
    numbers = {e["incident_id"]: e["number"] for e in incidents}
    assert sorted(numbers.values()) == [f"INC-{1001 + i}" for i in range(len(numbers))]
    assert all(e["number"] == numbers[e["incident_id"]] for e in incidents)
    assert all(e["severity"] in {s.value for s in Severity} for e in incidents)
