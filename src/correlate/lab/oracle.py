"""The oracle: how soon a fault could be seen by someone who knows its scope's true background.

Nobody knows the true background, so the oracle is a floor to measure a detector against, not a target. It
takes a fault's scope and the background the simulator recorded for it (``background``: expected distinct new
customers a minute without the fault, from ``background_from``), counts the stream's distinct new customers in
the scope minute by minute, and at each step end from the fault's start tests the windows the detector uses
(15 and 60 minutes by default) with a Poisson tail: the recorded background already holds the hour's realised
gamma factors, so given it the simulator's counts are Poisson. Its time to detect is the first step end at which
some window's p-value beats the detector's own per-test threshold (:func:`per_test_threshold`).

What it counts, and how that differs from the detector:

* **Customers first seen.** A customer counts once per (customer, profile), at their first single report in the
  stream, the profile's values pooled as the stitcher pools spellings. The stitcher counts a customer once per
  profile per rolling hour (its window is the longest detection window), so a customer who writes again more
  than an hour after their first counted contact counts twice there; in the simulator's streams that adds a few
  percent of reporters that neither the fault nor the background accounts for. Counting first sightings keeps
  the counts exactly Poisson around the recorded background.
* **Single reports only.** A partner's aggregated record arrives in lumps a few times a day and is left out (the
  recorded background holds single reports only; ``background_partner`` says what the aggregates add). When a
  fault sends part of its extra reporters through a partner (``via_partner``), the oracle sees the rest.
* **Scope.** A contact is in the scope when it has every (name, value) of the scope; a cause outside the
  dimensions names the ``services`` it serves instead, and a contact is in it when its service is one of them.

Pure: no I/O; numpy and scipy only.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import special

from correlate.contracts import Contact
from correlate.stitch import pool_key

__all__ = ["NewCustomers", "first_detection", "lattice_cells", "per_test_threshold", "poisson_sf"]

DAY = 86_400.0

Pooled = tuple[tuple[str, str], ...]


def poisson_sf(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """P(X >= observed) for X Poisson with the given means (vectorised; 1 where nothing was observed)."""
    found: np.ndarray = np.where(
        observed > 0, special.gammainc(np.maximum(observed, 1e-300), np.maximum(expected, 1e-300)), 1.0
    )
    return found


def lattice_cells(profiles: Iterable[Mapping[str, str]], max_depth: int = 2) -> int:
    """How many cells a detector with this ``max_depth`` would test: the distinct combinations of 1 to
    ``max_depth`` (name, value) pairs found together in some profile (values pooled as the stitcher pools
    spellings). The whole centre, which the detector never tests, is not one of them."""
    cells: set[Pooled] = set()
    for profile in {_pooled(profile) for profile in profiles}:
        for depth in range(1, max_depth + 1):
            cells.update(combinations(profile, depth))
    return len(cells)


def per_test_threshold(cells: int, false_alarms_per_day: float, windows: int, step: float) -> float:
    """The p-value one test must beat for ``false_alarms_per_day`` over a day of tests: ``cells`` cells, each
    tested in ``windows`` windows at every step (``step`` seconds), a Bonferroni split of the budget, as the
    detector splits its own."""
    return false_alarms_per_day / max(cells * windows * DAY / step, 1.0)


def first_detection(
    arrivals: Sequence[float],
    background: Sequence[float],
    background_from: float,
    start: float,
    threshold: float,
    windows: Sequence[float] = (900.0, 3600.0),
    step: float = 60.0,
) -> float | None:
    """Minutes from ``start`` to the first step end (a multiple of ``step`` since the epoch, as the detector's
    steps end) at which the new customers ``arrivals`` (times) in some window ending there are too many for
    the ``background`` (expected new customers a minute, each minute from ``background_from``) at
    ``threshold``; None when that never happens before the background ends."""
    expected = np.asarray(background, dtype=float)
    minute = np.floor((np.asarray(arrivals, dtype=float) - background_from) / 60.0).astype(np.int64)
    minute = minute[(minute >= 0) & (minute < len(expected))]
    counts = np.bincount(minute, minlength=len(expected)).astype(float)
    observed_sum = np.concatenate(([0.0], np.cumsum(counts)))
    expected_sum = np.concatenate(([0.0], np.cumsum(expected)))
    first_end = math.ceil(start / step) * step
    ends = np.arange(first_end, background_from + 60.0 * len(expected) + 0.5, step)
    if not len(ends):
        return None
    last = np.round((ends - background_from) / 60.0).astype(np.int64)  # minutes before the window's end
    detected = np.zeros(len(ends), dtype=bool)
    for window in windows:
        first = np.maximum(last - round(window / 60.0), 0)
        observed = observed_sum[last] - observed_sum[first]
        mean = expected_sum[last] - expected_sum[first]
        detected |= poisson_sf(observed, mean) < threshold
    hits = np.flatnonzero(detected)
    return float((ends[hits[0]] - start) / 60.0) if len(hits) else None


@dataclass(frozen=True)
class NewCustomers:
    """Each customer's first single report for a profile, in time order, with the profile's values pooled: what
    the oracle counts (see the module docstring)."""

    times: list[float]
    profiles: list[dict[str, str]]

    @classmethod
    def from_contacts(cls, contacts: Iterable[Contact]) -> NewCustomers:
        seen: set[tuple[str, Pooled]] = set()
        found: list[tuple[float, dict[str, str]]] = []
        for contact in contacts:
            if contact.count != 1:
                continue
            profile = _pooled(contact.dimensions)
            key = (contact.customer_id, profile)
            if key not in seen:
                seen.add(key)
                found.append((contact.ts, dict(profile)))
        found.sort(key=lambda item: item[0])
        return cls([ts for ts, _ in found], [profile for _, profile in found])

    def arrivals(self, scope: Mapping[str, str], services: Sequence[str], since: float, until: float) -> list[float]:
        """Times of the new customers in the scope (and, when ``services`` is not empty, on one of them) in
        ``[since, until)``."""
        wanted = _pooled(scope)
        served = {pool_key(service) for service in services}
        lo, hi = bisect_left(self.times, since), bisect_right(self.times, until)
        return [
            self.times[i]
            for i in range(lo, hi)
            if self.times[i] < until
            and all(self.profiles[i].get(name) == value for name, value in wanted)
            and (not served or self.profiles[i].get("service") in served)
        ]


def _pooled(dimensions: Mapping[str, str]) -> Pooled:
    return tuple(sorted((name, pool_key(value)) for name, value in dimensions.items() if value.strip()))
