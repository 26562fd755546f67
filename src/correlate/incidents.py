"""Incident lifecycle: one incident per fault, opened once, updated as evidence grows, resolved when it is over.

Findings arrive every step from every detector, often several for one fault (the brand, then the brand on its
busiest service, in two window lengths). A finding whose scope contains, or is contained in, an open incident's
scope belongs to that incident; the incident's scope follows the latest attribution of its own kind, so a fault
first seen on one pair can widen to the whole brand as reports come in. ``updated`` events are rate-limited;
``resolved`` comes after the scope has been back at baseline for the quiet period.

Once the rate detector has attributed an incident, its scope moves only along its own line — wider or narrower,
``{brand}`` to ``{brand, service}`` or back — never sideways to a cut that merely overlaps it: when a pair fault
lifts its region, ``{region}`` is a side-effect of the fault, not a better description of it. Until then (an
incident a text cluster opened) the rate detector's attribution, sideways or not, takes over the scope. Text
clusters never move a scope the rate detector has attributed: the values three customers happen to share are a
weaker answer than the lattice's attribution. Nor does a finding weaker than the one that drew the scope: as a fault
fades, the few reporters left in the window share values by chance, and a late finding on a wider cut may be a
partner's routine batch arriving on top. A new finding whose excess the open incidents' reporters account
for is explained away rather than opened (see :meth:`IncidentBook._explained_by`).

Evidence comes in three kinds: *contacts* (rate and rare-symptom findings), *telemetry* (silence findings: the
heartbeats that stopped coming) and a *vendor*'s own declared incident (a status-feed record). They meet in one
incident when their scopes meet: a silence on a region that customers of that region start calling about is one
incident carrying both, with a confidence that combines both (Fisher's method on the two adjusted p-values); a
vendor's declaration that names a scope we already have an incident on is shown on that incident. An incident that
contacts opened keeps the contacts' attribution; one that telemetry or a vendor opened may be widened by contacts
but not narrowed (the heartbeats see the whole population, the callers only part of it).

Everything here is a function of event time, so the same contacts give byte-identical events in ``replay`` and
in the stream workers.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from scipy.special import pdtrc

from correlate.contracts import format_time
from correlate.detectors.base import Callers, Finding
from correlate.events import (
    EventName,
    EvidenceKind,
    IncidentEvent,
    IncidentEvidence,
    Kind,
    SymptomEvidence,
    TelemetryEvidence,
    Vendors,
    VendorStatement,
)
from correlate.lifecycle import Lifecycle, Reason, decide
from correlate.scope import Scope, contains, covers, describe, overlapping, related
from correlate.status_feed import VendorStatus
from correlate.stitch import StitchedContact
from correlate.vendors import VendorRegistry

__all__ = [
    "ABSORBED_SHARE",
    "EVIDENCE_OF",
    "RATE",
    "SAMPLE_TEXTS",
    "SILENCE",
    "VENDOR",
    "Evidence",
    "Incident",
    "IncidentBook",
    "combined_p",
]

SAMPLE_TEXTS = 3
RATE = "rate"
SILENCE = "silence"
VENDOR = "vendor"
CONTACTS, TELEMETRY = "contacts", "telemetry"
# Which kind of evidence each detector's findings are.
EVIDENCE_OF = {RATE: CONTACTS, "symptom": CONTACTS, SILENCE: TELEMETRY}
# A finding whose recent reporters are at least this share inside an open incident is that incident's evidence.
ABSORBED_SHARE = 0.5


@dataclass
class Evidence:
    """What the reports in an incident's scope say, accumulated from shortly before it opened."""

    contacts: int = 0
    reporters: int = 0
    customers: set[str] = field(default_factory=set)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    values: Counter[tuple[str, str]] = field(default_factory=Counter)
    first_contact_at: float | None = None
    texts: list[str] = field(default_factory=list)

    def add(self, stitched: StitchedContact) -> None:
        contact = stitched.contact
        self.contacts += 1
        if contact.count > 1:
            self.reporters += contact.count
        elif contact.customer_id not in self.customers:
            self.customers.add(contact.customer_id)
            self.reporters += 1
        else:
            return self._note(contact.channel, contact.source, contact.ts)
        self.values.update({pair: max(contact.count, 1) for pair in stitched.profile})
        if contact.category:
            self.categories[contact.category] += 1
        if contact.text and len(self.texts) < SAMPLE_TEXTS and contact.text not in self.texts:
            self.texts.append(contact.text)
        self._note(contact.channel, contact.source, contact.ts)

    def _note(self, channel: str, source: str, ts: float) -> None:
        self.by_channel[channel] += 1
        self.by_source["partner" if source.startswith("partner:") else "own"] += 1
        if self.first_contact_at is None or ts < self.first_contact_at:
            self.first_contact_at = ts

    def shares(self) -> dict[tuple[str, str], float]:
        total = max(self.reporters, 1)
        return {pair: n / total for pair, n in self.values.items()}


@dataclass
class Incident:
    incident_id: str
    kind: str
    scope: Scope
    opened_at: float
    finding: Finding
    evidence: Evidence
    last_event_at: float
    reported_reporters: int
    reported_scope: Scope
    quiet_since: float | None = None
    supporting_texts: tuple[str, ...] = ()
    evidence_kinds: set[str] = field(default_factory=set)
    silence: Finding | None = None  # the latest telemetry finding, whoever owns the scope
    vendor_status: VendorStatus | None = None
    declared_at: float | None = None
    rate_scoped: bool = False  # the rate detector's attribution has set (or confirmed) the scope
    reported_kinds: frozenset[str] = frozenset()  # the kinds of evidence its last event showed
    # A silence's: when it began (contacts before it are not about it), and its quiet devices' customers now.
    onset: float | None = None
    silence_onset: float | None = None  # when its quiet devices were last heard, as first seen
    callers: Callers | None = None
    scope_p: float = 1.0  # p-value of the strongest finding on the scope as it stands, of the kind that owns it

    @property
    def detected(self) -> bool:
        """Whether our own data (contacts or telemetry) supports the incident, not only a vendor's word."""
        return bool(self.evidence_kinds - {VENDOR})

    @property
    def reporters(self) -> int:
        return self.evidence.reporters

    @property
    def customers_speak(self) -> bool:
        """Whether customers' contacts are among its evidence (else the contacts on its scope are not news)."""
        return CONTACTS in self.evidence_kinds

    @property
    def evidence_joined(self) -> bool:
        """Whether a kind of our own evidence joined since its last event (heartbeats under a vendor's word)."""
        return bool(self.evidence_kinds - self.reported_kinds - {VENDOR})

    def belongs(self, stitched: StitchedContact) -> bool:
        """Whether a contact is evidence of this incident. A contact on its scope, for one that contacts opened.
        One that heartbeats or a vendor opened began at a known time (``onset``: when its quiet devices were
        last heard, else when the vendor declared it): a contact before that is not about it. After it, a
        silence's are the contacts of customers whose devices in it went quiet and, once customers' calls
        corroborate it, every contact on its scope; a vendor's, every contact on its scope."""
        if self.kind not in (SILENCE, VENDOR):
            return covers(self.scope, stitched.profile)
        if self.onset is not None and stitched.contact.ts <= self.onset:
            return False
        if self.callers is not None and stitched.contact.customer_id in self.callers.quiet:
            return True
        spoken = CONTACTS in self.evidence_kinds or self.kind == VENDOR
        return spoken and covers(self.scope, stitched.profile)

    @property
    def heard_by_telemetry(self) -> bool:
        """Whether heartbeats tell who its customers are: a silence, or a vendor's incident they joined."""
        return self.kind == SILENCE or (self.kind == VENDOR and TELEMETRY in self.evidence_kinds)


class IncidentBook:
    """The open incidents and the rules that turn each step's findings into lifecycle events.

    Settings: ``quiet_period`` (seconds back at baseline before ``resolved``), ``update_interval`` (least time
    between two events of one incident), ``growth`` (relative growth in reporters that is worth an ``updated``
    event); what an incident says at the end of a step is :func:`correlate.lifecycle.decide`'s.
    ``corroboration_p`` and ``corroboration_callers``: the bar at which the calls of an open silence's own
    customers (those whose devices went quiet) corroborate it: at least that many of them, and fewer than
    ``corroboration_p`` chances of so many calling since it began on an ordinary day.
    """

    def __init__(
        self,
        vendors: VendorRegistry,
        quiet_period: float = 3600.0,
        update_interval: float = 900.0,
        growth: float = 0.25,
        corroboration_p: float = 1e-3,
        corroboration_callers: int = 2,
    ) -> None:
        self.vendors = vendors
        self.rules = Lifecycle(quiet_period, update_interval, growth)
        self.corroboration_p = corroboration_p
        self.corroboration_callers = corroboration_callers
        self.open: dict[str, Incident] = {}
        self._callers: Callable[[Scope], Callers | None] = _none_known
        self._calls_on: Callable[[Scope], Finding | None] = _none_known

    def step(
        self,
        step_end: float,
        findings: Iterable[Finding],
        contacts: Sequence[StitchedContact],
        recent: Sequence[StitchedContact],
        still_elevated: Callable[[Scope], bool],
        implied: Callable[[Scope], Scope],
        statuses: Sequence[VendorStatus] = (),
        expected_in: Callable[[Scope, float], float | None] = lambda scope, window: None,
        callers: Callable[[Scope], Callers | None] = lambda scope: None,
        calls_on: Callable[[Scope], Finding | None] = lambda scope: None,
    ) -> list[IncidentEvent]:
        """Fold one step in; return its events in a stable order. ``expected_in(scope, window)``: a scope's
        expected reporters in a window, as the detectors test it (explaining away takes it out with the
        reporters); ``callers(scope)``: the customers whose devices in the scope went quiet, and who of them
        called (the silence detector's); ``calls_on(scope)``: the test of the contacts on a scope against its
        baseline, whatever the threshold (the rate detector's)."""
        self._callers, self._calls_on = callers, calls_on
        for incident in self.open.values():
            if incident.heard_by_telemetry:
                self._hear(incident)
            for stitched in contacts:
                if incident.belongs(stitched):
                    incident.evidence.add(stitched)
        events: list[IncidentEvent] = []
        for status in statuses:
            events.extend(self._declare(status, step_end, recent, implied))
        supported: set[str] = set()
        decided: set[str] = set()  # incidents whose scope a rate finding (or opening) settled this step
        sideways: dict[str, Finding] = {}  # per incident, its most significant sideways rate finding this step
        findings = [replace(f, scope=_minimal(f.scope, implied)) for f in findings]
        for finding in sorted(findings, key=lambda f: (f.p_value, f.kind, f.scope)):
            existing = self._belongs_to(finding, implied)
            if existing is None:
                holder = self._absorbed_by(finding, recent) if finding.kind != SILENCE else None
                if holder is None and finding.kind == RATE:
                    holder = self._explained_by(finding, recent, expected_in)
                if holder is not None:
                    supported.add(holder.incident_id)  # more evidence for it, not a reason to move its scope
                    continue
                incident = self._open(finding, recent)
                events.append(self._event(EventName.OPENED, incident, step_end, implied))
                decided.add(incident.incident_id)
            else:
                incident = existing
                if self._sideways(incident, finding, implied):
                    sideways.setdefault(incident.incident_id, finding)
                    incident.evidence_kinds.add(EVIDENCE_OF.get(finding.kind, finding.kind))
                    continue  # support, counted below unless a finding on its own line comes this step
                self._support(incident, finding, supported, decided, recent)
                if incident.kind == SILENCE and incident.scope == finding.scope:
                    events.extend(self._merge_silences(incident, step_end, implied))
            supported.add(incident.incident_id)
        for incident_id, finding in sideways.items():
            incident = self.open[incident_id]
            if incident_id not in decided and not incident.rate_scoped:
                self._support(incident, finding, supported, decided, recent)  # a text cluster's scope gives way
            supported.add(incident_id)
        for incident_id in sorted(self.open):
            self._corroborate(self.open[incident_id], step_end, recent)
        for incident_id in sorted(self.open):
            incident = self.open[incident_id]
            declared = incident.vendor_status is not None and not incident.vendor_status.resolved
            active = incident_id in supported or still_elevated(incident.scope) or declared
            decision = decide(incident, step_end, active, self.rules)
            incident.quiet_since = decision.quiet_since
            if decision.event is not None:
                name = EventName(decision.event)
                events.append(self._event(name, incident, step_end, implied, decision.reason))
                if name is EventName.RESOLVED:
                    del self.open[incident_id]
        return events

    # -- matching findings to incidents --------------------------------------------------------------------
    def _belongs_to(self, finding: Finding, implied: Callable[[Scope], Scope]) -> Incident | None:
        """The open incident whose scope overlaps the finding's, implied values added: a finding on a model
        belongs to the incident on its brand, one on {brand, service} to the incident on {brand, region}.
        Among several, the one whose scope contains or is contained in the finding's, then the oldest."""
        scope = (*finding.scope, *implied(finding.scope))
        matches = []
        for incident_id, incident in self.open.items():
            theirs = (*incident.scope, *implied(incident.scope))
            if overlapping(theirs, scope) or theirs == scope:  # equal: the empty scope, every population
                matches.append((not related(theirs, scope), incident.opened_at, incident_id))
        if not matches:
            return None
        # A silence or a vendor's declaration names a whole population: a finding on exactly that scope is
        # theirs, even when an older incident on a related scope (a model failing at the same time) also fits.
        exact = [
            m for m in matches if self.open[m[2]].kind in (SILENCE, VENDOR) and self.open[m[2]].scope == finding.scope
        ]
        return self.open[min(exact or matches)[2]]

    @staticmethod
    def _sideways(incident: Incident, finding: Finding, implied: Callable[[Scope], Scope]) -> bool:
        """A rate finding on a cut that overlaps the incident's scope without containing it or lying inside it
        (implied values included): ``{region: South}`` or ``{device_model: M}`` beside ``{brand, service}``."""
        if finding.kind != RATE or incident.kind in (SILENCE, VENDOR):
            return False
        theirs = (*incident.scope, *implied(incident.scope))
        return not related(theirs, (*finding.scope, *implied(finding.scope)))

    def _explained_by(
        self,
        finding: Finding,
        recent: Sequence[StitchedContact],
        expected_in: Callable[[Scope, float], float | None],
    ) -> Incident | None:
        """The open incident whose reporters account for the finding's excess (explaining away).

        A big pair fault lifts its region: ``{region: South}`` has 44 reporters against 2.3 expected, 40 of
        them inside the open incident on ``{brand, service}``. Without them the region has 4 against 2.3 — no
        finding at all. The finding's reporters in its window that fall inside open contact incidents are taken
        out, *with their share of the expectation* (what the overlap of the two scopes usually brings): a service
        at 1.4x while a brand that is a fifth of it runs at 1.9x keeps its own excess once the brand's part is
        gone, reporters and expectation alike, and opens its own incident. The rest is tested against what is
        left of the expectation at the finding's own threshold (Poisson: it never calls a rest calm that the
        detector's over-dispersed test would call elevated). The incident holding the most of them is credited.
        """
        since = finding.at - finding.window
        inside: Counter[str] = Counter()
        rest = 0
        for stitched in recent:
            if stitched.contact.ts < since or not stitched.reporters or not covers(finding.scope, stitched.profile):
                continue
            holders = [
                incident_id
                for incident_id, incident in self.open.items()
                if CONTACTS in incident.evidence_kinds and incident.scope and covers(incident.scope, stitched.profile)
            ]
            if holders:
                for incident_id in holders:
                    inside[incident_id] += stitched.reporters
            else:
                rest += stitched.reporters
        if not inside:
            return None
        observed = min(float(rest), finding.observed)
        expected = finding.expected - sum(
            self._overlap_expected(finding, self.open[incident_id].scope, expected_in) for incident_id in inside
        )
        expected = max(expected, 0.05 * finding.expected)  # the overlaps' estimates may add up past the whole
        if observed > 0 and float(pdtrc(observed - 1.0, expected)) < finding.threshold:
            return None  # still elevated without the open incidents' reporters: a fault of its own
        incident_id, _ = min(inside.items(), key=lambda item: (-item[1], item[0]))
        return self.open[incident_id]

    @staticmethod
    def _overlap_expected(
        finding: Finding, incident_scope: Scope, expected_in: Callable[[Scope, float], float | None]
    ) -> float:
        """The finding's expected reporters that also fall in the incident's scope: the expectation of the cell
        that names both scopes' values, or, where the lattice keeps no such cell, its share under independence
        within the whole centre. 0 when nothing is known (the reporters alone are taken out)."""
        values = dict(finding.scope)
        for name, value in incident_scope:
            if values.setdefault(name, value) != value:
                return 0.0
        both = tuple(sorted(values.items()))
        found = expected_in(both, finding.window)
        if found is not None:
            return min(found, finding.expected)
        incident, centre = expected_in(incident_scope, finding.window), expected_in((), finding.window)
        if incident is None or not centre:
            return 0.0
        return min(finding.expected * incident / centre, finding.expected)

    # -- a silence's own customers -------------------------------------------------------------------------
    def _hear(self, incident: Incident) -> bool:
        """Who of a silence's customers there are now; it began when its quiet devices were first seen to have
        been last heard (or earlier, if a vendor declared it earlier). True when that moved its beginning."""
        incident.callers = self._callers(incident.scope)
        if incident.callers is None or incident.silence_onset is not None:
            return False
        incident.silence_onset = incident.callers.onset
        if incident.onset is not None and incident.onset <= incident.callers.onset:
            return False
        incident.onset = incident.callers.onset
        return True

    def _corroborate(self, incident: Incident, at: float, recent: Sequence[StitchedContact]) -> None:
        """An open silence (or a vendor's incident our heartbeats joined) that calls confirm at the lower bar
        gets contact evidence. The silence is prior evidence, so the calls need not beat the budget a rate finding
        on every cell does: either its own customers' calls (tested against how often device owners call) or the
        contacts on its scope against the scope's baseline, each below ``corroboration_p``; the stronger of the
        two heads the incident."""
        if not incident.heard_by_telemetry or CONTACTS in incident.evidence_kinds or incident.quiet_since is not None:
            return  # no heartbeats of its own, already corroborated, or over
        tests = []
        found = incident.callers
        if found is not None and len(found.called) >= self.corroboration_callers:
            window = at - found.onset
            called, expected = len(found.called), found.expected
            tests.append(Finding(RATE, incident.scope, at, called, expected, found.p_value, 1.0, 1, window))
        on_scope = self._calls_on(incident.scope)
        if on_scope is not None:
            tests.append(on_scope)
        passed = [test for test in tests if test.p_value < self.corroboration_p]
        if not passed:
            return
        best = min(passed, key=lambda test: test.p_value)
        incident.finding = replace(best, threshold=self.corroboration_p)
        incident.evidence_kinds.add(CONTACTS)
        incident.evidence = self._evidence(incident, recent)

    def _evidence(self, incident: Incident, recent: Sequence[StitchedContact]) -> Evidence:
        evidence = Evidence()
        for stitched in recent:
            if incident.belongs(stitched):
                evidence.add(stitched)
        return evidence

    def _merge_silences(self, incident: Incident, at: float, implied: Callable[[Scope], Scope]) -> list[IncidentEvent]:
        """Silences its (widened) scope now covers are the same fault: a brand's heartbeats go quiet, the
        monitored devices of each of its firmwares first, the partner's summaries of the brand ten minutes later.
        Those incidents end here, each with a last event that names the incident they were merged into."""
        events = []
        for other_id in sorted(self.open):
            other = self.open[other_id]
            if other is incident or other.kind != SILENCE or other.evidence_kinds != {TELEMETRY}:
                continue
            if contains(incident.scope, (*other.scope, *implied(other.scope))):
                events.append(self._event(EventName.RESOLVED, other, at, implied, Reason.MERGED, incident.incident_id))
                del self.open[other_id]
        return events

    def _absorbed_by(self, finding: Finding, recent: Sequence[StitchedContact]) -> Incident | None:
        """The open incident that already holds most of the finding's recent reporters: a partner's batch
        from a service-wide fault lands on one brand x region cell, which is that fault, not a new one."""
        if not self.open:
            return None
        inside: Counter[str] = Counter()
        total = 0
        for stitched in recent:
            if stitched.reporters and covers(finding.scope, stitched.profile):
                total += stitched.reporters
                for incident_id, incident in self.open.items():
                    if covers(incident.scope, stitched.profile):
                        inside[incident_id] += stitched.reporters
        if not inside:
            return None
        incident_id, reporters = min(inside.items(), key=lambda item: (-item[1], item[0]))
        return self.open[incident_id] if reporters >= ABSORBED_SHARE * total else None

    def _open(self, finding: Finding, recent: Sequence[StitchedContact], onset: float | None = None) -> Incident:
        key = f"{finding.kind}|{describe(finding.scope)}|{finding.at!r}"
        incident_id = "inc-" + hashlib.sha1(key.encode()).hexdigest()[:12]
        incident = Incident(
            incident_id=incident_id,
            kind=finding.kind,
            scope=finding.scope,
            opened_at=finding.at,
            finding=finding,
            evidence=Evidence(),
            last_event_at=finding.at,
            reported_reporters=0,
            reported_scope=finding.scope,
            supporting_texts=finding.sample_texts,
            evidence_kinds={EVIDENCE_OF.get(finding.kind, finding.kind)},
            silence=finding if finding.kind == SILENCE else None,
            rate_scoped=finding.kind == RATE,
            scope_p=finding.p_value,
            onset=onset,
        )
        if finding.kind == SILENCE:
            self._hear(incident)
            if incident.onset is None:  # no cell to read (cannot happen for a finding's own scope)
                incident.onset = finding.at - finding.window
        incident.evidence = self._evidence(incident, recent)
        self.open[incident_id] = incident
        return incident

    def _support(
        self,
        incident: Incident,
        finding: Finding,
        supported: set[str],
        decided: set[str],
        recent: Sequence[StitchedContact],
    ) -> None:
        if finding.sample_texts and not incident.supporting_texts:
            incident.supporting_texts = finding.sample_texts
        kind = EVIDENCE_OF.get(finding.kind, finding.kind)
        if incident.kind == SILENCE and kind == CONTACTS and kind not in incident.evidence_kinds:
            incident.evidence_kinds.add(kind)
            incident.evidence = self._evidence(incident, recent)  # customers spoke: their contacts since it began
        incident.evidence_kinds.add(kind)
        if finding.kind == SILENCE:
            silence = incident.silence
            if silence is None or silence.at != finding.at or finding.p_value < silence.p_value:
                incident.silence = finding
            if CONTACTS in incident.evidence_kinds:
                return  # the contacts' attribution owns the scope once customers have spoken
            if incident.kind == VENDOR:
                if self._hear(incident):
                    incident.evidence = self._evidence(incident, recent)  # it began before the vendor said so
                incident.finding = finding if incident.finding.kind == VENDOR else incident.finding
                return  # the vendor's declared scope stands; the heartbeats only back it
        elif finding.kind != RATE and (finding.kind != incident.kind or incident.rate_scoped):
            return  # a text cluster adds its words to a rate incident, but the rate attribution owns the scope
        # The first finding this step may move the scope; a rate finding may also move what a text cluster set
        # (but not what the heartbeats or the vendor said this step: they see the whole population).
        rate_over_text = finding.kind == RATE and incident.kind not in (SILENCE, VENDOR)
        first_this_step = incident.incident_id not in (decided if rate_over_text else supported)
        # Telemetry and vendors see a whole population; callers may widen their scope, never narrow it.
        movable = (
            incident.kind not in (SILENCE, VENDOR)
            or finding.kind == incident.kind
            or contains(finding.scope, incident.scope)
        )
        if incident.kind not in (SILENCE, VENDOR) and incident.rate_scoped == (finding.kind == RATE):
            if finding.scope == incident.scope:
                incident.scope_p = min(incident.scope_p, finding.p_value)
            # The scope stays where the strongest evidence put it: a weaker finding on a wider or narrower cut
            # (the few reporters left in the window as the fault fades) does not redraw it.
            movable = movable and finding.p_value <= incident.scope_p
        if first_this_step and finding.scope != incident.scope and movable:
            incident.scope = finding.scope
            if incident.heard_by_telemetry:
                self._hear(incident)
            incident.evidence = self._evidence(incident, recent)
            incident.scope_p = finding.p_value
        if first_this_step and movable and finding.kind == RATE:
            if not incident.rate_scoped:
                incident.rate_scoped, incident.scope_p = True, finding.p_value
            decided.add(incident.incident_id)
        # Once customers speak, their finding is the incident's headline; the heartbeats stay in its evidence.
        outranked = incident.finding.kind in (SILENCE, VENDOR) and finding.kind == RATE
        # The headline describes the scope: a finding on a cut the incident did not move to is support only.
        on_scope = finding.scope == incident.scope or incident.kind in (SILENCE, VENDOR)
        if outranked or (on_scope and (first_this_step or finding.p_value < incident.finding.p_value)):
            incident.finding = finding

    # -- vendors' declared incidents -----------------------------------------------------------------------
    def _declare(
        self, status: VendorStatus, at: float, recent: Sequence[StitchedContact], implied: Callable[[Scope], Scope]
    ) -> list[IncidentEvent]:
        """Show a vendor's declaration on the incident it concerns: the one it already updated, else an open
        incident on the same scope (or one that meets it), else a new incident of kind ``vendor``."""
        incident = self._declared_by(status) or self._same_scope(status.scope, implied)
        if incident is not None and incident.vendor_status == status:
            return []  # the same record again (a feed that redelivers): nothing new to show
        if incident is None:
            if status.resolved:
                return []  # over before we heard of it: nothing to show
            declared = Finding(VENDOR, status.scope, at, 0.0, 0.0, 1.0, 0.0, 1, 0.0)
            incident = self._open(declared, recent, onset=status.ts)
            incident.vendor_status, incident.declared_at = status, status.ts
            return [self._event(EventName.OPENED, incident, at, implied)]
        incident.evidence_kinds.add(VENDOR)
        if incident.declared_at is None:
            incident.declared_at = status.ts
        incident.vendor_status = status
        if status.resolved and not incident.detected:
            del self.open[incident.incident_id]
            return [self._event(EventName.RESOLVED, incident, at, implied, Reason.VENDOR_RESOLVED)]
        return [self._event(EventName.UPDATED, incident, at, implied, Reason.VENDOR_DECLARED)]

    def _declared_by(self, status: VendorStatus) -> Incident | None:
        for incident_id in sorted(self.open):
            declared = self.open[incident_id].vendor_status
            if declared is not None and (declared.vendor, declared.status_id) == (status.vendor, status.status_id):
                return self.open[incident_id]
        return None

    def _same_scope(self, scope: Scope, implied: Callable[[Scope], Scope]) -> Incident | None:
        """The open incident on exactly this scope, else the one whose scope meets it (as findings match)."""
        exact = sorted((i.opened_at, i.incident_id) for i in self.open.values() if i.scope == scope)
        if exact:
            return self.open[exact[0][1]]
        return self._belongs_to(Finding(VENDOR, scope, 0.0, 0.0, 0.0, 1.0, 0.0, 1, 0.0), implied)

    # -- events --------------------------------------------------------------------------------------------
    def _event(
        self,
        name: EventName,
        incident: Incident,
        at: float,
        implied: Callable[[Scope], Scope],
        reason: Reason | None = None,
        merged_into: str | None = None,
    ) -> IncidentEvent:
        """The event as published; ``updated`` and ``resolved`` say why (``reason``)."""
        incident.last_event_at = at
        incident.reported_kinds = frozenset(incident.evidence_kinds)
        incident.reported_reporters = incident.evidence.reporters
        incident.reported_scope = incident.scope
        evidence = incident.evidence
        finding = incident.finding
        at_fault, affected = self.vendors.involved(incident.scope, implied(incident.scope), evidence.shares())
        texts = list(incident.supporting_texts) or evidence.texts
        beyond = _beyond_contacts(incident) if incident.evidence_kinds != {CONTACTS} else None
        return IncidentEvent(
            event=name,
            incident_id=incident.incident_id,
            kind=Kind(incident.kind),
            opened_at=format_time(incident.opened_at),
            at=format_time(at),
            reason=reason,
            scope=dict(incident.scope),
            vendors=Vendors(tuple(at_fault), tuple(affected)),
            evidence=IncidentEvidence(
                contacts=evidence.contacts,
                customers=evidence.reporters,
                observed=round(finding.observed, 3),
                expected=round(finding.expected, 3),
                window_minutes=round(finding.window / 60.0, 1),
                by_channel=dict(sorted(evidence.by_channel.items())),
                by_source=dict(sorted(evidence.by_source.items())),
                categories=dict(evidence.categories.most_common(3)),
                first_contact_at=format_time(evidence.first_contact_at)
                if evidence.first_contact_at is not None
                else None,
                sample_texts=tuple(texts[:SAMPLE_TEXTS]),
                telemetry=beyond.telemetry if beyond is not None else None,
                symptom=_described(incident),
            ),
            confidence=beyond.confidence if beyond is not None else finding.confidence,
            p_value=beyond.p_value if beyond is not None else float(f"{finding.p_value:.3e}"),
            summary=_summary(incident, at_fault),
            # Contacts alone: the events as they always were, without these.
            evidence_kinds=tuple(EvidenceKind(k) for k in sorted(incident.evidence_kinds))
            if beyond is not None
            else None,
            vendor_status=beyond.vendor_status if beyond is not None else None,
            merged_into=merged_into,
        )


def _none_known(scope: Scope) -> None:
    """What the book knows of a scope's callers and calls before its first step: nothing. Module-level, so that a
    snapshot of a book that has not stepped yet can be pickled."""
    return None


def _described(incident: Incident) -> SymptomEvidence | None:
    """On a symptom incident headed by a symptom finding: how many customers described it, and their words."""
    finding = incident.finding
    if incident.kind != "symptom" or finding.kind != "symptom":
        return None
    return SymptomEvidence(customers=round(finding.observed), exemplars=finding.sample_texts[:SAMPLE_TEXTS])


@dataclass(frozen=True)
class _Beyond:
    telemetry: TelemetryEvidence | None
    confidence: float
    p_value: float | None
    vendor_status: VendorStatement | None


def _beyond_contacts(incident: Incident) -> _Beyond:
    """What telemetry and vendors add to an event: the heartbeats, the vendor's word, and a confidence that
    reflects every independent kind of our own evidence."""
    silence = incident.silence
    telemetry = None
    if silence is not None:
        telemetry = TelemetryEvidence(
            scope=dict(silence.scope),
            heartbeats=round(silence.observed, 3),
            expected=round(silence.expected, 3),
            window_minutes=round(silence.window / 60.0, 1),
            p_value=float(f"{silence.p_value:.3e}"),
        )
    main = incident.finding
    confidence: float = main.confidence
    p_value: float | None = float(f"{main.p_value:.3e}")
    if main.kind == VENDOR:
        confidence, p_value = 1.0, None  # the vendor's own word, nothing of ours to test
    elif silence is not None and main.kind != SILENCE:
        confidence = round(1.0 - combined_p(_adjusted(main), _adjusted(silence)), 6)
    status = incident.vendor_status
    statement = None
    if status is not None:
        statement = VendorStatement(
            vendor=status.vendor,
            status_id=status.status_id,
            status=status.status,
            component=status.component,
            scope=dict(status.scope),
            message=status.message,
            declared_at=format_time(incident.declared_at if incident.declared_at is not None else status.ts),
            updated_at=format_time(status.ts),
        )
    return _Beyond(telemetry, confidence, p_value, statement)


def _adjusted(finding: Finding) -> float:
    return min(1.0, finding.p_value * max(1, finding.tests))


def combined_p(first: float, second: float) -> float:
    """Fisher's method for two independent p-values: P(chi2 with 4 degrees of freedom >= -2 ln(first * second)).

    Two independent kinds of evidence that each say "unlikely by chance" together say "more unlikely": 0.01 and
    0.01 combine to 0.001, and a p-value of 1 (no evidence) leaves the other almost as it was.
    """
    product = max(first * second, 1e-300)
    return min(1.0, product * (1.0 - math.log(product)))


def _minimal(scope: Scope, implied: Callable[[Scope], Scope]) -> Scope:
    """The scope without values that other values in it imply: {brand: Nuvo, model: Nuvo Lite44} says no
    more than {model: Nuvo Lite44}, and the shorter one is what a person reads and a vendor is matched on."""
    redundant = {pair for pair in scope if pair in implied(tuple(p for p in scope if p != pair))}
    return tuple(pair for pair in scope if pair not in redundant) or scope


def _summary(incident: Incident, at_fault: list[str]) -> str:
    finding = incident.finding
    blame = ", ".join(at_fault) or "no registered vendor"
    head = f"{incident.kind} incident on {describe(incident.scope)}"
    if finding.kind == VENDOR and incident.vendor_status is not None:
        status = incident.vendor_status
        said = f": {status.message}" if status.message else ""
        return f"{head}: {status.vendor} declares {status.component!r} {status.status}{said}; at fault: {blame}"
    unit = "heartbeats" if finding.kind == SILENCE else "customers"
    text = (
        f"{head}: {finding.observed:.0f} {unit} in {finding.window / 60:.0f} min against "
        f"{finding.expected:.1f} expected; at fault: {blame}"
    )
    if {CONTACTS, TELEMETRY} <= incident.evidence_kinds:
        text += "; customers' contacts and device heartbeats agree"
    if incident.vendor_status is not None:
        text += f"; {incident.vendor_status.vendor} says {incident.vendor_status.status}"
    return text
