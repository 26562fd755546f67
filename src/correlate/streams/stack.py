"""``correlate up`` and ``correlate status``: the whole pipeline on one machine, and whether it is healthy.

``up`` starts what is not configured (the embedded Tansu broker and Redis, :mod:`correlate.streams.embedded`), creates
the topics, starts the worker processes and writes where everything is to ``<home>/stack.json`` — the file
``status``, ``produce`` and ``subscribe`` read, so they need no flags on a laptop. SIGINT and SIGTERM stop the
children in order (workers first, so they release the lease and commit; then the servers) and remove the
file. Children die with ``up`` even if it is killed outright (Linux parent-death signal).

Beside the workers, ``up`` runs the HTTP API (``correlate api``: banner, journeys, incidents, webhooks) on a
loopback port; ``status --json`` shows its URL, and its ``/metrics`` is scraped like the workers'.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from correlate.streams.embedded import LOOPBACK, EmbeddedBroker, EmbeddedRedis, free_port
from correlate.streams.procs import die_with_parent
from correlate.streams.settings import StackSettings
from correlate.topics import pipeline_topics

__all__ = [
    "DOWN_TIMEOUT",
    "STARTING_GRACE",
    "STATE_FILE",
    "STOP_GRACE",
    "Child",
    "StackPlaces",
    "api_port",
    "read_state",
    "run_down",
    "run_up",
    "stack_status",
    "state_path",
]

STATE_FILE = "stack.json"
STOP_GRACE = 10.0  # seconds a child gets to stop after SIGTERM before SIGKILL


@dataclass
class Child:
    """A process ``up`` runs and stops; ``url`` is what it serves (shown by ``status``), ``role`` its job."""

    role: str
    argv: list[str]
    url: str | None = None
    metrics: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class StackPlaces:
    """Where the stack's servers are: handed to child factories."""

    broker: str
    store: str
    home: Path
    config: str | None
    topic_prefix: str = ""


def state_path(home: Path) -> Path:
    return home / STATE_FILE


def read_state(home: Path) -> dict[str, Any] | None:
    """The running stack's state file, or None when no stack is up in ``home``."""
    try:
        state: dict[str, Any] = json.loads(state_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state


def _worker_child(places: StackPlaces, index: int) -> Child:
    """A worker with its metrics on a port chosen now (the state file lists it before the worker serves)."""
    port = free_port()
    argv = [sys.executable, "-m", "correlate.cli", "worker", "--broker", places.broker, "--store", places.store]
    argv += ["--metrics-port", str(port)]
    if places.config:
        argv += ["--config", places.config]
    return Child(f"worker-{index}", argv, metrics=f"http://{LOOPBACK}:{port}/metrics")


def _api_child(places: StackPlaces, port: int) -> Child:
    """The API on a port chosen now, so that the state file can say where it is before it answers."""
    argv = [sys.executable, "-m", "correlate.cli", "api", "--broker", places.broker, "--store", places.store]
    argv += ["--home", str(places.home), "--port", str(port)]
    if places.topic_prefix:
        argv += ["--topic-prefix", places.topic_prefix]
    if places.config:
        argv += ["--config", places.config]
    url = f"http://{LOOPBACK}:{port}"
    return Child("api", argv, url=url, metrics=f"{url}/metrics")


def api_port(preferred: int) -> tuple[int, str | None]:
    """``preferred`` (the API's usual 8480) when it is free, else a free port and a note saying so."""
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, preferred))
        except OSError:
            port = free_port()
            return port, f"port {preferred} was taken when the stack started: the API is on {port}"
    return preferred, None


def run_up(settings: StackSettings, config: str | None, workers: int = 1) -> int:
    """Start the stack and keep it up until SIGINT or SIGTERM; stop the children first, then the servers
    they talk to (a worker stopping still commits its offsets and releases its lease)."""
    home = settings.home_path
    home.mkdir(parents=True, exist_ok=True)
    existing = read_state(home)
    if existing is not None and _alive(existing.get("pids", {}).get("up")):
        print(f"correlate up: a stack is already running from {home} (pid {existing['pids']['up']})", file=sys.stderr)
        return 1
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    children: list[Child] = []
    try:
        with ExitStack() as servers:  # closed last: the servers outlive every child
            try:
                _start_and_watch(settings, config, workers, home, servers, children, stopping)
            finally:
                _stop_children(children)
    finally:
        state_path(home).unlink(missing_ok=True)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("correlate up: stopped", flush=True)
    return 0


def _start_and_watch(
    settings: StackSettings,
    config: str | None,
    workers: int,
    home: Path,
    servers: ExitStack,
    children: list[Child],
    stopping: list[int],
) -> None:
    """Start the servers (into ``servers``) and the children (into ``children``), write the state file, and
    watch the children until a signal arrives."""
    pids: dict[str, Any] = {"up": os.getpid()}
    broker = settings.broker
    if broker is None:
        embedded = servers.enter_context(EmbeddedBroker().start(log=home / "broker.log"))
        broker, pids["broker"] = embedded.bootstrap, _pid(embedded.process)
    store = settings.store
    if store is None:
        redis_server = EmbeddedRedis().start(home / "redis", log=home / "redis.log")
        servers.enter_context(redis_server)
        store, pids["store"] = redis_server.url, _pid(redis_server.process)
    specs = pipeline_topics(settings.input_topics, settings.input_partitions, settings.topic_prefix)
    from correlate.streams import kafka_io  # here, not at the top: `down` works without the 'kafka' extra

    kafka_io.ensure_topics(broker, specs)
    places = StackPlaces(broker, store, home, config, settings.topic_prefix)
    port, port_note = api_port(settings.api_port)
    children.extend(_worker_child(places, i + 1) for i in range(workers))
    children.append(_api_child(places, port))
    env = {**os.environ, "CORRELATE_HOME": str(home), "CORRELATE_TOPIC_PREFIX": settings.topic_prefix}
    for child in children:
        if stopping:
            return
        log = open(home / f"{child.role}.log", "ab")  # noqa: SIM115 - the child holds it
        with log:
            child.process = subprocess.Popen(
                child.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
    state = {
        "home": str(home),
        "broker": broker,
        "store": store,
        "api": next((c.url for c in children if c.role == "api"), None),
        "api_note": port_note,
        "metrics": [c.metrics for c in children if c.metrics],
        "topic_prefix": settings.topic_prefix,
        "lease_key": settings.lease_key,
        "progress_key": settings.progress_key,
        "health_prefix": settings.health_prefix,
        "input_topics": [settings.topic(t) for t in settings.input_topics],
        "pids": {**pids, **{c.role: _pid(c.process) for c in children}},
        "started_at": time.time(),
    }
    _write_state(home, state)
    print(f"correlate up: broker {broker}", flush=True)
    print(f"correlate up: store {store}", flush=True)
    for child in children:
        where = child.url or child.metrics or ""
        print(f"correlate up: {child.role} pid {_pid(child.process)} {where}", flush=True)
    if port_note:
        print(f"correlate up: {port_note}", flush=True)
    print(f"correlate up: state in {state_path(home)}; Ctrl-C or `correlate down` stops everything", flush=True)
    while not stopping:
        for child in children:
            if child.process is not None and child.process.poll() is not None:
                print(f"correlate up: {child.role} exited ({child.process.returncode})", file=sys.stderr)
                child.process = None
        time.sleep(0.2)


def _write_state(home: Path, state: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a file."""
    partial = state_path(home).with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    partial.replace(state_path(home))


def _stop_children(children: list[Child]) -> None:
    """Workers and extras first (they still need the broker and store to stop cleanly), in parallel."""
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pid(process: subprocess.Popen[bytes] | None) -> int | None:
    return None if process is None else process.pid


def _alive(pid: object) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped by its parent, does not)."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _port_open(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or LOOPBACK, int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _http_ok(url: str) -> bool:
    try:
        with urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stack_status(home: Path, now: float | None = None) -> dict[str, Any]:
    """Where everything is, whether each part answers and each stage works; ``healthy`` is the conjunction.

    ``phase`` says it in a word: ``healthy``; ``starting`` while a fresh stack has not yet elected a leader or
    served its metrics (for :data:`STARTING_GRACE` seconds at most, with no stage stuck); ``unhealthy``;
    ``stopped`` when no stack runs. ``problems`` says what is wrong, a sentence each.
    """
    now = time.time() if now is None else now
    state = read_state(home)
    if state is None:
        return {
            "healthy": False,
            "phase": "stopped",
            "home": str(home),
            "reason": "no stack running (no state file)",
            "broker": None,
            "store": None,
            "api": None,
            "metrics": [],
            "leader": None,
            "problems": [],
        }
    import redis

    from correlate.streams.health import read_reports

    leader = progress = None
    reports: list[dict[str, Any]] = []
    store_ok = False
    try:
        client = redis.Redis.from_url(state["store"], socket_timeout=2.0)
        try:
            store_ok = bool(client.ping())
            raw_leader = client.get(state.get("lease_key", "correlate:detect-leader"))
            leader = raw_leader.decode() if isinstance(raw_leader, bytes) else None
            raw_progress = client.get(state.get("progress_key", "correlate:detect-progress"))
            progress = json.loads(raw_progress) if isinstance(raw_progress, bytes) else None
            reports = read_reports(client, state.get("health_prefix", "correlate:health:"))
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        store_ok = False
    broker_ok = all(_port_open(address) for address in str(state["broker"]).split(","))
    metrics_ok = {url: _http_ok(url) for url in state.get("metrics", [])}
    processes = {role: _alive(pid) for role, pid in state.get("pids", {}).items()}
    problems = _stage_problems(reports, leader)
    checks = {
        "broker": broker_ok,
        "store": store_ok,
        "processes": all(processes.values()),
        "metrics": all(metrics_ok.values()),
        "leader": leader is not None,
        "stages": not any(p.startswith("stuck") for p in problems),
        "memory": not any(p.startswith("memory") for p in problems),
    }
    healthy = all(checks.values())
    age = now - float(state.get("started_at") or 0)
    failing = {check for check, ok in checks.items() if not ok}
    starting = age < STARTING_GRACE and failing <= _FRESH_FAILURES
    phase = "healthy" if healthy else "starting" if starting else "unhealthy"
    if phase == "starting":
        waiting = ", ".join(check for check, ok in checks.items() if not ok)
        problems.append(f"starting: up for {age:.0f} s; waiting for {waiting}")
    else:
        problems += [f"{check} check failing" for check, ok in checks.items() if not ok and check in _PLAIN_CHECKS]
    return {
        "healthy": healthy,
        "phase": phase,
        "checks": checks,
        "problems": problems,
        "home": state.get("home", str(home)),
        "broker": state["broker"],
        "store": state["store"],
        "api": state.get("api"),
        "api_note": state.get("api_note"),
        "metrics": state.get("metrics", []),
        "leader": leader,
        "progress": progress,
        "stages": reports,
        "input_topics": state.get("input_topics"),
        "pids": state.get("pids", {}),
    }


STARTING_GRACE = 120.0  # seconds a fresh stack may take to elect a leader and serve its metrics (16 s idle)
_PLAIN_CHECKS = ("broker", "store", "processes", "metrics", "leader")
_FRESH_FAILURES = {"leader", "metrics"}  # what a fresh stack fails until its leader is elected and all serve


def _stage_problems(reports: list[dict[str, Any]], leader: str | None) -> list[str]:
    """Sentences about stuck stages (``stuck: ...``), memory over budget (``memory: ...``), and a leader that
    sends no health report (its detect process is wedged: the report expires)."""
    problems: list[str] = []
    for report in reports:
        name = f"{report.get('stage')} stage of {report.get('worker')}"
        if report.get("stuck"):
            problems.append(f"stuck: the {name} {report['stuck']}")
        rss, budget = report.get("resident_bytes"), report.get("memory_budget_bytes")
        if isinstance(rss, int) and isinstance(budget, int) and rss > budget:
            problems.append(f"memory: the {name} uses {rss / 1_048_576:.0f} MB, over its {budget / 1_048_576:.0f} MB")
    if leader is not None and not any(r.get("stage") == "detect" and r.get("worker") == leader for r in reports):
        problems.append(f"stuck: the detect leader {leader} sends no health report")
    return problems


DOWN_TIMEOUT = STOP_GRACE + 20.0  # seconds `down` waits for `up` to stop its children and then its servers
_SERVERS = ("broker", "store")


def run_down(home: Path, timeout: float = DOWN_TIMEOUT) -> int:
    """Stop the stack ``up`` runs from ``home`` (in the background, say): SIGTERM to ``up``, which stops its
    children, then its servers; anything left over (an ``up`` killed outright) is stopped here, children
    first. Idempotent: with no stack running it says so and succeeds. Returns 0 once everything is stopped."""
    state = read_state(home)
    if state is None:
        print(f"correlate down: no stack running in {home}")
        return 0
    pids = {role: pid for role, pid in state.get("pids", {}).items() if isinstance(pid, int)}
    running = {role: pid for role, pid in pids.items() if _alive(pid) and _ours(pid, state, role)}
    up = running.pop("up", None)
    if up is not None:
        os.kill(up, signal.SIGTERM)
        if not _wait_gone([up], timeout):
            print(f"correlate down: up (pid {up}) did not stop within {timeout:g} s", file=sys.stderr)
            return 1
    leftovers = {role: pid for role, pid in running.items() if _alive(pid)}
    order = sorted(leftovers, key=lambda role: role in _SERVERS)  # children, then the servers
    for role in order:
        _terminate(leftovers[role])
    state_path(home).unlink(missing_ok=True)
    stopped = ([f"up (pid {up})"] if up is not None else []) + [f"{role} (pid {pid})" for role, pid in running.items()]
    if stopped:
        print(f"correlate down: stopped {', '.join(stopped)}")
    else:
        print(f"correlate down: nothing was running in {home}; removed its stale state file")
    return 0


def _ours(pid: int, state: dict[str, Any], role: str) -> bool:
    """Whether ``pid`` is still the process the state file names, not a later one that reuses the number:
    ``up`` is a correlate command; every other process names the broker's or the store's port."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return True  # no /proc to ask: trust the state file
    if role == "up":
        return "correlate" in command
    ports = [str(state.get("broker", "")).rpartition(":")[2], str(state.get("store", "")).rpartition(":")[2]]
    ports = [p.split("/")[0] for p in ports if p]
    return any(port and port in command for port in ports)


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone([pid], STOP_GRACE):
            os.kill(pid, signal.SIGKILL)
            _wait_gone([pid], STOP_GRACE)
    except ProcessLookupError:
        pass
