"""The one-pass decoder of the common case (msgspec) gives exactly what parsing and validating give, or steps aside.

``correlate replay`` reads most lines through :class:`ContactDecoder`; a line it declines goes the full way
(orjson, then :func:`validate`), which names the field at fault. So for any line the decoder must either decline
or build the very contact the full way builds; and it must take the common lines, or it saves nothing.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from correlate.contracts import Contact, ContactDecoder, validate
from correlate.limits import Limits
from test_contracts import BAD, CENTRE_CONTACT, GOOD, MINIMAL, PARTNER_AGGREGATE, _mutate, _random_time_text


def full_way(line: bytes, limits: Limits) -> Contact | None:
    """What replay makes of a line without the decoder: a contact, or None (rejected, with a reason)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    checked = validate(record, limits)
    return checked if isinstance(checked, Contact) else None


def assert_same(line: bytes, limits: Limits | None = None) -> Contact | None:
    limits = limits or Limits()
    fast = ContactDecoder(limits).decode(line)
    if fast is not None:
        assert fast == full_way(line, limits), line
    return fast


# A partner's aggregate as feeds write it most: the time as text, no version.
PARTNER_COMMON = {**{k: v for k, v in PARTNER_AGGREGATE.items() if k != "version"}, "ts": "2026-03-02T19:00:00Z"}


@pytest.mark.parametrize("record", [CENTRE_CONTACT, PARTNER_COMMON])
def test_the_common_case_is_decoded_in_one_pass_as_validate_reads_it(record: dict[str, Any]) -> None:
    contact = assert_same(orjson.dumps(record))
    assert isinstance(contact, Contact)
    assert contact.extra == {} and contact.dimensions == record.get("dimensions")


@pytest.mark.parametrize("record", [*GOOD, *(param.values[0] for param in BAD)])
def test_every_table_record_decodes_as_validate_reads_it_or_is_declined(record: object) -> None:
    assert_same(json.dumps(record).encode())  # json: orjson writes no integer past 64 bits (ts=10**400)


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b'\xef\xbb\xbf{"contact_id":"c","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u",'
        b'"source":"s","dimensions":{}}',
        b'{"contact_id":"c","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u","source":"s",'
        b'"dimensions":{}}{}',
        b'{"contact_id":"\\ud800","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u","source":"s",'
        b'"dimensions":{}}',
        b'{"contact_id":"\xff","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u","source":"s",'
        b'"dimensions":{}}',
        b'{"contact_id":"a","contact_id":"b","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u",'
        b'"source":"s","dimensions":{"r":"x","r":"y","b":"z"}}',
        b'{"contact_id":"c","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u","source":"s",'
        b'"dimensions":{},"count":99999999999999999999999}',
        b'{"contact_id":"c","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u","source":"s",'
        b'"dimensions":{},"count":1e0}',
        b'{"contact_id":"c","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u","source":"s",'
        b'"dimensions":{},"type":"contact"}',
        b' {"contact_id":"c","ts":"2026-03-02T10:00:00Z","channel":"voice","customer_id":"u","source":"s",'
        b'"dimensions":{}}\r\n',
    ],
)
def test_odd_lines_decode_as_orjson_and_validate_read_them_or_are_declined(line: bytes) -> None:
    assert_same(line)


def test_limits_are_the_settings_own() -> None:
    tight = Limits(max_dimensions=1, max_name_chars=3, max_value_chars=4, max_text_chars=5, max_count=2)
    for dimensions in ({"abc": "wxyz"}, {"abcd": "w"}, {"abc": "vwxyz"}, {"a": "b", "c": "d"}):
        assert_same(orjson.dumps({**CENTRE_CONTACT, "dimensions": dimensions}), tight)
    for count in (1, 2, 3):
        assert_same(orjson.dumps({**PARTNER_COMMON, "count": count}), tight)
    cut = assert_same(orjson.dumps({**CENTRE_CONTACT, "dimensions": {}, "text": "a longer text"}), tight)
    assert cut is not None and cut.text == "a lon"


@pytest.mark.parametrize("seed", range(3))
def test_random_mutations_decode_as_validate_reads_them_or_are_declined(seed: int) -> None:
    rng = random.Random(20261207 + seed)
    bases = [CENTRE_CONTACT, PARTNER_AGGREGATE, PARTNER_COMMON, MINIMAL]
    decoded = 0
    for _ in range(2500):
        record = _mutate(rng, rng.choice(bases))
        if rng.random() < 0.2 and isinstance(record, dict):
            record["ts"] = _random_time_text(rng)
        decoded += assert_same(json.dumps(record).encode()) is not None
    assert decoded > 100  # the mutations land on both sides of the line (about 6% are still the common case)
