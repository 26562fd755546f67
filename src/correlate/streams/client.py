"""``correlate produce`` and ``correlate subscribe``: a JSONL file into the input topic, incident events out.

Both are thin: the producer keys each record by its ``customer_id`` when it can read one (one customer's
contacts stay in order in one partition) and otherwise lets the validate stage find what is wrong with it —
a broken line is published as it is, to be dead-lettered with the reason, not refused here.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterable
from typing import IO

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from correlate.contracts import parse_timestamp
from correlate.errors import BrokerGone as BrokerGone  # raised here; importable from here as before
from correlate.errors import ContractError
from correlate.streams import kafka_io
from correlate.streams.poison import describe_error
from correlate.topics import VENDOR_PREFIX

__all__ = [
    "ACK_TIMEOUT",
    "FLUSH_EVERY",
    "IN_FLIGHT",
    "PROGRESS_EVERY",
    "SEND_EVERY",
    "STOP_TIMEOUT",
    "produce",
    "stdout",
    "subscribe",
    "vendors_with_topics",
    "wait_for_topic",
]

FLUSH_EVERY = 2_000  # records between two sends at most: a record is visible soon after its timestamp
SEND_EVERY = 0.05  # seconds between two sends at most while pacing (a paced record is not held back longer)
IN_FLIGHT = 16  # sends awaiting their acknowledgement at most; beyond, produce waits for the oldest
ACK_TIMEOUT = 30.0  # seconds without an acknowledgement after which the broker counts as gone
PROGRESS_EVERY = 0.5  # seconds between two progress reports
STOP_TIMEOUT = 5.0  # seconds to stop the client (it would retry a gone broker until its request timeout)


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
    except ContractError:  # a bad ts is the validate stage's to report; here it only cannot pace
        ts = None
    return key, ts


async def produce(
    bootstrap: str,
    topic: str,
    lines: Iterable[bytes],
    *,
    speed: float | None = None,
    rate: float | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> int:
    """Publish every non-blank line; as fast as possible, or paced: ``speed`` times event time, or ``rate``
    records a second (targets: sends are pipelined, acknowledgements awaited in batches, so the pace is not
    capped by the broker's round trip). ``progress(count, seconds)`` is called twice a second. Returns the
    number of records published, all acknowledged by the broker; raises :class:`BrokerGone` when it stops
    answering."""
    client = kafka_io.producer(bootstrap, request_timeout_ms=int(ACK_TIMEOUT * 1000))
    writer = kafka_io.BatchWriter(client)
    count = 0
    try:
        await asyncio.wait_for(client.start(), ACK_TIMEOUT)
        await asyncio.wait_for(writer.prepare([topic]), ACK_TIMEOUT)
        started = last_send = last_shown = time.monotonic()
        first_ts: float | None = None
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
                await _send(writer)  # what is due goes now, not after the pause
                last_send = time.monotonic()
                await asyncio.sleep(due - last_send)
            writer.add(topic, key, line)
            count += 1
            now = time.monotonic()
            if count % FLUSH_EVERY == 0 or (due is not None and now - last_send >= SEND_EVERY):
                await _send(writer)
                last_send = now
            if progress is not None and now - last_shown >= PROGRESS_EVERY:
                last_shown = now
                progress(count, now - started)
        await _send(writer)
        await asyncio.wait_for(writer.settle(0), ACK_TIMEOUT)
        if progress is not None:
            progress(count, time.monotonic() - started)
        return count
    except (KafkaError, TimeoutError) as error:
        writer.abandon()
        raise BrokerGone(_gone(bootstrap, count, error)) from None
    finally:
        with contextlib.suppress(KafkaError, TimeoutError):
            await asyncio.wait_for(kafka_io.stop(client), STOP_TIMEOUT)


async def _send(writer: kafka_io.BatchWriter) -> None:
    """Send what is open, then wait only while too many sends await their acknowledgement."""
    await asyncio.wait_for(writer.send(), ACK_TIMEOUT)
    await asyncio.wait_for(writer.settle(IN_FLIGHT), ACK_TIMEOUT)


def _gone(bootstrap: str, count: int, error: BaseException) -> str:
    cause = type(error).__name__ if isinstance(error, TimeoutError) else describe_error(error)
    return (
        f"the broker at {bootstrap} does not answer ({cause}); "
        f"{count:,} records were handed over, those not acknowledged may be lost"
    )


def vendors_with_topics(topics: Iterable[str], prefix: str = "") -> list[str]:
    """The vendor ids that have a topic (``incidents.vendor.<id>``) among ``topics``."""
    start = prefix + VENDOR_PREFIX
    return sorted(name[len(start) :] for name in topics if name.startswith(start))


async def wait_for_topic(
    bootstrap: str, topic: str, timeout: float | None, on_missing: Callable[[set[str]], None] | None = None
) -> list[TopicPartition]:
    """The partitions of ``topic`` once it exists (a vendor's topic appears with its first incident);
    ``on_missing`` is called once, with the topics there are, if it does not exist at first.

    A consumer learns the cluster's topics when it starts; a fresh one per try sees topics made since.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    told = on_missing is None
    while True:
        probe = kafka_io.consumer(bootstrap)
        await probe.start()
        try:
            partitions = probe.partitions_for_topic(topic)
            if not partitions and not told and on_missing is not None:
                told = True
                on_missing(set(await probe.topics()))
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
    on_missing: Callable[[set[str]], None] | None = None,
) -> int:
    """Print the events on ``topic`` as JSON lines; stop after ``count`` events or ``idle_timeout`` seconds
    without one (both optional: by default follow until interrupted). Returns the number printed.
    ``on_missing`` is called once if the topic does not exist yet (then it is waited for)."""
    partitions = await wait_for_topic(bootstrap, topic, idle_timeout, on_missing)
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
