"""Keeps a :class:`~correlate.metrics.Metrics` up to date from an :class:`~correlate.engine.Engine`.

The stream workers call :meth:`EngineMonitor.process` (or :meth:`EngineMonitor.accept`) where they would call
the engine's: the monitor passes the record on unchanged and records what happened to it. After every step the
engine closes, it publishes the currently anomalous cells and the whole centre, observed against expected; a
leader catching up closes thousands of steps a second, so there it may publish at most once per
``refresh_every`` seconds of wall time (a scrape comes once a second at most) and then on :meth:`catch_up`.

The cells come from :meth:`Engine.cell_readings <correlate.engine.Engine.cell_readings>` (the rate detector's).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from correlate.actions import Action
from correlate.contracts import Contact, Rejection
from correlate.detectors.base import CellReading
from correlate.engine import Engine, Outcome
from correlate.events import Event
from correlate.intake import kind_and_source, validate_record
from correlate.metrics import CellValues, Metrics
from correlate.scope import describe
from correlate.status_feed import VendorStatus
from correlate.telemetry import Heartbeat, HeartbeatSummary

__all__ = ["EngineMonitor"]


def _values(reading: CellReading) -> CellValues:
    return CellValues(describe(reading.scope), reading.window, reading.observed, reading.expected)


class EngineMonitor:
    """Drives an engine record by record and mirrors what happens into metrics.

    The watermark is tracked here from the contacts the engine accepts (latest event time minus the lateness),
    as the engine computes it; a step closes when it passes a step boundary, and then the cell gauges refresh.
    """

    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        *,
        intake: bool = True,
        refresh_every: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``intake=False`` where another stage already counted the contacts in: the Kafka pipeline's detect
        leader reads contacts its validate stage counted, and would count them twice. Rejections the engine
        makes (late contacts), repeats and events are recorded either way."""
        self.engine = engine
        self.metrics = metrics
        self.intake = intake
        self.refresh_every = refresh_every
        self.clock = clock
        self._latest_ts: float | None = None
        self._watermark_step: int | None = None
        self._stale = False  # a step closed since the cells were last published
        self._refreshed_at = float("-inf")

    def process(self, record: object) -> Outcome:
        """As :meth:`Engine.process`: validate one decoded record, then take it in."""
        checked = validate_record(record)
        if isinstance(checked, Rejection):
            outcome = self.engine.process(record)  # the engine counts the rejection as it always does
            self.metrics.observe_outcome(None, outcome.rejection, outcome.events)
            return outcome
        if isinstance(checked, Contact):
            return self.accept(checked, record)
        return self.accept_other(checked, record)

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

    def accept_other(
        self, item: Heartbeat | HeartbeatSummary | VendorStatus | Action, record: object = None
    ) -> Outcome:
        """As :meth:`Engine.accept_other`: a heartbeat, summary or status record. Counted in by type and source
        only with ``intake`` (the Kafka pipeline's validate stage counted it already)."""
        repeats = self.engine.counts.duplicates
        outcome = self.engine.accept_other(item, record)
        if self.engine.counts.duplicates > repeats:
            self.metrics.observe_duplicate()
            return outcome
        if outcome.rejection is None and self.intake:
            self.metrics.observe_telemetry(*kind_and_source(item))
        self.metrics.observe_outcome(None, outcome.rejection, outcome.events)
        if outcome.rejection is None and (self._latest_ts is None or item.ts > self._latest_ts):
            self._advance(item.ts)
        return outcome

    def close(self) -> list[Event]:
        events = self.engine.close()
        self.metrics.observe_events(events)
        self.refresh()
        return events

    def catch_up(self) -> None:
        """Publish the cells if a step closed since they were last published and ``refresh_every`` has passed
        (the stream workers call it every round, so the last steps of a burst are published too)."""
        if self._stale and self.clock() - self._refreshed_at >= self.refresh_every:
            self.refresh()

    def refresh(self) -> None:
        """Publish the anomalous cells and the whole centre as the engine holds them now."""
        self._stale = False
        self._refreshed_at = self.clock()
        anomalous, centre = self.engine.cell_readings()
        self.metrics.set_anomalous([_values(reading) for reading in anomalous])
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
            self._stale = True
            self.catch_up()
