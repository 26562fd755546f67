"""The evaluator, on small hand-made truth and incident tables whose scores can be worked out by hand."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
import pytest

from correlate.config import Settings
from correlate.lab.evaluate import Oracle, add_parser, evaluate, overlaps
from correlate.scope import make_scope
from sample_events import incident_event

DAY = "2026-03-05"


def at(clock: str) -> str:
    return f"{DAY}T{clock}:00Z"


def fault(fault_id: str, scope: dict[str, str], start: str, end: str, kind: str = "rate") -> dict[str, Any]:
    decoy = kind == "decoy"
    return {
        "fault_id": fault_id,
        "kind": kind,
        "decoy": decoy,
        "scope": scope,
        "start": at(start),
        "end": at(end),
    }


def event(incident: str, opened: str, scope: dict[str, str], when: str | None = None, name: str = "opened") -> Any:
    return incident_event(name, incident, opened_at=at(opened), at=at(when or opened), scope=scope)


SONIQUE = {"device_brand": "Sonique"}
PAIR = {"device_brand": "Lumina", "service": "Flixo"}
TRUTH = [
    fault("f1", SONIQUE, "10:00", "11:00"),
    fault("f2", PAIR, "13:00", "14:00"),
    fault("f3", {"service": "TuneBox"}, "16:00", "16:30", kind="symptom"),
    fault("d1", {"device_brand": "Vexa"}, "00:00", "23:59", kind="decoy"),
]


def test_exact_overlap_and_miss_with_a_scope_that_changes_in_updates() -> None:
    events = [
        # f1: opened on a pair, narrowed to the brand later: the last scope is what counts -> exact.
        event("inc-1", "10:05", {"device_brand": "Sonique", "service": "Flixo"}),
        event("inc-1", "10:05", SONIQUE, when="10:35", name="updated"),
        event("inc-1", "10:05", SONIQUE, when="12:00", name="resolved"),
        # f2: the service alone shares a pair with the fault and conflicts with nothing -> overlap, not exact.
        event("inc-2", "13:15", {"service": "Flixo"}),
        # f3 is missed. An incident on the drift decoy's brand, and one that matches nothing at all.
        event("inc-3", "15:00", {"device_brand": "Vexa"}),
        event("inc-4", "10:30", {"region": "North"}),
    ]
    report = evaluate(TRUTH, events)
    assert (report.faults, report.decoys, report.incidents) == (3, 1, 4)
    assert report.exact_recall == pytest.approx(1 / 3)
    assert report.overlap_recall == pytest.approx(2 / 3)
    assert report.precision == pytest.approx(2 / 4)
    assert report.decoy_incidents == 1
    assert report.fragmentation == 1.0
    assert report.median_minutes == pytest.approx(10.0)  # 5 and 15 minutes
    assert report.by_kind["rate"].detected == 2 and report.by_kind["symptom"].detected == 0
    assert report.by_kind["symptom"].median_minutes is None
    assert [o.exact for o in report.outcomes] == [True, False, False]


def test_two_incidents_on_one_fault_is_fragmentation_two() -> None:
    events = [event("inc-a", "10:02", SONIQUE), event("inc-b", "10:20", {**SONIQUE, "service": "Flixo"})]
    report = evaluate(TRUTH[:1], events)
    assert report.fragmentation == 2.0
    assert report.precision == 1.0
    assert report.outcomes[0].minutes_to_detect == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("opened", "hit"),
    [("09:54", False), ("09:56", True), ("11:59", True), ("12:01", False)],
)
def test_window_opens_five_minutes_early_and_closes_after_the_grace(opened: str, hit: bool) -> None:
    report = evaluate(TRUTH[:1], [event("inc-1", opened, SONIQUE)], grace=3600.0)
    assert report.outcomes[0].detected is hit


def test_a_conflicting_value_is_no_overlap_and_spelling_does_not_matter() -> None:
    brand = make_scope(SONIQUE)
    assert not overlaps(make_scope(PAIR), make_scope({"device_brand": "Sonique", "service": "Flixo"}))
    assert overlaps(brand, make_scope({"device_brand": "sonique "}))
    assert not overlaps(brand, make_scope({"service": "Flixo"})), "nothing shared"
    assert overlaps(make_scope({}), brand), "the empty scope (global surge) covers everything"
    report = evaluate(TRUTH[:1], [event("inc-1", "10:10", {"device_brand": "SONIQUE"})])
    assert report.exact_recall == 1.0


def test_an_incident_on_a_fault_is_not_also_a_decoy_incident() -> None:
    truth = [fault("f1", SONIQUE, "10:00", "11:00"), fault("d1", {}, "09:00", "12:00", kind="decoy")]
    events = [event("inc-1", "10:10", SONIQUE), event("inc-2", "09:30", {"service": "Flixo"})]
    report = evaluate(truth, events)
    assert report.decoy_incidents == 1
    assert report.precision == 0.5


def test_nothing_to_score_is_reported_as_not_applicable() -> None:
    report = evaluate([], [])
    assert report.exact_recall is None and report.precision is None and report.fragmentation is None
    assert report.median_minutes is None and report.decoy_incidents == 0
    assert "n/a" in report.render()
    no_incidents = evaluate(TRUTH, [])
    assert no_incidents.overlap_recall == 0.0 and no_incidents.precision is None


def _cli(tmp_path: Path, *extra: str) -> argparse.Namespace:
    truth, incidents = tmp_path / "truth.jsonl", tmp_path / "incidents.jsonl"
    truth.write_bytes(b"".join(orjson.dumps(entry) + b"\n" for entry in TRUTH))
    incidents.write_bytes(orjson.dumps(event("inc-1", "10:05", SONIQUE).to_json()) + b"\n\n")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["evaluate", str(truth), str(incidents), *extra])


def test_cli_prints_a_table_or_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(tmp_path)
    assert args.func(args) == 0
    table = capsys.readouterr().out
    assert "exact-attribution recall  0.333" in table
    assert "f3" in table and "missed" in table
    args = _cli(tmp_path, "--json")
    assert args.func(args) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["overlap_recall"] == pytest.approx(1 / 3)
    assert report["outcomes"][0]["scope"] == SONIQUE
    assert report["by_kind"]["rate"]["exact"] == 1


def test_cli_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(tmp_path)
    args.incidents = str(tmp_path / "nope.jsonl")
    assert args.func(args) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_incidents_that_hit_no_fault_are_named() -> None:
    events = [event("inc-1", "10:05", SONIQUE), event("inc-2", "10:05", {"service": "Nowhere"})]
    report = evaluate(TRUTH, events)
    assert report.false_incidents == ("inc-2",)
    assert report.to_json()["false_incidents"] == ["inc-2"]


# -- the oracle and causes outside the dimensions ---------------------------------------------------------------
def _stream() -> list[dict[str, Any]]:
    """Sonique on Flixo: one new customer a minute from 09:00, five a minute from 10:00 (the fault) to 11:00."""
    records = []
    for minute in range(120):
        for k in range(1 if minute < 60 else 5):
            records.append(
                {
                    "contact_id": f"ct-{minute}-{k}",
                    "ts": f"{DAY}T{9 + minute // 60:02d}:{minute % 60:02d}:{10 * k + 5:02d}Z",
                    "channel": "chat",
                    "customer_id": f"cu-{minute}-{k}",
                    "source": "centre",
                    "dimensions": {"device_brand": "Sonique", "service": "Flixo"},
                }
            )
    return records


def _with_background(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "background_from": at("09:00"), "background": [1.0] * 120}


def test_the_oracle_times_each_rate_fault_and_the_report_gives_the_lag_behind_it() -> None:
    truth = [_with_background(fault("f1", SONIQUE, "10:00", "11:00"))]
    oracle = Oracle.from_records(_stream(), Settings())
    report = evaluate(truth, [event("inc-1", "10:12", SONIQUE)], oracle=oracle)
    (outcome,) = report.outcomes
    assert outcome.oracle_minutes is not None and 0 < outcome.oracle_minutes < 12
    assert outcome.lag == pytest.approx(12 - outcome.oracle_minutes)
    assert report.median_lag == pytest.approx(outcome.lag)
    assert report.worst_ratio == pytest.approx(12 / outcome.oracle_minutes)
    assert "behind the oracle" in report.render()
    missed = evaluate(truth, [], oracle=oracle)
    assert missed.outcomes[0].oracle_minutes == outcome.oracle_minutes and missed.median_lag is None


def test_a_fault_without_its_rise_is_not_found_by_the_oracle() -> None:
    calm = [record for record in _stream() if record["ts"] < at("10:00") or record["contact_id"].endswith("-0")]
    truth = [_with_background(fault("f1", SONIQUE, "10:00", "11:00"))]
    report = evaluate(truth, [], oracle=Oracle.from_records(calm, Settings()))
    assert report.outcomes[0].oracle_minutes is None


def test_cli_with_the_contacts_adds_the_oracle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(tmp_path, "--json", "--contacts", str(tmp_path / "contacts.jsonl"))
    (tmp_path / "truth.jsonl").write_bytes(orjson.dumps(_with_background(TRUTH[0])) + b"\n")
    (tmp_path / "contacts.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _stream()) + b"not json\n")
    assert args.func(args) == 0
    outcome = orjson.loads(capsys.readouterr().out)["outcomes"][0]
    assert 0 < outcome["oracle_ttd"] < 12 and outcome["lag"] == pytest.approx(5 - outcome["oracle_ttd"])


CDN = {**fault("f1", {}, "10:00", "11:00"), "unattributable": True, "services": ["Flixo", "TuneBox"]}


@pytest.mark.parametrize(
    ("scope", "hit", "right"),
    [
        ({"service": "Flixo"}, True, False),  # one vendor blamed for the CDN's fault
        ({"device_brand": "Sonique"}, True, False),
        ({"region": "North"}, True, True),  # wider than any vendor
        ({"device_brand": "Sonique", "service": "TuneBox"}, True, True),
        ({"service": "StreamPlus"}, False, False),  # a service the CDN does not serve: another matter
    ],
)
def test_a_cause_outside_the_dimensions_must_not_be_blamed_on_one_vendor(
    scope: dict[str, str], hit: bool, right: bool
) -> None:
    (outcome,) = evaluate([CDN], [event("inc-1", "10:20", scope)]).outcomes
    assert outcome.detected is hit
    assert outcome.exact is right
    assert outcome.single_vendor is (hit and not right)


def test_the_html_report_puts_faults_and_incidents_on_one_time_axis(tmp_path: Path) -> None:
    """`evaluate --html`: one file with nothing to fetch; each fault a bar over its hours, the incident that hit it
    on the lane below from its opening to its last event, a false incident in red, all on one scale."""
    import xml.etree.ElementTree as ElementTree

    truth, incidents, page = tmp_path / "truth.jsonl", tmp_path / "incidents.jsonl", tmp_path / "report.html"
    truth.write_bytes(b"".join(orjson.dumps(entry) + b"\n" for entry in TRUTH))
    events = [
        event("inc-1", "10:05", SONIQUE),
        event("inc-1", "10:05", SONIQUE, when="11:30", name="resolved"),
        event("inc-9", "20:00", {"device_brand": "Zed"}),
    ]
    incidents.write_bytes(b"".join(orjson.dumps(e.to_json()) + b"\n" for e in events))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate", str(truth), str(incidents), "--html", str(page)])
    assert args.func(args) == 0

    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "src=" not in text and "<link" not in text, "self-contained"
    assert "exact-attribution recall  0.333" in text, "the scores are in the report too"
    svg = ElementTree.fromstring(text[text.index("<svg") : text.index("</svg>") + len("</svg>")])
    ns = "{http://www.w3.org/2000/svg}"
    bars = [(rect.get("class"), rect) for rect in svg.iter(f"{ns}rect")]
    assert [kind for kind, _ in bars] == ["decoy", "fault", "hit", "fault", "fault", "false"]
    by_start = {rect.get("data-start"): rect for _, rect in bars}
    f1, hit = bars[1][1], bars[2][1]
    assert (f1.get("data-start"), f1.get("data-end")) == (at("10:00"), at("11:00"))
    assert (hit.get("data-start"), hit.get("data-end")) == (at("10:05"), at("11:30"))
    # One axis: x is a linear function of time across faults and incidents alike.
    points = [(float(r.get("x")), r.get("data-start")) for r in by_start.values()]  # type: ignore[arg-type]
    (x0, t0), (x1, t1) = (points[0][0], _epoch(points[0][1])), (points[-1][0], _epoch(points[-1][1]))
    for x, start in points:
        assert x == pytest.approx(x0 + (_epoch(start) - t0) * (x1 - x0) / (t1 - t0), abs=0.2)
    names = [node.text for node in svg.iter(f"{ns}text") if "name" in (node.get("class") or "")]
    assert names[:3] == ["d1 ", "f1 ", "inc-1 "]


def _epoch(text: str | None) -> float:
    from correlate.contracts import parse_timestamp

    return parse_timestamp(text)
