"""One level below an attributed pair: is the fault in one value of a third dimension?

The lattice keeps single values and pairs (``max_depth`` 2): a fault on Sonique players watching StreamPlus in
the North lifts the pair ``{Sonique, StreamPlus}`` and is attributed there. Keeping every triple's windows would
multiply the cells by the number of third values; instead, once a pair is attributed, its reporters of the
window are counted again by each other dimension's values. A value holding clearly more than its usual share of
the pair while the rest of the pair is calm narrows the cause to the triple, by the same two questions
attribution asks one level up (:mod:`correlate.detectors.attribution`). Only attributed pairs are drilled, so
the cost is per finding, not per contact. A value's usual share of the pair is read from the pairs the lattice
keeps: ``{Sonique, North}`` within Sonique and ``{StreamPlus, North}`` within StreamPlus, averaged.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from correlate.detectors.tail import binomial_sf, negbin_sf
from correlate.scope import Scope

__all__ = ["Narrowed", "RecentReports", "narrow", "shares_within"]

Value = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Narrowed:
    """A triple that carries its pair's fault, with its reporters and its expected share of the pair's."""

    scope: Scope
    observed: float
    expected: float


class RecentReports:
    """Single reports of the last ``horizon`` seconds, as (time, profile, new reporters): what a drill counts."""

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self._reports: deque[tuple[float, Scope, int]] = deque()

    def add(self, ts: float, profile: Scope, reporters: int) -> None:
        self._reports.append((ts, profile, reporters))

    def forget_before(self, now: float) -> None:
        reports, oldest = self._reports, now - self.horizon
        while reports and reports[0][0] < oldest:
            reports.popleft()

    def by_value(self, scope: Scope, since: float) -> tuple[Counter[Value], float]:
        """Reporters since ``since`` inside ``scope``, by each value they carry, and in all."""
        wanted = set(scope)
        counts: Counter[Value] = Counter()
        total = 0.0
        for ts, profile, reporters in self._reports:
            if ts >= since and wanted.issubset(profile):
                total += reporters
                for value in profile:
                    counts[value] += reporters
        return counts, total


def narrow(
    pair: Scope,
    counts: Counter[Value],
    total: float,
    expected: float,
    dispersion: float,
    share_of: Callable[[Value], float | None],
    alpha: float,
    ratio: float,
) -> list[Narrowed]:
    """The triples that carry the pair's fault, or nothing when the pair as a whole does.

    ``counts``/``total``: the pair's reporters in the window by value and in all; ``expected``: the pair's
    expected reporters; ``share_of(value)``: the value's usual share of the pair (None: unknown, not tested).
    Along each other dimension, the values whose share stands out (binomial, at ``alpha``, and running at least
    ``ratio`` times as fast as the rest) are candidates; they carry the fault when the rest of the pair is not
    elevated (or holds less than a quarter of their excess). The dimension needing the fewest values wins, then
    the one whose values hold the most excess.
    """
    if total <= 0 or expected <= 0:
        return []
    named = {name for name, _ in pair}
    by_dimension: dict[str, list[tuple[Value, float]]] = {}
    for value in sorted(counts):
        if value[0] in named:
            continue
        share = share_of(value)
        if share is None or not 0.0 < share < 1.0:
            continue
        by_dimension.setdefault(value[0], []).append((value, share))
    best: list[Narrowed] = []
    best_key = (0, 0.0)
    for _name, values in sorted(by_dimension.items()):
        standouts = [
            (value, share) for value, share in values if _stands_out(counts[value], total, share, ratio, alpha)
        ]
        if not standouts:
            continue
        share_sum = sum(share for _, share in standouts)
        if share_sum >= 1.0:
            continue
        observed_sum = sum(counts[value] for value, _ in standouts)
        rest, rest_expected = total - observed_sum, expected * (1.0 - share_sum)
        if _rest_elevated(rest, rest_expected, observed_sum, expected * share_sum, dispersion, alpha):
            continue
        found = [Narrowed(_with(pair, value), counts[value], expected * share) for value, share in standouts]
        excess = observed_sum - expected * share_sum
        key = (len(found), -excess)
        if not best or key < best_key:
            best, best_key = found, key
    return best


def _stands_out(observed: float, total: float, share: float, ratio: float, alpha: float) -> bool:
    rest_rate = max(total - observed, 0.5) / (1.0 - share)
    if observed / share < ratio * rest_rate:
        return False
    return binomial_sf(observed, total, share) < alpha


def _rest_elevated(
    rest: float, rest_expected: float, observed: float, standout_expected: float, dispersion: float, alpha: float
) -> bool:
    if rest_expected <= 1e-9:
        return False
    p = negbin_sf(np.array([rest]), np.array([rest_expected]), np.array([dispersion]))[0]
    return bool(p < alpha) and rest - rest_expected >= 0.25 * (observed - standout_expected)


def _with(pair: Scope, value: Value) -> Scope:
    return tuple(sorted((*pair, value)))


def shares_within(
    pair: Scope, expected_of: Callable[[Scope], float | None], implied: Callable[[Scope], Scope]
) -> Callable[[Value], float | None]:
    """A value's usual share of the pair, from the pairs the lattice keeps (each pair value with the third
    value, within that pair value), averaged over the two; None unless both are known.

    A value that implies one of the pair's, or is implied by one (a model and its brand), is no third dimension:
    its share of the brand's pair is its share of the brand, which the other pair value's share (of all its
    contacts) badly understates, and ``{model, service}`` is a pair the lattice tests itself.
    """
    pair_values = set(pair)

    def share_of(value: Value) -> float | None:
        if pair_values & set(implied((value,))) or any(value in implied((single,)) for single in pair):
            return None
        shares = []
        for single in pair:
            whole, part = expected_of((single,)), expected_of(_with((single,), value))
            if not whole or part is None:
                return None
            shares.append(part / whole)
        return sum(shares) / len(shares)

    return share_of
