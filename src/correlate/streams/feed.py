"""The feed: incident events and accepted contacts from Kafka into the incident store.

It reads ``incidents`` (every lifecycle event, keyed by incident id) and ``contacts.accepted`` (for customer
journeys; the heartbeats and status records that share the topic are passed over) in a consumer group of its
own, applies each record to the store, and commits offsets only after the store has them — so a restart
continues where it stopped and a crash replays a little, which the store absorbs (applying an event twice is
a no-op).

If the store is new or was lost, the feed notices (per partition, see :meth:`IncidentStore.unbuilt`) and
reads those partitions again from the beginning: the store is rebuilt from the topics.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from correlate.contracts import Contact, Rejection
from correlate.events import IncidentEvent
from correlate.intake import validate_record
from correlate.metrics import Metrics
from correlate.store import IncidentStore
from correlate.streams.security import kafka_security
from correlate.topics import ACCEPTED, INCIDENTS

__all__ = ["FEED_GROUP", "Feed"]

log = logging.getLogger(__name__)

FEED_GROUP = "correlate-api-feed"
# Tansu answers an empty fetch only after the full max wait: a short wait keeps an idle topic from stalling reads.
FETCH_MAX_WAIT_MS = 30


class Feed:
    """Consumes the two topics into ``store`` until :meth:`stop` (or the task is cancelled)."""

    def __init__(
        self,
        store: IncidentStore,
        bootstrap: str,
        *,
        incidents_topic: str = INCIDENTS,
        contacts_topic: str = ACCEPTED,
        group: str = FEED_GROUP,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.incidents_topic = incidents_topic
        self.contacts_topic = contacts_topic
        self.group = group
        self.metrics = metrics
        self.applied = 0  # records applied since start: for tests and the log
        self.skipped = 0  # records that were not JSON or not a contact/event: logged, never fatal
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.incidents_topic,
            self.contacts_topic,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            metadata_max_age_ms=5000,  # topics created after we start are picked up within seconds
            **kafka_security().aiokafka_options(),
        )
        await consumer.start()
        try:
            while not self._stopping.is_set():
                await self._rebuild_if_lost(consumer)
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                if not batches:
                    continue
                for partition, records in batches.items():
                    for record in records:
                        await self._apply(partition.topic, record.value)
                await consumer.commit()
                await self._report_lag(consumer, batches)
        finally:
            await consumer.stop()

    async def _rebuild_if_lost(self, consumer: AIOKafkaConsumer) -> None:
        assigned = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
        names = {f"{tp.topic}/{tp.partition}": tp for tp in assigned}
        missing = await self.store.unbuilt(list(names))
        if missing:
            log.info("store holds nothing of %s: reading them from the beginning", ", ".join(missing))
            await consumer.seek_to_beginning(*(names[name] for name in missing))
            await self.store.mark_built(missing)

    async def _apply(self, topic: str, value: bytes | None) -> None:
        try:
            record: Any = json.loads(value or b"null")
        except ValueError:
            self._skip(topic, "not JSON")
            return
        if topic == self.incidents_topic:
            # Checked here so that one bad record is skipped with a reason instead of stopping the feed (store
            # errors, by contrast, must stop it: skipping them would lose events).
            try:
                event = IncidentEvent.from_json(record)
            except ValueError as error:
                self._skip(topic, str(error))
                return
            await self.store.apply(event)
        else:
            contact = validate_record(record)
            if isinstance(contact, Rejection):
                self._skip(topic, str(contact))
                return
            if not isinstance(contact, Contact):
                return  # telemetry or a vendor's status record: no customer's journey
            await self.store.add_contact(contact)
        self.applied += 1

    def _skip(self, topic: str, why: str) -> None:
        self.skipped += 1
        log.warning("skipped a record on %s: %s", topic, why)

    async def _report_lag(self, consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]) -> None:
        if self.metrics is None:
            return
        behind: dict[str, int] = {}
        for partition in partitions:
            highwater = consumer.highwater(partition)
            if highwater is not None:
                position = await consumer.position(partition)
                behind[partition.topic] = behind.get(partition.topic, 0) + max(0, highwater - position)
        for topic, records in behind.items():
            self.metrics.set_consumer_lag(topic, records)
