"""Keeps a :class:`~correlate.metrics.Metrics` up to date from an :class:`~correlate.engine.Engine`.

The stream workers call :meth:`EngineMonitor.process` (or :meth:`EngineMonitor.accept`) where they would call
the engine's: the monitor passes the record on unchanged and records what happened to it. After every step the
engine closes, it publishes the currently anomalous cells and the whole centre, observed against expected.

The engine does not expose its cells' window counts yet, so :func:`cell_readings` reads them from the rate
detector's arrays, in this one place, until the core grows a public hook (see the function's docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from correlate.contracts import Contact, Rejection, validate
from correlate.detectors.rate import RateDetector
from correlate.engine import Engine, Event, Outcome
from correlate.metrics import CellValues, Metrics
from correlate.scope import Scope, describe


@dataclass(frozen=True)
class CellReading:
    """One cell in one window: reporters counted, reporters expected, and the cell's smallest p-value."""

    scope: Scope
    window: float
    observed: float
    expected: float
    p_value: float

    def values(self) -> CellValues:
        return CellValues(describe(self.scope), self.window, self.observed, self.expected)


def cell_readings(rate: RateDetector) -> tuple[list[CellReading], list[CellReading]]:
    """(anomalous cells, most significant first; the whole centre), every window of each.

    A cell is anomalous while the detector holds it elevated (:meth:`RateDetector.is_elevated`). Its expected
    count is the one the test used (the seasonal baseline lifted with the whole centre, plus partner batches);
    the centre's is the seasonal baseline alone, so a storm that lifts every cell shows there.

    Reads private arrays of the rate detector; the hook that would replace this is
    ``RateDetector.readings(limit: int) -> tuple[list[CellReading], list[CellReading]]``.
    """
    n = len(rate.lattice)
    windows = len(rate.windows)
    if n == 0 or rate._first_step is None:
        return [], []
    sums = rate._sums
    observed = sums["singles"][:, :n] + sums["aggregated"][:, :n]
    seasonal = sums["expected"][:, :n].copy()
    batch_model = rate._batch_model
    if batch_model is not None and len(batch_model[0]) == n:
        record_rate, batch_size = batch_model
        seasonal += record_rate[None, :] * rate._window_steps[:, None] * batch_size[None, :]
    lifted = seasonal + sums["expected"][:, :n] * (rate._common_mode[:, None] - 1.0)
    p_values = rate._last_p[:n]
    elevated = [int(c) for c in np.flatnonzero(p_values < rate.elevated_p) if c != 0]
    elevated.sort(key=lambda c: (float(p_values[c]), rate.lattice.scopes[c]))
    scopes = rate.lattice.scopes
    anomalous = [
        CellReading(scopes[c], rate.windows[w], float(observed[w, c]), float(lifted[w, c]), float(p_values[c]))
        for c in elevated
        for w in range(windows)
    ]
    centre = [
        CellReading((), rate.windows[w], float(observed[w, 0]), float(seasonal[w, 0]), float(p_values[0]))
        for w in range(windows)
    ]
    return anomalous, centre


class EngineMonitor:
    """Drives an engine record by record and mirrors what happens into metrics.

    The watermark is tracked here from the contacts the engine accepts (latest event time minus the lateness),
    as the engine computes it; a step closes when it passes a step boundary, and then the cell gauges refresh.
    """

    def __init__(self, engine: Engine, metrics: Metrics, *, intake: bool = True) -> None:
        """``intake=False`` where another stage already counted the contacts in: the Kafka pipeline's detect
        leader reads contacts its validate stage counted, and would count them twice. Rejections the engine
        makes (late contacts), repeats and events are recorded either way."""
        self.engine = engine
        self.metrics = metrics
        self.intake = intake
        self._latest_ts: float | None = None
        self._watermark_step: int | None = None

    def process(self, record: object) -> Outcome:
        """As :meth:`Engine.process`: validate one decoded record, then take it in."""
        checked = validate(record)
        if isinstance(checked, Rejection):
            outcome = self.engine.process(record)  # the engine counts the rejection as it always does
            self.metrics.observe_outcome(None, outcome.rejection, outcome.events)
            return outcome
        return self.accept(checked, record)

    def accept(self, contact: Contact, record: object = None) -> Outcome:
        """As :meth:`Engine.accept`, recording the contact, rejection or repeat and the events released."""
        repeats = self.engine.counts.duplicates
        outcome = self.engine.accept(contact, record)
        if self.engine.counts.duplicates > repeats:
            self.metrics.observe_duplicate()
            return outcome
        taken_in = contact if outcome.rejection is None and self.intake else None
        self.metrics.observe_outcome(taken_in, outcome.rejection, outcome.events)
        if outcome.rejection is None and (self._latest_ts is None or contact.ts > self._latest_ts):
            self._advance(contact.ts)
        return outcome

    def undecodable(self) -> None:
        """A record the worker could not decode as JSON."""
        self.metrics.observe_undecodable()

    def close(self) -> list[Event]:
        events = self.engine.close()
        self.metrics.observe_events(events)
        self.refresh()
        return events

    def refresh(self) -> None:
        """Publish the anomalous cells and the whole centre as the engine holds them now."""
        anomalous, centre = cell_readings(self.engine.rate)
        self.metrics.set_anomalous([reading.values() for reading in anomalous])
        for reading in centre:
            self.metrics.set_centre(reading.window, reading.observed, reading.expected)

    def _advance(self, ts: float) -> None:
        settings = self.engine.settings
        self._latest_ts = ts
        watermark = ts - settings.lateness
        self.metrics.set_event_time(watermark)
        step = int(watermark // settings.step)
        if step != self._watermark_step:
            self._watermark_step = step
            self.refresh()
