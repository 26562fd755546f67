"""Incident events and customer notifications for tests that need a few made by hand: only what a test names
differs from a plain rate incident with no evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from correlate.events import (
    CustomerNotification,
    EventName,
    IncidentEvent,
    IncidentEvidence,
    Kind,
    Vendors,
)
from correlate.lifecycle import Reason

AT = "2026-03-02T10:00:00Z"


def incident_event(
    event: str = "opened",
    incident_id: str = "inc-1",
    *,
    kind: str = "rate",
    opened_at: str = AT,
    at: str | None = None,
    scope: Mapping[str, str] | None = None,
    at_fault: Sequence[str] = (),
    affected: Sequence[str] = (),
    customers: int = 0,
    observed: float = 0.0,
    expected: float = 0.0,
    window_minutes: float = 60.0,
    categories: Mapping[str, int] | None = None,
    sample_texts: Sequence[str] = (),
    reason: str | None = None,
    merged_into: str | None = None,
) -> IncidentEvent:
    name = EventName(event)
    if reason is None and name is not EventName.OPENED:
        reason = "quiet" if name is EventName.RESOLVED else "evidence-grew"
    return IncidentEvent(
        event=name,
        incident_id=incident_id,
        kind=Kind(kind),
        opened_at=opened_at,
        at=at or opened_at,
        scope=dict(scope or {}),
        vendors=Vendors(tuple(at_fault), tuple(affected)),
        evidence=IncidentEvidence(
            contacts=customers,
            customers=customers,
            observed=observed,
            expected=expected,
            window_minutes=window_minutes,
            by_channel={},
            by_source={},
            categories=dict(categories or {}),
            first_contact_at=None,
            sample_texts=tuple(sample_texts),
        ),
        confidence=0.99,
        p_value=0.01,
        summary=f"{kind} incident",
        reason=Reason(reason) if reason is not None else None,
        merged_into=merged_into,
    )


def notification(
    device_id: str = "d1", customer_id: str = "c1", *, at: str = AT, dimensions: Mapping[str, str] | None = None
) -> CustomerNotification:
    return CustomerNotification(
        device_id=device_id,
        customer_id=customer_id,
        at=at,
        last_seen_at=at,
        silent_minutes=30.0,
        usual_gap_minutes=5.0,
        dimensions=dict(dimensions or {}),
        related_incident=None,
        summary=f"device {device_id} has not reported",
    )
