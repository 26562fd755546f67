"""An engine driven through the monitor: a fault shows as observed against expected, and goes away when over."""

from __future__ import annotations

from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.metrics import Metrics
from correlate.streams.monitor import EngineMonitor
from streams import DAY, HOUR, START, Fault, stream
from test_metrics import scrape, series, value

FAULT_AT = START + 2 * DAY + 13 * HOUR
VIZO = {"device_brand": "Vizo"}


def _fault_stream() -> list[dict[str, object]]:
    return stream(seed=1, faults=[Fault(VIZO, FAULT_AT, 2 * HOUR, 2.7)])


def test_the_monitor_passes_every_event_through_unchanged() -> None:
    records = _fault_stream()[:30_000]
    plain = Engine(Settings(symptoms=False))
    monitor = EngineMonitor(Engine(Settings(symptoms=False)), Metrics())
    expected = [e for r in records for e in plain.process(r).events] + plain.close()
    got = [e for r in records for e in monitor.process(r).events] + monitor.close()
    assert got == expected


def test_a_fault_shows_as_observed_against_expected_then_disappears() -> None:
    metrics = Metrics(clock=lambda: 5.0)
    monitor = EngineMonitor(Engine(Settings(symptoms=False)), metrics)
    records = _fault_stream()
    records.insert(100, {**records[100], "contact_id": "c-late", "ts": "2026-03-01T00:00:00Z"})  # before the start
    records.insert(200, records[150])  # redelivered
    records.insert(300, {**records[300], "contact_id": "c-bad", "channel": "fax"})
    during = None
    for record in records:
        outcome = monitor.process(record)
        if any(e.event == "opened" for e in outcome.events):
            during = scrape(metrics)
    monitor.close()
    assert during is not None, "the fault opened an incident"

    # While the fault runs: the brand is among the anomalous cells, well above what was expected, and open.
    cells = [labels for (name, labels) in during if name == "correlate_anomalous_cell_observed"]
    key = frozenset({("scope", "device_brand=Vizo"), ("window", "15m")})
    observed = during[("correlate_anomalous_cell_observed", key)]
    expected = during[("correlate_anomalous_cell_expected", key)]
    assert observed > 2 * expected > 0, (observed, expected)
    assert 0 < len({dict(labels)["scope"] for labels in cells}) <= metrics.max_anomalous
    assert during[("correlate_incidents_open", frozenset({("kind", "rate"), ("vendor", "vizo")}))] == 1

    # Nine calm hours later: resolved, and the brand is no longer listed.
    scopes = {labels["scope"] for labels in series(metrics, "correlate_anomalous_cell_observed")}
    assert "device_brand=Vizo" not in scopes
    assert series(metrics, "correlate_incidents_open") == []
    assert value(metrics, "correlate_incident_events_total", event="resolved") == 1

    # What came in adds up to the engine's own counts, and the pipeline gauges were set.
    counts = monitor.engine.counts
    contacts = sum(v for (name, _), v in scrape(metrics).items() if name == "correlate_contacts_total")
    assert contacts == counts.accepted
    assert value(metrics, "correlate_duplicates_total") == counts.duplicates == 1
    assert value(metrics, "correlate_rejects_total", reason="late") == 1
    assert value(metrics, "correlate_rejects_total", reason="channel") == 1
    assert value(metrics, "correlate_last_contact_timestamp_seconds") == 5.0
    latest = max(parse_timestamp(record["ts"]) for record in records)
    assert value(metrics, "correlate_event_time_seconds") == latest - monitor.engine.settings.lateness
    centre = value(metrics, "correlate_expected_contacts", window="60m")
    assert centre is not None and centre > 0


def test_a_detect_stage_behind_a_validate_stage_does_not_count_contacts_twice() -> None:
    metrics = Metrics()
    monitor = EngineMonitor(Engine(Settings(symptoms=False)), metrics, intake=False)
    records = _fault_stream()[:2000]
    for record in records:
        monitor.process(record)
    monitor.process(records[10])  # redelivered
    assert series(metrics, "correlate_contacts_total") == []
    assert value(metrics, "correlate_duplicates_total") == 1
    assert value(metrics, "correlate_event_time_seconds") == parse_timestamp(records[-1]["ts"]) - 300.0


def test_a_leader_catching_up_publishes_the_cells_at_most_once_per_interval_and_the_latest_in_the_end() -> None:
    now = [0.0]
    metrics = Metrics()
    monitor = EngineMonitor(Engine(Settings(symptoms=False)), metrics, refresh_every=1.0, clock=lambda: now[0])
    outcomes = (monitor.process(record) for record in _fault_stream())
    assert any(e.event == "opened" for outcome in outcomes for e in outcome.events)
    # A burst of many steps within one second of wall time: the first step was published, no later one.
    assert series(metrics, "correlate_anomalous_cell_observed") == []
    now[0] = 1.0  # a second later the worker, idle, catches up: the fault's cells are out
    monitor.catch_up()
    scopes = {labels["scope"] for labels in series(metrics, "correlate_anomalous_cell_observed")}
    assert "device_brand=Vizo" in scopes, scopes
