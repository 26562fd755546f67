"""The shared cell windows (correlate.detectors.cells): running window sums are the sums of the steps in the window,
however the cells grow meanwhile, and a cell's history starts when it appears."""

from __future__ import annotations

import numpy as np
import pytest

from correlate.detectors.baseline import SeasonalBaseline
from correlate.detectors.cells import CellWindows

STEP = 60.0


def test_window_sums_are_the_sums_of_the_last_steps_as_cells_appear() -> None:
    cells = CellWindows(
        step=STEP,
        windows=(180.0, 600.0),
        warmup=0.0,
        kinds=("observed", "expected"),
        elevated_p=1e-3,
        max_depth=2,
        dimensions=None,
        level_half_life=86_400.0,
    )
    rng = np.random.default_rng(4)
    history: list[np.ndarray] = []  # every step's counts, kind by cell, as wide as the cells at the end
    for step in range(1, 200):
        cells.begin_step(step * STEP + STEP)
        # New cells appear along the way (past the first capacity of 64), each counted from its first step on.
        for value in range(step // 2):
            cells.lattice.cells_of((("brand", f"b{value}"), ("region", f"r{value % 3}")))
        counts = cells.empty_counts()
        n = len(cells.lattice)
        counts[:, :n] = rng.integers(0, 5, (2, n))
        cells.slide(counts)
        history.append(counts[:, :n])
        for window, steps in enumerate((3, 10)):
            plain = np.zeros((2, n))
            for past in history[-steps:]:
                plain[:, : past.shape[1]] += past
            assert np.array_equal(cells.sums[window, :, :n], plain)
    assert len(cells.lattice) > 64
    assert not cells.sums[:, :, len(cells.lattice) :].any(), "cells that do not exist yet hold nothing"


def test_windows_taken_back_leave_the_dispersion_as_it_was() -> None:
    # Two cells with Poisson noise for two days of 15-minute windows; then an hour at twice the level in both. The
    # first cell's hour is taken back (the detector reported a fault on it): its dispersion is where it was before,
    # the second learned the hour as noise.
    baseline = SeasonalBaseline(STEP, recalled_windows=8)
    baseline.grow(3)
    baseline.rate_sum[:3] = 1e9  # levels known for sure: the dispersion is the windows' alone
    rng = np.random.default_rng(2)
    expected = np.full(3, 60.0)
    every = np.ones(3, dtype=bool)
    for _ in range(192):
        baseline.learn_dispersion(rng.poisson(expected).astype(float), expected, baseline.dispersion(), every, 15)
    before = baseline.dispersion()
    for _ in range(4):
        baseline.learn_dispersion(rng.poisson(2 * expected).astype(float), expected, baseline.dispersion(), every, 15)
    taught = baseline.dispersion()
    assert taught[1] > 2 * before[1] and taught[2] > 2 * before[2], "an hour at twice the level looks like noise"
    baseline.unlearn_recent(np.array([False, True, False]))
    after = baseline.dispersion()
    assert after[1] == pytest.approx(before[1], rel=0.05)
    assert after[2] == pytest.approx(taught[2])
