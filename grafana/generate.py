"""The NOC dashboards as code: ``python grafana/generate.py`` writes ``grafana/dashboards/*.json``.

Plain Python emitting Grafana's dashboard JSON: the few panel kinds used here are small dictionaries, and a
library of Grafana's whole model would be a dependency larger than the dashboards. The JSON is committed (Grafana
provisions it from disk) and a test fails when it differs from what this script writes, so edit here, never
in Grafana's UI; ``--check`` says whether the committed files are up to date.

Every query uses only metric names that :class:`correlate.metrics.Metrics` declares (tests/test_grafana.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Panel = dict[str, Any]

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "correlate-prometheus"}  # provisioning/datasources/prometheus.yml
GRID_WIDTH = 24
OVERVIEW_UID = "correlate-noc-overview"
DRILLDOWN_UID = "correlate-incident-drilldown"
RATE = "$__rate_interval"


# -- building blocks ---------------------------------------------------------------------------------------
def query(expr: str, legend: str = "", *, instant: bool = False) -> dict[str, Any]:
    return {"expr": expr, "legendFormat": legend, "instant": instant, "range": not instant}


def timeseries(
    title: str, description: str, queries: Sequence[dict[str, Any]], *, unit: str = "short", stack: bool = False
) -> Panel:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "targets": list(queries),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {"stacking": {"mode": "normal" if stack else "none"}, "fillOpacity": 20 if stack else 0},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}},
    }


def stat(
    title: str,
    description: str,
    expr: str,
    *,
    unit: str = "short",
    red_above: float | None = None,
    green_only_at: float | None = None,
) -> Panel:
    """A single number, green while fine: red from ``red_above`` on, or red unless it is ``green_only_at``."""
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if red_above is not None:
        steps.append({"color": "red", "value": red_above})
    if green_only_at is not None:
        steps = [
            {"color": "red", "value": None},
            {"color": "green", "value": green_only_at},
            {"color": "red", "value": green_only_at + 1},
        ]
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "targets": [query(expr, instant=True)],
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
    }


def observed_expected_table(title: str, description: str, observed: str, expected: str) -> Panel:
    """One row per scope and window: observed, expected and their ratio; a click on a scope drills down."""
    link = {
        "title": "Drill down into ${__data.fields.scope}",
        "url": f"/d/{DRILLDOWN_UID}?var-scope=${{__data.fields.scope:percentencode}}&${{__url_time_range}}",
    }
    return {
        "type": "table",
        "title": title,
        "description": description,
        "targets": [
            {**query(observed, instant=True), "format": "table", "refId": "observed"},
            {**query(expected, instant=True), "format": "table", "refId": "expected"},
        ],
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "renameByName": {"Value #observed": "observed", "Value #expected": "expected"},
                },
            },
            {
                "id": "calculateField",
                "options": {
                    "mode": "binary",
                    "binary": {"left": "observed", "operator": "/", "right": "expected"},
                    "alias": "observed / expected",
                },
            },
            {"id": "sortBy", "options": {"sort": [{"field": "observed / expected", "desc": True}]}},
        ],
        "fieldConfig": {
            "defaults": {"decimals": 1},
            "overrides": [
                {"matcher": {"id": "byName", "options": "scope"}, "properties": [{"id": "links", "value": [link]}]}
            ],
        },
        "options": {"showHeader": True},
    }


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(sections: Sequence[tuple[str, Sequence[tuple[Panel, int, int]]]]) -> list[Panel]:
    """Place panels left to right, wrapping at the grid's width, one titled row per section; number them."""
    placed: list[Panel] = []
    y = 0
    for title, panels in sections:
        placed.append({**row(title), "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}})
        y += 1
        x = height = 0
        for panel, width, panel_height in panels:
            if x + width > GRID_WIDTH:
                x, y, height = 0, y + height, 0
            placed.append({**panel, "gridPos": {"h": panel_height, "w": width, "x": x, "y": y}})
            x += width
            height = max(height, panel_height)
        y += height
    for number, panel in enumerate(placed, start=1):
        panel["id"] = number
        if panel["type"] != "row":
            panel["datasource"] = DATASOURCE
            for ref, target in zip("ABCDEFGH", panel["targets"], strict=False):
                target.setdefault("refId", ref)
                target["datasource"] = DATASOURCE
    return placed


def variable(name: str, label: str, expr: str, *, include_all: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": expr, "refId": f"var-{name}"},
        "definition": expr,
        "refresh": 2,  # on time range change: scopes anomalous earlier in the range stay selectable
        "sort": 1,
        "includeAll": include_all,
        "multi": False,
        "current": {},
        "options": [],
    }


def dashboard(uid: str, title: str, description: str, panels: list[Panel], variables: list[dict[str, Any]]) -> Panel:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["correlate", "noc"],
        "timezone": "utc",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "templating": {"list": variables},
        "annotations": {
            "list": [
                {
                    "name": "Incidents opened",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "red",
                    "expr": 'sum(increase(correlate_incident_events_total{event="opened"}[2m])) > 0',
                    "step": "60s",
                    "titleFormat": "incident opened",
                }
            ]
        },
        "links": [],
        "panels": panels,
    }


WINDOW = variable("window", "Window", "label_values(correlate_observed_contacts, window)")


# -- the dashboards ----------------------------------------------------------------------------------------
def overview() -> Panel:
    incidents = [
        (
            stat(
                "Incidents open",
                "Open incidents, each counted once under its vendors at fault.",
                "sum(correlate_incidents_open) or vector(0)",
                red_above=1,
            ),
            4,
            6,
        ),
        (
            stat(
                "Incidents paging",
                "Open incidents that page now (the CorrelateIncident alert, one each): not acknowledged, not in a "
                "maintenance window or a dismissed scope.",
                "count(max by (incident_id) (correlate_incident_paging)) or vector(0)",
                red_above=1,
            ),
            4,
            6,
        ),
        (
            timeseries(
                "Incidents open by kind and vendor",
                "vendor: the vendors at fault, joined with + when the fault is only their combination.",
                [query("sum by (kind, vendor) (correlate_incidents_open)", "{{kind}} {{vendor}}")],
                stack=True,
            ),
            8,
            6,
        ),
        (
            timeseries(
                "Incident events",
                "opened / updated (grew or changed scope) / resolved, acknowledged, dismissed, noted, denied, per "
                "interval.",
                [query(f"sum by (event) (increase(correlate_incident_events_total[{RATE}]))", "{{event}}")],
            ),
            8,
            6,
        ),
    ]
    contacts = [
        (
            timeseries(
                "Contacts per minute by channel",
                "Contacts taken in after validation, by channel.",
                [query(f"sum by (channel) (rate(correlate_contacts_total[{RATE}])) * 60", "{{channel}}")],
                stack=True,
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Telemetry per minute by type and source",
                "Heartbeats, heartbeat summaries and vendors' status records taken in after validation. A partner "
                "whose line drops to zero has stopped sending: its devices' silences cannot be seen.",
                [
                    query(
                        f"sum by (kind, source) (rate(correlate_telemetry_total[{RATE}])) * 60",
                        "{{kind}} {{source}}",
                    )
                ],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Whole centre: reporters in the window against expected",
                "Distinct reporters in the last window (all channels) and what the seasonal baseline expects "
                "at this hour and weekday. A storm or TV event lifts observed over expected everywhere.",
                [
                    query('sum(correlate_observed_contacts{window="$window"})', "observed"),
                    query('sum(correlate_expected_contacts{window="$window"})', "expected"),
                ],
            ),
            12,
            8,
        ),
        (
            observed_expected_table(
                "Top anomalous scopes: observed against expected",
                "The most significant cells the detector holds elevated now. Click a scope to drill down.",
                'max by (scope, window) (correlate_anomalous_cell_observed{window="$window"})',
                'max by (scope, window) (correlate_anomalous_cell_expected{window="$window"})',
            ),
            12,
            9,
        ),
        (
            timeseries(
                "Anomalous scopes: observed / expected",
                "How many times its expected count each anomalous scope is running.",
                [
                    query(
                        'topk(10, max by (scope) (correlate_anomalous_cell_observed{window="$window"}'
                        ' / correlate_anomalous_cell_expected{window="$window"}))',
                        "{{scope}}",
                    )
                ],
            ),
            12,
            9,
        ),
    ]
    health = [
        (
            stat(
                "Detector leaders",
                "Workers running the detect stage: exactly one, or nothing is being detected.",
                "sum(correlate_detector_leader)",
                green_only_at=1,
            ),
            4,
            7,
        ),
        (
            timeseries(
                "Consumer lag",
                "Records waiting at the end of each input topic; growing lag means the workers fall behind.",
                [query("sum by (topic) (correlate_consumer_lag_records)", "{{topic}}")],
            ),
            12,
            7,
        ),
        (
            timeseries(
                "Rejects and repeats per minute",
                "Rejected records by the field at fault (late: arrived after its minute was scored), and "
                "redelivered contact ids dropped.",
                [
                    query(f"sum by (reason) (rate(correlate_rejects_total[{RATE}])) * 60", "{{reason}}"),
                    query(f"sum(rate(correlate_duplicates_total[{RATE}])) * 60", "repeated ids"),
                ],
            ),
            8,
            7,
        ),
        (
            timeseries(
                "Event time behind the wall clock",
                "Age of the detector's watermark (at least the allowed lateness, 5 min by default) and time "
                "since the last contact was taken in. Both climbing: the pipeline is stalled.",
                [
                    query("time() - max(correlate_event_time_seconds)", "watermark age"),
                    query("time() - max(correlate_last_contact_timestamp_seconds)", "since last contact"),
                ],
                unit="s",
            ),
            8,
            7,
        ),
        (
            timeseries(
                "Detection latency",
                "Wall time from the contact that tipped an incident event to the event's publication.",
                [
                    query(
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(correlate_detection_latency_seconds_bucket[{RATE}])))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.99)
                ],
                unit="s",
            ),
            8,
            7,
        ),
        (
            timeseries(
                "Webhook deliveries not delivered",
                "Vendor webhooks retried, and failed after every retry.",
                [
                    query(
                        "sum by (vendor, outcome) "
                        f'(increase(correlate_webhook_deliveries_total{{outcome!="delivered"}}[{RATE}]))',
                        "{{vendor}} {{outcome}}",
                    )
                ],
            ),
            8,
            7,
        ),
        (
            timeseries(
                "Incident events published",
                "Events written to the incidents topic and to the vendors' topics.",
                [
                    query(
                        f"sum by (topic_kind) (rate(correlate_incident_events_published_total[{RATE}])) * 60",
                        "{{topic_kind}}",
                    )
                ],
            ),
            8,
            7,
        ),
        (
            timeseries(
                "Stages restarting or stuck",
                "Restarts per minute of each pipeline stage, and stages stuck (1): restarting without handling "
                "a record, or a leader taking nothing in while records wait. A record that crashes a stage "
                "twice is dead-lettered (reason crash) and the stage goes on.",
                [
                    query(f"sum by (stage) (rate(correlate_stage_restarts_total[{RATE}])) * 60", "{{stage}} restarts"),
                    query("max by (instance, stage) (correlate_stage_stuck)", "{{instance}} {{stage}} stuck"),
                ],
            ),
            8,
            7,
        ),
        (
            timeseries(
                "Memory against budget",
                "Resident memory of each stage's process, and the budget it is held to (setting memory_budget).",
                [
                    query("max by (instance, stage) (correlate_resident_memory_bytes)", "{{instance}} {{stage}}"),
                    query("max(correlate_memory_budget_bytes)", "budget"),
                ],
                unit="bytes",
            ),
            8,
            7,
        ),
    ]
    health += [
        (
            timeseries(
                "Detect leader starts",
                "Leaders taking over, by what they started from: the latest checkpoint (they read only the records "
                "after it) or from scratch (no usable checkpoint: they replay contacts.accepted from its start).",
                [query(f"sum by (start) (increase(correlate_detect_starts_total[{RATE}]))", "{{start}}")],
            ),
            8,
            7,
        ),
        (
            timeseries(
                "Checkpoint age",
                "Time since the detect leader last stored its checkpoint (setting checkpoint_every): a takeover "
                "re-reads the records since then.",
                [query("time() - max(correlate_checkpoint_timestamp_seconds > 0)", "age")],
                unit="s",
            ),
            8,
            7,
        ),
        (
            timeseries(
                "Checkpoint size",
                "Size of the leader's last checkpoint (its whole detection state), stored in Redis.",
                [query("max(correlate_checkpoint_bytes)", "size")],
                unit="bytes",
            ),
            8,
            7,
        ),
    ]
    panels = layout([("Incidents", incidents), ("Contacts", contacts), ("Pipeline health", health)])
    return dashboard(
        OVERVIEW_UID,
        "correlate: NOC overview",
        "Incidents open, contacts against expected, and whether the pipeline itself is healthy.",
        panels,
        [WINDOW],
    )


def drilldown() -> Panel:
    scope = variable("scope", "Scope", "label_values(correlate_anomalous_cell_observed, scope)")
    selected = 'scope="$scope", window="$window"'
    panels = layout(
        [
            (
                "Why $scope is an incident",
                [
                    (
                        timeseries(
                            "$scope: observed against expected",
                            "Distinct reporters in the window and what the baseline expected, lifted with the "
                            "whole centre. Gaps: the scope was calm (not among the anomalous cells).",
                            [
                                query(f"max(correlate_anomalous_cell_observed{{{selected}}})", "observed"),
                                query(f"max(correlate_anomalous_cell_expected{{{selected}}})", "expected"),
                            ],
                        ),
                        16,
                        9,
                    ),
                    (
                        stat(
                            "Observed / expected now",
                            "How many times its expected count the scope is running.",
                            f"max(correlate_anomalous_cell_observed{{{selected}}}"
                            f" / correlate_anomalous_cell_expected{{{selected}}})",
                            red_above=2,
                        ),
                        8,
                        9,
                    ),
                ],
            ),
            (
                "Incidents",
                [
                    (
                        timeseries(
                            "Incident events",
                            "opened / updated / resolved, per interval, every scope.",
                            [query(f"sum by (event) (increase(correlate_incident_events_total[{RATE}]))", "{{event}}")],
                        ),
                        12,
                        8,
                    ),
                    (
                        timeseries(
                            "Incidents open by kind and vendor",
                            "vendor: the vendors at fault, joined with + when the fault is only their combination.",
                            [query("sum by (kind, vendor) (correlate_incidents_open)", "{{kind}} {{vendor}}")],
                            stack=True,
                        ),
                        12,
                        8,
                    ),
                    (
                        timeseries(
                            "Whole centre against expected",
                            "For comparison: is only this scope up, or everything?",
                            [
                                query('sum(correlate_observed_contacts{window="$window"})', "observed"),
                                query('sum(correlate_expected_contacts{window="$window"})', "expected"),
                            ],
                        ),
                        24,
                        7,
                    ),
                ],
            ),
        ]
    )
    return dashboard(
        DRILLDOWN_UID,
        "correlate: incident drill-down",
        "One scope over time: observed against expected, and the incident events around it.",
        panels,
        [scope, WINDOW],
    )


DASHBOARDS = {"noc-overview.json": overview, "incident-drilldown.json": drilldown}


def render() -> dict[str, str]:
    """File name -> the JSON text this generator writes, byte for byte."""
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUTPUT / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            OUTPUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
