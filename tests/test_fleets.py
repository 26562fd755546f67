"""The second fleet generator: deterministic, within correlate's contracts, and its truth is what it wrote."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.events import from_json
from correlate.lab import fleets
from correlate.lab.evaluate import evaluate
from correlate.replay import event_time, run_replay

SMALL = fleets.FleetSpec(seed=5, days=3, devices=90, contacts_per_day=400, scenario=fleets.Scenario(silent_faults=1))


def _records(folder: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (folder / "stream.jsonl").read_bytes().splitlines()]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fleet")
    fleets.write(fleets.generate(SMALL), str(folder))
    return folder


@pytest.fixture(scope="module")
def records(written: Path) -> list[dict[str, Any]]:
    return _records(written)


@pytest.fixture(scope="module")
def truth(written: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (written / "truth.jsonl").read_bytes().splitlines()]


@pytest.fixture(scope="module")
def beats(records: list[dict[str, Any]]) -> dict[str, list[tuple[float, str]]]:
    """Each device's heartbeats (ts, status), in time order."""
    found: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for record in records:
        if record.get("type") == "heartbeat":
            found[record["device_id"]].append((record["ts"], record["status"]))
    return found


def _one(truth: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    (entry,) = [e for e in truth if all(e.get(name) == value for name, value in match.items())]
    return entry


def _span(entry: dict[str, Any]) -> tuple[float, float]:
    return parse_timestamp(entry["start"]), parse_timestamp(entry["end"])


def _digest(folder: Path) -> str:
    return hashlib.sha256((folder / "stream.jsonl").read_bytes() + (folder / "truth.jsonl").read_bytes()).hexdigest()


def test_the_same_seed_writes_the_same_stream_and_another_seed_another(written: Path, tmp_path: Path) -> None:
    fleets.write(fleets.generate(SMALL), str(tmp_path / "again"))
    fleets.write(fleets.generate(replace(SMALL, seed=6)), str(tmp_path / "other"))
    assert _digest(tmp_path / "again") == _digest(written)
    assert _digest(tmp_path / "other") != _digest(written)


def test_replay_accepts_every_record_in_event_time_order(written: Path, truth: list[dict[str, Any]]) -> None:
    lines = (written / "stream.jsonl").read_bytes().splitlines()
    times = [event_time(line) for line in lines]
    assert times == sorted(times)
    rejects = written / "rejects.jsonl"
    summary = run_replay(Engine(Settings()), str(written / "stream.jsonl"), str(written / "inc.jsonl"), str(rejects))
    assert summary.rejected == 0 and rejects.read_bytes() == b""
    assert summary.statuses == 3  # the declared fault: +3 min, +35 min, resolved
    assert summary.telemetry > 50_000 and summary.accepted > 3 * 400 * 0.8
    events = [from_json(orjson.loads(line)) for line in (written / "inc.jsonl").read_bytes().splitlines()]
    report = evaluate(truth, events)  # the truth is in the format correlate evaluate reads
    assert report.faults == 3 and report.devices == 3  # one silent fault, the declared one, the feed outage


def test_the_maintenance_region_announces_standby_then_goes_quiet(
    truth: list[dict[str, Any]], records: list[dict[str, Any]], beats: dict[str, list[tuple[float, str]]]
) -> None:
    entry = _one(truth, kind="maintenance")
    assert entry["decoy"] and entry["maintenance"]
    start, end = _span(entry)
    region = entry["scope"]["region"]
    in_region = {
        r["device_id"] for r in records if r.get("type") == "heartbeat" and r["dimensions"]["region"] == region
    }
    assert set(entry["standby_devices"]) == in_region - _gone_before(truth, start)
    for device in entry["standby_devices"]:
        last = [(ts, status) for ts, status in beats[device] if ts < end][-1]
        assert last[1] == "standby" and start - 120 <= last[0] <= start
    summaries = [r for r in records if r.get("type") == "heartbeat-summary" and r["dimensions"]["region"] == region]
    during = [r["devices"] for r in summaries if start + 300 <= r["ts"] <= end]
    before = [r["devices"] for r in summaries if start - 3 * 3600 <= r["ts"] < start]
    assert during and sum(during) / len(during) < 0.05 * sum(before) / len(before)


def _gone_before(truth: list[dict[str, Any]], start: float) -> set[str]:
    """Devices not there at ``start``: replaced before it, or replacing one after it."""
    replaced = [e for e in truth if e["kind"] == "replaced"]
    return {e["device_id"] for e in replaced if _span(e)[0] < start} | {
        e["new_device_id"] for e in replaced if _span(e)[0] > start
    }


def test_silent_devices_stop_and_their_owners_call_after_the_fault_began(
    truth: list[dict[str, Any]], records: list[dict[str, Any]], beats: dict[str, list[tuple[float, str]]]
) -> None:
    for entry in (e for e in truth if e["kind"] == "silence" and e["pattern"] != "feed-region"):
        start, end = _span(entry)
        affected = entry["affected_devices"]
        assert affected and all(not any(start <= ts < end for ts, _ in beats[d]) for d in affected)
        owner = {r["device_id"]: r["customer_id"] for r in records if r.get("type") == "heartbeat"}
        owners = {owner[device] for device in affected}
        related = entry["related_calls"]
        assert 6 <= len(related) <= 13
        assert {call["customer_id"] for call in related} <= owners
        first = parse_timestamp(entry["first_contact_at"])
        assert first == min(parse_timestamp(call["ts"]) for call in related) and first > start + 600
        contacts = {(r["customer_id"], parse_timestamp(r["ts"])) for r in records if "channel" in r}
        assert all((call["customer_id"], parse_timestamp(call["ts"])) in contacts for call in related)
        unrelated = [parse_timestamp(call["ts"]) for call in entry["unrelated_calls"]]
        assert any(ts < start for ts in unrelated) and any(start <= ts < end for ts in unrelated)


def test_the_vendor_declares_its_fault_at_3_and_35_minutes(
    truth: list[dict[str, Any]], records: list[dict[str, Any]]
) -> None:
    entry = _one(truth, pattern="brand-region-declared")
    start, _ = _span(entry)
    statuses = [r for r in records if r.get("type") == "vendor-status"]
    assert [parse_timestamp(r["ts"]) - start for r in statuses[:2]] == pytest.approx([180, 2100], abs=0.01)
    assert all(r["scope"] == entry["scope"] for r in statuses)
    assert [parse_timestamp(ts) for ts in entry["vendor_declared_at"]] == [
        parse_timestamp(r["ts"]) for r in statuses[:2]
    ]


def test_a_feed_outage_silences_one_partner_in_a_region_and_not_the_other(
    truth: list[dict[str, Any]], records: list[dict[str, Any]], beats: dict[str, list[tuple[float, str]]]
) -> None:
    entry = _one(truth, pattern="feed-region")
    start, end = _span(entry)
    assert entry["scope"]["source"] == fleets.DEVICE_SOURCE and not entry["related_calls"]
    for device in entry["affected_devices"]:
        assert not any(start <= ts < end for ts, _ in beats[device])
    region = entry["scope"]["region"]
    summaries = [r for r in records if r.get("type") == "heartbeat-summary" and r["dimensions"]["region"] == region]
    during = [r["devices"] for r in summaries if start + 300 <= r["ts"] <= end]
    before = [r["devices"] for r in summaries if start - 3 * 3600 <= r["ts"] < start]
    assert sum(during) / len(during) > 0.7 * sum(before) / len(before)


def test_single_devices_sleeps_and_replacements_are_as_the_truth_says(
    truth: list[dict[str, Any]], beats: dict[str, list[tuple[float, str]]]
) -> None:
    for entry in (e for e in truth if e["kind"] == "device"):
        start, end = _span(entry)
        device = beats[entry["device_id"]]
        assert not any(start <= ts < end for ts, _ in device)
        assert any(ts < start for ts, _ in device) and any(ts >= end for ts, _ in device)
    sleeps = [e for e in truth if e["kind"] == "sleep"]
    assert sleeps
    for entry in sleeps:
        start, end = _span(entry)
        inside = [(ts, status) for ts, status in beats[entry["device_id"]] if start - 0.001 <= ts < end]
        assert inside[0][0] == pytest.approx(start, abs=0.001) and {status for _, status in inside} == {"standby"}
    for entry in (e for e in truth if e["kind"] == "replaced"):
        old, new = beats[entry["device_id"]], beats[entry["new_device_id"]]
        start, end = _span(entry)
        assert old[-1][0] < start < end <= new[0][0] and len(new) > 10


def test_switching_a_part_off_leaves_the_others_as_they_were(tmp_path: Path, truth: list[dict[str, Any]]) -> None:
    scenario = replace(SMALL.scenario, maintenance=False, summary_partner=False)
    fleets.write(fleets.generate(replace(SMALL, scenario=scenario)), str(tmp_path))
    without = [orjson.loads(line) for line in (tmp_path / "truth.jsonl").read_bytes().splitlines()]
    assert without == [entry for entry in truth if entry["kind"] != "maintenance"]
    kinds = {record.get("type") for record in _records(tmp_path)}
    assert "heartbeat-summary" not in kinds and "heartbeat" in kinds
