"""Attribution on one window's counts, where partner batches sit beside single reports: what a user would see
as the incident's scope when a routine batch lands during a fault."""

from __future__ import annotations

import numpy as np
from scipy.special import pdtrc

from correlate.detectors.attribution import Attribution, WindowCounts
from correlate.lattice import Lattice
from correlate.scope import Scope, make_scope

# Per profile: (reporters observed, events observed, reporters expected, events expected).
Counts = dict[tuple[str, str, str], tuple[float, float, float, float]]


def _causes(counts: Counts) -> list[Scope]:
    lattice = Lattice(max_depth=2)
    cells = {key: lattice.cells_of(make_scope({"device_brand": key[0], "service": key[1], "region": key[2]}))
             for key in counts}  # fmt: skip
    n = len(lattice)
    sums = np.zeros((4, n))
    for key, values in counts.items():
        for row, value in enumerate(values):
            sums[row, cells[key]] += value
    observed, events, expected, expected_events = sums
    p_value = np.minimum(1.0, pdtrc(events - 1.0, np.maximum(expected_events, 1e-9)))
    p_value[0] = 1.0
    window = WindowCounts(observed, expected, events, expected_events, np.full(n, 0.02), p_value)
    attribution = Attribution(lattice, window, np.flatnonzero(p_value < 1e-3), alpha=1e-3, ratio=1.5)
    return sorted(lattice.scopes[cause] for cause in attribution.causes(np.flatnonzero(p_value < 1e-7)))


def test_a_routine_partner_batch_beside_a_pair_fault_does_not_widen_it_to_the_brand() -> None:
    # 34 customers of Kestrel x PayWave report a fault (2 expected); meanwhile a partner's routine batch of 60
    # Kestrel x StreamPlus reporters arrives, as it does every few hours (one record, ~0.05 expected).
    counts: Counts = {
        ("Kestrel", "PayWave", "North"): (17.0, 17.0, 1.0, 1.0),
        ("Kestrel", "PayWave", "Capital"): (17.0, 17.0, 1.0, 1.0),
        ("Kestrel", "StreamPlus", "North"): (4.0, 4.0, 4.0, 4.0),
        ("Kestrel", "StreamPlus", "Capital"): (65.0, 5.0, 7.0, 4.05),
        ("Nuvo", "PayWave", "North"): (10.0, 10.0, 10.0, 10.0),
        ("Nuvo", "StreamPlus", "Capital"): (10.0, 10.0, 10.0, 10.0),
    }
    assert _causes(counts) == [make_scope({"device_brand": "Kestrel", "service": "PayWave"})]


def test_a_pair_fault_is_not_pinned_on_the_region_where_one_partner_batch_of_it_landed() -> None:
    # Arcus x NewsNow fails at night, when NewsNow is most of Arcus; one partner record carries 7 of its
    # reporters, all in Central. The rest of Arcus outside Central holds twice Central's extra reports.
    counts: Counts = {
        ("Arcus", "NewsNow", "Central"): (14.0, 8.0, 1.5, 1.5),
        ("Arcus", "NewsNow", "Valley"): (45.0, 45.0, 14.0, 14.0),
        ("Arcus", "Other", "Central"): (4.0, 4.0, 0.5, 0.5),
        ("Arcus", "Other", "Valley"): (8.0, 8.0, 4.5, 4.5),
        ("Nuvo", "NewsNow", "Central"): (10.0, 10.0, 10.0, 10.0),
        ("Nuvo", "Other", "Valley"): (10.0, 10.0, 10.0, 10.0),
    }
    causes = _causes(counts)
    assert make_scope({"device_brand": "Arcus", "region": "Central"}) not in causes
    assert causes and all(dict(cause).get("device_brand") == "Arcus" for cause in causes)
