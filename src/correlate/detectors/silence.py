"""The silence detector: faults nobody has called about yet, seen in the heartbeats that stopped coming.

Two questions, one per scale:

*Has a population gone quiet?* Healthy heartbeats (and the devices a partner's summary says reported) are
counted per cell of the dimension lattice in sliding windows, and compared with the cell's seasonal baseline —
the same :class:`~correlate.detectors.baseline.SeasonalBaseline` as contacts use, so a fleet of set-top boxes
that sleeps at night is expected to be quieter at night. The test is the negative binomial's *lower* tail, with a
false-alarm budget split over every cell and window tested, and a finding also needs a real shortfall (at least
``min_deficit`` of the expected heartbeats missing): with thousands of heartbeats a minute a 3% dip is
"significant" and means nothing. Attribution is the rate detector's, mirrored (``Attribution(lower=True)``): the
most general scope that explains the shortfall — a region that went dark is the region, not each of its brands.
The root is a parent here: when every feed goes quiet at once, that is one finding on everything.

*Has one monitored device gone quiet?* Each device's usual gap between heartbeats is learned from its own
history (an exponentially weighted mean of its gaps, each gap capped so that one outage does not teach it that
outages are normal). A device not heard from for ``device_quiet_factor`` usual gaps (more if it often loses a
heartbeat: see ``_allowed_gap``), once it has shown at least ``device_min_gaps`` of them, is reported once per
silence as a :class:`DeviceSilence`: the alert its customer expected to get. A device that announces ``standby``
is not waited for until it reports again, or until the time it said it would be back (``until``).

*Standby is not silence.* A device in standby stands in for the heartbeats it would have sent (at its own usual
rate) until it reports again or its ``until`` passes, so a region whose devices all announced a planned
maintenance does not look dark. A partner that only sends counts cannot say so; its populations inside a scope
where most monitored devices announced standby (:data:`ANNOUNCED_SHARE`) are held, not reported: a finding there
is kept in ``held`` instead.

*The feed is a dimension.* Each heartbeat's ``source`` (the partner that relays it) is one of its values, so the
heartbeats of one partner's gateway that went down in a region are one silence on that partner and region, not one
per brand.

*Who called about it.* A silence knows the customers whose devices went quiet (:meth:`SilenceDetector.callers`):
the contacts that belong to it are theirs, made after the silence began, and a few of them calling is tested
against how often device owners call on an ordinary day.

Like every detector it scores a step before it learns from it, and everything is a function of event time.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

import numpy as np
from scipy.special import pdtrc

from correlate.detectors.attribution import Attribution, WindowCounts, findings_per_cause
from correlate.detectors.base import Callers, DeviceSilence, Finding
from correlate.detectors.cells import DAY, CellWindows
from correlate.detectors.lattice import Lattice
from correlate.detectors.tail import negbin_cdf, per_test_threshold
from correlate.scope import Scope, contains, covers
from correlate.stitch import Profile, StitchedContact
from correlate.telemetry import Heartbeat, HeartbeatSummary

if TYPE_CHECKING:
    from correlate.config import Settings

__all__ = ["ANNOUNCED_SHARE", "SOURCE", "DeviceSilence", "SilenceDetector"]

# Kinds of count kept per cell: healthy heartbeats (and devices summaries say reported), and their expectation.
_KINDS = ("observed", "expected")
_OBSERVED, _EXPECTED = range(len(_KINDS))
# A cell that learns during a silence takes in only this share of its shortfall.
_DEFICIT_LEARNING_RATE = 0.1
# Learning rate of a device's usual gap (about the last ten gaps count).
_GAP_LEARNING_RATE = 0.1
# How many false "your device is offline" alerts one device may cost its customer: one a year. A device that
# often loses a heartbeat (a weak link) is therefore waited for longer than one that never does.
_FALSE_ALERTS_PER_DEVICE_DAY = 1.0 / 365.0
# A gap this much longer than usual is a lost heartbeat; its rate is learned per device (slowly: ~1000 gaps),
# starting from a prior of 1% worth 50 gaps.
_LOST = 1.5
_LOSS_DECAY, _LOSS_PRIOR, _LOSS_PRIOR_GAPS = 0.999, 0.01, 50.0
# A device forgotten after this long without a heartbeat (its silence, if any, was reported long before).
_FORGET_DEVICE = 7 * DAY
# The dimension that names the partner feed a heartbeat came by.
SOURCE = "source"
# A scope where at least this share of the monitored devices announced standby is under announced maintenance.
ANNOUNCED_SHARE = 0.75
# A silence began after the time by which this share of its quiet devices had last been heard: robust to the
# odd device that happened to miss one heartbeat just before the look.
_ONSET_QUANTILE = 0.9
# Before device owners' own calls are known, they are taken to call once a month each, worth 100 owner-days.
_OWNER_CALLS_PRIOR, _OWNER_DAYS_PRIOR = 100.0 / 30.0, 100.0


@dataclass(slots=True)
class _Device:
    customer_id: str
    profile: Profile
    last_seen: float
    usual_gap: float = 0.0
    gaps: int = 0
    lost: float = 0.0  # gaps that lost a heartbeat, decayed
    counted: float = 0.0  # gaps, decayed
    notified: bool = False
    standby: bool = False
    until: float | None = None  # when a device in standby said it would be back
    standing_in: float = 0.0  # heartbeats per step it stands in for while in standby


class SilenceDetector:
    """Finds populations whose heartbeats fall well below their baseline, and single devices gone quiet.

    Settings (constructor arguments, kept under the same names):
      step, windows (seconds; heartbeats are counted in each), warmup (history before any test, and before a new
      cell is tested), false_alarms_per_day (over every cell and window tested), min_deficit (least share of
      expected heartbeats missing), elevated_p (a cell still counts as silent below it), attribution_ratio,
      max_depth, dimensions, level_half_life (as for the rate detector); min_devices (a population is at least
      this many devices gone quiet: fewer are single devices, each notified on its own); device_quiet_factor and
      device_min_gaps (single devices, see the module docstring).
    """

    kind = "silence"

    def __init__(
        self,
        *,
        step: float = 60.0,
        windows: Sequence[float] = (600.0, 2400.0),
        warmup: float = DAY,
        false_alarms_per_day: float = 0.05,
        min_deficit: float = 0.3,
        elevated_p: float = 1e-3,
        attribution_ratio: float = 1.5,
        max_depth: int = 2,
        dimensions: Sequence[str] | None = None,
        level_half_life: float = DAY,
        device_quiet_factor: float = 3.0,
        device_min_gaps: int = 5,
        min_devices: int = 3,
    ) -> None:
        self.step = step
        self.windows = tuple(windows)
        self.warmup = warmup
        self.false_alarms_per_day = false_alarms_per_day
        self.min_deficit = min_deficit
        self.elevated_p = elevated_p
        self.attribution_ratio = attribution_ratio
        self.max_depth = max_depth
        self.dimensions = dimensions
        self.level_half_life = level_half_life
        self.device_quiet_factor = device_quiet_factor
        self.device_min_gaps = device_min_gaps
        self.min_devices = min_devices
        if dimensions is not None and SOURCE not in dimensions:
            dimensions = (*dimensions, SOURCE)

        self._this_step: dict[Profile, float] = defaultdict(float)
        # Summaries spread their devices over the steps of their period: (last step, per step, profile).
        self._spread: list[tuple[int, float, Profile]] = []
        self._devices: dict[str, _Device] = {}
        # How many devices each profile holds: monitored devices by id, and the latest count of each summary.
        self._device_profiles: dict[Profile, float] = defaultdict(float)
        self._members: dict[Profile, set[str]] = defaultdict(set)  # the monitored devices of each profile
        self._summarised: dict[Profile, float] = {}
        self._deadlines: list[tuple[float, str, float]] = []  # (deadline, device, last_seen when set)
        self.notifications: list[DeviceSilence] = []
        self._arrived: list[tuple[Heartbeat | HeartbeatSummary, Profile]] = []  # this step's, as they came
        # Devices in standby, per profile: how many, and the heartbeats per step they stand in for.
        self._asleep: dict[Profile, int] = defaultdict(int)
        self._standing_in: dict[Profile, float] = defaultdict(float)
        # Device owners: how many devices each has, when each last contacted us, and how often owners call
        # (contacts and owner-seconds, fading over a day).
        self._owned: dict[str, int] = defaultdict(int)
        self._called: dict[str, float] = {}
        self._owner_calls, self._owner_seconds = 0.0, 0.0
        self._calls_this_step = 0
        self.held: list[Finding] = []  # this step's findings inside a scope under announced standby
        self._announced: dict[Scope, float] = {}  # scope -> last time it was under announced maintenance
        self._announced_now: set[Scope] = set()
        self._asleep_changed = False
        self._summary_asleep: dict[Profile, int] = {}  # devices in standby, by the latest summary of each profile
        self._cells = CellWindows(
            step=step,
            windows=self.windows,
            warmup=warmup,
            kinds=_KINDS,
            elevated_p=elevated_p,
            max_depth=max_depth,
            dimensions=dimensions,
            level_half_life=level_half_life,
        )
        self._baseline = self._cells.baseline

    @classmethod
    def runs_with(cls, settings: Settings) -> bool:
        return settings.silence

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The silence detector as configured: its windows are ``silence_window`` and four times that."""
        return cls(
            step=settings.step,
            windows=(settings.silence_window, 4 * settings.silence_window),
            warmup=settings.warmup,
            false_alarms_per_day=settings.silence_false_alarms_per_day,
            min_deficit=settings.silence_min_deficit,
            elevated_p=settings.elevated_p,
            attribution_ratio=settings.attribution_ratio,
            max_depth=settings.max_depth,
            dimensions=settings.dimensions,
            level_half_life=settings.level_half_life,
            device_quiet_factor=settings.device_quiet_factor,
            device_min_gaps=settings.device_min_gaps,
            min_devices=settings.silence_min_devices,
        )

    @property
    def lattice(self) -> Lattice:
        return self._cells.lattice

    # -- Detector protocol ---------------------------------------------------------------------------------
    def observe(self, contact: StitchedContact) -> None:
        """Contacts are not heartbeats; the detector only notes when device owners get in touch."""
        customer = contact.contact.customer_id
        if customer in self._owned:
            self._called[customer] = max(contact.contact.ts, self._called.get(customer, contact.contact.ts))
            self._calls_this_step += 1

    def observe_telemetry(self, record: Heartbeat | HeartbeatSummary, profile: Profile) -> None:
        """See one heartbeat or summary of the current step (``profile``: its canonical dimension values). They are
        taken in when the step closes, in (ts, kind, id) order: a device that reports twice in a step learns its gap
        from them in time order, and fractional counts add up in one order, however they arrived. The record's
        ``source`` joins its profile, unless its dimensions already name one."""
        if not any(name == SOURCE for name, _ in profile):
            profile = tuple(sorted((*profile, (SOURCE, record.source))))
        self._arrived.append((record, profile))

    def _take_in(self, record: Heartbeat | HeartbeatSummary, profile: Profile) -> None:
        """Count one heartbeat or summary of the current step."""
        if isinstance(record, HeartbeatSummary):
            # A summary counts when it arrives if every window holds a whole number of its periods (one every
            # ten minutes, counted in ten-minute windows); otherwise it is spread over the steps of one period,
            # so that a window never catches one summary more or less than the next.
            # The population a summary stands for is the most it counted lately (fading over a day), not its
            # latest count: that is zero exactly when the population has gone quiet.
            # Devices it says are in standby are present, as a monitored device in standby is.
            present = record.devices + record.standby
            fading = 0.5 ** (record.period / DAY) * self._summarised.get(profile, 0.0)
            self._summarised[profile] = max(fading, float(present))
            if record.standby != self._summary_asleep.get(profile, 0):
                self._asleep_changed = True
                if record.standby:
                    self._summary_asleep[profile] = record.standby
                else:
                    del self._summary_asleep[profile]
            steps = max(1, round(record.period / self.step))
            if steps == 1 or all(round(w / self.step) % steps == 0 for w in self.windows):
                self._this_step[profile] += present
            else:
                step = int(record.ts // self.step)
                self._spread.append((step + steps - 1, present / steps, profile))
            return
        if self._device_heard(record, profile):
            self._this_step[profile] += record.devices
        else:
            self._this_step.setdefault(profile, 0.0)  # the cell exists even when nothing healthy came

    def close_step(self, step_end: float) -> list[Finding]:
        if self._arrived:
            arrived, self._arrived = sorted(self._arrived, key=_arrival_order), []
            for record, profile in arrived:
                self._take_in(record, profile)
        cells = self._cells
        cells.begin_step(step_end)
        self._count_owner_calls()
        self.notifications = self._quiet_devices(step_end)
        self._note_announced(step_end)
        self.held = []
        if not cells.started(bool(self._this_step or self._spread)):
            return []  # no telemetry yet: nothing to learn, nothing to test
        step_counts = self._take_counts()
        n = len(self.lattice)
        counts = step_counts[_OBSERVED, :n]
        expected = step_counts[_EXPECTED, :n] = cells.expected()
        cells.slide(step_counts)
        warmed = cells.warmed_up()
        findings = self._score(step_end, n) if warmed else []
        unusual = cells.last_p[:n] < self.elevated_p
        learned = np.where(unusual, expected + _DEFICIT_LEARNING_RATE * (counts - expected), counts)
        # The baseline caps what it learns from a step at a few deviations above what it expected, which keeps a
        # burst of contacts from teaching it that bursts are normal. Heartbeats are the other way round: more of
        # them is no fault, and thousands a minute from a level that starts at zero would take days to learn.
        # So the cap is lifted to the count itself; a shortfall is what is damped (above).
        ceiling = np.maximum(expected, learned)
        self._baseline.learn(cells.hour, cells.weekday, learned, ceiling, np.zeros(n, dtype=bool), learn_weekday=warmed)
        if cells.dispersion_due():
            sums = cells.sums[cells.shortest]
            cells.learn_dispersion(sums[_OBSERVED, :n], sums[_EXPECTED, :n], self._baseline.dispersion())
        return findings

    @property
    def learned_implications(self) -> bool:
        return self._cells.learned_implications

    def implied(self, scope: Scope) -> Scope:
        """Values every heartbeat of the scope carries, as learned: a firmware implies its model and brand. The
        feed is left out: contacts carry no feed, and a brand that one partner relays is still the brand's."""
        return tuple(pair for pair in self._cells.implied(scope) if pair[0] != SOURCE)

    def is_elevated(self, scope: Scope) -> bool:
        """Whether the scope is still well below its usual heartbeats (a silence on it is not over)."""
        return self._cells.is_elevated(scope)

    def callers(self, scope: Scope) -> Callers | None:
        """The customers of the monitored devices in ``scope`` that are quiet now (each has missed at least one
        heartbeat, and none is in standby), and those of them who got in touch since the silence began. A
        population known only by a partner's counts has no known customers: then only when it began (see
        :meth:`_shortfall_began`), or None if the scope is no cell."""
        now = self._cells.step_start + self.step
        last_seen: list[float] = []
        quiet: set[str] = set()
        for profile, members in self._members.items():
            if not covers(scope, profile):
                continue
            for device_id in members:
                device = self._devices[device_id]
                if device.standby or not device.gaps or now - device.last_seen <= _LOST * device.usual_gap:
                    continue
                last_seen.append(device.last_seen)
                quiet.add(device.customer_id)
        if not quiet:
            began = self._shortfall_began(scope)
            return None if began is None else Callers(began, frozenset(), frozenset(), 0.0, 1.0)
        onset = float(np.quantile(last_seen, _ONSET_QUANTILE, method="lower"))
        called = frozenset(c for c in quiet if self._called.get(c, -math.inf) > onset)
        per_owner_second = (self._owner_calls + _OWNER_CALLS_PRIOR) / (self._owner_seconds + _OWNER_DAYS_PRIOR * DAY)
        expected = per_owner_second * len(quiet) * max(now - onset, self.step)
        p_value = float(pdtrc(len(called) - 1.0, expected)) if called else 1.0
        return Callers(onset, frozenset(quiet), called, expected, p_value)

    def _shortfall_began(self, scope: Scope) -> float | None:
        """When the scope's shortfall began, within the longest window: the start of the run of steps whose
        missing heartbeats add up to the most beyond half the least shortfall a finding needs (the change point
        of a drop in level, as a CUSUM with that reference value finds it: a baseline a little high before the
        fault does not pull the start earlier)."""
        cells = self._cells
        cell = self.lattice.index.get(tuple(sorted(scope)))
        if cell is None:
            return None
        newest = cells.step_number
        steps = np.arange(newest, newest - cells.ring_length, -1)
        rows = cells.ring[steps % cells.ring_length, :, cell]
        expected = rows[:, _EXPECTED]
        missing = np.cumsum(expected - rows[:, _OBSERVED] - 0.5 * self.min_deficit * expected)
        return float(steps[int(np.argmax(missing))]) * self.step

    def _count_owner_calls(self) -> None:
        """How often device owners get in touch on an ordinary day (fading over a day): the calls that a silence's
        customers make are tested against it."""
        fading = 0.5 ** (self.step / DAY)
        self._owner_calls = fading * self._owner_calls + self._calls_this_step
        self._owner_seconds = fading * self._owner_seconds + len(self._owned) * self.step
        self._calls_this_step = 0

    # -- counting ------------------------------------------------------------------------------------------
    def _take_counts(self) -> np.ndarray:
        """This step's counts per kind (rows, in ``_KINDS`` order) and cell, for every cell there is room for; the
        expected row is left at 0."""
        step = self._cells.step_number
        for _last, per_step, profile in self._spread:
            self._this_step[profile] += per_step
        for profile, per_step in self._standing_in.items():
            self._this_step[profile] += per_step
        self._spread = [item for item in self._spread if item[0] > step]
        tallies = [(self.lattice.cells_of(profile), value) for profile, value in self._this_step.items()]
        counts = self._cells.empty_counts()  # after cells_of, which creates new cells
        observed = counts[_OBSERVED]
        for cells, value in tallies:
            observed[cells] += value
        self._this_step.clear()
        return counts

    # -- scoring -------------------------------------------------------------------------------------------
    def _score(self, step_end: float, n: int) -> list[Finding]:
        sums = self._cells.sums
        observed, expected = sums[:, _OBSERVED, :n], sums[:, _EXPECTED, :n]
        dispersion = self._baseline.dispersion()
        # A window that is not yet full for a young cell would look short: only cells past their warm-up.
        testable = self._cells.old_enough(n)[None, :]
        # A cell whose whole window could not show a significant shortfall spends none of the budget.
        able = testable & (expected >= 1.0)
        tested = int(able.sum())
        threshold = per_test_threshold(self.false_alarms_per_day, tested * DAY / self.step)
        p_value = np.ones_like(observed)
        short = able & (observed <= (1.0 - self.min_deficit) * expected)
        below = able & (observed < expected)
        if below.any():
            rows, cells = np.nonzero(below)
            p_value[rows, cells] = negbin_cdf(observed[rows, cells], expected[rows, cells], dispersion[cells])
        self._cells.last_p[:n] = p_value.min(axis=0)
        best: dict[int, tuple[float, int]] = {}
        found = short & (p_value < threshold)
        if found.any():
            # A population, not a device or two: the shortfall must stand for at least min_devices devices.
            missing = (1.0 - observed / np.maximum(expected, 1e-9)) * self._population(n)[None, :]
            short &= missing >= self.min_devices
            found &= short
        for w in np.flatnonzero(found.any(axis=1)):
            counts = WindowCounts(observed[w], expected[w], observed[w], expected[w], dispersion, p_value[w])
            elevated = np.flatnonzero(p_value[w] < self.elevated_p)
            attribution = Attribution(
                self.lattice, counts, elevated, self.elevated_p, self.attribution_ratio, lower=True, root_parent=True
            )
            significant = np.flatnonzero(found[w])
            for cause, p in attribution.causes(significant).items():
                # The scope blamed must itself be well short: a brand that went dark in one region leaves the
                # brand's other regions, and everything, only a little short.
                if not short[w, cause]:
                    continue
                if cause not in best or p < best[cause][0]:
                    best[cause] = (p, int(w))
        findings = findings_per_cause(
            self.kind, self.lattice, best, step_end, observed, expected, threshold, tested, self.windows
        )
        if not findings or not self._announced:
            return findings
        # A window that saw the maintenance still falls short for a while after it ended.
        since = step_end - max(self.windows)
        announced = [scope for scope, at in self._announced.items() if at >= since]
        self.held = [f for f in findings if any(contains(scope, f.scope) for scope in announced)]
        return [f for f in findings if f not in self.held]

    def _note_announced(self, now: float) -> None:
        """Remember when each scope was last under announced maintenance (recomputed only when a device went to
        standby or came back), and forget what no window can see any more."""
        if self._asleep_changed:
            self._asleep_changed = False
            for scope in self._announced_scopes() if self._asleep or self._summary_asleep else ():
                self._announced[scope] = now
            self._announced_now = {s for s, at in self._announced.items() if at == now}
        for scope in self._announced_now:
            self._announced[scope] = now
        horizon = now - max(self.windows)
        for scope in [scope for scope, at in self._announced.items() if at < horizon]:
            del self._announced[scope]

    def _announced_scopes(self) -> list[Scope]:
        """Scopes under announced maintenance: at least ``min_devices`` devices, and at least
        :data:`ANNOUNCED_SHARE` of them, said they were going to standby, among the monitored devices or among
        a partner's counts (each feed judged on its own: one that never speaks of standby cannot outvote one
        that does)."""
        announced = np.zeros(len(self.lattice), dtype=bool)
        for sleeping, populations in ((self._asleep, self._device_profiles), (self._summary_asleep, self._summarised)):
            if not sleeping:
                continue
            # Cells first: a profile not seen in a cell yet adds cells to the lattice.
            sleepers = [(self.lattice.cells_of(profile), devices) for profile, devices in sleeping.items()]
            counted = [(self.lattice.cells_of(profile), count) for profile, count in populations.items() if count]
            asleep, present = np.zeros(len(self.lattice)), np.zeros(len(self.lattice))
            for cells, devices in sleepers:
                asleep[cells] += devices
            for cells, count in counted:
                present[cells] += count
            found = (asleep >= self.min_devices) & (asleep >= ANNOUNCED_SHARE * present)
            announced = np.pad(announced, (0, len(found) - len(announced))) | found
        return [self.lattice.scopes[int(cell)] for cell in np.flatnonzero(announced)]

    def _population(self, n: int) -> np.ndarray:
        """Devices per cell: the monitored devices known, plus what each population's latest summary counted."""
        population = np.zeros(len(self.lattice))
        for profiles in (self._device_profiles, self._summarised):
            for profile, devices in profiles.items():
                if devices:
                    population[self.lattice.cells_of(profile)] += devices
        return population[:n]

    # -- single devices ------------------------------------------------------------------------------------
    def _device_heard(self, beat: Heartbeat, profile: Profile) -> bool:
        """Note a device's heartbeat; False for a repeat of one already seen (same device, same time)."""
        device = self._devices.get(beat.device_id)
        if device is None:
            self._devices[beat.device_id] = device = _Device(beat.customer_id, profile, beat.ts)
            self._device_profiles[profile] += 1
            self._members[profile].add(beat.device_id)
            self._owned[beat.customer_id] += 1
        elif beat.ts <= device.last_seen:
            return beat.ts < device.last_seen  # an older one, late but new; the same one again is a repeat
        else:
            self._wake(device)
            gap = beat.ts - device.last_seen
            if not device.standby:
                if device.gaps == 0:
                    device.usual_gap = gap
                else:
                    device.lost = _LOSS_DECAY * device.lost + (gap > _LOST * device.usual_gap)
                    device.counted = _LOSS_DECAY * device.counted + 1.0
                    capped = min(gap, self.device_quiet_factor * device.usual_gap)
                    device.usual_gap += _GAP_LEARNING_RATE * (capped - device.usual_gap)
                device.gaps += 1
            if profile != device.profile:
                self._device_profiles[device.profile] -= 1
                self._device_profiles[profile] += 1
                self._members[device.profile].discard(beat.device_id)
                self._members[profile].add(beat.device_id)
            if beat.customer_id != device.customer_id:
                self._disown(device.customer_id)
                self._owned[beat.customer_id] += 1
            device.last_seen, device.customer_id, device.profile = beat.ts, beat.customer_id, profile
            device.notified = False
        if beat.status == "standby":
            self._sleep(device, beat.until)
        if device.gaps >= self.device_min_gaps and (not device.standby or device.until is not None):
            back = max(device.until or 0.0, device.last_seen)  # a device in standby is waited for from then on
            deadline = back + self._allowed_gap(device)
            heapq.heappush(self._deadlines, (deadline, beat.device_id, device.last_seen))
        return True

    def _sleep(self, device: _Device, until: float | None) -> None:
        """A device announced standby: it stands in for the heartbeats it usually sends until it is back."""
        device.standby, device.until = True, until
        device.standing_in = self.step / device.usual_gap if device.gaps and device.usual_gap > 0 else 0.0
        self._asleep[device.profile] += 1
        self._standing_in[device.profile] += device.standing_in
        self._asleep_changed = True

    def _wake(self, device: _Device) -> None:
        """A device in standby reported again, or did not come back when it said it would."""
        if not device.standby:
            return
        profile = device.profile
        self._asleep[profile] -= 1
        self._standing_in[profile] -= device.standing_in
        if not self._asleep[profile]:
            del self._asleep[profile], self._standing_in[profile]  # no rounding residue left behind
        device.standby, device.until, device.standing_in = False, None, 0.0
        self._asleep_changed = True

    def _disown(self, customer: str) -> None:
        self._owned[customer] -= 1
        if not self._owned[customer]:
            del self._owned[customer]
            self._called.pop(customer, None)

    def _allowed_gap(self, device: _Device) -> float:
        """How long a device may stay quiet: ``device_quiet_factor`` usual gaps at least, and more for a device
        that often loses a heartbeat: enough missed heartbeats in a row (plus half a gap for timing jitter) that,
        at its own loss rate, a false alert comes less than once a year."""
        loss = (device.lost + _LOSS_PRIOR * _LOSS_PRIOR_GAPS) / (device.counted + _LOSS_PRIOR_GAPS)
        beats_per_day = DAY / max(device.usual_gap, 1e-9)
        # loss ** missed * beats_per_day <= budget, solved for the number of heartbeats missed in a row.
        missed = math.ceil(math.log(_FALSE_ALERTS_PER_DEVICE_DAY / beats_per_day) / math.log(min(loss, 0.5)))
        return max(self.device_quiet_factor, missed + 1.5) * device.usual_gap

    def _quiet_devices(self, now: float) -> list[DeviceSilence]:
        """Devices whose deadline passed by ``now`` without a heartbeat since it was set: once per silence."""
        found = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, device_id, last_seen = heapq.heappop(deadlines)
            device = self._devices.get(device_id)
            if device is None or device.last_seen != last_seen or device.notified:
                continue  # heard from since, or already reported
            if device.standby:
                if device.until is None:
                    continue  # in standby until it says otherwise
                self._wake(device)  # not back when it said it would be: missing from its population too
            device.notified = True
            found.append(DeviceSilence(device_id, device.customer_id, device.profile, now, last_seen, device.usual_gap))
        if self._cells.step_number % 1440 == 0 and self._devices:
            horizon = now - _FORGET_DEVICE
            for device_id in [d for d, device in self._devices.items() if device.last_seen < horizon]:
                device = self._devices.pop(device_id)
                self._wake(device)
                self._device_profiles[device.profile] -= 1
                self._members[device.profile].discard(device_id)
                self._disown(device.customer_id)
        return sorted(found, key=lambda s: (s.last_seen, s.device_id))


def _arrival_order(item: tuple[Heartbeat | HeartbeatSummary, Profile]) -> tuple[float, str, str]:
    record = item[0]
    if isinstance(record, Heartbeat):
        return (record.ts, "heartbeat", record.device_id)
    return (record.ts, "summary", record.summary_id)
