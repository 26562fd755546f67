"""Merging partitions back into event-time order: a k-way merge that waits only as long as it must.

Kafka keeps order only inside a partition. The detect leader reads every partition of ``contacts.accepted``
and must hand the engine one stream whose disorder stays within the engine's lateness, or contacts would be
rejected as late depending on which partition happened to be fetched first (a rebuild reads hours of one
partition in one fetch; a validate worker that is behind forwards one partition's backlog before another's).
So records wait here, and the smallest ``(ts, contact_id)`` head goes first: the order a single sorted file
would have. Each record comes with the wall time by which it was visible (``produced_at``: the validate
stage's fetch of it, carried in a header of the accepted record).

A partition with nothing buffered holds the others back until there is *proof* that it holds nothing
produced before the head waiting to go: :meth:`prove_quiet` says "everything written to this partition
before wall time ``until`` has been read" (the reader knows it from its validate workers' reports and its own
fetches). The head, produced at ``produced_at``, goes once every empty partition is proven quiet up to
``produced_at + slack``; the slack covers clock differences between the validate workers' hosts. Records
that became visible later than the head may still carry an earlier event time — that is ordinary disorder,
which the engine's lateness absorbs. Nothing here reads a clock: the merge is pure and tested without a broker.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[float, str]
NEVER = float("-inf")


class EventTimeMerge(Generic[T]):
    """Items from several partitions, each in arrival order, released in ``(ts, id)`` order across them."""

    def __init__(self, partitions: Iterable[int], slack: float) -> None:
        self.slack = slack
        self._buffers: dict[int, deque[tuple[Key, float, T]]] = {p: deque() for p in partitions}
        self._quiet_until: dict[int, float] = dict.fromkeys(self._buffers, NEVER)
        self._heads: list[tuple[Key, int, float, int, T]] = []  # (key, sequence, produced_at, partition, item)
        self._with_head: set[int] = set()
        self._sequence = 0

    def __len__(self) -> int:
        return sum(len(buffer) for buffer in self._buffers.values()) + len(self._heads)

    def add(self, partition: int, key: Key, item: T, produced_at: float) -> None:
        """One record read from ``partition`` (records of a partition are added in the order read)."""
        if partition in self._with_head:
            self._buffers[partition].append((key, produced_at, item))
        else:
            self._push(partition, key, produced_at, item)

    def prove_quiet(self, partition: int, until: float) -> None:
        """Everything written to ``partition`` before wall time ``until`` has been added."""
        if until > self._quiet_until[partition]:
            self._quiet_until[partition] = until

    def pop_ready(self) -> list[T]:
        """Every item that can go now, in order."""
        ready: list[T] = []
        heads = self._heads
        while heads:
            _key, _sequence, produced_at, partition, item = heads[0]
            if len(heads) < len(self._buffers) and self._blocked(produced_at + self.slack):
                break
            heapq.heappop(heads)
            self._with_head.discard(partition)
            ready.append(item)
            buffer = self._buffers[partition]
            if buffer:
                key, next_produced_at, next_item = buffer.popleft()
                self._push(partition, key, next_produced_at, next_item)
        return ready

    def drain(self) -> list[T]:
        """Everything still held, in order, as if every partition were proven quiet (end of input)."""
        for partition in self._quiet_until:
            self._quiet_until[partition] = float("inf")
        return self.pop_ready()

    def _blocked(self, needed: float) -> bool:
        """An empty partition not yet proven quiet up to ``needed``."""
        return any(until < needed for p, until in self._quiet_until.items() if p not in self._with_head)

    def _push(self, partition: int, key: Key, produced_at: float, item: T) -> None:
        self._sequence += 1
        heapq.heappush(self._heads, (key, self._sequence, produced_at, partition, item))
        self._with_head.add(partition)
