"""Faults that overlap in time, in scope or in a young baseline, at the strengths issue 15 measured.

Streams are :mod:`streams`' Poisson backgrounds (20,000 contacts a day; Vizo 15% of them, Tubo 18%, East 20%).
Strengths are multiples of the scope's level at the fault's hour: the background's daily curve is at its mean at
10:00, so a fault from 10:00 is stated against the daily mean.
"""

from __future__ import annotations

from correlate.contracts import parse_timestamp
from streams import DAY, HOUR, START, Fault, run, stream

PER_DAY = 20_000
PER_MINUTE = PER_DAY / 1440


def _level(share: float) -> float:
    """A value's reporters a minute at the daily mean."""
    return PER_MINUTE * share


def _incidents(events: list[dict[str, object]]) -> list[tuple[float, dict[str, str]]]:
    """(opened at, final scope) of every incident, in opening order."""
    opened: dict[str, float] = {}
    final: dict[str, dict[str, str]] = {}
    for event in events:
        incident = str(event["incident_id"])
        opened.setdefault(incident, parse_timestamp(str(event["opened_at"])))
        final[incident] = dict(event["scope"])  # type: ignore[call-overload]
    return [(opened[incident], final[incident]) for incident in opened]


def test_a_second_fault_on_another_dimension_during_the_first_is_its_own_incident() -> None:
    # 40,000 contacts a day. Vizo at 1.9x from 10:00; from 10:30 StreamPlus at 1.4x on every brand. Vizo's
    # customers are 15% of StreamPlus's, and its fault lifts them too: taking them out of StreamPlus's count but
    # not their share of its expectation leaves a rest that looks ordinary, "explained" by the brand's incident.
    at = START + 2 * DAY + 10 * HOUR
    faults = [
        Fault({"device_brand": "Vizo"}, at, 3 * HOUR, 0.9 * 2 * _level(0.15)),
        Fault({"service": "StreamPlus"}, at + 0.5 * HOUR, 2 * HOUR, 0.4 * 2 * _level(0.40)),
    ]
    found = _incidents(run(stream(seed=11, days=3.0, per_day=2 * PER_DAY, faults=faults)))
    assert sorted(map(str, (scope for _, scope in found))) == [
        "{'device_brand': 'Vizo'}",
        "{'service': 'StreamPlus'}",
    ]
    service = next(when for when, scope in found if scope == {"service": "StreamPlus"})
    assert faults[1].start < service <= faults[1].start + HOUR


def test_two_value_wide_faults_on_two_dimensions_are_two_incidents_not_their_pairs() -> None:
    # Vizo and the East region, each at 1.6x at once: the pairs they share (Vizo in the East above all) are the
    # two faults' overlap, not incidents of their own.
    at = START + 2 * DAY + 10 * HOUR
    faults = [
        Fault({"device_brand": "Vizo"}, at, 2 * HOUR, 0.6 * _level(0.15)),
        Fault({"region": "East"}, at, 2 * HOUR, 0.6 * _level(0.20)),
    ]
    found = _incidents(run(stream(seed=12, days=3.0, per_day=PER_DAY, faults=faults)))
    assert sorted(map(str, (scope for _, scope in found))) == ["{'device_brand': 'Vizo'}", "{'region': 'East'}"]


def test_a_value_failing_on_every_child_and_far_worse_on_two_is_the_values_fault() -> None:
    # 60,000 contacts a day. Vizo at 1.5x on every service, and far worse with Tubo (4.5x) and Vidz (9.5x): its
    # other services are up too, so the brand fails, not two pairs (the hot pairs hold most of the excess).
    at = START + 2 * DAY + 10 * HOUR
    vizo = 3 * _level(0.15)
    faults = [
        Fault({"device_brand": "Vizo"}, at, 2 * HOUR, 0.5 * vizo),
        Fault({"device_brand": "Vizo", "service": "Tubo"}, at, 2 * HOUR, 3.0 * vizo * 0.18),
        Fault({"device_brand": "Vizo", "service": "Vidz"}, at, 2 * HOUR, 8.0 * vizo * 0.12),
    ]
    found = _incidents(run(stream(seed=14, days=3.0, per_day=3 * PER_DAY, faults=faults)))
    assert [scope for _, scope in found] == [{"device_brand": "Vizo"}]
