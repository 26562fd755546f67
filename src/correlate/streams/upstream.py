"""How far the validate stage has got, per input partition: the proof the event-time merge waits for.

The detect leader merges the accepted partitions in event-time order, and must hold a partition back while
more of it may still come. Its own reads cannot tell "this partition is quiet" from "the validate worker
feeding it is behind (catching up a backlog, or dead and not yet replaced)": in both cases nothing arrives.
So every validate worker reports, for each input partition it owns, how many records it has not yet
forwarded (the fetch highwater minus its position, after its forwards are acknowledged) and when it last
fetched that partition. A report of lag 0 fetched at time *t* proves that everything written to the input
partition before *t* is on the accepted topic. An accepted partition is proven quiet up to the earliest such
time over the input partitions feeding it (same number, modulo the partition count); one that is behind, or
has no report (its owner died and the group has not handed it on yet), proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

__all__ = ["FETCH_MARGIN", "NEVER", "encode", "feeders", "field_name", "quiet_until"]

NEVER = float("-inf")
# aiokafka stamps a fetch when its response is handled, which a busy event loop can delay well after the broker
# built it: a fetch counts as covering only what was visible this long before its stamp.
FETCH_MARGIN = 0.5


def field_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def encode(lag: int, fetched_at: float, reported_at: float) -> bytes:
    return orjson.dumps([lag, fetched_at, reported_at])


def feeders(input_partitions: Mapping[str, Iterable[int]], accepted_partitions: int) -> dict[int, list[str]]:
    """Accepted partition -> the input partitions forwarded into it."""
    fed: dict[int, list[str]] = {p: [] for p in range(accepted_partitions)}
    for topic, partitions in input_partitions.items():
        for partition in partitions:
            fed[partition % accepted_partitions].append(field_name(topic, partition))
    return fed


def quiet_until(
    reports: Mapping[bytes | str, bytes | str], fed: Mapping[int, list[str]]
) -> dict[int, tuple[float, float]]:
    """Accepted partition -> (wall time before which everything its input partitions received has been
    forwarded, wall time by which those forwards were acknowledged). The leader may count a partition quiet up
    to the first time only once its own read of the partition is later than the second."""
    latest: dict[str, tuple[int, float, float]] = {}
    for name, value in reports.items():
        key = name.decode() if isinstance(name, bytes) else name
        try:
            lag, fetched_at, reported_at = orjson.loads(value)
            latest[key] = (int(lag), float(fetched_at), float(reported_at))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            continue
    proven: dict[int, tuple[float, float]] = {}
    for partition, names in fed.items():
        until, acknowledged = float("inf"), NEVER  # no input feeds it: it never receives anything
        for name in names:
            lag, fetched_at, reported_at = latest.get(name, (1, NEVER, NEVER))
            until = min(until, fetched_at if lag == 0 else NEVER)
            acknowledged = max(acknowledged, reported_at)
        proven[partition] = (until, acknowledged)
    return proven
