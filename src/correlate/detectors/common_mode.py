"""The centre-wide level: how far everything is above or below its baseline right now, whatever the cause.

A big TV event, a storm, the evening news: every cell rises together, and none of them is a fault. The
common-mode factor is estimated, for each dimension, as the pooled observed/expected ratio of the middle half
of its single values (ranked by ratio, weighted by expected count) — one failing brand sits in the top
quarter of brands and is trimmed away — and the dimension whose factor is closest to 1 is believed: a brand
fault lifts every service a little, but leaves the brands' middle half where it was, whereas a centre-wide
surge lifts the middle of every dimension.
"""

from __future__ import annotations

import numpy as np

__all__ = ["common_mode_factor"]

# Fewer values than this in a dimension, or less expected volume in its middle half, and it has no say.
_MIN_VALUES = 4
_MIN_EXPECTED = 20.0
_BOUNDS = (0.5, 3.0)


def common_mode_factor(observed: np.ndarray, expected: np.ndarray, groups: list[np.ndarray]) -> float:
    """Centre-wide factor from single-value cells grouped by dimension (``groups`` holds cell indices)."""
    best: float | None = None
    best_distance = 0.0  # |log(best)|
    for cells in groups:
        if len(cells) < _MIN_VALUES:
            continue
        o, e = observed[cells], expected[cells]
        keep = e > 0
        if np.count_nonzero(keep) < len(keep):  # after the first hours every value is expected somewhere: no copies
            o, e = o[keep], e[keep]
            if len(e) < _MIN_VALUES:
                continue
        order = (o / e).argsort(kind="stable")  # methods rather than np.argsort and np.cumsum: no Python wrapper
        ranked, total = e[order], e.sum()
        weight = ranked.cumsum() / total
        middle = order[(weight > 0.25) & (weight - ranked / total < 0.75)]
        pooled_expected = e[middle].sum()
        if pooled_expected < _MIN_EXPECTED:
            continue
        low, high = _BOUNDS
        factor = min(max(float(o[middle].sum() / pooled_expected), low), high)  # np.clip costs ten times more
        distance = abs(float(np.log(factor)))
        if best is None or distance < best_distance:
            best, best_distance = factor, distance
    return 1.0 if best is None else best
