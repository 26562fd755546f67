"""The telemetry and vendor-status contracts: what is accepted, what is rejected and why, and how one input
stream carrying contacts, heartbeats and status records is told apart. The validators and the published JSON
Schemas must agree on every record here."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from correlate.config import Settings
from correlate.contracts import Contact, Rejection
from correlate.engine import Engine
from correlate.intake import validate_record
from correlate.status_feed import VendorStatus, validate_status
from correlate.telemetry import Heartbeat, HeartbeatSummary, validate_telemetry

HEARTBEAT: dict[str, Any] = {
    "type": "heartbeat",
    "device_id": "panel-0017",
    "customer_id": "c9f2e1a4b7",
    "ts": "2026-03-02T19:05:00Z",
    "source": "partner:alarmco",
    "dimensions": {"device_brand": "Sonique", "region": "north"},
}
SUMMARY: dict[str, Any] = {
    "type": "heartbeat-summary",
    "summary_id": "s-1",
    "ts": 1772478300,
    "source": "partner:alarmco",
    "dimensions": {"device_model": "S7"},
    "devices": 1204,
    "period": 60,
}
STATUS: dict[str, Any] = {
    "type": "vendor-status",
    "vendor": "flixco",
    "status_id": "fx-1",
    "ts": "2026-03-02T19:20:00Z",
    "status": "identified",
    "component": "Playback API",
    "scope": {"service": "FlixCo"},
    "message": "a fix is being deployed",
}
CONTACT: dict[str, Any] = {
    "contact_id": "c1",
    "ts": "2026-03-02T19:05:12Z",
    "channel": "voice",
    "customer_id": "u1",
    "source": "centre",
}


def _schema(name: str) -> Draft202012Validator:
    text = (resources.files("correlate") / "schemas" / name).read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


TELEMETRY_SCHEMA = _schema("telemetry-v1.schema.json")
STATUS_SCHEMA = _schema("vendor-status-v1.schema.json")


def _schema_fields(checker: Draft202012Validator, record: object) -> set[str]:
    fields: set[str] = set()
    for error in checker.iter_errors(record):
        for leaf in [error, *(error.context or [])]:
            if leaf.validator == "required":
                fields.update(name for name in leaf.validator_value if name not in leaf.instance)
            elif leaf.validator not in ("allOf", "if", "$ref"):
                fields.add(".".join(str(part) for part in leaf.absolute_path))
    return fields


def changed(base: dict[str, Any], **values: Any) -> dict[str, Any]:
    record = {**base, **values}
    return {k: v for k, v in record.items() if v is not _DROP}


_DROP = object()


# -- heartbeats and summaries ---------------------------------------------------------------------------------


def test_a_heartbeat_and_a_summary_are_accepted() -> None:
    beat = validate_record(HEARTBEAT)
    assert isinstance(beat, Heartbeat)
    assert (beat.device_id, beat.customer_id, beat.status, beat.healthy) == ("panel-0017", "c9f2e1a4b7", "ok", True)
    summary = validate_record(SUMMARY)
    assert isinstance(summary, HeartbeatSummary)
    assert (summary.devices, summary.period) == (1204, 60.0)


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (changed(HEARTBEAT, device_id=_DROP), "device_id", "is required"),
        (changed(HEARTBEAT, device_id="  "), "device_id", "must not be empty"),
        (changed(HEARTBEAT, customer_id=7), "customer_id", "must be a string, not number"),
        (changed(HEARTBEAT, ts=_DROP), "ts", "is required"),
        (changed(HEARTBEAT, ts="2026-03-02T19:05:00"), "ts", "no zone"),
        (changed(HEARTBEAT, ts=1772478300000), "ts", "milliseconds sent as seconds"),
        (changed(HEARTBEAT, source=_DROP), "source", "is required"),
        (changed(HEARTBEAT, status="asleep"), "status", "is not one of ok, degraded, standby, failing, offline"),
        (changed(HEARTBEAT, dimensions={"region": 3}), "dimensions.region", "must be a string, not number"),
        (changed(HEARTBEAT, version=2), "version", "unsupported telemetry version 2"),
        (changed(SUMMARY, devices=_DROP), "devices", "is required"),
        (changed(SUMMARY, devices=-1), "devices", "must be >= 0"),
        (changed(SUMMARY, devices=2.5), "devices", "must be a whole number >= 0"),
        (changed(SUMMARY, standby=-3), "standby", "must be >= 0"),
        (changed(HEARTBEAT, status="standby", until="tomorrow"), "until", "RFC 3339"),
        (changed(SUMMARY, period=0), "period", "is not in (0, 86400] seconds"),
        (changed(SUMMARY, period="60"), "period", "must be a number of seconds, not string"),
        (changed(SUMMARY, summary_id=_DROP), "summary_id", "is required"),
    ],
)
def test_telemetry_rejections_name_the_field_and_the_reason(record: dict[str, Any], field: str, reason: str) -> None:
    result = validate_record(record)
    assert isinstance(result, Rejection)
    assert result.field == field
    assert reason in result.reason
    assert field in _schema_fields(TELEMETRY_SCHEMA, record), "the schema rejects it for the same field"


@pytest.mark.parametrize(
    "record",
    [
        HEARTBEAT,
        SUMMARY,
        changed(HEARTBEAT, status="standby", dimensions=None, extra_field=[1]),
        changed(HEARTBEAT, ts=1772478300.5, version=1),
        changed(SUMMARY, devices=0, period=_DROP),
        changed(SUMMARY, devices=3.0, period=86400),
    ],
)
def test_records_the_validator_accepts_the_schema_accepts(record: dict[str, Any]) -> None:
    assert not isinstance(validate_telemetry(record), Rejection)
    assert _schema_fields(TELEMETRY_SCHEMA, record) == set()


# -- vendor status --------------------------------------------------------------------------------------------


def test_a_vendor_status_is_accepted_with_its_scope() -> None:
    status = validate_record(STATUS)
    assert isinstance(status, VendorStatus)
    assert status.scope == (("service", "FlixCo"),)
    assert not status.resolved
    assert _schema_fields(STATUS_SCHEMA, STATUS) == set()


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (changed(STATUS, status="fixed"), "status", "is not one of investigating, identified, monitoring, resolved"),
        (changed(STATUS, status=_DROP), "status", "is required"),
        (changed(STATUS, scope=_DROP), "scope", "is required"),
        (changed(STATUS, scope={}), "scope", "is required"),
        (changed(STATUS, scope={"service": " "}), "scope.service", "must not be blank"),
        (changed(STATUS, scope={"service": 1}), "scope.service", "must be a string"),
        (changed(STATUS, vendor=_DROP), "vendor", "is required"),
        (changed(STATUS, component=""), "component", "must not be empty"),
        (changed(STATUS, message=5), "message", "must be a string or null"),
        (changed(STATUS, ts="yesterday"), "ts", "not an RFC 3339 date-time"),
    ],
)
def test_status_rejections_name_the_field_and_the_reason(record: dict[str, Any], field: str, reason: str) -> None:
    result = validate_status(record)
    assert isinstance(result, Rejection)
    assert (result.field, reason in result.reason) == (field, True), result.reason
    assert field in _schema_fields(STATUS_SCHEMA, record)


# -- one stream, several kinds --------------------------------------------------------------------------------


def test_a_record_without_type_is_a_contact_as_it_always_was() -> None:
    assert isinstance(validate_record(CONTACT), Contact)


def test_a_contact_with_a_type_of_its_own_stays_a_contact_and_keeps_it() -> None:
    contact = validate_record({**CONTACT, "type": "complaint"})
    assert isinstance(contact, Contact)
    assert contact.extra == {"type": "complaint"}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"type": "heartbeet", "device_id": "d"}, '"heartbeet" is not one of contact, heartbeat'),
        ({"type": 3}, "must be a string naming the record's kind, not number"),
    ],
)
def test_an_unknown_type_is_rejected_on_the_type_field(record: dict[str, Any], reason: str) -> None:
    result = validate_record(record)
    assert isinstance(result, Rejection)
    assert result.field == "type"
    assert reason in result.reason


def test_the_engine_counts_telemetry_and_rejects_it_with_the_reason() -> None:
    engine = Engine(Settings(clock_quorum=1))  # every record moves the clock: the day before is already scored
    assert engine.process(HEARTBEAT).rejection is None
    assert engine.process(STATUS).rejection is None
    bad = engine.process(changed(HEARTBEAT, status="asleep")).rejection
    assert bad is not None and bad.field == "status"
    late = engine.process(changed(HEARTBEAT, ts="2026-03-01T00:00:00Z")).rejection
    assert late is not None and late.field == "ts" and "late" in late.reason
    assert (engine.counts.telemetry, engine.counts.statuses, engine.counts.accepted) == (1, 1, 0)
    assert engine.counts.rejected == {"status": 1, "ts": 1}


def test_a_summary_delivered_twice_is_counted_once() -> None:
    engine = Engine(Settings())
    engine.process(SUMMARY)
    engine.process(SUMMARY)
    assert (engine.counts.telemetry, engine.counts.duplicates) == (1, 1)
