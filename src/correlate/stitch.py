"""Stitching: one customer, many channels, many partners.

A customer who tries email, then chat, then the phone is one reporter, not three. The stitcher gives each
accepted contact its canonical dimension values (``"sonique "`` and ``"Sonique"`` are one brand, spelled as
first seen) and marks whether this contact brings a *new reporter* to its profile within the counting window.
The customer's journey across channels, which agents see, is kept by the store (``store.py``), beside the
incidents the API serves: the detection core needs only the reporters.

Every (name, value) the stitcher profiles becomes cells the detectors count, so what it profiles is budgeted: at
most ``max_dimension_names`` names and ``max_values_per_dimension`` values of each name in use within a budget
window (``dimension_budget_window``: a name or value unused for a window frees its place). A name or value past
its budget is left out of the contact's profile and counted (``left_out``), and the contact still counts on its
other dimensions: a feed that invents a new dimension or brand for every record costs correlate a counter, not
its memory.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

from correlate.contracts import Contact
from correlate.limits import DEFAULT_LIMITS, Limits

__all__ = ["BudgetedSpellings", "Profile", "Spellings", "StitchedContact", "Stitcher", "pool_key"]

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
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
        key = (name, pool_key(value))
        return self._by_key.setdefault(key, value.strip())


def pool_key(value: str) -> str:
    """What two spellings of one value share: ``"sonique "``, ``"Sonique"`` and ``"SONIQUE"`` pool together."""
    return _NOT_ALNUM.sub("", value.casefold())


class BudgetedSpellings:
    """:class:`Spellings` within a budget: names and values are admitted while their budget has room, and a budget
    window unused frees their place.

    Two generations of one window each: what the current one lacks is looked up in the previous one (keeping its
    first-seen spelling) and carried over, so a value in use keeps its place and its spelling however long it
    lives, and one unused for two windows is forgotten.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._current: dict[str, dict[str, str]] = {}
        self._previous: dict[str, dict[str, str]] = {}
        self.generation_ends = float("-inf")

    def renew(self, now: float) -> None:
        """Start a new generation at event time ``now``."""
        self._previous, self._current = self._current, {}
        self.generation_ends = now + self.limits.dimension_budget_window

    def canonical(self, name: str, value: str) -> str | None:
        """The value's first-seen spelling, or None when its name or value is past the budget."""
        values = self._current.get(name)
        if values is None:
            if len(self._current) >= self.limits.max_dimension_names:
                return None
            values = self._current[name] = {}
        key = pool_key(value)
        known = values.get(key)
        if known is None:
            if len(values) >= self.limits.max_values_per_dimension:
                return None
            known = values[key] = self._previous.get(name, {}).get(key) or value.strip()
        return known

    def size(self) -> int:
        """Values held in both generations, for the memory gauge."""
        return sum(map(len, self._current.values())) + sum(map(len, self._previous.values()))


class Stitcher:
    """Decides which contacts are new evidence.

    A customer counts once per profile per ``window`` seconds, however many times and on however many channels
    they get in touch. Repeated contact ids are dropped before this point (the engine does that). Memory is
    bounded: (customer, profile) entries leave once the window has passed, expired from a queue in event-time
    order, so pruning costs only what it removes.
    """

    def __init__(self, window: float, limits: Limits = DEFAULT_LIMITS, left_out: Counter[str] | None = None) -> None:
        self.window = window
        self.left_out: Counter[str] = Counter() if left_out is None else left_out
        self._spellings = BudgetedSpellings(limits)
        self._profiles: dict[tuple[str, ...], Profile] = {}
        self._counted_at: dict[tuple[str, Profile], float] = {}
        self._counted_order: deque[tuple[float, tuple[str, Profile]]] = deque()

    def stitch(self, contact: Contact) -> StitchedContact:
        ts, customer = contact.ts, contact.customer_id
        if ts >= self._spellings.generation_ends:
            self._spellings.renew(ts)
            self._profiles.clear()  # a cached profile would keep a value in use without its spelling's knowledge
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
        counted_order = self._counted_order
        # The same test _expire starts with: most contacts expire nothing, and skip the call.
        if counted_order and counted_order[0][0] <= ts - self.window:
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
            pairs: list[tuple[str, str]] = []
            complete = True
            for name, value in dimensions.items():
                if value.strip():
                    spelled = canonical(name, value)
                    if spelled is None:
                        self.left_out[name] += 1
                        complete = False
                    else:
                        pairs.append((name, spelled))
            known = tuple(sorted(pairs))
            if complete:  # a profile with a value left out is built again, and counted, for every contact
                self._profiles[raw] = known
        return known

    def memory(self) -> dict[str, int]:
        """How many entries each of the stitcher's memories holds: for tests and a memory gauge."""
        return {"reporters": len(self._counted_at), "spellings": self._spellings.size()}

    def _expire(self, now: float) -> None:
        counted, order = self._counted_at, self._counted_order
        horizon = now - self.window
        while order and order[0][0] <= horizon:
            ts, key = order.popleft()
            if counted.get(key) == ts:
                del counted[key]
