"""Whose product is at fault: the rate detector end to end, on streams where we know the answer."""

from __future__ import annotations

from itertools import pairwise

import pytest

from correlate.config import Settings
from correlate.detectors.base import Finding
from correlate.engine import Engine
from streams import DAY, HOUR, START, Fault, opened_scopes, run, stream

FAULT_AT = START + 2 * DAY + 13 * HOUR
QUIET_SEED = 1  # a background that raises nothing on its own (test_quiet_stream_raises_nothing)


def _incidents(fault: Fault, seed: int = QUIET_SEED) -> list[dict[str, object]]:
    return run(stream(seed=seed, faults=[fault]))


@pytest.mark.parametrize(
    ("scope", "per_minute"),
    [
        # Extra reporters per minute: about twice the scope's own baseline at that hour (three times the rate).
        ({"device_brand": "Vizo"}, 2.7),  # a brand failing on every service
        ({"service": "Tubo"}, 3.2),  # a provider failing on every device
        ({"device_brand": "Pana", "service": "Vidz"}, 1.5),  # small x small: only the combination
        ({"device_brand": "Sonique", "service": "StreamPlus"}, 3.0),  # big x big, inside huge marginals
    ],
    ids=["brand", "service", "small-pair", "big-pair"],
)
def test_one_incident_on_the_scope_at_fault(scope: dict[str, str], per_minute: float) -> None:
    events = _incidents(Fault(scope, FAULT_AT, 2 * HOUR, per_minute))
    assert opened_scopes(events) == [scope]
    opened = next(e for e in events if e["event"] == "opened")
    assert FAULT_AT < _epoch(opened["opened_at"]) <= FAULT_AT + 30 * 60, "found within 30 minutes"


def test_vendors_at_fault_and_affected() -> None:
    events = _incidents(Fault({"device_brand": "Vizo"}, FAULT_AT, 2 * HOUR, 2.7))
    vendors = events[0]["vendors"]
    assert vendors["at_fault"] == ["vizo"]
    # StreamPlus carries 40% of Vizo's customers: its provider is affected, not at fault.
    assert "streamplus" in vendors["affected"]
    assert "vizo" not in vendors["affected"]


def test_pair_fault_blames_both_vendors() -> None:
    events = _incidents(Fault({"device_brand": "Pana", "service": "Vidz"}, FAULT_AT, 2 * HOUR, 1.0))
    assert events[0]["vendors"]["at_fault"] == ["pana", "vidz"]


def test_quiet_stream_raises_nothing() -> None:
    for seed in (QUIET_SEED, 2, 3):
        assert run(stream(seed=seed, days=3.0)) == []


def test_lifecycle_opened_once_then_resolved_after_quiet_period() -> None:
    events = _incidents(Fault({"service": "Tubo"}, FAULT_AT, HOUR, 3.2))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "opened" and kinds.count("opened") == 1
    assert kinds[-1] == "resolved"
    resolved_at = _epoch(events[-1]["at"])
    assert resolved_at >= FAULT_AT + HOUR + HOUR, "resolved only after an hour back at baseline"
    assert {e["opened_at"] for e in events} == {events[0]["opened_at"]}, "opened_at never changes"
    updates = [_epoch(e["at"]) for e in events if e["event"] != "resolved"]
    assert all(b - a >= 15 * 60 for a, b in pairwise(updates)), "updates are rate-limited"


def test_evidence_describes_the_reports() -> None:
    events = _incidents(Fault({"device_brand": "Vizo"}, FAULT_AT, 2 * HOUR, 2.7))
    evidence = events[0]["evidence"]
    assert evidence["customers"] >= evidence["observed"] > evidence["expected"]
    assert set(evidence["by_channel"]) <= {"voice", "chat", "email", "app"}
    assert sum(evidence["by_channel"].values()) == evidence["contacts"]
    assert _epoch(evidence["first_contact_at"]) <= _epoch(events[0]["at"])
    assert 0.9 < events[0]["confidence"] <= 1.0


def _epoch(text: object) -> float:
    from correlate.contracts import parse_timestamp

    return parse_timestamp(text)


def test_the_bar_a_finding_must_beat_does_not_drop_at_night() -> None:
    """The false-alarm budget is split over every cell that could have reported, not only the busy ones: at
    04:00, when few cells have three reporters, a finding must still beat the daytime threshold."""
    night, day = START + 2 * DAY + 4 * HOUR, START + 2 * DAY + 15 * HOUR
    faults = [Fault({"service": "Tubo"}, night, HOUR, 3.0), Fault({"service": "Tubo"}, day, HOUR, 3.0)]
    engine = Engine(Settings(symptoms=False))
    tests: dict[bool, set[int]] = {True: set(), False: set()}
    close_step = engine.rate.close_step

    def recording(step_end: float) -> list[Finding]:
        found = close_step(step_end)
        for finding in found:
            tests[step_end < START + 2 * DAY + 12 * HOUR].add(finding.tests)
        return found

    engine.rate.close_step = recording  # type: ignore[method-assign]
    for record in stream(seed=QUIET_SEED, faults=faults):
        engine.process(record)
    assert tests[True] and tests[False], "both faults are found"
    assert min(tests[True]) >= 0.9 * max(tests[False]), "as many tests are counted at night as by day"
