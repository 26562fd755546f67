"""The rare-symptom detector's cost: per text (sketch + assign, new or seen before) and per contact.

    python benchmarks/symptom_cost.py

Free texts as they come in a contact centre: 40% a few recurring complaints with typos, the rest one-off
descriptions; 30% of contacts carry a text. Figures in microseconds; read them beside replay_throughput.py.
The last figure has two more random typos in every text, so that no text comes twice: customers who write in
their own words, which replaying a simulated stream (whose texts repeat) does not show.

    python benchmarks/symptom_cost.py --real [--days 3 --per-day 5000]

replays (the Engine of `correlate replay`, one process) a stream in which every contact carries a text no other
has, in real customers' words (two messages of tests/fixtures/support_conversations.jsonl joined, a pair never
used twice), with the semantic extra (setting symptom_meaning) off and on, and prints contacts/s, the CPU time a
contact costs (all threads of the process: steadier than the wall clock on a shared machine) and the meaning
scan's memory per text it holds.
"""

from __future__ import annotations

import argparse
import io
import random
import time
from dataclasses import replace
from pathlib import Path

import orjson

from correlate.config import Settings
from correlate.contracts import Contact, format_time, validate
from correlate.detectors.meaning import MeaningScan
from correlate.detectors.similarity import Sketcher, SymptomIndex
from correlate.detectors.symptom import SymptomDetector
from correlate.detectors.symptom import SymptomDetector as Symptoms
from correlate.engine import Engine
from correlate.lab.realtext import REGIONS, load
from correlate.replay import replay
from correlate.stitch import Stitcher

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z


def synthetic_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [
        f"{a}{b}"
        for a in ("stre", "pic", "sou", "rem", "wif", "app", "bil", "log", "cha", "vid")
        for b in ("am", "ture", "nd", "ote", "i", "lication", "ling", "in", "nnel", "eo")
    ]
    families = ["cant post comment on live stream", "my remote doesnt work", "no sound on channel 5"]
    texts = []
    for _ in range(n):
        if rng.random() < 0.4:
            text = list(rng.choice(families))
            text[rng.randrange(len(text))] = rng.choice("abcdefghij ")  # a typo
            texts.append("".join(text))
        else:
            texts.append(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 9))) + " not working")
    return texts


def per_text(fresh: bool) -> tuple[float, int]:
    texts = synthetic_texts(20_000)
    sketcher, index = Sketcher(), SymptomIndex(0.6)
    sketches = [sketcher.sketch(text) for text in texts]
    if not fresh:
        for sketch in sketches:
            assert sketch is not None
            index.assign(sketch)
    start = time.perf_counter()
    for text in texts:
        sketch = sketcher.sketch(text)
        assert sketch is not None
        index.assign(sketch)
    return (time.perf_counter() - start) / len(texts) * 1e6, len(index)


def with_typos(texts: list[str], typos: int, seed: int = 11) -> list[str]:
    """Each text with ``typos`` random characters replaced."""
    rng = random.Random(seed)
    out = []
    for text in texts:
        chars = list(text)
        for _ in range(typos):
            chars[rng.randrange(len(chars))] = rng.choice("abcdefghijklmnopqrstuvwxyz")
        out.append("".join(chars))
    return out


def per_contact(typos: int = 0) -> float:
    texts = iter(with_typos(synthetic_texts(6_000), typos))
    brands = ["Sonique", "Vexa", "Orbit", "Lumo"]
    contacts = []
    for i in range(20_000):
        record = validate(
            {
                "contact_id": f"c{i}",
                "ts": T0 + i * 0.5,
                "channel": "app",
                "customer_id": f"u{i % 7919}",
                "source": "app",
                "dimensions": {"device_brand": brands[i % 4], "service": "StreamPlus"},
                "text": next(texts) if i % 10 < 3 else None,
            }
        )
        assert isinstance(record, Contact)
        contacts.append(record)
    stitcher = Stitcher(window=3600)
    stitched = [stitcher.stitch(c) for c in contacts]
    detector = SymptomDetector()
    start = time.perf_counter()
    step_end = T0 + 60.0
    for item in stitched:
        while item.contact.ts > step_end:
            detector.close_step(step_end)
            step_end += 60.0
        detector.observe(item)
    return (time.perf_counter() - start) / len(stitched) * 1e6


CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "support_conversations.jsonl"


def unique_real_stream(days: int, per_day: int, seed: int = 5) -> list[bytes]:
    """Every contact with a text of its own: two real messages joined, each pair once."""
    corpus = load(CORPUS)
    rnd = random.Random(seed)
    total = days * per_day
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < total:
        pairs.add((rnd.randrange(len(corpus)), rnd.randrange(len(corpus))))
    times = sorted(T0 + rnd.uniform(0, days * 86_400.0) for _ in range(total))
    lines = []
    for i, ((a, b), ts) in enumerate(zip(sorted(pairs, key=lambda _: rnd.random()), times, strict=True)):
        record = {
            "contact_id": f"u{i}",
            "ts": format_time(ts),
            "channel": "social",
            "customer_id": f"cust{i}",
            "source": "centre",
            "dimensions": {"company": corpus[a].company, "region": rnd.choice(REGIONS)},
            "text": f"{corpus[a].text} {corpus[b].text}",
        }
        lines.append(orjson.dumps(record))
    return lines


def real_replay(days: int, per_day: int) -> None:
    lines = unique_real_stream(days, per_day)
    print(f"replay of {len(lines):,} contacts, every one with a text of its own (real words):")
    for meaning in (False, True):
        engine = Engine(replace(Settings(), symptom_meaning=meaning))
        start, cpu = time.perf_counter(), time.process_time()
        replay(engine, lines, io.BytesIO(), None)
        rate = len(lines) / (time.perf_counter() - start)
        used = (time.process_time() - cpu) / len(lines) * 1e6
        print(f"  symptom_meaning={str(meaning).lower():5s}: {rate:8,.0f} contacts/s, {used:5.0f} us of CPU a contact")
        if meaning:
            _memory(engine)


def _memory(engine: Engine) -> None:
    symptoms = next(d for d in engine.detectors if isinstance(d, Symptoms))
    scan = symptoms._meaning
    assert isinstance(scan, MeaningScan)
    held = sum(len(history) for history in scan._histories.values())
    arrays = sum(history.codes.nbytes + history.times.nbytes for history in scan._histories.values())
    texts = len(scan._histories[""])
    print(
        f"  meaning scan: {held:,} history entries (a text once per scope it belongs to, and once in the centre's "
        f"{texts:,}) over {len(scan._histories) - 1} scopes: {arrays / max(1, held):,.0f} bytes of arrays per entry "
        f"(40 used, the rest room to grow); {len(scan):,} texts in the window"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", action="store_true", help="replay a stream of unique real texts instead")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--per-day", type=int, default=5000)
    args = parser.parse_args()
    if args.real:
        real_replay(args.days, args.per_day)
        return
    for fresh in (True, False):
        cost, symptoms = per_text(fresh)
        print(f"{'fresh' if fresh else 'repeated'} text: {cost:.1f} us to sketch and assign ({symptoms} symptoms)")
    print(f"detector: {per_contact():.1f} us per contact (30% with text)")
    print(f"detector: {per_contact(typos=2):.1f} us per contact (30% with text, each text unique)")


if __name__ == "__main__":
    main()
