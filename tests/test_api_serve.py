"""`correlate api` as a user runs it: a process on loopback, fed from Kafka, found through <home>/api.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from correlate.api.serve import read_state
from correlate.streams.embedded import EmbeddedBroker
from test_feed import event_records, make_topics, produce
from test_store import replayed


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return replayed(tmp_path_factory.getbasetemp())[0]


def correlate(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRELATE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "correlate.cli", *argv], capture_output=True, text=True, env=env, check=True
    )


def get(url: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(check: Any, what: str, limit: float = 60.0) -> Any:
    """Poll until ``check()`` is truthy (the limit only stops a hung test; nothing here is timed)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting: {what}")


def test_correlate_api_serves_what_the_topics_carry(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    home = tmp_path / "home"
    bootstrap = kafka_broker.bootstrap
    make_topics(bootstrap, topic_prefix + "incidents", topic_prefix + "contacts.accepted")
    make_topics(bootstrap, topic_prefix + "notifications", partitions=1)
    opened = events[0]
    produce(bootstrap, topic_prefix + "incidents", event_records([opened]))
    token = correlate("token", "--role", "agent", "--name", "ana", home=home).stdout.strip()
    log = tmp_path / "api.log"
    argv = ["--broker", bootstrap, "--store", redis_url, "--port", "0", "--topic-prefix", topic_prefix]
    argv += ["--metrics-port", "0"]
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "correlate.cli", "api", "--home", str(home), *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CORRELATE_HOME": str(home)},
        )
    try:
        state = wait_for(lambda: read_state(home), "api.json")
        assert state["pid"] == process.pid
        assert state["url"].startswith("http://127.0.0.1:")
        url = state["url"]
        query = f"{url}/v1/known-incidents?device_brand=Pixelle&service=StreamPlus"
        found = wait_for(lambda: get(query, token)[1]["incidents"], "the incident through the feed")
        assert found[0]["incident_id"] == opened["incident_id"]
        assert found[0]["banner"].startswith("Known incident since 5 Mar 00:50: error E8860 on Pixelle devices")
        vendor = correlate("token", "--role", "vendor", "--vendor", "arcus", home=home).stdout.strip()
        assert get(f"{url}/v1/incidents/{opened['incident_id']}", vendor)[0] == 404
        assert get(f"{url}/v1/incidents", "cor1.forged.token")[0] == 401
        with urllib.request.urlopen(state["metrics"], timeout=10) as response:
            exposed = response.read().decode()
        assert f'correlate_consumer_lag_records{{topic="{topic_prefix}incidents"}} 0.0' in exposed  # caught up
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert read_state(home) is None and not (home / "api.json").exists()
    text = log.read_text()
    assert "correlate api" in text
    assert token not in text and token.split(".")[2] not in text  # tokens are never logged


def test_correlate_api_alone_runs_a_store_of_its_own(tmp_path: Path) -> None:
    """No broker, no store given: it starts its own Redis under <home> and serves it; stopping stops both."""
    home = tmp_path / "home"
    process = subprocess.Popen(
        [sys.executable, "-m", "correlate.cli", "api", "--home", str(home), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        state = wait_for(lambda: read_state(home), "api.json")
        token = correlate("token", "--role", "noc", home=home).stdout.strip()
        assert get(f"{state['url']}/v1/incidents?status=all", token) == (200, {"incidents": [], "count": 0})
        assert state["store"].startswith("redis://127.0.0.1:")
        assert (home / "api-redis").is_dir()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert read_state(home) is None
    port = int(state["store"].rsplit(":", 1)[1].split("/")[0])
    import socket

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # its Redis stopped with it


def test_a_failing_worker_is_restarted_until_it_stops(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from correlate.api.serve import keep_running

    class Flaky:
        def __init__(self) -> None:
            self.runs = 0

        def stop(self) -> None:
            pass

        async def run(self) -> None:
            self.runs += 1
            if self.runs < 3:
                raise ConnectionError("store away")

    flaky = Flaky()
    asyncio.run(keep_running("flaky", flaky, asyncio.Event(), first_delay=0.01))
    assert flaky.runs == 3
    assert caplog.text.count("flaky failed; restarting") == 2


def test_an_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    from correlate.streams.embedded import free_port

    store = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "correlate.cli", "api", "--home", str(tmp_path), "--port", "0", "--store", store],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "correlate api: cannot reach the store at redis://:***@127.0.0.1:" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_state_file_left_by_a_killed_process_is_not_a_running_api(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "api.json").write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": dead.pid}))
    assert read_state(tmp_path) is None
    (tmp_path / "api.json").write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": os.getpid()}))
    assert read_state(tmp_path) == {"url": "http://127.0.0.1:1", "pid": os.getpid()}
    assert read_state(tmp_path / "nowhere") is None


@pytest.mark.parametrize(
    ("host", "alone"),
    [
        *[("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True)],
        *[("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("api.internal", False)],
    ],
)
def test_metrics_on_the_api_port_need_a_token_unless_it_listens_on_loopback_only(host: str, alone: bool) -> None:
    """Which binds keep /metrics open on the API's port (what a request there gets is in test_api_hostile)."""
    from correlate.api.serve import _loopback_only

    assert _loopback_only(host) is alone
