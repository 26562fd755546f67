"""The validate stage: one raw input record in, either an accepted contact or a dead letter with the reason.

:func:`check` is pure (bytes in, a :class:`Checked` out) and is what both runners call — the plain aiokafka
loop (:mod:`correlate.streams.runner`) and the Faust agent (:mod:`correlate.streams.app`). It uses the same
:func:`correlate.contracts.validate` as ``correlate replay``, so a record is refused for the same reason
whichever way it came in.

An accepted record is forwarded as the *same bytes* it arrived as (no re-encoding: cheaper, and the detect
stage reads exactly what the sender wrote), keyed by ``customer_id``, into the partition of the same number
as the input partition it came from (see :mod:`correlate.streams.runner` for why).

A refused record becomes a JSON dead letter on the rejects topic: where it came
from, the field at fault, the reason, and the record itself (as text when it was not even JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from correlate.contracts import Contact, Rejection, validate
from correlate.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Checked:
    """The verdict on one input record: ``contact`` set when accepted, ``rejection`` when not."""

    contact: Contact | None
    rejection: Rejection | None
    decodable: bool = True

    @property
    def key(self) -> bytes | None:
        return self.contact.customer_id.encode() if self.contact is not None else None


def check(value: bytes | None) -> Checked:
    """Decode and validate one record; never raises for bad input."""
    if value is None:
        return Checked(None, Rejection("", "empty record (no value)", None), decodable=False)
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        text = value.decode("utf-8", errors="replace")
        return Checked(None, Rejection("", f"not valid JSON ({error})", text), decodable=False)
    verdict = validate(record)
    if isinstance(verdict, Rejection):
        return Checked(None, verdict)
    return Checked(verdict, None)


def dead_letter(rejection: Rejection, topic: str, partition: int, offset: int) -> bytes:
    """The rejects-topic record: the reason and the record, and where to find the original."""
    letter: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset, **rejection.to_json()}
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
    if verdict.contact is not None and value is not None:
        return Forward(True, verdict.key, value)
    rejection = verdict.rejection or Rejection("", "no contact and no reason (a bug in the validate stage)", None)
    return Forward(False, None, dead_letter(rejection, topic, partition, offset))


def observe(metrics: Metrics, verdict: Checked) -> None:
    """Count the record: a contact taken in, a rejection by its field, or an undecodable record."""
    if verdict.contact is not None:
        metrics.observe_outcome(verdict.contact, None)
    elif not verdict.decodable:
        metrics.observe_undecodable()
    else:
        metrics.observe_outcome(None, verdict.rejection)
