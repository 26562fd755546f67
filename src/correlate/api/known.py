"""Which open incidents match a caller: an in-process copy of the open incidents, kept fresh from the store.

The banner is asked hundreds of times a second and must answer within 10 ms at p99 on a shared machine. A
Redis round trip per request costs a few hundred microseconds of Python on each side and queues behind every
other request; a copy of the open incidents (a few hundred at most, a few kilobytes each) answers from memory.
The copy is checked against the store's change counter at most every ``max_age`` seconds (0.25 s by default,
0 in tests: always) and reloaded when anything the banner shows has changed: an event applied, a customer
attached, a webhook delivered. So a banner is at most ``max_age`` behind the store, and a follow-up made through
this process shows at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Final

from correlate.errors import InvalidRequest
from correlate.events import IncidentHeadline
from correlate.store import IncidentStore, OpenView, scope_signature

__all__ = ["DOCUMENTED_DIMENSIONS", "MAX_QUERY_DIMENSIONS", "KnownIncident", "KnownIncidents"]

# A query may name at most this many dimensions: the index is probed once per subset of them.
MAX_QUERY_DIMENSIONS: Final = 8
# The dimensions the API's document names (docs/contact-contract.md's examples): known before any contact is.
DOCUMENTED_DIMENSIONS: Final = ("device_brand", "device_model", "region", "service")


@dataclass(frozen=True)
class KnownIncident:
    """An open incident matching a query, with what the banner needs."""

    event: IncidentHeadline
    notified: list[str]
    on_follow_up: bool | None


class KnownIncidents:
    def __init__(
        self, store: IncidentStore, max_age: float = 0.25, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.max_age = max_age
        self.clock = clock
        self._version: tuple[str, int] | None = None
        self._checked = float("-inf")
        self._by_sig: dict[str, list[OpenView]] = {}
        self._dimensions: set[str] = set(DOCUMENTED_DIMENSIONS)
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Check the store on the next lookup (this process just changed something the banner shows)."""
        self._checked = float("-inf")

    async def find(self, dimensions: Mapping[str, str], customer_id: str | None = None) -> list[KnownIncident]:
        """Open incidents whose every scope dimension equals the given value (spellings pooled), newest first.

        Incidents are held by the signature of their exact scope, so a query probes the signature of each
        subset of the given dimensions: 2**n dictionary lookups for n dimensions.
        """
        pairs = sorted(dimensions.items())
        if len(pairs) > MAX_QUERY_DIMENSIONS:
            raise InvalidRequest(f"at most {MAX_QUERY_DIMENSIONS} dimensions in one query")
        await self._refresh()
        found = [
            KnownIncident(view.event, view.notified, customer_id in view.followups if customer_id else None)
            for size in range(len(pairs) + 1)
            for subset in combinations(pairs, size)
            for view in self._by_sig.get(scope_signature(subset), ())
        ]
        found.sort(key=lambda known: (known.event.opened_at, known.event.incident_id), reverse=True)
        return found

    async def unknown_dimensions(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """(the names neither documented nor ever carried by a contact or an incident, sorted; the known names,
        sorted). A misspelt dimension would otherwise match nothing and read as "no known incident"."""
        wanted = set(names)
        if not wanted <= self._dimensions:  # only when a name is new to this process: one store read
            self._dimensions = {*DOCUMENTED_DIMENSIONS, *await self.store.dimension_names()}
        return sorted(wanted - self._dimensions), sorted(self._dimensions)

    async def _refresh(self) -> None:
        if self.clock() - self._checked < self.max_age:
            return
        async with self._lock:
            if self.clock() - self._checked < self.max_age:
                return  # another request refreshed while this one waited
            checked = self.clock()
            version = await self.store.version()
            if version != self._version:
                # Read before the views: a change in between makes the next check reload again, never miss.
                by_sig: dict[str, list[OpenView]] = {}
                for view in await self.store.open_views():
                    by_sig.setdefault(view.sig, []).append(view)
                self._by_sig, self._version = by_sig, version
            self._checked = checked
