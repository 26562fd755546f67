"""The detector interfaces and what a detector reports.

The Engine talks to detectors only through these protocols: every detector is a :class:`Detector`; one that also
learns which dimension values imply which is an :class:`Implies`, one that reads heartbeats a
:class:`TakesTelemetry`, one that alerts single customers a :class:`NotifiesDevices`, one whose cells a NOC
dashboard plots a :class:`ReadsCells`. A detector class is a :class:`DetectorFactory`: the settings say whether it
runs and configure it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from correlate.scope import Scope
from correlate.stitch import Profile, StitchedContact

if TYPE_CHECKING:
    from correlate.config import Settings
    from correlate.telemetry import Heartbeat, HeartbeatSummary

__all__ = [
    "Callers",
    "CellReading",
    "Detector",
    "DetectorFactory",
    "DeviceSilence",
    "Expects",
    "Finding",
    "Implies",
    "NotifiesDevices",
    "ReadsCells",
    "TakesTelemetry",
]


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


@dataclass(frozen=True, slots=True)
class DeviceSilence:
    """One monitored device not heard from for longer than its own usual gaps allow."""

    device_id: str
    customer_id: str
    profile: Profile
    at: float
    last_seen: float
    usual_gap: float


@dataclass(frozen=True, slots=True)
class Callers:
    """The customers whose monitored devices in a scope went quiet, and those of them who got in touch since.

    ``onset``: the silence began after this time (when nearly all of the quiet devices had last been heard), so a
    contact before it is not about the silence. ``expected``: how many of them would have got in touch since the
    onset on an ordinary day; ``p_value``: the chance of at least ``len(called)`` doing so.
    """

    onset: float
    quiet: frozenset[str]
    called: frozenset[str]
    expected: float
    p_value: float


class Detector(Protocol):
    """Two verbs: see a stitched contact of the current step; close the step and report findings.

    The contract every detector keeps (tests/test_detector_contract.py): a step's findings depend only on the
    contacts of that step and the steps before it, whatever comes later; the same input gives the same findings;
    nothing is reported before the warm-up is over; the order in which a step's contacts arrive does not matter.
    """

    kind: str

    def observe(self, contact: StitchedContact) -> None: ...

    def close_step(self, step_end: float) -> list[Finding]: ...

    def is_elevated(self, scope: Scope) -> bool:
        """Whether the scope is still above its normal level (an incident on it is not over yet)."""
        ...


@runtime_checkable
class Implies(Protocol):
    """A detector that learns which dimension values imply which (every contact of a model carries its brand)."""

    @property
    def learned_implications(self) -> bool:
        """Whether any implication has been learned yet (asking :meth:`implied` before then is wasted)."""
        ...

    def implied(self, scope: Scope) -> Scope:
        """Values every report of the scope carries and the scope does not name."""
        ...


@runtime_checkable
class TakesTelemetry(Protocol):
    """A detector that reads heartbeats and heartbeat summaries as well as contacts."""

    def observe_telemetry(self, record: Heartbeat | HeartbeatSummary, profile: Profile) -> None:
        """See one heartbeat or summary of the current step (``profile``: its canonical dimension values)."""
        ...


@runtime_checkable
class NotifiesDevices(Protocol):
    """A detector that finds single devices gone quiet: their customers expect an alert."""

    @property
    def notifications(self) -> list[DeviceSilence]:
        """The devices found quiet at the last step closed."""
        ...


@runtime_checkable
class ReadsCells(Protocol):
    """A detector whose cells a NOC dashboard plots, observed against expected."""

    def readings(self) -> tuple[list[CellReading], list[CellReading]]:
        """(elevated cells, most significant first; the whole centre), every window of each."""
        ...


@runtime_checkable
class Expects(Protocol):
    """A detector that can say how many reporters a scope usually brings in one of its windows right now."""

    def expected_in(self, scope: Scope, window: float) -> float | None:
        """The scope's expected reporters in the window ending at the last step closed, as its tests used it
        (None: the detector keeps no such cell, or no such window)."""
        ...


class DetectorFactory(Protocol):
    """A detector class, as the Engine builds it: whether the settings run it, and the detector they configure."""

    def runs_with(self, settings: Settings) -> bool: ...

    def from_settings(self, settings: Settings) -> Detector: ...
