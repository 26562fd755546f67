"""What is not an incident: slow drift, a centre-wide surge, a partner's routine batches."""

from __future__ import annotations

from correlate.contracts import format_time, parse_timestamp
from streams import DAY, HOUR, START, Fault, Surge, opened_scopes, run, stream


def test_a_brand_whose_share_triples_over_two_weeks_is_not_an_incident() -> None:
    assert run(stream(seed=21, days=14.0, per_day=4000, drift=("Zed", 3.0))) == []


def test_everything_rising_together_is_not_an_incident() -> None:
    surge = Surge(START + 2 * DAY + 19 * HOUR, 2 * HOUR, 1.5)
    assert run(stream(seed=22, surges=[surge])) == []


def test_a_fault_during_a_surge_is_still_found_and_attributed() -> None:
    surge = Surge(START + 2 * DAY + 19 * HOUR, 3 * HOUR, 1.5)
    fault = Fault({"service": "Tubo"}, START + 2 * DAY + 20 * HOUR, HOUR, 4.0)
    assert opened_scopes(run(stream(seed=23, surges=[surge], faults=[fault]))) == [{"service": "Tubo"}]


def _batches(size: int, every: float, until: float) -> list[dict[str, object]]:
    """A partner's aggregated records on one cell, every ``every`` seconds."""
    return [
        {
            "contact_id": f"acme-{i}",
            "ts": format_time(START + 600 + i * every),
            "channel": "partner",
            "customer_id": "partner:acme",
            "source": "partner:acme",
            "dimensions": {"device_brand": "Pana", "service": "FlixCo", "region": "East"},
            "count": size + (i * 7) % 9,
        }
        for i in range(int((until - START - 600) // every))
    ]


def _with(background: list[dict[str, object]], extra: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted([*background, *extra], key=lambda record: parse_timestamp(record["ts"]))


def test_a_partners_routine_batches_are_not_an_incident() -> None:
    background = stream(seed=24, days=4.0)
    with_batches = run(_with(background, _batches(20, 4 * HOUR, START + 4 * DAY)))
    assert opened_scopes(with_batches) == opened_scopes(run(background)), "the batches add no incident"


def test_a_batch_a_hundred_times_the_usual_is_an_incident() -> None:
    background = stream(seed=24, days=4.0)
    huge = dict(_batches(2000, 4 * HOUR, START + 4 * DAY)[0], contact_id="acme-huge", ts=format_time(START + 3.5 * DAY))
    events = run(_with(background, [*_batches(20, 4 * HOUR, START + 4 * DAY), huge]))
    new = [e for e in events if e["event"] == "opened" and e["scope"] not in opened_scopes(run(background))]
    assert len(new) == 1
    cell = {"device_brand": "Pana", "service": "FlixCo", "region": "East"}
    assert new[0]["scope"].items() <= cell.items(), "the incident is on the batch's cell or a part of it"
    assert new[0]["evidence"]["customers"] >= 2000
    assert new[0]["opened_at"] == format_time(START + 3.5 * DAY + 60), "found at the end of the batch's step"
