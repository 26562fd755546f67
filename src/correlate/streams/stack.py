"""``correlate up`` and ``correlate status``: the whole pipeline on one machine, and whether it is healthy.

``up`` starts what is not configured (the embedded Tansu broker and Redis, :mod:`correlate.embedded`), creates
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

from correlate.embedded import LOOPBACK, EmbeddedBroker, EmbeddedRedis, free_port
from correlate.procs import die_with_parent
from correlate.streams import kafka_io
from correlate.streams.settings import StackSettings
from correlate.streams.topics import pipeline_topics

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
    port = free_port()
    argv = [sys.executable, "-m", "correlate.cli", "worker", "--broker", places.broker, "--store", places.store]
    argv += ["--metrics-port", str(port)]
    if places.config:
        argv += ["--config", places.config]
    return Child(f"worker-{index}", argv, metrics=f"http://{LOOPBACK}:{port}/metrics")


def _api_child(places: StackPlaces) -> Child:
    """The API on a port chosen now, so that the state file can say where it is before it answers."""
    port = free_port()
    argv = [sys.executable, "-m", "correlate.cli", "api", "--broker", places.broker, "--store", places.store]
    argv += ["--home", str(places.home), "--port", str(port)]
    if places.topic_prefix:
        argv += ["--topic-prefix", places.topic_prefix]
    if places.config:
        argv += ["--config", places.config]
    url = f"http://{LOOPBACK}:{port}"
    return Child("api", argv, url=url, metrics=f"{url}/metrics")


def run_up(settings: StackSettings, config: str | None, workers: int = 1) -> int:
    """Start the stack and keep it up until SIGINT or SIGTERM."""
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
        with ExitStack() as servers:
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
            kafka_io.ensure_topics(broker, specs)
            places = StackPlaces(broker, store, home, config, settings.topic_prefix)
            children = [_worker_child(places, i + 1) for i in range(workers)]
            children.append(_api_child(places))
            env = {**os.environ, "CORRELATE_HOME": str(home), "CORRELATE_TOPIC_PREFIX": settings.topic_prefix}
            for child in children:
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
                "metrics": [c.metrics for c in children if c.metrics],
                "topic_prefix": settings.topic_prefix,
                "lease_key": settings.lease_key,
                "progress_key": settings.progress_key,
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
            print(f"correlate up: state in {state_path(home)}; Ctrl-C stops everything", flush=True)
            while not stopping:
                for child in children:
                    if child.process is not None and child.process.poll() is not None:
                        print(f"correlate up: {child.role} exited ({child.process.returncode})", file=sys.stderr)
                        child.process = None
                time.sleep(0.2)
    finally:
        _stop_children(children)
        state_path(home).unlink(missing_ok=True)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("correlate up: stopped", flush=True)
    return 0


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
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
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


def stack_status(home: Path) -> dict[str, Any]:
    """Where everything is and whether each part answers; ``healthy`` is the conjunction."""
    state = read_state(home)
    if state is None:
        return {
            "healthy": False,
            "home": str(home),
            "reason": "no stack running (no state file)",
            "broker": None,
            "store": None,
            "api": None,
            "metrics": [],
            "leader": None,
        }
    import redis

    leader = progress = None
    store_ok = False
    try:
        client = redis.Redis.from_url(state["store"], socket_timeout=2.0)
        try:
            store_ok = bool(client.ping())
            raw_leader = client.get(state.get("lease_key", "correlate:detect-leader"))
            leader = raw_leader.decode() if isinstance(raw_leader, bytes) else None
            raw_progress = client.get(state.get("progress_key", "correlate:detect-progress"))
            progress = json.loads(raw_progress) if isinstance(raw_progress, bytes) else None
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        store_ok = False
    broker_ok = all(_port_open(address) for address in str(state["broker"]).split(","))
    metrics_ok = {url: _http_ok(url) for url in state.get("metrics", [])}
    processes = {role: _alive(pid) for role, pid in state.get("pids", {}).items()}
    checks = {
        "broker": broker_ok,
        "store": store_ok,
        "processes": all(processes.values()),
        "metrics": all(metrics_ok.values()),
        "leader": leader is not None,
    }
    return {
        "healthy": all(checks.values()),
        "checks": checks,
        "home": state.get("home", str(home)),
        "broker": state["broker"],
        "store": state["store"],
        "api": state.get("api"),
        "metrics": state.get("metrics", []),
        "leader": leader,
        "progress": progress,
        "input_topics": state.get("input_topics"),
        "pids": state.get("pids", {}),
    }
