"""Stitching: one customer, many channels, many partners.

A customer who tries email, then chat, then the phone is one reporter, not three. The stitcher gives each
accepted contact its canonical dimension values (``"sonique "`` and ``"Sonique"`` are one brand, spelled as
first seen), marks whether this contact brings a *new reporter* to its profile within the counting window, and
keeps each customer's recent journey across channels.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter

from correlate.contracts import Contact

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
# How long a quiet customer's journey, and the id of an aggregated partner record, are remembered (seconds).
_KEEP_JOURNEYS = 7 * 86_400

Profile = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class StitchedContact:
    """An accepted contact with canonical dimensions and its weight as evidence.

    ``reporters`` is how many *new* distinct reporters this contact adds to its profile in the counting
    window: ``count`` for a partner's aggregated record, 1 for a customer's first contact, 0 for a repeat.
    ``repeat`` is true when this very contact (same ``source`` and ``contact_id``) was stitched before, e.g. a
    redelivered message: it adds no reporters and is not added to the journey again.
    """

    contact: Contact
    profile: Profile
    reporters: int
    repeat: bool = False

    @property
    def dimensions(self) -> Mapping[str, str]:
        return dict(self.profile)


class Spellings:
    """First-seen spelling for each dimension value, so that case and punctuation variants pool together."""

    def __init__(self) -> None:
        self._canonical: dict[tuple[str, str], str] = {}
        self._by_key: dict[tuple[str, str], str] = {}

    def canonical(self, name: str, value: str) -> str:
        known = self._canonical.get((name, value))
        if known is not None:
            return known
        key = (name, _NOT_ALNUM.sub("", value.casefold()))
        spelling = self._by_key.setdefault(key, value.strip())
        self._canonical[(name, value)] = spelling
        return spelling


@dataclass(frozen=True, slots=True)
class JourneyStep:
    ts: float
    channel: str
    contact_id: str
    source: str


class Stitcher:
    """Decides which contacts are new evidence and remembers each customer's recent attempts.

    A customer counts once per profile per ``window`` seconds, however many times and on however many channels
    they get in touch. A contact seen before (same source and contact id) is processed once. Memory is
    bounded: as event time moves on, (customer, profile) entries older than the window are dropped, and
    journeys and aggregated records' ids after seven quiet days.
    """

    def __init__(self, window: float, journey_length: int = 10) -> None:
        self.window = window
        self.journey_length = journey_length
        self._spellings = Spellings()
        self._counted_at: dict[tuple[str, Profile], float] = {}
        self._journeys: dict[str, deque[JourneyStep]] = {}
        self._aggregates_seen: dict[tuple[str, str], float] = {}
        self._next_prune = float("-inf")

    def stitch(self, contact: Contact) -> StitchedContact:
        canonical = self._spellings.canonical
        profile = tuple(
            sorted(
                (name, canonical(name, value)) for name, value in contact.dimensions.items() if value.strip()
            )
        )
        journey = self._journeys.get(contact.customer_id)
        if self._is_repeat(contact, journey):
            return StitchedContact(contact, profile, 0, repeat=True)
        if contact.count > 1:
            self._aggregates_seen[(contact.source, contact.contact_id)] = contact.ts
            reporters = contact.count
        else:
            key = (contact.customer_id, profile)
            last = self._counted_at.get(key)
            if last is None or contact.ts - last >= self.window:
                self._counted_at[key] = contact.ts
                reporters = 1
            else:
                reporters = 0
        if journey is None:
            journey = self._journeys[contact.customer_id] = deque(maxlen=self.journey_length)
        journey.append(JourneyStep(contact.ts, contact.channel, contact.contact_id, contact.source))
        if contact.ts >= self._next_prune:
            self._prune(contact.ts)
        return StitchedContact(contact, profile, reporters)

    def journey(self, customer_id: str, now: float, horizon: float) -> list[JourneyStep]:
        """The customer's contacts in the ``horizon`` seconds up to ``now``, oldest first (by event time).

        At most ``journey_length`` contacts are kept per customer, and none after seven quiet days.
        """
        steps = self._journeys.get(customer_id, ())
        return sorted((step for step in steps if now - horizon <= step.ts <= now), key=attrgetter("ts"))

    def memory(self) -> dict[str, int]:
        """How many entries each of the stitcher's memories holds: for tests and a memory gauge."""
        return {
            "reporters": len(self._counted_at),
            "journeys": len(self._journeys),
            "aggregates": len(self._aggregates_seen),
        }

    def _is_repeat(self, contact: Contact, journey: deque[JourneyStep] | None) -> bool:
        if contact.count > 1:
            return (contact.source, contact.contact_id) in self._aggregates_seen
        return journey is not None and any(
            step.contact_id == contact.contact_id and step.source == contact.source for step in journey
        )

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        self._counted_at = {key: ts for key, ts in self._counted_at.items() if ts > horizon}
        journey_horizon = now - _KEEP_JOURNEYS
        self._journeys = {cid: j for cid, j in self._journeys.items() if j and j[-1].ts > journey_horizon}
        self._aggregates_seen = {key: ts for key, ts in self._aggregates_seen.items() if ts > journey_horizon}
        self._next_prune = now + self.window
