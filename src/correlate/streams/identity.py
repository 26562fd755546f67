"""Who an accepted record is, for the detect leader: its place in the event-time merge, and whether the
validate stage forwarded it twice.

A contact is known by its ``contact_id``; telemetry and status records carry no such id, so the merge orders
them by what names them in the engine: a heartbeat by its device, a summary by its source and ``summary_id``
(the engine's repeat key), a status record by its vendor, the vendor's incident id and the phase.

Repeats are another matter. ``correlate replay`` sees each line once, and the engine drops what replay drops:
a repeated ``contact_id`` or summary, a heartbeat of a device at the very time it was last heard. A record the
validate stage forwarded twice (at-least-once: a worker died between forwarding and committing) is no such
repeat — it is the same input record, and it arrives later, so a heartbeat or status copy would be refused as
late, or counted again. So the validate stage stamps every accepted record with its input position (topic,
partition, offset), and :class:`Redeliveries` drops a position already seen: the workers then see exactly the
records replay sees in the same input, no more.
"""

from __future__ import annotations

from correlate.actions import Action
from correlate.contracts import Contact
from correlate.intake import Record
from correlate.status_feed import VendorStatus
from correlate.telemetry import Heartbeat

__all__ = ["Key", "Redeliveries", "merge_key"]

Key = tuple[float, str]
_SEP = "\x1f"  # not in a contact_id a sender would choose; keeps the kinds apart in the merge's tie-break


def merge_key(item: Record) -> Key:
    """``(ts, name)``: the order of the event-time merge; ties in time go by name, as replay's sorted file."""
    if isinstance(item, Contact):
        return item.ts, item.contact_id
    if isinstance(item, Heartbeat):
        return item.ts, _SEP.join(("", "heartbeat", item.device_id))
    if isinstance(item, VendorStatus):
        return item.ts, _SEP.join(("", "vendor-status", item.vendor, item.status_id, item.status))
    if isinstance(item, Action):
        return item.ts, _SEP.join(("", "action", item.action_id))
    return item.ts, _SEP.join(("", "heartbeat-summary", item.source, item.summary_id))


class Redeliveries:
    """Input positions already taken in, per input partition.

    Each accepted partition is written in input order by whichever validate worker holds the input partition,
    and a new owner starts from the last committed offset, before which everything was acknowledged. So in an
    accepted partition a record whose input offset is not beyond the furthest seen from its input partition is
    a copy of one already read: remembering one offset per input partition is enough, for any history.
    """

    def __init__(self, furthest: dict[tuple[str, int], int] | None = None) -> None:
        """``furthest``: (topic, partition) -> the furthest offset taken in, as a checkpoint restored it."""
        self._furthest: dict[tuple[str, int], int] = furthest if furthest is not None else {}

    def repeated(self, position: tuple[str, int, int] | None) -> bool:
        """Whether the record read from ``position`` was taken in before; notes it if not. A record with no
        position (written by something other than the validate stage) is never a repeat."""
        if position is None:
            return False
        topic, partition, offset = position
        furthest = self._furthest.get((topic, partition), -1)
        if offset <= furthest:
            return True
        self._furthest[(topic, partition)] = offset
        return False
