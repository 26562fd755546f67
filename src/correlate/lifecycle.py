"""What an open incident says at the end of a step, and why: a pure function of its state, tested with a table.

Every ``updated`` and ``resolved`` event carries the :class:`Reason` that produced it, so that a NOC engineer who
asks "why did the scope move?" or "why is this over?" reads the answer in the event:

    scope-widened     the incident now covers more: {brand, service} became {brand}
    scope-narrowed    the incident now covers less: {brand} became {brand, service}
    scope-moved       the scope changed to a cut that neither contains nor lies inside the old one
    evidence-grew     enough new customers reported since the last event
    evidence-joined   a new kind of our own evidence joined: heartbeats under a vendor's word, calls on a silence
    vendor-declared   a vendor declared, updated or ended its own incident on this scope
    quiet             the scope has been back at its baseline for the quiet period
    merged            a wider incident of the same fault took this one in
    vendor-resolved   the vendor ended the incident it declared, and nothing of ours supports it
    person            a person acted on it (acknowledged, resolved, dismissed, noted, denied): see its ``action``
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from correlate.scope import Scope

__all__ = ["Decision", "IncidentState", "Lifecycle", "Reason", "decide", "scope_change"]

UPDATED = "updated"
RESOLVED = "resolved"


class Reason(StrEnum):
    SCOPE_WIDENED = "scope-widened"
    SCOPE_NARROWED = "scope-narrowed"
    SCOPE_MOVED = "scope-moved"
    EVIDENCE_GREW = "evidence-grew"
    EVIDENCE_JOINED = "evidence-joined"
    VENDOR_DECLARED = "vendor-declared"
    QUIET = "quiet"
    MERGED = "merged"
    VENDOR_RESOLVED = "vendor-resolved"
    PERSON = "person"


@dataclass(frozen=True)
class Lifecycle:
    """The rules' settings: ``quiet_period`` (seconds back at baseline before ``resolved``), ``update_interval``
    (least time between two events of one incident), ``growth`` (relative growth in reporters worth an event)."""

    quiet_period: float = 3600.0
    update_interval: float = 900.0
    growth: float = 0.25


class IncidentState(Protocol):
    """What :func:`decide` reads of an incident (``correlate.incidents.Incident`` is one)."""

    @property
    def scope(self) -> Scope: ...
    @property
    def reported_scope(self) -> Scope: ...
    @property
    def last_event_at(self) -> float: ...
    @property
    def quiet_since(self) -> float | None: ...
    @property
    def reported_reporters(self) -> int: ...
    @property
    def reporters(self) -> int: ...
    @property
    def customers_speak(self) -> bool: ...
    @property
    def evidence_joined(self) -> bool: ...


@dataclass(frozen=True)
class Decision:
    """The event to emit (``updated``, ``resolved`` or none), its reason, and when the incident went quiet."""

    event: str | None
    reason: Reason | None
    quiet_since: float | None


def decide(incident: IncidentState, now: float, active: bool, rules: Lifecycle) -> Decision:
    """The end of a step for one open incident. ``active``: a finding supported it this step, its scope is still
    elevated, or a vendor's declaration of it is still open."""
    quiet_since = None if active else (now if incident.quiet_since is None else incident.quiet_since)
    if quiet_since is not None and now - quiet_since >= rules.quiet_period:
        return Decision(RESOLVED, Reason.QUIET, quiet_since)
    reason = _news(incident, now, rules)
    if reason is not None and incident.last_event_at < now:
        return Decision(UPDATED, reason, quiet_since)
    return Decision(None, None, quiet_since)


def _news(incident: IncidentState, now: float, rules: Lifecycle) -> Reason | None:
    """Why the incident is worth an ``updated`` event now, if it is. New evidence of our own is news at once,
    whatever the update interval: it is what tells a vendor's declared incident that we see it too."""
    if incident.evidence_joined:
        return Reason.EVIDENCE_JOINED
    if now - incident.last_event_at < rules.update_interval:
        return None
    if incident.scope != incident.reported_scope:
        return scope_change(incident.reported_scope, incident.scope)
    if not incident.customers_speak:
        return None  # the contacts in a silence's or a vendor's scope are not its evidence: no news
    grown = incident.reporters - incident.reported_reporters
    if grown >= 3 and incident.reporters >= (1.0 + rules.growth) * incident.reported_reporters:
        return Reason.EVIDENCE_GREW
    return None


def scope_change(before: Scope, after: Scope) -> Reason:
    """How a scope moved: fewer values cover more customers (wider), more values fewer (narrower)."""
    old, new = set(before), set(after)
    if new < old:
        return Reason.SCOPE_WIDENED
    if new > old:
        return Reason.SCOPE_NARROWED
    return Reason.SCOPE_MOVED
