"""Replay throughput and peak memory, beside bare ``json.loads`` on the same file, in one run.

    python benchmarks/replay_throughput.py            # 14 days x 20,000 contacts/day, simulated
    python benchmarks/replay_throughput.py --input contacts.jsonl
    python benchmarks/replay_throughput.py --own-words    # every text written differently, as real ones are

Targets (issue 2): >= 50,000 contacts/s on one core, >= 1/3 of json.loads throughput on the same file,
<= 500 MB peak for 14 days x 20k contacts/day. The machine may be noisy: read the ratio, not the absolute.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEAK_SCRIPT = """
import resource, sys, time
from correlate.config import Settings
from correlate.engine import Engine
from correlate.replay import replay
lines = open(sys.argv[1], 'rb').readlines()
with open(__import__('os').devnull, 'wb') as sink:
    start = time.perf_counter()
    replay(Engine(Settings(symptoms=sys.argv[2] == 'on')), lines, sink, sink)
    elapsed = time.perf_counter() - start
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def simulate(days: float, per_day: int, seed: int, folder: Path) -> Path:
    contacts = folder / "contacts.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "correlate.cli",
            "simulate",
            "--seed",
            str(seed),
            "--days",
            str(days),
            "--per-day",
            str(per_day),
            "--output",
            str(contacts),
            "--truth",
            str(folder / "truth.jsonl"),
        ],
        check=True,
    )
    return contacts


def own_words(path: Path, seed: int, folder: Path) -> Path:
    """The same contacts with every free text given two random typos, so that nearly no two texts are alike.

    Simulated customers repeat a few phrasings, and the symptom detector remembers a text it has seen; real
    customers write their own words, and each new text must be sketched and matched. This is that cost.
    """
    rng = random.Random(seed)
    letters = string.ascii_lowercase
    written = folder / "own-words.jsonl"
    with path.open("rb") as source, written.open("wb") as out:
        for line in source:
            record = json.loads(line)
            text = record.get("text")
            if isinstance(text, str) and text:
                at = rng.randrange(len(text))
                text = text[:at] + rng.choice(letters + " ") + text[at + 1 :]
                at = rng.randrange(len(text) + 1)
                record["text"] = text[:at] + rng.choice(letters) + text[at:]
            out.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
    return written


def json_loads_rate(lines: list[bytes], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for line in lines:
            json.loads(line)
        best = min(best, time.perf_counter() - start)
    return len(lines) / best


def replay_run(path: Path, symptoms: bool) -> tuple[float, int]:
    """(seconds in replay, peak RSS in KiB) from a fresh process, so memory is the replay's own."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(path), "on" if symptoms else "off"],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, peak = out.stdout.split()
    return float(seconds), int(peak)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, help="contacts JSONL (default: simulate one)")
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--without-symptoms", action="store_true", help="rate detector only")
    parser.add_argument("--own-words", action="store_true", help="give every text two typos (see own_words)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.input or simulate(args.days, args.per_day, args.seed, Path(folder))
        if args.own_words:
            path = own_words(path, args.seed, Path(folder))
        lines = path.read_bytes().splitlines()
        size_mb = os.path.getsize(path) / 1e6
        parse = json_loads_rate(lines, args.repeats)
        runs = [replay_run(path, not args.without_symptoms) for _ in range(args.repeats)]
        seconds = min(s for s, _ in runs)
        peak_mb = max(p for _, p in runs) / 1024
    rate = len(lines) / seconds
    print(f"input: {len(lines):,} contacts, {size_mb:.0f} MB")
    print(f"json.loads line by line : {parse:12,.0f} contacts/s")
    detectors = "rate" if args.without_symptoms else "rate + symptom"
    if args.own_words:
        detectors += ", every text its own words"
    print(f"correlate replay        : {rate:12,.0f} contacts/s  (best of {args.repeats}, one core, {detectors})")
    print(f"replay / json.loads     : {rate / parse:12.2f}   (target >= 0.33)")
    print(f"replay peak memory      : {peak_mb:12,.0f} MB     (target <= 500 MB)")
    print(f"benchmark process rss   : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:12,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
