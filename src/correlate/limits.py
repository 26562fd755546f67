"""The bounds on what one record, or a burst of records, may make correlate hold: each declared once, here.

A feed is written by programs we do not control. One record with a value nested 300 levels deep, a thousand
dimension names, a ``count`` of 10^18 or a clock six days ahead must cost correlate one rejected record, never
its memory or the incidents of everyone else. Every bound is a setting (``correlate.config.Settings`` inherits
these fields, so a settings file or ``CORRELATE_<NAME>`` may change them), and each reject names the bound it met.

What happens past each bound (docs/reliability.md lists them for operators):

    max_line_bytes           the line is rejected unread, with an excerpt
    max_nesting              the record is rejected (its extra fields nest too deeply)
    max_dimensions           the record is rejected (too many dimension names in one record)
    max_name_chars           the record is rejected (a dimension name too long)
    max_value_chars          the record is rejected (a dimension value too long)
    max_text_chars           the text is cut to this length; the contact is kept (a long email is still evidence)
    max_count                the partner's record is rejected (a count no batch of customers can have)
    max_dimension_names      a name beyond the budget is left out of the contact's profile and counted
    max_values_per_dimension a value beyond its dimension's budget is left out of the profile and counted
    clock_quorum             how many of the latest records the stream's clock follows (their median)
    max_excerpt_chars        how much of a rejected record its reject quotes
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_LIMITS", "Limits"]


def _limit(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Limits:
    """Bounds on input, with the defaults a contact centre's feeds stay far inside."""

    max_line_bytes: int = _limit(
        1_048_576, "Longest input line (or Kafka record) read, in bytes; longer ones are rejected unread."
    )
    max_nesting: int = _limit(32, "Deepest nesting of objects and arrays a record's extra fields may have.")
    max_dimensions: int = _limit(16, "Most dimension names one record may carry.")
    max_name_chars: int = _limit(64, "Longest dimension name, in characters.")
    max_value_chars: int = _limit(256, "Longest dimension value, in characters.")
    max_text_chars: int = _limit(4000, "Longest free text read; a longer text is cut to this length (kept).")
    max_count: int = _limit(100_000, "Largest 'count' a partner's aggregated record may carry.")
    max_dimension_names: int = _limit(
        64, "Distinct dimension names profiled per budget window; further names are left out and counted."
    )
    max_values_per_dimension: int = _limit(
        10_000, "Distinct values of one dimension profiled per budget window; further values are left out."
    )
    dimension_budget_window: float = _limit(
        86_400.0, "Event-time seconds after which an unused dimension name or value frees its place in the budget."
    )
    clock_quorum: int = _limit(
        5, "The stream's clock follows the median event time of this many latest records: a minority cannot move it."
    )
    max_excerpt_chars: int = _limit(4096, "How much of a rejected record its reject quotes, in characters.")


DEFAULT_LIMITS = Limits()
