"""Random and mutated records through intake and the engine: no exception, and every reject can be written out.

The property a partner feed relies on: whatever it sends, correlate answers with an accepted record or a reject
that names a field and serialises to a bounded line, and the engine goes on.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from correlate.config import Settings
from correlate.contracts import Rejection
from correlate.engine import Engine
from correlate.intake import validate_record

CONTACT: dict[str, Any] = {
    "contact_id": "c-1",
    "ts": "2026-03-02T10:00:00Z",
    "channel": "voice",
    "customer_id": "cu-1",
    "source": "centre",
    "dimensions": {"device_brand": "Sonique", "service": "StreamPlus"},
    "text": "no picture since this morning",
}
HEARTBEAT: dict[str, Any] = {
    "type": "heartbeat",
    "device_id": "d-1",
    "customer_id": "cu-1",
    "ts": "2026-03-02T10:00:00Z",
    "source": "partner:alarmco",
    "dimensions": {"device_brand": "Sonique"},
}
STATUS: dict[str, Any] = {
    "type": "vendor-status",
    "vendor": "flixco",
    "status_id": "fx-1",
    "ts": "2026-03-02T10:00:00Z",
    "status": "identified",
    "component": "Playback",
    "scope": {"service": "FlixCo"},
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "partner:", "2026-03-02T10:00:00Z", "2199-01-01T00:00:00Z", "voice", "heartbeat"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid record of some kind with fields replaced, removed or added by random JSON values."""
    record = dict(draw(st.sampled_from([CONTACT, HEARTBEAT, STATUS])))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        action = draw(st.sampled_from(["replace", "remove", "add", "deep"]))
        name = draw(st.sampled_from([*record, "count", "type", "version", "extra"]))
        if action == "remove":
            record.pop(name, None)
        elif action == "deep":
            depth = draw(st.integers(min_value=1, max_value=400))
            record[name] = orjson.loads(b"[" * depth + b"]" * depth) if depth < 1000 else []
        else:
            record[name] = draw(json_values)
    return record


def _check(result: object, limit: int) -> None:
    if isinstance(result, Rejection):
        letter = result.to_json(limit)
        text = orjson.dumps(letter).decode()
        assert len(text) < limit + 2000
        assert isinstance(letter["reason"], str) and letter["reason"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, mutated()))
def test_any_value_is_accepted_or_rejected_with_a_writable_reason(record: Any) -> None:
    _check(validate_record(record), Settings().max_excerpt_chars)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mutated(), json_values), min_size=1, max_size=30))
def test_the_engine_takes_any_sequence_of_records_and_closes(records: list[Any]) -> None:
    engine = Engine(Settings(clock_quorum=3))
    for record in records:
        outcome = engine.process(record)
        _check(outcome.rejection, engine.settings.max_excerpt_chars)
    engine.close()
    for rejection in engine.unreached():
        _check(rejection, engine.settings.max_excerpt_chars)
    counts = engine.counts
    taken = counts.accepted + counts.telemetry + counts.statuses + counts.duplicates
    assert taken + sum(counts.rejected.values()) == len(records)
