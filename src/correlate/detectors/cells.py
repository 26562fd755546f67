"""Per-cell sliding windows over the dimension lattice: the plumbing the rate and silence detectors share.

Both detectors count something per cell of the lattice every step (new reporters; healthy heartbeats), keep the
last steps of those counts in a ring and one running sum per window length, compare the sums with a seasonal
baseline, and remember each cell's lowest p-value (is the cell still out of the ordinary?). Both refresh the
baseline's hour and weekday shape, and the value implications learned from pairs (a model implies its brand),
when the hour turns. :class:`CellWindows` holds all of that once; a detector keeps only what its test needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from correlate.detectors.baseline import SeasonalBaseline
from correlate.detectors.implication import implied_parents, implied_values, learn_implications
from correlate.detectors.lattice import Lattice
from correlate.scope import Scope

__all__ = ["DAY", "CellWindows", "hour_and_weekday", "widened"]

DAY = 86_400.0
_INITIAL_CELLS = 64


class CellWindows:
    """A lattice of cells, each with a seasonal baseline, a ring of its last steps' counts of a few ``kinds``,
    one sliding-window sum per kind and window length, the step it appeared at, and its lowest p-value at the
    last step scored; and the step clock the detector runs on.

    Arrays are laid out step (or window) first, then kind, then cell: one step's counts of every kind are then
    one contiguous block, which numpy slides several times faster than a strided one. They have room for more
    cells than exist (``capacity``); cells past the last one hold zeros.

    ``on_new_cell(cell, scope)`` is called after the shared per-cell state has room for the new cell.
    """

    def __init__(
        self,
        *,
        step: float,
        windows: Sequence[float],
        warmup: float,
        kinds: Sequence[str],
        elevated_p: float,
        max_depth: int,
        dimensions: Sequence[str] | None,
        level_half_life: float,
        on_new_cell: Callable[[int, Scope], None] | None = None,
        recalled_windows: int = 0,
    ) -> None:
        self.step = step
        self.windows = tuple(windows)
        self.kinds = tuple(kinds)
        self.elevated_p = elevated_p
        self.window_steps = np.asarray([max(1, round(w / step)) for w in self.windows])
        self.ring_length = int(self.window_steps.max())
        self.shortest = int(np.argmin(self.window_steps))
        self.warmup_steps = round(warmup / step)
        self.baseline = SeasonalBaseline(step, level_half_life=level_half_life, recalled_windows=recalled_windows)
        self.created = np.zeros(_INITIAL_CELLS, dtype=np.int64)
        self.last_p = np.ones(_INITIAL_CELLS)
        self.ring = np.zeros((self.ring_length, len(self.kinds), _INITIAL_CELLS))
        self.sums = np.zeros((len(self.windows), len(self.kinds), _INITIAL_CELLS))
        self.step_start = 0.0
        self.step_number = 0
        self.first_step: int | None = None
        self.hour = -1  # of the step being closed (-1: none yet)
        self.weekday = 0
        self.pairs: list[tuple[int, int, int]] = []  # (pair cell, first value's cell, second value's cell)
        self.implies: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self._on_new_cell = on_new_cell
        self.lattice = Lattice(
            max_depth=max_depth,
            dimensions=dimensions,
            on_new_cell=self._new_cell,
            implied_parents=self._implied_parents,
        )

    def _implied_parents(self, scope: Scope) -> list[Scope]:
        return implied_parents(scope, self.implies)

    @property
    def capacity(self) -> int:
        return int(self.created.shape[0])

    def window_sums(self, name: str) -> np.ndarray:
        """One kind's sliding-window sums, window by cell (a view: writes go to ``sums``)."""
        return self.sums[:, self.kinds.index(name)]

    # -- the step clock ------------------------------------------------------------------------------------
    def begin_step(self, step_end: float) -> None:
        """Number the step being closed (step numbers count steps since the epoch)."""
        self.step_start = step_end - self.step
        self.step_number = round(self.step_start / self.step)

    def started(self, anything: bool) -> bool:
        """Whether the history has begun: it starts with the first step that brought anything, whatever came
        before."""
        if self.first_step is None:
            if not anything:
                return False
            self.first_step = self.step_number
        return True

    def warmed_up(self) -> bool:
        assert self.first_step is not None
        return self.step_number - self.first_step >= self.warmup_steps

    def old_enough(self, n: int) -> np.ndarray:
        """Cells that have been watched for the warm-up (a younger one's windows are not full of history)."""
        found: np.ndarray = self.step_number - self.created[:n] >= self.warmup_steps
        return found

    def expected(self) -> np.ndarray:
        """Every cell's expected count in the step being closed, from the seasonal baseline. When the hour turns
        the baseline's shape and the value implications are refreshed first (they move slowly)."""
        step_start = self.step_start
        hour, weekday = hour_and_weekday(step_start)
        if hour != self.hour:
            self.baseline.refresh_shape()
            if self.pairs:
                level, evidence = self.baseline.level(), self.baseline.rate_sum
                self.implies = learn_implications(self.pairs, self.lattice.scopes, level, evidence)
            self.hour = hour
        self.weekday = weekday
        return self.baseline.expected(step_start % DAY / 3600.0, weekday)

    # -- windows -------------------------------------------------------------------------------------------
    def empty_counts(self) -> np.ndarray:
        """Zeros for one step's counts: kind by cell, with room for every cell there is room for."""
        return np.zeros((len(self.kinds), self.capacity))

    def slide(self, counts: np.ndarray) -> None:
        """Add this step's counts (kind by cell, as from ``empty_counts``) to the window sums, less the steps
        leaving them, and keep them in the ring."""
        ring, step_number, ring_length = self.ring, self.step_number, self.ring_length
        for window, steps in enumerate(self.window_steps.tolist()):
            window_sums = self.sums[window]
            window_sums += counts - ring[(step_number - steps) % ring_length]
        ring[step_number % ring_length] = counts

    def back_fill(self, name: str, cell: int, per_step: float) -> None:
        """A new cell that existed before its first count at ``per_step``: its ring and window sums of one kind as
        if it had."""
        row = self.kinds.index(name)
        self.ring[:, row, cell] = per_step
        self.sums[:, row, cell] = per_step * self.window_steps

    def dispersion_due(self) -> bool:
        """Whether the baseline learns how bursty the cells are at this step: once the warm-up is over, at the end
        of every shortest window (non-overlapping windows)."""
        return self.warmed_up() and self.step_number % int(self.window_steps[self.shortest]) == 0

    def learn_dispersion(
        self, observed: np.ndarray, expected: np.ndarray, dispersion: np.ndarray, held: np.ndarray | None = None
    ) -> None:
        """Teach the baseline how bursty each cell's counts are, from the shortest window's ``observed`` and
        ``expected`` sums (cells younger than the window have not filled it and are left out, and so are cells
        ``held``: a fault's windows are not the cell's noise)."""
        length = int(self.window_steps[self.shortest])
        usable = self.step_number - self.created[: len(observed)] >= length
        if held is not None:
            usable &= ~held
        self.baseline.learn_dispersion(observed, expected, dispersion, usable, length)

    # -- cells ---------------------------------------------------------------------------------------------
    def is_elevated(self, scope: Scope) -> bool:
        """Whether the scope's p-value at the last step scored was below ``elevated_p`` in some window."""
        cell = self.lattice.index.get(scope)
        return cell is not None and bool(self.last_p[cell] < self.elevated_p)

    @property
    def learned_implications(self) -> bool:
        return bool(self.implies)

    def implied(self, scope: Scope) -> Scope:
        """Values every report of the scope carries and the scope does not name, as learned from pairs."""
        return implied_values(scope, self.implies)

    def _new_cell(self, cell: int, scope: Scope) -> None:
        self.baseline.grow(cell + 1)
        capacity = self.capacity
        if cell >= capacity:
            new = max(cell + 1, 2 * capacity)
            self.created = widened(self.created, new, 0)
            self.last_p = widened(self.last_p, new, 1.0)
            self.ring = widened(self.ring, new, 0.0)
            self.sums = widened(self.sums, new, 0.0)
        self.created[cell] = self.step_number
        if len(scope) == 2:
            first, second = self.lattice.index.get(scope[:1]), self.lattice.index.get(scope[1:])
            if first is not None and second is not None:
                self.pairs.append((cell, first, second))
        if self._on_new_cell is not None:
            self._on_new_cell(cell, scope)


def widened(array: np.ndarray, capacity: int, fill: float) -> np.ndarray:
    """The array with room for ``capacity`` cells on its last axis, new cells at ``fill``."""
    grown = np.full((*array.shape[:-1], capacity), fill, dtype=array.dtype)
    grown[..., : array.shape[-1]] = array
    return grown


def hour_and_weekday(ts: float) -> tuple[int, int]:
    """UTC hour of day and weekday (Monday = 0) of an epoch time."""
    return int(ts % DAY // 3600), (int(ts // DAY) + 3) % 7
