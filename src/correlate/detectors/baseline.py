"""What is normal for every cell: an online, seasonal, drift-following baseline kept in numpy arrays.

For each cell the expected number of new reporters in one step is ``level * hour_factor * weekday_factor``:

- ``level`` is an exponentially weighted rate of seasonally adjusted counts. Its half-life (a day by default) is
  short enough to follow slow drift — a brand whose market share triples in two weeks is always within ~12% of
  its baseline — and long enough that a fault of a few hours barely moves it, all the more because cells that
  are out of the ordinary learn only a tenth of their excess. That damping fades as a cell stays unusual
  (over about six hours): a lasting change is the new normal, and a drifting cell must not fall further
  behind because it is behind.
- the hour-of-day and day-of-week factors are the cell's own shape, shrunk towards the shape of all contacts
  (the root cell) until the cell has seen about fifty reports per bin. Quiet cells borrow the centre's rhythm;
  a busy region in another time zone earns its own.
- the dispersion (how much burstier than Poisson the cell's window counts are) is estimated by the method of
  moments on non-overlapping windows, shrunk towards the average of all cells, and widened by the uncertainty
  of the level itself, which matters for cells with little history.
- what a reported fault would teach is held back: the detector marks the cells of a scope it reports as
  ``held`` (their steps teach their expectation, their windows no dispersion), and takes back what the windows
  before the report taught their dispersion (``unlearn_recent``): the same fault the next day is then measured
  against the cell as it was, not as the fault left it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["HOURS", "WEEKDAYS", "SeasonalBaseline"]

HOURS = 24
WEEKDAYS = 7
# Own-shape weight: a bin's own rate gets half the say once it rests on this many reports (its noise is then
# about 14%); quiet cells keep the rhythm of all contacts.
_REPORTS_PER_BIN = 50.0
# Dispersion prior weight, in windows' worth of evidence.
_DISPERSION_PRIOR_WINDOWS = 50.0
_MAX_DISPERSION = 2.0
# A weekday's own factor gets half the say once that weekday has been seen on this many days.
_WEEKDAY_PRIOR_DAYS = 3.0
# How long a cell's recent unusualness is remembered when deciding how much of its excess to learn.
_UNUSUAL_HALF_LIFE = 6 * 3600.0


def _half_life_decay(half_life_updates: float) -> float:
    return float(0.5 ** (1.0 / max(half_life_updates, 1.0)))


class SeasonalBaseline:
    """Per-cell expected counts for one step, learned online. All arrays are indexed by cell number."""

    def __init__(
        self,
        step: float,
        level_half_life: float = 86_400.0,
        shape_half_life: float = 14 * 86_400.0,
        dispersion_half_life: float = 7 * 86_400.0,
        excess_learning_rate: float = 0.1,
        recalled_windows: int = 0,
    ) -> None:
        self.step = step
        self.excess_learning_rate = excess_learning_rate
        self._level_decay = _half_life_decay(level_half_life / step)
        # Steps of evidence (decayed) after which a cell's expectation is trusted enough to cap what a step
        # teaches: half a half-life's worth. A younger cell learns what it sees.
        self._settled_weight = 0.5 * level_half_life / step
        # An hour bin is updated 3600/step times a day, a weekday bin 86400/step times a week.
        self._hour_decay = _half_life_decay(shape_half_life / 86_400.0 * 3_600.0 / step)
        self._weekday_decay = _half_life_decay(shape_half_life / (7 * 86_400.0) * 86_400.0 / step)
        self._dispersion_half_life = dispersion_half_life
        self.size = 0
        capacity = 64
        self.rate_sum = np.zeros(capacity)
        self.shape_sum = np.zeros(capacity)
        # Seasonal state is kept bin by cell (one row per hour or weekday): a step reads and updates one bin of
        # every cell, which is then a contiguous row rather than a strided column.
        self.hour_counts = np.zeros((HOURS, capacity))
        self.hour_exposure = np.zeros((HOURS, capacity))
        self.weekday_counts = np.zeros((WEEKDAYS, capacity))
        self.weekday_exposure = np.zeros((WEEKDAYS, capacity))
        self.hour_factor = np.ones((HOURS, capacity))
        self.weekday_factor = np.ones((WEEKDAYS, capacity))
        self.moment_sum = np.zeros(capacity)
        self.square_sum = np.zeros(capacity)
        self.windows_seen = np.zeros(capacity)
        self.global_dispersion = 0.0
        self.weekday_days = np.zeros(WEEKDAYS)  # days of each weekday learned from (decayed)
        self.unusual_share = np.zeros(capacity)
        self._unusual_decay = _half_life_decay(_UNUSUAL_HALF_LIFE / step)
        # What the last ``recalled_windows`` windows taught each cell's dispersion, slot by cell, so that it can be
        # taken back (``unlearn_recent``) when the cell turns out to have been at fault: a slow fault's windows
        # before it was found are then not the cell's noise the next time. ``_recalled_at``: each slot's window.
        self.recalled_windows = recalled_windows
        self.recalled_moment = np.zeros((recalled_windows, capacity))
        self.recalled_square = np.zeros((recalled_windows, capacity))
        self.recalled_seen = np.zeros((recalled_windows, capacity))
        self._recalled_at = np.full(recalled_windows, -1, dtype=np.int64)
        self._dispersion_windows = 0  # windows learned so far
        self._dispersion_decay = 1.0  # per window, as last learned

    # -- cells ---------------------------------------------------------------------------------------------
    def grow(self, size: int) -> None:
        """Make room for cells ``0..size-1``; new cells start with no history."""
        if size <= self.size:
            return
        capacity = len(self.rate_sum)
        if size > capacity:
            new_capacity = max(size, capacity * 2)
            for name in (
                "rate_sum",
                "shape_sum",
                "moment_sum",
                "square_sum",
                "windows_seen",
                "unusual_share",
            ):
                setattr(self, name, _resized(getattr(self, name), new_capacity, 0.0))
            for name in (
                "hour_counts",
                "hour_exposure",
                "weekday_counts",
                "weekday_exposure",
                "recalled_moment",
                "recalled_square",
                "recalled_seen",
            ):
                setattr(self, name, _widened(getattr(self, name), new_capacity, 0.0))
            self.hour_factor = _widened(self.hour_factor, new_capacity, 1.0)
            self.weekday_factor = _widened(self.weekday_factor, new_capacity, 1.0)
        self.size = size

    def seed_level(self, cell: int, rate_per_step: float, weight_steps: float) -> None:
        """Start a new cell at a prior rate, worth ``weight_steps`` steps of evidence."""
        self.rate_sum[cell] = rate_per_step * weight_steps
        self.shape_sum[cell] = weight_steps
        self.hour_factor[:, cell] = self.hour_factor[:, 0]
        self.weekday_factor[:, cell] = self.weekday_factor[:, 0]

    def level(self) -> np.ndarray:
        """Seasonally adjusted reports per step, per cell (0 for a cell that has learned nothing yet)."""
        n = self.size
        rate, shape = self.rate_sum[:n], self.shape_sum[:n]
        return np.divide(rate, shape, out=np.zeros(n), where=shape > 0)

    # -- predicting ----------------------------------------------------------------------------------------
    def seasonal(self, hour: int, weekday: int) -> np.ndarray:
        n = self.size
        return self.hour_factor[hour, :n] * self.weekday_factor[weekday, :n]

    def expected(self, hour_of_day: float, weekday: int) -> np.ndarray:
        """Expected new reporters per cell in one step at this time of day (fractional hours) of this weekday.

        The hour factors are read as values at the middle of each hour and interpolated in between, so a
        smooth daily curve is not turned into a staircase.
        """
        n = self.size
        position = hour_of_day - 0.5
        floor = math.floor(position)
        lower = floor % HOURS
        upper = (lower + 1) % HOURS
        blend = position - floor
        hourly = (1.0 - blend) * self.hour_factor[lower, :n] + blend * self.hour_factor[upper, :n]
        expected: np.ndarray = self.level() * hourly * self.weekday_factor[weekday, :n]
        return expected

    def dispersion(self) -> np.ndarray:
        """Window-count dispersion per cell, including the uncertainty of a level learned from few reports."""
        n = self.size
        prior = _DISPERSION_PRIOR_WINDOWS * np.divide(
            self.square_sum[:n], self.windows_seen[:n], out=np.zeros(n), where=self.windows_seen[:n] > 0
        )
        prior = np.maximum(prior, 1e-12)
        own = (self.moment_sum[:n] + prior * self.global_dispersion) / (self.square_sum[:n] + prior)
        level_uncertainty = 0.5 / np.maximum(self.rate_sum[:n], 0.5)
        return np.clip(own, 0.0, _MAX_DISPERSION) + level_uncertainty

    # -- learning ------------------------------------------------------------------------------------------
    def learn(
        self,
        hour: int,
        weekday: int,
        counts: np.ndarray,
        expected: np.ndarray,
        unusual: np.ndarray,
        learn_weekday: bool = True,
        held: np.ndarray | None = None,
    ) -> None:
        """Fold one step into the baseline. Cells marked ``unusual`` learn only a fraction of their excess; cells
        ``held`` (a fault was reported on them) learn their expectation, as if the step had been an ordinary one."""
        n = self.size
        spread = np.sqrt(expected * (1.0 + expected * self.global_dispersion))
        # A young cell's expectation starts at nothing and lags its true level: capped against it, the first
        # hours' counts would be learned as a quiet night (a daily shape that is not there) and the level would
        # take days to catch up. So the cap applies only once the cell's level rests on enough steps.
        settled = self.shape_sum[:n] >= self._settled_weight
        ordinary = np.where(settled, np.minimum(counts, expected + 3.0 * spread + 1.0), counts)
        if np.count_nonzero(unusual):  # rather than .any(): the same answer, without the reduction machinery
            share = self._unusual_decay * self.unusual_share[:n] + (1.0 - self._unusual_decay) * unusual
            self.unusual_share[:n] = share
            rate = np.maximum(self.excess_learning_rate, share)
            damped = expected + rate * (counts - expected)
            learned = np.where(unusual, np.minimum(damped, ordinary), ordinary)
        else:  # the common step: the same numbers without the damping of cells that are not there
            self.unusual_share[:n] *= self._unusual_decay
            learned = ordinary
        if held is not None:
            learned = np.where(held, expected, learned)
        _decay_add(self.rate_sum[:n], self._level_decay, learned)
        _decay_add(self.shape_sum[:n], self._level_decay, self.seasonal(hour, weekday))
        # An hour bin comes round every day, so a slow trend lifts all of them alike: its exposure is time
        # (weighted by the weekday's factor). A weekday bin comes round once a week, so its exposure is what the
        # level and the hour factor expected at the time: a weekday first seen while a brand's share was a third
        # of today's is not mistaken for a quiet weekday. Weekdays are learned only once the level and the hour
        # factors have settled (after the warm-up): before that the level is still a running mean of the night.
        _decay_add(self.hour_counts[hour, :n], self._hour_decay, learned)
        _decay_add(self.hour_exposure[hour, :n], self._hour_decay, self.weekday_factor[weekday, :n])
        if learn_weekday:
            level = self.level()
            _decay_add(self.weekday_counts[weekday, :n], self._weekday_decay, learned)
            _decay_add(self.weekday_exposure[weekday, :n], self._weekday_decay, level * self.hour_factor[hour, :n])
            self.weekday_days[weekday] = self._weekday_decay * self.weekday_days[weekday] + self.step / 86_400.0

    def learn_dispersion(
        self,
        observed: np.ndarray,
        expected: np.ndarray,
        dispersion: np.ndarray,
        usable: np.ndarray,
        windows: int,
    ) -> None:
        """Method-of-moments update from one non-overlapping window: E[(O-E)^2] = E + dispersion * E^2.

        Each window's deviation is winsorised at three standard deviations of the current model: a fault counts
        like an ordinary bad hour instead of teaching the cell that anything goes, and a cell whose dispersion
        is underestimated still pushes it up (nine is more than one).
        """
        n = self.size
        decay = _half_life_decay(self._dispersion_half_life / (windows * self.step))
        spread = 3.0 * np.sqrt(expected * (1.0 + expected * dispersion))
        capped = np.clip(observed, expected - spread, expected + spread)
        moment = np.where(usable, (capped - expected) ** 2 - expected, 0.0)
        square = np.where(usable, expected**2, 0.0)
        seen = usable.astype(float)
        if self.recalled_windows:
            slot = self._dispersion_windows % self.recalled_windows
            self.recalled_moment[slot, :n], self.recalled_square[slot, :n] = moment, square
            self.recalled_seen[slot, :n] = seen
            self._recalled_at[slot] = self._dispersion_windows
        self._dispersion_windows += 1
        self._dispersion_decay = decay
        self.moment_sum[:n] = decay * self.moment_sum[:n] + moment
        self.square_sum[:n] = decay * self.square_sum[:n] + square
        self.windows_seen[:n] = decay * self.windows_seen[:n] + seen
        cells = slice(1, n)  # the root's day-to-day swings say little about a single cell's burstiness
        total_square = float(self.square_sum[cells].sum())
        if total_square > 0:
            self.global_dispersion = float(np.clip(self.moment_sum[cells].sum() / total_square, 0.0, _MAX_DISPERSION))

    def unlearn_recent(self, cells: np.ndarray) -> None:
        """Take back what the last ``recalled_windows`` windows taught these cells' dispersion (a mask): they were a
        fault's, not the cells' noise. Each window's share is taken back as it stands now, decayed since."""
        if not self.recalled_windows:
            return
        n = self.size
        age = self._dispersion_windows - 1 - self._recalled_at
        weight = np.where(self._recalled_at >= 0, self._dispersion_decay ** age.astype(float), 0.0)
        for recalled, total in (
            (self.recalled_moment, self.moment_sum),
            (self.recalled_square, self.square_sum),
            (self.recalled_seen, self.windows_seen),
        ):
            taught = recalled[:, :n][:, cells]
            total[:n][cells] -= weight @ taught
            recalled[:, :n][:, cells] = 0.0
        np.maximum(self.square_sum[:n], 0.0, out=self.square_sum[:n])
        np.maximum(self.windows_seen[:n], 0.0, out=self.windows_seen[:n])

    def refresh_shape(self) -> None:
        """Recompute hour and weekday factors (hourly: they move slowly and cost 31 values per cell)."""
        self.hour_factor[:, : self.size] = self._factors(self.hour_counts, self.hour_exposure).T
        # A weekday seen once says little about the next one: its factor earns its say over a few weeks.
        trust = (self.weekday_days / (self.weekday_days + _WEEKDAY_PRIOR_DAYS))[None, :]
        weekday = 1.0 + trust * (self._factors(self.weekday_counts, self.weekday_exposure) - 1.0)
        self.weekday_factor[:, : self.size] = (weekday / weekday.mean(axis=1, keepdims=True)).T

    def _factors(self, counts: np.ndarray, exposure: np.ndarray) -> np.ndarray:
        """Each cell's factor per bin (cell by bin), from state kept bin by cell."""
        n = self.size
        # Cell by bin, contiguous: the sums over bins below then add in the same order as they always have.
        counts, exposure = np.ascontiguousarray(counts[:, :n].T), np.ascontiguousarray(exposure[:, :n].T)
        bins = counts.shape[1]
        seen = exposure > 0.5  # at least half a report was expected there
        rate = np.divide(counts, exposure, out=np.zeros_like(counts), where=seen)
        seen_bins = np.maximum(seen.sum(axis=1), 1)
        mean_rate = rate.sum(axis=1) / seen_bins
        own = np.divide(rate, mean_rate[:, None], out=np.ones_like(rate), where=mean_rate[:, None] > 0)
        own = np.where(seen, own, 1.0)
        evidence = counts.sum(axis=1)[:, None]
        prior_weight = _REPORTS_PER_BIN * bins
        root = (evidence[0] * own[0] + prior_weight) / (evidence[0] + prior_weight)
        factors = (evidence * own + prior_weight * root[None, :]) / (evidence + prior_weight)
        factors[0] = root
        factors = np.where(seen, factors, root[None, :])
        # Renormalise so a factor of 1 means "an average bin" for every cell.
        normalised: np.ndarray = factors / np.maximum(factors.mean(axis=1, keepdims=True), 1e-12)
        return normalised


def _decay_add(state: np.ndarray, decay: float, new: np.ndarray) -> None:
    """``state = decay * state + new``, in place: the same numbers without two temporary arrays."""
    state *= decay
    state += new


def _widened(array: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    """The array with room for ``capacity`` cells on its second axis (bin by cell)."""
    grown = np.full((array.shape[0], capacity), fill)
    grown[:, : array.shape[1]] = array
    return grown


def _resized(array: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    shape = (capacity, *array.shape[1:])
    grown = np.full(shape, fill)
    grown[: len(array)] = array
    return grown
