"""Scoring incidents against the truth written by ``correlate simulate``.

An *incident* is all events with one ``incident_id``: its time is the ``opened_at`` of its events, its scope
and kind those of its last event (by ``at``, ties in file order), since updates may narrow or widen the scope.
A fault's *window* is ``[start - 5 min, end + grace]``: detection a little before the truth says a fault began
is fine (the first reports run ahead of its nominal start), and detection after it ended is late but right.

Scopes are compared by value with case, spaces and punctuation ignored, as the stitcher pools spellings.
Two scopes *overlap* when no dimension has two different values and they share at least one (dimension,
value) pair; the empty scope (the global-surge decoy) overlaps every scope. An incident *hits* a fault when it
opened inside the fault's window and their scopes overlap. Incident kinds need not match fault kinds: a
symptom fault found by a rate detector counts.

Metrics, over non-decoy faults F and incidents I:

* exact-attribution recall: share of F with an incident in the window whose final scope equals the fault's;
* any-overlap recall: share of F hit by at least one incident (such a fault is *detected*);
* precision: share of I that hit some fault in F;
* decoy incidents: incidents that hit some decoy and no fault in F;
* fragmentation: mean number of incidents hitting each detected fault (1.0 is ideal);
* time to detect: ``opened_at`` of the first incident hitting a fault minus the fault's start, in minutes
  (as low as -5); median and 90th percentile (linear interpolation) over detected faults, overall and per
  fault kind.

* lead over the customers: for a fault whose truth names its ``first_contact_at`` (a silent fault: the
  heartbeats stop, customers call later), the first contact's time minus the ``opened_at`` of the first incident
  hitting it, in minutes (positive: found before anyone called); median, and how many were found ahead.

An incident whose last event says ``merged_into`` another is part of that one (a silence first seen on each of
a brand's firmwares, then on the brand). ``customer-notification`` events are scored on their own against the
truth's ``device`` entries (one monitored device that stops reporting): *device recall* is the share of those
devices notified while quiet (from the start of the silence to ``grace`` after its end); a notification is
*right* when it names such a device then, or a device inside a silent fault's scope during that fault.

* lag behind the oracle: with the stream's contacts at hand (``--contacts``), each rate fault whose truth records
  its true background gets the oracle's time to detect (:mod:`correlate.lab.oracle`: the scope's distinct new
  customers against the true background, in the detector's windows, at the detector's false-alarm budget spread
  over the cells the stream holds) and, when both found it, the detector's lag behind it (time to detect minus
  the oracle's, in minutes); the report gives the median lag and the worst ratio of the two times to detect.

A fault whose cause is outside the recorded dimensions (``unattributable`` in the truth, with the ``services`` it
serves) has no exact scope to name: it is hit by an incident in its window whose scope conflicts with none of
its services, and counts as exact when hit by no incident that names a single vendor (one brand or model, or one
service; a scope naming no vendor, or both a brand and a service, is not a confident wrong vendor).

A ratio with nothing to divide by (no faults, no incidents, nothing detected) is None, printed "n/a".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

import numpy as np
import orjson

from correlate import progress
from correlate.config import Settings
from correlate.contracts import Contact, format_time, parse_timestamp, validate
from correlate.errors import ContractError
from correlate.events import CustomerNotification, Event, IncidentEvent, from_json
from correlate.lab.oracle import NewCustomers, first_detection, lattice_cells, per_test_threshold
from correlate.scope import Scope, describe, make_scope
from correlate.stitch import pool_key

__all__ = [
    "COLUMNS",
    "Fault",
    "FaultOutcome",
    "Incident",
    "KindSummary",
    "Oracle",
    "Report",
    "add_parser",
    "collect_incidents",
    "evaluate",
    "overlaps",
    "run",
]

DEVICE = "device"  # truth entries for one monitored device that stops reporting
EARLY = 5 * 60.0  # how long before a fault's start an incident may open and still count


def _time(value: object) -> float:
    try:
        return parse_timestamp(value)
    except ContractError as error:  # the field is not always a contact's ts: the reason alone, with the value
        raise ValueError(f"bad time {value!r}: {error.reason}") from None


@dataclass(frozen=True, slots=True)
class Fault:
    """One truth entry: an injected fault, or a decoy that should raise nothing."""

    fault_id: str
    kind: str
    decoy: bool
    pattern: str
    scope: Scope
    start: float
    end: float
    first_contact: float | None = None
    case: str = ""  # the hard profile's special case (cold-start, repeat-second, out-of-schema, ...)
    repeat_of: str | None = None
    unattributable: bool = False
    services: tuple[str, ...] = ()
    background_from: float | None = None
    background: tuple[float, ...] = ()

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Fault:
        decoy = bool(entry.get("decoy", entry.get("kind") == "decoy"))
        start = _time(entry["start"])
        end = _time(entry.get("end", entry["start"]))
        kind, pattern = str(entry.get("kind", "rate")), str(entry.get("pattern", ""))
        first, since = entry.get("first_contact_at"), entry.get("background_from")
        return cls(
            str(entry["fault_id"]),
            kind,
            decoy,
            pattern,
            make_scope(entry["scope"]),
            start,
            end,
            None if first is None else _time(first),
            str(entry.get("case", "")),
            entry.get("repeat_of"),
            bool(entry.get("unattributable", False)),
            tuple(str(service) for service in entry.get("services", ())),
            None if since is None else _time(since),
            tuple(float(value) for value in entry.get("background", ())),
        )

    def in_window(self, ts: float, grace: float) -> bool:
        return self.start - EARLY <= ts <= self.end + grace


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as it stood at its last event."""

    incident_id: str
    kind: str
    opened_at: float
    scope: Scope


@dataclass(frozen=True, slots=True)
class FaultOutcome:
    """How one fault fared: the incidents that hit it and whether one named its scope exactly."""

    fault: Fault
    exact: bool
    incidents: tuple[str, ...]
    minutes_to_detect: float | None
    lead_minutes: float | None = None
    oracle_minutes: float | None = None
    single_vendor: bool = False  # an unattributable fault was blamed on one vendor

    @property
    def detected(self) -> bool:
        return bool(self.incidents)

    @property
    def lag(self) -> float | None:
        """Minutes the detector found the fault after the oracle did (None unless both found it)."""
        if self.minutes_to_detect is None or self.oracle_minutes is None:
            return None
        return self.minutes_to_detect - self.oracle_minutes

    def to_json(self) -> dict[str, Any]:
        fault = self.fault
        return {
            "fault_id": fault.fault_id,
            "kind": fault.kind,
            "pattern": fault.pattern,
            "scope": dict(fault.scope),
            "start": format_time(fault.start),
            "exact": self.exact,
            "detected": self.detected,
            "incidents": list(self.incidents),
            "minutes_to_detect": self.minutes_to_detect,
            "lead_minutes": self.lead_minutes,
            "case": fault.case,
            "repeat_of": fault.repeat_of,
            "unattributable": fault.unattributable,
            "single_vendor": self.single_vendor,
            "oracle_ttd": self.oracle_minutes,
            "lag": self.lag,
        }


@dataclass(frozen=True, slots=True)
class KindSummary:
    faults: int
    exact: int
    detected: int
    median_minutes: float | None
    p90_minutes: float | None


@dataclass(frozen=True)
class Report:
    """The scores of one run; see the module docstring for the exact definitions."""

    faults: int
    decoys: int
    incidents: int
    exact_recall: float | None
    overlap_recall: float | None
    precision: float | None
    decoy_incidents: int
    fragmentation: float | None
    median_minutes: float | None
    p90_minutes: float | None
    by_kind: dict[str, KindSummary]
    outcomes: tuple[FaultOutcome, ...]
    median_lead_minutes: float | None = None
    found_ahead_of_customers: int = 0
    devices: int = 0
    devices_notified: int = 0
    notifications: int = 0
    notifications_right: int = 0
    false_incidents: tuple[str, ...] = ()  # incidents that hit no fault (decoy incidents among them)
    median_lag: float | None = None  # minutes behind the oracle, over faults both found
    worst_ratio: float | None = None  # the largest time to detect / oracle's time to detect, over the same

    @property
    def device_recall(self) -> float | None:
        return _share(self.devices_notified, self.devices)

    @property
    def notification_precision(self) -> float | None:
        return _share(self.notifications_right, self.notifications)

    def to_json(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            field.name: getattr(self, field.name) for field in fields(self) if field.name not in _NESTED
        }
        summary["false_incidents"] = list(self.false_incidents)
        summary["by_kind"] = {kind: asdict(each) for kind, each in self.by_kind.items()}
        summary["device_recall"], summary["notification_precision"] = self.device_recall, self.notification_precision
        summary["outcomes"] = [outcome.to_json() for outcome in self.outcomes]
        return summary

    def render(self) -> str:
        """A short table for people: the headline numbers, then one line a fault."""
        lines = [
            f"faults {self.faults}, decoys {self.decoys}, incidents {self.incidents}",
            f"exact-attribution recall  {_ratio(self.exact_recall)}",
            f"any-overlap recall        {_ratio(self.overlap_recall)}",
            f"precision                 {_ratio(self.precision)}",
            f"decoy incidents           {self.decoy_incidents}",
            f"fragmentation             {_number(self.fragmentation)}",
            f"time to detect (min)      median {_number(self.median_minutes)}, p90 {_number(self.p90_minutes)}",
        ]
        if any(o.fault.first_contact is not None for o in self.outcomes):
            lines.append(
                f"lead over first contact     median {_number(self.median_lead_minutes)} min, found ahead of the "
                f"customers {self.found_ahead_of_customers}"
            )
        if self.devices or self.notifications:
            lines.append(
                f"devices gone quiet        notified {self.devices_notified}/{self.devices}; notifications "
                f"{self.notifications}, right {self.notifications_right}"
            )
        if any(o.oracle_minutes is not None for o in self.outcomes):
            lines.append(
                f"behind the oracle (min)   median lag {_number(self.median_lag)}, worst ratio "
                f"{_number(self.worst_ratio)}"
            )
        for kind, each in sorted(self.by_kind.items()):
            lines.append(
                f"  {kind:<8} detected {each.detected}/{each.faults}, exact {each.exact}/{each.faults}, "
                f"median {_number(each.median_minutes)}, p90 {_number(each.p90_minutes)}"
            )
        lines.append("")
        oracle = any(o.oracle_minutes is not None for o in self.outcomes)
        header = f"{'fault':<6} {'kind':<8} {'pattern':<13} {'result':<8} {'inc':>3} {'ttd':>6}"
        lines.append(header + (f" {'oracle':>6} {'lag':>6}" if oracle else "") + "  scope")
        for o in self.outcomes:
            result = "exact" if o.exact else "overlap" if o.detected else "missed"
            ttd = _number(o.minutes_to_detect)
            beside = f" {_number(o.oracle_minutes):>6} {_number(o.lag):>6}" if oracle else ""
            scope = (
                describe(o.fault.scope) if o.fault.scope else f"(outside the dimensions: {', '.join(o.fault.services)})"
            )
            lines.append(
                f"{o.fault.fault_id:<6} {o.fault.kind:<8} {o.fault.pattern:<13} {result:<8} "
                f"{len(o.incidents):>3} {ttd:>6}{beside}  {scope}"
            )
        return "\n".join(lines)


_NESTED = frozenset({"by_kind", "outcomes", "false_incidents"})

# What each column of the table in Report.render() means, one line each, for readers of the demo.
COLUMNS: Final = (
    ("fault", "the injected fault's id in the truth file (f1, f2, ...)"),
    ("kind", "rate: more customers than usual in a scope; symptom: a few alike texts about a rare problem"),
    ("pattern", "the shape of the fault's scope: brand-wide, service-wide, a brand with a service, one model"),
    ("result", "exact: an incident named the fault's scope; overlap: one shared part of it; missed: none"),
    ("inc", "incidents that hit the fault: 1 is ideal, more is one fault split into several (fragmentation)"),
    ("ttd", "time to detect: minutes from the fault's start to the first incident (negative: before it)"),
    ("oracle", "the oracle's time to detect: the first minute the true background makes the rise significant"),
    ("lag", "time to detect minus the oracle's: minutes the detector was behind the floor"),
    ("scope", "where the fault was injected: the dimensions every affected customer shares"),
)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _canonical(scope: Scope) -> Scope:
    return tuple(sorted((name, pool_key(value)) for name, value in scope))


def overlaps(a: Scope, b: Scope) -> bool:
    """No dimension with two different values, and a shared (dimension, value) pair or an empty scope."""
    first, second = dict(_canonical(a)), dict(_canonical(b))
    if any(second.get(name, value) != value for name, value in first.items()):
        return False
    return not first or not second or bool(first.items() & second.items())


def collect_incidents(events: Iterable[Event]) -> list[Incident]:
    """One :class:`Incident` per ``incident_id``, as it stood at its last event."""
    grouped: dict[str, list[tuple[float, int, IncidentEvent]]] = {}
    merged: dict[str, str] = {}
    for order, event in enumerate(events):
        if not isinstance(event, IncidentEvent):
            continue  # a customer notification, scored on its own
        grouped.setdefault(event.incident_id, []).append((_time(event.at), order, event))
        if event.merged_into:
            merged[event.incident_id] = event.merged_into
    incidents: dict[str, Incident] = {}
    for incident_id, timeline in grouped.items():
        timeline.sort(key=lambda item: (item[0], item[1]))
        last = timeline[-1][2]
        opened = _time(last.opened_at)
        incidents[incident_id] = Incident(incident_id, last.kind.value, opened, make_scope(last.scope))
    for incident_id, target in sorted(merged.items()):
        while target in merged and target != incident_id:
            target = merged[target]
        if target in incidents and incident_id in incidents:
            part, whole = incidents.pop(incident_id), incidents[target]
            incidents[target] = Incident(
                whole.incident_id, whole.kind, min(part.opened_at, whole.opened_at), whole.scope
            )
    return sorted(incidents.values(), key=lambda incident: (incident.opened_at, incident.incident_id))


def _hits(fault: Fault, incident: Incident, grace: float) -> bool:
    if not fault.in_window(incident.opened_at, grace) or not overlaps(fault.scope, incident.scope):
        return False
    service = dict(_canonical(incident.scope)).get("service")
    return not fault.services or service is None or service in {pool_key(s) for s in fault.services}


def _single_vendor(scope: Scope) -> bool:
    """Whether the scope blames one vendor: a brand (or one of its models), or a service, not both."""
    names = {name for name, _ in scope}
    return bool(names & {"device_brand", "device_model"}) != ("service" in names)


def _outcome(fault: Fault, incidents: list[Incident], grace: float, oracle: Oracle | None) -> FaultOutcome:
    hitting = [incident for incident in incidents if _hits(fault, incident, grace)]
    single_vendor = fault.unattributable and any(_single_vendor(incident.scope) for incident in hitting)
    if fault.unattributable:
        exact = bool(hitting) and not single_vendor
    else:
        exact = any(_canonical(incident.scope) == _canonical(fault.scope) for incident in hitting)
    minutes = (hitting[0].opened_at - fault.start) / 60.0 if hitting else None
    lead = None
    if hitting and fault.first_contact is not None:
        lead = (fault.first_contact - hitting[0].opened_at) / 60.0
    found = oracle.minutes_to_detect(fault) if oracle is not None else None
    ids = tuple(incident.incident_id for incident in hitting)
    return FaultOutcome(fault, exact, ids, minutes, lead, found, single_vendor)


@dataclass(frozen=True)
class Oracle:
    """The oracle of :mod:`correlate.lab.oracle` for one stream: its new customers, and the p-value one test
    must beat (the detector's false-alarm budget over the stream's cells, windows and steps)."""

    customers: NewCustomers
    threshold: float
    windows: tuple[float, ...]
    step: float

    @classmethod
    def from_records(cls, records: Iterable[Any], settings: Settings) -> Oracle:
        """From the stream's records as ``correlate simulate`` writes them (lines that break the contract are
        left out, as the engine leaves them out); ``settings`` give the budget, the windows, the step and the
        lattice's depth."""
        contacts = [c for c in map(validate, records) if isinstance(c, Contact)]
        cells = lattice_cells((c.dimensions for c in contacts), settings.max_depth)
        windows = tuple(settings.windows)
        threshold = per_test_threshold(cells, settings.false_alarms_per_day, len(windows), settings.step)
        return cls(NewCustomers.from_contacts(contacts), threshold, windows, settings.step)

    def minutes_to_detect(self, fault: Fault) -> float | None:
        """The oracle's time to detect the fault, in minutes; None for a fault without a recorded background,
        or one the oracle does not find before it ends."""
        if fault.background_from is None or not fault.background:
            return None
        until = fault.background_from + 60.0 * len(fault.background)
        arrivals = self.customers.arrivals(dict(fault.scope), fault.services, fault.background_from, until)
        return first_detection(
            arrivals, fault.background, fault.background_from, fault.start, self.threshold, self.windows, self.step
        )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _quantiles(outcomes: Iterable[FaultOutcome]) -> tuple[float | None, float | None]:
    minutes = [o.minutes_to_detect for o in outcomes if o.minutes_to_detect is not None]
    if not minutes:
        return None, None
    return float(np.median(minutes)), float(np.percentile(minutes, 90))


def _by_kind(outcomes: list[FaultOutcome]) -> dict[str, KindSummary]:
    summaries = {}
    for kind in sorted({o.fault.kind for o in outcomes}):
        mine = [o for o in outcomes if o.fault.kind == kind]
        exact, detected = sum(o.exact for o in mine), sum(o.detected for o in mine)
        summaries[kind] = KindSummary(len(mine), exact, detected, *_quantiles(mine))
    return summaries


def evaluate(
    truth: list[dict[str, Any]], events: Sequence[Event], *, grace: float = 3600.0, oracle: Oracle | None = None
) -> Report:
    """Score incident events against truth entries; ``grace``: how late (seconds) a detection still counts;
    ``oracle``: the stream's oracle, for each rate fault's time to detect at the floor and the lag behind it."""
    entries = [Fault.from_json(entry) for entry in truth if entry.get("kind") != DEVICE]
    devices = [Fault.from_json(entry) for entry in truth if entry.get("kind") == DEVICE]
    faults = [fault for fault in entries if not fault.decoy]
    decoys = [fault for fault in entries if fault.decoy]
    incidents = collect_incidents(events)
    outcomes = [_outcome(fault, incidents, grace, oracle) for fault in faults]
    true = {incident_id for o in outcomes for incident_id in o.incidents}
    decoyed = [
        incident
        for incident in incidents
        if incident.incident_id not in true and any(_hits(decoy, incident, grace) for decoy in decoys)
    ]
    detected = [o for o in outcomes if o.detected]
    fragmentation = sum(len(o.incidents) for o in detected) / len(detected) if detected else None
    median, p90 = _quantiles(outcomes)
    leads = [o.lead_minutes for o in outcomes if o.lead_minutes is not None]
    notified, notifications, right = _notifications(devices, faults, events, grace)
    both = [o for o in outcomes if o.lag is not None]
    lags = [o.lag for o in both if o.lag is not None]
    ratios = [o.minutes_to_detect / o.oracle_minutes for o in both if o.minutes_to_detect and o.oracle_minutes]
    return Report(
        faults=len(faults),
        decoys=len(decoys),
        incidents=len(incidents),
        exact_recall=_share(sum(o.exact for o in outcomes), len(faults)),
        overlap_recall=_share(len(detected), len(faults)),
        precision=_share(len(true), len(incidents)),
        decoy_incidents=len(decoyed),
        fragmentation=fragmentation,
        median_minutes=median,
        p90_minutes=p90,
        by_kind=_by_kind(outcomes),
        outcomes=tuple(outcomes),
        median_lead_minutes=float(np.median(leads)) if leads else None,
        found_ahead_of_customers=sum(lead > 0 for lead in leads),
        devices=len(devices),
        devices_notified=notified,
        notifications=notifications,
        notifications_right=right,
        false_incidents=tuple(incident.incident_id for incident in incidents if incident.incident_id not in true),
        median_lag=float(np.median(lags)) if lags else None,
        worst_ratio=max(ratios) if ratios else None,
    )


def _notifications(
    devices: list[Fault], faults: list[Fault], events: Sequence[Event], grace: float
) -> tuple[int, int, int]:
    """(devices notified while quiet, notifications, notifications that name a device quiet then)."""
    sent = [event for event in events if isinstance(event, CustomerNotification)]
    quiet_devices = {(dict(device.scope).get("device_id"), device) for device in devices}
    notified: set[str] = set()
    right = 0
    for notice in sent:
        at, device_id = _time(notice.at), notice.device_id
        dims = make_scope(notice.dimensions)
        mine = [d for key, d in quiet_devices if key == device_id and d.start <= at <= d.end + grace]
        notified.update(d.fault_id for d in mine)
        inside = any(f.kind == "silence" and f.start <= at <= f.end + grace and _covers(f.scope, dims) for f in faults)
        right += bool(mine or inside)
    return len(notified), len(sent), right


def _covers(scope: Scope, dims: Scope) -> bool:
    canonical = set(_canonical(dims))
    return all(pair in canonical for pair in _canonical(scope))


def _read_jsonl(path: str, bar: progress.Bar) -> list[dict[str, Any]]:
    with open(path, "rb") as lines:
        return [orjson.loads(line) for line in progress.counting(lines, bar, by_size=True) if line.strip()]


def _read_lines(path: str) -> list[Any]:
    """A contacts JSONL as written: a line that is not JSON is kept as its text (the contract rejects it)."""
    found: list[Any] = []
    with open(path, "rb") as lines:
        for line in lines:
            if line.strip():
                try:
                    found.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    found.append(line.decode("utf-8", "replace"))
    return found


def run(args: argparse.Namespace) -> int:
    """The ``evaluate`` sub-command."""
    shown = progress.wanted(args.quiet)
    try:
        total = sum(os.path.getsize(path) for path in (args.truth, args.incidents)) if shown else None
        with progress.Bar(shown, desc="evaluate", total=total, unit="B", unit_scale=True, unit_divisor=1024) as bar:
            truth = _read_jsonl(args.truth, bar)
            events = [from_json(line) for line in _read_jsonl(args.incidents, bar)]
            oracle = None
            if args.contacts is not None:
                bar.describe("evaluate: the oracle")
                oracle = Oracle.from_records(_read_lines(args.contacts), Settings())
            bar.describe("evaluate: scoring")
            report = evaluate(truth, events, grace=args.grace, oracle=oracle)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"correlate evaluate: {error}", file=sys.stderr)
        return 2
    if args.html is not None:
        from correlate.lab.report import render_html

        title = f"correlate evaluate: {os.path.basename(args.incidents)} against {os.path.basename(args.truth)}"
        try:
            with open(args.html, "w", encoding="utf-8") as page:
                faults = (Fault.from_json(entry) for entry in truth if entry.get("kind") != DEVICE)
                decoys = [fault for fault in faults if fault.decoy]
                page.write(render_html(report, events, decoys, title))
        except OSError as error:
            print(f"correlate evaluate: {error}", file=sys.stderr)
            return 2
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(report.render())
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``correlate evaluate TRUTH INCIDENTS``."""
    helps = "score incident events against a simulation's truth file"
    parser = subparsers.add_parser("evaluate", help=helps, description=helps)
    parser.add_argument("truth", metavar="TRUTH", help="truth JSONL written by `correlate simulate`")
    parser.add_argument("incidents", metavar="INCIDENTS", help="incident events JSONL")
    parser.add_argument("--grace", type=float, default=3600.0, help="seconds after a fault's end (default 3600)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="also write a self-contained HTML report: faults and incidents on one time axis (SVG)",
    )
    parser.add_argument(
        "--contacts",
        metavar="FILE",
        help="the stream's contacts JSONL: adds the oracle's time to detect and the lag behind it (default settings)",
    )
    progress.add_quiet(parser)
    parser.set_defaults(func=run)
