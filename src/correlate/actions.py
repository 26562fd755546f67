"""People's actions on incidents, as data, and the rules for what they do: acknowledge, resolve, dismiss, note,
deny, and maintenance windows.

An action is an input record like a contact (``"type": "action"``): the API writes it to the input topic, the
validate stage checks it, and the detect leader takes it in event-time order with everything else; ``correlate
replay`` reads it from the same file or a merged one (``--merge actions.jsonl``). So what people did is part of
the event stream, and replay and the stream workers give the same events for it::

    {"type": "action", "action": "acknowledge", "ts": "2026-03-05T10:02:11Z", "incident_id": "inc-67b8...",
     "by": "ana", "role": "noc", "reason": "on it"}
    {"type": "action", "action": "maintenance", "ts": "...", "by": "ops", "role": "noc", "reason": "firmware 4.2",
     "scope": {"device_brand": "Sonique"}, "starts_at": "...", "ends_at": "..."}

Each action on an incident is an event of that incident (:class:`correlate.events.PersonAction` says who, in
which role, and why), at the action's own time:

- ``acknowledge`` -> ``acknowledged``: someone has it; every later event carries ``acknowledged`` and it no
  longer pages;
- ``resolve`` -> ``resolved`` (reason ``person``): the incident is closed; if the fault goes on, a new one opens;
- ``dismiss`` -> ``dismissed``: a false incident, closed; for ``dismiss_hold`` seconds a new incident on a
  related scope (the same, wider or narrower) is recorded but suppressed, unless its customers reach twice what
  the dismissed one had;
- ``note`` -> ``noted``; ``deny`` -> ``denied``: a vendor says the attribution to it is wrong, with its reason,
  shown to everyone and kept for the evaluation of attribution.

A maintenance window (scope, ``starts_at``..``ends_at``, reason) makes no event of its own: every incident event
inside it (its scope within the window's, its time within the range) carries ``suppressed`` and is recorded,
not paged, not sent to vendors.

Who may do what (checked again here, so that a record written to the input topic by hand is held to it): the
NOC everything but deny; agents notes; a vendor acknowledges incidents that concern it, and denies those that
name it at fault.
An action the rules refuse, or on an incident that is not open, is rejected with the reason, like a bad contact.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final, Literal, NotRequired, TypedDict

from correlate.contracts import Rejection, format_time, parse_timestamp, show
from correlate.errors import ContractError
from correlate.events import (
    Acknowledgement,
    EventName,
    IncidentEvent,
    PersonAction,
    Suppression,
)
from correlate.lifecycle import Reason
from correlate.stitch import pool_key

__all__ = [
    "ACTION",
    "MAX_REASON",
    "PERMITTED",
    "Action",
    "ActionBook",
    "ActionRecord",
    "Verb",
    "action_record",
    "permitted",
    "validate_action",
]

ACTION: Final = "action"
_BLANK: Final = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*")
MAX_REASON: Final = 500


class Verb(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    DISMISS = "dismiss"
    NOTE = "note"
    DENY = "deny"
    MAINTENANCE = "maintenance"


# The event each action on an incident makes.
EVENT_OF: Final = {
    Verb.ACKNOWLEDGE: EventName.ACKNOWLEDGED,
    Verb.RESOLVE: EventName.RESOLVED,
    Verb.DISMISS: EventName.DISMISSED,
    Verb.NOTE: EventName.NOTED,
    Verb.DENY: EventName.DENIED,
}
PERMITTED: Final = {
    "noc": frozenset(Verb) - {Verb.DENY},
    "agent": frozenset({Verb.NOTE}),
    "vendor": frozenset({Verb.ACKNOWLEDGE, Verb.DENY}),
}
_NEEDS_REASON: Final = frozenset({Verb.RESOLVE, Verb.DISMISS, Verb.NOTE, Verb.DENY, Verb.MAINTENANCE})
_FIELDS: Final = frozenset(
    {"type", "action", "ts", "incident_id", "by", "role", "vendor", "reason", "scope", "starts_at", "ends_at"}
)


def permitted(role: str, verb: Verb) -> bool:
    return verb in PERMITTED.get(role, frozenset())


@dataclass(frozen=True, slots=True)
class Action:
    """One person's action, validated. ``incident_id`` for all but ``maintenance``; ``scope``, ``starts_at`` and
    ``ends_at`` for ``maintenance`` only; ``vendor`` for the vendor role."""

    verb: Verb
    ts: float
    by: str
    role: str
    reason: str = ""
    incident_id: str | None = None
    vendor: str | None = None
    scope: tuple[tuple[str, str], ...] = ()
    starts_at: float | None = None
    ends_at: float | None = None

    @property
    def action_id(self) -> str:
        """The same action, the same id (an action sent twice is one action)."""
        key = f"{self.verb}|{self.ts!r}|{self.incident_id}|{self.by}|{self.reason}|{self.scope}"
        return "act-" + hashlib.sha1(key.encode()).hexdigest()[:12]


class ActionRecord(TypedDict):
    """An action as a record on the input topic (``action_record`` writes it; the JSON Schema
    ``action-v1.schema.json`` is generated from this type): who did what, as what role, and why. ``incident_id``
    on all but ``maintenance``; ``scope``, ``starts_at``, ``ends_at`` on ``maintenance`` only; ``vendor`` on a
    vendor's action only; ``reason`` required on all but ``acknowledge``."""

    type: Literal["action"]
    action: Verb
    ts: str
    incident_id: NotRequired[str]
    by: str
    role: str
    reason: NotRequired[str]
    vendor: NotRequired[str]
    scope: NotRequired[dict[str, str]]
    starts_at: NotRequired[str]
    ends_at: NotRequired[str]


def action_record(action: Action) -> dict[str, Any]:
    """The input record for an action (what the API writes to the input topic)."""
    record: dict[str, Any] = {"type": ACTION, "action": action.verb.value, "ts": format_time(action.ts)}
    if action.incident_id is not None:
        record["incident_id"] = action.incident_id
    record.update({"by": action.by, "role": action.role})
    if action.reason:
        record["reason"] = action.reason
    if action.vendor is not None:
        record["vendor"] = action.vendor
    if action.verb is Verb.MAINTENANCE:
        assert action.starts_at is not None and action.ends_at is not None
        record["scope"] = dict(action.scope)
        record["starts_at"] = format_time(action.starts_at)
        record["ends_at"] = format_time(action.ends_at)
    return record


def validate_action(record: Mapping[str, Any]) -> Action | Rejection:
    """Check a decoded record whose ``type`` is ``action``; never raises."""
    try:
        return _checked(record)
    except ContractError as invalid:
        return Rejection(invalid.field, invalid.reason, record)


def _checked(record: Mapping[str, Any]) -> Action:
    unknown = sorted(set(record) - _FIELDS)
    if unknown:
        raise ContractError(unknown[0], f"is not a field of an action (fields: {', '.join(sorted(_FIELDS))})")
    raw_verb = record.get("action")
    if raw_verb not in {verb.value for verb in Verb}:
        raise ContractError("action", f"{show(raw_verb)} is not one of {', '.join(v.value for v in Verb)}")
    verb = Verb(raw_verb)
    if "ts" not in record:
        raise ContractError("ts", "is required")
    ts = parse_timestamp(record["ts"])
    by = _text(record, "by", required=True)
    role = _text(record, "role", required=True)
    if role not in PERMITTED:
        raise ContractError("role", f"{show(role)} is not one of {', '.join(PERMITTED)}")
    vendor = _text(record, "vendor", required=role == "vendor") or None
    if (vendor is None) != (role != "vendor"):
        raise ContractError("vendor", "a vendor's action names its vendor; no other role's does")
    if not permitted(role, verb):
        article = "an" if role[0] in "aeiou" else "a"
        raise ContractError("action", f"{article} {role} may not {verb.value} (may: {_allowed(role)})")
    reason = _text(record, "reason", required=verb in _NEEDS_REASON)
    # A field another verb uses is a mistake worth saying (a window given an incident id applies to no incident).
    misplaced = ["incident_id"] if verb is Verb.MAINTENANCE else ["scope", "starts_at", "ends_at"]
    for name in misplaced:
        if name in record:
            raise ContractError(name, f"is not a field of {verb.value} (action-v1.schema.json says which are)")
    if verb is not Verb.MAINTENANCE:
        return Action(verb, ts, by, role, reason, _text(record, "incident_id", required=True), vendor)
    scope = record.get("scope")
    if (
        not isinstance(scope, Mapping)
        or not scope
        or not all(_filled(name) and _filled(v) for name, v in scope.items())
    ):
        raise ContractError("scope", 'must name the dimension values under maintenance, e.g. {"service": "X"}')
    starts, ends = _time(record, "starts_at"), _time(record, "ends_at")
    if ends <= starts:
        raise ContractError("ends_at", "must be after starts_at")
    pairs = tuple(sorted((str(name), value.strip()) for name, value in scope.items()))
    return Action(verb, ts, by, role, reason, None, vendor, pairs, starts, ends)


def _time(record: Mapping[str, Any], name: str) -> float:
    try:
        return parse_timestamp(record.get(name))
    except ContractError as invalid:
        raise ContractError(name, invalid.reason) from None


def _text(record: Mapping[str, Any], name: str, required: bool) -> str:
    value = record.get(name)
    if value is None:
        if required:
            raise ContractError(name, "is required")
        return ""
    if not _filled(value):
        raise ContractError(name, f"must be a non-blank string, not {show(value)}")
    if len(value) > MAX_REASON:
        raise ContractError(name, f"at most {MAX_REASON} characters")
    return str(value)


def _filled(value: object) -> bool:
    """A string with something in it but blanks (as JSON Schema's ``\\S`` has it: Unicode spaces are blank)."""
    return isinstance(value, str) and _BLANK.fullmatch(value) is None


def _allowed(role: str) -> str:
    return ", ".join(sorted(verb.value for verb in PERMITTED[role]))


@dataclass(frozen=True, slots=True)
class _Hold:
    """A suppression in force: a maintenance window, or a dismissed incident's scope."""

    kind: str
    scope: tuple[tuple[str, str], ...]  # pooled values
    starts_at: float
    ends_at: float
    by: str
    reason: str
    customers: int | None = None  # a dismissed incident's: twice as many lift the hold

    def holds(self, scope: Mapping[str, str], at: float, customers: int) -> bool:
        if not self.starts_at <= at < self.ends_at:
            return False
        theirs = {(name, pool_key(value)) for name, value in scope.items()}
        if self.kind == "maintenance":
            return set(self.scope) <= theirs  # the incident lies within the window's scope
        assert self.customers is not None
        related = set(self.scope) <= theirs or theirs <= set(self.scope)
        return related and customers < 2 * max(self.customers, 1)

    def suppression(self) -> Suppression:
        return Suppression(self.kind, self.by, self.reason, format_time(self.ends_at))


@dataclass
class ActionBook:
    """The state people's actions leave: each open incident's latest event, who acknowledged what, and the
    holds (maintenance windows, dismissed scopes) in force. ``dismiss_hold``: seconds a dismissed scope stays
    suppressed."""

    dismiss_hold: float = 86_400.0
    latest: dict[str, IncidentEvent] = field(default_factory=dict)
    acknowledged: dict[str, Acknowledgement] = field(default_factory=dict)
    holds: list[_Hold] = field(default_factory=list)

    def take(
        self, actions: Sequence[Action], close: Callable[[str], object]
    ) -> tuple[list[IncidentEvent], list[Rejection]]:
        """A step's actions, in time order, before the step's detection: their events (at their own times),
        and the actions refused. ``close(incident_id)`` takes a resolved or dismissed incident out of the
        incident book, so that the step's detection no longer speaks for it."""
        out: list[IncidentEvent] = []
        rejected: list[Rejection] = []
        for action in sorted(actions, key=lambda a: (a.ts, a.verb.value, a.incident_id or "", a.by, a.reason)):
            try:
                made = self._apply(action, close)
            except ContractError as refused:
                rejected.append(Rejection(refused.field, refused.reason, action_record(action)))
                continue
            if made is not None:
                out.append(made)
        return out, rejected

    def mark(self, step_end: float, events: Sequence[IncidentEvent]) -> list[IncidentEvent]:
        """The detection's events of a step, marked acknowledged or suppressed as the actions say."""
        marked = [self._mark(event) for event in events]
        self.holds = [hold for hold in self.holds if hold.ends_at > step_end]
        return marked

    def _apply(self, action: Action, close: Callable[[str], object]) -> IncidentEvent | None:
        if action.verb is Verb.MAINTENANCE:
            assert action.starts_at is not None and action.ends_at is not None
            scope = tuple((name, pool_key(value)) for name, value in action.scope)
            self.holds.append(_Hold("maintenance", scope, action.starts_at, action.ends_at, action.by, action.reason))
            return None
        assert action.incident_id is not None
        latest = self.latest.get(action.incident_id)
        if latest is None:
            raise ContractError("incident_id", f"incident {action.incident_id!r} is not open (resolved or unknown)")
        if action.vendor is not None and action.vendor not in latest.vendors.involved():
            raise ContractError("vendor", f"incident {action.incident_id!r} does not concern vendor {action.vendor}")
        if action.verb is Verb.DENY and action.vendor not in latest.vendors.at_fault:
            raise ContractError("action", f"vendor {action.vendor} is not at fault in {action.incident_id!r}")
        at = format_time(action.ts)
        if action.verb is Verb.ACKNOWLEDGE:
            self.acknowledged[action.incident_id] = Acknowledgement(action.by, at)
        event = replace(
            latest,
            event=EVENT_OF[action.verb],
            at=at,
            reason=Reason.PERSON,
            merged_into=None,
            action=PersonAction(action.verb.value, action.by, action.role, action.reason, action.action_id),
            acknowledged=self.acknowledged.get(action.incident_id),
            event_id=None,
            number=None,
            severity=None,
        )
        if action.verb in (Verb.RESOLVE, Verb.DISMISS):
            close(action.incident_id)
            self._forget(action.incident_id)
            if action.verb is Verb.DISMISS:
                scope = tuple(sorted((name, pool_key(value)) for name, value in latest.scope.items()))
                customers = latest.evidence.customers
                hold = _Hold("dismissed", scope, action.ts, action.ts + self.dismiss_hold, action.by, action.reason)
                self.holds.append(replace(hold, customers=customers))
        else:
            self.latest[action.incident_id] = event
        return event

    def _mark(self, event: IncidentEvent) -> IncidentEvent:
        at = parse_timestamp(event.at)
        hold = next(
            (h for h in self.holds if h.holds(event.scope, at, event.evidence.customers)),
            None,
        )
        marked = replace(
            event,
            acknowledged=self.acknowledged.get(event.incident_id),
            suppressed=hold.suppression() if hold is not None else None,
        )
        if event.resolved:
            self._forget(event.incident_id)
        else:
            self.latest[event.incident_id] = marked
        return marked

    def _forget(self, incident_id: str) -> None:
        self.latest.pop(incident_id, None)
        self.acknowledged.pop(incident_id, None)
