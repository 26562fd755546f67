"""An incident event in the shape a vendor's own tool takes in: correlate's event, a PagerDuty Events v2 event, or
an Alertmanager webhook message.

A vendor that runs PagerDuty points its webhook at the Events API (``format = "pagerduty"``, with its integration
key as ``routing_key``); one that runs Keep, Grafana IRM or anything else that takes Alertmanager's webhook points
it there (``format = "alertmanager"``). Either way the vendor gets no glue code to write.

Every adapter starts from :func:`correlate.vendor_view.vendor_event`: what a vendor may see is decided there
once, and an adapter only reshapes it.

PagerDuty Events v2 (one alert per incident, ``dedup_key`` = the incident id):

==========================  ======================================================================
``opened``, ``updated``,    ``trigger`` (PagerDuty keeps one alert per dedup key: an update refreshes
``noted``, ``denied``       its details and never pages twice; a trigger on an acknowledged alert
                            leaves it acknowledged)
``acknowledged``            ``acknowledge``
``resolved``, ``dismissed`` ``resolve``
==========================  ======================================================================

Alertmanager's webhook (``version`` 4, one alert per incident, labelled as the ``CorrelateIncident`` rule labels
it): ``status`` ``firing`` while the incident is open, ``resolved`` with ``endsAt`` once it is resolved or
dismissed. An acknowledgement keeps it firing, with ``acknowledged_by`` among the annotations: Alertmanager's
format has no acknowledgement, and a receiver that closed the alert on it would lose the fault.

Severity is correlate's own four words, which are PagerDuty's and Alertmanager's (:mod:`correlate.severity`);
an event without one (from before severities) is sent as ``error``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from correlate.events import IncidentEvent
from correlate.vendor_view import vendor_event

__all__ = [
    "ALERT_NAME",
    "NO_END",
    "PAGERDUTY_ACTION",
    "Format",
    "adapted",
    "alertmanager_message",
    "console_link",
    "pagerduty_event",
]


class Format(StrEnum):
    """A delivery's payload shape (``format`` in a ``[delivery.<vendor>]`` table)."""

    CORRELATE = "correlate"
    PAGERDUTY = "pagerduty"
    ALERTMANAGER = "alertmanager"


PAGERDUTY_ACTION: Final = {
    "opened": "trigger",
    "updated": "trigger",
    "noted": "trigger",
    "denied": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
    "dismissed": "resolve",
}
ALERT_NAME: Final = "CorrelateIncident"
# Alertmanager's "no end yet" (Go's zero time), what it writes in endsAt of a firing alert.
NO_END: Final = "0001-01-01T00:00:00Z"
_SUMMARY_MAX: Final = 1024  # PagerDuty truncates a longer summary; cut it here, where the cut is visible
_LABEL_NAME: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CLOSED: Final = frozenset({"resolved", "dismissed"})


def console_link(console_url: str | None, incident_id: str) -> str | None:
    """The incident's page in the console, as the alert rules link it (``<console_url>#<incident id>``)."""
    return None if console_url is None else f"{console_url.rstrip('/')}#{incident_id}"


def _title(view: Mapping[str, Any]) -> str:
    number = view.get("number") or view["incident_id"]
    return f"{number} ({view.get('severity') or 'error'}): {view['summary']}"


def pagerduty_event(view: Mapping[str, Any], routing_key: str, console_url: str | None = None) -> dict[str, Any]:
    """A PagerDuty Events v2 event of a vendor's view of an incident event."""
    action = PAGERDUTY_ACTION[view["event"]]
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": view["incident_id"]}
    if action != "trigger":
        return event
    scope = view.get("scope") or {}
    vendors = view.get("vendors") or {}
    at_fault = vendors.get("at_fault") or []
    event["payload"] = {
        "summary": _title(view)[:_SUMMARY_MAX],
        # Where the fault is: the incident's scope is the nearest thing to PagerDuty's "affected system".
        "source": ", ".join(f"{name}={value}" for name, value in sorted(scope.items())) or "correlate",
        "severity": view.get("severity") or "error",
        "timestamp": view["at"],
        "component": ", ".join(at_fault) or "unattributed",
        "group": view.get("number") or view["incident_id"],
        "class": view["kind"],
        "custom_details": dict(view),
    }
    event["client"] = "correlate"
    link = console_link(console_url, view["incident_id"])
    if link is not None:
        event["client_url"] = link
        event["links"] = [{"href": link, "text": "correlate console"}]
    return event


def alertmanager_message(view: Mapping[str, Any], receiver: str, console_url: str | None = None) -> dict[str, Any]:
    """An Alertmanager webhook message (version 4) of a vendor's view of an incident event."""
    closed = view["event"] in _CLOSED
    status = "resolved" if closed else "firing"
    vendors = view.get("vendors") or {}
    labels = {
        "alertname": ALERT_NAME,
        "incident_id": view["incident_id"],
        "number": view.get("number") or "",
        "severity": view.get("severity") or "error",
        "kind": view["kind"],
        "vendor": ",".join(vendors.get("at_fault") or []),
    }
    for name, value in sorted((view.get("scope") or {}).items()):
        if _LABEL_NAME.match(name) and name not in labels:
            labels[name] = str(value)
    labels = {name: value for name, value in labels.items() if value}
    annotations = {"summary": _title(view), "description": f"{view['event']}: {view['summary']}"}
    link = console_link(console_url, view["incident_id"])
    if link is not None:
        annotations["console"] = link
    acknowledged = view.get("acknowledged")
    if isinstance(acknowledged, Mapping):
        annotations["acknowledged_by"] = str(acknowledged.get("by", ""))
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": view["opened_at"],
        "endsAt": view["at"] if closed else NO_END,
        "generatorURL": link or "",
        "fingerprint": hashlib.sha256(view["incident_id"].encode()).hexdigest()[:16],
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{incident_id="{view["incident_id"]}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"incident_id": view["incident_id"]},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": (console_url or "").rstrip("/"),
        "alerts": [alert],
    }


def adapted(
    event: IncidentEvent,
    shape: Format,
    vendor: str,
    routing_key: str | None = None,
    console_url: str | None = None,
) -> dict[str, Any]:
    """What a vendor's webhook carries for ``event``, in the vendor's ``format``."""
    view = vendor_event(event.to_json())
    if shape is Format.PAGERDUTY:
        if routing_key is None:
            raise ValueError("a PagerDuty delivery needs its routing_key")
        return pagerduty_event(view, routing_key, console_url)
    if shape is Format.ALERTMANAGER:
        return alertmanager_message(view, vendor, console_url)
    return view
