"""Nothing one record, one clock or one burst can do stops detection: each reproduction of a past outage, replayed.

Every test runs a stream with a fault, adds the hostile records, and checks that the incidents are those of the
stream without them, that each hostile record is rejected with a reason naming its bound, and that what correlate
holds stays within its budget.
"""

from __future__ import annotations

import io
import tracemalloc
from typing import Any

import orjson
import pytest

from correlate.config import Settings
from correlate.contracts import Rejection, parse_timestamp
from correlate.engine import Engine
from correlate.replay import replay
from streams import DAY, HOUR, START, Fault, stream

FAULT_AT = START + 2 * DAY + 10 * HOUR


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return stream(seed=21, days=3.0, per_day=6000, faults=[Fault({"device_brand": "Vizo"}, FAULT_AT, 2 * HOUR, 3.0)])


@pytest.fixture(scope="module")
def clean_events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events, rejects = _replay(records)
    assert events and not rejects, "the stream without hostile records opens its incident and rejects nothing"
    return events


def _replay(records: list[Any], settings: Settings | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lines = [line if isinstance(line, bytes) else orjson.dumps(line) + b"\n" for line in records]
    out, rejects = io.BytesIO(), io.BytesIO()
    replay(Engine(settings or Settings(symptoms=False)), lines, out, rejects)
    return [orjson.loads(line) for line in out.getvalue().splitlines()], [
        orjson.loads(line) for line in rejects.getvalue().splitlines()
    ]


def _incidents(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """What a NOC engineer sees of the incidents: which opened and resolved, when, on what scope."""
    return [
        (e["event"], e["at"], orjson.dumps(e["scope"]).decode()) for e in events if e["event"] in ("opened", "resolved")
    ]


def _shifted(record: dict[str, Any], seconds: float, contact_id: str) -> dict[str, Any]:
    return {**record, "ts": parse_timestamp(record["ts"]) + seconds, "contact_id": contact_id}


def test_a_record_nested_past_the_encoders_limit_is_one_reject_and_the_stream_goes_on(
    records: list[dict[str, Any]], clean_events: list[dict[str, Any]]
) -> None:
    poison = {key: value for key, value in records[0].items() if key != "customer_id"}
    poison_line = orjson.dumps({**poison, "x": "@@"}).replace(b'"@@"', b"[" * 300 + b"]" * 300) + b"\n"
    events, rejects = _replay([poison_line, *records])
    assert events == clean_events
    [reject] = rejects
    assert reject["line"] == 1 and "max_nesting" in reject["reason"]
    assert reject["record_truncated"] is True and len(reject["record"]) <= Settings().max_excerpt_chars


def test_a_reject_always_serialises_and_quotes_a_bounded_excerpt() -> None:
    deep: list[Any] = []
    inner = deep
    for _ in range(100_000):  # deeper than the interpreter's stack
        inner.append([])
        inner = inner[0]
    for record in (deep, {"text": "x" * 5_000_000}, {str(i): i for i in range(100_000)}, b"\xff" * 10_000):
        letter = Rejection("", "bad", record).to_json(limit=1000)
        assert len(orjson.dumps(letter).decode()) < 2000  # characters, as the limit counts them
        assert letter["record_truncated"] is True


@pytest.mark.parametrize("depth", [250, 253, 254, 300])
def test_a_record_nested_near_the_encoders_limit_is_quoted_in_a_letter_that_serialises(depth: int) -> None:
    """A record the encoder can just write is one level too deep once it sits inside its reject."""
    record = {"contact_id": orjson.loads(b"[" * (depth - 1) + b"]" * (depth - 1))}
    letter = Rejection("contact_id", "must be a string, not array", record).to_json(limit=1000)
    assert orjson.loads(orjson.dumps({"line": 1, **letter}))["record_truncated"] is True


def test_a_huge_line_is_rejected_unread_with_a_short_excerpt(
    records: list[dict[str, Any]], clean_events: list[dict[str, Any]]
) -> None:
    huge = b'{"contact_id": "' + b"x" * 20_000_000 + b"\n"
    events, rejects = _replay([*records[:100], huge, *records[100:]])
    assert events == clean_events
    [reject] = rejects
    assert "max_line_bytes" in reject["reason"] and reject["line"] == 101
    assert len(orjson.dumps(reject)) < 2 * Settings().max_excerpt_chars


def test_a_record_with_a_thousand_dimensions_is_rejected(
    records: list[dict[str, Any]], clean_events: list[dict[str, Any]]
) -> None:
    wide = {**records[50], "contact_id": "wide", "dimensions": {f"d{i}": "v" for i in range(1000)}}
    events, rejects = _replay([*records[:51], wide, *records[51:]])
    assert events == clean_events
    [reject] = rejects
    assert reject["field"] == "dimensions" and "max_dimensions" in reject["reason"]


@pytest.mark.parametrize(
    ("dimension", "value", "bound"),
    [("device_brand", "B" * 300, "max_value_chars"), ("n" * 100, "v", "max_name_chars")],
)
def test_an_overlong_dimension_name_or_value_is_rejected(dimension: str, value: str, bound: str) -> None:
    record = {
        "contact_id": "c1",
        "ts": "2026-03-02T10:00:00Z",
        "channel": "voice",
        "customer_id": "cu1",
        "source": "centre",
        "dimensions": {dimension: value},
    }
    rejection = Engine(Settings()).process(record).rejection
    assert rejection is not None and bound in rejection.reason


def test_a_long_text_is_cut_and_the_contact_kept() -> None:
    engine = Engine(Settings(max_text_chars=100))
    record = {
        "contact_id": "c1",
        "ts": "2026-03-02T10:00:00Z",
        "channel": "email",
        "customer_id": "cu1",
        "source": "centre",
        "text": "my router blinks red " * 1000,
    }
    assert engine.process(record).rejection is None
    assert engine.counts.accepted == 1
    assert len(engine._buckets[int(parse_timestamp(record["ts"]) // 60)][0].text or "") == 100


@pytest.mark.parametrize("count", [10**18, 2**63 - 1])
def test_a_partner_count_no_batch_can_have_is_rejected_and_teaches_nothing(
    records: list[dict[str, Any]], clean_events: list[dict[str, Any]], count: int
) -> None:
    hostile = list(records)
    for k, at in enumerate(range(2000, 10_000, 1000)):
        batch = {**records[at], "contact_id": f"big-{k}", "source": "partner:evil", "channel": "partner"}
        batch["count"] = count
        hostile.insert(at + 1 + k, batch)
    events, rejects = _replay(hostile)
    assert events == clean_events
    assert len(rejects) == 8 and all("max_count" in reject["reason"] for reject in rejects)


@pytest.mark.parametrize("ahead", [HOUR, DAY, 6 * DAY])
def test_one_record_with_a_clock_ahead_makes_nobody_late(
    records: list[dict[str, Any]], clean_events: list[dict[str, Any]], ahead: float
) -> None:
    wrong = _shifted(records[100], ahead, "wrong-clock")
    events, rejects = _replay([*records[:101], wrong, *records[101:]])
    assert _incidents(events) == _incidents(clean_events)
    assert all(reject["record"]["contact_id"] == "wrong-clock" for reject in rejects)
    if parse_timestamp(wrong["ts"]) > parse_timestamp(records[-1]["ts"]):
        [reject] = rejects  # the stream never got there: rejected at its end, with the reason
        assert "ahead of the stream" in reject["reason"]
    else:
        assert not rejects  # the stream got there: it counts, at the time it says


def test_a_first_line_dated_2199_rejects_only_itself(
    records: list[dict[str, Any]], clean_events: list[dict[str, Any]]
) -> None:
    events, rejects = _replay([{**records[0], "contact_id": "future", "ts": "2199-01-01T00:00:00Z"}, *records])
    assert events == clean_events
    [reject] = rejects
    assert reject["record"]["contact_id"] == "future" and "ahead of the stream" in reject["reason"]


def test_a_first_line_dated_1970_rejects_only_itself(
    records: list[dict[str, Any]], clean_events: list[dict[str, Any]]
) -> None:
    """Taken in before the stream's clock has started, then found decades behind it: rejected, not scored from."""
    events, rejects = _replay([{**records[0], "contact_id": "past", "ts": "1970-01-01T00:00:05Z"}, *records])
    assert events == clean_events
    [reject] = rejects
    assert reject["record"]["contact_id"] == "past" and "behind the stream" in reject["reason"]


def test_a_record_beyond_the_largest_clock_jump_is_rejected_when_it_arrives(records: list[dict[str, Any]]) -> None:
    engine = Engine(Settings(symptoms=False, max_clock_jump=DAY))
    for record in records[:10]:
        assert engine.process(record).rejection is None
    rejection = engine.process(_shifted(records[10], 2 * DAY, "far")).rejection
    assert rejection is not None and "max_clock_jump" in rejection.reason


def test_the_same_contact_id_from_two_sources_is_two_contacts(records: list[dict[str, Any]]) -> None:
    engine = Engine(Settings(symptoms=False))
    partner = [
        {**record, "source": "partner:acme", "channel": "partner", "customer_id": f"acme-{i}"}
        for i, record in enumerate(records[:500])
    ]
    for record in sorted([*records[:500], *partner], key=lambda r: parse_timestamp(r["ts"])):
        engine.process(record)
    engine.process(records[0])  # the same source again: a repeat
    assert (engine.counts.accepted, engine.counts.duplicates) == (1000, 1)


def test_a_hundred_thousand_dimension_names_in_an_hour_stay_within_the_budget(records: list[dict[str, Any]]) -> None:
    settings = Settings(symptoms=False)
    engine = Engine(settings)
    tracemalloc.start()
    try:
        base = parse_timestamp(records[0]["ts"])
        for i in range(100_000):
            record = {**records[i % 1000], "contact_id": f"n{i}", "ts": base + i * HOUR / 100_000}
            record["dimensions"] = {**record["dimensions"], f"attr_{i}": "x"}
            assert engine.process(record).rejection is None
        engine.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert engine.stitcher.memory()["spellings"] <= 2 * settings.max_dimension_names * 10
    assert sum(engine.counts.left_out.values()) >= 100_000 - settings.max_dimension_names
    assert peak < 400 * 2**20


def test_a_million_distinct_values_of_one_dimension_stay_within_the_budget(records: list[dict[str, Any]]) -> None:
    settings = Settings(symptoms=False, max_values_per_dimension=1000)
    engine = Engine(settings)
    base = parse_timestamp(records[0]["ts"])
    for i in range(200_000):
        record = {**records[i % 1000], "contact_id": f"v{i}", "ts": base + i * HOUR / 200_000}
        record["dimensions"] = {**record["dimensions"], "device_brand": f"brand-{i}"}
        engine.process(record)
    engine.close()
    assert engine.stitcher.memory()["spellings"] <= 2 * (1000 + 100)
    assert engine.counts.left_out["device_brand"] >= 200_000 - 1000


def test_an_unused_value_frees_its_place_after_the_budget_window(records: list[dict[str, Any]]) -> None:
    settings = Settings(symptoms=False, max_values_per_dimension=5, dimension_budget_window=HOUR)
    engine = Engine(settings)
    base = parse_timestamp(records[0]["ts"])

    def contact(i: int, ts: float, brand: str) -> dict[str, Any]:
        return {**records[0], "contact_id": f"b{i}", "ts": ts, "dimensions": {"device_brand": brand}}

    for i in range(10):
        engine.process(contact(i, base + i, f"old-{i}"))
    for i in range(10):  # three windows later: the old brands are forgotten, five new ones have room
        engine.process(contact(100 + i, base + 3 * HOUR + i, f"new-{i}"))
    engine.close()
    assert engine.counts.left_out["device_brand"] == 5 + 5


def test_every_bound_is_stated_in_the_reliability_doc() -> None:
    from dataclasses import fields
    from pathlib import Path

    from correlate.limits import Limits

    doc = (Path(__file__).parent.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    missing = [bound.name for bound in fields(Limits) if f"`{bound.name}`" not in doc]
    assert not missing, f"docs/reliability.md does not say what happens past {missing}"
