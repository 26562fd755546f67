"""A stage that crashes on a record sets it aside on the second crash; a stuck stage makes the stack unhealthy.

The guard and the letter are pure; ``correlate status`` is run against a real Redis and broker, with the
health reports a stuck, a starting and a healthy stack leave in the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from correlate.metrics import Metrics
from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.health import CRASHES_STUCK, HealthReporter, StageHealth, stuck_reason
from correlate.streams.poison import FaultInjector, InjectedFault, PoisonGuard, describe_error, poison_letter
from correlate.streams.settings import StackSettings, load_stack_settings
from correlate.streams.stack import STATE_FILE, stack_status

POSITION = ("contacts", 2, 41)
DEEP = b'{"contact_id": "c1", "x": ' + b"[" * 300 + b"]" * 300 + b"}"


def test_a_record_that_crashes_the_stage_twice_is_set_aside_with_its_letter_written_once() -> None:
    guard = PoisonGuard("validate")
    assert guard.handling(POSITION) is None
    assert guard.crashed(TypeError("Recursion limit reached")) is None  # once may be bad luck: try again
    assert guard.handling(POSITION) is None
    assert guard.crashed(TypeError("Recursion limit reached")) == POSITION
    first = guard.handling(POSITION)
    assert first is not None and first.letter_due and first.reason == "TypeError: Recursion limit reached"
    again = guard.handling(POSITION)  # a rebuild meets it again: skipped, no second letter
    assert again is not None and not again.letter_due


def test_a_crash_between_records_blames_none_and_a_handled_record_is_not_blamed() -> None:
    guard = PoisonGuard("validate")
    for _ in range(3):
        assert guard.crashed(ConnectionError("broker away")) is None  # nothing being handled: I/O, not a record
    guard.handling(POSITION)
    guard.handled()
    assert guard.crashed(ConnectionError("broker away")) is None
    assert guard.crashed(ConnectionError("broker away")) is None
    assert guard.handling(POSITION) is None  # never quarantined


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_the_dead_letter_of_a_poison_record_cannot_fail_and_stays_small() -> None:
    letter = json.loads(poison_letter(POSITION, "validate", "TypeError: Recursion limit reached", DEEP * 100))
    assert letter["topic"] == "contacts" and letter["partition"] == 2 and letter["offset"] == 41
    assert "crashed the validate stage 2 times: TypeError: Recursion limit reached" in letter["reason"]
    assert letter["record"].startswith('{"contact_id": "c1"') and len(letter["record"]) <= 510
    assert letter["record_bytes"] == len(DEEP) * 100
    looped: list[Any] = []
    looped.append(looped)  # a decoded record no serialiser can write
    shown = json.loads(poison_letter(POSITION, "detect", describe_error(_Unprintable()), looped))
    assert shown["record"].startswith("[[[") and len(shown["record"]) <= 500 and shown["record_truncated"] is True
    assert "_Unprintable" in shown["reason"]
    assert json.loads(poison_letter(POSITION, "validate", "x", b"\xff\xfe bad utf-8"))["record"].endswith("bad utf-8")


def test_a_fault_is_injected_only_where_asked() -> None:
    faults = FaultInjector.from_environ({"CORRELATE_INJECT_FAULT": "validate:@@boom@@"})
    faults.check("validate", b'{"x": "fine"}')
    faults.check("detect", b'{"x": "@@boom@@"}')
    with pytest.raises(InjectedFault):
        faults.check("validate", b'{"x": "@@boom@@"}')
    assert not FaultInjector.from_environ({}).armed("validate")


def test_a_stage_is_stuck_after_crashing_without_progress_or_waiting_too_long() -> None:
    health = StageHealth("validate", "w1")
    for _ in range(CRASHES_STUCK - 1):
        health.crashed(TypeError("boom"))
    reporter = HealthReporter(health, Metrics(), None, "k:", 100, 60.0, clock=lambda: 1000.0, memory=lambda: 50)
    assert reporter.report()["stuck"] is None  # a poison record costs two crashes, then the stage goes on
    health.crashed(TypeError("boom"))
    report = reporter.report()
    assert "restarted 3 times without handling a record (last error: TypeError: boom)" in report["stuck"]
    assert reporter.metrics.stage_stuck.labels("validate")._value.get() == 1
    health.progressed(10)
    assert reporter.report()["stuck"] is None
    health.waiting(900.0)
    assert stuck_reason({"waiting_since": 900.0}, 1000.0, 60.0) == "has taken nothing in for 100 s while records wait"
    assert stuck_reason({"waiting_since": 990.0}, 1000.0, 60.0) is None


def test_the_health_settings_are_settings() -> None:
    settings = load_stack_settings({"memory_budget": 512, "stall_after": 30}, {"CORRELATE_API_PORT": "9000"})
    assert settings.memory_budget_bytes == 512 * 1_048_576 and settings.stall_after == 30.0
    assert settings.api_port == 9000
    assert StackSettings().api_port == 8480  # the README's port


# -- correlate status, against the store a stack leaves ---------------------------------------------------


def _state(home: Path, broker: str, store: str, started_at: float) -> None:
    home.mkdir(parents=True, exist_ok=True)
    state = {
        "home": str(home),
        "broker": broker,
        "store": store,
        "api": None,
        "metrics": [],
        "pids": {"up": os.getpid()},
        "started_at": started_at,
    }
    (home / STATE_FILE).write_text(json.dumps(state))


def _report(client: redis.Redis, worker: str, stage: str, **fields: Any) -> None:
    report = {"worker": worker, "stage": stage, "stuck": None, "resident_bytes": 10, "memory_budget_bytes": 100}
    client.set(f"correlate:health:{worker}:{stage}", json.dumps({**report, **fields}), ex=60)


def _status(home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRELATE_HOME": str(home)}
    argv = [sys.executable, "-m", "correlate.cli", "status"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def test_status_says_starting_then_healthy_then_stuck_or_over_budget(
    kafka_broker: EmbeddedBroker, redis_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    client = redis.Redis.from_url(redis_url)
    try:
        _state(home, kafka_broker.bootstrap, redis_url, time.time())
        starting = _status(home)
        assert starting.returncode == 3, starting.stdout
        assert ": starting" in starting.stdout and "leader: waiting" in starting.stdout

        client.set("correlate:detect-leader", "w1")
        _report(client, "w1", "detect", leading=True)
        _report(client, "w1", "validate")
        assert stack_status(home)["phase"] == "healthy"
        assert _status(home).returncode == 0

        _report(client, "w1", "validate", stuck="restarted 3 times without handling a record")
        stuck = _status(home)
        assert stuck.returncode == 1
        assert "NOT healthy" in stuck.stdout
        assert "stuck: the validate stage of w1 restarted 3 times without handling a record" in stuck.stdout

        _report(client, "w1", "validate", resident_bytes=300 * 1_048_576, memory_budget_bytes=200 * 1_048_576)
        heavy = _status(home)
        assert heavy.returncode == 1 and "memory: the validate stage of w1 uses 300 MB, over its 200 MB" in heavy.stdout

        _report(client, "w1", "validate")
        client.delete("correlate:health:w1:detect")  # the leader's detect process stopped reporting: wedged
        assert "stuck: the detect leader w1 sends no health report" in _status(home).stdout
    finally:
        client.close()


def test_a_stack_that_never_got_a_leader_is_unhealthy_once_past_its_start(
    kafka_broker: EmbeddedBroker, redis_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    _state(home, kafka_broker.bootstrap, redis_url, time.time() - 3600)
    result = _status(home)
    assert result.returncode == 1 and "leader: FAILING" in result.stdout
