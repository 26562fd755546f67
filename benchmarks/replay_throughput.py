"""Replay throughput, per-contact work and peak memory, beside bare ``json.loads`` on the same file, in one run.

    python benchmarks/replay_throughput.py                  # 5 days at 20k, 100k and 400k contacts/day
    python benchmarks/replay_throughput.py --quick          # 1 day at 20k and 100k/day: a few minutes
    python benchmarks/replay_throughput.py --compare /tmp/base/src    # the same streams through another tree
    python benchmarks/replay_throughput.py --input contacts.jsonl

Every stream is measured twice: texts as simulated (customers repeat a few phrasings) and every text in the
customer's own words (two random typos each, see :func:`own_words`). For each, on one core, in CPU time:

* ``json.loads``: the file parsed line by line, nothing else: the yardstick.
* per-contact work: what every worker does for every contact: decode and validate, stitch (distinct new reporters),
  count them per profile and step, sketch the texts (a step's new texts in one batch, as the symptom detector does).
* ``correlate replay``: the whole engine in one process, reading the file as the command does; its peak memory
  is that process's own (the peak of its resident set, from /proc on Linux).

Targets (issue 16): per-contact work >= 1/3 of ``json.loads`` with texts as simulated, >= 1/6 in own words; replay
>= 50,000 contacts/s at 400k contacts/day and >= 25,000/s in own words; <= 500 MB peak on the 2M-contact stream.
The machine may be noisy: read the ratios, taken in one run, rather than the absolute rates.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run in a fresh interpreter, so that its peak memory is the replay's own and ``--compare`` can point it at another
# tree. Prints: CPU seconds of the per-contact work, then of the replay, then the replay process's peak RSS in KiB.
# The peak is read from /proc (VmHWM, the peak of the process's own memory map): Linux's ru_maxrss carries over the
# peak of the image a process was forked from, here this benchmark holding the whole file's lines for json.loads.
CHILD = """
import os, resource, sys, time
import orjson
from correlate.config import Settings
from correlate.engine import Engine
from correlate.intake import validate_record
from correlate.contracts import Contact
from correlate.replay import replay
from correlate.stitch import Stitcher
from correlate.detectors.similarity import Sketcher

path, what = sys.argv[1], sys.argv[2]
settings = Settings()
if what == "work":
    try:
        from correlate.contracts import ContactDecoder
        fast = ContactDecoder(settings).decode
    except ImportError:  # a tree without the one-pass decoder
        fast = lambda line: None
    lines = open(path, "rb").readlines()
    stitcher, sketcher = Stitcher(window=max(settings.windows), limits=settings), Sketcher()
    counts, step, texts = {}, None, []
    start = time.process_time()
    for line in lines:
        contact = fast(line)
        if contact is None:
            contact = validate_record(orjson.loads(line), settings)
            if type(contact) is not Contact:
                continue
        stitched = stitcher.stitch(contact)
        this_step = int(contact.ts // settings.step)
        if this_step != step:  # a step's counts go out, its texts are sketched in one batch
            sketcher.prime(texts)
            for text in texts:
                sketcher.sketch(text)
            counts, step, texts = {}, this_step, []
        if stitched.reporters:
            counts[stitched.profile] = counts.get(stitched.profile, 0) + stitched.reporters
        if contact.text:
            texts.append(contact.text)
    sketcher.prime(texts)
    print(time.process_time() - start)
else:
    with open(path, "rb") as lines, open(os.devnull, "wb") as sink:
        start = time.process_time()
        replay(Engine(settings), lines, sink, sink)
        print(time.process_time() - start)
    try:  # this process image's own peak: ru_maxrss would also count the benchmark's, which it was forked from
        with open("/proc/self/status") as status:
            print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
    except OSError:  # not Linux
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@dataclass(frozen=True)
class Figures:
    work: float  # contacts/s
    replay: float  # contacts/s
    peak_mb: float


def simulate(days: int, per_day: int, seed: int, folder: Path) -> Path:
    contacts = folder / f"contacts-{per_day}.jsonl"
    command = [sys.executable, "-m", "correlate.cli", "simulate", "--seed", str(seed), "--days", str(days)]
    command += ["--per-day", str(per_day), "--output", str(contacts), "--truth", str(folder / "truth.jsonl"), "-q"]
    if days < 4:  # too short for faults after the simulator's warm-up
        command += ["--faults", "0"]
    subprocess.run(command, check=True)
    return contacts


def own_words(path: Path, seed: int, folder: Path) -> Path:
    """The same contacts with every free text given two random typos, so that nearly no two texts are alike.

    Simulated customers repeat a few phrasings, and the symptom detector remembers a text it has seen; real
    customers write their own words, and each new text must be sketched and matched. This is that cost.
    """
    rng = random.Random(seed)
    letters = string.ascii_lowercase
    written = folder / f"own-words-{path.name}"
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
        start = time.process_time()
        for line in lines:
            json.loads(line)
        best = min(best, time.process_time() - start)
    return len(lines) / best


def child(path: Path, what: str, source: Path | None) -> list[float]:
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), what], check=True, capture_output=True, text=True, env=env
    )
    return [float(value) for value in out.stdout.split()]


def measure(path: Path, contacts: int, repeats: int, source: Path | None) -> Figures:
    """Best of ``repeats`` for each rate; the largest peak."""
    work = min(child(path, "work", source)[0] for _ in range(repeats))
    runs = [child(path, "replay", source) for _ in range(repeats)]
    return Figures(contacts / work, contacts / min(r[0] for r in runs), max(r[1] for r in runs) / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, help="contacts JSONL (default: simulate the streams)")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--per-day", type=int, nargs="+", default=[20_000, 100_000, 400_000])
    parser.add_argument("--quick", action="store_true", help="1 day at 20k and 100k contacts/day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each measure; the best is shown")
    texts = parser.add_mutually_exclusive_group()
    texts.add_argument("--simulated-only", action="store_true", help="texts as simulated only")
    texts.add_argument("--own-words", action="store_true", help="texts in customers' own words only")
    parser.add_argument(
        "--compare", type=Path, metavar="SRC", help="also measure the correlate package under SRC (its src folder)"
    )
    args = parser.parse_args()
    if args.quick:
        args.days, args.per_day = 1, [20_000, 100_000]
    here = Path(__file__).resolve().parent.parent / "src"
    trees: list[tuple[str, Path | None]] = [("this tree", here)]
    if args.compare is not None:
        trees.insert(0, (f"compare ({args.compare})", args.compare.resolve()))
    print(
        f"{'stream':<28}{'contacts':>10}{'json.loads/s':>14}  {'tree':<12}{'work/s':>9}{'share':>7}"
        f"{'replay/s':>10}{'share':>7}{'peak MB':>9}"
    )
    with tempfile.TemporaryDirectory() as folder:
        inputs = [(args.input.name, args.input)] if args.input else []
        for per_day in [] if args.input else args.per_day:
            inputs.append((f"{per_day:,}/day x {args.days} d", simulate(args.days, per_day, args.seed, Path(folder))))
        for name, path in inputs:
            variants = [] if args.own_words else [(name, path)]
            if not args.simulated_only:
                variants.append((f"{name}, own words", own_words(path, args.seed, Path(folder))))
            for label, variant in variants:
                lines = variant.read_bytes().splitlines()
                parse = json_loads_rate(lines, args.repeats)
                contacts = len(lines)
                del lines
                for tree, source in trees:
                    got = measure(variant, contacts, args.repeats, source)
                    print(
                        f"{label:<28}{contacts:>10,}{parse:>14,.0f}  {tree.split()[0]:<12}{got.work:>9,.0f}"
                        f"{got.work / parse:>7.2f}{got.replay:>10,.0f}{got.replay / parse:>7.2f}{got.peak_mb:>9,.0f}",
                        flush=True,
                    )
    print(
        "targets: work share >= 0.33 (simulated) / 0.17 (own words); replay >= 50,000/s at 400k/day, >= 25,000/s "
        "in own words; peak <= 500 MB on the 2M-contact stream"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
