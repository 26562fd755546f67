"""Publishing through a real broker: a vendor that asked for webhooks only gets no topic of its own."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from kafka.admin import KafkaAdminClient

from correlate.embedded import EmbeddedBroker
from correlate.metrics import Metrics
from correlate.streams.kafka_io import ensure_topics
from correlate.streams.publish import PublishedLog, Publisher
from correlate.streams.topics import pipeline_topics
from sample_events import incident_event

EVENT = incident_event("opened", "inc-1", at="2026-03-02T10:00:00Z", at_fault=["vizo", "tubo"])


def test_a_vendor_with_topic_false_gets_no_topic_the_others_do(kafka_broker: EmbeddedBroker, topic_prefix: str) -> None:
    ensure_topics(kafka_broker.bootstrap, pipeline_topics(["contacts"], 1, topic_prefix))

    async def publish() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
        await producer.start()
        try:
            log = PublishedLog.from_values([])
            publisher = Publisher(
                producer, kafka_broker.bootstrap, topic_prefix, Metrics(), log, without_topic=frozenset({"vizo"})
            )
            return await publisher.publish([EVENT, EVENT])  # the repeat is not published twice
        finally:
            await producer.stop()

    assert asyncio.run(publish()) == 1
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    topics = set(admin.list_topics())
    admin.close()
    assert topic_prefix + "incidents.vendor.tubo" in topics
    assert topic_prefix + "incidents.vendor.vizo" not in topics
