"""The detection core as one object: contacts (and telemetry, and vendors' status records) in, incident events out.

    record ─► validate ─► order by event time ─► stitch ─► detectors ─► incident book ─► events
    (intake.py: a record's ``type`` says which contract it answers to)

Heartbeats and heartbeat summaries go to the silence detector (populations that went quiet, and single devices
that did: ``customer-notification`` events); vendors' status records go straight to the incident book. They are
ordered by event time with the contacts, through the same steps, so one input or several merged give the same
events.

``correlate replay`` feeds it a file; the stream workers feed it a Kafka topic. Both call :meth:`Engine.process`
for each record and :meth:`Engine.close` at the end, so both give the same incidents for the same contacts.

Contacts may arrive out of order by up to ``lateness`` seconds. They wait in per-step buckets until the
watermark (the stream's clock minus the lateness) has passed the step's end; then the step's contacts are
taken in (ts, contact_id, source) order, so arrival order inside the lateness never changes the result. A
contact for a step already closed is rejected as late, with the reason: nothing is dropped without a word.

The stream's clock is the median event time of the latest ``clock_quorum`` records, and never goes back: one
record with a wrong clock (a day ahead, or dated 2199) cannot move it, so it cannot make everyone else late. Such
a record waits in its step's bucket like any other; if the stream never reaches it, :meth:`Engine.close` rejects
it as ahead of the stream (:meth:`Engine.unreached`). A record more than ``max_clock_jump`` ahead of the clock is
rejected when it arrives.
"""

from __future__ import annotations

import gc
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar

from correlate.actions import Action, ActionBook, action_record
from correlate.config import Settings
from correlate.contracts import Contact, Rejection, format_time
from correlate.detectors.base import (
    Callers,
    CellReading,
    Detector,
    DeviceSilence,
    Expects,
    Finding,
    Implies,
    NotifiesDevices,
    ReadsCells,
    TakesTelemetry,
)
from correlate.detectors.rate import RateDetector
from correlate.detectors.registry import build_detectors
from correlate.detectors.silence import SilenceDetector
from correlate.events import CustomerNotification, Event
from correlate.incidents import IncidentBook
from correlate.intake import validate_record
from correlate.scope import Scope, covers
from correlate.stamps import Stamper
from correlate.status_feed import VendorStatus
from correlate.stitch import StitchedContact, Stitcher
from correlate.telemetry import HEARTBEAT, SUMMARY, Heartbeat, HeartbeatSummary
from correlate.vendors import VendorRegistry

__all__ = ["Counts", "Engine", "IdMemory", "Outcome", "rare_collections"]

_D = TypeVar("_D")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one record led to: its rejection (if any) and the incident events it released. Immutable, so that the
    outcome of most records (nothing: no step closed, no rejection) is one shared object, not one built each."""

    events: Sequence[Event] = ()
    rejection: Rejection | None = None


_NOTHING = Outcome()
_NONE: Mapping[str, Any] = {}  # the dimensions and extra fields of the contacts kept for the incident book: none


@dataclass
class Counts:
    """Running totals, for the summary line and for metrics. ``left_out``: dimension values left out of contacts'
    profiles because their dimension (or the names) had used its budget, by dimension name."""

    accepted: int = 0
    duplicates: int = 0
    telemetry: int = 0
    statuses: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    left_out: Counter[str] = field(default_factory=Counter)
    held: int = 0  # silence findings inside a scope whose devices announced standby (a maintenance)


class Engine:
    def __init__(self, settings: Settings | None = None, vendors: VendorRegistry | None = None) -> None:
        self.settings = settings = settings or Settings()
        self.detectors: list[Detector] = build_detectors(settings)
        # What else each detector does, found once by protocol: the engine knows no detector by name.
        self._implying = [d for d in self.detectors if isinstance(d, Implies)]
        self._expecting = [d for d in self.detectors if isinstance(d, Expects)]
        self._telemetry_readers = [d for d in self.detectors if isinstance(d, TakesTelemetry)]
        self._silence = self.detector(SilenceDetector)
        self._notifying = [d for d in self.detectors if isinstance(d, NotifiesDevices)]
        self.book = IncidentBook(
            vendors or VendorRegistry(),
            quiet_period=settings.quiet_period,
            update_interval=settings.update_interval,
            corroboration_p=settings.corroboration_p,
            corroboration_callers=settings.corroboration_callers,
        )
        self.stamper = Stamper(settings.severity_rules())
        self.actions = ActionBook(settings.dismiss_hold)
        self._actions: dict[int, list[Action]] = {}
        self.counts = Counts()
        self.stitcher = Stitcher(window=max(settings.windows), limits=settings, left_out=self.counts.left_out)
        self._buckets: dict[int, list[Contact]] = {}
        self._telemetry: dict[int, list[Heartbeat | HeartbeatSummary]] = {}
        self._statuses: dict[int, list[VendorStatus]] = {}
        self._next_step: int | None = None
        self._next_close = float("-inf")  # the watermark at which the next step closes
        self._latest_ts: float | None = None
        self._clock: float | None = None  # the stream's clock: see the module's docstring
        self._quorum = max(1, settings.clock_quorum)
        self._arrivals: deque[float] = deque(maxlen=self._quorum)
        self._unreached: list[Rejection] = []
        self._ids = IdMemory()
        self._recent: deque[StitchedContact] = deque()

    # -- detectors -----------------------------------------------------------------------------------------
    def detector(self, kind: type[_D]) -> _D | None:
        """The running detector of this class (None when the settings leave it out)."""
        return next((d for d in self.detectors if isinstance(d, kind)), None)

    @property
    def rate(self) -> RateDetector:
        """The rate detector (it always runs). For the cells a dashboard plots, :meth:`cell_readings` asks whichever
        detector reads them out."""
        found = self.detector(RateDetector)
        assert found is not None
        return found

    @property
    def silence(self) -> SilenceDetector | None:
        return self.detector(SilenceDetector)

    def cell_readings(self) -> tuple[list[CellReading], list[CellReading]]:
        """The cells a NOC dashboard plots: (elevated cells, most significant first; the whole centre), every window
        of each, from the first detector that reads them out (the rate detector)."""
        for detector in self.detectors:
            if isinstance(detector, ReadsCells):
                return detector.readings()
        return [], []

    # -- input ---------------------------------------------------------------------------------------------
    def process(self, record: object) -> Outcome:
        """Validate one decoded record, buffer it, and close every step the watermark has passed."""
        checked = validate_record(record, self.settings)
        if type(checked) is Contact:
            return self.accept(checked, record)
        if isinstance(checked, Rejection):
            return self._reject(checked)
        assert not isinstance(checked, Contact)
        return self.accept_other(checked, record)

    def accept_other(
        self, item: Heartbeat | HeartbeatSummary | VendorStatus | Action, record: object = None
    ) -> Outcome:
        """Take an already validated heartbeat, heartbeat summary, vendor status record or person's action."""
        if isinstance(item, HeartbeatSummary):
            summaries = self._ids.of(("summary", item.source))
            if item.summary_id in summaries:
                self.counts.duplicates += 1
                return Outcome()
        step = self._step_of(item.ts)
        shown = record if record is not None else {"ts": format_time(item.ts)}
        if self._next_step is not None and step < self._next_step:
            return self._reject(
                Rejection(
                    "ts",
                    f"late: {format_time(item.ts)} is before {format_time(self._next_step * self.settings.step)}, "
                    f"already scored (allowed lateness {self.settings.lateness:g} s)",
                    shown,
                )
            )
        if self._clock is not None and item.ts > self._clock + self.settings.max_clock_jump:
            return self._reject(self._too_far_ahead(item.ts, shown))
        if isinstance(item, Action):
            self._actions.setdefault(step, []).append(item)
        elif isinstance(item, VendorStatus):
            self.counts.statuses += 1
            self._statuses.setdefault(step, []).append(item)
        else:
            if isinstance(item, HeartbeatSummary):
                self._ids.add(item.ts, summaries, item.summary_id)
            self.counts.telemetry += 1
            self._telemetry.setdefault(step, []).append(item)
        return self._arrive(item.ts)

    def accept(self, contact: Contact, record: object = None) -> Outcome:
        """Take an already validated contact (the stream workers validate before partitioning)."""
        ids = self._ids
        seen = ids.by_source.get(contact.source)  # ids are unique per source, as the contract says
        if seen is None:
            seen = ids.of(contact.source)
        contact_id = contact.contact_id
        if contact_id in seen:
            # Checked first: a redelivered contact (at-least-once from Kafka) is a repeat, not a late arrival.
            self.counts.duplicates += 1
            return _NOTHING
        ts = contact.ts
        step = int(ts // self.settings.step)  # _step_of, inline: this runs for every contact
        if self._next_step is not None and step < self._next_step:
            return self._reject(
                Rejection(
                    "ts",
                    f"late: {format_time(contact.ts)} is before {format_time(self._next_step * self.settings.step)}, "
                    f"already scored (allowed lateness {self.settings.lateness:g} s)",
                    record if record is not None else _as_record(contact),
                )
            )
        if self._clock is not None and ts > self._clock + self.settings.max_clock_jump:
            return self._reject(self._too_far_ahead(ts, record if record is not None else _as_record(contact)))
        ids.add(ts, seen, contact_id)
        self.counts.accepted += 1
        bucket = self._buckets.get(step)
        if bucket is None:
            bucket = self._buckets[step] = []
        bucket.append(contact)
        return self._arrive(ts)

    def _arrive(self, ts: float) -> Outcome:
        """Move the stream's clock for a record just taken in, and close every step its watermark has passed."""
        arrivals = self._arrivals
        arrivals.append(ts)
        if self._latest_ts is None or ts > self._latest_ts:
            self._latest_ts = ts
        clock = self._clock
        # A record at or behind the clock cannot lift the median above it; until a quorum has arrived, nothing can.
        if (clock is not None and ts <= clock) or len(arrivals) < self._quorum:
            return _NOTHING
        median = sorted(arrivals)[len(arrivals) // 2]
        if clock is not None and median <= clock:
            return _NOTHING
        self._clock = median
        watermark = median - self.settings.lateness
        if watermark >= self._next_close:  # most records close no step: skip the bookkeeping
            return Outcome(events=self._advance(watermark))
        return _NOTHING

    def close(self) -> list[Event]:
        """End of input: score every step up to the last record the stream's clock vouches for. Records further
        ahead than the lateness were never reached by the stream: :meth:`unreached` has them, rejected."""
        if self._latest_ts is None:
            return []
        arrivals = sorted(self._arrivals)
        clock = max(self._clock or arrivals[len(arrivals) // 2], arrivals[len(arrivals) // 2])
        end = min(self._latest_ts, clock + self.settings.lateness)
        events = self._advance(end + self.settings.step)
        lateness = self.settings.lateness
        self._reject_held(
            lambda step: False,
            lambda ts: (
                f"ahead of the stream: {format_time(ts)} is past where the stream ended ({format_time(clock)}) "
                f"by more than the allowed lateness ({lateness:g} s); a wrong clock?"
            ),
        )
        return events

    def unreached(self) -> list[Rejection]:
        """Records taken in and then found on the wrong side of the stream, each with the reason (then forgotten):
        far behind it when its clock first started, or, at :meth:`close`, still waiting ahead of it."""
        rejected, self._unreached = self._unreached, []
        return rejected

    def _reject_held(self, keep: Callable[[int], bool], reason: Callable[[float], str]) -> None:
        """Reject every record waiting in a step that ``keep`` refuses, with ``reason(ts)``: it was counted in when
        it arrived, so it is counted out again, and :meth:`unreached` has its rejection."""
        counts = self.counts
        waiting: list[tuple[float, object]] = []
        for step in [step for step in self._buckets if not keep(step)]:
            bucket = self._buckets.pop(step)
            waiting.extend((contact.ts, _as_record(contact)) for contact in bucket)
            counts.accepted -= len(bucket)
        for step in [step for step in self._telemetry if not keep(step)]:
            items = self._telemetry.pop(step)
            waiting.extend((item.ts, {"ts": format_time(item.ts), "type": _telemetry_type(item)}) for item in items)
            counts.telemetry -= len(items)
        for step in [step for step in self._statuses if not keep(step)]:
            statuses = self._statuses.pop(step)
            waiting.extend((item.ts, {"ts": format_time(item.ts), "vendor": item.vendor}) for item in statuses)
            counts.statuses -= len(statuses)
        for step in [step for step in self._actions if not keep(step)]:
            waiting.extend((item.ts, action_record(item)) for item in self._actions.pop(step))
        for ts, shown in sorted(waiting, key=lambda pair: pair[0]):
            counts.rejected["ts"] += 1
            self._unreached.append(Rejection("ts", reason(ts), shown))

    def _too_far_ahead(self, ts: float, shown: object) -> Rejection:
        assert self._clock is not None
        return Rejection(
            "ts",
            f"{format_time(ts)} is more than max_clock_jump ({self.settings.max_clock_jump:g} s) ahead of the "
            f"stream's clock ({format_time(self._clock)}): a wrong clock?",
            shown,
        )

    # -- steps ---------------------------------------------------------------------------------------------
    def _advance(self, watermark: float) -> list[Event]:
        if self._next_step is None:
            # The first steps to score: from one lateness before the earliest record waiting, unless that record is
            # more than max_clock_jump behind the clock the stream has now (a clock set to 1970): it is rejected,
            # rather than have decades of empty steps scored.
            jump = self.settings.max_clock_jump
            floor = self._step_of(watermark - jump)
            self._reject_held(
                lambda step: step >= floor,
                lambda ts: (
                    f"behind the stream: {format_time(ts)} is more than max_clock_jump ({jump:g} s) before "
                    f"the stream's clock ({format_time(watermark + self.settings.lateness)}): a wrong clock?"
                ),
            )
            pending = [*self._buckets, *self._telemetry, *self._statuses, *self._actions]
            if not pending:
                return []
            self._next_step = self._step_of(min(pending) * self.settings.step - self.settings.lateness)
        step_seconds = self.settings.step
        events: list[Event] = []
        while (self._next_step + 1) * step_seconds <= watermark:
            events.extend(self._close_step(self._next_step))
            self._next_step += 1
        self._next_close = (self._next_step + 1) * step_seconds
        self._ids.forget(watermark - self.settings.dedup_horizon)
        return events

    def _close_step(self, step: int) -> list[Event]:
        step_end = (step + 1) * self.settings.step
        contacts = sorted(self._buckets.pop(step, ()), key=_contact_order)
        stitched = [self.stitcher.stitch(contact) for contact in contacts]
        for detector in self.detectors:
            for item in stitched:
                detector.observe(item)
        self._remember(stitched, step_end)
        telemetry = self._telemetry.pop(step, None)
        if telemetry is not None and self._telemetry_readers:
            profile = self.stitcher.profile
            for beat in sorted(telemetry, key=_telemetry_order):
                beat_profile = profile(beat.dimensions)
                for reader in self._telemetry_readers:
                    reader.observe_telemetry(beat, beat_profile)
        findings: list[Finding] = []
        for detector in self.detectors:
            findings.extend(detector.close_step(step_end))
        statuses = sorted(self._statuses.pop(step, ()), key=lambda s: (s.ts, s.vendor, s.status_id, s.status))
        # People's actions first (at their own times, inside the step), then the detection, marked by them.
        acted, refused = self.actions.take(self._actions.pop(step, ()), lambda done: self.book.open.pop(done, None))
        if refused:
            self._unreached.extend(refused)
            self.counts.rejected["action"] += len(refused)
        events: list[Event] = [*acted]
        found = self.book.step(
            step_end,
            findings,
            stitched,
            self._recent,
            self._still_elevated,
            self._implied,
            statuses,
            self._expected_in,
            self._callers,
            self.rate.test_of,
        )
        if self._silence is not None:
            self.counts.held += len(self._silence.held)
        events += self.actions.mark(step_end, found)
        for notifying in self._notifying:
            events.extend(self._notification(quiet) for quiet in notifying.notifications)
        events = self.stamper.stamp(events)
        for event in events:
            self.counts.events[event.event.value] += 1
        return events

    def _notification(self, quiet: DeviceSilence) -> CustomerNotification:
        """The alert a monitored device's customer expected: it stopped reporting. Names the open incident that
        covers the device, if any, so that the message can say it is a known, wider fault."""
        covering = sorted(
            (incident.opened_at, incident_id)
            for incident_id, incident in self.book.open.items()
            if incident.scope and covers(incident.scope, quiet.profile)
        )
        silent = quiet.at - quiet.last_seen
        return CustomerNotification(
            device_id=quiet.device_id,
            customer_id=quiet.customer_id,
            at=format_time(quiet.at),
            last_seen_at=format_time(quiet.last_seen),
            silent_minutes=round(silent / 60.0, 1),
            usual_gap_minutes=round(quiet.usual_gap / 60.0, 2),
            dimensions=dict(quiet.profile),
            related_incident=covering[0][1] if covering else None,
            summary=(
                f"device {quiet.device_id} has not reported for {silent / 60.0:.0f} min; it usually reports every "
                f"{quiet.usual_gap / 60.0:.1f} min"
            ),
        )

    def _remember(self, stitched: Iterable[StitchedContact], now: float) -> None:
        """Keep the step's contacts for the incident book's scans (evidence, explaining away) over the longest
        window. It reads their profile and the contact's time, customer, channel, source, category, text and
        count, never its raw dimensions or extra fields: those, a dict and a string per value, are most of a
        contact's memory, so the copy kept leaves them out (an hour of contacts at 400,000 a day)."""
        recent = self._recent
        keep = recent.append
        for item in stitched:
            c = item.contact
            kept = Contact(
                c.contact_id, c.ts, c.channel, c.customer_id, c.source, _NONE, c.category, c.text, c.count, _NONE
            )
            keep(StitchedContact(kept, item.profile, item.reporters))
        horizon = now - max(self.settings.windows)
        while recent and recent[0].contact.ts < horizon:
            recent.popleft()

    def _implied(self, scope: Scope) -> Scope:
        """Values the scope implies, as the contacts and the heartbeats have taught: a model its brand, a firmware
        its model (heartbeats alone carry firmware). An earlier detector's answer for a dimension stands."""
        implied: Scope = ()
        for detector in self._implying:
            if not detector.learned_implications:
                continue  # no telemetry: exactly the contacts' answer, at the contacts' cost
            more = detector.implied(scope)
            if not more:
                continue
            if not implied:
                implied = more
                continue
            names = {name for name, _ in implied}
            implied = tuple(sorted({*implied, *(pair for pair in more if pair[0] not in names)}))
        return implied

    def _expected_in(self, scope: Scope, window: float) -> float | None:
        for detector in self._expecting:
            found = detector.expected_in(scope, window)
            if found is not None:
                return found
        return None

    def _callers(self, scope: Scope) -> Callers | None:
        return self._silence.callers(scope) if self._silence is not None else None

    def _still_elevated(self, scope: Scope) -> bool:
        return any(detector.is_elevated(scope) for detector in self.detectors)

    def _step_of(self, ts: float) -> int:
        return int(ts // self.settings.step)

    def _reject(self, rejection: Rejection) -> Outcome:
        self.counts.rejected[rejection.field or "record"] += 1
        return Outcome(rejection=rejection)


class IdMemory:
    """The ids taken in within the dedup horizon, to drop repeats: a set of ids per source (contacts: the source's
    name; heartbeat summaries: ``("summary", source)``), and the order they arrived in, to forget them by.

    Held for a day at hundreds of thousands of contacts a day, so kept compact: an id is its own string in its
    source's set (no tuple per id), and the arrival order is three flat columns (event time as a C double, the id,
    its set) read from a moving head, instead of a (time, key) tuple per id. ``forget`` drops ids from the oldest
    arrival while it is older than the horizon (ids arrive in near event-time order), as a queue would.
    """

    __slots__ = ("_head", "_id", "_set", "_ts", "by_source")

    def __init__(self) -> None:
        self.by_source: dict[object, set[str]] = {}
        self._ts = array("d")
        self._id: list[str | None] = []
        self._set: list[set[str]] = []
        self._head = 0  # the oldest arrival not yet forgotten; the columns before it are dropped in bulk

    def of(self, source: object) -> set[str]:
        """The ids seen of ``source`` (an empty set, now kept, for a source not seen before)."""
        seen = self.by_source.get(source)
        if seen is None:
            seen = self.by_source[source] = set()
        return seen

    def add(self, ts: float, seen: set[str], name: str) -> None:
        seen.add(name)
        self._ts.append(ts)
        self._id.append(name)
        self._set.append(seen)

    def forget(self, horizon: float) -> None:
        """Drop remembered ids that arrived before the first one at or after ``horizon``."""
        times, names, sets, head = self._ts, self._id, self._set, self._head
        end = len(times)
        while head < end and times[head] < horizon:
            sets[head].discard(names[head])
            names[head] = None  # the string goes now, its slot when the columns are cut
            head += 1
        if head > 4096 and 2 * head > end:  # cut in bulk: each arrival is moved at most once on average
            del times[:head], names[:head], sets[:head]
            head = 0
        self._head = head

    def __len__(self) -> int:
        return len(self._ts) - self._head


# A step's contacts are taken in (ts, contact_id, source) order; attrgetter builds the key in C, a lambda in Python.
_contact_order = attrgetter("ts", "contact_id", "source")


def _telemetry_type(item: Heartbeat | HeartbeatSummary) -> str:
    return HEARTBEAT if isinstance(item, Heartbeat) else SUMMARY


def _telemetry_order(item: Heartbeat | HeartbeatSummary) -> tuple[float, str, str]:
    if isinstance(item, Heartbeat):
        return (item.ts, "heartbeat", item.device_id)
    return (item.ts, "summary", item.summary_id)


def _as_record(contact: Contact) -> dict[str, Any]:
    return {
        "contact_id": contact.contact_id,
        "ts": format_time(contact.ts),
        "channel": contact.channel,
        "customer_id": contact.customer_id,
        "source": contact.source,
        "dimensions": dict(contact.dimensions),
    }


@contextmanager
def rare_collections(young: int = 100_000) -> Iterator[None]:
    """Run the garbage collector's youngest generation every ``young`` allocations instead of every 700.

    The engine builds a few small objects per contact and keeps hours of them (ids, journeys, windows); with the
    default threshold the collector walks them tens of thousands of times per replay and finds nothing (the core
    makes no reference cycles), a tenth of the replay's time. Reference counting frees everything else as before.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(young, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
