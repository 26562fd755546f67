"""Partner aggregates: records that each stand for many reporters, modelled as a compound Poisson count.

A partner that sends "23 customers reported playback errors on Rokit/FlixCo" every few hours delivers its
reports in batches. Counting them like single reports would make every routine batch look like a burst; the
variance-matched negative binomial is no cure either, because with rare, large batches the tail is far
heavier than any bell around the mean. So a cell's aggregated reporters get their own model: records arrive
at a learned rate, each carrying an exponentially distributed number of reporters with a learned mean, and
the tail of the window's total is summed exactly over the number of records. A routine batch is then
unremarkable, several batches in a short window or one batch far larger than usual are not.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["AggregateBaseline", "compound_sf"]

# A cell that has seen few records borrows the mean batch size of all cells, as if from this many records.
_SIZE_PRIOR_RECORDS = 2.0
# A cell that has never seen a record is expected to see them at this share of its single reports' rate
# times the centre's overall record rate: a partner starting to cover a cell is not a fault in itself.
_RATE_PRIOR_STEPS_DAYS = 1.0


class AggregateBaseline:
    """Per-cell rate of aggregated records (per step) and their mean size (reporters per record)."""

    def __init__(self, step: float, half_life: float = 7 * 86_400.0) -> None:
        self.step = step
        self._decay = float(0.5 ** (step / half_life))
        self._prior_steps = _RATE_PRIOR_STEPS_DAYS * 86_400.0 / step
        self.size = 0
        # One array, a row per kind of state: all three decay alike each step, in one operation instead of three.
        self._state = np.zeros((3, 64))
        self.reporters, self.records, self.exposure = self._state

    def grow(self, size: int) -> None:
        capacity = self._state.shape[1]
        if size > capacity:
            grown = np.zeros((3, max(size, 2 * capacity)))
            grown[:, :capacity] = self._state
            self._state = grown
            self.reporters, self.records, self.exposure = grown
        self.size = max(self.size, size)

    def learn(self, batches: np.ndarray | None) -> None:
        """Fold one step in: ``batches`` holds the step's reporters and records per cell (two rows, in that
        order), or None for a step without a partner record (most steps: the state only decays)."""
        n = self.size
        state = self._state[:, :n]
        state *= self._decay  # in place: decay * state + new, without temporaries
        if batches is not None:
            state[:2] += batches
        state[2] += 1.0

    def rate_and_size(self, single_share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(records per step, mean reporters per record) per cell, with priors from all cells (cell 0)."""
        n = self.size
        records, reporters, exposure = self.records[:n], self.reporters[:n], self.exposure[:n]
        overall_rate = records[0] / max(exposure[0], 1.0)
        overall_size = (reporters[0] + _SIZE_PRIOR_RECORDS) / (records[0] + _SIZE_PRIOR_RECORDS)
        prior = self._prior_steps
        rate = (records + prior * overall_rate * single_share) / (exposure + prior)
        size = (reporters + _SIZE_PRIOR_RECORDS * overall_size) / (records + _SIZE_PRIOR_RECORDS)
        return rate, size


def compound_sf(observed: np.ndarray, expected_records: np.ndarray, mean_size: np.ndarray) -> np.ndarray:
    """P(total >= observed) when the number of records is Poisson(expected_records) and each record's size is
    exponential with mean ``mean_size``; the sum over record counts is cut where its terms vanish."""
    observed = np.asarray(observed, dtype=np.float64)
    expected_records = np.maximum(np.asarray(expected_records, dtype=np.float64), 1e-12)
    most = int(np.max(expected_records + 10.0 * np.sqrt(expected_records) + 30.0))
    records = np.arange(1, most + 1, dtype=np.float64)[:, None]
    log_poisson = records * np.log(expected_records) - expected_records - special.gammaln(records + 1.0)
    size_tail = special.gammaincc(records, observed / np.maximum(mean_size, 1e-12))
    tail = np.sum(np.exp(log_poisson) * size_tail, axis=0)
    return np.where(observed > 0, np.clip(tail, 0.0, 1.0), 1.0)
