"""A real Prometheus (Debian's ``prometheus``) on loopback, for the live checks of metrics, dashboards and alerts.

It scrapes the given targets every second and evaluates the repository's alert rules every second, so a test sees
in seconds what the NOC would see in minutes. Its data lives in a temporary folder and goes with it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from correlate.streams.embedded import LOOPBACK, free_port, wait_for_port
from correlate.streams.procs import stop


def wait_ready(base: str, timeout: float, name: str, log: Path) -> None:
    """Until the server at ``base`` says ``/-/ready`` (Prometheus and Alertmanager both answer 503 there until
    they are: the port opens first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:  # urllib's HTTPError (503) is one
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not ready within {timeout:g} s; see {log}")
        time.sleep(0.2)


class Prometheus:
    def __init__(
        self,
        folder: Path,
        targets: Sequence[str],
        rule_files: Sequence[Path] = (),
        alertmanagers: Sequence[str] = (),
    ) -> None:
        """``alertmanagers``: host:port of Alertmanagers to send the firing and resolved alerts to."""
        self.folder = folder
        self.targets = list(targets)
        self.rule_files = [str(path) for path in rule_files]
        self.alertmanagers = list(alertmanagers)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Self:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("Debian's prometheus is not installed (scripts/test installs it)")
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": self.rule_files,
            "scrape_configs": [{"job_name": "correlate-live", "static_configs": [{"targets": self.targets}]}],
        }
        if self.alertmanagers:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": self.alertmanagers}]}]}
        config_file = self.folder / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.port = free_port()
        log = open(self.folder / "prometheus.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for_port(LOOPBACK, self.port, self.process, timeout, "prometheus")
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Until ``/-/ready`` says so: the port opens while the TSDB is still starting."""
        wait_ready(f"http://{LOOPBACK}:{self.port}", timeout, "prometheus", self.folder / "prometheus.log")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop(process, signal.SIGTERM, grace=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _get(self, path: str, **params: str) -> Any:
        url = f"http://{LOOPBACK}:{self.port}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result as a list of series (a scalar counts as one)."""
        data = self._get("/api/v1/query", query=expr)
        result = data["result"]
        return [{"value": result}] if data["resultType"] == "scalar" else list(result)

    def firing(self) -> list[dict[str, Any]]:
        return [alert for alert in self._get("/api/v1/alerts")["alerts"] if alert["state"] == "firing"]

    def targets_up(self) -> bool:
        active = self._get("/api/v1/targets")["activeTargets"]
        return bool(active) and all(target["health"] == "up" for target in active)

    def wait(self, what: str, check: Any, timeout: float) -> Any:
        """Poll ``check()`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {timeout:g} s")
            time.sleep(0.5)
