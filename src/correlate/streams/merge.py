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

A record far ahead of the merge (by more than ``outlier_gap``, the engine's lateness, beyond what was last
released or another partition's head; or beyond a later record of its own partition) — one contact with its
clock a day ahead — would stand for its partition while the others ran on to the end of their data, and hold
its own partition's later records back until they came out late, by a day. Such a record stays in the merge,
to go when its time comes, but does not stand for its partition: the partition counts as empty until a record
of its own time arrives. (The engine keeps a record ahead of its clock in that step's bucket, so when the
outlier goes changes nothing it publishes.)
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["NEVER", "EventTimeMerge", "Key"]

T = TypeVar("T")
Key = tuple[float, str]
NEVER = float("-inf")


class EventTimeMerge(Generic[T]):
    """Items from several partitions, each in arrival order, released in ``(ts, id)`` order across them."""

    def __init__(self, partitions: Iterable[int], slack: float, outlier_gap: float = float("inf")) -> None:
        self.slack = slack
        self.outlier_gap = outlier_gap
        self._buffers: dict[int, deque[tuple[Key, float, T]]] = {p: deque() for p in partitions}
        self._quiet_until: dict[int, float] = dict.fromkeys(self._buffers, NEVER)
        self._heads: list[tuple[Key, int, float, int, T]] = []  # (key, sequence, produced_at, partition, item)
        self._with_head: dict[int, tuple[Key, int]] = {}  # partition -> its head's key and sequence
        self._outliers: set[int] = set()  # sequences of heads that do not stand for their partition
        self._released = NEVER  # the latest event time released
        self._sequence = 0

    def __len__(self) -> int:
        return sum(len(buffer) for buffer in self._buffers.values()) + len(self._heads)

    def add(self, partition: int, key: Key, item: T, produced_at: float) -> None:
        """One record read from ``partition`` (records of a partition are added in the order read)."""
        head = self._with_head.get(partition)
        if head is not None and head[0][0] - key[0] > self.outlier_gap:
            self._outliers.add(head[1])  # far ahead of what follows it: it goes in its time, not first
            del self._with_head[partition]
            buffer = self._buffers[partition]
            if buffer:
                self._push(partition, *buffer.popleft())
                buffer.append((key, produced_at, item))
                return
            head = None
        if head is not None:
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
            _key, sequence, produced_at, partition, item = heads[0]
            if len(self._with_head) < len(self._buffers) and self._blocked(produced_at + self.slack):
                break
            heapq.heappop(heads)
            ready.append(item)
            self._released = max(self._released, _key[0])
            if sequence in self._outliers:
                self._outliers.discard(sequence)
                continue  # its partition has a head of its own already
            del self._with_head[partition]
            buffer = self._buffers[partition]
            if buffer:
                self._push(partition, *buffer.popleft())
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
        """Make the record its partition's head; or, if it is far ahead of the merge, an outlier, and the next
        record of its partition the head (and so on)."""
        buffer = self._buffers[partition]
        while True:
            self._sequence += 1
            heapq.heappush(self._heads, (key, self._sequence, produced_at, partition, item))
            heads = [head[0][0] for head in self._with_head.values()]
            position = max(self._released, min(heads, default=NEVER))
            if position == NEVER or key[0] - position <= self.outlier_gap:
                self._with_head[partition] = (key, self._sequence)
                return
            self._outliers.add(self._sequence)
            if not buffer:
                return
            key, produced_at, item = buffer.popleft()
