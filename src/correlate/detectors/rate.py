"""The rate detector: too many distinct customers in one cell, compared with what is normal for it right now.

Each step it counts new reporters per cell (a customer counts once per window however many times they call;
a partner's aggregated record counts as its ``count``), keeps sliding-window sums of observed and expected
reporters for each window length, tests every cell with a negative-binomial upper tail, and keeps only the
cells that beat a threshold set by a daily false-alarm budget spread over all cells tested. Attribution then
turns the significant cells into the scopes at fault. Only after scoring does the baseline learn the step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from correlate.detectors.attribution import Attribution, WindowCounts
from correlate.detectors.base import Finding
from correlate.detectors.baseline import SeasonalBaseline
from correlate.detectors.tail import negbin_sf, per_test_threshold
from correlate.lattice import Lattice
from correlate.scope import Scope
from correlate.stitch import Profile, StitchedContact

DAY = 86_400.0


class RateDetector:
    """Finds cells with more distinct reporters than their seasonal baseline allows, and attributes them.

    Settings (constructor arguments, kept under the same names):
      step: seconds per evaluation step; windows: window lengths in seconds (multiples of step);
      warmup: seconds of history before any test, and before a new single value is tested;
      false_alarms_per_day: expected false findings per day over the whole lattice;
      min_reporters: a finding needs at least this many distinct reporters in its window;
      elevated_p: p-value under which a cell counts as still elevated (attribution, learning, resolving);
      attribution_ratio: how much faster than its siblings a child must be running to carry a fault of its own.
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

        self._window_steps = [max(1, round(w / step)) for w in self.windows]
        self._window_lengths = np.asarray(self._window_steps)
        self._ring_length = max(self._window_steps)
        self._baseline = SeasonalBaseline(step, level_half_life=level_half_life)
        self._warmup_steps = round(warmup / step)
        self._created = np.zeros(64, dtype=np.int64)
        self._seeded = np.zeros(64, dtype=bool)
        self._counts_ring = np.zeros((self._ring_length, 64))
        self._expected_ring = np.zeros((self._ring_length, 64))
        self._observed = np.zeros((len(self.windows), 64))
        self._expected = np.zeros((len(self.windows), 64))
        self._last_p = np.ones(64)
        self._step_number = 0
        self._first_step: int | None = None
        self._hour: int | None = None
        self._pending: dict[Profile, list[int]] = defaultdict(lambda: [0, 0])  # reporters, sum of squares
        self._dispersion: np.ndarray | None = None
        self._batch = np.ones(1)
        self._testable_cache: np.ndarray | None = None
        self._testable_hour = -1.0
        self.lattice = Lattice(max_depth=max_depth, dimensions=dimensions, on_new_cell=self._on_new_cell)

    # -- Detector protocol ---------------------------------------------------------------------------------
    def observe(self, contact: StitchedContact) -> None:
        if contact.reporters:
            tally = self._pending[contact.profile]
            tally[0] += contact.reporters
            tally[1] += contact.reporters * contact.reporters

    def close_step(self, step_end: float) -> list[Finding]:
        step_start = step_end - self.step
        self._step_number = round(step_start / self.step)
        if self._first_step is None:
            if not self._pending:
                return []  # nothing seen yet: the history starts with the first contact, whatever came before
            self._first_step = self._step_number
        counts, squares = self._take_counts()
        hour, weekday = _hour_and_weekday(step_start)
        if hour != self._hour:
            self._baseline.refresh_shape()
            self._hour = hour
        n = len(self.lattice)
        expected = self._baseline.expected(hour, weekday)
        self._slide(counts, expected)
        if self._dispersion is None or len(self._dispersion) != n:
            self._dispersion = self._baseline.dispersion()
            self._batch = self._baseline.batch()
        findings = self._score(step_end, self._dispersion, self._batch) if self._warmed_up() else []
        unusual = self._last_p[:n] < self.elevated_p
        self._baseline.learn(hour, weekday, counts, squares, expected, unusual)
        shortest = int(np.argmin(self._window_steps))
        if self._warmed_up() and self._step_number % self._window_steps[shortest] == 0:
            usable = (self._step_number - self._created[:n] >= self._window_steps[shortest]) & ~unusual
            self._baseline.learn_dispersion(
                self._observed[shortest, :n], self._expected[shortest, :n], usable, self._window_steps[shortest]
            )
            self._dispersion = None  # recomputed at the next step: it moves slowly, and costs a dozen array passes
        return findings

    def is_elevated(self, scope: Scope) -> bool:
        cell = self.lattice.index.get(scope)
        return cell is not None and bool(self._last_p[cell] < self.elevated_p)

    def window_counts(self, scope: Scope) -> tuple[float, float]:
        """Observed and expected reporters of a scope in the longest window (for evidence)."""
        cell = self.lattice.index.get(scope)
        if cell is None:
            return 0.0, 0.0
        longest = int(np.argmax(self._window_steps))
        return float(self._observed[longest, cell]), float(self._expected[longest, cell])

    def implied(self, scope: Scope, share: float = 0.99) -> Scope:
        """Values that (nearly) every contact of the scope carries, by the learned baseline: a model implies
        its brand."""
        cell = self.lattice.index.get(scope)
        if cell is None:
            return ()
        level = self._baseline.level()
        if level[cell] <= 0:
            return ()
        found = []
        names = {name for name, _ in scope}
        for child_scope, child in self.lattice.index.items():
            if len(child_scope) == len(scope) + 1 and set(scope) < set(child_scope):
                (extra,) = set(child_scope) - set(scope)
                if extra[0] not in names and level[child] >= share * level[cell]:
                    found.append(extra)
        return tuple(sorted(found))

    # -- counting ------------------------------------------------------------------------------------------
    def _take_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Reporters per cell this step, and the sum of squared reporters per record (for the batch factor)."""
        for profile in self._pending:
            self.lattice.cells_of(profile)  # creates new cells before the arrays are sized
        n = len(self.lattice)
        self._grow(n)
        if not self._pending:
            return np.zeros(n), np.zeros(n)
        cells = [self.lattice.cells_of(profile) for profile in self._pending]
        index = np.concatenate(cells)
        sizes = np.repeat(np.array(list(self._pending.values()), dtype=np.float64), [len(c) for c in cells], axis=0)
        self._pending.clear()
        counts = np.bincount(index, weights=sizes[:, 0], minlength=n)
        return counts, np.bincount(index, weights=sizes[:, 1], minlength=n)

    def _slide(self, counts: np.ndarray, expected: np.ndarray) -> None:
        n = len(counts)
        slot = self._step_number % self._ring_length
        leaving = (self._step_number - self._window_lengths) % self._ring_length
        self._observed[:, :n] += counts - self._counts_ring[leaving, :n]
        self._expected[:, :n] += expected - self._expected_ring[leaving, :n]
        self._counts_ring[slot, :n] = counts
        self._expected_ring[slot, :n] = expected

    # -- scoring -------------------------------------------------------------------------------------------
    def _warmed_up(self) -> bool:
        assert self._first_step is not None
        return self._step_number - self._first_step >= self._warmup_steps

    def _testable(self, n: int) -> np.ndarray:
        """Cells old enough (or seeded from their parents) to be tested; refreshed hourly and on new cells."""
        hour = self._step_number * self.step // 3600
        if self._testable_cache is None or len(self._testable_cache) != n or self._testable_hour != hour:
            testable = (self._step_number - self._created[:n] >= self._warmup_steps) | self._seeded[:n]
            testable[0] = False  # "everything is up" is not a scope anyone can fix
            self._testable_cache, self._testable_hour = testable, hour
        return self._testable_cache

    def _score(self, step_end: float, dispersion: np.ndarray, batch: np.ndarray) -> list[Finding]:
        """Test every cell in every window (in units of independent events), then attribute."""
        n = len(self.lattice)
        observed, expected = self._observed[:, :n], self._expected[:, :n]  # one row per window
        # A cell below min_reporters cannot raise a finding, so it spends none of the false-alarm budget.
        able = self._testable(n)[None, :] & (observed >= self.min_reporters)
        tested = int(able.sum())
        threshold = per_test_threshold(self.false_alarms_per_day, tested * DAY / self.step)
        events, expected_events = observed / batch, expected / batch
        spread = np.sqrt(expected_events * (1.0 + expected_events * dispersion))
        candidates = able & (events > expected_events + 1.5 * spread)
        p_value = np.ones_like(observed)
        if candidates.any():
            rows, cells = np.nonzero(candidates)
            p_value[rows, cells] = negbin_sf(
                events[rows, cells], expected_events[rows, cells], dispersion[cells]
            )
        self._last_p[:n] = p_value.min(axis=0)
        best: dict[int, tuple[float, int]] = {}
        for w in np.flatnonzero((p_value < threshold).any(axis=1)):
            counts = WindowCounts(observed[w], expected[w], dispersion, p_value[w], batch)
            elevated = np.flatnonzero(p_value[w] < self.elevated_p)
            attribution = Attribution(self.lattice, counts, elevated, self.elevated_p, self.attribution_ratio)
            for cause, p in attribution.causes(np.flatnonzero(p_value[w] < threshold)).items():
                if cause not in best or p < best[cause][0]:
                    best[cause] = (p, int(w))
        return [
            Finding(
                kind=self.kind,
                scope=self.lattice.scopes[cause],
                at=step_end,
                observed=float(observed[w, cause]),
                expected=float(expected[w, cause]),
                p_value=p,
                threshold=threshold,
                tests=tested,
                window=self.windows[w],
            )
            for cause, (p, w) in sorted(best.items(), key=lambda item: (item[1][0], self.lattice.scopes[item[0]]))
        ]

    # -- cells ---------------------------------------------------------------------------------------------
    def _on_new_cell(self, cell: int, scope: Scope) -> None:
        self._grow(cell + 1)
        self._created[cell] = self._step_number
        if len(scope) < 2 or self._first_step is None or not self._warmed_up():
            return
        prior = self._independence_prior(scope)
        if prior is None:
            return
        weight = self._warmup_steps / 4
        self._baseline.seed_level(cell, prior, weight)
        self._seeded[cell] = True
        self._testable_cache = None
        # The cell existed before its first report, at its prior rate: back-fill the expected windows.
        self._expected_ring[:, cell] = prior
        for w, length in enumerate(self._window_steps):
            self._expected[w, cell] = prior * length

    def _independence_prior(self, scope: Scope) -> float | None:
        """Rate of a new combination if its two parents were independent within their common parent."""
        index = self.lattice.index
        first, second = scope[:-1], scope[1:]
        common = scope[1:-1]
        cells = [index.get(first), index.get(second), index.get(common)]
        if any(c is None for c in cells):
            return None
        a, b, c = (int(x) for x in cells if x is not None)
        testable = self._testable(len(self.lattice))
        if not (testable[a] and testable[b]):
            return None
        level = self._baseline.level()
        if level[c] <= 0:
            return None
        return float(level[a] * level[b] / level[c])

    def _grow(self, size: int) -> None:
        self._baseline.grow(size)
        capacity = self._created.shape[0]
        if size <= capacity:
            return
        new = max(size, capacity * 2)
        self._created = np.concatenate([self._created, np.zeros(new - capacity, dtype=np.int64)])
        self._seeded = np.concatenate([self._seeded, np.zeros(new - capacity, dtype=bool)])
        self._last_p = np.concatenate([self._last_p, np.ones(new - capacity)])
        self._counts_ring = _widen(self._counts_ring, new)
        self._expected_ring = _widen(self._expected_ring, new)
        self._observed = _widen(self._observed, new)
        self._expected = _widen(self._expected, new)


def _widen(array: np.ndarray, columns: int) -> np.ndarray:
    wider = np.zeros((array.shape[0], columns))
    wider[:, : array.shape[1]] = array
    return wider


def _hour_and_weekday(ts: float) -> tuple[int, int]:
    """UTC hour of day and weekday (Monday = 0) of an epoch time."""
    days = int(ts // DAY)
    return int(ts % DAY // 3600), (days + 3) % 7
