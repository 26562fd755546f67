"""The event-time merge of partitions: pure, so every rule is tested without a broker."""

from __future__ import annotations

import random

from correlate.streams.merge import EventTimeMerge


def _merge(partitions: int = 3, idle: float = 1.0) -> EventTimeMerge[str]:
    return EventTimeMerge(range(partitions), idle, now=0.0)


def test_partitions_sorted_each_come_out_as_one_sorted_stream() -> None:
    rnd = random.Random(7)
    streams = {p: sorted((rnd.uniform(0, 1000), f"c{p}-{i}") for i in range(200)) for p in range(4)}
    merge: EventTimeMerge[tuple[float, str]] = EventTimeMerge(range(4), idle=1.0, now=0.0)
    released: list[tuple[float, str]] = []
    cursors = dict.fromkeys(streams, 0)
    while any(cursors[p] < len(streams[p]) for p in streams):  # uneven fetches, as Kafka delivers them
        p = rnd.choice([p for p in streams if cursors[p] < len(streams[p])])
        for key in streams[p][cursors[p] : cursors[p] + rnd.randint(1, 50)]:
            merge.add(p, key, key, now=0.1)
            cursors[p] += 1
        released += merge.pop_ready(now=0.1)
    released += merge.drain()
    assert released == sorted(key for stream in streams.values() for key in stream)


def test_a_partition_that_may_still_deliver_holds_the_others_back() -> None:
    merge = _merge(partitions=2, idle=1.0)
    merge.add(0, (100.0, "a"), "a", now=0.5)
    merge.add(0, (200.0, "b"), "b", now=0.5)
    assert merge.pop_ready(now=0.6) == []  # partition 1 heard of at 0.0: not yet quiet
    merge.add(1, (150.0, "x"), "x", now=0.7)
    assert merge.pop_ready(now=0.7) == ["a", "x"]  # b waits for partition 1's next record
    assert len(merge) == 1


def test_a_quiet_partition_stops_holding_back_after_the_idle_time() -> None:
    merge = _merge(partitions=2, idle=1.0)
    merge.add(0, (100.0, "a"), "a", now=0.2)
    assert merge.pop_ready(now=0.9) == []
    assert merge.pop_ready(now=1.0) == ["a"]  # partition 1 silent since 0.0


def test_records_known_to_be_pending_keep_a_partition_from_going_quiet() -> None:
    merge = _merge(partitions=2, idle=1.0)
    merge.add(0, (100.0, "a"), "a", now=0.0)
    merge.pending(1, now=0.8)  # the reader sees more on partition 1 than it has fetched
    assert merge.pop_ready(now=1.5) == []
    assert merge.pop_ready(now=1.8) == ["a"]


def test_equal_times_are_ordered_by_contact_id_whatever_the_partition() -> None:
    merge = _merge(partitions=2)
    merge.add(1, (5.0, "b"), "b", now=0.0)
    merge.add(0, (5.0, "a"), "a", now=0.0)
    assert merge.drain() == ["a", "b"]


def test_within_a_partition_arrival_order_is_kept() -> None:
    """The merge does not re-sort a partition: the engine's lateness absorbs small disorder inside one."""
    merge = _merge(partitions=1)
    merge.add(0, (10.0, "late-written"), "first", now=0.0)
    merge.add(0, (5.0, "early"), "second", now=0.0)
    assert merge.pop_ready(now=0.0) == ["first", "second"]
