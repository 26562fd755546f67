"""Faults the detector meets early, weakly, twice or two at a time: found, and named as the value that fails.

The streams are :mod:`streams`' plain Poisson backgrounds at 20,000 contacts a day; each fault's strength is
stated as a multiple of its scope's own level (Vizo is 15% of contacts, Tubo 18%).
"""

from __future__ import annotations

import numpy as np

from correlate.config import Settings
from correlate.contracts import parse_timestamp
from streams import DAY, HOUR, START, Fault, run, stream

PER_DAY = 20_000
VIZO = PER_DAY / 1440 * 0.15  # Vizo's reporters a minute, on average over the day
TUBO = PER_DAY / 1440 * 0.18


def _opened(events: list[dict[str, object]]) -> list[tuple[float, dict[str, str], dict[str, str]]]:
    """(opened at, first scope, final scope) of every incident, in opening order."""
    final: dict[str, dict[str, str]] = {}
    first: dict[str, tuple[float, dict[str, str]]] = {}
    for event in events:
        incident = str(event["incident_id"])
        scope = dict(event["scope"])  # type: ignore[call-overload]
        first.setdefault(incident, (parse_timestamp(str(event["opened_at"])), scope))
        final[incident] = scope
    return [(at, scope, final[incident]) for incident, (at, scope) in first.items()]


def test_a_flat_stream_raises_nothing_until_its_fault_and_then_finds_it() -> None:
    # No daily rhythm at all: the first hours must not be learned as a quiet night. Vizo at 1.8x its level, about
    # 450 against 250 customers an hour.
    fault = Fault({"device_brand": "Vizo"}, START + 30 * HOUR + 17 * 60, 2 * HOUR, 0.8 * 2 * VIZO)
    opened = _opened(run(stream(seed=3, days=2.0, per_day=2 * PER_DAY, flat=True, faults=[fault])))
    assert [final for _, _, final in opened] == [{"device_brand": "Vizo"}]
    assert fault.start < opened[0][0] <= fault.start + fault.duration


def test_a_brand_fault_on_the_second_day_is_found() -> None:
    # About 2.4x the brand's level for four hours, the day after the stream began (a young baseline).
    fault = Fault({"device_brand": "Vizo"}, START + DAY + 14 * HOUR, 4 * HOUR, 3.0)
    opened = _opened(run(stream(seed=4, days=2.5, per_day=PER_DAY, faults=[fault])))
    assert [final for _, _, final in opened] == [{"device_brand": "Vizo"}]
    assert fault.start < opened[0][0] <= fault.start + 2 * HOUR


def test_two_values_failing_at_once_are_two_incidents() -> None:
    # A brand and a service, each at 2x, at the same time: not one incident per pair of the two.
    at = START + 2 * DAY + 12 * HOUR
    faults = [Fault({"device_brand": "Vizo"}, at, 2 * HOUR, VIZO), Fault({"service": "Tubo"}, at, 2 * HOUR, TUBO)]
    opened = _opened(run(stream(seed=6, days=3.0, per_day=PER_DAY, faults=faults)))
    assert sorted(map(str, (final for _, _, final in opened))) == ["{'device_brand': 'Vizo'}", "{'service': 'Tubo'}"]
    assert all(at < when <= at + HOUR for when, _, _ in opened), "each within the hour"


def test_a_value_failing_everywhere_but_worst_on_two_children_is_the_values_fault() -> None:
    # Vizo at 1.7x on every service, and far worse with Tubo and Vidz: the brand fails, not two pairs.
    at = START + 2 * DAY + 12 * HOUR
    faults = [
        Fault({"device_brand": "Vizo"}, at, 2 * HOUR, 0.7 * VIZO),
        Fault({"device_brand": "Vizo", "service": "Tubo"}, at, 2 * HOUR, 1.2 * VIZO * 0.18),
        Fault({"device_brand": "Vizo", "service": "Vidz"}, at, 2 * HOUR, 4.5 * VIZO * 0.12),
    ]
    opened = _opened(run(stream(seed=8, days=3.0, per_day=PER_DAY, faults=faults)))
    assert [final for _, _, final in opened] == [{"device_brand": "Vizo"}]


def test_a_fault_on_three_values_is_named_on_all_three() -> None:
    # Vizo players on Tubo in the North only (about 8x that triple's level): the pair would be too wide.
    at = START + 2 * DAY + 12 * HOUR
    triple = {"device_brand": "Vizo", "service": "Tubo", "region": "North"}
    opened = _opened(run(stream(seed=9, days=3.0, per_day=PER_DAY, faults=[Fault(triple, at, 2 * HOUR, 0.8)])))
    assert [final for _, _, final in opened] == [triple]


def test_a_fault_on_a_value_launched_the_day_before_is_found() -> None:
    # Nova appears at 14:00 on day 1, taking 40% of Sonique's customers (16% of contacts); the next morning at
    # 10:00, 20 hours later, it runs at 2.5x its level. Younger than the warm-up, it is tested against the
    # centre's rhythm times its share so far: not silent until it has a day of its own.
    launch, at = START + DAY + 14 * HOUR, START + 2 * DAY + 10 * HOUR
    records = stream(seed=5, days=3.0, per_day=PER_DAY)
    moved = np.random.default_rng(0).uniform(size=len(records)) < 0.4
    for record, move in zip(records, moved.tolist(), strict=True):
        dimensions = record["dimensions"]
        assert isinstance(dimensions, dict)
        if move and dimensions["device_brand"] == "Sonique" and parse_timestamp(str(record["ts"])) >= launch:
            dimensions["device_brand"] = "Nova"
    fault = Fault({"device_brand": "Nova"}, at, 3 * HOUR, 1.5 * PER_DAY / 1440 * 0.16)
    extra = stream(seed=6, days=3.0, per_day=0, faults=[fault])  # the fault's customers alone
    for record in extra:
        record["contact_id"] = f"nova-{record['contact_id']}"
    opened = _opened(run(sorted(records + extra, key=lambda record: str(record["ts"]))))
    assert [final for _, _, final in opened] == [{"device_brand": "Nova"}]
    assert fault.start < opened[0][0] <= fault.start + HOUR


def test_the_same_fault_the_next_day_is_found_as_if_there_had_been_no_first() -> None:
    # Vizo at 2.4x its level for four hours (ramping up over the first 30 minutes) at 13:07 on two days running, on
    # a plain Poisson background. Neither the first fault's windows before it was found nor its hours after may
    # teach the brand that such hours are its noise: the second is found as soon as the same customers are found
    # on a stream without the first.
    background = stream(seed=12, days=3.75, per_day=PER_DAY)
    faults = [
        Fault({"device_brand": "Vizo"}, START + day * DAY + 13 * HOUR + 7 * 60, 4 * HOUR, 1.4 * VIZO, 1800)
        for day in (2, 3)
    ]
    first, second = (stream(seed=20 + i, days=3.75, per_day=0, faults=[f]) for i, f in enumerate(faults))
    for number, extra in enumerate((first, second)):
        for record in extra:
            record["contact_id"] = f"fault{number}-{record['contact_id']}"
    settings = Settings(symptoms=False, hold_reported=True)
    alone = _opened(run(sorted(background + second, key=lambda record: str(record["ts"])), settings))
    twice = _opened(run(sorted(background + first + second, key=lambda record: str(record["ts"])), settings))
    assert [final for _, _, final in alone] == [{"device_brand": "Vizo"}]
    assert [final for _, _, final in twice] == [{"device_brand": "Vizo"}] * 2
    repeat = faults[1].start
    assert twice[1][0] - repeat <= 1.2 * (alone[0][0] - repeat) + 60, "the repeat is found no later than alone"
