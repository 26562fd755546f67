"""Stitching: one customer on many channels is one reporter; a partner's aggregate is ``count`` reporters."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from correlate.contracts import CHANNELS, Contact, validate
from correlate.stitch import Spellings, Stitcher

HOUR = 3600.0
T0 = 1_772_478_000.0  # 2026-03-02T19:00:00Z
DEVICE = {"device_brand": "Sonique", "device_model": "S7", "service": "StreamPlus"}
_ids = itertools.count(1)


def contact(
    customer: str = "c1",
    ts: float = T0,
    channel: str = "voice",
    *,
    dimensions: dict[str, str] | None = None,
    count: int = 1,
    source: str = "centre:lisbon",
    contact_id: str | None = None,
) -> Contact:
    """A contact that went through the real contract, as every contact does."""
    record: dict[str, Any] = {
        "contact_id": contact_id or f"k{next(_ids)}",
        "ts": ts,
        "channel": channel,
        "customer_id": customer,
        "source": source,
        "dimensions": DEVICE if dimensions is None else dimensions,
        "count": count,
    }
    result = validate(record)
    assert isinstance(result, Contact), result
    return result


# --- distinct reporters -------------------------------------------------------------------------------------


def test_one_customer_on_every_channel_within_the_window_is_one_reporter() -> None:
    stitcher = Stitcher(window=HOUR)
    channels = itertools.cycle(sorted(CHANNELS))
    stitched = [stitcher.stitch(contact("c1", T0 + 5 * 60 * i, next(channels))) for i in range(9)]
    assert {s.contact.channel for s in stitched} == CHANNELS
    assert [s.reporters for s in stitched] == [1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_the_same_customer_counts_again_once_the_window_has_passed() -> None:
    stitcher = Stitcher(window=HOUR)
    times = [T0, T0 + HOUR - 1, T0 + HOUR, T0 + 2 * HOUR - 1, T0 + 2 * HOUR]
    assert [stitcher.stitch(contact("c1", ts)).reporters for ts in times] == [1, 0, 1, 0, 1]


def test_different_customers_are_different_reporters() -> None:
    stitcher = Stitcher(window=HOUR)
    assert [stitcher.stitch(contact(customer, T0)).reporters for customer in ("c1", "c2", "c3")] == [1, 1, 1]


def test_a_customer_reporting_a_different_device_counts_for_that_profile() -> None:
    stitcher = Stitcher(window=HOUR)
    first = stitcher.stitch(contact("c1", T0))
    other_device = stitcher.stitch(contact("c1", T0 + 60, dimensions={**DEVICE, "device_model": "S9"}))
    assert (first.reporters, other_device.reporters) == (1, 1)


def test_an_aggregated_partner_record_counts_its_count() -> None:
    stitcher = Stitcher(window=HOUR)
    first = stitcher.stitch(contact("acme-aggregate", T0, "partner", count=23, source="partner:acme"))
    second = stitcher.stitch(contact("acme-aggregate", T0 + 60, "partner", count=4, source="partner:acme"))
    assert (first.reporters, second.reporters) == (23, 4)


def test_a_partner_record_of_count_1_is_one_customer() -> None:
    stitcher = Stitcher(window=HOUR)
    results = [stitcher.stitch(contact("p-77", T0 + i, "partner", source="partner:acme")) for i in range(3)]
    assert [s.reporters for s in results] == [1, 0, 0]


# --- spellings ----------------------------------------------------------------------------------------------


VARIANTS = ["Sonique", "sonique", "SONIQUE", " Sonique ", "sonique\t", "So-nique", "so nique"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_case_and_whitespace_variants_take_the_first_seen_spelling(variant: str) -> None:
    stitcher = Stitcher(window=HOUR)
    first = stitcher.stitch(contact("c1", T0, dimensions={"device_brand": "Sonique"}))
    later = stitcher.stitch(contact("c2", T0 + 60, dimensions={"device_brand": variant}))
    assert later.dimensions == {"device_brand": "Sonique"}
    assert later.profile == first.profile


def test_the_first_spelling_seen_wins_and_is_trimmed() -> None:
    stitcher = Stitcher(window=HOUR)
    first = stitcher.stitch(contact("c1", T0, dimensions={"device_brand": " sonique "}))
    later = stitcher.stitch(contact("c2", T0 + 60, dimensions={"device_brand": "Sonique"}))
    assert first.dimensions == later.dimensions == {"device_brand": "sonique"}


def test_a_spelling_variant_from_the_same_customer_is_not_a_new_reporter() -> None:
    stitcher = Stitcher(window=HOUR)
    first = stitcher.stitch(contact("c1", T0, "voice", dimensions={"device_brand": "Sonique"}))
    again = stitcher.stitch(contact("c1", T0 + 60, "email", dimensions={"device_brand": "SONIQUE "}))
    assert (first.reporters, again.reporters) == (1, 0)


def test_spellings_are_per_dimension() -> None:
    spellings = Spellings()
    assert spellings.canonical("device_brand", "Nova") == "Nova"
    assert spellings.canonical("service", "NOVA") == "NOVA"
    assert spellings.canonical("device_brand", "NOVA") == "Nova"


def test_blank_dimension_values_are_left_out_of_the_profile() -> None:
    stitcher = Stitcher(window=HOUR)
    stitched = stitcher.stitch(contact("c1", T0, dimensions={"device_brand": "Sonique", "region": "  "}))
    assert stitched.profile == (("device_brand", "Sonique"),)


# --- bounded memory -----------------------------------------------------------------------------------------


def test_reporter_memory_is_dropped_once_time_moves_past_the_window() -> None:
    stitcher = Stitcher(window=HOUR)
    stitcher.stitch(contact("c1", T0))
    stitcher.stitch(contact("c2", T0 + 10))
    assert stitcher.memory()["reporters"] == 2
    stitcher.stitch(contact("c3", T0 + 3 * HOUR))
    assert stitcher.memory()["reporters"] == 1  # only c3 is still inside the window


def test_memory_stays_bounded_over_a_long_stream() -> None:
    stitcher = Stitcher(window=HOUR)
    largest = 0
    for minute in range(3 * 24 * 60):  # three days, a new customer every minute
        stitcher.stitch(contact(f"c{minute}", T0 + 60 * minute))
        largest = max(largest, stitcher.memory()["reporters"])
    assert largest <= 60 + 1  # one window's worth: entries leave as soon as the window has passed
