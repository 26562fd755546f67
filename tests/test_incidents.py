"""The incident book: one incident per fault, scopes stated minimally, lifecycle rules."""

from __future__ import annotations

from correlate.contracts import Contact, validate
from correlate.detectors.base import Finding
from correlate.events import IncidentEvent
from correlate.incidents import IncidentBook
from correlate.scope import Scope, make_scope
from correlate.stitch import StitchedContact
from correlate.vendors import VendorRegistry

MODEL = ("device_model", "Nuvo Lite44")
BRAND = ("device_brand", "Nuvo")
MODEL_DIMS = {"device_model": "Nuvo Lite44"}


def _implied(scope: Scope) -> Scope:
    """A model implies its brand, as the rate detector learns it."""
    return (BRAND,) if MODEL in scope and BRAND not in scope else ()


def _finding(scope: dict[str, str], at: float, kind: str = "rate", p: float = 1e-9) -> Finding:
    return Finding(kind, make_scope(scope), at, 20.0, 4.0, p, 1e-8, 100, 900.0)


def _step(book: IncidentBook, at: float, *findings: Finding) -> list[IncidentEvent]:
    return book.step(at, findings, [], [], lambda scope: False, _implied)


def test_a_scope_is_stated_without_values_it_implies() -> None:
    book = IncidentBook(VendorRegistry())
    (opened,) = _step(book, 600.0, _finding({"device_brand": "Nuvo", "device_model": "Nuvo Lite44"}, 600.0))
    assert opened.scope == {"device_model": "Nuvo Lite44"}
    assert opened.vendors.at_fault == ("nuvo",), "the model's brand is at fault"


def test_findings_on_overlapping_cuts_of_one_fault_join_one_incident() -> None:
    book = IncidentBook(VendorRegistry())
    first = _step(book, 600.0, _finding({"device_brand": "Nuvo", "region": "North"}, 600.0))
    later = _step(book, 660.0, _finding({"device_brand": "Nuvo", "service": "Tubo"}, 660.0))
    assert [e.event for e in first] == ["opened"]
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
    assert resolved.event == "resolved" and resolved.opened_at == "1970-01-01T00:10:00Z"
    assert resolved.reason == "quiet"


# -- one scope per fault: sideways cuts, fading clusters, explaining away ------------------------------------
PAIR = {"device_brand": "Nuvo", "service": "Tubo"}


def _contact(ts: float, customer: str, dims: dict[str, str]) -> StitchedContact:
    fields = {"contact_id": f"{customer}-{ts}", "ts": ts, "channel": "app", "customer_id": customer}
    record = validate({**fields, "source": "app", "dimensions": dims})
    assert isinstance(record, Contact)
    return StitchedContact(record, make_scope(dims), 1)


def test_a_pair_fault_is_not_redrawn_as_the_region_it_lifts() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding(PAIR, 600.0, p=1e-12))
    # The pair's reporters lift their region and their model: overlapping cuts, stronger by chance this step.
    _step(book, 660.0, _finding({"device_brand": "Nuvo", "region": "North"}, 660.0, p=1e-15))
    _step(book, 720.0, _finding({**MODEL_DIMS, "region": "North"}, 720.0, p=1e-16))
    (incident,) = book.open.values()
    assert incident.scope == make_scope(PAIR)
    assert incident.finding.scope == make_scope(PAIR), "its figures (observed, expected, p) are the pair's"


def test_a_text_cluster_gives_way_to_the_rate_attribution_even_on_another_cut() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding(PAIR, 600.0, kind="symptom", p=1e-30))
    _step(book, 660.0, _finding(MODEL_DIMS, 660.0, p=1e-9))  # the model implies Nuvo: it overlaps the pair
    (incident,) = book.open.values()
    assert incident.scope == make_scope(MODEL_DIMS)


def test_the_last_few_texts_of_a_fading_fault_do_not_narrow_its_scope() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding({"device_brand": "Nuvo"}, 600.0, kind="symptom", p=1e-14))
    # As the fault ends, the three reporters left in the window happen to share a model.
    _step(book, 4200.0, _finding(MODEL_DIMS, 4200.0, kind="symptom", p=1e-5))
    (incident,) = book.open.values()
    assert incident.scope == make_scope({"device_brand": "Nuvo"})
    assert incident.finding.scope == incident.scope, "the figures shown are those of the scope shown"


def test_a_text_cluster_does_not_narrow_a_scope_the_rate_detector_attributed() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding({"service": "Tubo"}, 600.0, kind="symptom", p=1e-9))
    _step(book, 660.0, _finding({"service": "Tubo"}, 660.0, p=1e-9))  # the rate detector agrees
    _step(book, 720.0, _finding(PAIR, 720.0, kind="symptom", p=1e-40))
    (incident,) = book.open.values()
    assert incident.scope == make_scope({"service": "Tubo"})


def test_a_stronger_rate_finding_still_widens_or_narrows_along_its_line() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding({"service": "Tubo"}, 600.0, p=1e-9))
    _step(book, 660.0, _finding(PAIR, 660.0, p=1e-14))
    (incident,) = book.open.values()
    assert incident.scope == make_scope(PAIR)
    (updated,) = _step(book, 600.0 + 900.0, _finding(PAIR, 1500.0, p=1e-14))
    assert (updated.event, updated.reason, updated.scope) == ("updated", "scope-narrowed", PAIR)


def _region_step(book: IncidentBook, at: float, recent: list[StitchedContact], observed: float) -> list[object]:
    region = Finding("rate", make_scope({"region": "North"}), at, observed, 20.0, 1e-9, 1e-7, 100, 900.0)
    return list(book.step(at, [region], [], recent, lambda scope: False, _implied))


def test_a_region_whose_excess_is_the_open_pair_faults_is_explained_away() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding(PAIR, 600.0))
    # North: 20 expected, 38 observed, 18 of them the pair fault's customers (under half of the region, but all
    # of its excess): without them North is at its baseline, nothing is left to explain.
    recent = [_contact(700.0 + i, f"f{i}", {**PAIR, "region": "North"}) for i in range(18)]
    recent += [_contact(800.0 + i, f"b{i}", {"device_brand": "Vizo", "service": "Vidz", "region": "North"})
               for i in range(20)]  # fmt: skip
    assert _region_step(book, 960.0, recent, 38.0) == []
    assert len(book.open) == 1


def test_a_region_still_elevated_without_the_open_faults_reporters_is_an_incident_of_its_own() -> None:
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding(PAIR, 600.0))
    recent = [_contact(700.0 + i, f"f{i}", {**PAIR, "region": "North"}) for i in range(6)]
    recent += [_contact(800.0 + i, f"b{i}", {"device_brand": "Vizo", "service": "Vidz", "region": "North"})
               for i in range(50)]  # fmt: skip
    (opened,) = _region_step(book, 960.0, recent, 56.0)
    assert isinstance(opened, IncidentEvent) and opened.event == "opened" and opened.scope == {"region": "North"}


def test_callers_in_the_same_step_as_the_heartbeats_do_not_redraw_a_silence_to_a_wider_cut() -> None:
    # Sonique devices in the East went quiet; their customers call, and in one step the rate detector also
    # flags the whole East. The heartbeats, which see every monitored device, said where the fault is.
    book = IncidentBook(VendorRegistry())
    quiet = {"device_brand": "Sonique", "region": "East"}
    _step(book, 600.0, _finding(quiet, 600.0, kind="silence", p=1e-30))
    _step(book, 960.0, _finding(quiet, 960.0, kind="silence", p=1e-30), _finding({"region": "East"}, 960.0, p=1e-9))
    (incident,) = book.open.values()
    assert incident.scope == make_scope(quiet)
    assert "contacts" in incident.evidence_kinds, "the calls still count as the incident's evidence"


def test_a_second_fault_overlapping_an_open_one_keeps_its_own_excess() -> None:
    # Brand Nuvo runs at 1.9x (open incident); service Tubo at 1.4x on every brand. Tubo usually brings 300
    # reporters an hour, 60 of them Nuvo's. Of the 436 now, 100 are Nuvo's: without them Tubo has 336, and
    # without Nuvo's share of the expectation it should have had 240, not 300. That rest is a fault of its own.
    book = IncidentBook(VendorRegistry())
    brand = {"device_brand": "Nuvo"}
    _step(book, 600.0, _finding(brand, 600.0))
    at = 4000.0
    recent = [_contact(at - 3000.0 + i, f"n{i}", {**brand, "service": "Tubo"}) for i in range(100)]
    recent += [_contact(at - 3000.0 + i, f"o{i}", {"device_brand": "Vizo", "service": "Tubo"}) for i in range(336)]
    tubo = Finding("rate", make_scope({"service": "Tubo"}), at, 436.0, 300.0, 1e-12, 1e-8, 100, 3600.0)
    pair = make_scope({**brand, "service": "Tubo"})

    def expected_in(scope: Scope, window: float) -> float | None:
        return 60.0 if scope == pair and window == 3600.0 else None

    events = book.step(at, [tubo], [], recent, lambda scope: False, _implied, (), expected_in)
    assert [(e.event, e.scope) for e in events] == [("opened", {"service": "Tubo"})]
    # Had the expectation stayed whole (nothing known of the overlap), the rest would look ordinary.
    book = IncidentBook(VendorRegistry())
    _step(book, 600.0, _finding(brand, 600.0))
    assert book.step(at, [tubo], [], recent, lambda scope: False, _implied) == []
