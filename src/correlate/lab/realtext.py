"""A contact stream with real customers' words, faults told in their own words, and what the detector made of it.

The texts are real, from one of two corpora (small derived samples of public corpora; provenance in
docs/results.md):

* *support*: customers' messages to 25 companies' support accounts, each conversation labelled with the support
  document that answered it. Customers answered by one document describe one issue, each in their own words.
* *complaints*: consumers' complaint narratives about financial companies, each labelled with the company, the
  product, the consumer's state and the specific sub-issue the consumer chose (e.g. "Problem getting your free
  annual credit report").

The stream:

* *background*: every text not used below, once each, at a random time, from a new customer; the rest of
  ``per_day`` contacts carry no text. Dimensions: ``company`` and, for the complaints, the text's ``product``
  and ``state``; for the support corpus, which has neither, ``region`` (one of ten, at random).
* *faults*: a company's customers of one issue that only 3-8 texts of the corpus share (uncommon), all of them
  within 30-60 minutes, after the first day. With ``copies`` every one of them sends the first one's text word
  for word (the control: what the detector finds when words are shared).
* *form letters*: two texts that three customers of one company send word for word every day, within 45
  minutes each day: a template, which must never open an incident.

:func:`evaluate` replays the stream through the Engine (the one ``correlate replay`` runs) and scores the
symptom incidents against the faults.
"""

from __future__ import annotations

import io
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from correlate.config import Settings
from correlate.contracts import format_time, parse_timestamp
from correlate.engine import Engine
from correlate.replay import replay

__all__ = ["DIMENSIONS", "Conversation", "Fault", "Score", "Stream", "build", "evaluate", "load"]

DAY = 86_400.0
START = 1_780_000_000.0 - 1_780_000_000.0 % DAY  # a midnight, UTC
REGIONS = tuple(f"region-{i}" for i in range(10))
FOUND_WITHIN = 900.0  # a fault is found in time if its incident opens within this of its third customer


@dataclass(frozen=True, slots=True)
class Conversation:
    """One customer's text with its company, its issue label and the dimensions the corpus knows for it."""

    company: str
    issue: str
    text: str
    dimensions: tuple[tuple[str, str], ...] = ()  # besides the company; none: a random region


@dataclass(frozen=True, slots=True)
class Fault:
    company: str
    issue: str
    times: tuple[float, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Stream:
    lines: list[bytes]
    faults: list[Fault]
    form_letters: dict[str, str]  # text -> company
    warmup_end: float


@dataclass(frozen=True, slots=True)
class Score:
    faults: int
    found: int  # an incident on the fault's company within FOUND_WITHIN of its third customer
    incidents: int  # symptom incidents opened after the warm-up
    on_a_fault: int
    form_letter_incidents: int
    contacts_per_second: float
    described: list[int]  # evidence.symptom.customers of the incidents on a fault, as first published
    # The same, judged by the texts an incident shows (its exemplars) whatever its scope: a fault's customers
    # share a product and often a state too, and an incident on those scopes has found the texts, not the company.
    found_by_texts: int = 0  # an incident showing the fault's texts within FOUND_WITHIN of its third customer
    on_a_fault_by_texts: int = 0  # incidents showing a fault's texts

    @property
    def precision(self) -> float:
        return self.on_a_fault / self.incidents if self.incidents else 1.0


DIMENSIONS = ("product", "state")  # a row's dimensions besides its company, where the corpus has them


def load(path: Path) -> list[Conversation]:
    """A corpus' rows; the issue is the most specific label a row has (a complaint's sub-issue)."""
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return [
        Conversation(
            row["company"],
            row.get("sub_issue") or row["issue"],
            row["text"],
            tuple((name, row[name]) for name in DIMENSIONS if row.get(name)),
        )
        for row in rows
    ]


def build(
    corpus: Sequence[Conversation],
    *,
    seed: int,
    days: int = 4,
    per_day: int = 2000,
    faults: int = 10,
    copies: bool = False,
) -> Stream:
    """The stream of the module docstring (deterministic for a seed)."""
    rnd = random.Random(seed)
    groups: dict[tuple[str, str], list[Conversation]] = defaultdict(list)
    for conversation in corpus:
        groups[conversation.company, conversation.issue].append(conversation)
    eligible = sorted(key for key, members in groups.items() if 3 <= len(members) <= 8)
    chosen = rnd.sample(eligible, min(faults, len(eligible)))
    used = {id(c) for key in chosen for c in groups[key]}
    pool = [c for c in corpus if id(c) not in used]
    rnd.shuffle(pool)
    letters = pool[:2]
    pool = pool[2:]
    records: list[tuple[float, dict[str, Any]]] = []
    serial = iter(range(10**9))

    def contact(ts: float, origin: Conversation, text: str | None) -> None:
        who = f"cust-{next(serial):07d}"
        dimensions = dict(origin.dimensions) if origin.dimensions else {"region": rnd.choice(REGIONS)}
        record: dict[str, Any] = {
            "channel": "social",
            "customer_id": who,
            "source": "centre",
            "dimensions": {"company": origin.company, **dimensions},
        }
        if text is not None:
            record["text"] = text
        records.append((ts, record))

    end = START + days * DAY
    for conversation in pool:
        contact(rnd.uniform(START, end), conversation, conversation.text)
    for _ in range(max(0, per_day * days - len(pool))):
        # a text-less contact takes a corpus row's company and dimensions, so scopes keep the corpus' mix
        contact(rnd.uniform(START, end), rnd.choice(corpus), None)
    form_letters = {}
    for letter in letters:
        form_letters[letter.text] = letter.company
        for day in range(days):
            begin = START + day * DAY + rnd.uniform(0, DAY - 3600)
            for _ in range(3):
                contact(begin + rnd.uniform(0, 2700), letter, letter.text)
    injected = []
    for key in chosen:
        members = groups[key]
        begin = rnd.uniform(START + DAY, end - 2 * 3600)
        spread = rnd.uniform(1800, 3600)
        times = sorted(begin + rnd.uniform(0, spread) for _ in members)
        texts = [members[0].text] * len(members) if copies else [m.text for m in members]
        for ts, member, text in zip(times, members, texts, strict=True):
            contact(ts, member, text)
        injected.append(Fault(key[0], key[1], tuple(times), tuple(texts)))
    records.sort(key=lambda item: item[0])
    lines = [
        orjson.dumps({"contact_id": f"rt-{i:07d}", "ts": format_time(ts), **record})
        for i, (ts, record) in enumerate(records, 1)
    ]
    return Stream(lines, injected, form_letters, START + DAY)


def evaluate(stream: Stream, settings: Settings) -> Score:
    """Replay the stream and score the symptom incidents it opened."""
    engine = Engine(settings)
    events = io.BytesIO()
    began = time.perf_counter()
    replay(engine, stream.lines, events, None)
    elapsed = time.perf_counter() - began
    opened = [
        event
        for event in map(orjson.loads, events.getvalue().splitlines())
        if event.get("event") == "opened" and event.get("kind") == "symptom"
    ]
    opened = [event for event in opened if parse_timestamp(event["opened_at"]) >= stream.warmup_end]
    shown = {event["incident_id"]: _texts(event) for event in opened}
    on_fault: set[str] = set()
    telling: set[str] = set()
    found = found_by_texts = 0
    described: list[int] = []
    for fault in stream.faults:
        third = fault.times[2]
        matching = [
            event
            for event in opened
            if event["scope"].get("company") == fault.company
            and fault.times[0] - 60 <= parse_timestamp(event["opened_at"]) <= fault.times[-1] + 3600
        ]
        on_fault.update(event["incident_id"] for event in matching)
        if any(parse_timestamp(event["opened_at"]) - third <= FOUND_WITHIN for event in matching):
            found += 1
        described.extend(event["evidence"].get("symptom", {}).get("customers", 0) for event in matching[:1])
        told = [event for event in opened if any(_shows(shown[event["incident_id"]], t) for t in fault.texts)]
        telling.update(event["incident_id"] for event in told)
        if any(parse_timestamp(event["opened_at"]) - third <= FOUND_WITHIN for event in told):
            found_by_texts += 1
    letters = sum(1 for event in opened if any(_shows(shown[event["incident_id"]], t) for t in stream.form_letters))
    return Score(
        faults=len(stream.faults),
        found=found,
        incidents=len(opened),
        on_a_fault=sum(1 for event in opened if event["incident_id"] in on_fault),
        form_letter_incidents=letters,
        contacts_per_second=len(stream.lines) / elapsed if elapsed else 0.0,
        described=described,
        found_by_texts=found_by_texts,
        on_a_fault_by_texts=len(telling),
    )


def _texts(event: dict[str, Any]) -> list[str]:
    """The texts an incident shows: its MinHash cluster's samples and its symptom's exemplars."""
    evidence = event["evidence"]
    return [*evidence.get("sample_texts", []), *evidence.get("symptom", {}).get("exemplars", [])]


def _shows(shown: list[str], text: str) -> bool:
    """Whether an incident shows ``text``: evidence cuts a long text, so a shown text is a prefix of it."""
    return any(one and text.startswith(one) for one in shown)
