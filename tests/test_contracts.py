"""The contact contract: the published JSON Schema and the hand-written validator say the same thing.

Partners check their feeds with the schema; correlate checks them with ``contracts.validate``. Every record
below must get the same verdict from both, and a rejected record must name the same field in both.
"""

from __future__ import annotations

import json
import random
import re
import string
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from correlate.contracts import (
    CHANNELS,
    KNOWN_FIELDS,
    SCHEMA_VERSION,
    TS_PATTERN,
    Contact,
    Rejection,
    format_time,
    parse_timestamp,
    validate,
)

SCHEMA_ID = "https://correlate.dev/schemas/contact-v1.schema.json"
REQUIRED = ("contact_id", "ts", "channel", "customer_id", "source")


def load_schema() -> dict[str, Any]:
    resource = resources.files("correlate") / "schemas" / "contact-v1.schema.json"
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


SCHEMA = load_schema()
# FormatChecker makes "format: date-time" a check (jsonschema skips formats unless given one).
CHECKED = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
PLAIN = Draft202012Validator(SCHEMA)

CENTRE_CONTACT: dict[str, Any] = {
    "contact_id": "lis-20260302-000417",
    "ts": "2026-03-02T19:05:12.5Z",
    "channel": "voice",
    "customer_id": "c9f2e1a4b7",
    "source": "centre:lisbon",
    "dimensions": {"device_brand": "Sonique", "device_model": "S7", "service": "StreamPlus"},
    "category": "no-signal",
    "text": "TV says no signal since this evening",
}
PARTNER_AGGREGATE: dict[str, Any] = {
    "contact_id": "acme-batch-17",
    "ts": 1772478000,
    "channel": "partner",
    "customer_id": "acme-aggregate",
    "source": "partner:acme-retail",
    "dimensions": {"device_brand": "Sonique", "service": "StreamPlus"},
    "count": 23,
    "version": 1,
}
MINIMAL: dict[str, Any] = {key: CENTRE_CONTACT[key] for key in REQUIRED}


def changed(base: dict[str, Any] = CENTRE_CONTACT, **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def without(name: str, base: dict[str, Any] = CENTRE_CONTACT) -> dict[str, Any]:
    return {key: value for key, value in base.items() if key != name}


def schema_fields(record: object, checker: Draft202012Validator = CHECKED) -> set[str]:
    """The fields the schema's errors point at, spelled as ``Rejection.field`` spells them."""
    fields: set[str] = set()
    for error in checker.iter_errors(record):
        if error.validator == "required":
            fields.update(name for name in error.validator_value if name not in error.instance)
        else:
            fields.add(".".join(str(part) for part in error.absolute_path))
    return fields


def assert_agree(record: object) -> Contact | Rejection:
    result = validate(record)
    fields = schema_fields(record)
    if isinstance(result, Contact):
        assert not fields, f"validator accepts, schema rejects ({sorted(fields)}): {record!r}"
    else:
        assert fields, f"validator rejects ({result}), schema accepts: {record!r}"
        assert result.field in fields, f"validator: {result.field!r}, schema: {sorted(fields)}: {record!r}"
    return result


# --- the schema itself --------------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == SCHEMA_ID
    assert SCHEMA["title"]
    assert SCHEMA["additionalProperties"] is True


def test_schema_ships_inside_the_package() -> None:
    resource = resources.files("correlate") / "schemas" / "contact-v1.schema.json"
    assert resource.is_file()


def test_every_property_is_described() -> None:
    for name, spec in SCHEMA["properties"].items():
        assert spec.get("description"), f"{name} has no description"
    for branch in SCHEMA["properties"]["ts"]["anyOf"]:
        assert branch.get("description")


def test_schema_names_the_fields_and_channels_the_validator_knows() -> None:
    assert set(SCHEMA["properties"]) == KNOWN_FIELDS
    assert set(SCHEMA["required"]) == set(REQUIRED)
    assert set(SCHEMA["properties"]["channel"]["enum"]) == CHANNELS
    assert SCHEMA["properties"]["version"]["const"] == SCHEMA_VERSION


def test_schema_ts_pattern_is_the_validators() -> None:
    text_branch = next(b for b in SCHEMA["properties"]["ts"]["anyOf"] if b["type"] == "string")
    assert text_branch["pattern"] == TS_PATTERN
    assert text_branch["format"] == "date-time"


@pytest.mark.parametrize("ts", ["2026-03-02T19:05:12", "2026-03-02 19:05:12Z", "2026-03-02T19:05:12Z\n"])
def test_schema_alone_rejects_bad_time_text_without_a_format_checker(ts: str) -> None:
    assert schema_fields(changed(ts=ts), checker=PLAIN) == {"ts"}


def test_schema_examples_are_valid_contacts() -> None:
    for example in SCHEMA["examples"]:
        assert isinstance(assert_agree(example), Contact)


def test_the_documented_examples_are_valid_contacts() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "contact-contract.md").read_text(encoding="utf-8")
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", doc, flags=re.S)]
    assert len(examples) == 2
    centre, partner = (assert_agree(example) for example in examples)
    assert isinstance(centre, Contact) and not centre.is_partner
    assert isinstance(partner, Contact) and partner.is_partner and partner.count > 1


# --- a table of records: schema and validator agree ---------------------------------------------------------

GOOD = [
    pytest.param(CENTRE_CONTACT, id="centre-contact"),
    pytest.param(PARTNER_AGGREGATE, id="partner-aggregate"),
    pytest.param(MINIMAL, id="only-required-fields"),
    pytest.param(changed(ts=1772478312), id="epoch-seconds"),
    pytest.param(changed(ts=1772478312.25), id="epoch-seconds-fraction"),
    pytest.param(changed(ts=0), id="epoch-zero"),
    pytest.param(changed(ts="2026-03-02T20:05:12+01:00"), id="offset"),
    pytest.param(changed(ts="2026-03-02T13:35:12-05:30"), id="negative-offset"),
    pytest.param(changed(ts="2026-03-02t19:05:12z"), id="lower-case-t-z"),
    pytest.param(changed(ts="2026-03-02T19:05:12.123456789Z"), id="nanoseconds"),
    pytest.param(changed(ts="2024-02-29T00:00:00Z"), id="leap-day"),
    pytest.param(changed(ts="1970-01-01T00:00:00+01:00"), id="year-1970-as-written"),
    pytest.param(changed(ts="2199-12-31T23:59:59Z"), id="year-2199"),
    pytest.param(changed(count=1), id="count-1"),
    pytest.param(changed(count=2.0), id="count-2.0-is-an-integer-in-json"),
    pytest.param(changed(count=None), id="count-null"),
    pytest.param(changed(version=1.0), id="version-1.0"),
    pytest.param(changed(dimensions=None), id="dimensions-null"),
    pytest.param(changed(dimensions={}), id="dimensions-empty"),
    pytest.param(changed(dimensions={"region": ""}), id="dimension-value-blank"),
    pytest.param(changed(category=None, text=None), id="category-text-null"),
    pytest.param(changed(source="partner:acme"), id="partner-source"),
    pytest.param(changed(contact_id=" x "), id="id-with-spaces-around"),
    pytest.param(changed(agent_id="a-17", queue={"name": "tv"}), id="unknown-fields"),
]


@pytest.mark.parametrize("record", GOOD)
def test_good_records_pass_both(record: dict[str, Any]) -> None:
    assert isinstance(assert_agree(record), Contact)


BAD = [
    *(pytest.param(without(name), name, "is required", id=f"missing-{name}") for name in REQUIRED),
    pytest.param(changed(contact_id=None), "contact_id", "is required", id="contact-id-null"),
    pytest.param(changed(contact_id=""), "contact_id", "must not be empty", id="contact-id-empty"),
    pytest.param(changed(contact_id=" \t"), "contact_id", "must not be empty", id="contact-id-blank"),
    pytest.param(changed(contact_id=417), "contact_id", "must be a string, not number", id="id-number"),
    pytest.param(changed(customer_id=""), "customer_id", "must not be empty", id="customer-id-empty"),
    pytest.param(changed(channel="fax"), "channel", '"fax" is not one of app, chat,', id="channel-unknown"),
    pytest.param(changed(channel="Voice"), "channel", '"Voice" is not one of', id="channel-capitalised"),
    pytest.param(changed(channel=["voice"]), "channel", "must be a string, not array", id="channel-array"),
    pytest.param(changed(ts="2026-03-02T19:05:12"), "ts", "has no zone; add 'Z'", id="ts-naive"),
    pytest.param(changed(ts="2026-03-02"), "ts", "not an RFC 3339 date-time", id="ts-date-only"),
    pytest.param(changed(ts="1772478312"), "ts", "not an RFC 3339 date-time", id="ts-epoch-as-text"),
    pytest.param(changed(ts=""), "ts", "not an RFC 3339 date-time", id="ts-empty"),
    pytest.param(changed(ts="2026-03-02 19:05:12Z"), "ts", "not in RFC 3339 form", id="ts-space-separator"),
    pytest.param(changed(ts="20260302T190512Z"), "ts", "not in RFC 3339 form", id="ts-basic-form"),
    pytest.param(changed(ts="2026-03-02T19:05:12+0100"), "ts", "not in RFC 3339 form", id="ts-offset-0100"),
    pytest.param(changed(ts="2026-03-02T19:05Z"), "ts", "not in RFC 3339 form", id="ts-no-seconds"),
    pytest.param(changed(ts="2026-03-02T19:05:12,5Z"), "ts", "not in RFC 3339 form", id="ts-decimal-comma"),
    pytest.param(changed(ts=" 2026-03-02T19:05:12Z"), "ts", "white space around it", id="ts-leading-space"),
    pytest.param(changed(ts="2026-03-02T19:05:12Z\n"), "ts", "white space around it", id="ts-newline"),
    pytest.param(changed(ts="2026-02-30T19:05:12Z"), "ts", "day that does not exist", id="ts-february-30"),
    pytest.param(changed(ts="2016-12-31T23:59:60Z"), "ts", "is a leap second", id="ts-leap-second"),
    pytest.param(changed(ts="1969-12-31T23:59:59Z"), "ts", "outside the years 1970..2199", id="ts-year-1969"),
    pytest.param(changed(ts="2200-01-01T00:00:00Z"), "ts", "outside the years 1970..2199", id="ts-year-2200"),
    pytest.param(changed(ts=1772478312500), "ts", "milliseconds sent as seconds?", id="ts-ms-as-seconds"),
    pytest.param(changed(ts=7258118400), "ts", "outside 1970..2200", id="ts-epoch-2200"),
    pytest.param(changed(ts=-1), "ts", "outside 1970..2200", id="ts-negative"),
    pytest.param(changed(ts=10**400), "ts", "outside 1970..2200", id="ts-huge-integer"),
    pytest.param(changed(ts=True), "ts", "not a boolean", id="ts-boolean"),
    pytest.param(changed(ts=None), "ts", "not null", id="ts-null"),
    pytest.param(changed(ts={"seconds": 1}), "ts", "not object", id="ts-object"),
    pytest.param(changed(source=""), "source", "must not be empty", id="source-empty"),
    pytest.param(changed(source="partner:"), "source", "followed by the partner's id", id="partner-no-id"),
    pytest.param(changed(source="partner:  "), "source", "followed by the partner's id", id="partner-blank"),
    pytest.param(changed(source=7), "source", "must be a string, not number", id="source-number"),
    pytest.param(changed(dimensions="Sonique"), "dimensions", "must be an object", id="dimensions-string"),
    pytest.param(changed(dimensions=[["region", "north"]]), "dimensions", "not array", id="dimensions-array"),
    pytest.param(changed(dimensions={"model": 7}), "dimensions.model", "must be a string, not number", id="dim-7"),
    pytest.param(changed(dimensions={"region": None}), "dimensions.region", "string, not null", id="dim-null"),
    pytest.param(changed(dimensions={"": "x"}), "dimensions", "names must not be empty", id="dim-name-empty"),
    pytest.param(changed(category=5), "category", "must be a string or null, not number", id="category-5"),
    pytest.param(changed(text={"body": "hi"}), "text", "must be a string or null, not object", id="text-object"),
    pytest.param(changed(count=0), "count", "must be >= 1, not 0", id="count-0"),
    pytest.param(changed(count=-1), "count", "must be >= 1, not -1", id="count-negative"),
    pytest.param(changed(count=2.5), "count", "must be a whole number >= 1, not 2.5", id="count-fraction"),
    pytest.param(changed(count=True), "count", "must be a whole number >= 1, not true", id="count-boolean"),
    pytest.param(changed(count="3"), "count", 'must be a whole number >= 1, not "3"', id="count-text"),
    pytest.param(changed(version=2), "version", "unsupported contract version 2; this build reads 1", id="v2"),
    pytest.param(changed(version="1"), "version", 'unsupported contract version "1"', id="version-text"),
    pytest.param(changed(version=True), "version", "unsupported contract version true", id="version-boolean"),
    pytest.param(changed(version=None), "version", "unsupported contract version null", id="version-null"),
    pytest.param([CENTRE_CONTACT], "", "must be a JSON object, not array", id="record-array"),
    pytest.param("contact", "", "must be a JSON object, not string", id="record-string"),
    pytest.param(None, "", "must be a JSON object, not null", id="record-null"),
    pytest.param(5, "", "must be a JSON object, not number", id="record-number"),
]


@pytest.mark.parametrize(("record", "field", "reason"), BAD)
def test_bad_records_fail_both_naming_the_field(record: object, field: str, reason: str) -> None:
    rejection = assert_agree(record)
    assert isinstance(rejection, Rejection)
    assert rejection.field == field
    assert reason in rejection.reason
    assert rejection.record is record
    assert str(rejection) == (f"{field}: {rejection.reason}" if field else rejection.reason)
    assert rejection.to_json()["field"] == field


@pytest.mark.parametrize(("record", "field", "reason"), BAD)
def test_rejection_reasons_read_as_json_not_python(record: object, field: str, reason: str) -> None:
    rejection = validate(record)
    assert isinstance(rejection, Rejection)
    for python_word in ("NoneType", "dict", "list", "str ", "int ", "bool ", "True", "None"):
        assert python_word not in rejection.reason
    assert len(rejection.reason) < 200  # a 400-digit number is shown cut short


# --- what an accepted record becomes ------------------------------------------------------------------------


def test_unknown_fields_are_kept_in_extra() -> None:
    contact = validate({**MINIMAL, "agent_id": "a-17"})
    assert isinstance(contact, Contact)
    assert contact.extra == {"agent_id": "a-17"}


def test_many_unknown_fields_are_kept_in_extra() -> None:
    contact = validate(changed(agent_id="a-17", queue={"name": "tv"}, wait_s=42))
    assert isinstance(contact, Contact)
    assert contact.extra == {"agent_id": "a-17", "queue": {"name": "tv"}, "wait_s": 42}


def test_known_fields_are_not_extra() -> None:
    contact = validate(PARTNER_AGGREGATE)
    assert isinstance(contact, Contact)
    assert contact.extra == {}


def test_accepted_contact_fields() -> None:
    contact = validate(PARTNER_AGGREGATE)
    assert isinstance(contact, Contact)
    assert contact.ts == 1772478000.0
    assert contact.count == 23
    assert contact.is_partner
    assert contact.dimensions == {"device_brand": "Sonique", "service": "StreamPlus"}
    assert contact.category is None


def test_defaults() -> None:
    contact = validate(MINIMAL)
    assert isinstance(contact, Contact)
    assert (contact.count, contact.dimensions, contact.category, contact.text) == (1, {}, None, None)
    assert not contact.is_partner


def test_count_2_0_becomes_the_integer_2() -> None:
    contact = validate(changed(count=2.0))
    assert isinstance(contact, Contact)
    assert contact.count == 2
    assert isinstance(contact.count, int)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T19:05:12Z", 1772478312.0),
        ("2026-03-02T19:05:12.5Z", 1772478312.5),
        ("2026-03-02t19:05:12.5z", 1772478312.5),
        ("2026-03-02T20:05:12+01:00", 1772478312.0),
        ("2026-03-02T14:05:12-05:00", 1772478312.0),
        ("1970-01-01T00:00:00Z", 0.0),
    ],
)
def test_parse_timestamp_text(text: str, expected: float) -> None:
    assert parse_timestamp(text) == expected


# --- many random mutations: still the same verdict ----------------------------------------------------------

_NUMBERS: list[Any] = [None, True, False, 0, 1, -1, 2, 2.0, 2.5, 40, 10**400, 1e10, 1772478312, 1772478312500]
_TEXTS: list[Any] = [
    "",
    " ",
    "\t\n",
    "x",
    "voice",
    "Voice",
    "partner",
    "partner:",
    "partner: ",
    "partner:acme",
    "1",
]
_VALUES: list[Any] = [*_NUMBERS, *_TEXTS, [], ["voice"], {}, {"a": "b"}]


def _random_time_text(rng: random.Random) -> str:
    """A date-time text, valid RFC 3339 within the contract's years about half of the time."""

    def pick(good: list[Any], bad: list[Any]) -> Any:
        return rng.choice(good if rng.random() < 0.92 else bad)

    year = pick([1970, 1971, 2000, 2024, 2026, 2199], [1, 999, 1969, 2200, 9999])
    month = pick(list(range(1, 13)), [0, 13])
    day = pick([1, 9, 10, 28, 29, 30, 31], [0, 32])
    hour, minute = pick([0, 9, 19, 23], [24, 25]), pick([0, 5, 59], [60, 61])
    second = pick([0, 5, 59], [60, 61])
    fraction = pick(["", ".5", ".123", ".123456789"], ["."])
    zone = pick(["Z", "z", "+01:00", "-05:30", "-23:59", "+00:00"], ["", "+0100", "+24:00", "+01", "UTC"])
    sep = pick(["T", "t"], [" ", "_"])
    text = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    if rng.random() < 0.1:
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(string.digits + "-:T+Z \n") + text[at + 1 :]
    if rng.random() < 0.03:
        text = rng.choice([" ", "\n"]) + text if rng.random() < 0.5 else text + rng.choice([" ", "\n"])
    return text


def _random_value(rng: random.Random, name: str) -> Any:
    roll = rng.random()
    if name == "ts" and roll < 0.6:
        return _random_time_text(rng) if rng.random() < 0.7 else rng.uniform(-1e3, 1e13)
    if name == "channel" and roll < 0.5:
        channel = rng.choice(sorted(CHANNELS))
        return channel.upper() if rng.random() < 0.2 else channel
    if name == "dimensions" and roll < 0.6:
        names = ["", "region", "device_model", "x.y"]
        return {rng.choice(names): rng.choice(_VALUES) for _ in range(rng.randint(0, 3))}
    if name == "count" and roll < 0.5:
        return rng.choice([rng.randint(-3, 50), float(rng.randint(-1, 5)), rng.uniform(-2, 5)])
    if name == "version" and roll < 0.5:
        return rng.choice([0, 1, 2, 1.0, 1.5, True, "1", None])
    return rng.choice(_VALUES)


def _mutate(rng: random.Random, record: dict[str, Any]) -> object:
    if rng.random() < 0.02:
        return rng.choice([[record], "record", None, 7])
    mutated = dict(record)
    for _ in range(rng.randint(1, 3)):
        name = rng.choice([*sorted(KNOWN_FIELDS), "agent_id"])
        if rng.random() < 0.2:
            mutated.pop(name, None)
        else:
            mutated[name] = _random_value(rng, name)
    return mutated


@pytest.mark.parametrize("seed", range(4))
def test_schema_and_validator_agree_on_random_mutations(seed: int) -> None:
    rng = random.Random(20260302 + seed)
    bases = [CENTRE_CONTACT, PARTNER_AGGREGATE, MINIMAL]
    verdicts = {"accepted": 0, "rejected": 0}
    for _ in range(2500):
        result = assert_agree(_mutate(rng, rng.choice(bases)))
        verdicts["accepted" if isinstance(result, Contact) else "rejected"] += 1
    # The generator is only useful if it lands on both sides of the line.
    assert min(verdicts.values()) > 250, verdicts


def test_random_time_texts_agree() -> None:
    rng = random.Random(7)
    accepted = 0
    for _ in range(5000):
        result = assert_agree(changed(ts=_random_time_text(rng)))
        accepted += isinstance(result, Contact)
    assert 500 < accepted < 4500


# --- format_time and parse_timestamp ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (1772478312.0, "2026-03-02T19:05:12Z"),
        (1772478312.5, "2026-03-02T19:05:12.500Z"),
        (1772478312.0004, "2026-03-02T19:05:12Z"),
        (1772478312.9996, "2026-03-02T19:05:13Z"),
        (0.0, "1970-01-01T00:00:00Z"),
    ],
)
def test_format_time(ts: float, text: str) -> None:
    assert format_time(ts) == text


def test_format_time_round_trips_with_parse_timestamp() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        ts = rng.randrange(0, 7_258_118_400_000) / 1000  # whole milliseconds, as format_time writes them
        text = format_time(ts)
        assert parse_timestamp(text) == pytest.approx(ts, abs=1e-6), text
        assert format_time(parse_timestamp(text)) == text
        assert not schema_fields(changed(ts=text)), text


def test_format_time_writes_utc_with_z() -> None:
    ts = parse_timestamp("2026-03-02T20:05:12.250+01:00")
    assert format_time(ts) == "2026-03-02T19:05:12.250Z"
    assert datetime.fromisoformat(format_time(ts)) == datetime(2026, 3, 2, 19, 5, 12, 250_000, tzinfo=UTC)
