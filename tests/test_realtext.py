"""The real-text benchmark's streams: what a fault is, and the dimensions a contact carries, per corpus."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import orjson

from correlate.config import Settings
from correlate.lab.realtext import DAY, START, build, evaluate, load

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


def test_the_copies_control_is_found_on_the_company_and_by_its_texts() -> None:
    stream = build(load(COMPLAINTS), seed=3, days=2, per_day=500, faults=3, copies=True)
    score = evaluate(stream, Settings())
    assert score.found == score.found_by_texts == 3
    assert score.on_a_fault_by_texts >= score.on_a_fault >= 3
    assert score.form_letter_incidents == 0


def test_an_incident_showing_a_long_form_letter_counts_against_it() -> None:
    stream = build(load(COMPLAINTS), seed=3, days=2, per_day=500, faults=3, copies=True)
    long = {fault.texts[0]: fault.company for fault in stream.faults if len(fault.texts[0]) > 300}
    assert long  # evidence shows a cut of such a text, never the whole of it
    score = evaluate(replace(stream, form_letters=long), Settings())
    assert score.form_letter_incidents == len(long)
