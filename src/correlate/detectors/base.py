"""The detector interface and what a detector reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from correlate.scope import Scope
from correlate.stitch import StitchedContact


@dataclass(frozen=True, slots=True)
class Finding:
    """A scope that a detector finds out of the ordinary at the end of one step.

    ``observed`` and ``expected`` are distinct customers in the detector's window; ``p_value`` is the tail
    probability of seeing ``observed`` if nothing were wrong, and ``threshold`` the p-value this finding had to
    beat after allowing for every cell tested at once.
    """

    kind: str
    scope: Scope
    at: float
    observed: float
    expected: float
    p_value: float
    threshold: float
    tests: int
    window: float
    sample_texts: tuple[str, ...] = field(default=())

    @property
    def confidence(self) -> float:
        """1 minus the Bonferroni-adjusted p-value over the tests made at this step."""
        return round(1.0 - min(1.0, self.p_value * max(1, self.tests)), 6)


@dataclass(frozen=True, slots=True)
class CellReading:
    """One cell in one window as the detector sees it now: reporters counted, reporters expected, and the
    cell's smallest p-value over its windows. What a NOC dashboard plots as observed against expected."""

    scope: Scope
    window: float
    observed: float
    expected: float
    p_value: float


class Detector(Protocol):
    """Two verbs: see a stitched contact of the current step; close the step and report findings."""

    kind: str

    def observe(self, contact: StitchedContact) -> None: ...

    def close_step(self, step_end: float) -> list[Finding]: ...

    def is_elevated(self, scope: Scope) -> bool:
        """Whether the scope is still above its normal level (an incident on it is not over yet)."""
        ...
