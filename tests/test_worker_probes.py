"""A worker's ``/livez`` and ``/readyz``: alive while its event loop turns, ready while it also reaches the
broker and the store; 503 with the reason otherwise. Against real workers on the embedded Tansu broker and a
Redis of the test's own (so it can be stopped), and the staleness rule on its own."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import orjson
import pytest

from correlate.streams.embedded import EmbeddedBroker, EmbeddedRedis
from correlate.streams.probes import ProbeState, liveness, readiness
from test_pipeline import Worker, lag_reports, produce, wait_for

HANG_MARKER = "@@hang-the-loop@@"


def probe(worker: Worker, path: str) -> tuple[int, dict[str, str]]:
    """(status, JSON body) of a probe; (0, {}) while the worker does not answer yet."""
    try:
        with urlopen(f"http://127.0.0.1:{worker.metrics_port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


def test_the_loop_is_alive_until_its_heartbeat_is_older_than_allowed() -> None:
    assert liveness(None, 100.0, 30.0) == "the event loop has not come round yet"
    assert liveness(100.0, 130.0, 30.0) is None
    stalled = liveness(100.0, 131.0, 30.0)
    assert stalled is not None and "31 s" in stalled and "allowed 30 s" in stalled


def test_ready_needs_the_loop_the_store_and_the_broker_and_says_which_is_missing() -> None:
    assert readiness(None, None, None) == (True, {"status": "ok", "loop": "ok", "store": "ok", "broker": "ok"})
    ready, body = readiness(None, "unreachable: ConnectionError: refused", None)
    assert not ready and body["status"] == "unavailable"
    assert body["store"] == "unreachable: ConnectionError: refused" and body["broker"] == "ok"
    now = [0.0]
    state = ProbeState(5.0, clock=lambda: now[0], beat=0.0, store_error=None, broker_error=None)
    assert state.answer_ready()[0] and state.answer_live()[0]
    now[0] = 6.0  # the loop stopped stamping: neither alive nor ready, whatever its last checks found
    assert not state.answer_live()[0]
    ready, body = state.answer_ready()
    assert not ready and body["loop"].startswith("the event loop has not come round for 6 s")


def test_a_worker_is_ready_when_up_and_not_ready_with_the_reason_once_its_store_is_gone(
    kafka_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "redis").mkdir()
    with EmbeddedRedis().start(tmp_path / "redis", log=tmp_path / "redis.log") as store:
        worker = Worker(kafka_broker.bootstrap, store.url, topic_prefix, tmp_path, "worker")
        try:
            wait_for(lambda: probe(worker, "/readyz")[0] == 200, 60, worker.log)
            assert probe(worker, "/readyz")[1] == {"status": "ok", "loop": "ok", "store": "ok", "broker": "ok"}
            assert probe(worker, "/livez") == (200, {"status": "ok", "loop": "ok"})
            assert (
                "correlate_contacts_total" in urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics").read().decode()
            )

            store.stop()
            wait_for(lambda: probe(worker, "/readyz")[0] == 503, 60, worker.log)
            status, body = probe(worker, "/readyz")
            assert status == 503 and body["status"] == "unavailable" and body["store"].startswith("unreachable: "), body
            assert body["broker"] == "ok" and body["loop"] == "ok"
            assert probe(worker, "/livez")[0] == 200  # the store being away is no reason to restart the worker
        finally:
            worker.stop()
    assert worker.process.returncode == 0, worker.log()


def test_a_worker_whose_loop_is_blocked_is_not_alive_and_not_ready(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = {"CORRELATE_INJECT_FAULT": f"validate-hang:{HANG_MARKER}", "CORRELATE_LOOP_STALE_AFTER": "3"}
    worker = Worker(kafka_broker.bootstrap, redis_url, topic_prefix, tmp_path, "worker", **env)
    try:
        wait_for(lambda: lag_reports(redis_url, topic_prefix).count("lag") == 4, 60, worker.log)
        assert probe(worker, "/livez")[0] == 200
        contacts = tmp_path / "hang.jsonl"
        contacts.write_bytes(orjson.dumps({"contact_id": "c1", "notes": HANG_MARKER}) + b"\n")
        producer = produce(kafka_broker.bootstrap, topic_prefix, contacts)
        assert producer.wait(120) == 0, producer.stderr.read() if producer.stderr else ""

        wait_for(lambda: probe(worker, "/livez")[0] == 503, 60, worker.log)
        body = probe(worker, "/livez")[1]
        assert body["status"] == "unavailable"
        assert body["loop"].startswith("the event loop has not come round for "), body
        status, body = probe(worker, "/readyz")
        assert status == 503 and body["loop"].startswith("the event loop has not come round for "), body
    finally:
        if worker.process.poll() is None:  # its loop is blocked: SIGTERM would wait for an hour
            worker.process.send_signal(signal.SIGKILL)
            try:
                worker.process.wait(30)
            except subprocess.TimeoutExpired:
                pytest.fail("the worker did not die on SIGKILL")
