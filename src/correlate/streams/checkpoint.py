"""The detect leader's checkpoints: its Engine's state, and exactly which records of ``contacts.accepted`` it holds.

A new leader restores the latest checkpoint and reads each partition from the first offset the checkpoint does
not cover, instead of from the start of the topic. For that, a checkpoint must say precisely what the engine has
taken in. Records wait in the event-time merge before the engine gets them, and a record far ahead of the
others (a wrong clock) may wait there while later records of its partition go on: so "the last offset read" is
not it. :class:`Coverage` follows every record read, from its read to the moment it is handed to the engine (or
dropped), and says per partition the first offset *not* yet handed — everything before it is in the engine —
and which records beyond it were handed already (rare: those that overtook an outlier), so that the new leader
skips them. It also keeps the :class:`~correlate.streams.identity.Redeliveries` state as of that frontier: the
new leader re-reads the records behind it and must find the same repeats the old one found.

Pickling a day of state at 400,000 contacts a day takes seconds: a leader that waited for it would publish
nothing meanwhile. So the periodic checkpoint is written by a forked child (:class:`ForkedSave`), which pickles
the copy-on-write image of the process at the fork, taken between two rounds, while the leader goes on.

The checkpoint is one value in Redis. Weeks of state are hundreds of MB, and one command that large outlasts the
store client's socket timeout on a busy machine (a SET of 180 MB did, every time, at a load of 15 on 2 cores), so
it moves in pieces of :data:`PIECE` bytes: written to a staging key and renamed over the checkpoint at the end
(:func:`store_checkpoint`), read range by range (:func:`load_checkpoint`). A leader killed while writing leaves the
previous checkpoint whole; a read that a rename interleaves fails the snapshot's checksum and is refused. Any
checkpoint is self-consistent (the state and what it covers were taken together, between two rounds, with every
event the engine had released published and every dead letter flushed), so an older one only costs a longer tail to
re-read. It is pickled state (see :mod:`correlate.snapshot`): the Redis that holds it must be writable by correlate
only.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from correlate import snapshot
from correlate.config import Settings
from correlate.engine import Engine
from correlate.errors import ContractError
from correlate.events import IncidentEvent
from correlate.streams.identity import Redeliveries
from correlate.streams.publish import Mark, mark
from correlate.streams.settings import StackSettings
from correlate.vendors import VendorRegistry

__all__ = [
    "PIECE",
    "Checkpoint",
    "Coverage",
    "ForkedSave",
    "load_checkpoint",
    "restore_checkpoint",
    "still_open",
    "store_checkpoint",
    "stored_covers",
]

Position = tuple[str, int, int]

PIECE = 8 << 20  # bytes one store command moves: seconds inside the client's timeout, however big the state


async def store_checkpoint(store: Any, key: str, data: bytes, piece: int = PIECE) -> None:
    """``data`` under ``key``: appended piece by piece to a staging key, renamed over ``key`` in one step."""
    staging = f"{key}:staging"
    await store.delete(staging)
    view = memoryview(data)
    for start in range(0, len(data), piece):
        await store.append(staging, bytes(view[start : start + piece]))
    await store.rename(staging, key)


async def load_checkpoint(store: Any, key: str, piece: int = PIECE) -> bytes | None:
    """The value under ``key`` read range by range (None if there is none)."""
    size = await store.strlen(key)
    return b"".join([await store.getrange(key, start, start + piece - 1) for start in range(0, size, piece)]) or None


@dataclass
class _Partition:
    """One partition's records between their read and their hand-over, in offset order."""

    next_offset: int  # the next offset to read
    # offset -> the input position the repeats check noted for it (None: a contact, or none noted), read, not handed
    waiting: dict[int, Position | None] = field(default_factory=dict)
    handed: dict[int, Position | None] = field(default_factory=dict)  # of ``waiting``, handed already (overtook one)

    def frontier(self) -> int:
        return next(iter(self.waiting), self.next_offset)


class Coverage:
    """Which records of ``contacts.accepted`` the engine has taken in, partition by partition.

    Call :meth:`read` for every record read (in offset order), :meth:`repeated` where a telemetry or status
    record is checked for a repeat, and :meth:`handed` once the engine has the record or it was dropped;
    :meth:`offsets` is then, per partition, the first offset not handed.
    """

    def __init__(
        self,
        offsets: Mapping[int, int],
        furthest: Iterable[Position] = (),
        skip: Mapping[int, Mapping[int, Position | None]] | None = None,
    ) -> None:
        """Start at ``offsets`` (partition -> first offset to read), with the repeats state ``furthest`` as of
        there, and ``skip``: records beyond ``offsets`` the engine has already, with their noted positions."""
        self._partitions = {p: _Partition(offset) for p, offset in offsets.items()}
        self._furthest = {(topic, partition): offset for topic, partition, offset in furthest}
        self.redeliveries = Redeliveries(dict(self._furthest))
        self._skip = {p: dict(handed) for p, handed in (skip or {}).items()}

    def read(self, partition: int, offset: int) -> bool:
        """A record read; False if the engine has it already (the restored checkpoint said so): skip it, and say
        it :meth:`handed`, as for any record dropped."""
        state = self._partitions[partition]
        state.next_offset = offset + 1
        skip = self._skip.get(partition)
        if skip and offset in skip:
            position = skip.pop(offset)
            if position is not None:
                self.redeliveries.repeated(position)  # noted now, as its first reader noted it
            state.waiting[offset] = position
            return False
        state.waiting[offset] = None
        return True

    def repeated(self, partition: int, offset: int, position: Position | None) -> bool:
        """:meth:`Redeliveries.repeated`, for the record at ``offset``: the position it notes is the record's."""
        if self.redeliveries.repeated(position):
            return True
        self._partitions[partition].waiting[offset] = position
        return False

    def handed(self, partition: int, offset: int) -> None:
        """The record at ``offset`` is in the engine now, or was dropped for good (a repeat, a dead letter)."""
        state = self._partitions[partition]
        waiting = state.waiting
        if next(iter(waiting), None) != offset:
            state.handed[offset] = waiting.get(offset)  # overtook a record still waiting in the merge
            return
        self._fold(waiting.pop(offset))
        while waiting and next(iter(waiting)) in state.handed:
            first = next(iter(waiting))
            del state.handed[first]
            self._fold(waiting.pop(first))

    def _fold(self, position: Position | None) -> None:
        if position is not None:
            topic, partition, offset = position
            if offset > self._furthest.get((topic, partition), -1):
                self._furthest[(topic, partition)] = offset

    def offsets(self) -> dict[int, int]:
        """Per partition, the first offset the engine does not have: it has every record before it."""
        return {p: state.frontier() for p, state in self._partitions.items()}

    def covers(self) -> dict[str, Any]:
        """What a checkpoint taken now covers, as JSON."""
        return {
            "offsets": {str(p): offset for p, offset in self.offsets().items()},
            "redeliveries": sorted([topic, partition, offset] for (topic, partition), offset in self._furthest.items()),
            "handed": {
                str(p): [[offset, *(position or ())] for offset, position in sorted(state.handed.items())]
                for p, state in self._partitions.items()
                if state.handed
            },
        }


@dataclass(frozen=True)
class Checkpoint:
    """A restored checkpoint: the engine, where to read on from, and what its writer noted."""

    engine: Engine
    coverage: Coverage
    covers: dict[str, Any]

    @property
    def offsets(self) -> dict[int, int]:
        return {int(p): int(offset) for p, offset in self.covers["offsets"].items()}


def restore_checkpoint(
    data: bytes, settings: Settings, vendors: VendorRegistry, partitions: Iterable[int]
) -> Checkpoint:
    """The checkpoint in ``data``, for a topic of ``partitions``; :class:`~correlate.snapshot.SnapshotRefused`
    (with the reason) when it cannot be used: damaged, of other code or settings, or of other partitions."""
    restored = snapshot.restore(data, settings, vendors)
    covers = restored.covers
    try:
        offsets = {int(p): int(offset) for p, offset in covers["offsets"].items()}
        furthest = [(str(t), int(p), int(o)) for t, p, o in covers["redeliveries"]]
        skip = {int(p): dict(map(_handed, handed)) for p, handed in covers.get("handed", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise snapshot.SnapshotRefused(f"checkpoint says not what it covers ({error!r})") from None
    wanted = sorted(partitions)
    if sorted(offsets) != wanted:
        raise snapshot.SnapshotRefused(
            f"checkpoint covers partitions {sorted(offsets)} of contacts.accepted; the topic has {wanted}"
        )
    return Checkpoint(restored.engine, Coverage(offsets, furthest, skip), covers)


def stored_covers(store_url: str, settings: StackSettings) -> dict[str, Any]:
    """What the latest stored checkpoint covers, read from its header without unpickling the state ({} if none):
    for whoever waits on the pipeline, as :meth:`Progress.read <correlate.streams.detect.Progress.read>` is."""
    client = redis.Redis.from_url(store_url)
    key = settings.checkpoint_key
    try:
        size = int(client.strlen(key))
        pieces: list[Any] = [client.getrange(key, start, start + PIECE - 1) for start in range(0, size, PIECE)]
        data = b"".join(pieces)
    finally:
        client.close()
    return snapshot.read_header(data)[0].covers if data else {}


def _handed(entry: list[Any]) -> tuple[int, Position | None]:
    """``[offset]`` or ``[offset, topic, partition, offset]``, as :meth:`Coverage.covers` writes them."""
    if len(entry) == 1:
        return int(entry[0]), None
    offset, topic, partition, input_offset = entry
    return int(offset), (str(topic), int(partition), int(input_offset))


def still_open(published: Iterable[bytes]) -> list[IncidentEvent]:
    """The last event of every incident not resolved, from the values on ``incidents``: what a leader that did
    not replay the history must show the NOC as open (the open-incident and paging metrics follow the events a
    leader releases, and a restored engine releases only the tail's)."""
    latest: dict[str, tuple[Mark, IncidentEvent]] = {}
    for value in published:
        try:
            event = IncidentEvent.from_json(orjson.loads(value))
        except (ValueError, ContractError):  # not an incident event of ours
            continue
        here = mark(event)
        if event.incident_id not in latest or here >= latest[event.incident_id][0]:
            latest[event.incident_id] = (here, event)
    return [event for _, event in latest.values() if not event.resolved]


@dataclass
class ForkedSave:
    """A snapshot written by a forked child, from the process as it was at the fork (copy on write): the leader
    forks between two rounds and goes on; :meth:`collect` (blocking: in a thread) gets the bytes."""

    pid: int
    pipe: int
    reaped: bool = False

    @classmethod
    def start(cls, engine: Engine, covers: Mapping[str, Any]) -> ForkedSave | None:
        """Fork the child that writes ``snapshot.save(engine, covers)``; None where there is no fork."""
        if not hasattr(os, "fork"):
            return None
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: pickle, write, and leave without any of the parent's clean-up
            code = 1
            try:
                signal.set_wakeup_fd(-1)  # the parent's event loop must not hear of this process's signals
                for number in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(number, signal.SIG_DFL)
                os.close(read_end)
                data = snapshot.save(engine, covers)
                with os.fdopen(write_end, "wb") as out:
                    out.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        return cls(pid, read_end)

    def collect(self) -> bytes | None:
        """The snapshot, once the child is done; None if it failed (or was abandoned)."""
        with os.fdopen(self.pipe, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.reaped = True
        return data if os.waitstatus_to_exitcode(status) == 0 else None

    def abandon(self) -> None:
        """Stop the child (the leader is stopping, or lost its lease): :meth:`collect` then returns None."""
        if not self.reaped:  # a reaped child's pid may be another process's by now
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
