"""Capacity of the detect leader: where one Engine's CPU goes, per million contacts, and what its state holds.

    python benchmarks/capacity.py                       # 3 days at 20k, 100k and 400k contacts/day
    python benchmarks/capacity.py --days 2 --per-day 400000

Each stream is simulated, written to a file and replayed by a fresh interpreter (so that its peak memory is the
replay's own), with the Engine's parts timed in CPU time (``time.process_time``):

* intake: reading, decoding and validating each line, dropping repeats, the per-step buckets, the clock;
* stitching (one customer, many channels: distinct new reporters) and each detector's ``observe`` (per contact);
* each detector's ``close_step`` (the rate detector's lattice tests and attribution, the symptom detector's
  sketches and pools of the step's texts, the silence detector), and the incident book's step.

Then the state: the snapshot's size (what a checkpoint stores), its parts pickled one by one, and the rate
detector's cells (every scope of one and two dimension values it counts), so that memory per cell can be read.
Printed per stream: contacts, CPU seconds per million contacts in each part, peak RSS, cells, bytes per cell.
The timers cost a little themselves (two clock reads a call); the machine may be busy: read the shares.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from correlate.contracts import parse_timestamp
from correlate.lab.simulate import simulate

START = parse_timestamp("2026-03-02T00:00:00Z")

CHILD = r"""
import io, json, pickle, sys, time
from collections import defaultdict
from correlate import snapshot
from correlate.engine import Engine, rare_collections
from correlate.replay import replay

def peak_kb():
    # /proc's high-water mark is this process's own: ru_maxrss keeps the peak of the process it was forked from.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


spent = defaultdict(float)
clock = time.process_time


def timed(name, method):
    def run(*args, **kwargs):
        started = clock()
        try:
            return method(*args, **kwargs)
        finally:
            spent[name] += clock() - started
    return run


engine = Engine()
engine.stitcher.stitch = timed("stitch", engine.stitcher.stitch)
for detector in engine.detectors:
    kind = type(detector).__name__
    detector.observe = timed(f"{kind}.observe", detector.observe)
    detector.close_step = timed(f"{kind}.close_step", detector.close_step)
engine.book.step = timed("IncidentBook.step", engine.book.step)
started = clock()
with rare_collections(), open(sys.argv[1], "rb") as lines:  # read as it goes: the peak is the engine's
    replay(engine, lines, io.BytesIO(), None, close=False)
total = clock() - started
for timed_one in (engine.stitcher, engine.book, *engine.detectors):  # the timers off: the state as it is
    for name in ("stitch", "observe", "close_step", "step"):
        vars(timed_one).pop(name, None)
parts = {"state": len(snapshot.save(engine)), "stitcher": len(pickle.dumps(engine.stitcher, 5))}
for detector in engine.detectors:
    parts[type(detector).__name__] = len(pickle.dumps(detector, 5))
# The book keeps the engine's callbacks of its last step (the whole engine, pickled alone): it is in the rest.
parts["the rest (incidents, recent contacts, remembered ids)"] = parts["state"] - sum(list(parts.values())[1:])
print(json.dumps({
    "contacts": engine.counts.accepted,
    "total": total,
    "spent": spent,
    "peak_kb": peak_kb(),
    "cells": len(engine.rate.lattice),
    "bytes": parts,
}))
"""


def stream_file(folder: Path, days: float, per_day: int, seed: int) -> Path:
    sim = simulate(seed=seed, days=days, contacts_per_day=per_day, start=START, faults=0)
    path = folder / f"contacts-{days:g}x{per_day}.jsonl"
    with open(path, "wb") as out:
        for record in sim.contacts:
            out.write(orjson.dumps(record) + b"\n")
    return path


def measure(path: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True)
    if done.returncode:
        raise SystemExit(done.stderr.decode())
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def report(per_day: int, figures: dict[str, Any]) -> None:
    contacts, total, spent = figures["contacts"], figures["total"], figures["spent"]
    per_million = 1e6 / contacts
    timed = sum(spent.values())
    rows = {"intake (decode, validate, dedup, buckets)": total - timed, **spent}
    print(
        f"{per_day:,} contacts/day: {contacts:,} contacts, {total * per_million:.1f} CPU s per million contacts "
        f"({contacts / total:,.0f} contacts/s), peak RSS {figures['peak_kb'] / 1024:.0f} MB"
    )
    for name, seconds in sorted(rows.items(), key=lambda item: -item[1]):
        print(f"    {name:<44} {seconds * per_million:7.1f} s per million ({seconds / total:5.1%})")
    cells, parts = figures["cells"], figures["bytes"]
    rate = parts["RateDetector"]
    print(
        f"    state {parts['state'] / 1e6:.1f} MB; the rate detector's {rate / 1e6:.1f} MB over {cells:,} cells "
        f"= {rate / max(cells, 1):,.0f} bytes per cell; the other parts:"
    )
    for name, size in parts.items():
        if name not in ("state", "RateDetector"):
            print(f"        {name:<52} {size / 1e6:7.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--per-day", type=int, nargs="+", default=[20_000, 100_000, 400_000])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="correlate-capacity-") as tmp:
        for per_day in args.per_day:
            path = stream_file(Path(tmp), args.days, per_day, args.seed)
            report(per_day, measure(path))
            path.unlink()


if __name__ == "__main__":
    main()
