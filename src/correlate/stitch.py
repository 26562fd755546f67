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
from typing import NamedTuple

from correlate.contracts import Contact

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
# How long a quiet customer's journey is remembered (seconds).
_KEEP_JOURNEYS = 7 * 86_400
# Profiles are cached by their raw dimension items; a feed with endless variants must not grow it forever.
_PROFILE_CACHE = 100_000

Profile = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class StitchedContact:
    """An accepted contact with canonical dimensions and its weight as evidence.

    ``reporters`` is how many *new* distinct reporters this contact adds to its profile in the counting
    window: ``count`` for a partner's aggregated record, 1 for a customer's first contact, 0 for a repeat.
    (Treated as immutable; not frozen because one is built per contact and frozen dataclasses are slow.)
    """

    contact: Contact
    profile: Profile
    reporters: int

    @property
    def dimensions(self) -> Mapping[str, str]:
        return dict(self.profile)


class Spellings:
    """First-seen spelling for each dimension value, so that case and punctuation variants pool together."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], str] = {}

    def canonical(self, name: str, value: str) -> str:
        key = (name, _NOT_ALNUM.sub("", value.casefold()))
        return self._by_key.setdefault(key, value.strip())


class JourneyStep(NamedTuple):
    """One attempt in a customer's journey (a named tuple: one is made for every contact)."""

    ts: float
    channel: str
    contact_id: str
    source: str


class Stitcher:
    """Decides which contacts are new evidence and remembers each customer's recent attempts.

    A customer counts once per profile per ``window`` seconds, however many times and on however many channels
    they get in touch. Repeated contact ids are dropped before this point (the engine does that). Memory is
    bounded: (customer, profile) entries leave once the window has passed, journeys after seven quiet days;
    both are expired from queues in event-time order, so pruning costs only what it removes.
    """

    def __init__(self, window: float, journey_length: int = 10) -> None:
        self.window = window
        self.journey_length = journey_length
        self._spellings = Spellings()
        self._profiles: dict[tuple[str, ...], Profile] = {}
        self._counted_at: dict[tuple[str, Profile], float] = {}
        self._counted_order: deque[tuple[float, tuple[str, Profile]]] = deque()
        self._journeys: dict[str, list[JourneyStep]] = {}
        self._journey_order: deque[tuple[float, str]] = deque()

    def stitch(self, contact: Contact) -> StitchedContact:
        ts, customer = contact.ts, contact.customer_id
        profile = self.profile(contact.dimensions)
        if contact.count > 1:
            reporters = contact.count
        else:
            key = (customer, profile)
            last = self._counted_at.get(key)
            if last is None or ts - last >= self.window:
                self._counted_at[key] = ts
                self._counted_order.append((ts, key))
                reporters = 1
            else:
                reporters = 0
        # A list cut to the last journey_length steps rather than a deque with maxlen: most customers call once
        # in seven days, and a one-step deque weighs 760 bytes, a one-step list 88 (tens of MB in a replay).
        journey = self._journeys.get(customer)
        if journey is None:
            journey = self._journeys[customer] = []
        journey.append(JourneyStep(ts, contact.channel, contact.contact_id, contact.source))
        if len(journey) > self.journey_length:
            del journey[0]
        journey_order, counted_order = self._journey_order, self._counted_order
        journey_order.append((ts, customer))
        # The same tests _expire starts with: most contacts expire nothing, and skip the call.
        if journey_order[0][0] <= ts - _KEEP_JOURNEYS or (counted_order and counted_order[0][0] <= ts - self.window):
            self._expire(ts)
        return StitchedContact(contact, profile, reporters)

    def profile(self, dimensions: Mapping[str, str]) -> Profile:
        """Canonical, sorted (name, value) pairs; empty values mean unknown and are left out."""
        # Cached by names then values, one flat tuple: cheaper to build and hash than a tuple of pairs, and as
        # unambiguous (its first half names, its second half values).
        raw = (*dimensions, *dimensions.values())
        known = self._profiles.get(raw)
        if known is None:
            if len(self._profiles) >= _PROFILE_CACHE:
                self._profiles.clear()
            canonical = self._spellings.canonical
            items = dimensions.items()
            known = tuple(sorted((name, canonical(name, value)) for name, value in items if value.strip()))
            self._profiles[raw] = known
        return known

    def journey(self, customer_id: str, now: float, horizon: float) -> list[JourneyStep]:
        """The customer's contacts in the ``horizon`` seconds up to ``now``, oldest first (by event time).

        At most ``journey_length`` contacts are kept per customer, and none after seven quiet days.
        """
        steps = self._journeys.get(customer_id, ())
        return sorted((step for step in steps if now - horizon <= step.ts <= now), key=attrgetter("ts"))

    def memory(self) -> dict[str, int]:
        """How many entries each of the stitcher's memories holds: for tests and a memory gauge."""
        return {"reporters": len(self._counted_at), "journeys": len(self._journeys)}

    def _expire(self, now: float) -> None:
        counted, order = self._counted_at, self._counted_order
        horizon = now - self.window
        while order and order[0][0] <= horizon:
            ts, key = order.popleft()
            if counted.get(key) == ts:
                del counted[key]
        journeys, journey_order = self._journeys, self._journey_order
        journey_horizon = now - _KEEP_JOURNEYS
        while journey_order and journey_order[0][0] <= journey_horizon:
            ts, customer = journey_order.popleft()
            journey = journeys.get(customer)
            if journey is not None and journey[-1].ts <= ts:
                del journeys[customer]
