"""The rate detector's remaining shortcuts give the numbers of the long way round, to the last bit: replay's output
must not move a byte when the detector gets faster. (Shortcuts that saved less than 5% of a replay were dropped;
see the commit that dropped them.)"""

from __future__ import annotations

import numpy as np

from correlate.detectors.aggregates import AggregateBaseline, compound_sf
from correlate.detectors.rate import _BatchModel


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


def test_a_batch_tail_remembered_is_the_tail_computed_afresh() -> None:
    """The rate detector computes a window's compound tail only when its aggregated count moved; whatever the
    sequence of counts, what it answers is what ``compound_sf`` gives for the count now. (To 1e-12, not to the
    bit: ``compound_sf`` cuts its sum over record counts where the terms of the largest expectation it was given
    vanish, so a tail computed beside others may carry a few more vanishing terms.)"""
    rng = np.random.default_rng(11)
    cells = 12
    model = _BatchModel(rng.random(cells) * 0.01, 5.0 + rng.random(cells) * 30.0, np.array([15, 60]))
    aggregated = np.zeros((2, cells))
    for _ in range(200):
        moved = rng.random((2, cells)) < 0.1
        aggregated = np.where(moved, rng.integers(0, 90, (2, cells)).astype(float), aggregated)
        rows, where = (aggregated > 0).nonzero()
        fresh = compound_sf(aggregated[rows, where], model.expected_records[rows, where], model.size[where])
        assert np.allclose(model.tail(rows, where, aggregated), fresh, rtol=1e-12, atol=0.0)
