"""Long commands say how far they are: a progress bar with rate and time left on a terminal, and nothing of
the kind in a pipe (CI logs) or with --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import orjson
import pytest
from tqdm import tqdm

from correlate.contracts import parse_timestamp
from correlate.lab.simulate import simulate
from correlate.progress import Bar, Stages, count_lines, counting

START = parse_timestamp("2026-03-02T00:00:00Z")
CLI = [sys.executable, "-m", "correlate.cli"]


def on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal 120 columns wide (stdout to a file); what the terminal showed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every holder of the follower end has closed it
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with open(cwd / "stdout.txt", "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=follower, stdin=subprocess.DEVNULL, cwd=cwd)
    os.close(follower)
    code = process.wait(timeout=300)
    reader.join(timeout=30)
    os.close(leader)
    return code, shown.decode("utf-8", errors="replace")


def in_a_pipe(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("progress")
    sim = simulate(seed=5, days=4, contacts_per_day=1500, start=START)
    (folder / "contacts.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in sim.contacts))
    (folder / "truth.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in sim.truth))
    return folder


def test_replay_draws_a_bar_with_rate_and_time_left_on_a_terminal(files: Path) -> None:
    lines = len((files / "contacts.jsonl").read_bytes().splitlines())
    code, shown = on_a_terminal([*CLI, "replay", "contacts.jsonl", "-o", "incidents.jsonl"], files)
    assert code == 0, shown
    assert "replay: 100%|" in shown
    assert " lines/s]" in shown  # the rate
    assert "<00:00" in shown  # elapsed<remaining: the time left, none at the end
    assert f"{tqdm.format_sizeof(lines)}/{tqdm.format_sizeof(lines)}" in shown  # e.g. 5.88k/5.88k lines
    assert f"replay: {lines} lines, {lines} accepted" in shown  # the summary follows the bar


def test_replay_in_a_pipe_prints_its_summary_and_no_bar(files: Path) -> None:
    result = in_a_pipe([*CLI, "replay", "contacts.jsonl", "-o", "piped.jsonl"], files)
    assert result.stderr.startswith("replay: ") and result.stderr.count("\n") == 1
    assert "\r" not in result.stderr and "%|" not in result.stderr
    assert (files / "piped.jsonl").read_bytes() == (files / "incidents.jsonl").read_bytes()


def test_quiet_replay_on_a_terminal_shows_nothing(files: Path) -> None:
    code, shown = on_a_terminal([*CLI, "replay", "contacts.jsonl", "-o", "quiet.jsonl", "--quiet"], files)
    assert code == 0 and shown == ""


def test_rejects_on_the_terminal_follow_the_bar_whole(files: Path) -> None:
    first = (files / "contacts.jsonl").read_bytes().splitlines(keepends=True)[:100]
    (files / "broken.jsonl").write_bytes(b"".join(first) + b"oops\n")
    code, shown = on_a_terminal([*CLI, "replay", "broken.jsonl", "-o", "broken-out.jsonl"], files)
    assert code == 0
    reject = next(line for line in shown.splitlines() if "not valid JSON" in line)
    assert orjson.loads(reject)["record"] == "oops"
    assert shown.index("replay: 100%|") < shown.index(reject)


def test_simulate_draws_its_stages_in_days_of_stream_on_a_terminal(tmp_path: Path) -> None:
    argv = [*CLI, "simulate", "--days", "4", "--per-day", "1000", "--truth", "t.jsonl", "--output", "c.jsonl"]
    code, shown = on_a_terminal(argv, tmp_path)
    assert code == 0, shown
    assert "simulate: write: 100%|" in shown and "4.0/4 days" in shown and " days/s]" in shown
    assert "wrote " in shown
    piped = in_a_pipe([*argv[:-4], "--truth", "t2.jsonl", "--output", "c2.jsonl"], tmp_path)
    assert piped.stderr.startswith("wrote ") and "%|" not in piped.stderr
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "c2.jsonl").read_bytes()


def test_evaluate_draws_a_bar_on_a_terminal_and_keeps_stdout_clean(files: Path) -> None:
    code, shown = on_a_terminal([*CLI, "evaluate", "truth.jsonl", "incidents.jsonl"], files)
    assert code == 0, shown
    assert "evaluate: scoring: 100%|" in shown and "B/s]" in shown
    assert (files / "stdout.txt").read_text().startswith("faults ")
    piped = in_a_pipe([*CLI, "evaluate", "truth.jsonl", "incidents.jsonl"], files)
    assert piped.stderr == "" and piped.stdout == (files / "stdout.txt").read_text()


def test_counting_passes_every_item_through_and_counts_them(tmp_path: Path) -> None:
    items = [b"a\n", b"bb\n", b"ccc\n"] * 1000
    assert list(counting(items, Bar(False, desc="x", total=None, unit="it"))) == items
    (tmp_path / "three.jsonl").write_bytes(b"".join(items))
    assert count_lines([str(tmp_path / "three.jsonl")] * 2) == 6000


def test_stages_move_the_bar_by_their_weights_and_never_back() -> None:
    moved: list[float] = []

    class Recorder(Bar):
        def advance(self, amount: float) -> None:
            moved.append(amount)

    stages = Stages(Recorder(False, desc="x", total=10, unit="day"), {"one": 1.0, "two": 3.0}, 10.0, "job")
    stages.begin("one")
    stages.part(0.5)
    stages.begin("two")
    stages.part(0.5)
    stages.part(0.2)  # a share already passed does not move the bar back
    stages.part(1.0)
    assert moved == [1.25, 1.25, 3.75, 3.75]
    assert sum(moved) == 10.0
