"""The NOC dashboards: generated from code, up to date, and asking only for metrics that exist."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from correlate.metrics import Metrics
from promql import metric_names

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()
DASHBOARDS = {name: json.loads(text) for name, text in GENERATOR.render().items()}


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (panel for panel in dashboard["panels"] if panel["type"] != "row")


def _queries(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in _panels(dashboard):
        yield from (target["expr"] for target in panel["targets"])
    yield from (item["definition"] for item in dashboard["templating"]["list"])
    yield from (item["expr"] for item in dashboard["annotations"]["list"])


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_committed_dashboard_is_what_the_generator_writes(name: str) -> None:
    committed = GRAFANA / "dashboards" / name
    assert committed.exists(), f"run python grafana/generate.py to write {name}"
    assert committed.read_text(encoding="utf-8") == GENERATOR.render()[name], (
        f"{name} is out of date: run python grafana/generate.py and commit the result"
    )


def test_every_dashboard_on_disk_has_a_generator() -> None:
    assert sorted(path.name for path in (GRAFANA / "dashboards").glob("*.json")) == sorted(DASHBOARDS)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_query_asks_for_declared_metrics_only(name: str) -> None:
    declared = Metrics().series_names
    for expr in _queries(DASHBOARDS[name]):
        used = metric_names(expr)
        assert used, f"no metric in {expr!r}"
        assert used <= declared, f"{sorted(used - declared)} in {expr!r} are not declared by Metrics"


def test_the_dashboards_show_every_declared_metric() -> None:
    used = {name for dashboard in DASHBOARDS.values() for expr in _queries(dashboard) for name in metric_names(expr)}
    families = {name.removesuffix("_bucket") for name in used}
    declared = {name for name in Metrics().series_names if not name.endswith(("_sum", "_count"))}
    declared = {name.removesuffix("_bucket") for name in declared}
    assert declared - families == set(), "declared but on no dashboard"


def test_the_overview_has_what_the_noc_asked_for() -> None:
    titles = " | ".join(panel["title"] for panel in _panels(DASHBOARDS["noc-overview.json"]))
    for wanted in (
        "Incidents open",
        "by channel",
        "against expected",
        "Top anomalous scopes",
        "Consumer lag",
        "Rejects",
        "Event time",
        "Detection latency",
        "Webhook",
    ):
        assert wanted in titles, wanted


def test_panels_sit_on_the_grid_without_overlapping() -> None:
    for dashboard in DASHBOARDS.values():
        taken: set[tuple[int, int]] = set()
        for panel in dashboard["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24
            cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & taken, panel["title"]
            taken |= cells
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))


def test_panels_use_the_provisioned_datasource_and_drill_down_links_resolve() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    uids = {dashboard["uid"] for dashboard in DASHBOARDS.values()}
    for dashboard in DASHBOARDS.values():
        for panel in _panels(dashboard):
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            for override in panel["fieldConfig"]["overrides"]:
                for prop in override["properties"]:
                    for link in prop["value"] if prop["id"] == "links" else []:
                        assert link["url"].split("?")[0].removeprefix("/d/") in uids


def test_the_drilldown_selects_a_scope() -> None:
    variables = {item["name"]: item for item in DASHBOARDS["incident-drilldown.json"]["templating"]["list"]}
    assert "correlate_anomalous_cell_observed" in variables["scope"]["definition"]
    exprs = list(_queries(DASHBOARDS["incident-drilldown.json"]))
    assert any('scope="$scope"' in expr and "observed" in expr for expr in exprs)
    assert any('scope="$scope"' in expr and "expected" in expr for expr in exprs)


def test_the_loose_parser_finds_names_and_skips_the_rest() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(foo_bucket{a="b(c)"}[5m]))) / on (instance) group_left '
        "bar_total offset 1h > 1e3 and time() - baz"
    )
    assert metric_names(expr) == {"foo_bucket", "bar_total", "baz"}
    assert metric_names('label_values(qux{job="x"}, scope)') == {"qux"}
