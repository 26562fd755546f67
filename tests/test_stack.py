"""``correlate up`` as a user runs it: one command, a healthy stack, incidents out, nothing left behind."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.lab.simulate import simulate
from correlate.replay import replay
from correlate.streams.embedded import free_port
from correlate.streams.procs import stop
from correlate.vendor_view import vendor_event

START = parse_timestamp("2026-03-02T00:00:00Z")


def _correlate(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRELATE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "correlate.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def _children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def api_port() -> int:
    """The port asked of ``up`` for its API (8480 unless told: another test may hold that one)."""
    return free_port()


@pytest.fixture
def stack(home: Path, api_port: int) -> Iterator[subprocess.Popen[str]]:
    """``correlate up`` started before the test body runs, stopped with SIGINT (Ctrl-C) after it."""
    env = {**os.environ, "CORRELATE_HOME": str(home), "CORRELATE_API_PORT": str(api_port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "correlate.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    stop(process, signal.SIGINT, grace=30)  # the test stopped early: still Ctrl-C, so that up stops its servers


def _wait_healthy(home: Path, up: subprocess.Popen[str], timeout: float = 120) -> dict[str, object]:
    """Poll ``status`` until healthy. Once ``up`` has written its state file, a stack on its way up is
    "starting" (exit 3), never "NOT healthy" (exit 1)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert up.poll() is None, up.stdout.read() if up.stdout else ""
        written = (home / "stack.json").exists()
        result = _correlate(home, "status", "--json")
        if result.returncode == 0:
            status: dict[str, object] = json.loads(result.stdout)
            return status
        if written:
            assert result.returncode == 3, result.stdout
            assert json.loads(result.stdout)["phase"] == "starting"
        time.sleep(0.5)
    raise AssertionError(f"stack not healthy within {timeout:g} s: {_correlate(home, 'status').stdout}")


def _api_lists(api: str, token: str, incident_id: str, limit: float = 60.0) -> bool:
    """Whether the API lists the incident, once its feed has caught up (the limit only stops a hung test)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{api}/v1/incidents?status=all", headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                listed = json.load(response)
        except urllib.error.HTTPError as error:
            assert error.code == 503, error  # the store is still starting: "try again shortly"
            time.sleep(0.5)
            continue
        if incident_id in {item["incident_id"] for item in listed["incidents"]}:
            return True
        time.sleep(0.5)
    return False


def test_up_status_produce_subscribe_and_ctrl_c_leaves_nothing_running(
    home: Path, tmp_path: Path, stack: subprocess.Popen[str], api_port: int
) -> None:
    sim = simulate(seed=5, days=4, contacts_per_day=2_000, start=START, faults=3)
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in sim.contacts))
    out = io.BytesIO()
    replay(Engine(), contacts.read_bytes().splitlines(keepends=True), out, None)
    first = json.loads(out.getvalue().splitlines()[0])
    vendor = first["vendors"]["at_fault"][0]

    status = _wait_healthy(home, stack)
    assert {"broker", "store", "api", "metrics", "leader"} <= set(status)
    assert status["api"] == f"http://127.0.0.1:{api_port}"  # the port asked for (8480 by default), being free
    assert str(status["broker"]).startswith("127.0.0.1:") and str(status["store"]).startswith("redis://127.0.0.1:")
    pids = dict(json.loads((home / "stack.json").read_text())["pids"])
    assert {"broker", "store", "worker-1", "api"} <= set(pids)
    grandchildren = _children_of(pids["worker-1"])  # the worker's detect process
    assert grandchildren

    produced = _correlate(home, "produce", str(contacts))
    assert produced.returncode == 0, produced.stderr
    subscribed = _correlate(home, "subscribe", "--vendor", vendor, "--count", "1", "--timeout", "60", timeout=90)
    assert subscribed.returncode == 0, subscribed.stderr
    # The same event in the vendor's view, compared as JSON: the worker writes numbers as orjson does ("5.753e-8"),
    # json.dumps as Python does ("5.753e-08").
    assert [json.loads(line) for line in subscribed.stdout.splitlines()] == [vendor_event(first)]
    # The same incident reaches the people: the API of the stack lists it to the NOC.
    token = _correlate(home, "token", "--role", "noc").stdout.strip()
    assert _api_lists(status["api"], token, first["incident_id"])

    stack.send_signal(signal.SIGINT)
    assert stack.wait(30) == 0
    assert not (home / "stack.json").exists()
    assert [role for role, pid in pids.items() if _alive(pid)] == []
    assert [pid for pid in grandchildren if _alive(pid)] == []
    assert _correlate(home, "status").returncode != 0
    _assert_stopped_cleanly(home)


def _assert_stopped_cleanly(home: Path) -> None:
    """The workers and the API stopped while the broker and the store still ran: no connection errors."""
    for log in ("worker-1.log", "api.log"):
        text = (home / log).read_text(errors="replace")
        assert "could not release the lease" not in text, text[-3000:]
        assert "Connection refused" not in text and "Connect call failed" not in text, text[-3000:]


def test_down_stops_a_backgrounded_up_and_status_sees_a_stuck_stage(home: Path, tmp_path: Path) -> None:
    """``up`` in the background with its API port taken and a validate stage that a record wedges (a fault
    injected where a broker refusing a batch would fail it): status turns unhealthy and says why; ``down``
    stops everything, children first, and says so; a second ``down`` has nothing to do."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        env = {
            **os.environ,
            "CORRELATE_HOME": str(home),
            "CORRELATE_API_PORT": str(busy),
            "CORRELATE_INJECT_FAULT": "validate-flush:@@wedge@@",
        }
        with open(tmp_path / "up.log", "wb") as log:
            up = subprocess.Popen(
                [sys.executable, "-m", "correlate.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            status = _wait_healthy(home, up)
            assert status["api"] != f"http://127.0.0.1:{busy}"
            assert f"port {busy} was taken when the stack started: the API is on" in str(status["api_note"])
            pids = dict(json.loads((home / "stack.json").read_text())["pids"])

            wedge = tmp_path / "wedge.jsonl"
            wedge.write_text(json.dumps({"contact_id": "w", "ts": "2026-03-02T00:00:00Z", "note": "@@wedge@@"}) + "\n")
            assert _correlate(home, "produce", str(wedge), "--quiet").returncode == 0

            deadline = time.monotonic() + 180
            while "stuck: the validate stage" not in (shown := _correlate(home, "status")).stdout:
                assert time.monotonic() < deadline, shown.stdout
                time.sleep(1)
            assert shown.returncode == 1 and "NOT healthy" in shown.stdout
            assert "times without handling a record" in shown.stdout

            down = _correlate(home, "down", timeout=120)
            assert down.returncode == 0, down.stdout + down.stderr
            assert down.stdout.startswith(f"correlate down: stopped up (pid {pids['up']})"), down.stdout
            assert up.wait(30) == 0
            assert [role for role, pid in pids.items() if _alive(pid)] == []
            assert not (home / "stack.json").exists()
            _assert_stopped_cleanly(home)

            again = _correlate(home, "down")
            assert again.returncode == 0 and "no stack running" in again.stdout
        finally:
            stop(up, signal.SIGINT, grace=30)


def test_status_is_not_healthy_when_no_stack_runs(home: Path) -> None:
    result = _correlate(home, "status", "--json")
    assert result.returncode == 1
    status = json.loads(result.stdout)
    assert status["healthy"] is False and status["api"] is None
