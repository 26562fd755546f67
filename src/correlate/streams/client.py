"""``correlate produce`` and ``correlate subscribe``: a JSONL file into the input topic, incident events out.

Both are thin: the producer keys each record by its ``customer_id`` when it can read one (one customer's
contacts stay in order in one partition) and otherwise lets the validate stage find what is wrong with it —
a broken line is published as it is, to be dead-lettered with the reason, not refused here.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable
from typing import IO

import orjson
from aiokafka import TopicPartition

from correlate.contracts import parse_timestamp
from correlate.streams import kafka_io

FLUSH_EVERY = 2_000  # records between flushes: a record is visible soon after its timestamp (see streams.merge)


def _key_and_time(line: bytes) -> tuple[bytes | None, float | None]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(record, dict):
        return None, None
    customer = record.get("customer_id")
    key = customer.encode() if isinstance(customer, str) and customer else None
    try:
        ts: float | None = parse_timestamp(record.get("ts"))
    except Exception:  # a bad ts is the validate stage's to report; here it only cannot pace
        ts = None
    return key, ts


async def produce(
    bootstrap: str, topic: str, lines: Iterable[bytes], *, speed: float | None = None, rate: float | None = None
) -> int:
    """Publish every non-blank line; as fast as possible, or paced: ``speed`` times event time, or ``rate``
    records a second. Returns the number of records published (all acknowledged by the broker)."""
    client = kafka_io.producer(bootstrap)
    await client.start()
    try:
        writer = kafka_io.BatchWriter(client)
        await writer.prepare([topic])
        started = time.monotonic()
        first_ts: float | None = None
        count = 0
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            key, ts = _key_and_time(line)
            due: float | None = None
            if rate:
                due = started + count / rate
            elif speed and ts is not None:
                first_ts = ts if first_ts is None else first_ts
                due = started + (ts - first_ts) / speed
            if due is not None and due > time.monotonic():
                await writer.flush()
                await asyncio.sleep(due - time.monotonic())
            writer.add(topic, key, line)
            count += 1
            if count % FLUSH_EVERY == 0 or due is not None:
                await writer.flush()
        await writer.flush()
        return count
    finally:
        await kafka_io.stop(client)


async def wait_for_topic(bootstrap: str, topic: str, timeout: float | None) -> list[TopicPartition]:
    """The partitions of ``topic`` once it exists (a vendor's topic appears with its first incident).

    A consumer learns the cluster's topics when it starts; a fresh one per try sees topics made since.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        probe = kafka_io.consumer(bootstrap)
        await probe.start()
        try:
            partitions = probe.partitions_for_topic(topic)
        finally:
            await kafka_io.stop(probe)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        if deadline is not None and time.monotonic() > deadline:
            return []
        await asyncio.sleep(0.5)


async def subscribe(
    bootstrap: str,
    topic: str,
    out: IO[bytes],
    *,
    count: int | None = None,
    idle_timeout: float | None = None,
    from_beginning: bool = True,
) -> int:
    """Print the events on ``topic`` as JSON lines; stop after ``count`` events or ``idle_timeout`` seconds
    without one (both optional: by default follow until interrupted). Returns the number printed."""
    partitions = await wait_for_topic(bootstrap, topic, idle_timeout)
    if not partitions:
        return 0
    client = kafka_io.consumer(bootstrap)
    await client.start()
    printed = 0
    try:
        client.assign(partitions)
        if from_beginning:
            await client.seek_to_beginning(*partitions)
        else:
            await client.seek_to_end(*partitions)
        last = time.monotonic()
        while count is None or printed < count:
            batches = await client.getmany(timeout_ms=200, max_records=1000)
            for records in batches.values():
                for record in records:
                    if record.value is None or (count is not None and printed >= count):
                        continue
                    out.write(record.value + b"\n")
                    printed += 1
            if batches:
                out.flush()
                last = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - last > idle_timeout:
                break
        return printed
    finally:
        out.flush()
        await kafka_io.stop(client)


def stdout() -> IO[bytes]:
    return sys.stdout.buffer
