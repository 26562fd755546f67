"""The rate detector's shortcuts give the numbers of the long way round, to the last bit: replay's output must not
move a byte when the detector gets faster."""

from __future__ import annotations

import numpy as np

from correlate.detectors.aggregates import AggregateBaseline
from correlate.detectors.baseline import SeasonalBaseline
from correlate.detectors.rate import _lowest, _tally, _tally_each
from correlate.detectors.tail import negbin_sf, negbin_sf_sized, negbin_size


def test_counting_each_new_reporter_gives_the_weighted_tally() -> None:
    rng = np.random.default_rng(7)
    profiles = [(np.sort(rng.choice(50, 6, replace=False)).astype(np.intp), int(rng.integers(0, 4))) for _ in range(30)]
    assert np.array_equal(_tally_each(profiles, 64), _tally(profiles, 64))
    assert np.array_equal(_tally_each([(np.array([1, 2], dtype=np.intp), 0)], 8), np.zeros(8))


def test_a_step_without_partner_records_learns_as_one_with_none() -> None:
    quiet, zeros = AggregateBaseline(60.0), AggregateBaseline(60.0)
    batches = np.array([[0.0, 28.0, 0.0, 3.0, 0.0], [0.0, 1.0, 0.0, 1.0, 0.0]])
    for baseline in (quiet, zeros):
        baseline.grow(5)
        baseline.learn(batches)
    quiet.learn(None)
    zeros.learn(np.zeros((2, 5)))
    for name in ("reporters", "records", "exposure"):
        assert np.array_equal(getattr(quiet, name), getattr(zeros, name))
    assert quiet.reporters[1] == 28.0 * quiet._decay and quiet.records[3] == quiet._decay


def test_the_tail_from_the_size_is_the_tail_from_the_dispersion() -> None:
    rng = np.random.default_rng(3)
    observed = rng.integers(0, 40, 200).astype(float)
    expected = rng.random(200) * 20.0
    dispersion = np.concatenate([rng.random(190) * 2.0, np.zeros(10)])
    assert np.array_equal(
        negbin_sf_sized(observed, expected, negbin_size(dispersion)), negbin_sf(observed, expected, dispersion)
    )


def test_the_lowest_p_value_per_cell_is_the_minimum_over_windows() -> None:
    rows = np.random.default_rng(5).random((3, 100))
    for windows in (1, 2, 3):
        out = np.empty(100)
        _lowest(rows[:windows], out)
        assert np.array_equal(out, rows[:windows].min(axis=0))


def test_the_level_is_the_same_whether_or_not_every_cell_has_learned() -> None:
    baseline = SeasonalBaseline(60.0)
    baseline.grow(4)
    baseline.rate_sum[:4] = [3.0, 0.5, 0.0, 7.25]
    baseline.shape_sum[:4] = [2.0, 0.3, 0.0, 1.1]
    assert np.array_equal(baseline.level(), [1.5, 0.5 / 0.3, 0.0, 7.25 / 1.1])
    baseline.shape_sum[2] = 0.7
    baseline._level = None
    assert np.array_equal(baseline.level(), [1.5, 0.5 / 0.3, 0.0, 7.25 / 1.1])
