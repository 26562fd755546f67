"""Topic names, partitions, keys and retention: the one place they are spelled (explained in deploy/topics.md).

Tansu and a locked-down Kafka create no topic on first use, so the workers create what they need
(:func:`correlate.streams.kafka_io.create_topics`, idempotent); operators who want other partition counts create
them first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "ACCEPTED",
    "CONTACTS",
    "FOREVER",
    "INCIDENTS",
    "NOTIFICATIONS",
    "REJECTS",
    "VENDOR_PREFIX",
    "TopicSpec",
    "pipeline_topics",
    "vendor_spec",
    "vendor_topic",
]

CONTACTS = "contacts"  # channel adapters and partner feeds write here (more input topics configurable)
ACCEPTED = "contacts.accepted"  # contacts, telemetry and status records that passed their contract, as they came
REJECTS = "contacts.rejects"  # the record plus the reason it was refused
INCIDENTS = "incidents"  # every lifecycle event, keyed by incident id, compacted
NOTIFICATIONS = "notifications"  # customer-notification events: devices gone quiet; customers attached on resolve
VENDOR_PREFIX = "incidents.vendor."

_VENDOR_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
FOREVER = "-1"


def vendor_topic(vendor_id: str) -> str:
    """``incidents.vendor.<id>``: only the incidents where that vendor is at fault or affected."""
    if not _VENDOR_ID.fullmatch(vendor_id):
        raise ValueError(f"vendor id {vendor_id!r} must be lower-case letters, digits and '-'")
    return VENDOR_PREFIX + vendor_id


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the pipeline needs it: how many partitions, what the key is, and how long records stay."""

    name: str
    partitions: int
    key: str
    config: Mapping[str, str] = field(default_factory=dict)


def pipeline_topics(input_topics: Iterable[str], input_partitions: int, prefix: str = "") -> list[TopicSpec]:
    """Every fixed topic of the pipeline (vendor topics are made on demand by :func:`vendor_spec`).

    ``contacts.accepted`` keeps its records as long as the detector's history needs them (forever here):
    a new detect leader rebuilds its state by reading it from the start, so its retention *is* the
    detector's memory. ``incidents`` is compacted: the last event of every incident stays.
    """
    specs = [TopicSpec(prefix + name, input_partitions, "none (random) or customer_id") for name in input_topics]
    specs += [
        TopicSpec(prefix + ACCEPTED, input_partitions, "customer_id or none", {"retention.ms": FOREVER}),
        TopicSpec(prefix + REJECTS, 1, "none", {"retention.ms": str(30 * 86_400_000)}),
        TopicSpec(prefix + INCIDENTS, 1, "incident_id", {"cleanup.policy": "compact"}),
        TopicSpec(prefix + NOTIFICATIONS, 1, "customer_id"),
    ]
    return specs


def vendor_spec(vendor_id: str, prefix: str = "") -> TopicSpec:
    """A vendor's topic: one partition, so a vendor reads its incidents in the order they happened."""
    return TopicSpec(prefix + vendor_topic(vendor_id), 1, "incident_id", {"retention.ms": str(90 * 86_400_000)})
