"""Attribution: from many elevated cells to the one scope that explains them — whose product is at fault.

When Sonique players fail on every service, ``{device_brand: Sonique}`` is elevated, and so is every
``{device_brand: Sonique, service: …}`` pair, and perhaps ``{service: StreamPlus}`` because Sonique is a large
share of it. One fault, many cells. Two questions sort them out, both asked on the counts of one window:

*Is a child disproportionate within its parent?* Under "the parent is at fault", the parent's reports spread
over its children in their usual shares, so a child's count is binomial given the parent's. A child clearly
above its usual share (significant, and its rate relative to baseline at least ``ratio`` times that of its
siblings) *and* whose siblings are calm carries a fault of its own; otherwise the parent explains it, and
attribution moves up.

*Is the rest of a parent still elevated without its disproportionate children?* If removing the children that
stand out along one dimension leaves the rest of the parent at baseline, the fault lives in those children
(only Sonique x StreamPlus), and attribution moves down. If the rest is still clearly elevated, the parent is at
fault as a whole, however much more its hottest children hold. When children along two dimensions would both do,
the fewer children win, then those holding more extra reports.

Both questions count independent events — single reports, and a partner's aggregated record once — as the tail
test does: a routine partner batch of 60 on one sibling is one event, and must not drown the 34 single reports
of a pair fault, nor make a rest that holds twice the child's extra reports look calm.

Because the test is conditional on the parent's own count, a big x big pair (the most popular brand with the
most popular service) separates from its huge marginals as cleanly as a small one.

The same two questions, mirrored, attribute a *shortfall* (``lower=True``: heartbeats that stopped coming): a
child owns a silence when its share of the parent falls clearly below its usual share and the rest of the parent
is at baseline; a parent whose rest is still clearly short explains its children.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from correlate.detectors.base import Finding
from correlate.detectors.lattice import Lattice
from correlate.detectors.tail import binomial_cdf, binomial_sf, negbin_cdf, negbin_sf

__all__ = ["Attribution", "WindowCounts", "findings_per_cause"]


@dataclass(frozen=True)
class WindowCounts:
    """Per cell, in one window: observed and expected reporters (effect sizes), observed and expected
    independent events (single reports plus partner records: what the share tests count), dispersion, and the
    cell's p-value (upper tail; lower tail when attributing a shortfall)."""

    observed: np.ndarray
    expected: np.ndarray
    events: np.ndarray
    expected_events: np.ndarray
    dispersion: np.ndarray
    p_value: np.ndarray


class Attribution:
    """Resolves significant cells to the scopes at fault, for one window at one step."""

    def __init__(
        self,
        lattice: Lattice,
        counts: WindowCounts,
        elevated: Iterable[int],
        alpha: float,
        ratio: float,
        *,
        lower: bool = False,
        root_parent: bool = False,
    ) -> None:
        self.lattice = lattice
        self.counts = counts
        self.alpha = alpha
        self.ratio = ratio
        self.lower = lower
        self.root_parent = root_parent
        self._elevated = set(elevated)
        self._children: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for cell in sorted(self._elevated):
            scope = lattice.scopes[cell]
            for parent in self._parents(cell):
                extra = {name for name, _ in scope} - {name for name, _ in lattice.scopes[parent]}
                if len(extra) == 1:  # a child by one more value, not by implication
                    self._children[parent][extra.pop()].append(cell)
        self._resolved: dict[int, frozenset[int]] = {}

    def causes(self, significant: Iterable[int], threshold: float | None = None) -> dict[int, float]:
        """Each cause cell with the smallest p-value among the significant cells it explains.

        With ``threshold`` (the p-value that made the cells significant), a cause must also beat it against its
        baseline lifted with every busy parent that is not elevated (``_share_of_a_busy_parent``)."""
        found: dict[int, float] = {}
        for cell in sorted(significant):
            for cause in self._resolve(cell, frozenset()):
                if threshold is not None and self._share_of_a_busy_parent(cause, threshold):
                    continue
                p = float(self.counts.p_value[cell])
                found[cause] = min(found.get(cause, 1.0), p)
        return found

    def _share_of_a_busy_parent(self, cell: int, threshold: float) -> bool:
        """Whether the cell's excess is no more than its part of a parent's busy hour.

        A service whose customers all call more for an hour (a big match, a new episode) is busy within what its
        own history allows, so it is not elevated; but every cell inside it is lifted by the same factor, and a
        small cell, whose own history is too short to show that burstiness, looks far out against its baseline.
        So the cell is tested again against its baseline lifted by the factor the rest of each such parent runs
        at (never lowered: a calm rest leaves the test as it was), and must still beat the finding's threshold.
        An elevated parent is ``_up``'s question.
        """
        if self.lower:
            return False
        counts = self.counts
        for parent in self._parents(cell):
            if parent in self._elevated:
                continue
            rest_expected = counts.expected_events[parent] - counts.expected_events[cell]
            if rest_expected <= 1e-9:
                continue
            factor = (counts.events[parent] - counts.events[cell]) / rest_expected
            if factor > 1.0:
                lifted = counts.expected_events[cell : cell + 1] * factor
                p = negbin_sf(counts.events[cell : cell + 1], lifted, counts.dispersion[cell : cell + 1])
                if p[0] >= threshold:
                    return True
        return False

    # -- the two questions ---------------------------------------------------------------------------------
    def disproportionate(self, child: int, parent: int) -> bool:
        if self.lower:
            return self._short_within(child, parent)
        # Counted in independent events (single reports plus partner records): 28 reporters in one partner
        # record are one draw, and a routine batch of 60 on a sibling must not drown 34 single reports here.
        # Or in reporters, in units of the parent's reporters per event: one record of 40 customers on a quiet
        # pair is the pair's, as its partner says, though it is a single draw.
        counts = self.counts
        events = self._stands_out(child, parent, counts.events, counts.expected_events, 1.0)
        batch = max(counts.observed[parent] / max(counts.events[parent], 1.0), 1.0)
        return events or self._stands_out(child, parent, counts.observed, counts.expected, batch)

    def _stands_out(self, child: int, parent: int, observed: np.ndarray, expected: np.ndarray, unit: float) -> bool:
        """Above its usual share of the parent (binomial, counts in ``unit``s), and running at least ``ratio``
        times as fast as its siblings, relative to their baselines."""
        share = expected[child] / expected[parent] if expected[parent] > 0 else 0.0
        if share >= 1.0:
            return False  # the child is all of the parent: the data cannot tell them apart
        if share <= 0.0:
            return bool(observed[child] > 0)
        rest_observed = max(observed[parent] - observed[child], 0.0)
        rest_rate = max(rest_observed, 0.5) / (expected[parent] - expected[child])
        child_rate = observed[child] / expected[child]
        if child_rate < self.ratio * rest_rate:
            return False
        return binomial_sf(observed[child] / unit, observed[parent] / unit, share) < self.alpha

    def concentrated(self, child: int, parent: int) -> bool:
        """The fault lives in the child: it stands out within the parent, and the rest of the parent is calm."""
        return self.disproportionate(child, parent) and not self.rest_elevated(parent, [child])

    def rest_elevated(self, parent: int, children: list[int]) -> bool:
        if self.lower:
            return self._rest_short(parent, children)
        expected = self.counts.expected
        events, expected_events = self.counts.events, self.counts.expected_events
        rest_expected = expected[parent] - expected[children].sum()
        rest_events = events[parent] - events[children].sum()
        rest_expected_events = expected_events[parent] - expected_events[children].sum()
        if rest_expected <= 1e-9 or rest_expected_events <= 1e-9:
            return False
        p = negbin_sf(np.array([rest_events]), np.array([rest_expected_events]), self.counts.dispersion[parent])
        # An elevated rest is part of the fault, however much more its standout children hold: a brand failing
        # on every service, far worse on two of them, is the brand's fault. Counted in independent events (what
        # the test counts), and tested against the parent's own dispersion, so a big rest whose baseline is a
        # little off is not "elevated" by its size alone.
        return bool(p[0] < self.alpha)

    # -- the mirrored questions, for a shortfall ------------------------------------------------------------
    def _short_within(self, child: int, parent: int) -> bool:
        """The child's share of the parent's count is clearly below its usual share, and its rate relative to
        baseline is at most 1 / ``ratio`` of its siblings'."""
        observed, expected = self.counts.observed, self.counts.expected
        share = expected[child] / expected[parent] if expected[parent] > 0 else 0.0
        if share >= 1.0 or share <= 0.0:
            return False
        rest_rate = max(observed[parent] - observed[child], 0.0) / (expected[parent] - expected[child])
        child_rate = observed[child] / expected[child]
        if child_rate * self.ratio > rest_rate:
            return False
        return binomial_cdf(observed[child], observed[parent], share) < self.alpha

    def _rest_short(self, parent: int, children: list[int]) -> bool:
        observed, expected = self.counts.observed, self.counts.expected
        rest_observed = observed[parent] - observed[children].sum()
        rest_expected = expected[parent] - expected[children].sum()
        if rest_expected <= 1e-9:
            return False
        p = negbin_cdf(np.array([rest_observed]), np.array([rest_expected]), self.counts.dispersion[parent])
        rest_deficit = 1.0 - rest_observed / rest_expected
        children_deficit = 1.0 - observed[children].sum() / max(expected[children].sum(), 1e-12)
        return bool(p[0] < self.alpha) and rest_deficit >= 0.25 * children_deficit

    # -- walking the lattice -------------------------------------------------------------------------------
    def _resolve(self, cell: int, path: frozenset[int]) -> frozenset[int]:
        if cell in self._resolved:
            return self._resolved[cell]
        if cell in path:
            return frozenset({cell})
        path = path | {cell}
        result = self._up(cell, path) or self._down(cell, path) or frozenset({cell})
        self._resolved[cell] = result
        return result

    def _parents(self, cell: int) -> list[int]:
        """The lattice's parents; with ``root_parent``, single values also have the root (everything) above
        them, so that every population going quiet at once is one finding."""
        found = self.lattice.parent_cells(cell)
        if self.root_parent and len(self.lattice.scopes[cell]) == 1:
            return [0, *found]
        return found

    def _up(self, cell: int, path: frozenset[int]) -> frozenset[int] | None:
        """An elevated parent in which this cell's excess is not concentrated explains it."""
        p_value = self.counts.p_value
        candidates = [p for p in self._parents(cell) if p in self._elevated]
        for parent in sorted(candidates, key=lambda p: (p_value[p], self.lattice.scopes[p])):
            if parent not in path and not self.concentrated(cell, parent):
                return self._resolve(parent, path)
        return None

    def _down(self, cell: int, path: frozenset[int]) -> frozenset[int] | None:
        """Children that stand out along one dimension, leaving the rest at baseline, explain this cell.

        When several dimensions would do, the fewest children win, then those that carry the most excess
        reporters: a pair fault on brand x service also puts a partner's batch of its reporters on one brand x
        region cell, and the service that holds forty extra customers, not the region that holds one batch,
        is where the fault lives."""
        best: list[int] | None = None
        best_key = (0, 0.0)
        for _dimension, children in sorted(self._children.get(cell, {}).items()):
            standouts = [child for child in children if self.disproportionate(child, cell)]
            if not standouts or self.rest_elevated(cell, standouts):
                continue
            excess = float((self.counts.observed[standouts] - self.counts.expected[standouts]).sum())
            key = (len(standouts), -excess if not self.lower else excess)
            if best is None or key < best_key:
                best, best_key = standouts, key
        if best is None:
            return None
        causes: set[int] = set()
        for child in best:
            causes |= self._resolve(child, path)
        return frozenset(causes)


def findings_per_cause(
    kind: str,
    lattice: Lattice,
    best: dict[int, tuple[float, int]],
    at: float,
    observed: np.ndarray,
    expected: np.ndarray,
    threshold: float,
    tests: int,
    windows: Sequence[float],
) -> list[Finding]:
    """One finding per attributed cause, from the window where it was most significant (``best``: cell ->
    (p-value, window index)); most significant first, ties by scope, so the order never depends on dict order."""
    order = sorted(best.items(), key=lambda item: (item[1][0], lattice.scopes[item[0]]))
    return [
        Finding(
            kind=kind,
            scope=lattice.scopes[cause],
            at=at,
            observed=float(observed[w, cause]),
            expected=float(expected[w, cause]),
            p_value=p,
            threshold=threshold,
            tests=tests,
            window=windows[w],
        )
        for cause, (p, w) in order
    ]
