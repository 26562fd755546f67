"""The NOC alert rules: valid, unit-tested with promtool, and written against the metric contract."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from correlate.metrics import Metrics
from promql import metric_names

PROMETHEUS = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
ALERTS = [rule for group in RULES["groups"] for rule in group["rules"] if "alert" in rule]
# Prometheus's own series about a scrape target, not ours.
PROMETHEUS_SERIES = {"up"}


def _promtool(*args: str) -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: scripts/test installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    done = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_rules_are_valid() -> None:
    assert "SUCCESS" in _promtool("check", "rules", "alerts.yml")


def test_scrape_config_is_valid_and_loads_the_rules() -> None:
    assert "1 rule files found" in _promtool("check", "config", "prometheus.yml")


def test_alerts_behave_as_their_unit_tests_say() -> None:
    _promtool("test", "rules", "alerts_test.yml")


def test_every_alert_has_unit_tests_that_see_it_fire_and_stay_quiet() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text(encoding="utf-8"))["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]
    for alert in ALERTS:
        mine = [check for check in checks if check["alertname"] == alert["alert"]]
        assert any(check["exp_alerts"] for check in mine), f"{alert['alert']} is never seen firing"
        assert any(not check["exp_alerts"] for check in mine), f"{alert['alert']} is never seen quiet"


def test_alerts_use_declared_metrics_only() -> None:
    declared = Metrics().series_names | PROMETHEUS_SERIES
    for alert in ALERTS:
        used = metric_names(alert["expr"])
        assert used, alert["alert"]
        assert used <= declared, f"{alert['alert']}: {sorted(used - declared)} not declared by Metrics"


def test_the_alerts_the_noc_asked_for_exist() -> None:
    names = {alert["alert"] for alert in ALERTS}
    assert {
        "CorrelateIncidentGrowing",
        "CorrelatePipelineStalled",
        "CorrelateEventTimeStuck",
        "CorrelateRejectsSpike",
        "CorrelateWebhookFailures",
        "CorrelateConsumerLagHigh",
        "CorrelateIncident",
    } <= names
    for alert in ALERTS:
        if alert["alert"] == "CorrelateIncident":
            assert "severity" in alert["expr"] and "severity" not in alert["labels"]  # the incident's own
            continue
        assert alert["labels"]["severity"] in {"page", "warning"}, alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]
