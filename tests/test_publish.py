"""Publishing through a real broker: a vendor that asked for webhooks only gets no topic of its own."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from correlate.metrics import Metrics
from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.kafka_io import ensure_topics
from correlate.streams.publish import PublishedLog, Publisher
from correlate.topics import TopicSpec, pipeline_topics
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


def test_ensure_topics_creates_the_missing_topics_with_their_partitions_once(
    kafka_broker: EmbeddedBroker, topic_prefix: str
) -> None:
    """What the workers and `up` do at start, seen through another client: the topics appear with the partition
    counts of their specs, a second call (another worker starting) creates nothing and fails nothing, and a topic
    created first by an operator is left as it is. (Tansu does not describe topic configs, so their settings are
    not checked here.)"""
    specs = pipeline_topics(["contacts"], 3, topic_prefix)
    made_first = TopicSpec(topic_prefix + "contacts", 5, "none")  # the operator's own partition count
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        admin.create_topics([NewTopic(made_first.name, made_first.partitions, 1)])
        created = ensure_topics(kafka_broker.bootstrap, specs)
        assert sorted(created) == sorted(spec.name for spec in specs if spec.name != made_first.name)
        assert ensure_topics(kafka_broker.bootstrap, specs) == []
        described = admin.describe_topics([spec.name for spec in specs])
        partitions = {topic["name"]: len(topic["partitions"]) for topic in described}
        assert partitions == {spec.name: 5 if spec.name == made_first.name else spec.partitions for spec in specs}
    finally:
        admin.close()
