"""A real Alertmanager (Debian's ``prometheus-alertmanager``) on loopback, with the project's routing
(deploy/alertmanager/alertmanager.yml) and every receiver's webhook pointed at a test's own HTTP server, for the
live check of the paging alerts.

Its waits are cut to a second (group_wait, group_interval) so a test sees in seconds what a NOC's pager would;
routes, grouping, inhibitions and send_resolved are the deployment's. Clustering is off: nothing listens beyond
the one loopback port. Its data lives in a temporary folder and goes with it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from correlate.streams.embedded import LOOPBACK, free_port, wait_for_port
from correlate.streams.procs import stop
from prometheus_server import wait_ready

__all__ = ["DEPLOYED", "Alertmanager", "WebhookInbox", "noc_config"]


class WebhookInbox:
    """An HTTP server on loopback that keeps every JSON message POSTed to it, in order of arrival."""

    def __init__(self) -> None:
        inbox = self
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with inbox._lock:
                    inbox.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()


DEPLOYED = Path(__file__).resolve().parent.parent / "deploy" / "alertmanager" / "alertmanager.yml"


def noc_config(webhook_url: str, deployed: Path = DEPLOYED) -> dict[str, Any]:
    """The deployed configuration, its receivers' webhooks sent to ``webhook_url`` and its waits cut short."""
    config: dict[str, Any] = yaml.safe_load(deployed.read_text())
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = webhook_url
    config["route"].update(group_wait="1s", group_interval="1s")
    return config


class Alertmanager:
    def __init__(self, folder: Path, webhook_url: str) -> None:
        self.folder = folder
        self.webhook_url = webhook_url
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30.0) -> Self:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise RuntimeError("Debian's prometheus-alertmanager is not installed (scripts/test installs it)")
        config = noc_config(self.webhook_url)
        config_file = self.folder / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.port = free_port()
        log = open(self.folder / "alertmanager.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.path={self.folder / 'data'}",
                f"--web.listen-address={self.address}",
                "--cluster.listen-address=",  # no gossip port: a single Alertmanager
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for_port(LOOPBACK, self.port, self.process, timeout, "alertmanager")
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        wait_ready(f"http://{self.address}", timeout, "alertmanager", self.folder / "alertmanager.log")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop(process, signal.SIGTERM, grace=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
