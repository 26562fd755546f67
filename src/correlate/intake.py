"""One input stream, several kinds of record: which contract a record answers to, told by its ``type`` field.

    no "type" (or "contact")      -> a customer contact        (contracts.py, docs/contact-contract.md)
    "heartbeat"                   -> one device's heartbeat    (telemetry.py, docs/telemetry-contract.md)
    "heartbeat-summary"           -> devices that reported     (telemetry.py)
    "vendor-status"               -> a vendor's declared incident (status_feed.py)
    "action"                      -> a person's action on an incident (actions.py)

Contact files written before telemetry existed carry no ``type`` and read exactly as before. The contact contract
keeps unknown fields, so a contact that already carries a ``type`` of its own (``"type": "complaint"``) stays a
contact as long as it looks like one (it has a ``contact_id`` or a ``channel``); anything else with a ``type``
correlate does not know is rejected, with ``type`` as the field at fault.
"""

from __future__ import annotations

from typing import Final

from correlate.actions import ACTION, Action, validate_action
from correlate.contracts import Contact, Rejection, json_type, show, validate
from correlate.limits import DEFAULT_LIMITS, Limits
from correlate.status_feed import VENDOR_STATUS, VendorStatus, validate_status
from correlate.telemetry import HEARTBEAT, SUMMARY, Heartbeat, HeartbeatSummary, validate_telemetry

__all__ = ["CONTACT", "TYPES", "Record", "kind_and_source", "oversized", "validate_record"]

CONTACT: Final = "contact"
TYPES: Final = (CONTACT, HEARTBEAT, SUMMARY, VENDOR_STATUS, ACTION)

Record = Contact | Heartbeat | HeartbeatSummary | VendorStatus | Action


def validate_record(record: object, limits: Limits = DEFAULT_LIMITS) -> Record | Rejection:
    """The record checked against the contract its ``type`` names; never raises for bad input."""
    if type(record) is not dict or "type" not in record:
        return validate(record, limits)  # the hot path: every contact file ever written
    kind = record["type"]
    if kind in (HEARTBEAT, SUMMARY):
        return validate_telemetry(record, limits)
    if kind == VENDOR_STATUS:
        return validate_status(record, limits)
    if kind == ACTION:
        return validate_action(record)
    if kind == CONTACT or "contact_id" in record or "channel" in record:
        return validate(record, limits)
    if not isinstance(kind, str):
        return Rejection("type", f"must be a string naming the record's kind, not {json_type(kind)}", record)
    return Rejection("type", f"{show(kind)} is not one of {', '.join(TYPES)}", record)


def kind_and_source(item: Record) -> tuple[str, str]:
    """A validated record's ``type`` and who sent it, as a contact's ``source`` names a sender (a status record's
    sender is its vendor, a partner): the labels of its metrics."""
    if isinstance(item, VendorStatus):
        return VENDOR_STATUS, f"partner:{item.vendor}"
    if isinstance(item, Heartbeat):
        return HEARTBEAT, item.source
    if isinstance(item, HeartbeatSummary):
        return SUMMARY, item.source
    if isinstance(item, Action):
        return ACTION, f"person:{item.role}"
    return CONTACT, item.source


def oversized(line: bytes, limits: Limits = DEFAULT_LIMITS) -> Rejection | None:
    """A rejection for a line longer than ``max_line_bytes``, quoting its start; none for a line of a fair size.
    Checked before the line is parsed: parsing is what a huge line would cost."""
    if len(line) <= limits.max_line_bytes:
        return None
    start = line[: limits.max_excerpt_chars].decode("utf-8", errors="replace")
    return Rejection("", f"{len(line)} bytes, more than max_line_bytes ({limits.max_line_bytes}); not read", start)
