"""Tail probabilities for counts, and the false-alarm budget that turns them into decisions.

Contact counts are burstier than Poisson: a busy evening, a partner that sends its reports in batches. The
negative binomial keeps the Poisson's mean but lets the variance grow as ``mean + dispersion * mean**2``; with
dispersion 0 it is the Poisson. Both tails are computed with the regularised incomplete beta/gamma functions, so
they stay accurate at p = 1e-12, where a normal approximation is useless.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["binomial_cdf", "binomial_sf", "negbin_cdf", "negbin_sf", "per_test_threshold"]


def negbin_sf(observed: np.ndarray, expected: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """P(Y >= observed) for Y negative-binomial with the given mean and dispersion (vectorised).

    With size r = 1 / dispersion and q = mean / (mean + r): P(Y >= k) = I_q(k, r). A dispersion near zero
    gives a huge r, where this is the Poisson tail to full precision.
    """
    size = 1.0 / np.maximum(dispersion, 1e-12)
    mean = np.maximum(expected, 1e-300)
    tail = special.betainc(np.maximum(observed, 1e-300), size, mean / (mean + size))
    found: np.ndarray = np.where(np.asarray(observed) > 0, tail, 1.0)
    return found


def binomial_sf(successes: float, trials: float, share: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, share): is a child's share of its parent's count too large?"""
    if successes <= 0:
        return 1.0
    if share <= 0.0:
        return 0.0
    if share >= 1.0 or successes > trials:
        return 1.0 if successes <= trials else 0.0
    return float(special.betainc(successes, trials - successes + 1.0, share))


def per_test_threshold(false_alarms_per_day: float, tests_per_day: float) -> float:
    """The p-value one test must beat so that all tests together raise about ``false_alarms_per_day``.

    A Bonferroni split of the daily budget over every test actually made: each cell, each window, each step.
    Overlapping windows make this conservative, but a scan over sliding windows has many more chances to
    cross a threshold than ``day / window`` independent looks would suggest.
    """
    return false_alarms_per_day / max(tests_per_day, 1.0)


def negbin_cdf(observed: np.ndarray, expected: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """P(Y <= observed) for Y negative-binomial with the given mean and dispersion (vectorised): the lower tail,
    for counts that fall short of what is expected (heartbeats that stop coming).

    With size r and p = r / (mean + r): P(Y <= k) = I_p(r, k + 1), computed directly (not as one minus the upper
    tail) so that it stays accurate at p = 1e-12.
    """
    size = 1.0 / np.maximum(dispersion, 1e-12)
    mean = np.maximum(expected, 1e-300)
    tail: np.ndarray = special.betainc(size, np.maximum(observed, 0.0) + 1.0, size / (mean + size))
    return tail


def binomial_cdf(successes: float, trials: float, share: float) -> float:
    """P(X <= successes) for X ~ Binomial(trials, share): is a child's share of its parent's count too small?"""
    if successes >= trials or share <= 0.0:
        return 1.0
    if share >= 1.0:
        return 0.0
    return float(special.betainc(trials - max(successes, 0.0), max(successes, 0.0) + 1.0, 1.0 - share))
