"""CloudEvents 1.0 attributes for the records correlate publishes, as Kafka record headers (binary content mode).

A consumer that speaks CloudEvents (Knative, Keep, an Azure or AWS event bridge, any CloudEvents SDK) reads what
a record is from its headers, without parsing the value; a consumer that does not ignores them. The value is the
JSON it always was (binary mode: attributes in headers, the event itself as the data), so nothing downstream
changes. The Kafka protocol binding names the headers ``ce_<attribute>`` and maps ``datacontenttype`` to
``content-type``:

============== ==========================================================================================
``ce_id``       the event's ``event_id`` (unique per event, the same on every replay: what to de-duplicate on)
``ce_type``     ``dev.correlate.incident.<event>`` (``opened``, ``updated``, ``resolved``, ``acknowledged``,
                ``dismissed``, ``noted``, ``denied``); ``dev.correlate.customer.notified`` for a device's
                customer, ``dev.correlate.customer.fixed`` for a follow-up customer told of a fix
``ce_source``   ``/correlate`` (with the deployment's topic prefix, if it has one: ``/correlate/<prefix>``)
``ce_subject``  the incident id (a device notification: the device id)
``ce_time``     the event's ``at``
``ce_dataschema`` the URL of the record's JSON Schema (shipped in ``correlate/schemas``)
``content-type`` ``application/json``
============== ==========================================================================================

Pure: a function of the record, so that the workers of every replica and every re-publication after a takeover
write the same headers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

from correlate.events import CustomerNotification, IncidentEvent
from correlate.stamps import EVENT_NAMESPACE

__all__ = [
    "CONTENT_TYPE",
    "SCHEMA_BASE",
    "SPECVERSION",
    "TYPE_PREFIX",
    "Headers",
    "event_headers",
    "notice_headers",
    "notification_headers",
    "source",
]

SPECVERSION: Final = "1.0"
TYPE_PREFIX: Final = "dev.correlate."
CONTENT_TYPE: Final = "application/json"
SCHEMA_BASE: Final = "https://correlate.dev/schemas/"

# Kafka record headers as aiokafka and kafka-python take them: (name, value bytes) pairs, in a fixed order.
Headers = list[tuple[str, bytes]]


def source(prefix: str = "") -> str:
    """The ``ce_source`` of a deployment: its topic prefix tells deployments sharing one cluster apart."""
    tail = prefix.strip(".")
    return f"/correlate/{tail}" if tail else "/correlate"


def _headers(ce_id: str, ce_type: str, prefix: str, subject: str, time: str, schema: str) -> Headers:
    attributes = {
        "ce_specversion": SPECVERSION,
        "ce_id": ce_id,
        "ce_type": TYPE_PREFIX + ce_type,
        "ce_source": source(prefix),
        "ce_subject": subject,
        "ce_time": time,
        "ce_dataschema": SCHEMA_BASE + schema,
        "content-type": CONTENT_TYPE,
    }
    return [(name, value.encode()) for name, value in attributes.items()]


def event_headers(event: IncidentEvent, prefix: str = "") -> Headers:
    """An incident event's headers, on ``incidents`` and on the vendors' topics alike (the vendor's copy is a
    narrower view of the same event: the same id)."""
    ce_id = event.event_id or _fallback_id("incident", event.incident_id, event.event.value, event.at)
    return _headers(
        ce_id, f"incident.{event.event.value}", prefix, event.incident_id, event.at, "incident-event-v1.schema.json"
    )


def notification_headers(notification: CustomerNotification, prefix: str = "") -> Headers:
    """A device's customer told that the device went quiet."""
    ce_id = _fallback_id("notification", notification.device_id, notification.at)
    return _headers(
        ce_id,
        "customer.notified",
        prefix,
        notification.device_id,
        notification.at,
        "customer-notification-v1.schema.json",
    )


def notice_headers(notice: Mapping[str, Any], prefix: str = "") -> Headers:
    """A follow-up customer told that the fault they contacted us about is fixed (the notifier's notice, keyed
    by its ``notification_id``, which is its id here too)."""
    return _headers(
        str(notice["notification_id"]),
        "customer.fixed",
        prefix,
        str(notice["incident_id"]),
        str(notice["at"]),
        "follow-up-notice-v1.schema.json",
    )


def _fallback_id(*parts: str) -> str:
    """An id for a record without an ``event_id`` (a device notification; an event not stamped): a UUID of what
    makes it that record, so that publishing it again gives the same id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "/".join(parts)))
