"""``correlate replay``: causal, deterministic, tolerant of disorder, loud about what it cannot accept."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from correlate.config import Settings
from correlate.contracts import format_time, parse_timestamp
from correlate.engine import Engine
from correlate.replay import replay
from streams import DAY, HOUR, START, Fault, as_jsonl, opened_scopes, run, stream

FAULT_AT = START + 2 * DAY + 13 * HOUR


@pytest.fixture(scope="module")
def faulty_stream() -> list[dict[str, object]]:
    return stream(
        seed=11,
        faults=[
            Fault({"device_brand": "Vizo"}, FAULT_AT, 2 * HOUR, 2.7),
            Fault({"service": "Vidz"}, FAULT_AT + 5 * HOUR, HOUR, 2.5),
        ],
    )


def _replay_bytes(data: bytes, settings: Settings | None = None) -> tuple[bytes, bytes]:
    out, rejects = io.BytesIO(), io.BytesIO()
    replay(Engine(settings or Settings(symptoms=False)), io.BytesIO(data).readlines(), out, rejects)
    return out.getvalue(), rejects.getvalue()


def test_output_is_byte_identical_between_runs(faulty_stream: list[dict[str, object]]) -> None:
    data = as_jsonl(faulty_stream)
    first, _ = _replay_bytes(data)
    second, _ = _replay_bytes(data)
    assert first and first == second


def test_events_at_time_t_depend_only_on_contacts_up_to_t(faulty_stream: list[dict[str, object]]) -> None:
    """Cut the input at several times: every event up to the cut is exactly what the full run said."""
    full = [orjson.loads(line) for line in _replay_bytes(as_jsonl(faulty_stream))[0].splitlines()]
    assert len({e["incident_id"] for e in full}) == 2
    for cut in (FAULT_AT + 20 * 60, FAULT_AT + 61 * 60, FAULT_AT + 5 * HOUR + 30 * 60):
        head = [r for r in faulty_stream if parse_timestamp(r["ts"]) <= cut]
        partial = [orjson.loads(line) for line in _replay_bytes(as_jsonl(head))[0].splitlines()]
        before_cut = [e for e in full if parse_timestamp(e["at"]) <= cut]
        assert before_cut, "the cut falls inside an incident"
        assert [e for e in partial if parse_timestamp(e["at"]) <= cut] == before_cut


def test_disorder_within_the_lateness_changes_nothing(faulty_stream: list[dict[str, object]]) -> None:
    rng = random.Random(5)
    # Each record delayed by up to 4 minutes of arrival time (lateness is 5 minutes).
    shuffled = sorted(faulty_stream, key=lambda r: parse_timestamp(r["ts"]) + rng.uniform(0, 240))
    assert shuffled != faulty_stream
    assert _replay_bytes(as_jsonl(shuffled))[0] == _replay_bytes(as_jsonl(faulty_stream))[0]


def test_a_contact_later_than_the_lateness_is_rejected_with_the_reason() -> None:
    records = stream(seed=3, days=0.2)
    late = dict(records[10], contact_id="late-one")
    _, rejects = _replay_bytes(as_jsonl([*records, late]))
    (rejected,) = [orjson.loads(line) for line in rejects.splitlines()]
    assert rejected["field"] == "ts" and "late" in rejected["reason"]
    assert rejected["record"]["contact_id"] == "late-one"


def test_a_redelivered_contact_after_its_step_closed_is_a_repeat_not_a_late_rejection() -> None:
    """At-least-once delivery resends old records: they were counted once already, so they are not errors."""
    records = stream(seed=3, days=0.2)
    _, rejects = _replay_bytes(as_jsonl([*records, records[10]]))
    assert rejects == b""


def test_a_repeated_contact_id_is_processed_once() -> None:
    """A partner aggregate redelivered three times counts its reporters once."""
    background = stream(seed=4, days=3.0)
    aggregate = {
        "contact_id": "acme-batch-17",
        "ts": format_time(FAULT_AT),
        "channel": "partner",
        "customer_id": "partner:acme",
        "source": "partner:acme",
        "dimensions": {"device_brand": "Zed", "service": "Vidz"},
        "count": 40,
    }
    once = sorted([*background, aggregate], key=lambda r: parse_timestamp(r["ts"]))
    thrice = sorted([*background, aggregate, aggregate, aggregate], key=lambda r: parse_timestamp(r["ts"]))
    engine = Engine(Settings(symptoms=False))
    released = [e for r in thrice for e in engine.process(r).events] + engine.close()
    events = [e.to_json() for e in released]
    assert engine.counts.duplicates == 2
    assert events == run(once)
    # One record standing for 40 customers on a quiet pair is evidence on its own.
    assert opened_scopes(events) == [{"device_brand": "Zed", "service": "Vidz"}]
    evidence = events[0]["evidence"]
    assert evidence["customers"] >= 40 and evidence["by_source"]["partner"] == 1


def test_bad_records_are_rejected_and_the_stream_goes_on(faulty_stream: list[dict[str, object]]) -> None:
    good = as_jsonl(faulty_stream)
    lines = good.splitlines(keepends=True)
    bad = [b"{not json\n", b'{"contact_id": "x", "ts": "yesterday"}\n', b"[1, 2]\n"]
    mixed = b"".join(lines[:100] + bad + lines[100:])
    out, rejects = _replay_bytes(mixed)
    reasons = [orjson.loads(line) for line in rejects.splitlines()]
    assert [r["line"] for r in reasons] == [101, 102, 103]
    assert "not valid JSON" in reasons[0]["reason"]
    assert reasons[1]["field"] == "channel" or reasons[1]["field"] == "ts"
    assert out == _replay_bytes(good)[0], "bad lines change nothing else"


def test_one_customer_on_every_channel_is_not_an_incident() -> None:
    background = stream(seed=6, days=3.0)
    caller = [
        {
            "contact_id": f"angry-{i}",
            "ts": format_time(FAULT_AT + i * 60),
            "channel": channel,
            "customer_id": "angry-customer",
            "source": "centre",
            "dimensions": {"device_brand": "Zed", "service": "Vidz", "region": "West"},
        }
        for i, channel in enumerate(["voice", "ivr", "chat", "email", "web", "social", "app", "voice", "chat"] * 7)
    ]
    records = sorted([*background, *caller], key=lambda r: parse_timestamp(r["ts"]))
    assert run(records) == []


def test_cli_replay_reads_stdin_and_writes_stdout(tmp_path: Path, faulty_stream: list[dict[str, object]]) -> None:
    rejects = tmp_path / "rejects.jsonl"
    (tmp_path / "settings.toml").write_text("symptoms = false\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "correlate.cli",
            "replay",
            "-",
            "--rejects",
            str(rejects),
            "--config",
            str(tmp_path / "settings.toml"),
        ],
        input=as_jsonl(faulty_stream) + b"oops\n",
        capture_output=True,
        check=True,
    )
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert {e["event"] for e in events} >= {"opened", "resolved"}
    assert b"1 rejected" in result.stderr and b"2 opened" in result.stderr
    assert len(rejects.read_bytes().splitlines()) == 1


def test_unknown_setting_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("windowz = [60]\n")
    result = subprocess.run(
        [sys.executable, "-m", "correlate.cli", "replay", "-", "--config", str(tmp_path / "bad.toml")],
        input=b"",
        capture_output=True,
    )
    assert result.returncode == 2 and b"unknown setting(s): windowz" in result.stderr


def test_a_contact_id_is_a_repeat_within_the_dedup_horizon_and_new_after_it() -> None:
    """Ids are remembered for ``dedup_horizon`` of event time, then forgotten: thousands of them here, so that the
    memory of ids is cut in bulk several times on the way."""
    records = stream(seed=3, days=0.5)
    engine = Engine(Settings(symptoms=False, dedup_horizon=HOUR))
    for record in records:
        engine.process(record)
    last_ts = records[-1]["ts"]
    old, recent = records[0], records[-200]
    assert parse_timestamp(last_ts) - parse_timestamp(old["ts"]) > 2 * HOUR  # type: ignore[arg-type]
    accepted = engine.counts.accepted
    assert engine.process({**old, "ts": last_ts}).rejection is None  # forgotten: a new contact
    assert engine.process({**recent, "ts": last_ts}).rejection is None  # remembered: a repeat, dropped
    assert (engine.counts.accepted, engine.counts.duplicates) == (accepted + 1, 1)
