"""Server logs as an operator asks for them: a level, and JSON lines a log shipper can parse, in every process
that `correlate up` starts (its worker, the worker's detect process, the API)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from correlate.logs import LEVEL_VARIABLE, LogChoice, LogChoiceError, configure
from correlate.streams.procs import stop

PLAIN_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure() replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_a_json_log_line_parses_and_carries_the_traceback(root_logging: None) -> None:
    out = io.StringIO()
    configure(LogChoice("info", "json"), stream=out)
    log = logging.getLogger("correlate.test")
    log.debug("below the level")
    log.info("feed caught up with %d events", 12)
    try:
        raise RuntimeError("store away")
    except RuntimeError:
        log.exception("stage failed")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["feed caught up with 12 events", "stage failed"]
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "correlate.test"
    assert lines[0]["ts"].endswith("Z") and lines[0]["pid"] == os.getpid()
    assert "RuntimeError: store away" in lines[1]["exception"]


def test_the_level_comes_from_the_flag_then_the_environment_and_must_be_known() -> None:
    environ = {LEVEL_VARIABLE: "DEBUG", "CORRELATE_LOG_FORMAT": "json"}
    assert LogChoice.chosen(None, None, environ) == LogChoice("debug", "json")
    assert LogChoice.chosen("error", "text", environ) == LogChoice("error", "text")
    assert LogChoice.chosen(None, None, {}) == LogChoice(None, "text")
    with pytest.raises(LogChoiceError, match="not one of debug, info, warning, error, critical"):
        LogChoice.chosen(None, None, {LEVEL_VARIABLE: "loud"})


def test_a_bad_level_in_the_environment_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, LEVEL_VARIABLE: "loud", "CORRELATE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "correlate.cli", "api", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "correlate api: log level 'loud' is not one of debug, info, warning, error, critical"
    )


def test_the_flags_are_refused_when_unknown() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "correlate.cli", "worker", "--log-format", "xml"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "invalid choice: 'xml'" in result.stderr


def test_up_passes_json_logs_to_its_worker_its_detect_process_and_the_api(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "CORRELATE_HOME": str(home)}
    env.pop(LEVEL_VARIABLE, None)
    env.pop("CORRELATE_LOG_FORMAT", None)
    argv = [sys.executable, "-m", "correlate.cli", "up", "--log-format", "json", "--log-level", "info"]
    up = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while not _leading(home / "worker-1.log"):
            assert up.poll() is None, up.stdout.read() if up.stdout else ""
            assert time.monotonic() < deadline, "the worker never took the lead"
            time.sleep(0.5)
        pids = json.loads((home / "stack.json").read_text())["pids"]
    finally:
        stop(up, signal.SIGINT, grace=60)
    assert up.returncode == 0
    records = {name: _json_records(home / f"{name}.log") for name in ("worker-1", "api")}
    by_pid = Counter(record["pid"] for record in records["worker-1"])
    assert pids["worker-1"] in by_pid
    assert len(by_pid) >= 2, "the detect process (a pid of its own) logs JSON too"
    assert any(record["logger"] == "correlate.api.serve" for record in records["api"])
    assert {record["pid"] for record in records["api"]} == {pids["api"]}
    assert all(record["level"] in ("info", "warning", "error", "critical") for r in records.values() for record in r)


def _leading(log: Path) -> bool:
    return log.exists() and "leading the detect stage" in log.read_text(errors="replace")


def _json_records(log: Path) -> list[dict[str, object]]:
    """Every log record in ``log``, which must be JSON: plain lines are the processes' own prints."""
    records = []
    for line in log.read_text().splitlines():
        assert not PLAIN_RECORD.match(line), f"a plain-text log record in {log.name}: {line}"
        if line.startswith("{"):
            records.append(json.loads(line))
    assert records, f"no JSON log record in {log.name}"
    return records
