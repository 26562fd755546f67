"""How bad an incident is, in the four levels the paging tools route on: a pure function of its event.

PagerDuty Events v2, Alertmanager's ``severity`` label, Keep and Grafana IRM all route on the same four words, so
correlate uses them as they are:

    critical   page now, wake someone: very many customers, or many and confirmed another way
    error      page: a real fault that a person should look at within the hour
    warning    a ticket, no page: a small fault, or one the data is not yet sure of
    info       record only: a handful of customers

The level starts from the customers affected (callers, or the devices gone quiet behind a silence, whichever is
more) against three thresholds, and then moves at most one level up and one down for what else the incident is:

- up, for an incident of at least ``warning`` size, when independent kinds of evidence agree (customers'
  contacts *and* device heartbeats, or a vendor's own declaration beside our own data: corroboration), when the
  customers affected at least doubled since the incident's previous event (growth), or when more than one vendor
  is at fault (a fault between two vendors' products is harder to fix);
- down, when the confidence is below ``low_confidence`` (the test barely passed).

A vendor's declared incident is never below ``warning``: the vendor itself says something is wrong.

Nothing here reads a clock or any state but what it is given, so replay and the stream workers agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = ["LEVELS", "Severity", "SeverityFacts", "SeverityRules", "assess"]


class Severity(StrEnum):
    """The four levels, named as PagerDuty's and Alertmanager's ``severity``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


LEVELS: Final = (Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL)


@dataclass(frozen=True, slots=True)
class SeverityRules:
    """The thresholds, in customers affected, at which each level starts; and the confidence below which the
    level drops one. Settings ``severity_warning_customers`` and friends set them."""

    warning_customers: int = 10
    error_customers: int = 50
    critical_customers: int = 500
    low_confidence: float = 0.99


@dataclass(frozen=True, slots=True)
class SeverityFacts:
    """What the level is computed from, as plain values (an incident event has them all)."""

    customers: int
    previous_customers: int | None = None
    evidence_kinds: int = 1
    vendors_at_fault: int = 0
    confidence: float = 1.0
    vendor_declared: bool = False


def assess(facts: SeverityFacts, rules: SeverityRules | None = None) -> Severity:
    """The incident's level: from customers affected, one up or down for what else it is (module docstring)."""
    rules = rules or SeverityRules()
    if facts.customers >= rules.critical_customers:
        level = 3
    elif facts.customers >= rules.error_customers:
        level = 2
    elif facts.customers >= rules.warning_customers:
        level = 1
    else:
        level = 0
    grew = facts.previous_customers is not None and facts.customers >= 2 * max(facts.previous_customers, 1)
    if level >= 1 and (facts.evidence_kinds >= 2 or grew or facts.vendors_at_fault >= 2):
        level += 1
    if facts.confidence < rules.low_confidence:
        level -= 1
    if facts.vendor_declared:
        level = max(level, 1)
    return LEVELS[min(max(level, 0), len(LEVELS) - 1)]
