"""The event-time merge of partitions: pure, so every rule is tested without a broker."""

from __future__ import annotations

import random

from correlate.streams.merge import EventTimeMerge


def _merge(partitions: int = 3, slack: float = 0.5) -> EventTimeMerge[str]:
    return EventTimeMerge(range(partitions), slack)


def test_partitions_sorted_each_come_out_as_one_sorted_stream() -> None:
    rnd = random.Random(7)
    streams = {p: sorted((rnd.uniform(0, 1000), f"c{p}-{i}") for i in range(200)) for p in range(4)}
    merge: EventTimeMerge[tuple[float, str]] = EventTimeMerge(range(4), slack=0.5)
    released: list[tuple[float, str]] = []
    cursors = dict.fromkeys(streams, 0)
    while any(cursors[p] < len(streams[p]) for p in streams):  # uneven fetches, as Kafka delivers them
        p = rnd.choice([p for p in streams if cursors[p] < len(streams[p])])
        for key in streams[p][cursors[p] : cursors[p] + rnd.randint(1, 50)]:
            merge.add(p, key, key, produced_at=0.0)
            cursors[p] += 1
        released += merge.pop_ready()
    released += merge.drain()
    assert released == sorted(key for stream in streams.values() for key in stream)


def test_an_empty_partition_holds_the_others_back_until_proven_quiet() -> None:
    merge = _merge(partitions=2, slack=0.5)
    merge.add(0, (100.0, "a"), "a", produced_at=10.0)
    merge.add(0, (200.0, "b"), "b", produced_at=10.0)
    assert merge.pop_ready() == []  # nothing known about partition 1 yet
    merge.add(1, (150.0, "x"), "x", produced_at=10.1)
    assert merge.pop_ready() == ["a", "x"]  # b waits for partition 1's next record, or a proof
    assert len(merge) == 1


def test_a_proof_must_cover_the_head_plus_the_slack() -> None:
    merge = _merge(partitions=2, slack=0.5)
    merge.add(0, (100.0, "a"), "a", produced_at=10.0)
    merge.prove_quiet(1, until=10.4)  # a record written to partition 1 at 10.4 may not be visible yet
    assert merge.pop_ready() == []
    merge.prove_quiet(1, until=10.5)
    assert merge.pop_ready() == ["a"]


def test_a_backlog_on_one_partition_does_not_run_ahead_of_a_slow_one() -> None:
    """A validate worker behind on partition 1 proves nothing: partition 0's backlog waits for it."""
    merge = _merge(partitions=2, slack=0.5)
    for minute in range(60):
        merge.add(0, (minute * 60.0, f"a{minute}"), f"a{minute}", produced_at=1.0)
    merge.prove_quiet(1, until=0.9)  # the last report predates the records produced at 1.0
    assert merge.pop_ready() == []
    merge.add(1, (30.0, "late-looking"), "x", produced_at=1.0)
    assert merge.pop_ready()[:2] == ["a0", "x"]


def test_proofs_only_move_forward() -> None:
    merge = _merge(partitions=2, slack=0.0)
    merge.prove_quiet(1, until=20.0)
    merge.prove_quiet(1, until=5.0)  # an older report read late
    merge.add(0, (1.0, "a"), "a", produced_at=19.0)
    assert merge.pop_ready() == ["a"]


def test_equal_times_are_ordered_by_contact_id_whatever_the_partition() -> None:
    merge = _merge(partitions=2)
    merge.add(1, (5.0, "b"), "b", produced_at=0.0)
    merge.add(0, (5.0, "a"), "a", produced_at=0.0)
    assert merge.drain() == ["a", "b"]


def test_within_a_partition_arrival_order_is_kept() -> None:
    """The merge does not re-sort a partition: the engine's lateness absorbs small disorder inside one."""
    merge = _merge(partitions=1)
    merge.add(0, (10.0, "late-written"), "first", produced_at=0.0)
    merge.add(0, (5.0, "early"), "second", produced_at=0.0)
    assert merge.pop_ready() == ["first", "second"]


def test_a_head_far_ahead_of_its_own_partition_does_not_hold_the_partition_back() -> None:
    """One contact dated a day ahead, then that partition's ordinary records: they go in step with the others,
    and the outlier waits for its time (a day of the other partitions' records)."""
    merge: EventTimeMerge[str] = EventTimeMerge(range(2), slack=0.5, outlier_gap=300.0)
    merge.add(0, (86_400.0 + 10.0, "ahead"), "ahead", produced_at=1.0)
    for i in range(5):
        merge.add(0, (10.0 * i, f"p0-{i}"), f"p0-{i}", produced_at=1.0)
        merge.add(1, (10.0 * i + 5.0, f"p1-{i}"), f"p1-{i}", produced_at=1.0)
    released = merge.pop_ready()
    assert released[:9] == ["p0-0", "p1-0", "p0-1", "p1-1", "p0-2", "p1-2", "p0-3", "p1-3", "p0-4"]
    assert "ahead" not in released
    merge.add(1, (86_400.0 + 20.0, "p1-late"), "p1-late", produced_at=2.0)
    merge.add(0, (86_400.0 + 30.0, "p0-next"), "p0-next", produced_at=2.0)
    assert merge.pop_ready() == []  # a day later than the merge: partition 0 must be proven to hold nothing older
    merge.prove_quiet(0, 3.0)
    merge.prove_quiet(1, 3.0)
    assert merge.pop_ready() == ["p1-4", "ahead", "p1-late", "p0-next"]  # in event-time order, its time come
    assert len(merge) == 0


def test_without_an_outlier_gap_a_partition_keeps_its_order() -> None:
    merge: EventTimeMerge[str] = EventTimeMerge(range(2), slack=0.5)
    merge.add(0, (1000.0, "ahead"), "ahead", produced_at=1.0)
    merge.add(0, (10.0, "behind"), "behind", produced_at=1.0)
    merge.add(1, (20.0, "other"), "other", produced_at=1.0)
    assert merge.pop_ready() == ["other"]  # "behind" waits behind its partition's head, as Kafka ordered them
