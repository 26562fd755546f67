"""Vendors' own declared incidents: shown beside ours, and merged with the incident we detected on the same scope."""

from __future__ import annotations

from typing import Any

from correlate.contracts import format_time
from streams import DAY, HOUR, START, Fault, stream
from test_silence import epoch, incidents, merged, replay

FAULT_AT = START + 2 * DAY + 13 * HOUR
VIZO = {"device_brand": "Vizo"}


def status(at: float, phase: str, scope: dict[str, str] = VIZO, status_id: str = "vz-1") -> dict[str, Any]:
    return {
        "type": "vendor-status",
        "vendor": "vizo",
        "status_id": status_id,
        "ts": format_time(at),
        "status": phase,
        "component": "Vizo firmware update service",
        "scope": scope,
        "message": f"we are {phase}",
    }


def _fault() -> list[dict[str, object]]:
    return stream(seed=1, faults=[Fault(VIZO, FAULT_AT, 2 * HOUR, 2.7)])


def test_a_declaration_on_a_detected_incident_is_shown_on_it_not_duplicated() -> None:
    statuses = [status(FAULT_AT + 45 * 60, "identified"), status(FAULT_AT + 3 * HOUR, "resolved")]
    found = incidents(replay(merged(_fault(), statuses)))
    assert len(found) == 1
    (timeline,) = found.values()
    assert timeline[0]["kind"] == "rate"
    declared = [event for event in timeline if "vendor_status" in event]
    assert declared[0]["event"] == "updated"
    assert declared[0]["at"] == format_time(FAULT_AT + 46 * 60), "shown at once, not at the next regular update"
    assert declared[0]["vendor_status"]["status"] == "identified"
    assert declared[0]["vendor_status"]["component"] == "Vizo firmware update service"
    assert declared[0]["evidence_kinds"] == ["contacts", "vendor"]
    assert "vizo says identified" in declared[0]["summary"]
    assert declared[-1]["vendor_status"]["status"] == "resolved"
    assert timeline[-1]["event"] == "resolved"


def test_a_declaration_before_we_see_anything_opens_an_incident_our_detection_then_joins() -> None:
    found = incidents(replay(merged(_fault(), [status(FAULT_AT - 10 * 60, "investigating")])))
    assert len(found) == 1, "the detection joins the declared incident"
    (timeline,) = found.values()
    opened = timeline[0]
    assert (opened["kind"], opened["scope"], opened["confidence"]) == ("vendor", VIZO, 1.0)
    assert epoch(opened["opened_at"]) < FAULT_AT
    joined = [event for event in timeline if "contacts" in event.get("evidence_kinds", ())]
    assert joined, "our own evidence shows up on the vendor's incident"
    assert joined[0]["evidence"]["observed"] > joined[0]["evidence"]["expected"]
    assert joined[0]["scope"] == VIZO


def test_a_declared_incident_stays_open_until_the_vendor_resolves_it() -> None:
    quiet = stream(seed=1)
    start, end = START + 2 * DAY + 9 * HOUR, START + 2 * DAY + 14 * HOUR
    events = replay(merged(quiet, [status(start, "investigating"), status(end, "monitoring"), status(end, "resolved")]))
    (timeline,) = incidents(events).values()
    assert [event["event"] for event in timeline] == ["opened", "updated", "resolved"]
    assert epoch(timeline[-1]["at"]) >= end
    assert timeline[-1]["vendor_status"]["status"] == "resolved"


def test_a_declaration_on_another_scope_is_its_own_incident() -> None:
    found = incidents(replay(merged(_fault(), [status(FAULT_AT + HOUR, "identified", scope={"service": "Tubo"})])))
    assert sorted(timeline[0]["kind"] for timeline in found.values()) == ["rate", "vendor"]


def test_a_status_record_delivered_twice_is_shown_once() -> None:
    quiet = stream(seed=1)
    start = START + 2 * DAY + 9 * HOUR
    declared = status(start, "investigating")
    events = replay(merged(quiet, [declared, dict(declared), status(start + HOUR, "resolved")]))
    (timeline,) = incidents(events).values()
    assert [event["event"] for event in timeline] == ["opened", "resolved"]
