"""Customer notifications reach the `notifications` topic exactly once: redelivery, restarts, a crash mid-write."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from correlate.events import IncidentEvent
from correlate.notify.notifications import NotificationWriter
from correlate.store import IncidentStore
from correlate.streams.embedded import EmbeddedBroker
from test_cloudevents import as_cloudevent
from test_cloudevents import records as raw_records
from test_event_schemas import FOLLOW_UP
from test_feed import make_topics
from test_store import replayed


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return replayed(tmp_path_factory.getbasetemp())[0]


def on_topic(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[dict[str, Any]] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(json.loads(record.value) for record in batch)
        return records
    finally:
        consumer.close()


async def write_all(store: IncidentStore, bootstrap: str, topic: str) -> int:
    """Run a writer until the store's queue is empty, then stop it; the number it wrote."""
    writer = NotificationWriter(store, bootstrap, topic, poll=0.05)
    task = asyncio.create_task(writer.run())
    for _ in range(600):
        await asyncio.sleep(0.05)
        if task.done() or not await store.pending_notifications():
            break
    writer.stop()
    await asyncio.wait_for(task, 30)
    return writer.written


def test_each_attached_customer_is_notified_once(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, events: list[dict[str, Any]]
) -> None:
    topic = topic_prefix + "notifications"
    make_topics(kafka_broker.bootstrap, topic)
    pixelle = [e for e in events if e["incident_id"] == events[0]["incident_id"]]
    resolved = pixelle[-1]

    async def scenario() -> list[int]:
        store = IncidentStore.connect(redis_url)
        try:
            for event in pixelle[:-1]:
                await store.apply(IncidentEvent.from_json(event))
            for customer in ("cu-1", "cu-2", "cu-3"):
                await store.attach(resolved["incident_id"], "ana", customer_id=customer)
            await store.apply(IncidentEvent.from_json(resolved))
            written = [await write_all(store, kafka_broker.bootstrap, topic)]
            await store.apply(IncidentEvent.from_json(resolved))  # redelivered after the notifications went out
            written.append(await write_all(store, kafka_broker.bootstrap, topic))  # a restart
            return written
        finally:
            await store.close()

    written = asyncio.run(scenario())
    records = on_topic(kafka_broker.bootstrap, topic)
    assert written == [3, 0]
    assert sorted(r["customer_id"] for r in records) == ["cu-1", "cu-2", "cu-3"]
    # The published contract: each notice meets follow-up-notice-v1 and is a CloudEvent about its incident.
    for record in raw_records(kafka_broker.bootstrap, topic):
        notice = json.loads(record.value)
        assert list(FOLLOW_UP.iter_errors(notice)) == []
        ce = as_cloudevent(record)
        assert ce.get_type() == "dev.correlate.customer.fixed" and ce.get_id() == notice["notification_id"]
        assert ce.get_subject() == resolved["incident_id"] and ce.get_source() == "/correlate/" + topic_prefix[:-1]
    assert {(r["event"], r["incident_id"], r["at"]) for r in records} == {
        ("customer-notification", resolved["incident_id"], resolved["at"])
    }


def test_a_crash_between_writing_and_remembering_does_not_notify_twice(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, events: list[dict[str, Any]]
) -> None:
    topic = topic_prefix + "notifications"
    make_topics(kafka_broker.bootstrap, topic, partitions=2)
    pixelle = [e for e in events if e["incident_id"] == events[0]["incident_id"]]

    async def scenario() -> int:
        store = IncidentStore.connect(redis_url)
        try:
            for event in pixelle[:-1]:
                await store.apply(IncidentEvent.from_json(event))
            for customer in ("cu-1", "cu-2"):
                await store.attach(pixelle[0]["incident_id"], "ana", customer_id=customer)
            await store.apply(IncidentEvent.from_json(pixelle[-1]))
            # A writer sent cu-1's notification and died before the store heard Kafka's ack.
            pending = await store.pending_notifications()
            crashed_id, crashed_text = next(
                (k, v) for k, v in pending.items() if json.loads(v)["customer_id"] == "cu-1"
            )
            producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
            producer.send(topic, key=crashed_id.encode(), value=crashed_text.encode()).get(timeout=30)
            producer.close()
            return await write_all(store, kafka_broker.bootstrap, topic)
        finally:
            await store.close()

    written = asyncio.run(scenario())
    assert written == 1
    records = on_topic(kafka_broker.bootstrap, topic)
    assert sorted(r["customer_id"] for r in records) == ["cu-1", "cu-2"]


def test_two_api_replicas_write_each_notification_once(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, events: list[dict[str, Any]]
) -> None:
    topic = topic_prefix + "notifications"
    make_topics(kafka_broker.bootstrap, topic, partitions=2)
    pixelle = [e for e in events if e["incident_id"] == events[0]["incident_id"]]

    async def scenario() -> list[int]:
        store = IncidentStore.connect(redis_url)
        try:
            for event in pixelle[:-1]:
                await store.apply(IncidentEvent.from_json(event))
            for customer in ("cu-1", "cu-2", "cu-3", "cu-4"):
                await store.attach(pixelle[0]["incident_id"], "ana", customer_id=customer)
            writers = [NotificationWriter(store, kafka_broker.bootstrap, topic, poll=0.02) for _ in range(2)]
            tasks = [asyncio.create_task(writer.run()) for writer in writers]
            await asyncio.sleep(0.2)  # both running, one holding the lease
            await store.apply(IncidentEvent.from_json(pixelle[-1]))
            for _ in range(600):
                await asyncio.sleep(0.05)
                if not await store.pending_notifications():
                    break
            for writer in writers:
                writer.stop()
            await asyncio.gather(*tasks)
            return sorted(writer.written for writer in writers)
        finally:
            await store.close()

    assert asyncio.run(scenario()) == [0, 4]
    assert sorted(r["customer_id"] for r in on_topic(kafka_broker.bootstrap, topic)) == ["cu-1", "cu-2", "cu-3", "cu-4"]
