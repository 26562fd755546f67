"""The banner an agent reads aloud: a table of incidents and the sentence each gives."""

from __future__ import annotations

import json
from datetime import timedelta, timezone

import pytest

from correlate.api.banner import BannerFacts, banner_text, describe_scope, describe_symptom, facts_from_event
from correlate.contracts import parse_timestamp
from correlate.events import IncidentHeadline

OPENED = parse_timestamp("2026-03-04T16:20:00Z")
NOW = OPENED + 3600


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (
            BannerFacts(
                OPENED,
                {"device_brand": "Sonique", "service": "StreamPlus"},
                227,
                "E3021",
                ["sonique", "streamplus"],
                ["sonique", "streamplus"],
            ),
            "Known incident since 16:20: error E3021 on Sonique devices with StreamPlus — 227 customers, both "
            "vendors notified. Don't troubleshoot the device; add the customer to the follow-up list.",
        ),
        (
            BannerFacts(OPENED, {"service": "StreamPlus"}, 1, "no-signal", ["streamplus"], []),
            "Known incident since 16:20: no signal on StreamPlus — 1 customer, vendor not yet notified. "
            "It is not the customer's setup; add the customer to the follow-up list.",
        ),
        (
            BannerFacts(
                OPENED,
                {"device_brand": "Pixelle", "device_model": "Pixelle Max32"},
                12,
                None,
                ["pixelle", "radiogo", "streamplus"],
                ["pixelle"],
                on_follow_up=True,
            ),
            "Known incident since 16:20: a fault on Pixelle Max32 devices — 12 customers, 1 of 3 vendors notified. "
            "Don't troubleshoot the device; the customer is already on the follow-up list.",
        ),
        (
            BannerFacts(OPENED, {"service": "FlixCo", "region": "North"}, 40, "E7", ["flixco"], ["flixco"]),
            "Known incident since 16:20: error E7 on FlixCo in region North — 40 customers, flixco notified. "
            "It is not the customer's setup; add the customer to the follow-up list.",
        ),
        (
            BannerFacts(OPENED - 2 * 86_400, {"region": "West"}, 5, "E1", ["a", "b", "c"], ["a", "b", "c"]),
            "Known incident since Mon 16:20: error E1 in region West — 5 customers, all 3 vendors notified. "
            "It is not the customer's setup; add the customer to the follow-up list.",
        ),
        (
            BannerFacts(OPENED, {"network": "fibre"}, 3, "slow_speed", [], []),
            "Known incident since 16:20: slow speed with network fibre — 3 customers. "
            "It is not the customer's setup; add the customer to the follow-up list.",
        ),
        (
            BannerFacts(OPENED, {"device_brand": "Vizo"}, 9, "E5", ["vizo"], ["vizo"], resolved_at=NOW - 60),
            "Incident resolved at 17:19 (since 16:20): error E5 on Vizo devices — 9 customers, vizo notified.",
        ),
    ],
)
def test_banner_wording(facts: BannerFacts, expected: str) -> None:
    assert banner_text(facts, NOW) == expected


def test_an_old_incident_says_its_date() -> None:
    facts = BannerFacts(OPENED, {"device_brand": "Vizo"}, 2, "E5")
    assert banner_text(facts, OPENED + 30 * 86_400).startswith("Known incident since 4 Mar 16:20:")


def test_times_are_in_the_agents_zone() -> None:
    facts = BannerFacts(OPENED, {"device_brand": "Vizo"}, 2, "E5")
    lisbon_summer = timezone(timedelta(hours=1))
    assert banner_text(facts, NOW, lisbon_summer).startswith("Known incident since 17:20:")


@pytest.mark.parametrize(
    ("category", "words"),
    [("E3021", "error E3021"), ("3021", "error 3021"), ("no-signal", "no signal"), (None, "a fault"), (" ", "a fault")],
)
def test_symptom_words(category: str | None, words: str) -> None:
    assert describe_symptom(category) == words


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ({}, "across all contacts"),
        ({"device_brand": "Sonique"}, "on Sonique devices"),
        ({"device_model": "S7", "service": "StreamPlus"}, "on S7 devices with StreamPlus"),
        ({"region": "North", "device_brand": "Arcus"}, "on Arcus devices in region North"),
        ({"firmware_version": "1.2"}, "with firmware version 1.2"),
    ],
)
def test_scope_words(scope: dict[str, str], words: str) -> None:
    assert describe_scope(scope) == words


def test_facts_from_a_real_incident_event() -> None:
    event = json.loads(
        '{"event":"opened","incident_id":"inc-1","kind":"symptom","opened_at":"2026-03-04T16:20:00Z",'
        '"at":"2026-03-04T16:20:00Z","scope":{"device_brand":"Pixelle"},'
        '"vendors":{"at_fault":["pixelle"],"affected":["radiogo","streamplus"]},'
        '"evidence":{"contacts":17,"customers":12,"categories":{"E8860":5,"E1002":3}}}'
    )
    facts = facts_from_event(
        IncidentHeadline.from_json(event), notified=["pixelle", "someone-else"], on_follow_up=False
    )
    assert facts.customers == 12
    assert facts.category == "E8860"
    assert facts.involved == ["pixelle", "radiogo", "streamplus"]
    assert facts.notified == ["pixelle"]
    assert banner_text(facts, NOW) == (
        "Known incident since 16:20: error E8860 on Pixelle devices — 12 customers, 1 of 3 vendors notified. "
        "Don't troubleshoot the device; add the customer to the follow-up list."
    )
