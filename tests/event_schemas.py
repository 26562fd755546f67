"""The JSON Schemas of what correlate publishes, generated from the types in :mod:`correlate.events`.

msgspec writes the schema of a dataclass (fields, types, enums, nested types, docstrings as descriptions); this
adds what the types alone cannot say about the JSON ``to_json`` writes: which optional fields are left out rather
than written as null, which strings are RFC 3339 times, and which fields go with which event. msgspec is a test
dependency only: the shipped files are generated here and a test keeps them equal to what this writes.

Regenerate after changing the types: ``PYTHONPATH=src python3 tests/event_schemas.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from correlate.actions import _NEEDS_REASON, MAX_REASON, PERMITTED, ActionRecord, Verb
from correlate.events import CustomerNotification, FollowUpNotice, IncidentEvent

SCHEMAS = Path(__file__).resolve().parent.parent / "src" / "correlate" / "schemas"
REGENERATE = "PYTHONPATH=src python3 tests/event_schemas.py"
BASE_ID = "https://correlate.dev/schemas/"

# Left out of the JSON when they are None (never written as null), by the type that holds them.
OMITTED = {
    "IncidentEvent": {
        "reason",
        "evidence_kinds",
        "vendor_status",
        "merged_into",
        "event_id",
        "number",
        "severity",
        "action",
        "acknowledged",
        "suppressed",
    },
    "IncidentEvidence": {"telemetry", "symptom"},
}
# Strings with a shape beyond "a string", by field name.
SHAPES: dict[str, dict[str, str]] = {"number": {"pattern": "^INC-[0-9]+$"}, "event_id": {"format": "uuid"}}
TIMES = {
    "opened_at",
    "at",
    "first_contact_at",
    "declared_at",
    "updated_at",
    "last_seen_at",
    "until",
    "ts",
    "starts_at",
    "ends_at",
}
# TypedDicts say which keys are required themselves (NotRequired); dataclasses by OMITTED above.
TYPED_DICTS = {"ActionRecord", "FollowUpNotice"}

# Which fields go with which event, beyond the types: a reason on every updated and resolved event and never on
# opened; merged_into only on the resolved event of a silence a wider incident took in.
EVENT_RULES: list[dict[str, Any]] = [
    {
        "if": {"properties": {"event": {"const": "opened"}}},
        "then": {"not": {"required": ["reason"]}},
        "else": {"required": ["reason"]},
    },
    # A person's action: its event carries who did it, with reason "person"; the detection's events never do.
    {
        "if": {"required": ["action"]},
        "then": {
            "properties": {
                "event": {"enum": ["acknowledged", "dismissed", "noted", "denied", "resolved"]},
                "reason": {"const": "person"},
            }
        },
        "else": {"properties": {"event": {"enum": ["opened", "updated", "resolved"]}}},
    },
    {
        "if": {"required": ["merged_into"]},
        "then": {"properties": {"event": {"const": "resolved"}, "reason": {"const": "merged"}}},
    },
]


def _action_rules() -> list[dict[str, Any]]:
    """What validate_action checks beyond the types: the fields each verb and each role needs, and who may do
    what (correlate.actions.PERMITTED)."""
    rules: list[dict[str, Any]] = [
        {
            "if": {"properties": {"action": {"const": Verb.MAINTENANCE.value}}},
            "then": {
                "required": ["scope", "starts_at", "ends_at"],
                "not": {"required": ["incident_id"]},
                "properties": {"scope": {"minProperties": 1}},
            },
            "else": {
                "required": ["incident_id"],
                "not": {"anyOf": [{"required": [name]} for name in ("scope", "starts_at", "ends_at")]},
            },
        },
        {
            "if": {"properties": {"action": {"enum": sorted(verb.value for verb in _NEEDS_REASON)}}},
            "then": {"required": ["reason"]},
        },
        {
            "if": {"properties": {"role": {"const": "vendor"}}},
            "then": {"required": ["vendor"]},
            "else": {"not": {"required": ["vendor"]}},
        },
    ]
    for role, verbs in PERMITTED.items():
        rules.append(
            {
                "if": {"properties": {"role": {"const": role}}},
                "then": {"properties": {"action": {"enum": sorted(verb.value for verb in verbs)}}},
            }
        )
    return rules


# Non-blank text of bounded length, as validate_action takes it.
_TEXT = {"pattern": "\\S", "maxLength": MAX_REASON}
ACTION_TEXTS = {"by", "role", "reason", "vendor", "incident_id"}

DOCUMENTS: dict[str, tuple[type[Any], str, str]] = {
    "incident-event-v1.schema.json": (
        IncidentEvent,
        "correlate incident event, v1",
        "One lifecycle event of an incident (opened, updated, resolved), one JSON object a line, as correlate "
        "publishes it on the incidents topic and the vendors' topics and as `correlate replay` writes it. "
        "Generated from correlate.events.IncidentEvent (tests/event_schemas.py); a test keeps the two in step.",
    ),
    "customer-notification-v1.schema.json": (
        CustomerNotification,
        "correlate customer notification, v1",
        "A monitored device gone quiet, for its customer (event 'customer-notification'), as correlate publishes "
        "it on the notifications topic and as `correlate replay` writes it among the incident events. Generated "
        "from correlate.events.CustomerNotification (tests/event_schemas.py); a test keeps the two in step.",
    ),
    "follow-up-notice-v1.schema.json": (
        FollowUpNotice,
        "correlate follow-up notice, v1",
        "A customer who contacted us about an incident, told that it is fixed (event 'customer-notification' with "
        "its incident_id), as the API's notifier writes it on the notifications topic when the incident resolves. "
        "Generated from correlate.events.FollowUpNotice (tests/event_schemas.py); a test keeps the two in step.",
    ),
    "action-v1.schema.json": (
        ActionRecord,
        "correlate action, v1",
        "A person's action on incidents (acknowledge, resolve, dismiss, note, deny, maintenance), one JSON object, "
        "as the API and `correlate incident` write it to the input topic and as `correlate replay` reads it; its "
        "effect is an incident event naming it (action). Generated from correlate.actions.ActionRecord "
        "(tests/event_schemas.py); a test keeps the two in step.",
    ),
}


def schema(kind: type[Any], name: str, title: str, description: str) -> dict[str, Any]:
    generated = msgspec.json.schema(kind)
    definitions: dict[str, Any] = generated["$defs"]
    for type_name, definition in definitions.items():
        properties: dict[str, Any] | None = definition.get("properties")
        if properties is None:
            continue
        omitted = OMITTED.get(type_name, set())
        for field_name, field_schema in properties.items():
            field_schema.pop("default", None)
            if field_name in omitted:
                (present,) = [option for option in field_schema.pop("anyOf") if option != {"type": "null"}]
                field_schema.update(present)
            if field_name in TIMES:
                _as_time(field_schema)
            if field_name in SHAPES and field_schema.get("type") == "string":
                field_schema.update(SHAPES[field_name])
            if type_name == "ActionRecord" and field_name in ACTION_TEXTS:
                field_schema.update(_TEXT)
            if type_name == "ActionRecord" and field_name == "role":
                field_schema["enum"] = list(PERMITTED)
        if type_name not in TYPED_DICTS:
            definition["required"] = [field_name for field_name in properties if field_name not in omitted]
    if kind is IncidentEvent:
        definitions["IncidentEvent"]["allOf"] = EVENT_RULES
    if kind is ActionRecord:
        definitions["ActionRecord"]["allOf"] = _action_rules()
        definitions["ActionRecord"]["additionalProperties"] = False  # validate_action refuses unknown fields
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + name,
        "title": title,
        "description": description,
        "$ref": generated["$ref"],
        "$defs": definitions,
    }


def _as_time(field_schema: dict[str, Any]) -> None:
    for option in field_schema.get("anyOf", [field_schema]):
        if option.get("type") == "string":
            option["format"] = "date-time"


def rendered() -> dict[str, str]:
    """Each schema file's name and its text as it should be committed."""
    return {
        name: json.dumps(schema(kind, name, title, description), indent=2, ensure_ascii=False) + "\n"
        for name, (kind, title, description) in DOCUMENTS.items()
    }


def main() -> int:
    for name, text in rendered().items():
        (SCHEMAS / name).write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMAS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
