"""Customer notifications onto the ``notifications`` topic, exactly once.

The store queues one ``customer-notification`` per attached customer when an incident resolves (in the same
transaction that applies the ``resolved`` event, keyed by a notification id made of incident and customer).
This writer drains that queue to Kafka. The gap between "Kafka has it" and "the store knows Kafka has it" is
closed on start-up: the writer remembers, per partition, the offset after its last acknowledged write, and reads
the topic from there to its end; any notification found there was written before a crash and is only marked
sent, not written again. So each notification is on the topic once, across restarts and redeliveries. API
replicas share one store: only the holder of a lease in it writes (:mod:`correlate.notify.lease`). Each record
carries CloudEvents 1.0 attributes in its headers (:func:`correlate.cloudevents.notice_headers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from correlate.cloudevents import notice_headers
from correlate.lease import Lease
from correlate.store import IncidentStore
from correlate.streams.security import kafka_security
from correlate.topics import NOTIFICATIONS

__all__ = ["NotificationWriter"]

log = logging.getLogger(__name__)

FETCH_MAX_WAIT_MS: Final = 30


class NotificationWriter:
    def __init__(self, store: IncidentStore, bootstrap: str, topic: str = NOTIFICATIONS, poll: float = 0.5) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.topic = topic
        self.poll = poll
        self.written = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    def _offset_name(self, partition: int) -> str:
        return f"{self.topic}/{partition}"

    async def reconcile(self) -> int:
        """Mark sent what is already on the topic past our last remembered write; the number found."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            **kafka_security().aiokafka_options(),
        )
        await consumer.start()
        found: list[str] = []
        try:
            await consumer.topics()  # fetches the metadata that partitions_for_topic reads
            partitions = [
                TopicPartition(self.topic, p) for p in sorted(consumer.partitions_for_topic(self.topic) or ())
            ]
            if not partitions:
                return 0
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            for partition in partitions:
                start = await self.store.get_offset(self._offset_name(partition.partition)) or 0
                consumer.seek(partition, start)
            remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=500)
                for records in batches.values():
                    found.extend(record.key.decode() for record in records if record.key)
                for partition in list(remaining):
                    if await consumer.position(partition) >= ends[partition]:
                        remaining.discard(partition)
                        await self.store.set_offset(self._offset_name(partition.partition), ends[partition])
        finally:
            await consumer.stop()
        await self.store.notifications_sent(found)
        return len(found)

    async def run(self) -> None:
        """Write pending notifications while this process holds the writers' lease (one writer per store,
        however many API replicas run); reconcile with the topic each time the lease is taken."""
        lease = Lease(self.store.redis, self.store.key("lease", "notifications"))
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=False,
            **kafka_security().aiokafka_options(),
        )
        await producer.start()
        leading = False
        try:
            while not self._stopping.is_set():
                pending: dict[str, str] = {}
                if await lease.hold():
                    if not leading:
                        await self.reconcile()  # the last holder may have written without marking
                        leading = True
                    pending = await self.store.pending_notifications()
                    for notification_id, text in sorted(pending.items()):
                        if not await lease.hold():
                            break
                        headers = notice_headers(json.loads(text), self.topic.removesuffix(NOTIFICATIONS))
                        meta = await producer.send_and_wait(
                            self.topic, key=notification_id.encode(), value=text.encode(), headers=headers
                        )
                        await self.store.notifications_sent([notification_id])
                        await self.store.set_offset(self._offset_name(meta.partition), meta.offset + 1)
                        self.written += 1
                else:
                    leading = False
                if not pending:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.poll)
        finally:
            await producer.stop()
            await lease.release()
