"""The dimension lattice: every cell a contact counts in.

A contact with ``{device_brand: Sonique, service: StreamPlus, region: North}`` counts in the root cell (every
contact), in each single value (``{device_brand: Sonique}``, …) and in each pair (``{device_brand: Sonique,
service: StreamPlus}``, …) up to ``max_depth``. Cells get dense integer indices so that detectors can keep their
state in numpy arrays; a profile's cell list is computed once and cached, because the same device/service/
region combinations recur all day.
"""

from __future__ import annotations

from collections.abc import Callable, KeysView, Sequence
from itertools import combinations

import numpy as np

from correlate.scope import Scope, parents
from correlate.stitch import Profile

__all__ = ["ROOT", "Lattice"]

ROOT: Scope = ()


class Lattice:
    """Assigns indices to cells and knows which cells a profile counts in.

    ``dimensions`` limits the lattice to those names (``None``: every dimension seen). A dimension with more than
    ``max_values`` distinct values looks like an identifier rather than a population (a serial number, a
    customer's street) and is left out of the lattice from then on; its values stay on the contacts.
    """

    def __init__(
        self,
        max_depth: int = 2,
        dimensions: Sequence[str] | None = None,
        max_values: int = 5000,
        on_new_cell: Callable[[int, Scope], None] | None = None,
        implied_parents: Callable[[Scope], list[Scope]] | None = None,
    ) -> None:
        self.max_depth = max_depth
        self.dimensions = None if dimensions is None else frozenset(dimensions)
        self.max_values = max_values
        self.scopes: list[Scope] = []
        self.index: dict[Scope, int] = {}
        self.excluded: set[str] = set()
        self._values_seen: dict[str, set[str]] = {}
        self._cells_of: dict[Profile, np.ndarray] = {}
        self._on_new_cell = on_new_cell
        self._implied_parents = implied_parents
        self.cell(ROOT)

    def __len__(self) -> int:
        return len(self.scopes)

    def cell(self, scope: Scope) -> int:
        known = self.index.get(scope)
        if known is not None:
            return known
        number = len(self.scopes)
        self.scopes.append(scope)
        self.index[scope] = number
        if self._on_new_cell is not None:
            self._on_new_cell(number, scope)
        return number

    @property
    def known_profiles(self) -> KeysView[Profile]:
        """Profiles whose cells are known (any other may create cells in ``cells_of``)."""
        return self._cells_of.keys()

    def cells_of(self, profile: Profile) -> np.ndarray:
        """Indices of every cell a contact with this profile counts in (root first)."""
        cells = self._cells_of.get(profile)
        if cells is None:
            cells = self._cells_of[profile] = self._build(profile)
        return cells

    def parent_cells(self, cell: int) -> list[int]:
        """Indices of the cell's parents that exist, the root excluded.

        Besides the scopes with one value fewer, a parent may be implied: every contact of
        ``{device_model: Air2}`` is also in ``{device_brand: Arcus}``, though the lattice has no edge there.
        """
        scope = self.scopes[cell]
        candidates = parents(scope)
        if self._implied_parents is not None:
            candidates += self._implied_parents(scope)
        return sorted({self.index[p] for p in candidates if p and p in self.index})

    def _build(self, profile: Profile) -> np.ndarray:
        pairs = [pair for pair in profile if self._admits(*pair)]
        cells = [self.cell(ROOT)]
        for depth in range(1, min(self.max_depth, len(pairs)) + 1):
            cells.extend(self.cell(combo) for combo in combinations(pairs, depth))
        return np.asarray(cells, dtype=np.intp)

    def _admits(self, name: str, value: str) -> bool:
        if name in self.excluded or (self.dimensions is not None and name not in self.dimensions):
            return False
        seen = self._values_seen.setdefault(name, set())
        if value not in seen:
            if len(seen) >= self.max_values:
                self.excluded.add(name)
                self._cells_of.clear()
                return False
            seen.add(value)
        return True
