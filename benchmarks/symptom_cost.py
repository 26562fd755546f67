"""The rare-symptom detector's cost: per text (sketch + assign, new or seen before) and per contact.

    python benchmarks/symptom_cost.py

Free texts as they come in a contact centre: 40% a few recurring complaints with typos, the rest one-off
descriptions; 30% of contacts carry a text. Figures in microseconds; read them beside replay_throughput.py.
The last figure has two more random typos in every text, so that no text comes twice: customers who write in
their own words, which replaying a simulated stream (whose texts repeat) does not show.
"""

from __future__ import annotations

import random
import time

from correlate.contracts import Contact, validate
from correlate.detectors.similarity import Sketcher, SymptomIndex
from correlate.detectors.symptom import SymptomDetector
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


def main() -> None:
    for fresh in (True, False):
        cost, symptoms = per_text(fresh)
        print(f"{'fresh' if fresh else 'repeated'} text: {cost:.1f} us to sketch and assign ({symptoms} symptoms)")
    print(f"detector: {per_contact():.1f} us per contact (30% with text)")
    print(f"detector: {per_contact(typos=2):.1f} us per contact (30% with text, each text unique)")


if __name__ == "__main__":
    main()
