"""The README's main job: `correlate demo` runs the simulated stream through the local stack, finds what the
file driver finds, and shows what each user sees: the agent's banner, the vendor's event and webhook, the NOC's
alert."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import orjson
import pytest
import yaml

from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.lab.demo import OPEN_INCIDENT_ALERT, OPEN_INCIDENT_EXPR, Stream, _report
from correlate.streams.procs import stop
from sample_events import incident_event

ROOT = Path(__file__).resolve().parents[1]
DEMO = [sys.executable, "-m", "correlate.cli", "demo", "--days", "4", "--per-day", "4000", "--seed", "3"]


def _demo(*extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEMO, *extra], capture_output=True, text=True, timeout=600, check=True, env=env)


def test_the_demo_shows_each_users_view_and_keeps_the_stack_up_until_ctrl_c(tmp_path: Path) -> None:
    folder = tmp_path / "stack"
    demo = subprocess.Popen(
        [*DEMO, "--workdir", str(folder), "--keep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(demo.stderr or []), daemon=True)
    reader.start()
    shown: list[str] = []
    try:
        for line in demo.stdout or []:
            shown.append(line)
            if line.startswith("The stack stays up"):
                break
        output = "".join(shown)
        assert "The stack stays up" in output, output + "".join(errors)
        console = next(line.split()[2].rstrip(";") for line in shown if line.startswith("CONSOLE — "))
        agent = next(line.split()[1] for line in shown if line.startswith("  agent: "))
        with urllib.request.urlopen(console, timeout=30) as page:  # still up after the report
            assert page.status == 200
        api = console.removesuffix("/console")
        request = urllib.request.Request(f"{api}/v1/incidents", headers={"Authorization": f"Bearer {agent}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.load(answer)["count"] >= 1, "the open incident, through the API"
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            rest, _ = demo.communicate(timeout=120)
        finally:
            stop(demo, signal.SIGKILL)
    reader.join(timeout=30)
    output = "".join(shown) + rest
    assert demo.returncode == 0, output + "".join(errors)
    assert "stack up: broker 127.0.0.1:" in "".join(errors)

    # The stream stops with its last fault's incident open; every incident is told in words, then scored.
    assert "incident(s) still open then" in output
    assert "  OPEN  " in output and "-> found f" in output
    assert "exact-attribution recall" in output
    for column in ("fault", "kind", "pattern", "result", "inc", "ttd", "scope"):
        assert any(line.startswith(f"  {column} ") for line in output.splitlines()), column
    assert "FALSE INCIDENTS" in output

    # Each user's view, from the servers the demo started.
    banner = next(line for line in output.splitlines() if line.startswith("  BANNER: "))
    assert banner.startswith("  BANNER: Known incident since ")
    assert next(line for line in output.splitlines() if line.startswith("  customer cu-"))
    assert "  topic incidents.vendor." in output
    webhook = next(line for line in output.splitlines() if line.startswith("  webhook POST /hooks/"))
    assert webhook.endswith("signature verified")
    assert f"  FIRING {OPEN_INCIDENT_ALERT}{{incident_id=" in output

    settings = json.loads((folder / "settings.json").read_text())
    assert all(t["webhook"].startswith("http://127.0.0.1:") for t in settings["delivery"].values())
    assert not (folder / "stack" / "stack.json").exists(), "the stack was stopped"
    assert f"files: {folder}" in output

    # The file driver over the same stream finds the same incidents. It closes the last steps at the end of
    # input, which the stack (still waiting for later contacts) has not: those may be all it adds.
    _demo("--workdir", str(tmp_path / "replay"), "--no-servers")
    published = (folder / "incidents.jsonl").read_bytes()
    replayed = (tmp_path / "replay" / "incidents.jsonl").read_bytes()
    assert published and replayed.startswith(published)
    contacts = (folder / "contacts.jsonl").read_bytes().splitlines()
    closing = parse_timestamp(orjson.loads(contacts[-1])["ts"]) - Settings().lateness - Settings().step
    assert all(parse_timestamp(orjson.loads(e)["at"]) >= closing for e in replayed[len(published) :].splitlines())


def test_the_demo_removes_its_files_unless_given_a_folder(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = _demo("--no-servers", env={**os.environ, "TMPDIR": str(scratch)})
    assert "files: removed" in result.stdout
    assert list(scratch.iterdir()) == []
    assert "need the servers" in result.stdout  # says what it did not show, and why


def test_the_alert_the_demo_shows_is_the_one_in_the_noc_rules() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert alerts[OPEN_INCIDENT_ALERT]["expr"].strip() == OPEN_INCIDENT_EXPR


def test_a_false_incident_is_named_with_the_decoy_that_fooled_it(capsys: pytest.CaptureFixture[str]) -> None:
    truth = [
        {"fault_id": "f1", "kind": "rate", "decoy": False, "scope": {"service": "Flixo"},
         "start": "2026-03-05T10:00:00Z", "end": "2026-03-05T11:00:00Z", "description": "service-wide fault"},
        {"fault_id": "d1", "kind": "decoy", "decoy": True, "scope": {}, "start": "2026-03-05T12:00:00Z",
         "end": "2026-03-05T14:00:00Z", "description": "every cell rises together by 40% (a big TV event)"},
    ]  # fmt: skip
    evidence = {"observed": 40.0, "expected": 12.0, "window_minutes": 60.0}
    events = [
        incident_event(incident_id="inc-true", opened_at="2026-03-05T10:04:00Z", scope={"service": "Flixo"},
                       at_fault=["flixo"], customers=40, **evidence),
        incident_event(incident_id="inc-false", opened_at="2026-03-05T12:40:00Z", scope={"device_brand": "Vexa"},
                       at_fault=["vexa"], customers=40, **evidence),
    ]  # fmt: skip
    _report(Stream([], truth, parse_timestamp("2026-03-05T15:00:00Z"), truth[0]), events, None)
    shown = capsys.readouterr().out
    assert "inc-false opened 2026-03-05T12:40:00Z on device_brand=Vexa; the decoy d1 was there: every cell" in shown
    assert "device_brand=Vexa: 40 customers in 60 min where 12.0 are usual" in shown
    assert "FALSE: no injected fault there" in shown and "-> found f1" in shown
