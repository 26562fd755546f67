"""Scopes: the set of dimension values a fault is attributed to, e.g. ``{device_brand: Sonique, service: StreamPlus}``.

A scope is kept as a sorted tuple of ``(dimension, value)`` pairs so it can key dictionaries and compare cheaply.
The empty scope is every contact; a scope's *parents* drop one pair, its *children* add one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["Scope", "contains", "covers", "describe", "make_scope", "overlapping", "parents", "related"]

Scope = tuple[tuple[str, str], ...]


def make_scope(values: Mapping[str, str] | Iterable[tuple[str, str]]) -> Scope:
    pairs = values.items() if isinstance(values, Mapping) else values
    return tuple(sorted(pairs))


def parents(scope: Scope) -> list[Scope]:
    return [scope[:i] + scope[i + 1 :] for i in range(len(scope))]


def contains(general: Scope, specific: Scope) -> bool:
    """True when every contact in ``specific`` is also in ``general`` (``general`` is a subset of the pairs)."""
    return set(general) <= set(specific)


def related(a: Scope, b: Scope) -> bool:
    """One scope contains the other: they describe the same fault at two levels of detail."""
    return contains(a, b) or contains(b, a)


def overlapping(a: Scope, b: Scope) -> bool:
    """The scopes share a value and contradict each other nowhere: {brand: B, service: S} and {brand: B,
    region: R} can describe the same customers; {brand: B, service: S1} and {brand: B, service: S2} cannot."""
    first, second = dict(a), dict(b)
    shared = first.keys() & second.keys()
    return bool(shared) and all(first[name] == second[name] for name in shared)


def covers(scope: Scope, profile: Scope) -> bool:
    """True when a contact with this (canonical, sorted) profile falls inside the scope."""
    return all(pair in profile for pair in scope)


def describe(scope: Scope) -> str:
    return ", ".join(f"{name}={value}" for name, value in scope) or "(everything)"
