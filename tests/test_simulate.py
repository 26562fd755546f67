"""The simulator: deterministic, contract-abiding streams whose faults are really there, decoys harmless."""

from __future__ import annotations

import argparse
import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from difflib import SequenceMatcher
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from correlate.contracts import Contact, Rejection, parse_timestamp, validate
from correlate.lab.simulate import _RARE_SYMPTOMS, WARM_UP, Simulation, add_parser, simulate
from correlate.vendors import vendor_slug

START = parse_timestamp("2026-03-02T00:00:00Z")
HOUR, DAY = 3_600.0, 86_400.0


def _key(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.casefold())


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(seed=11, days=5, contacts_per_day=2_000, start=START, faults=5)


@pytest.fixture(scope="module")
def contacts(sim: Simulation) -> list[Contact]:
    accepted = [validate(record) for record in sim.contacts]
    assert all(isinstance(contact, Contact) for contact in accepted)
    return [contact for contact in accepted if isinstance(contact, Contact)]


def _reporters(contacts: list[Contact], scope: dict[str, str], start: float, end: float) -> int:
    """Distinct reporters in the scope: customers once each, partner aggregates by their count."""
    wanted = {name: _key(value) for name, value in scope.items()}
    inside = [
        c
        for c in contacts
        if start <= c.ts <= end and all(_key(c.dimensions.get(k, "")) == v for k, v in wanted.items())
    ]
    return len({c.customer_id for c in inside if c.count == 1}) + sum(c.count for c in inside if c.count > 1)


def _similarity(text: str, phrase: str) -> float:
    return SequenceMatcher(None, text.lower(), phrase).ratio()


def test_same_seed_same_stream_and_other_seeds_differ() -> None:
    first = simulate(seed=3, days=4, contacts_per_day=300, start=START)
    again = simulate(seed=3, days=4, contacts_per_day=300, start=START)
    other = simulate(seed=4, days=4, contacts_per_day=300, start=START)
    assert first == again
    assert first.contacts != other.contacts
    assert first.truth != other.truth


def test_records_obey_the_contract_sorted_by_event_time(sim: Simulation, contacts: list[Contact]) -> None:
    assert len(contacts) == len(sim.contacts)
    times = [contact.ts for contact in contacts]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < START + 5 * DAY
    assert len({contact.contact_id for contact in contacts}) == len(contacts)
    assert 0.8 * 2_000 * 5 < len(contacts) < 1.3 * 2_000 * 5
    assert all(set(c.dimensions) == {"device_brand", "device_model", "service", "region"} for c in contacts)


def test_stream_has_the_noise_real_traffic_has(contacts: list[Contact]) -> None:
    aggregates = [c for c in contacts if c.count > 1]
    assert aggregates and all(c.is_partner for c in aggregates)
    before_warm_up = [c for c in aggregates if c.ts < START + WARM_UP]
    assert len(before_warm_up) >= 5, "partner aggregates are a steady background, not only a fault signal"
    assert any(c.is_partner and c.count == 1 for c in contacts)
    brands = Counter(c.dimensions["device_brand"] for c in contacts)
    assert any(value != value.strip() or value.islower() or value.isupper() for value in brands)
    per_customer = Counter(c.customer_id for c in contacts if not c.is_partner)
    retried = [cid for cid, n in per_customer.items() if n > 1]
    assert 0.2 < len(retried) / len(per_customer) < 0.6
    hours = np.array([int(c.ts % DAY // 3600) for c in contacts])
    assert (hours == 20).sum() > 4 * (hours == 3).sum(), "evenings are busier than nights"


def test_faults_follow_warm_up_and_never_overlap(sim: Simulation) -> None:
    faults = [entry for entry in sim.truth if not entry["decoy"]]
    assert len(faults) == 5
    spans = sorted((parse_timestamp(f["start"]), parse_timestamp(f["end"])) for f in faults)
    assert all(start >= START + WARM_UP for start, _ in spans)
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans))
    rate = [f for f in faults if f["kind"] == "rate"]
    assert {f["pattern"] for f in rate} >= {"brand-wide", "service-wide", "pair"}
    for fault in rate:
        assert 30 * 60 - 1 <= parse_timestamp(fault["end"]) - parse_timestamp(fault["start"]) <= 4 * 3600 + 1
        if "device_model" not in fault["scope"]:
            assert fault["vendors_at_fault"] == sorted(vendor_slug(v) for v in fault["scope"].values())


def test_rate_faults_raise_distinct_reporters_versus_the_day_before(sim: Simulation, contacts: list[Contact]) -> None:
    for fault in (entry for entry in sim.truth if entry["kind"] == "rate"):
        start, end = parse_timestamp(fault["start"]), parse_timestamp(fault["end"])
        during = _reporters(contacts, fault["scope"], start, end)
        before = _reporters(contacts, fault["scope"], start - DAY, end - DAY)
        assert during >= max(1.5 * before, before + 5), (fault, during, before)


def _ts(contact: Contact) -> float:
    return contact.ts


def _written_share(contacts: list[Contact]) -> float:
    """The share of customers who write at least once (voice and ivr calls leave no text half the time)."""
    wrote: dict[str, bool] = {}
    for c in contacts:
        if c.count == 1:
            wrote[c.customer_id] = wrote.get(c.customer_id, False) or bool(c.text)
    return sum(wrote.values()) / len(wrote)


def _fault_and_usual(contacts: list[Contact], fault: dict[str, Any], written: float) -> tuple[int, float]:
    """New reporters a rate fault brings to its scope over its span, and those the scope brings otherwise then.

    A customer counts where their first contact falls, as the stitcher counts new reporters: the retries of a
    problem that began earlier bring no one new. The fault's customers carry its category or its error number
    (everyday texts hold no digits); one who files an everyday category and writes nothing looks like anyone
    else, so the usual customers are counted among those who wrote and scaled up by the share who write.
    Partners' everyday aggregates count at their average level over the stream, the fault's own in full.
    """
    named = re.search(r"category (E\d+)", fault["description"])
    assert named, fault["description"]
    code = named.group(1)
    start, end = parse_timestamp(fault["start"]), parse_timestamp(fault["end"])
    wanted = {name: _key(value) for name, value in fault["scope"].items()}

    def in_scope(c: Contact) -> bool:
        return all(_key(c.dimensions[name]) == value for name, value in wanted.items())

    batches = [c for c in contacts if c.count > 1 and in_scope(c)]
    # A problem's contacts span two hours at most: these hold every customer's first and last contact.
    near = contacts[bisect_left(contacts, start - 2 * HOUR, key=_ts) : bisect_right(contacts, end + 2 * HOUR, key=_ts)]
    inside = [c for c in near if c.count == 1 and in_scope(c)]
    first: dict[str, float] = {}
    for c in inside:
        first.setdefault(c.customer_id, c.ts)
    marked = {c.customer_id for c in inside if c.category == code or any(ch.isdigit() for ch in c.text or "")}
    wrote = {c.customer_id for c in inside if c.text}
    new = {customer for customer, ts in first.items() if start <= ts <= end}
    extra = len(new & marked) + sum(c.count for c in batches if c.category == code and start <= c.ts <= end)
    stream = contacts[-1].ts - contacts[0].ts
    everyday = sum(c.count for c in batches if c.category != code) * (end - start) / stream
    return extra, len((new - marked) & wrote) / written + everyday


def test_rate_faults_add_strength_minus_one_times_the_usual_reporters() -> None:
    """During a rate fault the scope hears ``strength`` times its usual reporters: the fault follows what the
    background really brings at that hour (its busyness, the partners' steady aggregates), floor included."""
    added = expected = 0.0
    for seed in (31, 32, 33):
        sim = simulate(seed=seed, days=4, contacts_per_day=12_000, start=START, faults=3)
        contacts = [c for c in map(validate, sim.contacts) if isinstance(c, Contact)]
        written = _written_share(contacts)
        for fault in (entry for entry in sim.truth if entry["kind"] == "rate"):
            strength = fault["strength"]
            assert fault["description"].startswith(f"{fault['pattern']} fault: {strength:.1f}x the usual")
            extra, usual = _fault_and_usual(contacts, fault, written)
            ratio = extra / ((strength - 1) * usual)  # realised over declared extra reporters
            if usual >= 15:  # enough usual reporters to measure one fault on its own
                noise = ratio * math.sqrt(1 / max(extra, 1) + 1 / usual)  # both counts are Poisson
                assert abs(ratio - 1) <= 3 * noise + 0.1, (seed, fault, extra, usual)
            added, expected = added + extra, expected + (strength - 1) * usual
    assert 0.8 <= added / expected <= 1.2, (added, expected)


def test_symptom_faults_are_few_distinct_customers_with_near_duplicate_texts(
    sim: Simulation, contacts: list[Contact]
) -> None:
    symptoms = [entry for entry in sim.truth if entry["kind"] == "symptom"]
    assert symptoms
    for fault in symptoms:
        start, end = parse_timestamp(fault["start"]), parse_timestamp(fault["end"])
        assert end - start <= 3600
        phrasings = next(row for row in _RARE_SYMPTOMS if row[0] in fault["description"])
        reporters = {
            c.customer_id
            for c in contacts
            if start <= c.ts <= end and c.text and max(_similarity(c.text, p) for p in phrasings) > 0.6
        }
        assert 3 <= len(reporters) <= 6


def test_drift_decoy_share_triples() -> None:
    sim = simulate(seed=11, days=4, contacts_per_day=4_000, start=START, faults=0)
    drift = next(entry for entry in sim.truth if entry.get("pattern") == "drift")
    assert drift["decoy"] is True and drift["kind"] == "decoy"
    brand = _key(drift["scope"]["device_brand"])
    contacts = [c for c in map(validate, sim.contacts) if isinstance(c, Contact) and c.count == 1]
    half_days = np.array([int((c.ts - START) // (DAY / 2)) for c in contacts])
    is_drift = np.array([_key(c.dimensions["device_brand"]) == brand for c in contacts])
    shares = [is_drift[half_days == h].mean() for h in range(8)]
    slope = np.polyfit(np.arange(8) + 0.5, np.log(shares), 1)[0]
    assert 2.2 < np.exp(slope * 8) < 4.5, "a log-linear fit of the share grows about 3x start to end"


def test_truth_lists_every_decoy_kind(sim: Simulation) -> None:
    decoys = {entry["pattern"]: entry for entry in sim.truth if entry["decoy"]}
    assert set(decoys) == {"drift", "repeat-customer", "global-surge", "partner-aggregate"}
    assert decoys["global-surge"]["scope"] == {}
    assert all(entry["vendors_at_fault"] == [] for entry in decoys.values())
    repeat = decoys["repeat-customer"]
    start, end = parse_timestamp(repeat["start"]), parse_timestamp(repeat["end"])
    assert end - start <= 3600
    ids = Counter(r["customer_id"] for r in sim.contacts if start <= parse_timestamp(r["ts"]) <= end).most_common(1)
    assert ids[0][1] == 9
    channels = {r["channel"] for r in sim.contacts if r["customer_id"] == ids[0][0]}
    assert channels == {"voice", "ivr", "chat", "email", "web", "social", "app"}
    ids = [entry["fault_id"] for entry in sim.truth]
    assert len(set(ids)) == len(ids)


def test_big_brand_with_big_service_pair_once_there_are_four_faults() -> None:
    sim = simulate(seed=5, days=4, contacts_per_day=500, start=START, faults=4)
    contacts = [c for c in map(validate, sim.contacts) if isinstance(c, Contact)]
    brands = [b for b, _ in Counter(_key(c.dimensions["device_brand"]) for c in contacts).most_common(3)]
    services = [s for s, _ in Counter(_key(c.dimensions["service"]) for c in contacts).most_common(3)]
    pairs = [f["scope"] for f in sim.truth if f.get("pattern") == "pair"]
    assert any(_key(p["device_brand"]) in brands and _key(p["service"]) in services for p in pairs)


def test_bad_records_match_the_fraction_and_leave_the_truth_alone() -> None:
    clean = simulate(seed=8, days=4, contacts_per_day=400, start=START, faults=4)
    dirty = simulate(seed=8, days=4, contacts_per_day=400, start=START, faults=4, bad_records=0.05)
    rejected = [r for r in map(validate, dirty.contacts) if isinstance(r, Rejection)]
    assert abs(len(rejected) - 0.05 * len(dirty.contacts)) <= 1
    assert {r.field for r in rejected} == {"ts", "channel", "count", "dimensions.region", ""}
    assert dirty.truth == clean.truth
    kept = [r for r in dirty.contacts if isinstance(r, dict) and not r["contact_id"].endswith("-bad")]
    assert kept == clean.contacts


def test_too_short_a_stream_for_the_faults_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        simulate(seed=1, days=3.1, contacts_per_day=100, start=START, faults=6)


@pytest.mark.parametrize("days", [1, 2, 3])
def test_too_short_a_stream_says_how_many_days_the_faults_need(days: int, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["simulate", "--days", str(days), "--truth", "-", "--output", "-"])
    assert args.func(args) == 2
    error = capsys.readouterr().err
    needed = float(re.search(r"4 faults need at least --days ([0-9.]+) \(or --faults 0 for none\)", error)[1])  # type: ignore[index]
    assert error.startswith(f"correlate simulate: {days} days leave no room for 4 faults")
    # The minimum is what it says: a hundredth of a day less is refused, the minimum itself is not.
    with pytest.raises(ValueError, match="no room"):
        simulate(seed=1, days=needed - 0.01, contacts_per_day=50, start=START, faults=4)
    assert sum(not e["decoy"] for e in simulate(seed=1, days=needed, contacts_per_day=50, start=START).truth) == 4


def test_a_stream_short_of_the_asked_faults_says_how_many_fit() -> None:
    with pytest.raises(ValueError, match=r"6 faults need at least --days 3\.46 \(or at most 2 with --faults 2\)"):
        simulate(seed=1, days=3.3, contacts_per_day=100, start=START, faults=6)
    assert (
        sum(not e["decoy"] for e in simulate(seed=1, days=3.3, contacts_per_day=100, start=START, faults=2).truth) == 2
    )


def test_watching_the_stages_changes_nothing_in_the_stream() -> None:
    stages: list[str] = []
    watched = simulate(seed=8, days=4, contacts_per_day=400, start=START, telemetry=True, on_stage=stages.append)
    plain = simulate(seed=8, days=4, contacts_per_day=400, start=START, telemetry=True)
    assert stages == ["background", "faults", "contacts", "telemetry", "merge"]
    assert watched == plain


def test_cli_writes_contacts_and_truth_as_jsonl(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    out, truth = tmp_path / "contacts.jsonl", tmp_path / "truth.jsonl"
    argv = ["simulate", "--seed", "2", "--days", "4", "--per-day", "200", "--output", str(out)]
    args = parser.parse_args([*argv, "--truth", str(truth), "--start", "2026-01-05T00:00:00Z"])
    assert args.func(args) == 0
    records: list[Any] = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    entries = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    assert records[0]["ts"].startswith("2026-01-05T")
    assert sum(not entry["decoy"] for entry in entries) == 4
    assert all(isinstance(validate(record), Contact) for record in records)


# -- profiles ---------------------------------------------------------------------------------------------------
def _first_seen(contacts: list[Contact]) -> list[Contact]:
    """Each customer's first single report for its dimensions: the unit the truth's background counts."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    first = []
    for contact in contacts:
        key = (contact.customer_id, tuple(sorted((n, _key(v)) for n, v in contact.dimensions.items())))
        if contact.count == 1 and key not in seen:
            seen.add(key)
            first.append(contact)
    return first


def _inside(contact: Contact, fault: dict[str, Any]) -> bool:
    dims = {name: _key(value) for name, value in contact.dimensions.items()}
    if fault.get("services") and dims["service"] not in {_key(s) for s in fault["services"]}:
        return False
    return all(dims.get(name) == _key(value) for name, value in fault["scope"].items())


def _per_minute(first: list[Contact], fault: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(observed, background) new customers in the fault's scope, minute by minute over its recorded background."""
    begin, background = parse_timestamp(fault["background_from"]), np.asarray(fault["background"])
    observed = np.zeros(len(background))
    for contact in first:
        minute = int((contact.ts - begin) // 60)
        if 0 <= minute < len(background) and _inside(contact, fault):
            observed[minute] += 1
    return observed, background


@pytest.fixture(scope="module")
def hard() -> Simulation:
    return simulate(seed=4, days=6, contacts_per_day=6_000, start=START, profile="hard")


@pytest.fixture(scope="module")
def hard_first(hard: Simulation) -> list[Contact]:
    return _first_seen([c for c in map(validate, hard.contacts) if isinstance(c, Contact)])


def test_the_standard_profile_is_what_simulate_gives_without_one() -> None:
    plain = simulate(seed=3, days=4, contacts_per_day=300, start=START, telemetry=True)
    standard = simulate(seed=3, days=4, contacts_per_day=300, start=START, telemetry=True, profile="standard")
    assert plain == standard


def test_hard_truth_holds_every_special_case(hard: Simulation, hard_first: list[Contact]) -> None:
    faults = {entry["fault_id"]: entry for entry in hard.truth if entry["kind"] == "rate"}
    cases = Counter(entry["case"] for entry in faults.values())
    for case in ("cold-start", "new-cell", "repeat-first", "repeat-second", "triple", "out-of-schema", "big-model"):
        assert cases[case] == 1, case
    assert cases["concurrent"] == 2 and cases["big-pair"] == 1
    by_case = {entry["case"]: entry for entry in faults.values()}
    cold = by_case["cold-start"]
    assert START + DAY <= parse_timestamp(cold["start"]) < START + 2 * DAY and len(cold["scope"]) == 1
    first, second = by_case["repeat-first"], by_case["repeat-second"]
    assert second["repeat_of"] == first["fault_id"] and second["scope"] == first["scope"]
    assert parse_timestamp(second["start"]) - parse_timestamp(first["start"]) == pytest.approx(DAY)
    one, other = (entry for entry in faults.values() if entry["case"] == "concurrent")
    assert one["concurrent_with"] == other["fault_id"] and other["concurrent_with"] == one["fault_id"]
    assert set(one["scope"]).isdisjoint(other["scope"])
    assert parse_timestamp(one["start"]) < parse_timestamp(other["end"])
    assert parse_timestamp(other["start"]) < parse_timestamp(one["end"])
    assert set(by_case["triple"]["scope"]) == {"device_brand", "service", "region"}
    cdn = by_case["out-of-schema"]
    assert cdn["scope"] == {} and cdn["unattributable"] is True and cdn["vendors_at_fault"] == []
    services = {_key(c.dimensions["service"]) for c in hard_first}
    assert 2 <= len(cdn["services"]) <= len(services) / 2
    new = by_case["new-cell"]
    model, launch = _key(new["scope"]["device_model"]), parse_timestamp(new["cell_first_seen"])
    seen = min(c.ts for c in hard_first if _key(c.dimensions["device_model"]) == model)
    assert launch <= seen < launch + HOUR
    assert 18 * HOUR <= parse_timestamp(new["start"]) - launch <= 30 * HOUR


def test_hard_faults_ramp_up_with_everyday_complaints(hard: Simulation, hard_first: list[Contact]) -> None:
    categories = {c.category for c in map(validate, hard.contacts) if isinstance(c, Contact) and c.category}
    assert all(int(code[1:]) < 6000 for code in categories), "no fresh error codes: the background's own ones"
    early = late = 0.0
    for fault in (entry for entry in hard.truth if entry["kind"] == "rate"):
        observed, background = _per_minute(hard_first, fault)
        excess = observed - background
        ramp = round(fault["ramp_minutes"])
        start = 60 + round((parse_timestamp(fault["start"]) - parse_timestamp(fault["background_from"])) / 60 - 60)
        early += excess[start : start + ramp // 2].sum()
        late += excess[start + ramp : start + ramp + ramp // 2].sum()
        assert 1.3 <= fault["plateau_strength"] <= 4.0
    assert late > 2 * early, "the first half of a ramp brings far fewer extra customers than as long a plateau"


@pytest.mark.parametrize("profile", ["standard", "hard"])
def test_the_true_background_is_what_the_scope_brings_without_the_fault(profile: str) -> None:
    if profile == "hard":
        sim = simulate(seed=6, days=6, contacts_per_day=6_000, start=START, profile="hard")
    else:
        sim = simulate(seed=6, days=6, contacts_per_day=6_000, start=START)
    first = _first_seen([c for c in map(validate, sim.contacts) if isinstance(c, Contact)])
    before_observed = before_expected = during_observed = during_expected = 0.0
    for fault in (entry for entry in sim.truth if entry["kind"] == "rate"):
        observed, background = _per_minute(first, fault)
        before_observed, before_expected = (
            before_observed + observed[:55].sum(),
            before_expected + background[:55].sum(),
        )
        during_observed += observed[60:].sum()
        during_expected += background[60:].sum() * (fault["strength"] - fault["via_partner"] * (fault["strength"] - 1))
    assert before_observed == pytest.approx(before_expected, rel=0.12), "the hour before: background alone"
    assert during_observed == pytest.approx(during_expected, rel=0.15), "during: background times strength"


def test_a_flat_stream_has_no_daily_rhythm_and_one_fault_after_30_hours() -> None:
    sim = simulate(seed=2, days=2, contacts_per_day=6_000, start=START, profile="flat")
    contacts = [c for c in map(validate, sim.contacts) if isinstance(c, Contact) and c.count == 1]
    hours = np.array([int(c.ts % DAY // 3600) for c in contacts])
    evening, night = np.isin(hours, (18, 19, 20, 21)).sum(), np.isin(hours, (2, 3, 4, 5)).sum()
    assert 0.75 < evening / night < 1.33, "night and evening alike (a rhythm would make evenings 8x busier)"
    (fault,) = [entry for entry in sim.truth if not entry["decoy"]]
    assert parse_timestamp(fault["start"]) >= START + 30 * HOUR and fault["pattern"] in {"brand-wide", "pair"}


def test_profiles_refuse_what_they_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="at least 6 days"):
        simulate(seed=1, days=5, contacts_per_day=100, start=START, profile="hard")
    with pytest.raises(ValueError, match="faults"):
        simulate(seed=1, days=6, contacts_per_day=100, start=START, profile="hard", faults=3)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["simulate", "--profile", "flat", "--days", "1", "--truth", "/dev/null", "--quiet"])
    assert args.func(args) == 2
    assert "at least 1.6 days" in capsys.readouterr().err
