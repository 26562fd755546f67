"""What the core publishes: incident events and customer notifications, as types.

Every other module reads them by attribute; their JSON is written in exactly one place (``to_json``, the dict
orjson writes: key order and which keys appear are part of the output, so ``replay`` and the stream workers stay
byte-identical) and read back in exactly one place (``from_json``, for what comes back from Kafka, Redis or an
events file). ``from_json`` checks the shape and raises :class:`ValueError` naming the field, so a reader can
skip a record that is not an event with the reason.

The JSON Schemas shipped in ``correlate/schemas`` (``incident-event-v1``, ``customer-notification-v1``,
``follow-up-notice-v1``) are generated from these types (``tests/event_schemas.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal, TypedDict, TypeVar

from correlate.contracts import parse_timestamp
from correlate.errors import ContractError
from correlate.lifecycle import Reason
from correlate.severity import Severity

__all__ = [
    "CLOSING",
    "RANK",
    "Acknowledgement",
    "CustomerNotification",
    "Event",
    "EventName",
    "EvidenceKind",
    "FollowUpNotice",
    "IncidentEvent",
    "IncidentEvidence",
    "IncidentHeadline",
    "Kind",
    "NotificationName",
    "PersonAction",
    "Suppression",
    "SymptomEvidence",
    "TelemetryEvidence",
    "VendorStatement",
    "Vendors",
    "from_json",
]


class EventName(StrEnum):
    """An incident's lifecycle events, in the order they can happen at one event time; the last four are
    people's actions (:mod:`correlate.actions`), as is a ``resolved`` whose reason is ``person``."""

    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"
    NOTED = "noted"
    DENIED = "denied"


# Events after which an incident is closed: nothing follows them.
CLOSING: Final = frozenset({EventName.RESOLVED, EventName.DISMISSED})


class NotificationName(StrEnum):
    """A monitored device's customer told that their device stopped reporting."""

    CUSTOMER_NOTIFICATION = "customer-notification"


class Kind(StrEnum):
    """What opened an incident: a rise in contacts, a rare symptom, heartbeats gone quiet, a vendor's word."""

    RATE = "rate"
    SYMPTOM = "symptom"
    SILENCE = "silence"
    VENDOR = "vendor"


class EvidenceKind(StrEnum):
    """What an incident's evidence is made of: customers' contacts, devices' heartbeats, a vendor's word."""

    CONTACTS = "contacts"
    TELEMETRY = "telemetry"
    VENDOR = "vendor"


# opened < updated < resolved at one event time: a reader keeping the latest state orders by (at, rank).
RANK: Final = {
    EventName.OPENED: 0,
    EventName.UPDATED: 1,
    EventName.RESOLVED: 2,
    # People's actions carry their own time, which is never a step's end: they never tie with the above.
    EventName.ACKNOWLEDGED: 3,
    EventName.DISMISSED: 3,
    EventName.NOTED: 3,
    EventName.DENIED: 3,
}


@dataclass(frozen=True, slots=True)
class Vendors:
    """Registered vendors the incident concerns: ``at_fault`` (its scope names them) and ``affected``."""

    at_fault: tuple[str, ...]
    affected: tuple[str, ...]

    def involved(self) -> list[str]:
        """Every vendor the incident concerns, each once, sorted."""
        return sorted({*self.at_fault, *self.affected})

    def to_json(self) -> dict[str, Any]:
        return {"at_fault": list(self.at_fault), "affected": list(self.affected)}

    @classmethod
    def from_json(cls, data: object) -> Vendors:
        obj = _object(data, "vendors")
        return cls(_strings(obj, "at_fault", "vendors"), _strings(obj, "affected", "vendors"))


@dataclass(frozen=True, slots=True)
class TelemetryEvidence:
    """The heartbeats that stopped coming: the silence finding behind an incident."""

    scope: dict[str, str]
    heartbeats: float
    expected: float
    window_minutes: float
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": dict(self.scope),
            "heartbeats": self.heartbeats,
            "expected": self.expected,
            "window_minutes": self.window_minutes,
            "p_value": self.p_value,
        }

    @classmethod
    def from_json(cls, data: object) -> TelemetryEvidence:
        obj = _object(data, "evidence.telemetry")
        where = "evidence.telemetry"
        return cls(
            scope=_scope(obj, "scope", where),
            heartbeats=_number(obj, "heartbeats", where),
            expected=_number(obj, "expected", where),
            window_minutes=_number(obj, "window_minutes", where),
            p_value=_number(obj, "p_value", where),
        )


@dataclass(frozen=True, slots=True)
class SymptomEvidence:
    """What a symptom incident counted: the distinct customers who described the symptom in the window (apart
    from ``contacts`` and ``customers``, which count everyone on the incident's scope), and a few of their texts,
    the most typical first."""

    customers: int
    exemplars: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"customers": self.customers, "exemplars": list(self.exemplars)}

    @classmethod
    def from_json(cls, data: object) -> SymptomEvidence:
        obj = _object(data, "evidence.symptom")
        where = "evidence.symptom"
        return cls(customers=_integer(obj, "customers", where), exemplars=_strings(obj, "exemplars", where))


@dataclass(frozen=True, slots=True)
class IncidentEvidence:
    """What the reports in the incident's scope say; ``telemetry`` only where heartbeats are evidence."""

    contacts: int
    customers: int
    observed: float
    expected: float
    window_minutes: float
    by_channel: dict[str, int]
    by_source: dict[str, int]
    categories: dict[str, int]
    first_contact_at: str | None
    sample_texts: tuple[str, ...]
    telemetry: TelemetryEvidence | None = None
    symptom: SymptomEvidence | None = None  # on a symptom incident: the customers who described it

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "contacts": self.contacts,
            "customers": self.customers,
            "observed": self.observed,
            "expected": self.expected,
            "window_minutes": self.window_minutes,
            "by_channel": dict(self.by_channel),
            "by_source": dict(self.by_source),
            "categories": dict(self.categories),
            "first_contact_at": self.first_contact_at,
            "sample_texts": list(self.sample_texts),
        }
        if self.telemetry is not None:
            data["telemetry"] = self.telemetry.to_json()
        if self.symptom is not None:
            data["symptom"] = self.symptom.to_json()
        return data

    @classmethod
    def from_json(cls, data: object) -> IncidentEvidence:
        obj = _object(data, "evidence")
        where = "evidence"
        telemetry = obj.get("telemetry")
        symptom = obj.get("symptom")
        first = None if obj.get("first_contact_at") is None else _time(obj, "first_contact_at", where)
        return cls(
            contacts=_integer(obj, "contacts", where),
            customers=_integer(obj, "customers", where),
            observed=_number(obj, "observed", where),
            expected=_number(obj, "expected", where),
            window_minutes=_number(obj, "window_minutes", where),
            by_channel=_counts(obj, "by_channel", where),
            by_source=_counts(obj, "by_source", where),
            categories=_counts(obj, "categories", where),
            first_contact_at=first,
            sample_texts=_strings(obj, "sample_texts", where),
            telemetry=TelemetryEvidence.from_json(telemetry) if telemetry is not None else None,
            symptom=SymptomEvidence.from_json(symptom) if symptom is not None else None,
        )


@dataclass(frozen=True, slots=True)
class VendorStatement:
    """A vendor's own declared incident, as its status feed last said it."""

    vendor: str
    status_id: str
    status: str
    component: str
    scope: dict[str, str]
    message: str
    declared_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "status_id": self.status_id,
            "status": self.status,
            "component": self.component,
            "scope": dict(self.scope),
            "message": self.message,
            "declared_at": self.declared_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: object) -> VendorStatement:
        obj = _object(data, "vendor_status")
        where = "vendor_status"
        return cls(
            vendor=_string(obj, "vendor", where),
            status_id=_string(obj, "status_id", where),
            status=_string(obj, "status", where),
            component=_string(obj, "component", where),
            scope=_scope(obj, "scope", where),
            message=_string(obj, "message", where),
            declared_at=_time(obj, "declared_at", where),
            updated_at=_time(obj, "updated_at", where),
        )


@dataclass(frozen=True, slots=True)
class PersonAction:
    """Who did what to the incident and why: on the event a person's action made (``acknowledged``,
    ``dismissed``, ``noted``, ``denied``, and ``resolved`` with reason ``person``)."""

    action: str
    by: str
    role: str
    reason: str
    action_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "by": self.by,
            "role": self.role,
            "reason": self.reason,
            "action_id": self.action_id,
        }

    @classmethod
    def from_json(cls, data: object) -> PersonAction:
        obj = _object(data, "action")
        where = "action"
        return cls(*(_string(obj, key, where) for key in ("action", "by", "role", "reason", "action_id")))


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Someone has the incident: it stops paging. On every event of the incident after it."""

    by: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "at": self.at}

    @classmethod
    def from_json(cls, data: object) -> Acknowledgement:
        obj = _object(data, "acknowledged")
        return cls(_string(obj, "by", "acknowledged"), _time(obj, "at", "acknowledged"))


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why an event is recorded but neither paged nor sent to vendors: a maintenance window over its scope, or
    a dismissed incident on the same scope not long ago (``kind`` ``maintenance`` or ``dismissed``)."""

    kind: str
    by: str
    reason: str
    until: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "by": self.by, "reason": self.reason, "until": self.until}

    @classmethod
    def from_json(cls, data: object) -> Suppression:
        obj = _object(data, "suppressed")
        where = "suppressed"
        return cls(
            _string(obj, "kind", where),
            _string(obj, "by", where),
            _string(obj, "reason", where),
            _time(obj, "until", where),
        )


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One lifecycle event of an incident, as published on ``incidents`` and the vendors' topics.

    ``reason`` says why an ``updated`` or ``resolved`` came (never on ``opened``). ``evidence_kinds`` and
    ``vendor_status`` appear once telemetry or a vendor is part of the evidence (contacts alone: neither);
    ``merged_into`` only on the last event of a silence a wider one took in. Times are RFC 3339 text as
    :func:`correlate.contracts.format_time` writes them. ``p_value`` is null on a vendor's word alone.

    ``event_id`` (unique per event), ``number`` (``INC-1042``: the incident's short name, for people) and
    ``severity`` (:class:`correlate.severity.Severity`) are stamped on after detection (:mod:`correlate.stamps`),
    deterministically from the event stream.
    """

    event: EventName
    incident_id: str
    kind: Kind
    opened_at: str
    at: str
    scope: dict[str, str]
    vendors: Vendors
    evidence: IncidentEvidence
    confidence: float
    p_value: float | None
    summary: str
    reason: Reason | None = None
    evidence_kinds: tuple[EvidenceKind, ...] | None = None
    vendor_status: VendorStatement | None = None
    merged_into: str | None = None
    event_id: str | None = None
    number: str | None = None
    severity: Severity | None = None
    action: PersonAction | None = None
    acknowledged: Acknowledgement | None = None
    suppressed: Suppression | None = None

    @property
    def resolved(self) -> bool:
        """Closed: resolved (by the data or a person) or dismissed."""
        return self.event in CLOSING

    def headline(self) -> IncidentHeadline:
        return IncidentHeadline(
            event=self.event,
            incident_id=self.incident_id,
            kind=self.kind,
            opened_at=self.opened_at,
            at=self.at,
            scope=self.scope,
            vendors=self.vendors,
            customers=self.evidence.customers,
            categories=self.evidence.categories,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "event": self.event.value,
            "incident_id": self.incident_id,
            "kind": self.kind.value,
            "opened_at": self.opened_at,
            "at": self.at,
        }
        if self.reason is not None:
            data["reason"] = self.reason.value
        data["scope"] = dict(self.scope)
        data["vendors"] = self.vendors.to_json()
        data["evidence"] = self.evidence.to_json()
        data["confidence"] = self.confidence
        data["p_value"] = self.p_value
        data["summary"] = self.summary
        if self.evidence_kinds is not None:
            data["evidence_kinds"] = [kind.value for kind in self.evidence_kinds]
        if self.vendor_status is not None:
            data["vendor_status"] = self.vendor_status.to_json()
        if self.merged_into is not None:
            data["merged_into"] = self.merged_into
        # Stamped by correlate.stamps after detection: last, so that the detection's own fields read as before.
        if self.event_id is not None:
            data["event_id"] = self.event_id
        if self.number is not None:
            data["number"] = self.number
        if self.severity is not None:
            data["severity"] = self.severity.value
        if self.action is not None:
            data["action"] = self.action.to_json()
        if self.acknowledged is not None:
            data["acknowledged"] = self.acknowledged.to_json()
        if self.suppressed is not None:
            data["suppressed"] = self.suppressed.to_json()
        return data

    @classmethod
    def from_json(cls, data: object) -> IncidentEvent:
        obj = _object(data, "event")
        where = "event"
        reason = obj.get("reason")
        kinds = obj.get("evidence_kinds")
        status = obj.get("vendor_status")
        merged = obj.get("merged_into")
        p_value = obj.get("p_value")
        if merged is not None and not isinstance(merged, str):
            raise ValueError("merged_into: not a string")
        return cls(
            event=_enum(EventName, obj, "event"),
            incident_id=_string(obj, "incident_id", where),
            kind=_enum(Kind, obj, "kind"),
            opened_at=_time(obj, "opened_at", where),
            at=_time(obj, "at", where),
            scope=_scope(obj, "scope", where),
            vendors=Vendors.from_json(obj.get("vendors")),
            evidence=IncidentEvidence.from_json(obj.get("evidence")),
            confidence=_number(obj, "confidence", where),
            p_value=None if p_value is None else _number(obj, "p_value", where),
            summary=_string(obj, "summary", where),
            reason=None if reason is None else _enum(Reason, obj, "reason"),
            evidence_kinds=None if kinds is None else _enums(EvidenceKind, obj, "evidence_kinds"),
            vendor_status=None if status is None else VendorStatement.from_json(status),
            merged_into=merged,
            event_id=_optional_string(obj, "event_id"),
            number=_optional_string(obj, "number"),
            severity=_optional_severity(obj),
            action=None if obj.get("action") is None else PersonAction.from_json(obj["action"]),
            acknowledged=None if obj.get("acknowledged") is None else Acknowledgement.from_json(obj["acknowledged"]),
            suppressed=None if obj.get("suppressed") is None else Suppression.from_json(obj["suppressed"]),
        )


@dataclass(frozen=True, slots=True)
class IncidentHeadline:
    """The part of an incident's latest event that the agents' banner needs, a tenth of the event's size: the
    incident store keeps it beside the event, and the banner parses it on every lookup. Its JSON has the event's
    own keys (``evidence`` holds only ``customers`` and ``categories``)."""

    event: EventName
    incident_id: str
    kind: Kind
    opened_at: str
    at: str
    scope: dict[str, str]
    vendors: Vendors
    customers: int
    categories: dict[str, int]

    @property
    def resolved(self) -> bool:
        return self.event is EventName.RESOLVED

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event.value,
            "incident_id": self.incident_id,
            "kind": self.kind.value,
            "opened_at": self.opened_at,
            "at": self.at,
            "scope": dict(self.scope),
            "vendors": self.vendors.to_json(),
            "evidence": {"customers": self.customers, "categories": dict(self.categories)},
        }

    @classmethod
    def from_json(cls, data: object) -> IncidentHeadline:
        obj = _object(data, "event")
        where = "event"
        evidence = _object(obj.get("evidence"), "evidence")
        return cls(
            event=_enum(EventName, obj, "event"),
            incident_id=_string(obj, "incident_id", where),
            kind=_enum(Kind, obj, "kind"),
            opened_at=_time(obj, "opened_at", where),
            at=_time(obj, "at", where),
            scope=_scope(obj, "scope", where),
            vendors=Vendors.from_json(obj.get("vendors")),
            customers=_integer(evidence, "customers", "evidence"),
            categories=_counts(evidence, "categories", "evidence"),
        )


@dataclass(frozen=True, slots=True)
class CustomerNotification:
    """A monitored device gone quiet, for its customer; ``related_incident`` names the open incident that
    covers the device, if any (a known, wider fault). No incident's event: it goes to ``notifications``."""

    device_id: str
    customer_id: str
    at: str
    last_seen_at: str
    silent_minutes: float
    usual_gap_minutes: float
    dimensions: dict[str, str]
    related_incident: str | None
    summary: str
    event: NotificationName = NotificationName.CUSTOMER_NOTIFICATION

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event.value,
            "device_id": self.device_id,
            "customer_id": self.customer_id,
            "at": self.at,
            "last_seen_at": self.last_seen_at,
            "silent_minutes": self.silent_minutes,
            "usual_gap_minutes": self.usual_gap_minutes,
            "dimensions": dict(self.dimensions),
            "related_incident": self.related_incident,
            "summary": self.summary,
        }

    @classmethod
    def from_json(cls, data: object) -> CustomerNotification:
        obj = _object(data, "notification")
        where = "notification"
        related = obj.get("related_incident")
        if related is not None and not isinstance(related, str):
            raise ValueError("related_incident: not a string or null")
        if "incident_id" in obj:
            raise ValueError("incident_id: a resolved incident's notice to a follow-up customer, not a device's")
        return cls(
            event=_enum(NotificationName, obj, "event"),
            device_id=_string(obj, "device_id", where),
            customer_id=_string(obj, "customer_id", where),
            at=_time(obj, "at", where),
            last_seen_at=_time(obj, "last_seen_at", where),
            silent_minutes=_number(obj, "silent_minutes", where),
            usual_gap_minutes=_number(obj, "usual_gap_minutes", where),
            dimensions=_scope(obj, "dimensions", where),
            related_incident=related,
            summary=_string(obj, "summary", where),
        )


class FollowUpNotice(TypedDict):
    """A customer who contacted us about an incident, told that it is fixed: the API's notifier writes one per
    follow-up customer to ``notifications`` when the incident resolves (keyed by ``notification_id``, one per
    customer and incident). Unlike a :class:`CustomerNotification` it names its ``incident_id``."""

    event: Literal["customer-notification"]
    notification_id: str
    incident_id: str
    customer_id: str
    contact_id: str | None
    source: str | None
    at: str
    scope: dict[str, str]
    message: str


Event = IncidentEvent | CustomerNotification


def from_json(data: object) -> Event:
    """An incident event or a customer notification from its decoded JSON; ValueError (naming the field) if it
    is neither."""
    name = _object(data, "event").get("event")
    if name == NotificationName.CUSTOMER_NOTIFICATION:
        return CustomerNotification.from_json(data)
    return IncidentEvent.from_json(data)


# -- shape checks for from_json ----------------------------------------------------------------------------
_E = TypeVar("_E", bound=StrEnum)


def _object(data: object, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: not a JSON object")
    return data


def _string(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{_path(where, key)}: missing or not a string")
    return value


def _optional_string(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key}: not a string")
    return value


def _optional_severity(obj: Mapping[str, Any]) -> Severity | None:
    return None if obj.get("severity") is None else _enum(Severity, obj, "severity")


def _time(obj: Mapping[str, Any], key: str, where: str) -> str:
    """An RFC 3339 time, kept as the text it is (what was written is what is written again)."""
    value = _string(obj, key, where)
    try:
        parse_timestamp(value)
    except ContractError:
        raise ValueError(f"{_path(where, key)}: not an RFC 3339 time") from None
    return value


def _number(obj: Mapping[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{_path(where, key)}: missing or not a number")
    return value


def _integer(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{_path(where, key)}: missing or not an integer")
    return value


def _scope(obj: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key)
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{_path(where, key)}: must be an object of strings")
    return dict(value)


def _counts(obj: Mapping[str, Any], key: str, where: str) -> dict[str, int]:
    value = obj.get(key)
    if not isinstance(value, Mapping) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value.values()
    ):
        raise ValueError(f"{_path(where, key)}: must be an object of integers")
    return dict(value)


def _strings(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = obj.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{_path(where, key)}: must be an array of strings")
    return tuple(value)


def _enum(kind: type[_E], obj: Mapping[str, Any], key: str) -> _E:
    value = obj.get(key)
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ValueError(f"{key}: {value!r} is not one of {known}") from None


def _enums(kind: type[_E], obj: Mapping[str, Any], key: str) -> tuple[_E, ...]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise ValueError(f"{key}: must be an array")
    return tuple(_enum(kind, {key: item}, key) for item in value)


def _path(where: str, key: str) -> str:
    return key if where in ("event", "notification") else f"{where}.{key}"
