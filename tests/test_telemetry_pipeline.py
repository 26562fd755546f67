"""Telemetry through the tools: the simulator's silent faults, the evaluator's lead over the customers, and
``correlate replay --merge``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from correlate.cli import main
from correlate.contracts import parse_timestamp
from correlate.events import IncidentEvent
from correlate.intake import validate_record
from correlate.lab.evaluate import evaluate
from correlate.lab.simulate import Simulation, simulate
from correlate.telemetry import Heartbeat, HeartbeatSummary
from sample_events import incident_event, notification
from streams import START

DAY = 86_400.0


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(seed=5, days=6.0, contacts_per_day=3000, start=START, telemetry=True)


def test_telemetry_leaves_the_contact_stream_as_it_was(sim: Simulation) -> None:
    plain = simulate(seed=5, days=6.0, contacts_per_day=3000, start=START)
    own = [record for record in sim.contacts if not str(record["contact_id"]).startswith("sf-")]
    assert own == plain.contacts
    assert [entry for entry in sim.truth if entry["kind"] not in ("silence", "device")] == plain.truth


def test_heartbeats_obey_the_contract_in_event_time_order(sim: Simulation) -> None:
    checked = [validate_record(record) for record in sim.telemetry[::50]]
    assert all(isinstance(item, Heartbeat | HeartbeatSummary) for item in checked)
    times = [float(record["ts"]) for record in sim.telemetry]
    assert times == sorted(times)


def test_silent_faults_come_before_their_callers_and_in_a_time_of_their_own(sim: Simulation) -> None:
    silent = [entry for entry in sim.truth if entry["kind"] == "silence"]
    assert len(silent) >= 2
    others = [entry for entry in sim.truth if entry["kind"] in ("rate", "symptom") or entry["decoy"]]
    for fault in silent:
        start, end = parse_timestamp(fault["start"]), parse_timestamp(fault["end"])
        assert start >= START + 3 * DAY, "after the warm-up"
        assert start + 15 * 60 < parse_timestamp(fault["first_contact_at"]) < end + 30 * 60
        for other in others:
            if other["pattern"] == "drift":
                continue
            assert end <= parse_timestamp(other["start"]) or start >= parse_timestamp(other["end"])
        callers = [c for c in sim.contacts if str(c["contact_id"]).startswith("sf-")]
        assert any(c["ts"] == fault["first_contact_at"] for c in callers)
    assert any(entry["kind"] == "device" and entry["customer_id"] for entry in sim.truth)


def _at(minutes: float) -> str:
    from correlate.contracts import format_time

    return format_time(START + 4 * DAY + minutes * 60)


TRUTH: list[dict[str, Any]] = [
    {"fault_id": "s1", "kind": "silence", "scope": {"region": "North"}, "start": _at(0), "end": _at(120),
     "first_contact_at": _at(40)},
    {"fault_id": "q1", "kind": "device", "scope": {"device_id": "d7"}, "device_id": "d7", "start": _at(300),
     "end": _at(400)},
]  # fmt: skip


def _event(incident: str, opened: float, scope: dict[str, str], **more: Any) -> IncidentEvent:
    return incident_event(incident_id=incident, kind="silence", opened_at=_at(opened), scope=scope, **more)


def test_the_lead_over_the_first_customer_contact_is_scored() -> None:
    report = evaluate(TRUTH, [_event("i1", 6, {"region": "North"})])
    (outcome,) = report.outcomes
    assert outcome.exact and outcome.minutes_to_detect == pytest.approx(6.0)
    assert outcome.lead_minutes == pytest.approx(34.0)
    assert report.found_ahead_of_customers == 1 and report.median_lead_minutes == pytest.approx(34.0)


def test_an_incident_merged_into_another_is_one_incident() -> None:
    events = [
        _event("i1", 4, {"region": "North", "device_brand": "Zed"}),
        _event("i1", 4, {"region": "North", "device_brand": "Zed"}, event="resolved", merged_into="i2"),
        _event("i2", 6, {"region": "North"}),
    ]
    report = evaluate(TRUTH, events)
    assert report.incidents == 1 and report.fragmentation == 1.0
    assert report.outcomes[0].minutes_to_detect == pytest.approx(4.0), "found when the first part was"


def test_notifications_are_scored_against_the_devices_that_went_quiet() -> None:
    notices = [
        notification("d7", at=_at(320), dimensions={"region": "South"}),
        notification("d9", at=_at(30), dimensions={"region": "North"}),
        notification("d3", at=_at(30), dimensions={"region": "South"}),
    ]
    report = evaluate(TRUTH, notices)
    assert (report.devices, report.devices_notified) == (1, 1)
    assert (report.notifications, report.notifications_right) == (3, 2), "d9 is inside the North silence, d3 not"
    assert report.incidents == 0


def test_replay_merges_a_second_input_by_event_time(tmp_path: Path) -> None:
    from test_silence import SILENCE_AT, Quiet, fleet

    contacts = [{"contact_id": f"c{i}", "ts": START + 600 * i, "channel": "voice", "customer_id": f"u{i}",
                 "source": "centre", "dimensions": {"region": "North"}} for i in range(280)]  # fmt: skip
    beats = fleet(devices=40, quiet=[Quiet({"device_id": "dev-0002"}, SILENCE_AT, 2 * 3600)])
    both = sorted([*contacts, *beats], key=lambda record: float(record["ts"]))
    files = {name: tmp_path / f"{name}.jsonl" for name in ("contacts", "beats", "both")}
    for name, rows in (("contacts", contacts), ("beats", beats), ("both", both)):
        files[name].write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    merged, single = tmp_path / "merged.out", tmp_path / "single.out"
    assert main(["replay", str(files["contacts"]), "--merge", str(files["beats"]), "-o", str(merged)]) == 0
    assert main(["replay", str(files["both"]), "-o", str(single)]) == 0
    assert merged.read_bytes() == single.read_bytes()
    events = [orjson.loads(line) for line in merged.read_bytes().splitlines()]
    assert [event["device_id"] for event in events if event["event"] == "customer-notification"] == ["dev-0002"]
