"""The NOC's view, live: Debian's Prometheus scrapes a running ``correlate up`` while a stream with a fault plays.

Every panel of every dashboard must show data and the incident alert must fire — checked against the real
rules file and the committed dashboards, not copies of their queries.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from correlate.streams.embedded import free_port
from correlate.streams.procs import stop
from prometheus_server import Prometheus
from streams import DAY, START, Fault, as_jsonl, stream
from test_silence import fleet

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
FAULT = Fault(
    {"device_brand": "Vizo", "service": "Tubo"}, START + 2 * DAY - 2 * 3600.0, 2 * 3600.0, 1.0
)  # until the end


def _correlate(*args: str, env: dict[str, str], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "correlate.cli", *args], env=env, capture_output=True, text=True, **options
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """``correlate up`` in a home of its own; stopped with Ctrl-C (SIGINT) at the end."""
    home = tmp_path / "home"
    env = {**os.environ, "CORRELATE_HOME": str(home)}
    # One vendor's webhook is down for the whole run: its failures must reach the NOC too.
    config = tmp_path / "correlate.toml"
    config.write_text(
        f'[delivery.vizo]\nwebhook = "http://127.0.0.1:{free_port()}/hook"\n'
        'secret = "whsec_bGl2ZS1jaGVjay1zZWNyZXQtMDEyMzQ1Njc4OQ=="\n'
        "max_attempts = 2\nbackoff = 0.2\n",
        encoding="utf-8",
    )
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115 - handed to the child
    up = subprocess.Popen(
        [sys.executable, "-m", "correlate.cli", "up", "--config", str(config)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while _correlate("status", env=env).returncode != 0:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, "correlate up did not become healthy"
            time.sleep(0.5)
        yield json.loads(_correlate("status", "--json", env=env, check=True).stdout), env
    finally:
        stop(up, signal.SIGINT, grace=60)
        log.close()


def _contacts() -> bytes:
    """Two days of contacts with one pair fault still going at the end; a few broken lines and repeated ids besides."""
    records = stream(seed=11, days=2.0, per_day=8000, faults=[FAULT])
    broken = [{"contact_id": f"bad{i}", "ts": records[-1]["ts"], "channel": "fax"} for i in range(20)]
    repeats = records[-10:]
    return as_jsonl([*records, *broken, *repeats])


def _panel_queries() -> Iterator[tuple[str, list[str]]]:
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            exprs = [target["expr"] for target in panel.get("targets", []) if target.get("expr")]
            if exprs:
                yield f"{path.stem}: {panel['title']}", exprs


def _as_prometheus_query(expr: str, variables: dict[str, str]) -> str:
    """Grafana's variables filled in the way Grafana would: the interval, and the dashboard's choices."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
    return re.sub(r"\$(\w+)", lambda match: variables[match.group(1)], expr)


def test_prometheus_sees_the_incident_on_every_panel_and_fires_the_alert(tmp_path: Path, stack: Any) -> None:
    status, env = stack
    targets = [urllib.parse.urlsplit(url).netloc for url in status["metrics"]]
    assert targets, status
    contacts, heartbeats = tmp_path / "contacts.jsonl", tmp_path / "heartbeats.jsonl"
    contacts.write_bytes(_contacts())
    heartbeats.write_bytes(as_jsonl(fleet(devices=20, interval=600.0)))  # the telemetry panel's data
    folder = tmp_path / "prometheus"
    folder.mkdir()
    with Prometheus(folder, targets, [ALERTS]).start() as prometheus:
        prometheus.wait("every target scraped", prometheus.targets_up, 60)
        _correlate("produce", str(contacts), "--merge", str(heartbeats), env=env, check=True, timeout=300)

        def incident_alert() -> list[dict[str, Any]]:
            return [a for a in prometheus.firing() if a["labels"]["alertname"] == "CorrelateIncident"]

        alert = prometheus.wait("the CorrelateIncident alert", incident_alert, 180)[0]
        assert alert["labels"]["kind"] == "rate"
        assert set(alert["labels"]["vendor"].split("+")) == {"vizo", "tubo"}

        scopes = prometheus.wait("an anomalous cell", lambda: prometheus.query("correlate_anomalous_cell_observed"), 60)
        variables = {"scope": scopes[0]["metric"]["scope"], "window": scopes[0]["metric"]["window"]}
        for title, exprs in _panel_queries():
            queries = [_as_prometheus_query(expr, variables) for expr in exprs]
            prometheus.wait(f"data on panel {title!r}", lambda q=queries: any(prometheus.query(e) for e in q), 60)
