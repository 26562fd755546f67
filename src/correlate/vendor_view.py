"""What a vendor may see of an incident: the one policy behind every vendor-bound channel.

A vendor learns of its incidents three ways: its Kafka topic (``incidents.vendor.<id>``), its webhook, and the
API with a vendor token. All three shape what they send with the functions here, so that a field added to an
incident event or to the API's incident detail reaches a vendor only once it is named below: the policy is a list
of what is allowed, not of what is removed.

A vendor sees the fault, not the customers: counts, channels, categories and times, never the customers' own
words (``evidence.sample_texts`` and ``evidence.symptom.exemplars``, kept as empty lists so the payload is still a
valid incident-event-v1; ``evidence.symptom.customers``, how many described the symptom, it sees), never
a customer or contact id, not even as a dimension of the scope, and in the API none of the people (owners,
follow-up lists, notifications) and only its own deliveries and escalations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "DETAIL_FIELDS",
    "EVENT_FIELDS",
    "EVIDENCE_FIELDS",
    "PERSONAL_DIMENSIONS",
    "SUMMARY_FIELDS",
    "vendor_detail",
    "vendor_event",
    "vendor_summary",
]

# Incident event (correlate.events.IncidentEvent.to_json): everything but the customers' words. "severity" is
# allowed ahead of the incident events carrying it: how bad a fault is is the vendor's business.
EVENT_FIELDS: Final = frozenset(
    {
        "event",
        "incident_id",
        "kind",
        "opened_at",
        "at",
        "reason",
        "scope",
        "vendors",
        "evidence",
        "confidence",
        "p_value",
        "summary",
        "evidence_kinds",
        "vendor_status",
        "merged_into",
        "severity",
        "number",
        "event_id",
        "acknowledged",
        "action",
    }
)
EVIDENCE_FIELDS: Final = frozenset(
    {
        "contacts",
        "customers",
        "observed",
        "expected",
        "window_minutes",
        "by_channel",
        "by_source",
        "categories",
        "first_contact_at",
        "telemetry",
        "symptom",
    }
)
# Dimensions that name one person or one contact (the contact contract's own id fields): never in a vendor's
# scope, however a deployment configured its dimensions.
PERSONAL_DIMENSIONS: Final = frozenset({"customer_id", "contact_id", "device_id", "account_id"})
# The API's incident list entry and detail (correlate.store): people are blanked, not dropped, so that a vendor's
# answer has the same shape as anyone's (the OpenAPI document describes one).
SUMMARY_FIELDS: Final = frozenset(
    {
        "incident_id",
        "kind",
        "status",
        "opened_at",
        "last_event_at",
        "resolved_at",
        "scope",
        "vendors",
        "customers",
        "owner",
        "follow_up_count",
        "severity",
        "number",
        "acknowledged",
        "suppressed",
    }
)
DETAIL_FIELDS: Final = SUMMARY_FIELDS | frozenset(
    {
        "timeline",
        "evidence",
        "confidence",
        "summary",
        "follow_ups",
        "notifications",
        "escalations",
        "deliveries",
        "vendors_notified",
        "owner_assigned",
        "actions",
    }
)
_TIMELINE_FIELDS: Final = frozenset(
    {"event", "at", "scope", "customers", "contacts", "observed", "expected", "confidence", "summary"}
)


def _scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in scope.items() if name not in PERSONAL_DIMENSIONS}


def _evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    view = {name: value for name, value in evidence.items() if name in EVIDENCE_FIELDS}
    view["sample_texts"] = []
    symptom = view.get("symptom")
    if isinstance(symptom, Mapping):  # how many described it, not in whose words
        view["symptom"] = {**symptom, "exemplars": []}
    telemetry = view.get("telemetry")
    if isinstance(telemetry, Mapping):
        view["telemetry"] = {**telemetry, "scope": _scope(telemetry.get("scope") or {})}
    return view


def vendor_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An incident event (its JSON object) as a vendor receives it, on its topic and by webhook."""
    view = {name: value for name, value in event.items() if name in EVENT_FIELDS}
    if "scope" in view:
        view["scope"] = _scope(view["scope"])
    if "evidence" in view:
        view["evidence"] = _evidence(view["evidence"])
    status = view.get("vendor_status")
    if isinstance(status, Mapping):
        view["vendor_status"] = {**status, "scope": _scope(status.get("scope") or {})}
    return view


def vendor_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """An entry of the API's incident list as a vendor sees it: no owner."""
    view = {name: value for name, value in summary.items() if name in SUMMARY_FIELDS}
    view["owner"] = None
    if "scope" in view:
        view["scope"] = _scope(view["scope"])
    return view


def vendor_detail(detail: Mapping[str, Any], vendor: str) -> dict[str, Any]:
    """The API's incident detail as ``vendor`` sees it: the fault and its own deliveries and escalations; no
    owner, follow-ups, notifications or customers' words."""
    view = vendor_summary(detail)
    view.update({name: value for name, value in detail.items() if name in DETAIL_FIELDS - SUMMARY_FIELDS})
    view["owner_assigned"] = None
    view["follow_ups"] = []
    view["notifications"] = []
    view["escalations"] = [e for e in detail.get("escalations", []) if e.get("to") == f"vendor:{vendor}"]
    view["deliveries"] = [d for d in detail.get("deliveries", []) if d.get("vendor") == vendor]
    view["actions"] = [a for a in detail.get("actions", []) if a.get("vendor") == vendor]
    if "evidence" in view:
        view["evidence"] = _evidence(view["evidence"])
    view["timeline"] = [
        {**{k: v for k, v in entry.items() if k in _TIMELINE_FIELDS}, "scope": _scope(entry.get("scope") or {})}
        for entry in detail.get("timeline", [])
    ]
    return view
