"""Merging partitions back into event-time order: a k-way merge that a quiet partition cannot stall for ever.

Kafka keeps order only inside a partition. The detect leader reads every partition of ``contacts.accepted``
and must hand the engine one stream whose disorder stays within the engine's lateness, or contacts would be
rejected as late depending on which partition happened to be fetched first (a rebuild reads hours of one
partition in one fetch). So records wait here until every partition has shown what comes next, and the
smallest ``(ts, contact_id)`` head goes first: the order a single sorted file would have.

A partition with nothing buffered holds the others back, but only while it may still have something to say:
once it has been quiet for ``idle`` seconds (no record, and the reader did not report records pending) it
stops blocking, so one idle partition delays detection by at most ``idle``. Time is passed in (``now``),
never read here: the merge is pure and tested without a broker.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[float, str]


class EventTimeMerge(Generic[T]):
    """Items from several partitions, each in arrival order, released in ``(ts, id)`` order across them."""

    def __init__(self, partitions: Iterable[int], idle: float, now: float) -> None:
        self.idle = idle
        self._buffers: dict[int, deque[tuple[Key, T]]] = {p: deque() for p in partitions}
        self._heard: dict[int, float] = dict.fromkeys(self._buffers, now)
        self._heads: list[tuple[Key, int, int, T]] = []  # (key, sequence, partition, item): one per partition
        self._sequence = 0

    def __len__(self) -> int:
        return sum(len(buffer) for buffer in self._buffers.values()) + len(self._heads)

    def add(self, partition: int, key: Key, item: T, now: float) -> None:
        """One record read from ``partition`` (records of a partition are added in the order read)."""
        self._heard[partition] = now
        buffer = self._buffers[partition]
        if buffer or self._has_head(partition):
            buffer.append((key, item))
        else:
            self._push(partition, key, item)

    def pending(self, partition: int, now: float) -> None:
        """The reader knows ``partition`` has records not yet read: it must keep holding the others back."""
        self._heard[partition] = now

    def pop_ready(self, now: float) -> list[T]:
        """Every item that can go now: while each partition has a head or has been quiet for ``idle``."""
        ready: list[T] = []
        heads = self._heads
        while heads:
            if len(heads) < len(self._buffers) and self._blocked(now):
                break
            _key, _sequence, partition, item = heapq.heappop(heads)
            ready.append(item)
            buffer = self._buffers[partition]
            if buffer:
                key, next_item = buffer.popleft()
                self._push(partition, key, next_item)
        return ready

    def drain(self) -> list[T]:
        """Everything still held, in order, as if every partition had gone quiet (end of input)."""
        return self.pop_ready(float("inf"))

    def _blocked(self, now: float) -> bool:
        """A partition without a head that may still deliver one (heard from less than ``idle`` ago)."""
        with_head = {entry[2] for entry in self._heads}
        return any(p not in with_head and now - heard < self.idle for p, heard in self._heard.items())

    def _has_head(self, partition: int) -> bool:
        return any(entry[2] == partition for entry in self._heads)

    def _push(self, partition: int, key: Key, item: T) -> None:
        self._sequence += 1
        heapq.heappush(self._heads, (key, self._sequence, partition, item))
