"""Hostile records against a real worker: a record with a thousand dimensions, a partner's count of 2^63-1 and a
contact whose clock is six days ahead change nothing of what the pipeline publishes (issue 21's reproductions 2
and 3 on Kafka): the incidents are replay's for the stream without them, and each is answered with its reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from correlate.contracts import parse_timestamp
from correlate.streams.embedded import EmbeddedBroker
from test_pipeline import (
    Worker,
    lag_reports,
    produce,
    progress,
    settled_events,
    simulated_stream,
    topic_values,
    wait_for,
)

SIX_DAYS = 6 * 86_400.0


def test_a_wide_record_a_huge_count_and_a_wrong_clock_change_nothing_published(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    clean = simulated_stream(tmp_path, seed=11, days=4, per_day=1_200)
    lines = list(clean.lines)
    neighbour = json.loads(lines[499])
    wide = {**neighbour, "contact_id": "wide", "dimensions": {f"d{i}": "v" for i in range(1000)}}
    huge = {**neighbour, "contact_id": "huge", "source": "partner:evil", "channel": "partner", "count": 2**63 - 1}
    ahead = {**neighbour, "contact_id": "ahead", "ts": parse_timestamp(neighbour["ts"]) + SIX_DAYS}
    for at, record in ((1500, ahead), (1000, huge), (500, wide)):
        lines.insert(at, orjson.dumps(record))
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    broker = kafka_broker.bootstrap
    worker = Worker(broker, redis_url, topic_prefix, tmp_path, "worker")
    try:
        wait_for(lambda: lag_reports(redis_url, topic_prefix).count("lag") == 4, 60, worker.log)
        producer = produce(broker, topic_prefix, path)
        assert producer.wait(120) == 0, producer.stderr.read() if producer.stderr else ""
        wait_for(  # the contact six days ahead is taken in and held; the stream never gets there
            lambda: progress(redis_url, topic_prefix).accepted == clean.accepted + 1,
            180,
            lambda: f"{progress(redis_url, topic_prefix)}\n{worker.log()}",
        )
        expected = settled_events(clean)
        wait_for(lambda: len(topic_values(broker, topic_prefix + "incidents")) >= len(expected), 90, worker.log)
        assert topic_values(broker, topic_prefix + "incidents")[: len(expected)] == expected
        letters = [json.loads(v) for v in topic_values(broker, topic_prefix + "contacts.rejects")]
        assert "max_dimensions" in _reason(letters, "wide") and "max_count" in _reason(letters, "huge")
        assert len(letters) == clean.rejected + 2
    finally:
        worker.stop()
    assert worker.process.returncode == 0, worker.log()


def _reason(letters: list[dict[str, object]], contact_id: str) -> str:
    """The reason of the one dead letter quoting that contact (the record itself, or an excerpt of its JSON)."""
    quoted = [
        letter
        for letter in letters
        if f'"contact_id":"{contact_id}"'
        in (letter["record"] if isinstance(letter["record"], str) else orjson.dumps(letter["record"]).decode())
    ]
    assert len(quoted) == 1, letters
    return str(quoted[0]["reason"])
