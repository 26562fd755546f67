"""Contacts and telemetry pointing at one scope are one incident that carries both kinds of evidence."""

from __future__ import annotations

from correlate.incidents import combined_p
from streams import DAY, HOUR, START, Fault, stream
from test_silence import Quiet, epoch, fleet, incidents, merged, replay

SILENCE_AT = START + 2 * DAY + 13 * HOUR
CALLS_FROM = SILENCE_AT + 30 * 60  # customers notice half an hour later
NORTH = {"region": "North"}


def _silence_then_calls() -> list[dict[str, object]]:
    contacts = stream(seed=1, faults=[Fault(NORTH, CALLS_FROM, 2 * HOUR, 2.5)])
    heartbeats = fleet(days=3.0, quiet=[Quiet(NORTH, SILENCE_AT, 2.5 * HOUR)])
    return merged(contacts, heartbeats)  # type: ignore[return-value]


def test_silence_then_calls_is_one_incident_with_both_kinds_of_evidence() -> None:
    found = incidents(replay(_silence_then_calls()))
    assert len(found) == 1
    (timeline,) = found.values()
    opened = timeline[0]
    assert (opened["kind"], opened["scope"]) == ("silence", NORTH)
    assert epoch(opened["opened_at"]) < CALLS_FROM, "found before the first customer called"
    both = [event for event in timeline if event.get("evidence_kinds") == ["contacts", "telemetry"]]
    assert both, "the customers' calls join the silence incident"
    evidence = both[0]["evidence"]
    assert evidence["telemetry"]["heartbeats"] < evidence["telemetry"]["expected"]
    assert evidence["customers"] > 0 and evidence["observed"] > evidence["expected"]
    assert both[0]["scope"] == NORTH, "callers do not narrow what the heartbeats attributed"
    assert both[0]["confidence"] >= opened["confidence"]
    assert "agree" in both[0]["summary"]


def test_a_silence_and_an_unrelated_rate_fault_stay_apart() -> None:
    contacts = stream(seed=1, faults=[Fault({"device_brand": "Vizo"}, SILENCE_AT, 2 * HOUR, 2.7)])
    heartbeats = fleet(days=3.0, quiet=[Quiet({"region": "South"}, SILENCE_AT, 2 * HOUR)])
    found = incidents(replay(merged(contacts, heartbeats)))
    kinds = sorted(
        (timeline[0]["kind"], tuple(timeline[-1].get("evidence_kinds", ["contacts"]))) for timeline in found.values()
    )
    assert kinds == [("rate", ("contacts",)), ("silence", ("telemetry",))]


def test_two_independent_kinds_of_evidence_are_stronger_than_either() -> None:
    assert combined_p(0.01, 0.01) < 0.01
    assert combined_p(1e-6, 1e-6) < 1e-10
    assert 0.01 < combined_p(0.01, 1.0) < 0.1, "no evidence from one side weakens the other a little"
