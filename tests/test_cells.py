"""The shared cell windows (correlate.detectors.cells): running window sums are the sums of the steps in the window,
however the cells grow meanwhile, and a cell's history starts when it appears."""

from __future__ import annotations

import numpy as np

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
