"""The detect leader's checkpoints: what one covers, and a takeover that restores it.

The pipeline test runs real workers against Tansu and Redis: the leader checkpoints, takes more records in, is
killed with SIGKILL; the standby restores the checkpoint, re-reads only the records after it, and the incidents
published over the whole run are replay's, none twice, none missing.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from correlate import snapshot
from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.errors import ContractError
from correlate.lab.simulate import simulate
from correlate.replay import replay
from correlate.streams.checkpoint import (
    Coverage,
    ForkedSave,
    load_checkpoint,
    restore_checkpoint,
    store_checkpoint,
    stored_covers,
)
from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.settings import StackSettings
from correlate.vendors import VendorRegistry
from test_pipeline import (
    Stream,
    Worker,
    _check_published_once,
    final_clock,
    kill_leader,
    lag_reports,
    produce,
    progress,
    settled_events,
    simulated_stream,
    topic_values,
    wait_for,
)

START = parse_timestamp("2026-03-02T00:00:00Z")
BEAT = ("contacts", 0)  # the input partition the telemetry below was read from


def test_a_checkpoint_covers_what_the_engine_has_even_past_a_record_still_waiting() -> None:
    coverage = Coverage({0: 0, 1: 0})
    for offset in (0, 1, 2):  # three heartbeats of input offsets 10, 11, 12 on accepted partition 0
        assert coverage.read(0, offset)
        assert not coverage.repeated(0, offset, (*BEAT, 10 + offset))
    assert coverage.read(1, 0)
    for partition, offset in ((0, 1), (0, 2), (1, 0)):  # 0/0 (a clock a day ahead) waits; the others overtake it
        coverage.handed(partition, offset)
    assert coverage.offsets() == {0: 0, 1: 1}
    covers = coverage.covers()
    assert covers["redeliveries"] == []  # nothing behind partition 0's frontier yet

    data = snapshot.save(Engine(), covers)
    restored = restore_checkpoint(data, Settings(), VendorRegistry(), [0, 1]).coverage
    assert restored.read(0, 0) and not restored.repeated(0, 0, (*BEAT, 10)), "read again, and no repeat"
    assert not restored.read(0, 1) and not restored.read(0, 2), "the engine has these already"
    restored.handed(0, 1)  # as the leader does for every record it drops
    restored.handed(0, 2)
    assert restored.read(0, 3) and restored.repeated(0, 3, (*BEAT, 11)), "a copy of one it has is still a copy"
    restored.handed(0, 3)
    assert restored.offsets() == {0: 0, 1: 1} and restored.covers()["handed"] == {
        "0": [[1, *BEAT, 11], [2, *BEAT, 12], [3]]
    }
    restored.handed(0, 0)
    assert restored.offsets() == {0: 4, 1: 1}
    assert restored.covers()["redeliveries"] == [[*BEAT, 12]]
    assert restored.covers()["handed"] == {}


def test_a_checkpoint_of_other_partitions_is_refused() -> None:
    data = snapshot.save(Engine(), Coverage({0: 5, 1: 7}).covers())
    with pytest.raises(snapshot.SnapshotRefused, match=r"partitions \[0, 1\].*has \[0, 1, 2, 3\]"):
        restore_checkpoint(data, Settings(), VendorRegistry(), [0, 1, 2, 3])
    with pytest.raises(snapshot.SnapshotRefused, match="says not what it covers"):
        restore_checkpoint(snapshot.save(Engine(), {"replay_lines": 3}), Settings(), VendorRegistry(), [0, 1])


def test_a_forked_checkpoint_is_the_state_at_the_fork_whatever_the_leader_does_meanwhile() -> None:
    sim = simulate(seed=3, days=1.2, contacts_per_day=1_000, start=START, faults=0)
    engine = Engine()
    for record in sim.contacts[:800]:
        engine.process(record)
    at_fork = snapshot.save(engine, {"accepted": 800})
    forked = ForkedSave.start(engine, {"accepted": 800})
    assert forked is not None
    for record in sim.contacts[800:]:  # the leader goes on while the child pickles
        engine.process(record)
    assert forked.collect() == at_fork
    assert snapshot.save(engine, {"accepted": 800}) != at_fork


def test_a_checkpoint_larger_than_one_store_command_is_stored_and_read_whole(redis_url: str) -> None:
    """A state of weeks is hundreds of MB, more than one command may move within the client's timeout: it goes in
    pieces, and the checkpoint a reader finds is always one whole snapshot, the previous one until the last piece."""
    import redis.asyncio

    settings = StackSettings(topic_prefix="pieces.")
    key = settings.checkpoint_key
    sim = simulate(seed=3, days=1.2, contacts_per_day=1_000, start=START, faults=0)
    engine = Engine()
    for record in sim.contacts:
        engine.process(record)
    older = snapshot.save(Engine(), Coverage({0: 0}).covers())
    newer = snapshot.save(engine, Coverage({0: 1_000}).covers())
    piece = 4_096
    assert len(newer) > 20 * piece

    async def scenario() -> None:
        store = redis.asyncio.Redis.from_url(redis_url)
        try:
            await store_checkpoint(store, key, older, piece=piece)
            assert await load_checkpoint(store, key, piece=piece) == older
            await store.append(f"{key}:staging", newer[: 5 * piece])  # a leader killed while writing the next one
            assert await load_checkpoint(store, key, piece=piece) == older  # the previous one stands, whole
            await store_checkpoint(store, key, newer, piece=piece)  # the next leader's starts afresh
            assert await load_checkpoint(store, key, piece=piece) == newer
            assert await store.exists(f"{key}:staging") == 0
            assert await load_checkpoint(store, "pieces.none", piece=piece) is None
        finally:
            await store.aclose()

    asyncio.run(scenario())
    assert stored_covers(redis_url, settings)["offsets"] == {"0": 1_000}
    restored = restore_checkpoint(newer, Settings(), VendorRegistry(), [0])
    assert restored.engine.counts.accepted == engine.counts.accepted


def _checkpoint_covers(store: str, prefix: str) -> dict[str, Any]:
    return stored_covers(store, StackSettings(topic_prefix=prefix))


def _covered(store: str, prefix: str) -> int:
    offsets = _checkpoint_covers(store, prefix).get("offsets", {})
    assert isinstance(offsets, dict)
    return sum(offsets.values())


@pytest.fixture(scope="module")
def long_stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    return simulated_stream(tmp_path_factory.mktemp("stream"), seed=5, days=4, per_day=2_000)


def test_a_standby_restores_the_killed_leaders_checkpoint_and_reads_only_the_tail(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, long_stream: Stream, tmp_path: Path
) -> None:
    broker, stream = kafka_broker.bootstrap, long_stream
    first_part = tmp_path / "first.jsonl"
    second_part = tmp_path / "second.jsonl"
    half = len(stream.lines) * 2 // 3
    first_part.write_bytes(b"".join(line + b"\n" for line in stream.lines[:half]))
    second_part.write_bytes(b"".join(line + b"\n" for line in stream.lines[half:]))
    env = {"CORRELATE_MERGE_IDLE": "1.5", "CORRELATE_CHECKPOINT_EVERY": "2"}
    leader = Worker(broker, redis_url, topic_prefix, tmp_path, "leader", **env)
    standby: Worker | None = None
    try:
        wait_for(lambda: progress(redis_url, topic_prefix).leader != "", 90, leader.log)
        assert progress(redis_url, topic_prefix).start == "scratch"  # nothing to restore yet
        producer = produce(broker, topic_prefix, first_part)
        assert producer.wait(180) == 0, producer.stderr.read() if producer.stderr else ""
        accepted = topic_prefix + "contacts.accepted"
        # A checkpoint that covers the whole first part (every record forwarded so far).
        wait_for(
            lambda: _covered(redis_url, topic_prefix) == len(topic_values(broker, accepted)) > 0,
            180,
            lambda: (
                f"{_checkpoint_covers(redis_url, topic_prefix)}\n{lag_reports(redis_url, topic_prefix)}\n"
                + leader.log()
            ),
        )
        standby = Worker(broker, redis_url, topic_prefix, tmp_path, "standby", **env)
        producer = produce(broker, topic_prefix, second_part, "--rate", "500")  # more records, then the kill
        wait_for(
            lambda: progress(redis_url, topic_prefix).accepted > _checkpoint_accepted(redis_url, topic_prefix),
            120,
            leader.log,
        )
        survivor = standby
        kill_leader(leader, survivor, producer, redis_url, topic_prefix, stream.accepted)
        final = progress(redis_url, topic_prefix)
        assert final.start == "checkpoint" and final.restored_from.endswith(f":{leader.pid}")
        on_topic = len(topic_values(broker, accepted))
        tail = on_topic - sum(final.restored.values())
        assert 0 < tail < on_topic and final.records_read == tail  # it read the tail, and only the tail
        assert "restored the checkpoint" in survivor.log()
        assert survivor.metric('correlate_detect_starts_total{start="checkpoint"}') == 1
        assert final.rejected == {}  # no contact made late by the takeover: every accepted one counted, once
        _check_published_once(broker, topic_prefix, stream, survivor)
    finally:
        leader.stop()
        if standby is not None:
            standby.stop()


def _checkpoint_accepted(store: str, prefix: str) -> int:
    accepted = _checkpoint_covers(store, prefix).get("accepted", 0)
    assert isinstance(accepted, int)
    return accepted


def _ending_with_an_incident_open(stream: Stream, directory: Path) -> Stream:
    """The stream cut 12 minutes after its first incident opened: it ends with that incident open."""
    opened = next(json.loads(e) for e in stream.events if json.loads(e)["event"] == "opened")
    cut_at = parse_timestamp(opened["at"]) + 720
    times = [_time_of(line) for line in stream.lines]
    lines = stream.lines[: next(i for i, ts in enumerate(times) if ts is not None and ts > cut_at)]
    path = directory / "contacts.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    out = io.BytesIO()
    summary = replay(Engine(), [line + b"\n" for line in lines], out, None)
    events = [line for line in out.getvalue().split(b"\n") if line]
    clock = final_clock([ts for ts in times[: len(lines)] if ts is not None])
    return Stream(path, lines, events, summary.accepted, summary.rejected, clock)


def _time_of(line: bytes) -> float | None:
    try:
        return parse_timestamp(orjson.loads(line)["ts"])
    except (ValueError, KeyError, TypeError, ContractError):  # a broken record of the stream
        return None


def test_a_clean_stop_leaves_a_checkpoint_the_next_leader_starts_from(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, long_stream: Stream, tmp_path: Path
) -> None:
    broker, stream = kafka_broker.bootstrap, _ending_with_an_incident_open(long_stream, tmp_path)
    last = {event["incident_id"]: event["event"] for event in map(json.loads, settled_events(stream))}
    still_open = [incident for incident, event in last.items() if event not in ("resolved", "dismissed")]
    assert still_open
    env = {"CORRELATE_CHECKPOINT_EVERY": "3600"}  # none while it runs: the one at its stop is what is tested
    first = Worker(broker, redis_url, topic_prefix, tmp_path, "first", **env)
    second: Worker | None = None
    try:
        wait_for(lambda: progress(redis_url, topic_prefix).leader != "", 90, first.log)
        producer = produce(broker, topic_prefix, stream.path)
        assert producer.wait(180) == 0, producer.stderr.read() if producer.stderr else ""
        wait_for(lambda: progress(redis_url, topic_prefix).accepted == stream.accepted, 180, first.log)
        assert _covered(redis_url, topic_prefix) == 0  # the one it took once caught up with the empty topic
        first.stop()
        assert first.process.returncode == 0, first.log()
        on_topic = len(topic_values(broker, topic_prefix + "contacts.accepted"))
        assert _covered(redis_url, topic_prefix) == on_topic
        second = Worker(broker, redis_url, topic_prefix, tmp_path, "second", **env)
        wait_for(lambda: progress(redis_url, topic_prefix).leader.endswith(f":{second.pid}"), 90, second.log)
        started = progress(redis_url, topic_prefix)
        assert started.start == "checkpoint" and started.records_read == 0
        assert started.accepted == stream.accepted  # the counts came with the state
        published = topic_values(broker, topic_prefix + "incidents")
        assert published == settled_events(stream)  # what the first leader published stays, once
        # The second leader released none of them, yet shows the NOC the incident still open (and pages for it).
        wait_for(lambda: second.metric("correlate_incidents_open") == len(still_open), 60, second.log)
        assert second.metric("correlate_incident_paging") == len(still_open)
    finally:
        first.stop()
        if second is not None:
            second.stop()
