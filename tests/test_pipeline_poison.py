"""Poison records against a real worker: each crashes its stage twice, goes to the dead letters with the
exception, and the pipeline goes on to give every other record's incidents, as replay does without them.

Three poisons: a record nested 300 deep (whose dead letter orjson could not write: the outage of issue 21),
and two records carrying a marker that makes a stage raise (``CORRELATE_INJECT_FAULT``, a stand-in for a bug
that one record sets off): one the validate stage crashes on, one (a valid contact) the detect stage does.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from correlate.streams.embedded import EmbeddedBroker
from test_pipeline import (
    Stream,
    Worker,
    lag_reports,
    produce,
    progress,
    settled_events,
    simulated_stream,
    topic_values,
    wait_for,
)

VALIDATE_MARKER = "@@validate-bug@@"
DETECT_MARKER = "@@detect-bug@@"


def _poisoned(directory: Path, stage: str) -> tuple[Stream, Path]:
    """A clean stream (and what replay makes of it) and the same stream with two poison records inside: the
    deep one, and one carrying the marker of ``stage`` (each a copy of its neighbour, so never late)."""
    clean = simulated_stream(directory, seed=11, days=4, per_day=1_200)
    lines = list(clean.lines)
    deep = json.loads(lines[99])
    deep.pop("customer_id")
    deep.update(contact_id="deep", x="@@")
    bug = json.loads(lines[1299])
    bug["contact_id"] = "bug"
    if stage == "validate":
        bug["notes"] = VALIDATE_MARKER
    else:
        bug["dimensions"] = {**bug["dimensions"], "region": DETECT_MARKER}
    lines.insert(1300, orjson.dumps(bug))
    lines.insert(100, json.dumps(deep).replace('"@@"', "[" * 300 + "]" * 300).encode())
    path = directory / "poisoned.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return clean, path


def test_records_that_crash_a_stage_are_dead_lettered_and_the_rest_flows(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    clean, path = _poisoned(tmp_path, "detect")
    broker = kafka_broker.bootstrap
    fault = f"detect:{DETECT_MARKER}"
    detect_worker = Worker(broker, redis_url, topic_prefix, tmp_path, "worker", CORRELATE_INJECT_FAULT=fault)
    try:
        wait_for(lambda: lag_reports(redis_url, topic_prefix).count("lag") == 4, 60, detect_worker.log)
        producer = produce(broker, topic_prefix, path)
        assert producer.wait(120) == 0, producer.stderr.read() if producer.stderr else ""
        wait_for(
            lambda: progress(redis_url, topic_prefix).accepted == clean.accepted,
            240,  # the detect poison costs two crashes, each a rebuild from the start of the topic
            lambda: f"{progress(redis_url, topic_prefix)}\n{detect_worker.log()}",
        )
        wait_for(
            lambda: len(topic_values(broker, topic_prefix + "incidents")) >= len(settled_events(clean)),
            60,
            detect_worker.log,
        )
        published = topic_values(broker, topic_prefix + "incidents")
        assert published[: len(settled_events(clean))] == settled_events(clean)  # as if the poisons were not there
        letters = [json.loads(v) for v in topic_values(broker, topic_prefix + "contacts.rejects")]
        crashed = [letter for letter in letters if letter.get("stage") == "detect"]
        assert len(crashed) == 1, letters
        assert "crashed the detect stage 2 times: InjectedFault" in crashed[0]["reason"]
        assert DETECT_MARKER in crashed[0]["record"] and crashed[0]["topic"] == topic_prefix + "contacts.accepted"
        deep = [letter for letter in letters if "deep" in str(letter.get("record"))]
        assert len(deep) == 1  # dead-lettered once, whichever way the core refuses it
        assert detect_worker.metric("correlate_stage_restarts_total") >= 2
        assert detect_worker.metric("correlate_stage_stuck") == 0  # it went on
    finally:
        detect_worker.stop()
    assert detect_worker.process.returncode == 0, detect_worker.log()


@pytest.mark.parametrize("runner", ["aiokafka", "faust"])
def test_a_record_that_crashes_the_validate_stage_is_dead_lettered_and_the_rest_flows(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, tmp_path: Path, runner: str
) -> None:
    clean, path = _poisoned(tmp_path, "validate")
    broker = kafka_broker.bootstrap
    env = {"CORRELATE_INJECT_FAULT": f"validate:{VALIDATE_MARKER}", "CORRELATE_VALIDATE_RUNNER": runner}
    worker = Worker(broker, redis_url, topic_prefix, tmp_path, "worker", **env)
    try:
        wait_for(lambda: lag_reports(redis_url, topic_prefix).count("lag") == 4, 60, worker.log)
        producer = produce(broker, topic_prefix, path)
        assert producer.wait(120) == 0, producer.stderr.read() if producer.stderr else ""
        wait_for(
            lambda: progress(redis_url, topic_prefix).accepted == clean.accepted,
            120,
            lambda: f"{progress(redis_url, topic_prefix)}\n{worker.log()}",
        )
        letters = [json.loads(v) for v in topic_values(broker, topic_prefix + "contacts.rejects")]
        crashed = [letter for letter in letters if VALIDATE_MARKER in str(letter.get("record"))]
        assert len(crashed) == 1, letters
        assert "crashed the validate stage 2 times: InjectedFault: injected fault" in crashed[0]["reason"]
        assert VALIDATE_MARKER in crashed[0]["record"] and crashed[0]["topic"] == topic_prefix + "contacts"
        assert len(letters) == clean.rejected + 2  # the deep record too, once, whichever way the core refuses it
        assert worker.metric("correlate_rejects_total") == clean.rejected + 2
        wait_for(
            lambda: len(topic_values(broker, topic_prefix + "incidents")) >= len(settled_events(clean)),
            60,
            worker.log,
        )
        published = topic_values(broker, topic_prefix + "incidents")
        assert published[: len(settled_events(clean))] == settled_events(clean)  # as if the poisons were not there
        assert worker.metric("correlate_stage_stuck") == 0
    finally:
        worker.stop()
    assert worker.process.returncode == 0, worker.log()
