"""The telemetry contract (version 1): device heartbeats and partner summaries of them, and how they are checked.

A partner that monitors devices (alarm panels, set-top boxes, routers) sends either one record per heartbeat
(``"type": "heartbeat"``: this device, of this customer, said it was alive at this time) or one record per
population and period (``"type": "heartbeat-summary"``: 1,204 devices of model X in region North reported in
the minute ending at this time). Heartbeats are what let correlate see a fault that nobody has called about yet:
when a population goes quiet, or when one monitored device stops reporting.

Like contacts (:mod:`correlate.contracts`), a record that breaks the contract becomes a :class:`Rejection`
naming the field and the reason; it never raises. The same rules are published as a JSON Schema
(``schemas/telemetry-v1.schema.json``); a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from correlate.contracts import (
    Rejection,
    dimensions,
    extra_fields,
    json_type,
    parse_timestamp,
    required_text,
    show,
)
from correlate.errors import ContractError
from correlate.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "HEALTHY",
    "HEARTBEAT",
    "HEARTBEAT_FIELDS",
    "MAX_PERIOD",
    "STATUSES",
    "SUMMARY",
    "SUMMARY_FIELDS",
    "TELEMETRY_VERSION",
    "Heartbeat",
    "HeartbeatSummary",
    "Telemetry",
    "validate_telemetry",
]

TELEMETRY_VERSION: Final = 1
HEARTBEAT: Final = "heartbeat"
SUMMARY: Final = "heartbeat-summary"
# What a device says about itself. ``ok``, ``degraded`` and ``standby`` (going to sleep: do not wait for me) are
# signs of life; a device reported ``failing`` or ``offline`` (by a gateway relaying for it, say) counts as a
# heartbeat that did not come.
STATUSES: Final = ("ok", "degraded", "standby", "failing", "offline")
HEALTHY: Final = frozenset({"ok", "degraded", "standby"})
HEARTBEAT_FIELDS: Final = frozenset(
    {"type", "device_id", "customer_id", "ts", "source", "dimensions", "status", "until", "version"}
)
SUMMARY_FIELDS: Final = frozenset(
    {"type", "summary_id", "ts", "source", "dimensions", "devices", "standby", "period", "version"}
)
# A summary covers at most a day: longer periods say nothing about the last few minutes.
MAX_PERIOD: Final = 86_400.0


@dataclass(slots=True)
class Heartbeat:
    """One device's sign of life (or its report that it is unwell). ``ts`` is event time in epoch seconds."""

    device_id: str
    customer_id: str
    ts: float
    source: str
    dimensions: Mapping[str, str]
    status: str = "ok"
    until: float | None = None  # a device going to standby says when it will be back (epoch seconds), if it knows
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.status in HEALTHY

    @property
    def devices(self) -> int:
        """Healthy devices this record stands for (1 or 0), as a summary counts them."""
        return 1 if self.status in HEALTHY else 0


@dataclass(slots=True)
class HeartbeatSummary:
    """``devices`` healthy devices in ``dimensions`` reported in the ``period`` seconds ending at ``ts``, and
    ``standby`` more said they are in standby (a planned maintenance: present, not silent)."""

    summary_id: str
    ts: float
    source: str
    dimensions: Mapping[str, str]
    devices: int
    period: float = 60.0
    standby: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


Telemetry = Heartbeat | HeartbeatSummary


def validate_telemetry(record: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Telemetry | Rejection:
    """Check one decoded JSON object whose ``type`` is ``heartbeat`` or ``heartbeat-summary``; never raises."""
    try:
        _version(record)
        kind = record.get("type")
        if kind == HEARTBEAT:
            return _heartbeat(record, limits)
        if kind == SUMMARY:
            return _summary(record, limits)
        raise ContractError("type", f"{show(kind)} is not one of {HEARTBEAT}, {SUMMARY}")
    except ContractError as invalid:
        return Rejection(invalid.field, invalid.reason, record)


def _heartbeat(record: Mapping[str, Any], limits: Limits) -> Heartbeat:
    status = record.get("status", "ok")
    if status not in STATUSES or not isinstance(status, str):
        raise ContractError("status", f"{show(status)} is not one of {', '.join(STATUSES)}")
    return Heartbeat(
        device_id=required_text(record, "device_id"),
        customer_id=required_text(record, "customer_id"),
        ts=_ts(record),
        source=required_text(record, "source"),
        dimensions=dimensions(record.get("dimensions"), limits),
        status=status,
        until=_until(record.get("until")),
        extra=extra_fields(record, HEARTBEAT_FIELDS, limits),
    )


def _summary(record: Mapping[str, Any], limits: Limits) -> HeartbeatSummary:
    return HeartbeatSummary(
        summary_id=required_text(record, "summary_id"),
        ts=_ts(record),
        source=required_text(record, "source"),
        dimensions=dimensions(record.get("dimensions"), limits),
        devices=_count("devices", record.get("devices")),
        period=_period(record.get("period")),
        standby=_count("standby", record.get("standby", 0)),
        extra=extra_fields(record, SUMMARY_FIELDS, limits),
    )


def _version(record: Mapping[str, Any]) -> None:
    version = record.get("version", TELEMETRY_VERSION)
    if version != TELEMETRY_VERSION or isinstance(version, bool):
        raise ContractError(
            "version", f"unsupported telemetry version {show(version)}; this build reads {TELEMETRY_VERSION}"
        )


def _ts(record: Mapping[str, Any]) -> float:
    if "ts" not in record:
        raise ContractError("ts", "is required")
    return parse_timestamp(record["ts"])


def _until(value: object) -> float | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ContractError as invalid:
        raise ContractError("until", invalid.reason) from None


def _count(name: str, value: object) -> int:
    if value is None:
        raise ContractError(name, "is required")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(name, f"must be a whole number >= 0, not {show(value)}")
    if value < 0:
        raise ContractError(name, f"must be >= 0, not {show(value)}")
    return value


def _period(value: object) -> float:
    if value is None:
        return 60.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError("period", f"must be a number of seconds, not {json_type(value)}")
    if not 0 < value <= MAX_PERIOD:
        raise ContractError("period", f"{show(value)} is not in (0, {MAX_PERIOD:g}] seconds")
    return float(value)
