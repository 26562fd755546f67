"""The shipped JSON Schemas of incident events and customer notifications: generated from the types, and true of
every event the engine writes (contacts, telemetry, vendors' declarations, merged silences, device notices)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from correlate.config import Settings
from correlate.detectors.base import Finding
from correlate.events import IncidentEvent, from_json
from correlate.incidents import IncidentBook
from correlate.lab.simulate import simulate
from correlate.scope import Scope, make_scope
from correlate.vendors import VendorRegistry
from event_schemas import REGENERATE, rendered
from streams import START, run
from test_corroboration import _silence_then_calls
from test_silence import merged
from test_status_feed import FAULT_AT, _fault, status


def _validator(name: str) -> Draft202012Validator:
    text = (resources.files("correlate") / "schemas" / name).read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


INCIDENT = _validator("incident-event-v1.schema.json")
NOTIFICATION = _validator("customer-notification-v1.schema.json")


def _problems(event: Mapping[str, Any]) -> list[str]:
    validator = NOTIFICATION if event.get("event") == "customer-notification" else INCIDENT
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(event)]


def test_the_shipped_schemas_are_the_ones_the_types_generate() -> None:
    for name, text in rendered().items():
        shipped = (resources.files("correlate") / "schemas" / name).read_text(encoding="utf-8")
        assert shipped == text, f"{name} is out of date with correlate.events: run {REGENERATE}"


def _simulated() -> list[dict[str, object]]:
    simulation = simulate(seed=3, days=4.0, contacts_per_day=1500, start=START, faults=2, telemetry=True)
    records = sorted([*simulation.contacts, *simulation.telemetry], key=lambda record: float(_epoch(record["ts"])))
    return run(records, Settings())


def _epoch(ts: object) -> float:
    from correlate.contracts import parse_timestamp

    return parse_timestamp(ts)


STREAMS = {
    "silence then calls": lambda: run(_silence_then_calls()),
    "a vendor's declaration on a detected fault": lambda: run(
        merged(_fault(), [status(FAULT_AT + 45 * 60, "identified"), status(FAULT_AT + 3 * 3600, "resolved")])
    ),
    "a vendor's declaration before any detection": lambda: run(
        merged(_fault(), [status(FAULT_AT - 10 * 60, "investigating"), status(FAULT_AT + 5 * 3600, "resolved")])
    ),
    "a simulated day with telemetry and symptoms": _simulated,
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_every_event_the_engine_writes_meets_its_schema_and_reads_back_the_same(name: str) -> None:
    events = STREAMS[name]()
    assert any(event["event"] == "opened" for event in events), "the stream opens an incident"
    for event in events:
        assert _problems(event) == [], event
        assert from_json(event).to_json() == event, "to_json(from_json(...)) writes what it read"


def test_the_streams_cover_every_optional_part_of_an_event() -> None:
    events = [event for name in STREAMS for event in STREAMS[name]()]
    kinds = {str(event.get("kind")) for event in events}
    assert {"rate", "silence", "vendor"} <= kinds
    assert any("vendor_status" in event for event in events)
    assert any("telemetry" in event.get("evidence", {}) for event in events)  # type: ignore[operator]
    assert any(event["event"] == "customer-notification" for event in events)


def _firmware_implies_brand(scope: Scope) -> Scope:
    brand = ("device_brand", "Zed")
    return (brand,) if any(name == "firmware_version" for name, _ in scope) and brand not in scope else ()


def _silence(scope: dict[str, str], at: float) -> Finding:
    return Finding("silence", make_scope(scope), at, 2.0, 40.0, 1e-12, 1e-6, 50, 900.0)


def test_a_merged_silence_meets_the_schema() -> None:
    """Each of a brand's firmwares goes quiet, then the brand: the firmwares' incidents end merged into one."""
    book = IncidentBook(VendorRegistry())

    def step(at: float, *findings: Finding) -> list[IncidentEvent]:
        return book.step(at, findings, [], [], lambda scope: True, _firmware_implies_brand)

    step(600.0, _silence({"firmware_version": "1.1"}, 600.0), _silence({"firmware_version": "1.2"}, 600.0))
    events = step(1200.0, _silence({"device_brand": "Zed"}, 1200.0))
    ended = [event for event in events if event.merged_into is not None]
    assert ended, "a firmware's silence is merged into the brand's"
    for event in _as_json(events):
        assert _problems(event) == [], event


def _as_json(events: Iterable[IncidentEvent]) -> list[dict[str, Any]]:
    return [event.to_json() for event in events]


def test_the_schema_refuses_what_the_engine_never_writes() -> None:
    (opened, *_) = run(_silence_then_calls())
    assert _problems({**opened, "reason": "quiet"}), "no reason on an opened event"
    assert _problems({**opened, "event": "updated"}), "an updated event says why"
    assert _problems({**opened, "at": "2026-02-30T10:00:00Z"}), "a day that does not exist"
    assert _problems({**opened, "evidence_kinds": None}), "left out, never null"
    with pytest.raises(ValueError, match="kind"):
        from_json({**opened, "kind": "hunch"})


ACTION = _validator("action-v1.schema.json")
FOLLOW_UP = _validator("follow-up-notice-v1.schema.json")


def _action_problems(record: Mapping[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in ACTION.iter_errors(record)]


def _actions() -> list[dict[str, Any]]:
    """Actions of every verb and role, as people would send them, and records validate_action refuses."""
    ts, later = "2026-03-02T10:00:00Z", "2026-03-02T12:00:00Z"
    base: dict[str, Any] = {"type": "action", "ts": ts, "by": "ana", "role": "noc", "incident_id": "inc-1"}
    window = {"scope": {"device_brand": "Vizo"}, "starts_at": ts, "ends_at": later, "reason": "firmware 4.2"}
    plain = {key: value for key, value in base.items() if key != "incident_id"}
    vendor = {"role": "vendor", "vendor": "vizo", "by": "vizo-ops"}
    return [
        {**base, "action": "acknowledge"},
        {**base, "action": "acknowledge", "reason": "on it"},
        {**base, "action": "resolve", "reason": "fixed"},
        {**base, "action": "dismiss", "reason": "a test campaign"},
        {**base, "action": "note", "role": "agent", "reason": "E42 on screen"},
        {**base, "action": "deny", **vendor, "reason": "not ours"},
        {**base, "action": "acknowledge", **vendor},
        {**plain, "action": "maintenance", **window},
        # refused
        {**base, "action": "resolve"},
        {**base, "action": "shrug", "reason": "x"},
        {**base, "action": "dismiss", "role": "agent", "reason": "x"},
        {**base, "action": "deny", "reason": "x"},
        {**base, "action": "note", "role": "boss", "reason": "x"},
        {**base, "action": "note", "reason": "   "},
        {**base, "action": "note", "reason": "x" * 501},
        {**base, "action": "acknowledge", "vendor": "vizo"},
        {**base, "action": "acknowledge", "role": "vendor"},
        {**base, "action": "acknowledge", "colour": "red"},
        {**base, "action": "acknowledge", "ts": "2026-02-30T10:00:00Z"},
        {**plain, "action": "acknowledge"},
        {**plain, "action": "maintenance", **window, "scope": {}},
        {**base, "action": "maintenance", **window},
        {**plain, "action": "maintenance", "reason": "x"},
        {**base, "action": "acknowledge", "scope": {"device_brand": "Vizo"}},
    ]


@pytest.mark.parametrize("record", _actions(), ids=lambda r: f"{r['role']}-{r['action']}-{len(r)}")
def test_the_action_schema_accepts_what_the_validator_accepts_and_nothing_else(record: dict[str, Any]) -> None:
    """A tool that checks its actions against action-v1 before sending them is never refused by correlate for
    their shape, and correlate writes (action_record) exactly what the schema describes."""
    from correlate.actions import Action, action_record, validate_action

    checked = validate_action(record)
    assert (_action_problems(record) == []) == isinstance(checked, Action), (_action_problems(record), checked)
    if isinstance(checked, Action):
        assert _action_problems(action_record(checked)) == []
