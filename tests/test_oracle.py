"""The oracle: a floor for time to detect, from a fault's true background, at the detector's false-alarm budget."""

from __future__ import annotations

import numpy as np
import pytest

from correlate.config import Settings
from correlate.contracts import Contact, parse_timestamp, validate
from correlate.lab.evaluate import Oracle, Report, evaluate
from correlate.lab.oracle import NewCustomers, first_detection, lattice_cells, per_test_threshold
from correlate.lab.simulate import simulate

START = parse_timestamp("2026-03-02T00:00:00Z")
THRESHOLD = per_test_threshold(930, 0.05, 2, 60.0)  # the stream: ~930 cells, two windows, one-minute steps


def _arrivals(rng: np.random.Generator, per_minute: np.ndarray, begin: float) -> list[float]:
    counts = rng.poisson(per_minute)
    return sorted(begin + 60.0 * (minute + rng.random()) for minute in np.repeat(np.arange(len(counts)), counts))


def _fault(seed: int, strength: float, ramp: int = 20) -> float | None:
    """A fault on a scope of 2 new customers a minute: an hour of background, then 3 hours of rising to and staying
    at ``strength`` times it."""
    background = np.full(240, 2.0)
    rise = np.concatenate([np.zeros(60), np.minimum(np.arange(1, 181) / ramp, 1.0)]) * (strength - 1)
    arrivals = _arrivals(np.random.default_rng(seed), background * (1 + rise), START)
    return first_detection(arrivals, background.tolist(), START, START + 3600.0, THRESHOLD)


@pytest.mark.parametrize("seed", range(5))
def test_a_strong_fault_is_seen_sooner_than_a_weak_one(seed: int) -> None:
    strong, weak = _fault(seed, 4.0), _fault(seed, 1.8)
    assert strong is not None and weak is not None
    assert 0 < strong < weak


def test_a_slower_ramp_is_seen_later() -> None:
    fast = [_fault(seed, 2.5, ramp=10) for seed in range(5)]
    slow = [_fault(seed, 2.5, ramp=90) for seed in range(5)]
    assert all(f is not None and s is not None for f, s in zip(fast, slow, strict=True))
    assert float(np.median([f for f in fast if f])) < float(np.median([s for s in slow if s]))


def test_background_alone_raises_nothing_at_the_budget_but_would_at_a_lax_threshold() -> None:
    minutes = np.arange(20 * 1440)
    daily = 1.0 + 0.8 * np.sin(2 * np.pi * minutes / 1440)
    hourly = np.repeat(np.random.default_rng(7).gamma(30.0, 1 / 30, len(minutes) // 60), 60)
    background = 3.0 * daily * hourly  # the realised curve, as the simulator records it
    arrivals = _arrivals(np.random.default_rng(8), background, START)
    assert first_detection(arrivals, background.tolist(), START, START + 3600.0, THRESHOLD) is None
    assert first_detection(arrivals, background.tolist(), START, START + 3600.0, 1e-3) is not None


def test_the_budget_is_spread_over_every_cell_window_and_step_of_a_day() -> None:
    threshold = per_test_threshold(930, 0.05, 2, 60.0)
    assert threshold * 930 * 2 * 1440 == pytest.approx(0.05)
    assert per_test_threshold(1860, 0.05, 2, 60.0) == pytest.approx(threshold / 2)


def test_cells_are_the_value_combinations_of_up_to_two_dimensions() -> None:
    profiles = [
        {"device_brand": "Sonique", "service": "Flixo"},
        {"device_brand": "sonique ", "service": "TuneBox"},
        {"device_brand": "Lumina", "service": "Flixo", "region": ""},
    ]
    # Sonique, Lumina, Flixo, TuneBox; Sonique x Flixo, Sonique x TuneBox, Lumina x Flixo ("sonique " is Sonique)
    assert lattice_cells(profiles) == 7
    assert lattice_cells(profiles, max_depth=1) == 4


def _contact(ts: float, customer: str, brand: str, channel: str = "chat", count: int | None = None) -> Contact:
    record = {
        "contact_id": f"{customer}-{ts}",
        "ts": f"2026-03-02T10:{int(ts) // 60:02d}:{int(ts) % 60:02d}Z",
        "channel": "partner" if count else channel,
        "customer_id": customer,
        "source": "partner:fixit" if count else "centre",
        "dimensions": {"device_brand": brand, "service": "Flixo"},
    }
    if count:
        record["count"] = count
    contact = validate(record)
    assert isinstance(contact, Contact)
    return contact


def test_a_customer_counts_once_on_every_channel_and_aggregates_not_at_all() -> None:
    contacts = [
        _contact(0, "cu-1", "Sonique"),
        _contact(90, "cu-1", "SONIQUE", channel="voice"),  # the same customer, another channel and spelling
        _contact(200, "cu-2", "Sonique"),
        _contact(300, "fixit-batch", "Sonique", count=40),
        _contact(400, "cu-3", "Lumina"),
    ]
    customers = NewCustomers.from_contacts(contacts)
    begin = parse_timestamp("2026-03-02T10:00:00Z")
    found = customers.arrivals({"device_brand": "sonique"}, (), begin, begin + 3600)
    assert found == [begin, begin + 200]
    assert customers.arrivals({}, ("flixo",), begin, begin + 3600) == [begin, begin + 200, begin + 400]


@pytest.fixture(scope="module")
def hard_report() -> Report:
    sim = simulate(seed=9, days=6, contacts_per_day=8_000, start=START, profile="hard")
    return evaluate(sim.truth, [], oracle=Oracle.from_records(sim.contacts, Settings()))


def test_the_oracle_finds_hard_faults_within_them_and_never_before_they_start(hard_report: Report) -> None:
    report = hard_report
    timed = [o for o in report.outcomes if o.fault.kind == "rate"]
    found = [o for o in timed if o.oracle_minutes is not None]
    assert len(found) >= 3, "weak faults on small scopes stay invisible even to the oracle; the others do not"
    for outcome in found:
        assert outcome.oracle_minutes is not None
        assert 0 < outcome.oracle_minutes <= (outcome.fault.end - outcome.fault.start) / 60 + 1
    assert report.median_lag is None, "no incidents, nothing to be behind"
