"""Which dimension values imply which, learned from the data: every contact (or heartbeat) of a model carries its
brand, every one of a firmware its model. The lattice has no edge from ``{device_model: Air2}`` to
``{device_brand: Arcus}``; these implications add it, so that attribution can climb from a model to its brand and
incidents on the two are recognised as one fault.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from correlate.scope import Scope

__all__ = [
    "IMPLIED_EVIDENCE",
    "IMPLIED_SHARE",
    "Implications",
    "Value",
    "implied_parents",
    "implied_values",
    "learn_implications",
]

Value = tuple[str, str]
Implications = Mapping[Value, tuple[Value, ...]]
# A value carried by this share of another value's reports is implied by it (a model implies its brand) ...
IMPLIED_SHARE = 0.98
# ... once the implying value rests on at least this much learned evidence.
IMPLIED_EVIDENCE = 30.0


def learn_implications(
    pairs: Sequence[tuple[int, int, int]], scopes: Sequence[Scope], level: np.ndarray, evidence: np.ndarray
) -> dict[Value, tuple[Value, ...]]:
    """From ``(pair cell, first value's cell, second value's cell)`` triples and each cell's learned level and
    evidence: a pair as busy as one of its values means that value always comes with the other one."""
    if not pairs:
        return {}
    table = np.asarray(pairs)
    implies: dict[Value, set[Value]] = defaultdict(set)
    for implying, implied in ((2, 1), (1, 2)):
        parent = table[:, implying]
        hits = (evidence[parent] >= IMPLIED_EVIDENCE) & (level[table[:, 0]] >= IMPLIED_SHARE * level[parent])
        for row in np.flatnonzero(hits):
            (value,) = scopes[table[row, implying]]
            (other,) = scopes[table[row, implied]]
            implies[value].add(other)
    return {value: tuple(sorted(others)) for value, others in implies.items()}


def implied_values(scope: Scope, implies: Implications) -> Scope:
    """Values every report of the scope carries and the scope does not name: a model's brand."""
    names = {name for name, _ in scope}
    found = {pair for value in scope for pair in implies.get(value, ()) if pair[0] not in names}
    return tuple(sorted(found))


def implied_parents(scope: Scope, implies: Implications) -> list[Scope]:
    """More general scopes by implication: {model} within {brand}, {model, service} within {brand, service}."""
    found = []
    names = {name for name, _ in scope}
    for pair in scope:
        for other in implies.get(pair, ()):
            if other[0] not in names:
                found.append(tuple(sorted((*(p for p in scope if p != pair), other))))
    return found
