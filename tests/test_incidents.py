"""The incident book: one incident per fault, scopes stated minimally, lifecycle rules."""

from __future__ import annotations

from correlate.detectors.base import Finding
from correlate.incidents import IncidentBook
from correlate.scope import Scope, make_scope
from correlate.vendors import VendorRegistry

MODEL = ("device_model", "Nuvo Lite44")
BRAND = ("device_brand", "Nuvo")


def _implied(scope: Scope) -> Scope:
    """A model implies its brand, as the rate detector learns it."""
    return (BRAND,) if MODEL in scope and BRAND not in scope else ()


def _finding(scope: dict[str, str], at: float, kind: str = "rate", p: float = 1e-9) -> Finding:
    return Finding(kind, make_scope(scope), at, 20.0, 4.0, p, 1e-8, 100, 900.0)


def _step(book: IncidentBook, at: float, *findings: Finding) -> list[dict[str, object]]:
    return book.step(at, findings, [], [], lambda scope: False, _implied)


def test_a_scope_is_stated_without_values_it_implies() -> None:
    book = IncidentBook(VendorRegistry())
    (opened,) = _step(book, 600.0, _finding({"device_brand": "Nuvo", "device_model": "Nuvo Lite44"}, 600.0))
    assert opened["scope"] == {"device_model": "Nuvo Lite44"}
    assert opened["vendors"]["at_fault"] == ["nuvo"], "the model's brand is at fault"


def test_findings_on_overlapping_cuts_of_one_fault_join_one_incident() -> None:
    book = IncidentBook(VendorRegistry())
    first = _step(book, 600.0, _finding({"device_brand": "Nuvo", "region": "North"}, 600.0))
    later = _step(book, 660.0, _finding({"device_brand": "Nuvo", "service": "Tubo"}, 660.0))
    assert [e["event"] for e in first] == ["opened"]
    assert later == [], "no second incident, and the update waits for the update interval"
    assert len(book.open) == 1


def test_separate_faults_stay_separate() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding({"device_brand": "Nuvo", "service": "Tubo"}, 600.0))
    _step(book, 660.0, _finding({"device_brand": "Nuvo", "service": "Vidz"}, 660.0))
    _step(book, 720.0, _finding({"region": "West"}, 720.0))
    assert len(book.open) == 3


def test_a_rate_attribution_rescopes_an_incident_a_text_cluster_opened() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding({"device_brand": "Nuvo", "service": "Tubo"}, 600.0, kind="symptom"))
    _step(book, 660.0, _finding({"device_brand": "Nuvo"}, 660.0))
    (incident,) = book.open.values()
    assert incident.scope == make_scope({"device_brand": "Nuvo"}) and incident.kind == "symptom"


def test_resolved_after_the_quiet_period_and_not_before() -> None:
    book = IncidentBook(VendorRegistry(), quiet_period=3600.0)
    _step(book, 600.0, _finding({"service": "Tubo"}, 600.0))
    assert _step(book, 660.0) == [] and _step(book, 660.0 + 3540.0) == []
    (resolved,) = _step(book, 660.0 + 3600.0)
    assert resolved["event"] == "resolved" and resolved["opened_at"] == "1970-01-01T00:10:00Z"
