"""The end of a step for one open incident, as a table: its state in, the event and the reason out."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from correlate.lifecycle import RESOLVED, UPDATED, Decision, Lifecycle, Reason, decide, scope_change
from correlate.scope import Scope

RULES = Lifecycle(quiet_period=3600.0, update_interval=900.0, growth=0.25)
BRAND: Scope = (("device_brand", "Sonique"),)
PAIR: Scope = (("device_brand", "Sonique"), ("service", "StreamPlus"))
REGION: Scope = (("region", "North"),)
NOW = 100_000.0


@dataclass
class State:
    scope: Scope = BRAND
    reported_scope: Scope = BRAND
    last_event_at: float = NOW - 1800.0
    quiet_since: float | None = None
    reported_reporters: int = 20
    reporters: int = 20
    customers_speak: bool = True
    evidence_joined: bool = False


@pytest.mark.parametrize(
    ("state", "active", "expected"),
    [
        pytest.param(State(), True, Decision(None, None, None), id="active, nothing new: silent"),
        pytest.param(State(), False, Decision(None, None, NOW), id="goes quiet now: remembered, not resolved"),
        pytest.param(
            State(quiet_since=NOW - 3600.0), False, Decision(RESOLVED, Reason.QUIET, NOW - 3600.0), id="quiet period"
        ),
        pytest.param(
            State(quiet_since=NOW - 3599.0), False, Decision(None, None, NOW - 3599.0), id="a second short of quiet"
        ),
        pytest.param(State(quiet_since=NOW - 7200.0), True, Decision(None, None, None), id="active again: not quiet"),
        pytest.param(
            State(reported_scope=PAIR), True, Decision(UPDATED, Reason.SCOPE_WIDENED, None), id="pair to brand"
        ),
        pytest.param(State(scope=PAIR), True, Decision(UPDATED, Reason.SCOPE_NARROWED, None), id="brand to pair"),
        pytest.param(State(scope=REGION), True, Decision(UPDATED, Reason.SCOPE_MOVED, None), id="brand to region"),
        pytest.param(
            State(scope=PAIR, last_event_at=NOW - 600.0), True, Decision(None, None, None), id="too soon after the last"
        ),
        pytest.param(State(reporters=25), True, Decision(UPDATED, Reason.EVIDENCE_GREW, None), id="grew by 25%"),
        pytest.param(State(reporters=24), True, Decision(None, None, None), id="grew by less than 25%"),
        pytest.param(
            State(reported_reporters=2, reporters=4), True, Decision(None, None, None), id="fewer than 3 new customers"
        ),
        pytest.param(
            State(reporters=40, customers_speak=False), True, Decision(None, None, None), id="silence: contacts no news"
        ),
        pytest.param(
            State(scope=PAIR, customers_speak=False),
            True,
            Decision(UPDATED, Reason.SCOPE_NARROWED, None),
            id="silence: its scope moving is news",
        ),
        pytest.param(
            State(reporters=40, last_event_at=NOW), True, Decision(None, None, None), id="an event this very step"
        ),
        pytest.param(
            State(evidence_joined=True, last_event_at=NOW - 60.0),
            True,
            Decision(UPDATED, Reason.EVIDENCE_JOINED, None),
            id="our own evidence joined: news at once, whatever the update interval",
        ),
        pytest.param(
            State(evidence_joined=True, last_event_at=NOW), True, Decision(None, None, None), id="joined this very step"
        ),
        pytest.param(
            State(reporters=40, quiet_since=NOW - 60.0),
            False,
            Decision(UPDATED, Reason.EVIDENCE_GREW, NOW - 60.0),
            id="quiet but not for long: still updated",
        ),
    ],
)
def test_decide(state: State, active: bool, expected: Decision) -> None:
    assert decide(state, NOW, active, RULES) == expected


def test_a_scope_change_is_named_by_what_it_covers() -> None:
    assert scope_change(PAIR, BRAND) is Reason.SCOPE_WIDENED
    assert scope_change(BRAND, PAIR) is Reason.SCOPE_NARROWED
    assert scope_change(BRAND, REGION) is Reason.SCOPE_MOVED
