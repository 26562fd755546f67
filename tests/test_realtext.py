"""The real-text benchmark's streams: what a fault is, and the dimensions a contact carries, per corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from correlate.lab.realtext import DAY, START, build, load

FIXTURES = Path(__file__).resolve().parent / "fixtures"
COMPLAINTS = FIXTURES / "complaint_narratives.jsonl"
SUPPORT = FIXTURES / "support_conversations.jsonl"


def test_a_complaint_fault_is_an_uncommon_sub_issue_of_one_company_told_in_its_customers_own_words() -> None:
    corpus = load(COMPLAINTS)
    shared = Counter((row.company, row.issue) for row in corpus)
    stream = build(corpus, seed=1, days=2, per_day=500, faults=5)
    assert len(stream.faults) == 5
    for fault in stream.faults:
        own = [row.text for row in corpus if (row.company, row.issue) == (fault.company, fault.issue)]
        assert 3 <= shared[fault.company, fault.issue] <= 8
        assert sorted(fault.texts) == sorted(own)  # each customer's own narrative, none repeated
        assert fault.times[-1] - fault.times[0] <= 3600 and fault.times[0] >= START + DAY


def test_the_copies_control_repeats_the_first_narrative() -> None:
    stream = build(load(COMPLAINTS), seed=1, days=2, per_day=500, faults=5, copies=True)
    assert all(len(set(fault.texts)) == 1 and len(fault.texts) >= 3 for fault in stream.faults)


def test_a_complaint_carries_its_company_product_and_state() -> None:
    corpus = load(COMPLAINTS)
    known = {(row.company, dict(row.dimensions)["product"], dict(row.dimensions)["state"]) for row in corpus}
    records = [orjson.loads(line) for line in build(corpus, seed=2, days=2, per_day=500).lines]
    assert all(set(record["dimensions"]) == {"company", "product", "state"} for record in records)
    assert all(
        (record["dimensions"]["company"], record["dimensions"]["product"], record["dimensions"]["state"]) in known
        for record in records
    )


def test_a_support_message_gets_a_region_as_its_corpus_has_none() -> None:
    records = [orjson.loads(line) for line in build(load(SUPPORT), seed=1, days=2, per_day=500).lines]
    assert all(set(record["dimensions"]) == {"company", "region"} for record in records)
