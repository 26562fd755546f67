"""Records that crash a stage: quarantined on their second crash, dead-lettered with the exception, skipped.

A stage that raises is restarted by its worker (``worker._forever``), which cures what a restart can cure: a
broker connection, a store hiccup. A record that makes the stage raise *again* after the restart is the
cause, not the circumstance, and restarting once more would crash on it for ever while everything behind it
waits. So the stage tells a :class:`PoisonGuard` which record it is handling; when the stage raises, the
guard blames that record; the second crash on the same record quarantines it. From then on the stage writes
a dead letter for it instead of handling it (the exception, and a bounded excerpt of the bytes, built so that
writing it cannot raise in turn) and goes on with the next record.

Only a stage's own work on a record is guarded, never its I/O: a broker that is away fails every record in
turn and must not quarantine any.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from correlate.contracts import excerpt
from correlate.errors import InjectedFault

__all__ = [
    "CRASHES_TO_QUARANTINE",
    "FaultInjector",
    "InjectedFault",
    "PoisonGuard",
    "Position",
    "Quarantined",
    "describe_error",
    "poison_letter",
]

Position = tuple[str, int, int]  # topic, partition, offset of the record being handled
CRASHES_TO_QUARANTINE = 2
EXCERPT_CHARS = 500  # of a poison record, quoted in its dead letter
QUARANTINE_KEPT = 10_000  # quarantined positions remembered (a rebuild meets them again)
ERROR_CHARS = 300
HANG_SECONDS = 3600.0  # how long the validate-hang fault blocks its loop


def describe_error(error: BaseException) -> str:
    """``TypeError: Recursion limit reached``, bounded; never raises (an exception's ``__str__`` may)."""
    name = type(error).__name__
    try:
        text = str(error)
    except Exception:  # crash guard: describing a crash must not crash (any __str__ may raise anything)
        text = "(its message could not be shown)"
    return f"{name}: {text[:ERROR_CHARS]}" if text else name


def poison_letter(position: Position, stage: str, reason: str, value: object) -> bytes:
    """The rejects-topic record for a quarantined record: where it is, why it was set aside, and an excerpt.

    Plain text and numbers only, serialised by the standard library: nothing in it can make this raise.
    """
    topic, partition, offset = position
    size = len(value) if isinstance(value, bytes | bytearray) else None
    cause = f"crashed the {stage} stage {CRASHES_TO_QUARANTINE} times: {reason}"
    quoted, truncated = excerpt(bytes(value) if isinstance(value, bytearray) else value, EXCERPT_CHARS)
    letter = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "error": cause,
        "field": "",
        "reason": cause,
        "record": quoted,
        "record_truncated": truncated,
        "record_bytes": size,
        "stage": stage,
    }
    return json.dumps(letter, ensure_ascii=False).encode("utf-8", errors="replace")


@dataclass(frozen=True)
class Quarantined:
    """A record set aside: why, and whether its dead letter is still to be written (once per guard)."""

    reason: str
    letter_due: bool


@dataclass
class PoisonGuard:
    """The crash counts of one stage's records, kept across the stage's restarts (one guard per stage)."""

    stage: str
    crashes: dict[Position, int] = field(default_factory=dict)
    quarantined: OrderedDict[Position, str] = field(default_factory=OrderedDict)
    current: Position | None = None
    _lettered: set[Position] = field(default_factory=set)

    def handling(self, position: Position) -> Quarantined | None:
        """The stage starts on the record at ``position``; if it is quarantined, the stage must skip it."""
        reason = self.quarantined.get(position)
        if reason is not None:
            due = position not in self._lettered
            self._lettered.add(position)
            return Quarantined(reason, due)
        self.current = position
        return None

    def handled(self) -> None:
        """The record is done (or handed to I/O, which is not the record's fault if it fails)."""
        self.current = None

    def crashed(self, error: BaseException) -> Position | None:
        """The stage raised: blame the record it was handling. Returns its position if it is now quarantined."""
        position, self.current = self.current, None
        if position is None:
            return None
        count = self.crashes.get(position, 0) + 1
        if count < CRASHES_TO_QUARANTINE:
            self.crashes[position] = count
            return None
        self.crashes.pop(position, None)
        self.quarantined[position] = describe_error(error)
        while len(self.quarantined) > QUARANTINE_KEPT:
            forgotten, _ = self.quarantined.popitem(last=False)
            self._lettered.discard(forgotten)
        return position


@dataclass(frozen=True)
class FaultInjector:
    """Makes a stage raise on every record whose bytes contain a marker: ``CORRELATE_INJECT_FAULT`` set to
    ``<stage>:<marker>``. For rehearsing an outage: it exercises the recovery a real bug would need. Stages:
    ``validate`` and ``detect`` raise while handling the record (it is quarantined on its second crash);
    ``validate-flush`` raises when the validate stage forwards a batch holding it, outside any one record's
    handling, as a broker refusing that batch would: no record is blamed, and the stage is stuck;
    ``validate-hang`` blocks the validate process's event loop for an hour on the record, as a synchronous call
    that never returns would: nothing in that process turns, and its ``/livez`` says so. Off unless the variable
    is set."""

    stage: str = ""
    marker: bytes = b""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FaultInjector:
        stage, _, marker = environ.get("CORRELATE_INJECT_FAULT", "").partition(":")
        return cls(stage, marker.encode()) if stage and marker else cls()

    def armed(self, stage: str) -> bool:
        return bool(self.marker) and stage == self.stage

    def check_item(self, stage: str, item: object) -> None:
        """As :meth:`check`, for a decoded record (its ``repr``, made only when a fault is armed)."""
        if self.marker and stage == self.stage:
            self.check(stage, repr(item).encode())

    def hang(self, stage: str, value: bytes | None) -> None:
        if self.marker and stage == self.stage and value is not None and self.marker in value:
            time.sleep(HANG_SECONDS)  # blocking on purpose: this rehearses a loop that no longer turns

    def check(self, stage: str, value: bytes | None) -> None:
        if self.marker and stage == self.stage and value is not None and self.marker in value:
            raise InjectedFault(f"injected fault: the {stage} stage fails on records containing {self.marker!r}")
