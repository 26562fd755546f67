"""People's actions on incidents, as the NOC, agents and vendors use them: events on the incident, role-checked,
and the same in every replay (they are input records, in event-time order with the contacts)."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from correlate.actions import Verb, validate_action
from correlate.config import Settings
from correlate.contracts import Rejection, format_time
from correlate.engine import Engine
from correlate.replay import merge_by_event_time, replay
from streams import DAY, HOUR, START, Fault, as_jsonl, stream

FAULT_AT = START + 2 * DAY + 13 * HOUR
SCOPE = {"device_brand": "Vizo"}


@pytest.fixture(scope="module")
def contacts() -> bytes:
    return as_jsonl(stream(seed=11, faults=[Fault(SCOPE, FAULT_AT, 2 * HOUR, 2.7)]))


def _replay(contacts: bytes, actions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    out, rejects = io.BytesIO(), io.BytesIO()
    lines = merge_by_event_time([io.BytesIO(contacts).readlines(), [orjson.dumps(a) + b"\n" for a in actions]])
    replay(Engine(Settings(symptoms=False)), lines, out, rejects)
    return [orjson.loads(x) for x in out.getvalue().splitlines()], [
        orjson.loads(x) for x in rejects.getvalue().splitlines()
    ]


def _action(verb: str, at: float, incident_id: str | None = None, **more: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"type": "action", "action": verb, "ts": format_time(at), "by": "ana", "role": "noc"}
    if incident_id is not None:
        record["incident_id"] = incident_id
    return {**record, **more}


@pytest.fixture(scope="module")
def plain(contacts: bytes) -> list[dict[str, Any]]:
    events, _ = _replay(contacts, [])
    return events


def test_an_acknowledgement_is_an_event_and_rides_on_every_later_event(
    contacts: bytes, plain: list[dict[str, Any]]
) -> None:
    opened = plain[0]
    at = FAULT_AT + HOUR
    events, rejects = _replay(contacts, [_action("acknowledge", at, opened["incident_id"], reason="on it")])
    assert rejects == []
    ack = next(e for e in events if e["event"] == "acknowledged")
    assert ack["at"] == format_time(at) and ack["number"] == opened["number"]
    assert ack["action"]["by"] == "ana" and ack["action"]["role"] == "noc" and ack["reason"] == "person"
    later = [e for e in events if e["at"] > ack["at"] and e["incident_id"] == opened["incident_id"]]
    assert later and all(e["acknowledged"] == {"by": "ana", "at": format_time(at)} for e in later)
    # Everything else is the detection's, as without the action.
    strip = {"acknowledged", "event_id"}
    without = [{k: v for k, v in e.items() if k not in strip} for e in events if e["event"] != "acknowledged"]
    assert without == [{k: v for k, v in e.items() if k not in strip} for e in plain]


def test_a_person_resolves_and_the_incident_is_closed(contacts: bytes, plain: list[dict[str, Any]]) -> None:
    incident_id = plain[0]["incident_id"]
    at = FAULT_AT + 3 * HOUR  # after the fault: nothing reopens
    events, _ = _replay(contacts, [_action("resolve", at, incident_id, reason="vendor fixed it")])
    mine = [e for e in events if e["incident_id"] == incident_id]
    assert mine[-1]["event"] == "resolved" and mine[-1]["reason"] == "person"
    assert mine[-1]["action"]["reason"] == "vendor fixed it"
    assert len({e["incident_id"] for e in events}) == 1


def test_a_dismissed_scope_stays_quiet_unless_the_evidence_doubles(
    contacts: bytes, plain: list[dict[str, Any]]
) -> None:
    first = plain[0]
    dismissed_at = FAULT_AT + 20 * 60
    events, _ = _replay(contacts, [_action("dismiss", dismissed_at, first["incident_id"], reason="a test campaign")])
    dismissed = next(e for e in events if e["event"] == "dismissed")
    after = [e for e in events if e["incident_id"] != first["incident_id"]]
    assert after, "the fault goes on: detection opens it again"
    held = [e for e in after if "suppressed" in e]
    assert held and held[0]["event"] == "opened"
    assert held[0]["suppressed"]["kind"] == "dismissed" and held[0]["suppressed"]["reason"] == "a test campaign"
    assert all(e["evidence"]["customers"] < 2 * dismissed["evidence"]["customers"] for e in held)
    assert all(
        e["evidence"]["customers"] >= 2 * dismissed["evidence"]["customers"] for e in after if "suppressed" not in e
    )


def test_a_maintenance_window_records_without_paging(contacts: bytes, plain: list[dict[str, Any]]) -> None:
    window = _action(
        "maintenance",
        START + DAY,
        reason="Vizo firmware 4.2",
        scope={"device_brand": "vizo"},  # spellings pool, as everywhere
        starts_at=format_time(FAULT_AT - HOUR),
        ends_at=format_time(FAULT_AT + 10 * HOUR),
    )
    events, rejects = _replay(contacts, [window])
    assert rejects == []
    assert [e["incident_id"] for e in events] == [e["incident_id"] for e in plain]
    assert all(e["suppressed"]["kind"] == "maintenance" and e["suppressed"]["by"] == "ana" for e in events)


def test_a_vendor_denies_its_attribution_and_an_agent_notes(contacts: bytes, plain: list[dict[str, Any]]) -> None:
    opened = plain[0]
    (vendor,) = opened["vendors"]["at_fault"] or pytest.skip("no vendor registry in this stream")
    at = FAULT_AT + HOUR
    actions = [
        _action("deny", at, opened["incident_id"], by="vizo-ops", role="vendor", vendor=vendor, reason="not ours"),
        _action("note", at + 60, opened["incident_id"], by="agent-7", role="agent", reason="E42 on screen"),
    ]
    events, rejects = _replay(contacts, actions)
    assert rejects == []
    assert [e["event"] for e in events if "action" in e] == ["denied", "noted"]


def test_actions_the_rules_refuse_are_rejected_with_the_reason(contacts: bytes, plain: list[dict[str, Any]]) -> None:
    incident_id = plain[0]["incident_id"]
    at = FAULT_AT + HOUR
    actions = [
        _action("dismiss", at, incident_id, role="agent", reason="x"),
        _action("acknowledge", at, "inc-nothing"),
        _action("deny", at, incident_id, role="vendor", vendor="rokit", by="rokit-ops", reason="x"),
    ]
    events, rejects = _replay(contacts, actions)
    reasons = sorted(r["reason"] for r in rejects)
    assert len(reasons) == 3
    assert any("an agent may not dismiss (may: note)" in r for r in reasons)
    assert any("'inc-nothing' is not open" in r for r in reasons)
    assert any("does not concern vendor rokit" in r for r in reasons)
    assert not any("action" in e for e in events)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"action": "acknowledge", "ts": "2026-03-02T00:00:00Z", "by": "a", "role": "noc"}, "incident_id"),
        ({"action": "shrug", "ts": "2026-03-02T00:00:00Z", "by": "a", "role": "noc", "incident_id": "i"}, "action"),
        ({"action": "resolve", "ts": "2026-03-02T00:00:00Z", "by": "a", "role": "noc", "incident_id": "i"}, "reason"),
        ({"action": "note", "ts": "2026-03-02T00:00:00Z", "by": "a", "role": "boss", "incident_id": "i"}, "role"),
        (
            {
                "action": "maintenance",
                "ts": "2026-03-02T00:00:00Z",
                "by": "a",
                "role": "noc",
                "reason": "r",
                "scope": {"service": "X"},
                "starts_at": "2026-03-02T02:00:00Z",
                "ends_at": "2026-03-02T01:00:00Z",
            },
            "ends_at",
        ),
    ],
)
def test_a_malformed_action_names_its_field(record: dict[str, Any], field: str) -> None:
    checked = validate_action({"type": "action", **record})
    assert isinstance(checked, Rejection) and checked.field == field


def test_every_verb_has_an_owner() -> None:
    from correlate.actions import PERMITTED

    assert set().union(*PERMITTED.values()) == set(Verb)


def test_every_event_people_make_meets_the_published_schema(contacts: bytes, plain: list[dict[str, Any]]) -> None:
    from test_event_schemas import _problems

    incident_id = plain[0]["incident_id"]
    (vendor,) = plain[0]["vendors"]["at_fault"]
    at = FAULT_AT + HOUR
    actions = [
        _action("acknowledge", at, incident_id),
        _action("deny", at + 1, incident_id, by="ops", role="vendor", vendor=vendor, reason="not ours"),
        _action("note", at + 2, incident_id, role="agent", reason="E42"),
        _action("dismiss", at + 3, incident_id, reason="false"),
    ]
    events, _ = _replay(contacts, actions)
    assert {e["event"] for e in events} >= {"acknowledged", "denied", "noted", "dismissed"}
    assert any("suppressed" in e for e in events)
    assert [p for e in events for p in _problems(e)] == []
