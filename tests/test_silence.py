"""Faults nobody has called about: populations whose heartbeats stop, and single devices that go quiet.

``fleet()`` builds exactly controlled heartbeat streams (the other telemetry tests import it): every device
reports every ``interval`` seconds with a little jitter, and chosen populations or devices stop for a while.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from streams import DAY, HOUR, START

BRANDS = {"Sonique": 0.40, "Rokit": 0.25, "Vizo": 0.15, "Pana": 0.12, "Zed": 0.08}
REGIONS = {"North": 0.3, "South": 0.3, "East": 0.2, "West": 0.2}
SILENCE_AT = START + DAY + 13 * HOUR


@dataclass(frozen=True)
class Quiet:
    """Devices matching ``scope`` (dimension values, or ``{"device_id": ...}``) send nothing for a while."""

    scope: Mapping[str, str]
    start: float
    duration: float


def fleet(
    *,
    seed: int = 3,
    devices: int = 150,
    days: float = 2.0,
    interval: float = 300.0,
    quiet: Iterable[Quiet] = (),
    sleepers: float = 0.0,
) -> list[dict[str, Any]]:
    """Heartbeats in event-time order. A share ``sleepers`` of the devices goes to standby every night (saying
    so), for five hours from about 01:00: the fleet's volume dips by that share at night, as set-top boxes do."""
    rng = np.random.default_rng(seed)
    quiet = list(quiet)
    rows: list[tuple[float, dict[str, Any]]] = []
    for number in range(devices):
        device = f"dev-{number:04d}"
        dims = {"device_brand": _pick(rng, BRANDS), "region": _pick(rng, REGIONS)}
        beats = np.arange(START + rng.uniform(0, interval), START + days * DAY, interval)
        beats = beats + rng.uniform(-0.1, 0.1, len(beats)) * interval
        keep = np.ones(len(beats), dtype=bool)
        for gap in quiet:
            if all((dims | {"device_id": device}).get(k) == v for k, v in gap.scope.items()):
                keep &= (beats < gap.start) | (beats >= gap.start + gap.duration)
        status = np.full(len(beats), "ok", dtype=object)
        if rng.uniform() < sleepers:
            hour = (beats % DAY) / HOUR
            bedtime = 1.0 + rng.uniform(0, 1)
            asleep = (hour >= bedtime) & (hour < bedtime + 5.0)
            first = asleep & ~np.roll(asleep, 1)
            status[first] = "standby"
            keep &= ~asleep | first
        for ts, state in zip(beats[keep].tolist(), status[keep].tolist(), strict=True):
            record = {"type": "heartbeat", "device_id": device, "customer_id": f"cust-{number:04d}", "ts": ts}
            record |= {"source": "partner:alarmco", "dimensions": dims, "status": state}
            rows.append((ts, record))
    rows.sort(key=lambda row: row[0])
    return [record for _, record in rows]


def _pick(rng: np.random.Generator, shares: Mapping[str, float]) -> str:
    names = list(shares)
    return names[int(rng.choice(len(names), p=list(shares.values())))]


def merged(*streams: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Several record streams as one, in event-time order (contacts carry text times, heartbeats numbers)."""
    records = [record for stream in streams for record in stream]
    return sorted(records, key=lambda record: parse_timestamp(record["ts"]))


def replay(
    records: Iterable[Mapping[str, Any]], settings: Settings | None = None, engine: Engine | None = None
) -> list[dict[str, Any]]:
    """Every event of replaying the records (through ``engine``, to read its counts after, if given)."""
    engine = engine or Engine(settings or Settings(symptoms=False))
    events: list[dict[str, Any]] = []
    for record in records:
        outcome = engine.process(record)
        assert outcome.rejection is None, outcome.rejection
        events.extend(event.to_json() for event in outcome.events)
    events.extend(event.to_json() for event in engine.close())
    return events


def incidents(events: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Each incident's events, by id, in order."""
    found: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        if "incident_id" in event:
            found.setdefault(str(event["incident_id"]), []).append(event)
    return found


def notifications(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [event for event in events if event["event"] == "customer-notification"]


def epoch(text: object) -> float:
    return parse_timestamp(text)


# -- populations ----------------------------------------------------------------------------------------------


def test_a_steady_fleet_raises_nothing() -> None:
    assert replay(fleet(seed=4)) == []


def test_a_region_that_goes_dark_is_one_silence_incident_on_the_region() -> None:
    events = replay(fleet(quiet=[Quiet({"region": "North"}, SILENCE_AT, 2 * HOUR)]))
    found = incidents(events)
    assert len(found) == 1
    (timeline,) = found.values()
    opened = timeline[0]
    assert opened["kind"] == "silence"
    assert {event["event"] for event in timeline} >= {"opened", "resolved"}
    assert timeline[-1]["scope"] == {"region": "North"}
    assert SILENCE_AT < epoch(opened["opened_at"]) <= SILENCE_AT + 15 * 60, "found within 15 minutes"
    telemetry = opened["evidence"]["telemetry"]
    assert telemetry["heartbeats"] < 0.5 * telemetry["expected"]
    assert opened["evidence_kinds"] == ["telemetry"]
    assert epoch(timeline[-1]["at"]) >= SILENCE_AT + 2 * HOUR, "resolved only once the heartbeats are back"


def test_a_brand_that_goes_dark_in_one_region_only_is_the_pair() -> None:
    quiet = Quiet({"device_brand": "Sonique", "region": "South"}, SILENCE_AT, 2 * HOUR)
    found = incidents(replay(fleet(devices=300, quiet=[quiet])))
    assert [timeline[-1]["scope"] for timeline in found.values()] == [{"device_brand": "Sonique", "region": "South"}]


def test_every_device_going_quiet_at_once_is_one_incident_not_one_per_value() -> None:
    found = incidents(replay(fleet(quiet=[Quiet({}, SILENCE_AT, HOUR)])))
    assert [timeline[0]["scope"] for timeline in found.values()] == [{}]


def test_a_partial_silence_a_third_of_a_region_is_found() -> None:
    # Devices 0-59 are about a third of the fleet: the ones among them in North stop.
    quiet = [Quiet({"device_id": f"dev-{n:04d}", "region": "North"}, SILENCE_AT, 2 * HOUR) for n in range(60)]
    found = incidents(replay(fleet(quiet=quiet)))
    assert [timeline[-1]["scope"] for timeline in found.values()] == [{"region": "North"}]


def test_the_nightly_dip_of_devices_in_standby_is_not_a_silence() -> None:
    events = replay(fleet(days=3.0, sleepers=0.5))
    assert incidents(events) == {}
    assert notifications(events) == [], "a device that says it goes to standby is not waited for"


def test_a_silence_is_found_in_the_night_too() -> None:
    night = START + 2 * DAY + 3 * HOUR  # half the fleet is asleep
    events = replay(fleet(days=3.0, sleepers=0.5, quiet=[Quiet({"region": "North"}, night, 2 * HOUR)]))
    assert [timeline[-1]["scope"] for timeline in incidents(events).values()] == [{"region": "North"}]


def test_nothing_is_tested_before_the_warm_up() -> None:
    early = START + 10 * HOUR
    assert incidents(replay(fleet(days=1.0, quiet=[Quiet({"region": "North"}, early, 2 * HOUR)]))) == {}


# -- single devices -------------------------------------------------------------------------------------------


def test_a_device_that_goes_quiet_gets_exactly_one_customer_notification() -> None:
    quiet = Quiet({"device_id": "dev-0007"}, START + DAY, 5 * HOUR)
    events = replay(fleet(quiet=[quiet]))
    (notice,) = notifications(events)
    assert notice["device_id"] == "dev-0007"
    assert notice["customer_id"] == "cust-0007"
    # Reported every 5 min: quiet after three of its usual gaps, not before and not an hour later.
    silent_from = epoch(notice["last_seen_at"])
    assert 14 * 60 <= epoch(notice["at"]) - silent_from <= 20 * 60
    assert START + DAY - 6 * 60 <= silent_from < START + DAY
    assert incidents(events) == {}, "one device is not a population"


def test_a_device_silent_twice_is_notified_twice() -> None:
    gaps = [Quiet({"device_id": "dev-0011"}, START + DAY, HOUR), Quiet({"device_id": "dev-0011"}, SILENCE_AT, HOUR)]
    found = notifications(replay(fleet(quiet=gaps)))
    assert [notice["device_id"] for notice in found] == ["dev-0011", "dev-0011"]
    assert START + DAY < epoch(found[0]["at"]) < START + DAY + HOUR < SILENCE_AT < epoch(found[1]["at"])


def test_each_device_learns_its_own_interval() -> None:
    slow = fleet(devices=20, interval=1800.0, quiet=[Quiet({"device_id": "dev-0003"}, START + DAY, 2 * HOUR)])
    (notice,) = notifications(replay(slow))
    assert notice["device_id"] == "dev-0003"
    assert 80 <= notice["silent_minutes"] <= 120  # three half-hour gaps, give or take the jitter


def test_a_device_seen_only_a_few_times_is_not_watched_yet() -> None:
    beats = [
        {"type": "heartbeat", "device_id": "d1", "customer_id": "c1", "ts": START + 300 * i, "source": "p"}
        for i in range(4)
    ]
    assert notifications(replay([*beats, {**beats[0], "device_id": "d2", "ts": START + DAY}])) == []


@pytest.mark.parametrize("repeat", [1, 3])
def test_repeated_heartbeats_change_nothing(repeat: int) -> None:
    base = fleet(devices=40, quiet=[Quiet({"device_id": "dev-0001"}, START + DAY, 2 * HOUR)])
    doubled = [record for record in base for _ in range(repeat)]
    assert notifications(replay(doubled)) == notifications(replay(base))


def test_devices_reported_offline_by_their_gateway_count_as_silent() -> None:
    records = fleet()
    for record in records:
        if record["dimensions"]["region"] == "East" and SILENCE_AT <= record["ts"] < SILENCE_AT + 2 * HOUR:
            record["status"] = "offline"
    found = incidents(replay(records))
    assert [timeline[-1]["scope"] for timeline in found.values()] == [{"region": "East"}]


def summaries(*, period: float = 60.0, quiet: Iterable[Quiet] = (), days: float = 2.0) -> list[dict[str, Any]]:
    """A partner's counts per brand and region: 'N devices reported in the last ``period`` seconds'."""
    rng = np.random.default_rng(11)
    quiet = list(quiet)
    rows = []
    for number, ts in enumerate(np.arange(START + period, START + days * DAY, period).tolist()):
        for brand, brand_share in BRANDS.items():
            for region, region_share in REGIONS.items():
                dims = {"device_brand": brand, "region": region}
                mean = 5000 * brand_share * region_share * period / 60.0 * (1.0 - 0.3 * ((ts % DAY) < 6 * HOUR))
                if any(g.start <= ts < g.start + g.duration and dims | dict(g.scope) == dims for g in quiet):
                    mean *= 0.1
                record = {"type": "heartbeat-summary", "summary_id": f"{number}-{brand}-{region}", "ts": ts}
                record |= {"source": "partner:fleet", "dimensions": dims, "period": period}
                rows.append(record | {"devices": int(rng.poisson(mean))})
    return rows


@pytest.mark.parametrize("period", [60.0, 300.0, 420.0])
def test_summaries_of_a_fleet_find_a_brand_that_goes_quiet(period: float) -> None:
    quiet = Quiet({"device_brand": "Rokit"}, SILENCE_AT, 2 * HOUR)
    events = replay(summaries(period=period, quiet=[quiet]))
    found = incidents(events)
    assert [timeline[-1]["scope"] for timeline in found.values()] == [{"device_brand": "Rokit"}]
    opened = epoch(next(iter(found.values()))[0]["opened_at"])
    assert SILENCE_AT < opened <= SILENCE_AT + period + 15 * 60
    assert notifications(events) == [], "summaries name no device"
