"""The NOC's pager, live: a worker's metrics scraped by a real Prometheus evaluating deploy/prometheus/alerts.yml,
which sends to a real Alertmanager routing as deploy/alertmanager/alertmanager.yml does, whose webhook is this
test's HTTP server.

One alert per incident: an acknowledged incident stops paging (its alert resolves), an incident inside a
maintenance window never pages, and another vendor's new incident still does. The webhook messages the real
Alertmanager sends are also held to tests/fixtures/alertmanager-webhook-v4.schema.json, the schema that
correlate's own ``format = "alertmanager"`` deliveries are checked against (tests/test_adapters.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from alertmanager_server import Alertmanager, WebhookInbox
from correlate.events import Acknowledgement, EventName, IncidentEvent, PersonAction, Suppression
from correlate.lifecycle import Reason
from correlate.metrics import Metrics
from correlate.stamps import Stamper
from prometheus_server import Prometheus
from sample_events import incident_event
from test_console_incident import ARTIFACTS

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "alertmanager-webhook-v4.schema.json").read_text())

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("prometheus-alertmanager") is None,
    reason="Debian's prometheus and prometheus-alertmanager (scripts/test installs them)",
)


def _incidents() -> dict[str, IncidentEvent]:
    """Three incidents as the detector stamps them: Vizo's, Vizo's inside a maintenance window, Tubo's."""
    opened = [
        incident_event("opened", "inc-vizo", at="2026-03-02T10:00:00Z", scope={"device_brand": "Vizo"},
                       at_fault=["vizo"], customers=120),
        incident_event("opened", "inc-vizo-upgrade", at="2026-03-02T10:05:00Z", scope={"device_model": "Vizo Q9"},
                       at_fault=["vizo"], customers=80),
        incident_event("opened", "inc-tubo", at="2026-03-02T10:10:00Z", scope={"service": "Tubo"},
                       at_fault=["tubo"], customers=60),
    ]  # fmt: skip
    stamped = [event for event in Stamper().stamp(opened) if isinstance(event, IncidentEvent)]
    return {event.incident_id: event for event in stamped}


def _alerts_for(inbox: WebhookInbox, incident_id: str, status: str) -> Callable[[], list[dict[str, Any]]]:
    def check() -> list[dict[str, Any]]:
        return [
            alert
            for message in inbox.received()
            for alert in message["alerts"]
            if alert["labels"].get("incident_id") == incident_id and alert["status"] == status
        ]

    return check


def _show_firing(browser: WebDriver, prometheus: Prometheus, incident: IncidentEvent) -> None:
    """Prometheus's own Alerts page (Debian ships its classic UI) with the incident's alert open, as the NOC
    reads it: the screenshot tests/artifacts/noc-alerts.png (the README's docs/noc-alerts.png)."""
    browser.set_window_size(1200, 900)  # a small picture for the README, down to the labels
    browser.get(f"http://127.0.0.1:{prometheus.port}/classic/alerts")
    wait = WebDriverWait(browser, 30)
    inactive = wait.until(expected_conditions.presence_of_element_located((By.ID, "inactiveAlerts")))
    inactive.find_element(By.XPATH, "..").click()  # its label is the button: hide the rules that are not firing
    header = wait.until(
        expected_conditions.visibility_of_element_located(
            (By.XPATH, "//tr[contains(@class, 'alert_header')][.//b[text()='CorrelateIncident']]")
        )
    )
    header.click()
    labels = wait.until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".alert_elements_table .badge"))
    )
    row = labels.find_element(By.XPATH, "./ancestor::tr[1]").text
    for name, value in (("number", incident.number), ("severity", incident.severity), ("vendor", "vizo")):
        assert f'{name}="{value}"' in row, row
    assert "FIRING" in row.upper()
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "noc-alerts.png"))


def test_one_page_per_incident_an_acknowledgement_ends_it_and_maintenance_holds_it(
    tmp_path: Path, browser: WebDriver
) -> None:
    incidents = _incidents()
    metrics = Metrics()
    server = metrics.serve(0)
    try:
        with WebhookInbox() as inbox:
            (tmp_path / "alertmanager").mkdir()
            (tmp_path / "prometheus").mkdir()
            with (
                Alertmanager(tmp_path / "alertmanager", inbox.url).start() as alertmanager,
                Prometheus(
                    tmp_path / "prometheus", [f"127.0.0.1:{server.port}"], [ALERTS], [alertmanager.address]
                ).start() as prometheus,
            ):
                prometheus.wait("the worker scraped", prometheus.targets_up, 60)

                # Vizo's incident opens: it pages, at its own severity, with its links.
                vizo = incidents["inc-vizo"]
                metrics.observe_events([vizo])
                (paged,) = prometheus.wait("Vizo's incident paged", _alerts_for(inbox, "inc-vizo", "firing"), 120)
                assert paged["labels"]["alertname"] == "CorrelateIncident"
                assert paged["labels"]["severity"] == vizo.severity and paged["labels"]["number"] == vizo.number
                assert paged["annotations"]["runbook_url"].startswith("https://")
                assert paged["annotations"]["console"].endswith("#inc-vizo")
                _show_firing(browser, prometheus, vizo)

                # Someone acknowledges it: the series goes, and the alert resolves.
                ack = Acknowledgement("ana", "2026-03-02T10:03:00Z")
                metrics.observe_events(
                    [
                        replace(
                            vizo,
                            event=EventName.ACKNOWLEDGED,
                            at=ack.at,
                            reason=Reason.PERSON,
                            action=PersonAction("acknowledge", "ana", "noc", "", "act-1"),
                            acknowledged=ack,
                        )
                    ]
                )
                prometheus.wait("Vizo's page resolved", _alerts_for(inbox, "inc-vizo", "resolved"), 120)

                # Vizo's announced upgrade: an incident inside the window is recorded, not paged. Tubo's new
                # incident comes after it, and pages: by the time Tubo's page arrives, Prometheus has evaluated
                # the rule on a scrape that held the held incident's events too.
                held = replace(
                    incidents["inc-vizo-upgrade"],
                    suppressed=Suppression("maintenance", "ops", "Vizo firmware 4.2", "2026-03-02T12:00:00Z"),
                )
                metrics.observe_events([held])
                metrics.observe_events([incidents["inc-tubo"]])
                prometheus.wait("Tubo's incident paged", _alerts_for(inbox, "inc-tubo", "firing"), 120)
                assert prometheus.query('correlate_incident_events_total{event="opened"}')[0]["value"][1] == "3"
                paged_ids = {
                    alert["labels"]["incident_id"] for message in inbox.received() for alert in message["alerts"]
                }
                assert paged_ids == {"inc-vizo", "inc-tubo"}, "the incident in maintenance never paged"

            messages = inbox.received()
    finally:
        server.close()
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for message in messages:
        assert [error.message for error in validator.iter_errors(message)] == [], message
