"""The README's main job: `correlate demo` runs the simulated stream through the local stack and finds the
same incidents as the file driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _demo(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "correlate.cli", "demo", "--days", "4", "--per-day", "4000", "--seed", "3"]
    return subprocess.run(
        [*argv, "--workdir", str(folder), *extra], capture_output=True, text=True, timeout=600, check=True
    )


def test_the_demo_through_the_stack_finds_what_replay_finds(tmp_path: Path) -> None:
    stack = _demo(tmp_path / "stack")
    _demo(tmp_path / "replay", "--no-servers")
    assert "stack up: broker 127.0.0.1:" in stack.stderr
    assert "exact-attribution recall" in stack.stdout
    published = (tmp_path / "stack" / "incidents.jsonl").read_bytes()
    assert published, "the stack published incidents"
    assert published == (tmp_path / "replay" / "incidents.jsonl").read_bytes()
    assert not list((tmp_path / "stack" / "stack").glob("stack.json")), "the stack was stopped"
