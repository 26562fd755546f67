"""The contact contract (version 1): what one customer contact looks like, and how a record is checked.

Every channel adapter and partner feed writes one JSON object per contact. This module turns such an object
into a :class:`Contact` or a :class:`Rejection` that names the field and what is wrong with it, so that bad
input is reported and never crashes a worker. The same rules are published as a JSON Schema
(``schemas/contact-v1.schema.json``); a test keeps the two in step.

The checks are written by hand rather than run through a schema validator because they sit on the hot path of
``correlate replay`` (tens of thousands of records a second). The common case, a line of plain, well-formed
values, is decoded and checked in one pass by msgspec (:class:`ContactDecoder`); any other line is parsed and
checked here, which names the field and the fault.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from sys import intern
from typing import Annotated, Any, Final, Literal

import msgspec
import orjson

from correlate.errors import ContractError
from correlate.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "CHANNELS",
    "KNOWN_FIELDS",
    "SCHEMA_VERSION",
    "TS_PATTERN",
    "Contact",
    "ContactDecoder",
    "Rejection",
    "dimensions",
    "excerpt",
    "extra_fields",
    "format_time",
    "json_type",
    "parse_timestamp",
    "required_text",
    "show",
    "validate",
]

SCHEMA_VERSION: Final = 1
CHANNELS: Final = frozenset({"voice", "ivr", "chat", "email", "web", "social", "app", "partner"})
KNOWN_FIELDS: Final = frozenset(
    {
        "contact_id",
        "ts",
        "channel",
        "customer_id",
        "source",
        "dimensions",
        "category",
        "text",
        "count",
        "version",
    }
)
# Event times outside this range are almost always a unit mistake (milliseconds sent as seconds).
_EARLIEST_TS: Final = 0.0  # 1970-01-01
_LATEST_TS: Final = 7_258_118_400.0  # 2200-01-01
# RFC 3339 date-time with a zone, year 1970-2199: the schema's ``ts`` pattern, character for character.
# It ends in ``$(?!\n)``, "end of text" in Python and ECMA-262 alike: Python's ``$`` allows a last \n.
TS_PATTERN: Final = (
    r"^(?:19[7-9][0-9]|2[01][0-9]{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$(?!\n)"
)
_RFC3339: Final = re.compile(TS_PATTERN)
_LEAP_SECOND: Final = re.compile(r"[Tt ][0-9]{2}:[0-9]{2}:60")
_JSON_TYPES: Final = {
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    dict: "object",
    list: "array",
}


@dataclass(slots=True)
class Contact:
    """One accepted customer contact. ``ts`` is event time in epoch seconds (UTC).

    Treated as immutable once made; not declared frozen because a frozen dataclass costs five times as much
    to build, and one is built for every contact.
    """

    contact_id: str
    ts: float
    channel: str
    customer_id: str
    source: str
    dimensions: Mapping[str, str]
    category: str | None = None
    text: str | None = None
    count: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_partner(self) -> bool:
        return self.source.startswith("partner:")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record was not accepted: ``field`` is the offending field ('' for the record as a whole)."""

    field: str
    reason: str
    record: Any = None

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason

    def to_json(self, limit: int = DEFAULT_LIMITS.max_excerpt_chars) -> dict[str, Any]:
        """The reject as a JSON object that always serialises and stays small: the record itself when its JSON
        text fits in ``limit`` characters, else an excerpt of that text and ``record_truncated``."""
        quoted, truncated = excerpt(self.record, limit)
        letter = {"error": str(self), "field": self.field, "reason": self.reason, "record": quoted}
        if truncated:
            letter["record_truncated"] = True
        return letter


def excerpt(value: object, limit: int) -> tuple[Any, bool]:
    """``value`` as it may be quoted in a reject: itself when its JSON text is at most ``limit`` characters, else
    the start of that text (whatever the value: too deep for a JSON encoder, too long, or not JSON at all)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return (value, False) if len(value) <= limit else (value[:limit], True)
    if _nests_deeper(value, _QUOTED_NESTING):  # quoted inside a letter, it would pass the encoder's depth limit
        return _bounded_text(value, limit), True
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # a value JSON has no type for
        return _bounded_text(value, limit), True
    return (value, False) if len(text) <= limit else (text[:limit], True)


# A record quoted as itself nests at most this deep, well inside orjson's limit (254) with the letter around it.
_QUOTED_NESTING: Final = 64


def _bounded_text(value: object, limit: int) -> str:
    """JSON-like text for any value, cut at ``limit`` characters, built without recursion: the record that needs
    it may be nested deeper than the interpreter's stack."""
    parts: list[str] = []
    size = 0
    stack: list[object] = [value]
    while stack and size < limit:
        item = stack.pop()
        if isinstance(item, _Token):
            text = item.text
        elif isinstance(item, dict):
            text = "{"
            stack.append(_Token("}"))
            pairs = list(item.items())
            for index in range(len(pairs) - 1, -1, -1):
                key, inner = pairs[index]
                stack.append(inner)
                stack.append(_Token(("," if index else "") + show(str(key), limit) + ":"))
        elif isinstance(item, list | tuple):
            text = "["
            stack.append(_Token("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Token(","))
        else:
            text = show(item, limit)
        parts.append(text)
        size += len(text)
    return "".join(parts)[:limit]


@dataclass(frozen=True, slots=True)
class _Token:
    text: str


def parse_timestamp(value: object) -> float:
    """Event time as epoch seconds, from RFC 3339 text with a zone or from a number of epoch seconds.

    Text must have a year from 1970 to 2199 as written; a number must be in [0, 7258118400) (2200-01-01).
    Anything else raises :class:`~correlate.errors.ContractError` (field ``ts``), whatever the value.
    """
    if isinstance(value, bool):
        raise ContractError("ts", "must be an RFC 3339 time with zone or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        # Compared before float(): a huge JSON integer would overflow float(); NaN fails every comparison.
        if not _EARLIEST_TS <= value < _LATEST_TS:
            raise ContractError("ts", f"{show(value)} is outside 1970..2200 (milliseconds sent as seconds?)")
        return float(value)
    if not isinstance(value, str):
        raise ContractError("ts", f"must be an RFC 3339 time with zone or epoch seconds, not {json_type(value)}")
    if _RFC3339.search(value) is None:
        raise ContractError("ts", _why_not_rfc3339(value))
    try:
        moment = datetime.fromisoformat(value.upper())  # RFC 3339 allows a lower-case 't' and 'z'
    except ValueError:
        raise ContractError("ts", f"{show(value)} names a day that does not exist") from None
    return moment.timestamp()


def _why_not_rfc3339(value: str) -> str:
    """The reason for a rejected time text, as precise as a second look can make it (off the hot path)."""
    if value != value.strip() and _RFC3339.search(value.strip()):
        return f"{show(value)} has white space around it"
    if _LEAP_SECOND.search(value):
        return f"{show(value)} is a leap second; write :59 instead of :60"
    if len(value.strip()) <= len("2026-03-02"):  # fromisoformat() would read a bare date as midnight
        return f"{show(value)} is not an RFC 3339 date-time (expected e.g. 2026-03-02T19:05:12Z)"
    try:
        moment = datetime.fromisoformat(value.strip().upper())
    except ValueError:
        return f"{show(value)} is not an RFC 3339 date-time (expected e.g. 2026-03-02T19:05:12Z)"
    if moment.tzinfo is None:
        return f"{show(value)} has no zone; add 'Z' or an offset such as '+01:00'"
    if not 1970 <= moment.year <= 2199:
        return f"{show(value)} is outside the years 1970..2199"
    return f"{show(value)} is not in RFC 3339 form (expected e.g. 2026-03-02T19:05:12Z or ...T20:05:12+01:00)"


def show(value: object, limit: int = 60) -> str:
    """The offending value as JSON text, cut short so that one bad field cannot flood a log line."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value: object) -> str:
    """The JSON name of a value's type, for messages read by people who write JSON, not Python."""
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def required_text(record: Mapping[str, Any], name: str) -> str:
    """The non-blank string field ``name`` of a record, as every contract requires its ids and names."""
    value = record.get(name)
    if value is None:
        raise ContractError(name, "is required")
    if not isinstance(value, str):
        raise ContractError(name, f"must be a string, not {json_type(value)}")
    if not value.strip():
        raise ContractError(name, "must not be empty")
    return value


def _optional_text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContractError(name, f"must be a string or null, not {json_type(value)}")
    return value


def dimensions(value: object, limits: Limits = DEFAULT_LIMITS) -> dict[str, str]:
    """A record's dimension values (an object of strings, within ``limits``), as every contract checks them."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ContractError("dimensions", f"must be an object of string values, not {json_type(value)}")
    if len(value) > limits.max_dimensions:
        raise ContractError(
            "dimensions", f"has {len(value)} names, more than max_dimensions ({limits.max_dimensions}) allows"
        )
    for name, dim_value in value.items():
        if not name:
            raise ContractError("dimensions", "dimension names must not be empty")
        if len(name) > limits.max_name_chars:
            raise ContractError(
                "dimensions", f"the name {show(name)} is longer than max_name_chars ({limits.max_name_chars})"
            )
        if not isinstance(dim_value, str):
            raise ContractError(f"dimensions.{name}", f"must be a string, not {json_type(dim_value)}")
        if len(dim_value) > limits.max_value_chars:
            raise ContractError(
                f"dimensions.{name}",
                f"{len(dim_value)} characters, longer than max_value_chars ({limits.max_value_chars})",
            )
    return value


def _count(value: object, limits: Limits = DEFAULT_LIMITS) -> int:
    if value is None:
        return 1
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 2.0 is the integer 2, as JSON Schema's "integer" says
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError("count", f"must be a whole number >= 1, not {show(value)}")
    if value < 1:
        raise ContractError("count", f"must be >= 1, not {show(value)}")
    if value > limits.max_count:
        raise ContractError(
            "count", f"{show(value)} is more than max_count ({limits.max_count}) customers in one record"
        )
    return value


def _text(value: str | None, limits: Limits) -> str | None:
    """A free text as detection reads it: cut to ``max_text_chars`` (a long email stays a contact)."""
    return value if value is None or len(value) <= limits.max_text_chars else value[: limits.max_text_chars]


def extra_fields(record: Mapping[str, Any], known: frozenset[str], limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The fields a contract does not name, kept as they came, once checked to nest no deeper than
    ``max_nesting``: a value nested past a JSON encoder's limit would make the record impossible to write out."""
    extra = {k: v for k, v in record.items() if k not in known}
    for name, value in extra.items():
        if _nests_deeper(value, limits.max_nesting - 1):
            raise ContractError(name, f"nests objects or arrays deeper than max_nesting ({limits.max_nesting})")
    return extra


def _nests_deeper(value: object, allowed: int) -> bool:
    """Whether ``value`` nests objects or arrays more than ``allowed`` levels deep; level by level, with no
    recursion, so that a record nested past the interpreter's stack is measured like any other."""
    level: list[object] = [value]
    depth = 0
    while True:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            return False
        depth += 1
        if depth > allowed:
            return True
        level = [inner for item in containers for inner in (item.values() if isinstance(item, dict) else item)]


def _source(record: Mapping[str, Any]) -> str:
    source = required_text(record, "source")
    if source.startswith("partner:") and not source[len("partner:") :].strip():
        raise ContractError("source", "'partner:' must be followed by the partner's id")
    return source


def validate(record: object, limits: Limits = DEFAULT_LIMITS) -> Contact | Rejection:
    """Check one decoded JSON value against the contract; never raises for bad input."""
    if type(record) is dict:
        fast = _validate_common(record, limits)
        if fast is not None:
            return fast
    if not isinstance(record, dict):
        return Rejection("", f"a contact must be a JSON object, not {json_type(record)}", record)
    try:
        version = record.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION or isinstance(version, bool):  # True == 1 in Python, not in JSON
            raise ContractError(
                "version", f"unsupported contract version {show(version)}; this build reads {SCHEMA_VERSION}"
            )
        channel = required_text(record, "channel")
        if channel not in CHANNELS:
            raise ContractError("channel", f"{show(channel)} is not one of {', '.join(sorted(CHANNELS))}")
        if "ts" not in record:
            raise ContractError("ts", "is required")
        known_only = KNOWN_FIELDS.issuperset(record)
        extra = {} if known_only else extra_fields(record, KNOWN_FIELDS, limits)
        return Contact(
            contact_id=required_text(record, "contact_id"),
            ts=parse_timestamp(record["ts"]),
            channel=intern(channel),
            customer_id=required_text(record, "customer_id"),
            source=intern(_source(record)),
            dimensions=dimensions(record.get("dimensions"), limits),
            category=_optional_text(record, "category"),
            text=_text(_optional_text(record, "text"), limits),
            count=_count(record.get("count"), limits),
            extra=extra,
        )
    except ContractError as invalid:
        return Rejection(invalid.field, invalid.reason, record)


def _validate_common(record: dict[str, Any], limits: Limits) -> Contact | None:
    """The common case, checked with as few operations as possible: a record of plain, well-formed values.

    Anything unusual returns None and goes through the full checks, which name the field and the fault.
    """
    get = record.get
    contact_id, customer_id, source, ts = get("contact_id"), get("customer_id"), get("source"), get("ts")
    dimensions, category, text, count = get("dimensions"), get("category"), get("text"), get("count")
    if not (
        type(contact_id) is str
        and type(customer_id) is str
        and type(source) is str
        and type(ts) is str
        and type(dimensions) is dict
        and type(get("channel")) is str
        and get("channel") in CHANNELS
        and (category is None or type(category) is str)
        and (text is None or type(text) is str)
        and (count is None or (type(count) is int and 1 <= count <= limits.max_count))
        and "version" not in record
        and KNOWN_FIELDS.issuperset(record)
        and len(dimensions) <= limits.max_dimensions
        and contact_id.strip()
        and customer_id.strip()
        and source.strip()
        and not source.startswith("partner:")
        and _RFC3339.search(ts) is not None
    ):
        return None
    max_name, max_value = limits.max_name_chars, limits.max_value_chars
    for name, value in dimensions.items():
        if type(value) is not str or len(value) > max_value or len(name) > max_name:
            return None
    if "" in dimensions:
        return None
    if text is not None and len(text) > limits.max_text_chars:
        text = text[: limits.max_text_chars]
    try:
        seconds = datetime.fromisoformat(ts.upper()).timestamp()
    except ValueError:
        return None
    # Channel and source are shared by every contact of a kind: one string each, however many contacts stay in memory.
    return Contact(
        contact_id,
        seconds,
        intern(record["channel"]),
        customer_id,
        intern(source),
        dimensions,
        category,
        text,
        1 if count is None else count,
        {},
    )


class ContactDecoder:
    """Contacts straight from JSON lines, for the common case only: :meth:`decode` gives the :class:`Contact` that
    ``validate(orjson.loads(line))`` would for a line of plain, well-formed values, and None for any other line
    (invalid JSON, a wrong or missing field, a ``version``, a ``type`` or any field the contract does not name),
    which then takes the full path: parsed, checked, and rejected with the reason.

    msgspec decodes and checks the types, the channel, the time's form, unknown fields and the limits in one C
    pass, and builds no dict for the record; what it cannot check (blank ids) is checked here after. Results are
    those of :func:`validate`: a test compares the two on random and mutated records.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._decode = msgspec.json.Decoder(_wire(limits)).decode

    def decode(self, line: bytes) -> Contact | None:
        try:
            wire = self._decode(line)
        except msgspec.DecodeError:  # not JSON, or not the common case: the full path says which and why
            return None
        contact_id, customer_id, source, text = wire.contact_id, wire.customer_id, wire.source, wire.text
        if not contact_id.strip() or not customer_id.strip() or not source.strip():
            return None
        if source.startswith("partner:") and not source[len("partner:") :].strip():
            return None
        try:
            seconds = datetime.fromisoformat(wire.ts.upper()).timestamp()
        except ValueError:
            return None
        if text is not None and len(text) > self.limits.max_text_chars:
            text = text[: self.limits.max_text_chars]
        count = wire.count
        return Contact(
            contact_id,
            seconds,
            intern(wire.channel),
            customer_id,
            intern(source),
            wire.dimensions,
            wire.category,
            text,
            1 if count is None else count,
            {},
        )


def _wire(limits: Limits) -> Any:
    """The common case of a contact as msgspec checks it: the fields :func:`_validate_common` takes, within
    ``limits`` (so one type per set of limits)."""
    name = Annotated[str, msgspec.Meta(min_length=1, max_length=limits.max_name_chars)]
    value = Annotated[str, msgspec.Meta(max_length=limits.max_value_chars)]
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        ("contact_id", str),
        ("ts", Annotated[str, msgspec.Meta(pattern=TS_PATTERN)]),
        ("channel", Literal[tuple(sorted(CHANNELS))]),
        ("customer_id", str),
        ("source", str),
        ("dimensions", Annotated[dict[name, value], msgspec.Meta(max_length=limits.max_dimensions)]),
        ("category", str | None, None),
        ("text", str | None, None),
        ("count", Annotated[int, msgspec.Meta(ge=1, le=limits.max_count)] | None, None),
    ]
    return msgspec.defstruct("ContactWire", fields, forbid_unknown_fields=True, gc=False)


def format_time(ts: float) -> str:
    """RFC 3339 UTC text for an event time, to the millisecond, as every output of correlate writes it."""
    whole = math.floor(ts)
    millis = round((ts - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    stamp = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis:03d}Z" if millis else f"{stamp}Z"
