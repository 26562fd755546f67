"""How far behind the validate stage is, per input partition: what keeps the event-time merge honest.

The detect leader merges the accepted partitions in event-time order, and must hold a partition back while
more of it may still come. Its own reads cannot tell "this partition is quiet" from "the validate worker
feeding it is behind (catching up a backlog, or dead and not yet replaced)": in both cases nothing arrives.
So every validate worker reports, for each input partition it owns, how many records it has not yet
forwarded (the fetch highwater minus its position), with the wall time of the report. The leader holds an
accepted partition back while any input partition feeding it (same number, modulo the partition count)
reports a lag, or has no fresh report at all (its owner died and the group has not yet handed it on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

STALE_AFTER = 1.0  # seconds: validate workers report several times a second; silence means trouble


def field_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def encode(lag: int, at: float) -> bytes:
    return orjson.dumps([lag, at])


def feeders(input_partitions: Mapping[str, Iterable[int]], accepted_partitions: int) -> dict[int, list[str]]:
    """Accepted partition -> the input partitions forwarded into it."""
    fed: dict[int, list[str]] = {p: [] for p in range(accepted_partitions)}
    for topic, partitions in input_partitions.items():
        for partition in partitions:
            fed[partition % accepted_partitions].append(field_name(topic, partition))
    return fed


def behind(
    reports: Mapping[bytes | str, bytes | str],
    fed: Mapping[int, list[str]],
    now: float,
    stale_after: float = STALE_AFTER,
) -> set[int]:
    """The accepted partitions that may still receive records their validate workers have not forwarded."""
    latest: dict[str, tuple[int, float]] = {}
    for name, value in reports.items():
        key = name.decode() if isinstance(name, bytes) else name
        try:
            lag, at = orjson.loads(value)
            latest[key] = (int(lag), float(at))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            continue
    held: set[int] = set()
    for partition, names in fed.items():
        for name in names:
            report = latest.get(name)
            if report is None or report[0] > 0 or now - report[1] > stale_after:
                held.add(partition)
                break
    return held
