"""The validate stage as a plain aiokafka loop (``validate_runner = "aiokafka"``, the default).

A consumer in group ``correlate`` over the input topics, so workers split the input partitions between them.
Each fetched batch is checked, forwarded in batches (accepted to ``contacts.accepted``, dead letters to
``contacts.rejects``), and only once the broker has acknowledged them all are the input offsets committed:
at-least-once, so a worker killed mid-batch leaves its records to be checked again by whoever takes its
partitions, never lost. The duplicates that can cause are dropped by the detect stage (repeated contact_id).

Input partition *p* is forwarded to accepted partition *p* (co-partitioned: the same key hashes to the same
partition on both): each accepted partition then has exactly one writer and keeps its input partition's
order, which is what lets the detect leader merge the partitions back into event-time order. Writing by
key instead would interleave whole fetched batches of different input partitions (hours of event time
apart while catching up on a backlog) and make contacts late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from correlate.limits import DEFAULT_LIMITS, Limits
from correlate.metrics import Metrics
from correlate.streams import kafka_io, upstream
from correlate.streams.health import Supervision
from correlate.streams.poison import poison_letter
from correlate.streams.settings import StackSettings
from correlate.streams.validate import Checked, check, observe, route
from correlate.topics import ACCEPTED, REJECTS

__all__ = ["YIELD_EVERY", "run_validate"]

logger = logging.getLogger(__name__)
YIELD_EVERY = 1_000  # records between two yields to the event loop


async def run_validate(
    settings: StackSettings,
    bootstrap: str,
    metrics: Metrics,
    store: Any,
    supervision: Supervision,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Validate until cancelled; ``store`` (redis.asyncio) receives the lag reports (:mod:`.upstream`).
    ``supervision`` outlives the stage: a record that crashed it twice is dead-lettered, not checked again."""
    guard, health, faults = supervision.guard, supervision.health, supervision.faults
    accepted, rejects = settings.topic(ACCEPTED), settings.topic(REJECTS)
    reader = kafka_io.consumer(
        bootstrap,
        *(settings.topic(t) for t in settings.input_topics),
        group_id=settings.group,
        session_timeout_ms=6_000,  # a killed worker's partitions move on within seconds
        heartbeat_interval_ms=1_000,
    )
    client = kafka_io.producer(bootstrap)
    await client.start()
    await reader.start()
    try:
        writer = kafka_io.BatchWriter(client)
        await writer.prepare([accepted, rejects])
        forwarded = _Forwarded()
        while True:
            batches = await reader.getmany(timeout_ms=200, max_records=2_000)
            counted: list[Checked | None] = []  # counted once forwarded: a batch that fails is checked again
            for tp, records in batches.items():
                fetched_ms = reader.last_poll_timestamp(tp) or int(time.time() * 1000)
                for record in records:
                    if record.offset % YIELD_EVERY == 0:  # share the loop with the detect stage
                        await asyncio.sleep(0)
                    position = (tp.topic, tp.partition, record.offset)
                    quarantined = guard.handling(position)
                    if quarantined is not None:
                        counted.append(None)
                        writer.add(rejects, None, poison_letter(position, "validate", quarantined.reason, record.value))
                        continue
                    faults.check("validate", record.value)
                    faults.hang("validate-hang", record.value)
                    verdict = check(record.value, limits)
                    counted.append(verdict)
                    out = route(verdict, record.value, tp.topic, tp.partition, record.offset)
                    if out.accepted:
                        headers = kafka_io.accepted_headers(fetched_ms, tp.topic, tp.partition, record.offset)
                        writer.add_to(accepted, tp.partition, out.key, out.value, record.timestamp, headers)
                    else:
                        writer.add(rejects, None, out.value)
                    guard.handled()
            if batches and faults.armed("validate-flush"):
                for records in batches.values():
                    for record in records:
                        faults.check("validate-flush", record.value)
            if batches:
                await writer.flush()
                for seen in counted:
                    if seen is None:
                        metrics.observe_quarantined()
                    else:
                        observe(metrics, seen)
                health.progressed(sum(len(records) for records in batches.values()))
                forwarded.update(batches)
                try:
                    await reader.commit()
                except (CommitFailedError, IllegalStateError) as error:
                    # A rebalance took the partitions away: their new owner checks these records again.
                    logger.warning("validate: commit failed after a rebalance (%s); records are re-checked", error)
            await _report_lag(reader, store, settings.lag_key, forwarded)
    except KafkaError:
        logger.exception("validate: Kafka error")
        raise
    finally:
        await asyncio.shield(_stop(reader, client))


class _Forwarded:
    """Per input partition, the next offset this worker has forwarded (acknowledged) — not aiokafka's
    ``position()``, which runs ahead into records fetched but not yet handed out. Forgotten whenever the
    assignment changes: after a rebalance the group restarts a partition from its committed offset."""

    def __init__(self) -> None:
        self.next: dict[Any, int] = {}
        self.start: dict[Any, int] = {}
        self.assignment: frozenset[Any] = frozenset()

    def update(self, batches: dict[Any, list[Any]]) -> None:
        for tp, records in batches.items():
            if records:
                self.next[tp] = records[-1].offset + 1

    async def base(self, reader: Any, tp: Any) -> int:
        if tp in self.next:
            return self.next[tp]
        if tp not in self.start:
            committed = await reader.committed(tp)
            if committed is None:
                committed = (await reader.beginning_offsets([tp]))[tp]
            self.start[tp] = int(committed)
        return self.start[tp]


async def _report_lag(reader: Any, store: Any, key: str, forwarded: _Forwarded) -> None:
    """After the forwards are acknowledged: per input partition, the records the broker holds beyond what we
    forwarded, and when we last fetched it (what a lag of 0 proves, see :mod:`.upstream`). A partition not
    fetched yet is not reported: the leader counts it as behind."""
    assignment = frozenset(reader.assignment())
    if assignment != forwarded.assignment:
        forwarded.next.clear()
        forwarded.start.clear()
        forwarded.assignment = assignment
    now = time.time()
    mapping: dict[str, bytes] = {}
    for tp in assignment:
        highwater = reader.highwater(tp)
        fetched_ms = reader.last_poll_timestamp(tp)
        if highwater is None or not fetched_ms:
            continue
        lag = max(0, highwater - await forwarded.base(reader, tp))
        covered = fetched_ms / 1000 - upstream.FETCH_MARGIN
        mapping[upstream.field_name(tp.topic, tp.partition)] = upstream.encode(lag, covered, now)
    if mapping:
        await store.hset(key, mapping=mapping)


async def _stop(reader: Any, client: Any) -> None:
    await kafka_io.stop(reader)
    await kafka_io.stop(client)
