"""What every incident event carries for the people and tools downstream: an event id, a readable number, a severity.

Stamped after detection, in event order, by state that lives beside the incident book:

- ``number``: ``INC-1001``, ``INC-1002``, ... in the order incidents open. A counter, not a hash: four digits are
  easy to read out over the phone and never collide. It is a function of the event stream alone, so ``replay``
  and the stream workers (whose leader rebuilds from the start of ``contacts.accepted`` on every takeover) give
  every incident the same number; a deployment whose accepted topic no longer holds its first contacts numbers
  from where its retention starts.
- ``event_id``: a UUID (version 5) of the incident id and the event's place in the incident's life (0 for
  ``opened``, 1 for the next, ...): unique per event, the same every time the stream is replayed, and what a
  consumer de-duplicates on (it is the CloudEvents ``id``).
- ``severity``: :func:`correlate.severity.assess` of the event, never lower than the incident's earlier events
  said (a page is not withdrawn because the next event happened to look milder), so each incident pages once
  at the level it has reached.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final

from correlate.events import CLOSING, Event, IncidentEvent
from correlate.severity import LEVELS, SeverityFacts, SeverityRules, assess

__all__ = ["EVENT_NAMESPACE", "FIRST_NUMBER", "Stamper", "event_id", "severity_facts"]

# The namespace of correlate's event ids (uuid5 of the URL of the incident-event schema).
EVENT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://correlate.dev/schemas/incident-event-v1.schema.json")
FIRST_NUMBER: Final = 1001


def event_id(incident_id: str, sequence: int) -> str:
    """The id of an incident's ``sequence``-th event (0: its ``opened``)."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{incident_id}/{sequence}"))


def severity_facts(event: IncidentEvent, previous_customers: int | None) -> SeverityFacts:
    """What :func:`assess` reads of an event: customers affected are the callers, or the devices gone quiet
    behind a silence (expected heartbeats missing), whichever is more."""
    customers = event.evidence.customers
    telemetry = event.evidence.telemetry
    if telemetry is not None:
        customers = max(customers, round(telemetry.expected - telemetry.heartbeats))
    kinds = len(event.evidence_kinds) if event.evidence_kinds is not None else 1
    return SeverityFacts(
        customers=customers,
        previous_customers=previous_customers,
        evidence_kinds=kinds,
        vendors_at_fault=len(event.vendors.at_fault),
        confidence=event.confidence,
        vendor_declared=event.vendor_status is not None,
    )


@dataclass
class _Life:
    number: str
    events: int = 0
    customers: int | None = None
    level: int = 0


class Stamper:
    """The per-deployment counter and each open incident's history, stamping events as they are released."""

    def __init__(self, rules: SeverityRules | None = None, first_number: int = FIRST_NUMBER) -> None:
        self.rules = rules or SeverityRules()
        self.next_number = first_number
        self.lives: dict[str, _Life] = {}

    def number_of(self, incident_id: str) -> str | None:
        life = self.lives.get(incident_id)
        return None if life is None else life.number

    def stamp(self, events: Iterable[Event]) -> list[Event]:
        """The events with ``event_id``, ``number`` and ``severity`` set (customer notifications as they are)."""
        out: list[Event] = []
        for event in events:
            out.append(self._stamp(event) if isinstance(event, IncidentEvent) else event)
        return out

    def _stamp(self, event: IncidentEvent) -> IncidentEvent:
        life = self.lives.get(event.incident_id)
        if life is None:
            life = self.lives[event.incident_id] = _Life(f"INC-{self.next_number}")
            self.next_number += 1
        facts = severity_facts(event, life.customers)
        life.level = max(life.level, LEVELS.index(assess(facts, self.rules)))
        stamped = replace(
            event,
            event_id=event_id(event.incident_id, life.events),
            number=life.number,
            severity=LEVELS[life.level],
        )
        life.events += 1
        life.customers = facts.customers
        if event.event in CLOSING:
            del self.lives[event.incident_id]
        return stamped
