"""Partner status feeds (contract version 1): a vendor's own declared incident, as its status page shows it.

A vendor that knows its product is failing says so: ``"type": "vendor-status"``, its own incident id, the
component it names, what that means in our dimensions (``scope``), where it stands (``investigating``,
``identified``, ``monitoring``, ``resolved``) and a message for people. correlate shows the declaration beside
its own findings: a declared incident whose scope meets one we detected is merged into it, not duplicated.

Records are checked like contacts: a record that breaks the contract becomes a :class:`Rejection` with the
field and the reason. The rules are published as ``schemas/vendor-status-v1.schema.json``.
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
from correlate.scope import Scope, make_scope

__all__ = ["PHASES", "RESOLVED", "STATUS_FIELDS", "STATUS_VERSION", "VENDOR_STATUS", "VendorStatus", "validate_status"]

STATUS_VERSION: Final = 1
VENDOR_STATUS: Final = "vendor-status"
PHASES: Final = ("investigating", "identified", "monitoring", "resolved")
RESOLVED: Final = "resolved"
STATUS_FIELDS: Final = frozenset(
    {"type", "vendor", "status_id", "ts", "status", "component", "scope", "message", "version"}
)
_MESSAGE_LIMIT: Final = 2000


@dataclass(slots=True)
class VendorStatus:
    """One update of a vendor's declared incident; ``status_id`` is the vendor's own id for the incident."""

    vendor: str
    status_id: str
    ts: float
    status: str
    component: str
    scope: Scope
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resolved(self) -> bool:
        return self.status == RESOLVED


def validate_status(record: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> VendorStatus | Rejection:
    """Check one decoded JSON object whose ``type`` is ``vendor-status``; never raises."""
    try:
        version = record.get("version", STATUS_VERSION)
        if version != STATUS_VERSION or isinstance(version, bool):
            raise ContractError(
                "version", f"unsupported status version {show(version)}; this build reads {STATUS_VERSION}"
            )
        status = record.get("status")
        if status is None:
            raise ContractError("status", "is required")
        if not isinstance(status, str) or status not in PHASES:
            raise ContractError("status", f"{show(status)} is not one of {', '.join(PHASES)}")
        if "ts" not in record:
            raise ContractError("ts", "is required")
        scope = dimensions(record.get("scope"), limits) if "scope" in record else None
        if not scope:
            raise ContractError(
                "scope", 'is required: the dimension values the component stands for, e.g. {"service": "X"}'
            )
        if any(not value.strip() for value in scope.values()):
            blank = next(name for name, value in scope.items() if not value.strip())
            raise ContractError(f"scope.{blank}", "must not be blank")
        message = record.get("message")
        if message is not None and not isinstance(message, str):
            raise ContractError("message", f"must be a string or null, not {json_type(message)}")
        return VendorStatus(
            vendor=required_text(record, "vendor"),
            status_id=required_text(record, "status_id"),
            ts=parse_timestamp(record["ts"]),
            status=status,
            component=required_text(record, "component"),
            scope=make_scope((name, value.strip()) for name, value in scope.items()),
            message=(message or "")[:_MESSAGE_LIMIT],
            extra=extra_fields(record, STATUS_FIELDS, limits),
        )
    except ContractError as invalid:
        return Rejection(invalid.field.replace("dimensions", "scope", 1), invalid.reason, record)
