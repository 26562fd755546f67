"""The validate stage: one raw input record in, either an accepted record or a dead letter with the reason.

:func:`check` is pure (bytes in, a :class:`Checked` out) and is what both runners call — the plain aiokafka
loop (:mod:`correlate.streams.runner`) and the Faust agent (:mod:`correlate.streams.app`). It uses the same
:func:`correlate.intake.validate_record` as ``correlate replay``: a record's ``type`` says which contract it
answers to (a contact, a heartbeat, a heartbeat summary, a vendor's status record), and a record is refused
for the same reason whichever way it came in.

An accepted record — contact, telemetry or status alike — is forwarded as the *same bytes* it arrived as (no
re-encoding: cheaper, and the detect stage reads exactly what the sender wrote), keyed by ``customer_id``
(none for a summary or a status record), into the partition of the same number as the input partition it came
from (see :mod:`correlate.streams.runner` for why). They share ``contacts.accepted`` because the detect leader
must merge them into one event-time order: the engine orders them together, as replay does with one file.

A refused record becomes a JSON dead letter on the rejects topic: where it came
from, the field at fault, the reason, and the record itself (as text when it was not even JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from correlate.contracts import Contact, Rejection
from correlate.intake import Record, kind_and_source, oversized, validate_record
from correlate.limits import DEFAULT_LIMITS, Limits
from correlate.metrics import Metrics
from correlate.telemetry import Heartbeat

__all__ = ["Checked", "Forward", "check", "dead_letter", "observe", "route"]


@dataclass(frozen=True, slots=True)
class Checked:
    """The verdict on one input record: ``record`` set when accepted (a contact, heartbeat, heartbeat summary
    or vendor status record), ``rejection`` when not."""

    record: Record | None
    rejection: Rejection | None
    decodable: bool = True

    @property
    def key(self) -> bytes | None:
        """The customer's id where the record has one (contacts, heartbeats), else none."""
        if isinstance(self.record, Contact | Heartbeat):
            return self.record.customer_id.encode()
        return None


def check(value: bytes | None, limits: Limits = DEFAULT_LIMITS) -> Checked:
    """Decode and validate one record within the bounds ``limits`` set; never raises for bad input."""
    if value is None:
        return Checked(None, Rejection("", "empty record (no value)", None), decodable=False)
    too_long = oversized(value, limits)
    if too_long is not None:
        return Checked(None, too_long, decodable=False)
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        text = value.decode("utf-8", errors="replace")
        return Checked(None, Rejection("", f"not valid JSON ({error})", text), decodable=False)
    verdict = validate_record(record, limits)
    if isinstance(verdict, Rejection):
        return Checked(None, verdict)
    return Checked(verdict, None)


def dead_letter(
    rejection: Rejection, topic: str, partition: int, offset: int, excerpt: int = DEFAULT_LIMITS.max_excerpt_chars
) -> bytes:
    """The rejects-topic record: the reason and the record (an excerpt of at most ``excerpt`` characters), and
    where to find the original."""
    letter: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset, **rejection.to_json(excerpt)}
    return orjson.dumps(letter)


@dataclass(frozen=True, slots=True)
class Forward:
    """Where one checked record goes: ``accepted`` (to the partition of its input partition's number) or
    ``rejects`` (any partition), with the key and value to write."""

    accepted: bool
    key: bytes | None
    value: bytes


def route(verdict: Checked, value: bytes | None, topic: str, partition: int, offset: int) -> Forward:
    """The record to write for a verdict: the original bytes when accepted, a dead letter when not."""
    if verdict.record is not None and value is not None:
        return Forward(True, verdict.key, value)
    rejection = verdict.rejection or Rejection("", "no record and no reason (a bug in the validate stage)", None)
    return Forward(False, None, dead_letter(rejection, topic, partition, offset))


def observe(metrics: Metrics, verdict: Checked) -> None:
    """Count the record: a contact or a telemetry/status record taken in, a rejection by its field, or an
    undecodable record."""
    if isinstance(verdict.record, Contact):
        metrics.observe_outcome(verdict.record, None)
    elif verdict.record is not None:
        metrics.observe_telemetry(*kind_and_source(verdict.record))
    elif not verdict.decodable:
        metrics.observe_undecodable()
    else:
        metrics.observe_outcome(None, verdict.rejection)
