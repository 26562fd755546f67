"""The rate detector: too many distinct customers in one cell, compared with what is normal for it right now.

Each step it counts new reporters per cell — single reports (a customer counts once per window however many
times they call) and partner aggregates (a record counts as its ``count``) apart — keeps sliding-window sums
for each window length, and tests every cell: single reports against their seasonal negative-binomial
baseline, aggregates against their compound-Poisson one. A cell must beat a threshold set by a daily
false-alarm budget spread over every test made. Attribution then turns the significant cells into the scopes
at fault. Only after scoring does the baseline learn the step, which keeps the detector causal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Self

import numpy as np

from correlate.detectors.aggregates import AggregateBaseline, compound_sf
from correlate.detectors.attribution import Attribution, WindowCounts, findings_per_cause
from correlate.detectors.base import CellReading, Finding
from correlate.detectors.cells import DAY, CellWindows, widened
from correlate.detectors.common_mode import common_mode_factor
from correlate.detectors.drill import RecentReports, narrow, shares_within
from correlate.detectors.lattice import Lattice
from correlate.detectors.tail import negbin_sf, per_test_threshold
from correlate.scope import Scope
from correlate.stitch import Profile, StitchedContact

if TYPE_CHECKING:
    from correlate.config import Settings

__all__ = ["RateDetector"]

# Estimates that move over tens of minutes are refreshed every this many steps.
_SLOW_REFRESH_STEPS = 5
# Kinds of count kept per cell: single reports, their expectation, aggregated reporters and aggregated records.
_KINDS = ("singles", "expected", "aggregated", "records")
_SINGLES, _EXPECTED, _AGGREGATED, _RECORDS = range(len(_KINDS))


class _BatchModel:
    """How a partner's aggregated records arrive at each cell (records per step, mean reporters per record, and
    what that means for each window), with the tail of every window's aggregated count as last computed.

    The tails are computed only where a window's aggregated count changed since (a partner record arrives every
    few hours, not every step, and a compound tail costs a sum over record counts); the model is replaced, never
    changed, when it is re-estimated, and its tails go with it.
    """

    __slots__ = ("_counted", "_tails", "expected_batched", "expected_records", "rate", "size")

    def __init__(self, rate: np.ndarray, size: np.ndarray, window_steps: np.ndarray) -> None:
        self.rate, self.size = rate, size
        self.expected_records = rate[None, :] * window_steps[:, None]
        self.expected_batched = self.expected_records * size
        self._counted = np.full(self.expected_records.shape, -1.0)  # the aggregated count each tail is for
        self._tails = np.ones(self.expected_records.shape)

    def tail(self, rows: np.ndarray, cells: np.ndarray, aggregated: np.ndarray) -> np.ndarray:
        """P(aggregated reporters >= the window's count) at (window, cell) positions, as ``compound_sf`` gives."""
        counted, tails = self._counted, self._tails
        stale = counted[rows, cells] != aggregated[rows, cells]
        if np.count_nonzero(stale):
            r, c = rows[stale], cells[stale]
            tails[r, c] = compound_sf(aggregated[r, c], self.expected_records[r, c], self.size[c])
            counted[r, c] = aggregated[r, c]
        found: np.ndarray = tails[rows, cells]
        return found


@dataclass(frozen=True, slots=True)
class _TestPlan:
    """The cells tested in one hour, how many tests a step makes, and the p-value one test must beat: fixed for
    the hour, so that the threshold does not drift step by step as cells come of age."""

    hour: int
    testable: np.ndarray
    tests: int
    threshold: float


class RateDetector:
    """Finds cells with more distinct reporters than their seasonal baseline allows, and attributes them.

    Settings (constructor arguments, kept under the same names):
      step: seconds per evaluation step; windows: window lengths in seconds (multiples of step);
      warmup: seconds of history before any test, and before a new pair is tested (a new single value is
        tested sooner, against a short history: see ``_young_values``);
      false_alarms_per_day: expected false findings per day over the whole lattice;
      min_reporters: a finding needs at least this many distinct reporters in its window;
      elevated_p: p-value under which a cell counts as still elevated (attribution, learning, resolving);
      attribution_ratio: how much faster than its siblings a child must be running to carry a fault of its own;
      max_depth, dimensions: the lattice; level_half_life: how fast a cell's level follows drift;
      hold_reported: whether a reported scope's cells are kept from learning the fault (see ``_held``).
    """

    kind = "rate"

    def __init__(
        self,
        *,
        step: float = 60.0,
        windows: Sequence[float] = (900.0, 3600.0),
        warmup: float = DAY,
        false_alarms_per_day: float = 0.05,
        min_reporters: int = 3,
        elevated_p: float = 1e-3,
        attribution_ratio: float = 1.5,
        max_depth: int = 2,
        dimensions: Sequence[str] | None = None,
        level_half_life: float = DAY,
        hold_reported: bool = False,
    ) -> None:
        self.step = step
        self.windows = tuple(windows)
        self.warmup = warmup
        self.false_alarms_per_day = false_alarms_per_day
        self.min_reporters = min_reporters
        self.elevated_p = elevated_p
        self.attribution_ratio = attribution_ratio
        self.max_depth = max_depth
        self.dimensions = dimensions
        self.level_half_life = level_half_life
        self.hold_reported = hold_reported

        self._aggregates = AggregateBaseline(step)
        self._seeded = np.zeros(64, dtype=bool)  # cells tested before their warm-up, from their parents' rates
        # Cells whose baseline a reported fault must not teach (see ``_held``): the step a hold began, the last
        # step it lasts, and whether a hold ran its course while the cell stayed unusual (no new one until it calms).
        self._hold_start = np.zeros(64, dtype=np.int64)
        self._held_until = np.full(64, -1, dtype=np.int64)
        self._hold_spent = np.zeros(64, dtype=bool)
        self._reported: list[Scope] = []  # the causes the last step's findings name (before drilling below pairs)
        self._singles: dict[Profile, int] = defaultdict(int)
        self._batches: dict[Profile, list[int]] = defaultdict(_no_batch)  # reporters, records
        self._arrived: list[StitchedContact] = []  # the same contacts, as they came (see _in_order)
        self._dispersion: np.ndarray | None = None
        self._plan: _TestPlan | None = None
        self._values_by_dimension: dict[str, list[int]] = defaultdict(list)  # single-value cells
        self._groups: list[np.ndarray] | None = None  # the same, as arrays by dimension name, until a value is new
        self._common_mode = np.ones(len(self.windows))
        self._batch_model: _BatchModel | None = None
        self._recent = RecentReports(max(self.windows))  # single reports, for drilling below an attributed pair
        self._last_test: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None  # at, observed, expected, p
        self._cells = CellWindows(
            step=step,
            windows=self.windows,
            warmup=warmup,
            kinds=_KINDS,
            elevated_p=elevated_p,
            max_depth=max_depth,
            dimensions=dimensions,
            level_half_life=level_half_life,
            on_new_cell=self._on_new_cell,
            # What a cell's windows taught it over twice the longest window can be taken back when a fault is
            # reported on it: the time a slow fault may take to be found.
            recalled_windows=2 * round(max(self.windows) / min(self.windows)) if hold_reported else 0,
        )
        self._window_steps = self._cells.window_steps
        self._baseline = self._cells.baseline
        # A hold lasts while its cell stays unusual, at most a quarter of the level's half-life: a level that
        # really changed is then learned as the level always is, over a day or two.
        self._hold_steps = max(1, round(level_half_life / 4 / step))
        self._hold_after = int(self._window_steps[self._cells.shortest])

    @classmethod
    def runs_with(cls, settings: Settings) -> bool:
        return True  # contacts are what correlate is for

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            step=settings.step,
            windows=settings.windows,
            warmup=settings.warmup,
            false_alarms_per_day=settings.false_alarms_per_day,
            min_reporters=settings.min_reporters,
            elevated_p=settings.elevated_p,
            attribution_ratio=settings.attribution_ratio,
            max_depth=settings.max_depth,
            dimensions=settings.dimensions,
            level_half_life=settings.level_half_life,
            hold_reported=settings.hold_reported,
        )

    @property
    def lattice(self) -> Lattice:
        return self._cells.lattice

    # -- Detector protocol ---------------------------------------------------------------------------------
    def observe(self, contact: StitchedContact) -> None:
        if not contact.reporters:
            return
        self._arrived.append(contact)
        if contact.contact.count > 1:
            batch = self._batches[contact.profile]
            batch[0] += contact.reporters
            batch[1] += 1
        else:
            self._singles[contact.profile] += contact.reporters

    def close_step(self, step_end: float) -> list[Finding]:
        cells = self._cells
        cells.begin_step(step_end)
        if not cells.started(bool(self._singles or self._batches)):
            return []
        batched = bool(self._batches)
        if self.max_depth == 2:
            recent = self._recent
            for stitched in self._arrived:
                if stitched.contact.count <= 1:
                    recent.add(stitched.contact.ts, stitched.profile, stitched.reporters)
            recent.forget_before(step_end)
        counts = self._take_counts()
        n = len(self.lattice)
        singles = counts[_SINGLES, :n]
        expected = counts[_EXPECTED, :n] = cells.expected()
        cells.slide(counts)
        if self._dispersion is None or len(self._dispersion) != n:
            self._dispersion = self._baseline.dispersion()
        warmed = cells.warmed_up()
        if warmed and cells.step_number % _SLOW_REFRESH_STEPS == 0:
            self._refresh_slow_estimates(n)
        self._reported = []
        findings = self._score(step_end) if warmed else []
        unusual = cells.last_p[:n] < self.elevated_p
        held = self._held(n, unusual) if self.hold_reported else None
        self._baseline.learn(cells.hour, cells.weekday, singles, expected, unusual, learn_weekday=warmed, held=held)
        # How a partner's batches arrive is learned even from unusual steps: otherwise the first routine batch
        # would mark its cell unusual and never be learned.
        self._aggregates.learn(counts[_AGGREGATED : _RECORDS + 1, :n] if batched else None)
        shortest = cells.shortest
        # Every window counts, the unusual ones too (capped): leaving out the largest deviations would make every
        # cell look calmer than it is.
        if cells.dispersion_due():
            sums = cells.sums[shortest]
            lifted = sums[_EXPECTED, :n] * self._common_mode[shortest]
            cells.learn_dispersion(sums[_SINGLES, :n], lifted, self._dispersion, held)
            self._dispersion = None  # recomputed at the next step: it moves slowly, and costs a dozen array passes
        return findings

    def is_elevated(self, scope: Scope) -> bool:
        return self._cells.is_elevated(scope)

    def readings(self) -> tuple[list[CellReading], list[CellReading]]:
        """(elevated cells, most significant first; the whole centre), every window of each.

        An elevated cell's expected count is the one its test used (the seasonal baseline lifted with the whole
        centre, plus partner batches); the centre's is the seasonal baseline alone, so a storm that lifts every
        cell shows there.
        """
        n = len(self.lattice)
        if n == 0 or self._cells.first_step is None:
            return [], []
        sums = self._cells.sums
        observed = sums[:, _SINGLES, :n] + sums[:, _AGGREGATED, :n]
        seasonal = sums[:, _EXPECTED, :n].copy()
        if self._batch_model is not None and len(self._batch_model.size) == n:
            seasonal += self._batch_model.expected_batched
        lifted = seasonal + sums[:, _EXPECTED, :n] * (self._common_mode[:, None] - 1.0)
        p_values, scopes = self._cells.last_p[:n], self.lattice.scopes
        elevated = sorted(
            (int(c) for c in np.flatnonzero(p_values < self.elevated_p) if c != 0),
            key=lambda c: (float(p_values[c]), scopes[c]),
        )
        windows = range(len(self.windows))
        anomalous = [
            CellReading(scopes[c], self.windows[w], float(observed[w, c]), float(lifted[w, c]), float(p_values[c]))
            for c in elevated
            for w in windows
        ]
        centre = [
            CellReading((), self.windows[w], float(observed[w, 0]), float(seasonal[w, 0]), float(p_values[0]))
            for w in windows
        ]
        return anomalous, centre

    def expected_in(self, scope: Scope, window: float) -> float | None:
        """The expectation a finding on ``scope`` in ``window`` would be tested against now: the seasonal baseline
        lifted with the whole centre, plus partner batches."""
        cell = self.lattice.index.get(tuple(sorted(scope)))
        if cell is None or window not in self.windows or self._cells.first_step is None:
            return None
        w = self.windows.index(window)
        expected = float(self._cells.sums[w, _EXPECTED, cell] * self._common_mode[w])
        batches = self._batch_model
        if batches is not None and cell < batches.expected_batched.shape[1]:
            expected += float(batches.expected_batched[w, cell])
        return expected

    def test_of(self, scope: Scope) -> Finding | None:
        """The scope's own test at the last step scored, in the window where it stood out most (its p-value
        Bonferroni-adjusted over the windows), whatever the threshold: what a lower bar reads, such as the calls
        on an open silence's scope. None for a scope the lattice does not keep, or before any test."""
        cell = self.lattice.index.get(tuple(sorted(scope)))
        if cell is None or self._last_test is None:
            return None
        at, observed, expected, p_value = self._last_test
        if cell >= p_value.shape[1]:
            return None
        w = int(np.argmin(p_value[:, cell]))
        adjusted = min(1.0, float(p_value[w, cell]) * len(self.windows))
        window_observed, window_expected = float(observed[w, cell]), float(expected[w, cell])
        return Finding(self.kind, scope, at, window_observed, window_expected, adjusted, 1.0, 1, self.windows[w])

    def implied(self, scope: Scope) -> Scope:
        """Values every contact of the scope carries, by the learned baseline: a model implies its brand."""
        return self._cells.implied(scope)

    @property
    def learned_implications(self) -> bool:
        return self._cells.learned_implications

    # -- counting ------------------------------------------------------------------------------------------
    def _take_counts(self) -> np.ndarray:
        """This step's counts per kind (rows, in ``_KINDS`` order) and cell, for every cell there is room for
        (zeros past the last cell); the expected row is left at 0."""
        self._in_order()
        excluded = len(self.lattice.excluded)
        singles = [(self.lattice.cells_of(profile), n) for profile, n in self._singles.items()]
        batches = [(self.lattice.cells_of(profile), v) for profile, v in self._batches.items()]
        if len(self.lattice.excluded) != excluded:  # a dimension with too many values left the lattice meanwhile
            singles = [(self.lattice.cells_of(profile), n) for profile, n in self._singles.items()]
            batches = [(self.lattice.cells_of(profile), v) for profile, v in self._batches.items()]
        counts = self._cells.empty_counts()  # after cells_of, which creates new cells
        n = counts.shape[1]
        if singles:
            counts[_SINGLES] = _tally(singles, n)
        if batches:
            counts[_AGGREGATED] = _tally([(cells, v[0]) for cells, v in batches], n)
            counts[_RECORDS] = _tally([(cells, v[1]) for cells, v in batches], n)
        self._singles.clear()
        self._batches.clear()
        self._arrived.clear()
        return counts

    def _in_order(self) -> None:
        """A profile new to the lattice gets its cells in the order the step's contacts are counted in, and cell
        numbers decide the order in which sums over cells add up (to the last bit). So when a step brings a new
        profile, its contacts are counted again in (ts, contact_id, source) order: the order they arrived in
        within the step then makes no difference. (Known profiles need no order: their counts are whole.)"""
        known = self.lattice.known_profiles
        if self._singles.keys() <= known and self._batches.keys() <= known:
            return
        self._singles.clear()
        self._batches.clear()
        arrived, self._arrived = sorted(self._arrived, key=_arrival_order), []
        for contact in arrived:
            self.observe(contact)

    # -- scoring -------------------------------------------------------------------------------------------
    def _testable(self, n: int) -> _TestPlan:
        """This hour's plan: the cells tested (old enough, or seeded from their parents), how many tests a step
        makes, and the p-value one test must beat. Set once an hour, and again when a cell is new or seeded."""
        hour = int(self._cells.step_number * self.step // 3600)
        plan = self._plan
        if plan is None or len(plan.testable) != n or plan.hour != hour:
            testable = self._cells.old_enough(n) | self._seeded[:n] | self._young_values(n)
            testable[0] = False  # "everything is up" is not a scope anyone can fix
            tested = int(np.count_nonzero(testable)) * len(self.windows)
            threshold = per_test_threshold(self.false_alarms_per_day, tested * DAY / self.step)
            plan = self._plan = _TestPlan(hour, testable, tested, threshold)
        return plan

    def _young_values(self, n: int) -> np.ndarray:
        """Single values younger than the warm-up whose longest window is full of their own history (a model
        launched yesterday). A fault does not wait for the warm-up: such a value is tested against what the centre
        knows, its rhythm times the value's share so far, with the dispersion of a short history (the level's own
        uncertainty, and the prior of all cells until the value has windows of its own). Pairs wait, unless
        seeded from their parents: a new value brings dozens of them, each with a handful of reports."""
        young = np.zeros(n, dtype=bool)
        if not self._cells.warmed_up():
            return young
        for cells in self._values_by_dimension.values():
            young[[cell for cell in cells if cell < n]] = True
        full: np.ndarray = self._cells.step_number - self._cells.created[:n] >= self._cells.ring_length
        found: np.ndarray = young & full
        return found

    def _refresh_slow_estimates(self, n: int) -> None:
        """The centre-wide factor and the partner-batch model move over tens of minutes: refreshed every few
        steps rather than every step, which halves the cost of a step."""
        if self._groups is None:
            self._groups = [np.asarray(cells) for _, cells in sorted(self._values_by_dimension.items())]
        groups = self._groups
        observed_sums, expected_sums = self._cells.window_sums("singles"), self._cells.window_sums("expected")
        self._common_mode = np.array(
            [common_mode_factor(observed_sums[w, :n], expected_sums[w, :n], groups) for w in range(len(self.windows))]
        )
        level = self._baseline.level()
        share = level / level[0] if level[0] > 0 else np.zeros(n)
        self._batch_model = _BatchModel(*self._aggregates.rate_and_size(share), self._window_steps)

    def _score(self, step_end: float) -> list[Finding]:
        """Test every cell in every window, then attribute the significant ones."""
        n = len(self.lattice)
        assert self._dispersion is not None
        dispersion = self._dispersion
        sums = self._cells.sums[:, :, :n]  # window, kind, cell
        singles, aggregated = sums[:, _SINGLES], sums[:, _AGGREGATED]
        # Expected single reports, lifted or lowered with the whole centre (see common_mode).
        expected = sums[:, _EXPECTED] * self._common_mode[:, None]
        if self._batch_model is None or len(self._batch_model.size) != n:
            self._refresh_slow_estimates(n)
        assert self._batch_model is not None
        batches = self._batch_model
        expected_records, expected_batched = batches.expected_records, batches.expected_batched
        observed = singles + aggregated
        expected_total = expected + expected_batched
        # A cell below min_reporters raises no finding now, but any testable cell could have reached it: the
        # budget is split over all of them (counting only the busy ones made the threshold laxest at night).
        plan = self._testable(n)
        testable, tested, threshold = plan.testable, plan.tests, plan.threshold
        able = testable[None, :] & (observed >= self.min_reporters)
        p_value = np.ones_like(observed)
        spread = np.sqrt(expected * (1.0 + expected * dispersion[None, :]))
        candidates = able & (singles > expected + 1.5 * spread)
        if candidates.any():
            rows, cells = candidates.nonzero()
            p_value[rows, cells] = negbin_sf(singles[rows, cells], expected[rows, cells], dispersion[cells])
        batched = able & (aggregated > 0)
        if batched.any():
            rows, cells = batched.nonzero()
            p_batch = batches.tail(rows, cells, aggregated)
            # Two tests per cell where both kinds of report arrived: Bonferroni over the pair.
            p_value[rows, cells] = np.minimum(1.0, 2.0 * np.minimum(p_value[rows, cells], p_batch))
        self._cells.last_p[:n] = p_value.min(axis=0)
        self._last_test = (step_end, observed, expected_total, p_value)
        best: dict[int, tuple[float, int]] = {}
        below = p_value < threshold
        significant = [w for w in range(len(self.windows)) if below[w].any()]
        if significant:
            # Attribution compares shares in independent events: a partner's record of 28 reporters is one draw.
            events = singles + sums[:, _RECORDS]
            expected_events = expected + expected_records
        for w in significant:
            counts = WindowCounts(observed[w], expected_total[w], events[w], expected_events[w], dispersion, p_value[w])
            elevated = np.flatnonzero(p_value[w] < self.elevated_p)
            attribution = Attribution(self.lattice, counts, elevated, self.elevated_p, self.attribution_ratio)
            for cause, p in attribution.causes(np.flatnonzero(below[w]), threshold).items():
                if cause not in best or p < best[cause][0]:
                    best[cause] = (p, w)
        findings = findings_per_cause(
            self.kind, self.lattice, best, step_end, observed, expected_total, threshold, tested, self.windows
        )
        self._reported = [finding.scope for finding in findings]
        if self.max_depth != 2:
            return findings
        return [narrowed for finding in findings for narrowed in self._drilled(finding, dispersion)]

    def _drilled(self, finding: Finding, dispersion: np.ndarray) -> list[Finding]:
        """A pair's finding, or its triples' when the fault lives in one value of a third dimension (see
        :mod:`correlate.detectors.drill`)."""
        if len(finding.scope) != 2:
            return [finding]
        w = self.windows.index(finding.window)
        expected_sums, index = self._cells.sums[w, _EXPECTED], self.lattice.index

        def expected_of(scope: Scope) -> float | None:
            cell = index.get(scope)
            return None if cell is None else float(expected_sums[cell])

        counts, total = self._recent.by_value(finding.scope, finding.at - finding.window)
        cell = index[finding.scope]
        share_of = shares_within(finding.scope, expected_of, self.implied)
        triples = narrow(
            finding.scope,
            counts,
            total,
            finding.expected,
            float(dispersion[cell]),
            share_of,
            self.elevated_p,
            self.attribution_ratio,
        )
        if not triples:
            return [finding]
        return [replace(finding, scope=t.scope, observed=t.observed, expected=t.expected) for t in triples]

    # -- holding what a fault would teach -------------------------------------------------------------------
    def _held(self, n: int, unusual: np.ndarray) -> np.ndarray | None:
        """Cells whose baseline must not learn this step (None: none): the cells of a scope this detector has just
        reported, and every cell inside it, for as long as they stay unusual and at most ``_hold_steps``.

        A fault learned as normal makes the next one like it slower to find (a weak fault of four hours raises its
        cell's dispersion for a week), and a long weak fault would teach its own cell that such hours are ordinary.
        Only what was reported is held: a brand whose share drifts upward is unusual for days, and must learn it.
        The hold is bounded, so a level that really changed is learned after it, as any level is.
        """
        step = self._cells.step_number
        until, start, spent = self._held_until[:n], self._hold_start[:n], self._hold_spent[:n]
        spent &= unusual  # a cell back to ordinary may be held again
        reported = self._within(self._reported, n)
        if reported is None and not np.count_nonzero(until >= step):
            return None
        holding = until >= step
        if reported is not None:
            begin = reported & ~holding & ~spent
            start[begin] = step
            holding |= begin
            # The windows before the fault was found taught its cells that it was noise: taken back.
            self._baseline.unlearn_recent(begin)
        else:
            reported = np.zeros(n, dtype=bool)
        within = step - start < self._hold_steps
        extend = holding & within & (reported | unusual)
        until[extend] = step + self._hold_after
        over = holding & ~within
        spent |= over & unusual
        until[over] = -1
        held: np.ndarray = until >= step
        return held if np.count_nonzero(held) else None

    def _within(self, scopes: list[Scope], n: int) -> np.ndarray | None:
        """The cells inside any of these scopes: their own, every cell naming their values too, and every cell
        whose values imply them (a model of the reported brand). A model left to learn its brand's fault while the
        brand x model pair is held would outgrow the pair, and the implication model -> brand, read from the two
        levels, would be lost for as long as the hold lasts: a finding on the model would then no longer be the
        brand's."""
        if not scopes:
            return None
        wanted = [set(scope) for scope in scopes]
        implied = self._cells.implied
        found = np.zeros(n, dtype=bool)
        for cell, scope in enumerate(self.lattice.scopes[:n]):
            values = {*scope, *implied(scope)}
            found[cell] = any(inside <= values for inside in wanted)
        return found

    # -- cells ---------------------------------------------------------------------------------------------
    def _on_new_cell(self, cell: int, scope: Scope) -> None:
        self._aggregates.grow(cell + 1)
        if cell >= len(self._seeded):
            self._seeded = widened(self._seeded, self._cells.capacity, False)
            self._hold_start = widened(self._hold_start, self._cells.capacity, 0)
            self._held_until = widened(self._held_until, self._cells.capacity, -1)
            self._hold_spent = widened(self._hold_spent, self._cells.capacity, False)
        if len(scope) == 1:
            self._values_by_dimension[scope[0][0]].append(cell)
            self._groups = None
        if len(scope) < 2:
            return  # (the root comes first, while ``_cells`` is being built)
        cells = self._cells
        if cells.first_step is None or not cells.warmed_up():
            return
        prior = self._independence_prior(scope)
        if prior is None:
            return
        self._baseline.seed_level(cell, prior, cells.warmup_steps / 4)
        self._seeded[cell] = True
        self._plan = None
        # The cell existed before its first report, at its prior rate: back-fill the expected windows.
        cells.back_fill("expected", cell, prior)

    def _independence_prior(self, scope: Scope) -> float | None:
        """Rate of a new combination if its two parents were independent within their common parent."""
        index = self.lattice.index
        cells = [index.get(scope[:-1]), index.get(scope[1:]), index.get(scope[1:-1])]
        if any(c is None for c in cells):
            return None
        first, second, common = (int(c) for c in cells if c is not None)
        testable = self._testable(len(self.lattice)).testable
        if not (testable[first] and testable[second]):
            return None
        level = self._baseline.level()
        if level[common] <= 0:
            return None
        return float(level[first] * level[second] / level[common])


_arrival_order = attrgetter("contact.ts", "contact.contact_id", "contact.source")


def _no_batch() -> list[int]:
    """A profile's batches in a step, before any: (reporters, records). Module-level, so a snapshot can pickle it."""
    return [0, 0]


def _tally(counts: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """Per-cell sums of per-profile counts: each profile adds its count to every cell it belongs to."""
    values = np.fromiter((count for _, count in counts), dtype=np.float64, count=len(counts))
    weights = np.repeat(values, [len(cells) for cells, _ in counts])
    found: np.ndarray = np.bincount(np.concatenate([cells for cells, _ in counts]), weights=weights, minlength=n)
    return found
