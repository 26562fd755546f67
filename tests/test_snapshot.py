"""Engine snapshots and ``correlate replay --state``: a stream replayed in parts, each resuming the state the
last one saved, gives byte for byte the events and rejects of one replay of the whole; a snapshot that does not
belong (other settings, other code, damaged) is refused with the reason, never half-used."""

from __future__ import annotations

import heapq
import itertools
import pickle
from pathlib import Path

import numpy as np
import orjson
import pytest

from correlate import snapshot
from correlate.cli import main
from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.lab.simulate import simulate
from correlate.replay import event_time
from correlate.vendors import VendorRegistry

START = parse_timestamp("2026-03-02T00:00:00Z")


@pytest.fixture(scope="module")
def merged_stream() -> list[tuple[str, bytes]]:
    """Contacts (some broken) and the heartbeats of part of a fleet, as ``replay --merge`` orders them:
    (file, line)."""
    sim = simulate(seed=4, days=4.0, contacts_per_day=1500, start=START, faults=2, bad_records=0.01, telemetry=True)
    contacts = [("contacts", orjson.dumps(record) + b"\n") for record in sim.contacts]
    devices = sorted({record.get("device_id", "") for record in sim.telemetry})[::25]  # a few, for a short test
    telemetry = [
        ("telemetry", orjson.dumps(record) + b"\n") for record in sim.telemetry if record.get("device_id") in devices
    ]
    return list(heapq.merge(contacts, telemetry, key=lambda pair: event_time(pair[1])))


def _write_part(directory: Path, part: list[tuple[str, bytes]]) -> tuple[Path, Path]:
    directory.mkdir()
    paths = directory / "contacts.jsonl", directory / "telemetry.jsonl"
    for path, name in zip(paths, ("contacts", "telemetry"), strict=True):
        path.write_bytes(b"".join(line for source, line in part if source == name))
    return paths


def _replay(directory: Path, *options: str) -> tuple[bytes, bytes]:
    contacts, telemetry = directory / "contacts.jsonl", directory / "telemetry.jsonl"
    events, rejects = directory / "events.jsonl", directory / "rejects.jsonl"
    argv = ["replay", str(contacts), "--merge", str(telemetry), "-o", str(events), "--rejects", str(rejects)]
    assert main([*argv, "-q", *options]) == 0
    return events.read_bytes(), rejects.read_bytes()


def _mid_step(stream: list[tuple[str, bytes]], near: float) -> int:
    """A line index near ``near`` (a share of the stream) whose line falls in the same step as the line before
    it: the split leaves a step half read."""
    index = int(len(stream) * near)
    while int(event_time(stream[index - 1][1]) // 60) != int(event_time(stream[index][1]) // 60):
        index += 1
    return index


@pytest.fixture(scope="module")
def whole_replay(
    merged_stream: list[tuple[str, bytes]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[bytes, bytes]:
    """Events and rejects of one replay of the whole stream."""
    whole = tmp_path_factory.mktemp("whole") / "stream"
    _write_part(whole, merged_stream)
    events, rejects = _replay(whole)
    assert events.count(b"\n") > 10 and b'"opened"' in events
    assert rejects.count(b"\n") > 10  # broken lines, named by their line in the merged stream
    return events, rejects


@pytest.mark.parametrize("shares", [(0.5,), (0.3, 0.62)], ids=["two parts", "three parts"])
def test_a_stream_replayed_in_parts_with_state_gives_the_whole_replay_byte_for_byte(
    merged_stream: list[tuple[str, bytes]], whole_replay: tuple[bytes, bytes], tmp_path: Path, shares: tuple[float, ...]
) -> None:
    events, rejects = whole_replay

    cuts = [0, *(_mid_step(merged_stream, share) for share in shares), len(merged_stream)]
    state = tmp_path / "state.bin"
    parts_events, parts_rejects = b"", b""
    for number, (begin, end) in enumerate(itertools.pairwise(cuts)):
        part = tmp_path / f"part{number}"
        _write_part(part, merged_stream[begin:end])
        last = end == len(merged_stream)
        part_events, part_rejects = _replay(part, "--state", str(state), *(["--final"] if last else []))
        parts_events += part_events
        parts_rejects += part_rejects
        assert state.exists()
        assert events.startswith(parts_events)  # a part that is not the last leaves its last steps open

    assert parts_events == events
    assert parts_rejects == rejects


def test_a_state_saved_with_other_settings_is_refused_and_left_as_it_was(
    merged_stream: list[tuple[str, bytes]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    part = tmp_path / "part"
    _write_part(part, merged_stream[: len(merged_stream) // 3])
    state = tmp_path / "state.bin"
    _replay(part, "--state", str(state))
    saved = state.read_bytes()
    config = tmp_path / "other.toml"
    config.write_text("lateness = 600\n")
    capsys.readouterr()

    assert main(["replay", str(part / "contacts.jsonl"), "-q", "--state", str(state), "-c", str(config)]) == 2

    error = capsys.readouterr().err
    assert "other detection settings" in error and str(state) in error and "start afresh" in error
    assert state.read_bytes() == saved
    with pytest.raises(snapshot.SnapshotRefused, match="other detection settings"):
        snapshot.restore(saved, Settings(lateness=600), VendorRegistry())
    vendors = VendorRegistry.from_config({"vendors": {"acme": {"device_brand": ["Arcus"]}}})
    with pytest.raises(snapshot.SnapshotRefused, match="vendors"):
        snapshot.restore(saved, Settings(), vendors)
    assert isinstance(snapshot.restore(saved, Settings(), VendorRegistry()).engine, Engine)


def _engine_with_history() -> Engine:
    engine = Engine()
    sim = simulate(seed=2, days=1.5, contacts_per_day=800, start=START, faults=0)
    for record in sim.contacts:
        engine.process(record)
    return engine


def test_a_damaged_snapshot_or_one_of_other_code_is_refused_with_the_reason() -> None:
    saved = snapshot.save(_engine_with_history(), {"replay_lines": 12})
    header, _ = snapshot.read_header(saved)
    assert header.covers == {"replay_lines": 12} and header.code == snapshot.code_version()

    cases = {
        "damaged snapshot: 100 bytes": saved[: len(saved) - header.payload_bytes + 100],
        "does not match the digest": saved[:-10] + bytes(10),
        "not a correlate snapshot": b"\x80\x05" + saved,
        "written by correlate 0.0.1+": saved.replace(header.code.encode(), b"0.0.1+0123456789abcdef", 1),
        "snapshot format 2": saved.replace(b'"format":1', b'"format":2', 1),
    }
    for reason, data in cases.items():
        with pytest.raises(snapshot.SnapshotRefused, match=reason.replace("+", r"\+")):
            snapshot.restore(data, Settings(), VendorRegistry())


def test_a_restored_engine_goes_on_as_one_that_never_stopped() -> None:
    sim = simulate(seed=6, days=4.0, contacts_per_day=1200, start=START, faults=2)
    split = len(sim.contacts) * 3 // 4
    never_stopped, stopped = Engine(), Engine()
    for record in sim.contacts[:split]:
        never_stopped.process(record)
        stopped.process(record)
    resumed = snapshot.restore(snapshot.save(stopped), Settings(), VendorRegistry()).engine
    expected, found = [], []
    for record in sim.contacts[split:]:
        expected += [orjson.dumps(e.to_json()) for e in never_stopped.process(record).events]
        found += [orjson.dumps(e.to_json()) for e in resumed.process(record).events]
    expected += [orjson.dumps(e.to_json()) for e in never_stopped.close()]
    found += [orjson.dumps(e.to_json()) for e in resumed.close()]
    assert expected and found == expected
    assert resumed.counts == never_stopped.counts


class _Rows:
    """An array and views of its rows, updated through the array (as a detector's state may be)."""

    def __init__(self) -> None:
        self.block = np.zeros((2, 4))
        self.first, self.second = self.block


def test_views_of_an_array_come_back_as_views_of_the_same_array() -> None:
    rows = _Rows()
    rows.block += 1.0
    engine = Engine()
    engine.stamper.rows = rows  # type: ignore[attr-defined]  # any object the engine holds is saved with it
    restored = snapshot.restore(snapshot.save(engine), Settings(), VendorRegistry()).engine
    back: _Rows = restored.stamper.rows  # type: ignore[attr-defined]
    back.block *= 3.0
    assert back.first.tolist() == [3.0] * 4 and back.second.tolist() == [3.0] * 4
    assert pickle.loads(pickle.dumps(rows)).first.base is None  # what plain pickle would have done: a copy
