"""Grouping texts by meaning (the semantic extra): customers who describe one thing in their own words.

The model is the packaged all-MiniLM-L6-v2 (scripts/test installs it); the background is real customers'
messages from tests/fixtures/support_conversations.jsonl.
"""

from __future__ import annotations

import io
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pytest

from correlate.config import Settings
from correlate.detectors.base import Finding
from correlate.detectors.embedding import StaticEmbedding, distances, hamming_radius
from correlate.detectors.symptom import SymptomDetector
from correlate.engine import Engine
from correlate.lab.realtext import Conversation, load
from correlate.replay import replay as replay_lines
from correlate.vendor_view import vendor_event
from test_symptom import DAY, HOUR, STEP, T0, contact, replay

CORPUS = Path(__file__).resolve().parent / "fixtures" / "support_conversations.jsonl"
FRAUD_ALERTS = (
    "Would like my fraud alerts removed from my credit report",
    "Please remove the fraud alerts or any other personal statements that is on my credit files.",
    "I need the fraud alert taken off my credit report, I never asked for one",
)


@pytest.fixture(scope="module")
def embedding() -> StaticEmbedding:
    return StaticEmbedding()


@pytest.fixture(scope="module")
def corpus() -> list[Conversation]:
    return load(CORPUS)


def test_rewordings_are_closer_than_other_complaints(embedding: StaticEmbedding) -> None:
    texts = [*FRAUD_ALERTS[:2], "My mortgage payment was not applied and I was charged a late fee"]
    codes, meaningful = embedding.codes(texts)
    apart = distances(codes, codes)
    assert meaningful.all()
    assert apart[0, 1] <= hamming_radius(0.6) < min(apart[0, 2], apart[1, 2])


def test_codes_do_not_depend_on_the_batch(embedding: StaticEmbedding, corpus: list[Conversation]) -> None:
    texts = [c.text for c in corpus[:200]]
    together, _ = embedding.codes(texts)
    alone = np.concatenate([embedding.codes([text])[0] for text in reversed(texts)])[::-1]
    assert np.array_equal(together, alone)
    assert np.array_equal(together, StaticEmbedding().codes(texts)[0])


def test_a_text_without_words_has_no_meaning(embedding: StaticEmbedding) -> None:
    _, meaningful = embedding.codes(["?!", "XXXX XX/XX/XXXX", "fraud alert"])
    assert meaningful.tolist() == [False, False, True]


def background(corpus: list[Conversation], days: float, seed: int = 1) -> list:
    """Every real conversation once, at a random time over ``days``, from a new customer of its company."""
    rnd = random.Random(seed)
    return [
        contact(T0 + rnd.uniform(0, days * DAY), f"bg{i}", c.text, {"company": c.company}) for i, c in enumerate(corpus)
    ]


def symptom_findings(contacts: list, embedding: StaticEmbedding) -> list[Finding]:
    detector = SymptomDetector(meaning=embedding)
    _, findings = replay(contacts, detector)
    return [f for found in findings.values() for f in found]


def test_three_customers_of_one_company_in_their_own_words_open_a_finding_on_it(
    embedding: StaticEmbedding, corpus: list[Conversation]
) -> None:
    fault = [
        contact(T0 + 2 * DAY + 600 * n, f"fault{n}", text, {"company": "AdobeCare"})
        for n, text in enumerate(FRAUD_ALERTS)
    ]
    findings = symptom_findings([*background(corpus, 3), *fault], embedding)
    on_adobe = [f for f in findings if f.scope == (("company", "AdobeCare"),)]
    assert on_adobe and on_adobe[0].observed == 3 and on_adobe[0].at <= fault[-1].ts + STEP
    assert set(on_adobe[0].sample_texts) <= set(FRAUD_ALERTS)


def test_a_cluster_whose_writers_share_several_scopes_is_one_finding_on_all_they_share(
    embedding: StaticEmbedding, corpus: list[Conversation]
) -> None:
    """Three customers of one company, one product and one state: one finding, on the company and the product
    (the narrowest scope, cut to two values), not one on each scope the meaning pass scans."""
    rnd = random.Random(5)
    products, states = ["Credit reporting", "Mortgage", "Credit card"], ["CA", "TX", "NY", "FL", "OH", "WA"]
    everyone = [
        replace(c, dimensions={**c.dimensions, "product": rnd.choice(products), "state": rnd.choice(states)})
        for c in background(corpus, 3)
    ]
    where = {"company": "AdobeCare", "product": "Credit reporting", "state": "CA"}
    fault = [contact(T0 + 2 * DAY + 600 * n, f"fault{n}", text, where) for n, text in enumerate(FRAUD_ALERTS)]
    findings = symptom_findings([*everyone, *fault], embedding)
    around = [f for f in findings if fault[0].ts <= f.at <= fault[-1].ts + HOUR]
    assert {f.scope for f in around} == {(("company", "AdobeCare"), ("product", "Credit reporting"))}
    assert around[0].observed == 3 and set(around[0].sample_texts) <= set(FRAUD_ALERTS)


def test_what_is_everyday_for_a_company_is_not_news_there(
    embedding: StaticEmbedding, corpus: list[Conversation]
) -> None:
    """The same three rewordings, from customers of a company whose customers ask about fraud alerts every day."""
    rnd = random.Random(7)
    phrasings = [
        "there is a fraud alert on my credit report that I did not put there",
        "how do I remove a fraud alert from my credit file",
        "please take the fraud alert off my credit report",
        "I want the fraud alert on my credit report removed",
        "a fraud alert was added to my credit report, remove it",
    ]
    everyday = [
        contact(T0 + rnd.uniform(0, 2 * DAY), f"wf{n}", f"{rnd.choice(phrasings)} {n}", {"company": "Ask_WellsFargo"})
        for n in range(40)
    ]
    fault = [
        contact(T0 + 2 * DAY + 600 * n, f"fault{n}", text, {"company": "Ask_WellsFargo"})
        for n, text in enumerate(FRAUD_ALERTS)
    ]
    findings = symptom_findings([*background(corpus, 3), *everyday, *fault], embedding)
    assert not [f for f in findings if f.scope == (("company", "Ask_WellsFargo"),)]


def test_the_incident_counts_the_customers_who_described_it_apart_from_the_scope() -> None:
    """evidence.customers counts every contact on the scope; evidence.symptom counts the describers."""
    rnd = random.Random(3)
    lines = []
    for i in range(800):  # a day and a half of contacts on the company, without text
        ts = T0 + rnd.uniform(0, 1.5 * DAY)
        lines.append({"ts": ts, "customer_id": f"quiet{i}", "text": None})
    for n, text in enumerate(FRAUD_ALERTS):
        lines.append({"ts": T0 + 1.5 * DAY + 600 * n, "customer_id": f"fault{n}", "text": text})
    for i in range(40):  # more customers of the company call in the hour, about other things
        lines.append({"ts": T0 + 1.5 * DAY + 90 * i, "customer_id": f"busy{i}", "text": None})
    lines.sort(key=lambda row: row["ts"])
    records = [
        orjson.dumps(
            {
                "contact_id": f"c{i}",
                "ts": row["ts"],
                "channel": "chat",
                "customer_id": row["customer_id"],
                "source": "centre",
                "dimensions": {"company": "Acme"},
                **({"text": row["text"]} if row["text"] else {}),
            }
        )
        for i, row in enumerate(lines)
    ]
    out = io.BytesIO()
    replay_lines(Engine(replace(Settings(), symptom_meaning=True)), records, out, None)
    events = [orjson.loads(line) for line in out.getvalue().splitlines()]
    opened = [e for e in events if e["event"] == "opened" and e["kind"] == "symptom"]
    assert opened, [e["kind"] for e in events]
    evidence = opened[0]["evidence"]
    assert evidence["symptom"]["customers"] == 3
    assert evidence["customers"] > evidence["symptom"]["customers"]
    assert set(evidence["symptom"]["exemplars"]) <= set(FRAUD_ALERTS)
    seen_by_vendor = vendor_event(opened[0])["evidence"]["symptom"]
    assert seen_by_vendor == {"customers": 3, "exemplars": []}


def test_without_the_extra_the_setting_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from correlate.detectors import embedding as module

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(module.ModelMissing, match=r"correlate\[semantic\]"):
        module.model_archive()


def test_same_input_gives_the_same_findings(embedding: StaticEmbedding, corpus: list[Conversation]) -> None:
    fault = [
        contact(T0 + 2 * DAY + 600 * n, f"fault{n}", text, {"company": "AdobeCare"})
        for n, text in enumerate(FRAUD_ALERTS)
    ]
    contacts = [*background(corpus, 3), *fault]
    first = symptom_findings(contacts, embedding)
    again = symptom_findings(contacts, StaticEmbedding())
    assert first == again and first
    assert HOUR == 3600.0
