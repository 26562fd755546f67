"""Topic names: the one place they are spelled (partitions, keys and retention: deploy/topics.md)."""

from __future__ import annotations

import re

CONTACTS = "contacts"  # channel adapters and partner feeds write here (more input topics configurable)
ACCEPTED = "contacts.accepted"  # contacts that passed the contract, as validated
REJECTS = "contacts.rejects"  # the record plus the reason it was refused
INCIDENTS = "incidents"  # every lifecycle event, keyed by incident id, compacted
NOTIFICATIONS = "notifications"  # customer-notification events (one per attached customer on resolve)
VENDOR_PREFIX = "incidents.vendor."

_VENDOR_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


def vendor_topic(vendor_id: str) -> str:
    """``incidents.vendor.<id>``: only the incidents where that vendor is at fault or affected."""
    if not _VENDOR_ID.fullmatch(vendor_id):
        raise ValueError(f"vendor id {vendor_id!r} must be lower-case letters, digits and '-'")
    return VENDOR_PREFIX + vendor_id
