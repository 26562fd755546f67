"""The metric contract as a NOC user reads it: the Prometheus exposition text after things happen."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from correlate.contracts import Contact, Rejection
from correlate.events import IncidentEvent
from correlate.metrics import CellValues, Metrics, reject_reason
from sample_events import incident_event, notification


def scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, keyed by sample name and labels."""
    text = metrics.expose().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return scrape(metrics).get((name, frozenset(labels.items())))


def series(metrics: Metrics, name: str) -> list[dict[str, str]]:
    return [dict(labels) for sample_name, labels in scrape(metrics) if sample_name == name]


def contact(channel: str = "voice", source: str = "centre", ts: float = 1_772_409_600.0) -> Contact:
    return Contact("c1", ts, channel, "u1", source, {"device_brand": "Vizo"})


def event(name: str, incident_id: str, at_fault: list[str], kind: str = "rate") -> IncidentEvent:
    return incident_event(name, incident_id, kind=kind, at_fault=at_fault)


def test_contacts_count_by_channel_and_source_and_stamp_the_last_contact() -> None:
    metrics = Metrics(clock=lambda: 1234.5)
    metrics.observe_outcome(contact("voice", "centre"), None)
    metrics.observe_outcome(contact("voice", "crm"), None)
    metrics.observe_outcome(contact("chat", "partner:acme"), None)
    assert value(metrics, "correlate_contacts_total", channel="voice", source="own") == 2
    assert value(metrics, "correlate_contacts_total", channel="chat", source="acme") == 1
    assert value(metrics, "correlate_last_contact_timestamp_seconds") == 1234.5


def test_telemetry_counts_by_type_and_sender_and_never_as_a_contact() -> None:
    metrics = Metrics(max_partners=1)
    metrics.observe_telemetry("heartbeat", "partner:alarmco")
    metrics.observe_telemetry("heartbeat", "partner:alarmco")
    metrics.observe_telemetry("vendor-status", "partner:vizo")  # beyond the partner cap
    assert value(metrics, "correlate_telemetry_total", kind="heartbeat", source="alarmco") == 2
    assert value(metrics, "correlate_telemetry_total", kind="vendor-status", source="other") == 1
    assert series(metrics, "correlate_contacts_total") == []


def test_partner_sources_beyond_the_cap_share_one_series() -> None:
    metrics = Metrics(max_partners=2)
    for partner in ("a", "b", "c", "d", "a"):
        metrics.observe_outcome(contact(source=f"partner:{partner}"), None)
    sources = sorted(labels["source"] for labels in series(metrics, "correlate_contacts_total"))
    assert sources == ["a", "b", "other"]
    assert value(metrics, "correlate_contacts_total", channel="voice", source="a") == 2
    assert value(metrics, "correlate_contacts_total", channel="voice", source="other") == 2


@pytest.mark.parametrize(
    ("rejection", "reason"),
    [
        (Rejection("dimensions.anything_a_sender_invents", "must be a string"), "dimensions"),
        (Rejection("ts", "late: 2026-03-02T00:00:00Z is before ..."), "late"),
        (Rejection("ts", "names a day that does not exist"), "ts"),
        (Rejection("", "a contact must be a JSON object, not array"), "record"),
        (Rejection("channel", "'fax' is not one of ..."), "channel"),
    ],
)
def test_a_rejection_counts_under_its_field_never_under_free_text(rejection: Rejection, reason: str) -> None:
    metrics = Metrics()
    metrics.observe_outcome(None, rejection)
    assert reject_reason(rejection) == reason
    assert value(metrics, "correlate_rejects_total", reason=reason) == 1
    assert value(metrics, "correlate_contacts_total", channel="voice", source="own") is None


def test_reject_reasons_are_a_fixed_set_exposed_from_the_start() -> None:
    metrics = Metrics()
    reasons = {labels["reason"] for labels in series(metrics, "correlate_rejects_total")}
    assert {"json", "record", "late", "ts", "dimensions"} <= reasons
    metrics.observe_undecodable()
    metrics.observe_outcome(None, Rejection("dimensions.x1", "bad"))
    metrics.observe_outcome(None, Rejection("dimensions.x2", "bad"))
    assert {labels["reason"] for labels in series(metrics, "correlate_rejects_total")} == reasons
    assert value(metrics, "correlate_rejects_total", reason="json") == 1


def test_open_incidents_follow_their_events_and_vanish_when_resolved() -> None:
    metrics = Metrics()
    metrics.observe_events([event("opened", "inc-1", ["vizo"]), event("opened", "inc-2", ["vizo", "flixco"])])
    metrics.observe_events([event("opened", "inc-3", [], kind="symptom")])
    assert value(metrics, "correlate_incidents_open", kind="rate", vendor="vizo") == 1
    assert value(metrics, "correlate_incidents_open", kind="rate", vendor="flixco+vizo") == 1
    assert value(metrics, "correlate_incidents_open", kind="symptom", vendor="none") == 1

    # inc-2's fault narrows to vizo alone: one incident, counted once, under its new vendor
    metrics.observe_events([event("updated", "inc-2", ["vizo"]), event("resolved", "inc-3", [], kind="symptom")])
    assert value(metrics, "correlate_incidents_open", kind="rate", vendor="vizo") == 2
    assert series(metrics, "correlate_incidents_open") == [{"kind": "rate", "vendor": "vizo"}]

    metrics.observe_events([event("resolved", "inc-1", ["vizo"]), event("resolved", "inc-2", ["vizo"])])
    assert series(metrics, "correlate_incidents_open") == []
    assert value(metrics, "correlate_incident_events_total", event="opened") == 3
    assert value(metrics, "correlate_incident_events_total", event="updated") == 1
    assert value(metrics, "correlate_incident_events_total", event="resolved") == 3


def test_a_customer_notification_is_not_an_incident_event() -> None:
    metrics = Metrics()
    metrics.observe_events([notification("d1", "c1")])
    names = {"opened", "updated", "resolved", "acknowledged", "dismissed", "noted", "denied"}
    assert {labels["event"] for labels in series(metrics, "correlate_incident_events_total")} == names
    assert sum(value(metrics, "correlate_incident_events_total", event=name) or 0 for name in names) == 0
    assert series(metrics, "correlate_incidents_open") == []


def test_anomalous_cells_are_capped_and_removed_when_calm() -> None:
    metrics = Metrics(max_anomalous=2)
    metrics.set_anomalous(
        [
            CellValues("device_brand=Vizo", 900.0, 49.0, 18.0),
            CellValues("device_brand=Vizo", 3600.0, 120.0, 70.0),
            CellValues("service=Tubo", 900.0, 30.0, 10.0),
            CellValues("region=West", 900.0, 25.0, 12.0),  # third most significant: over the cap
        ]
    )
    shown = {(labels["scope"], labels["window"]) for labels in series(metrics, "correlate_anomalous_cell_observed")}
    assert shown == {("device_brand=Vizo", "15m"), ("device_brand=Vizo", "60m"), ("service=Tubo", "15m")}
    assert value(metrics, "correlate_anomalous_cell_expected", scope="device_brand=Vizo", window="15m") == 18.0

    metrics.set_anomalous([CellValues("service=Tubo", 900.0, 33.0, 10.0)])
    assert series(metrics, "correlate_anomalous_cell_observed") == [{"scope": "service=Tubo", "window": "15m"}]
    assert series(metrics, "correlate_anomalous_cell_expected") == [{"scope": "service=Tubo", "window": "15m"}]
    assert value(metrics, "correlate_anomalous_cell_observed", scope="service=Tubo", window="15m") == 33.0

    metrics.set_anomalous([])
    assert series(metrics, "correlate_anomalous_cell_observed") == []


def test_centre_observed_and_expected_per_window() -> None:
    metrics = Metrics()
    metrics.set_centre(900.0, 140.0, 132.5)
    assert value(metrics, "correlate_observed_contacts", window="15m") == 140.0
    assert value(metrics, "correlate_expected_contacts", window="15m") == 132.5


def test_publication_latency_and_webhooks() -> None:
    now = [100.0]
    metrics = Metrics(clock=lambda: now[0])
    metrics.observe_published("incidents")
    metrics.observe_published("incidents.vendor.vizo")
    metrics.observe_published("incidents.vendor.flixco")
    metrics.observe_detection_latency(arrived_at=99.8)
    now[0] = 140.0
    metrics.observe_detection_latency(arrived_at=100.0)
    assert value(metrics, "correlate_incident_events_published_total", topic_kind="incidents") == 1
    assert value(metrics, "correlate_incident_events_published_total", topic_kind="vendor") == 2
    assert value(metrics, "correlate_detection_latency_seconds_bucket", le="0.25") == 1
    assert value(metrics, "correlate_detection_latency_seconds_bucket", le="30.0") == 1, "40 s is over the top"
    assert value(metrics, "correlate_detection_latency_seconds_count") == 2

    metrics.observe_webhook("vizo", "retried")
    metrics.observe_webhook("vizo", "failed")
    assert value(metrics, "correlate_webhook_deliveries_total", vendor="vizo", outcome="failed") == 1
    with pytest.raises(ValueError, match="outcome"):
        metrics.observe_webhook("vizo", "HTTP 502 from https://vizo.example/hook")


def test_pipeline_gauges() -> None:
    metrics = Metrics()
    metrics.set_consumer_lag("contacts", 1500)
    metrics.set_event_time(1_772_409_300.0)
    assert value(metrics, "correlate_consumer_lag_records", topic="contacts") == 1500
    assert value(metrics, "correlate_event_time_seconds") == 1_772_409_300.0


def test_a_worker_that_loses_the_lead_stops_showing_its_engine() -> None:
    metrics = Metrics()
    metrics.set_leader(True)
    metrics.observe_events([event("opened", "inc-1", ["vizo"])])
    metrics.set_anomalous([CellValues("device_brand=Vizo", 900.0, 49.0, 18.0)])
    metrics.set_centre(900.0, 140.0, 132.5)
    metrics.set_leader(False)
    assert value(metrics, "correlate_detector_leader") == 0
    for name in ("correlate_incidents_open", "correlate_anomalous_cell_observed", "correlate_expected_contacts"):
        assert series(metrics, name) == [], name
    metrics.set_leader(True)
    metrics.observe_events([event("resolved", "inc-1", ["vizo"])])
    assert series(metrics, "correlate_incidents_open") == []


def test_two_instances_never_share_counts() -> None:
    first, second = Metrics(), Metrics()
    first.observe_duplicate()
    assert value(first, "correlate_duplicates_total") == 1
    assert value(second, "correlate_duplicates_total") == 0


def test_every_declared_series_is_in_the_exposition_once_used() -> None:
    metrics = Metrics()
    metrics.observe_outcome(contact(), None, [event("opened", "inc-1", ["vizo"])])
    metrics.observe_events([_stamped(event("opened", "inc-2", ["vizo"]))])
    metrics.observe_duplicate()
    metrics.observe_telemetry("heartbeat", "partner:alarmco")
    metrics.observe_published("incidents")
    metrics.observe_detection_latency(0.0)
    metrics.observe_webhook("vizo", "delivered")
    metrics.set_consumer_lag("contacts", 0)
    metrics.set_event_time(0.0)
    metrics.set_anomalous([CellValues("device_brand=Vizo", 900.0, 1.0, 1.0)])
    metrics.set_centre(900.0, 1.0, 1.0)
    metrics.set_leader(True)
    metrics.set_stage_health("detect", False, 1, 2)
    exposed = {name for name, _ in scrape(metrics)}
    assert metrics.series_names <= exposed
    assert all(name.startswith("correlate_") for name in metrics.series_names)


def test_the_exporter_serves_the_registry_over_http_on_loopback() -> None:
    metrics = Metrics()
    metrics.observe_outcome(contact("email"), None)
    server = metrics.serve(0)
    try:
        assert server.host == "127.0.0.1"
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.close()
    assert 'correlate_contacts_total{channel="email",source="own"} 1.0' in body


def _stamped(opened: IncidentEvent) -> IncidentEvent:
    from dataclasses import replace

    from correlate.severity import Severity

    return replace(opened, number="INC-1001", severity=Severity.ERROR)


def test_each_incident_pages_at_its_severity_until_acknowledged_or_suppressed() -> None:
    from dataclasses import replace

    from correlate.events import Acknowledgement, Suppression
    from correlate.severity import Severity

    metrics = Metrics()
    a = replace(incident_event("opened", "inc-a", at_fault=["vizo"]), number="INC-1042", severity=Severity.ERROR)
    b = replace(incident_event("opened", "inc-b", at_fault=["vizo"]), number="INC-1043", severity=Severity.WARNING)
    held = Suppression("maintenance", "ops", "firmware 4.2", "2026-03-02T12:00:00Z")
    c = replace(incident_event("opened", "inc-c"), number="INC-1044", severity=Severity.CRITICAL, suppressed=held)
    metrics.observe_events([a, b, c])
    paging = series(metrics, "correlate_incident_paging")
    assert sorted((s["number"], s["severity"]) for s in paging) == [("INC-1042", "error"), ("INC-1043", "warning")]
    worse = replace(b, event=incident_event("updated").event, severity=Severity.CRITICAL)
    acked = replace(a, event=incident_event("updated").event, acknowledged=Acknowledgement("ana", a.at))
    metrics.observe_events([worse, acked])
    assert [(s["number"], s["severity"]) for s in series(metrics, "correlate_incident_paging")] == [
        ("INC-1043", "critical")
    ]
    metrics.observe_events([replace(worse, event=incident_event("resolved").event)])
    assert series(metrics, "correlate_incident_paging") == []
