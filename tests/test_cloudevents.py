"""CloudEvents 1.0 on every record correlate publishes (binary content mode): read back from a real broker by an
independent Kafka client and parsed by the CloudEvents SDK, with the value exactly the event's JSON."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from kafka import KafkaConsumer, TopicPartition

from correlate.events import IncidentEvent, from_json
from correlate.metrics import Metrics
from correlate.stamps import Stamper
from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.kafka_io import ensure_topics
from correlate.streams.publish import PublishedLog, Publisher
from correlate.topics import pipeline_topics
from sample_events import incident_event, notification


def records(bootstrap: str, topic: str) -> list[Any]:
    """Every record on ``topic``, as kafka-python (not the client under test) reads them."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(batch)
        return found
    finally:
        consumer.close()


def as_cloudevent(record: Any) -> Any:
    """The CloudEvents SDK's reading of a Kafka record (it validates the required attributes and their types)."""
    return from_binary_event(KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value))


def _stamped() -> list[IncidentEvent]:
    life = [
        incident_event("opened", "inc-ce", at="2026-03-02T10:00:00Z", at_fault=["vizo"], customers=12),
        incident_event("updated", "inc-ce", at="2026-03-02T10:05:00Z", at_fault=["vizo"], customers=30),
        incident_event("resolved", "inc-ce", at="2026-03-02T12:00:00Z", at_fault=["vizo"], customers=30),
    ]
    return [event for event in Stamper().stamp(life) if isinstance(event, IncidentEvent)]


def test_every_published_record_is_a_cloudevent_and_its_value_is_unchanged(
    kafka_broker: EmbeddedBroker, topic_prefix: str
) -> None:
    ensure_topics(kafka_broker.bootstrap, pipeline_topics(["contacts"], 1, topic_prefix))
    events = _stamped()
    device = notification("dev-9", "cu-9", at="2026-03-02T11:00:00Z")

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
        await producer.start()
        try:
            publisher = Publisher(producer, kafka_broker.bootstrap, topic_prefix, Metrics(), PublishedLog())
            await publisher.publish([*events, device])
        finally:
            await producer.stop()

    asyncio.run(publish())
    incidents = records(kafka_broker.bootstrap, topic_prefix + "incidents")
    assert [record.value for record in incidents] == [orjson.dumps(event.to_json()) for event in events]
    read = [as_cloudevent(record) for record in incidents]
    assert [ce.get_type() for ce in read] == [
        "dev.correlate.incident.opened",
        "dev.correlate.incident.updated",
        "dev.correlate.incident.resolved",
    ]
    assert [ce.get_id() for ce in read] == [event.event_id for event in events]
    assert len({ce.get_id() for ce in read}) == 3
    for ce, event in zip(read, events, strict=True):
        assert ce.get_specversion() == "1.0"
        assert ce.get_subject() == "inc-ce"
        assert ce.get_source() == "/correlate/" + topic_prefix.rstrip(".")
        assert ce.get_time().isoformat().replace("+00:00", "Z") == event.at
        assert ce.get_datacontenttype() == "application/json"
        assert ce.get_dataschema() == "https://correlate.dev/schemas/incident-event-v1.schema.json"
        assert from_json(ce.get_data()) == event, "the data is the event itself"

    vendor = records(kafka_broker.bootstrap, topic_prefix + "incidents.vendor.vizo")
    assert [as_cloudevent(record).get_id() for record in vendor] == [event.event_id for event in events]

    (told,) = records(kafka_broker.bootstrap, topic_prefix + "notifications")
    assert told.value == orjson.dumps(device.to_json())
    ce = as_cloudevent(told)
    assert ce.get_type() == "dev.correlate.customer.notified" and ce.get_subject() == "dev-9"
    assert ce.get_dataschema() == "https://correlate.dev/schemas/customer-notification-v1.schema.json"
