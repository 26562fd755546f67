"""The feed on a real Tansu broker and a real Redis: topics in, store filled, restarts and a lost store."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from correlate.store import IncidentStore
from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.feed import Feed
from test_store import replayed
from test_streams_telemetry import BEAT, STATUS

TELEMETRY = [BEAT, STATUS]


@pytest.fixture(scope="module")
def events_and_contacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    return replayed(tmp_path_factory.getbasetemp())


def make_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        admin.close()


def produce(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]], partition: int | None = None
) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value, partition=partition)
        producer.flush()
    finally:
        producer.close()


def event_records(events: list[dict[str, Any]]) -> list[tuple[bytes | None, bytes]]:
    return [(event["incident_id"].encode(), json.dumps(event).encode()) for event in events]


async def until(check: Callable[[], Awaitable[bool] | bool], what: str, limit: float = 60.0) -> None:
    """Wait for the store to reach a state (not a timed assert: the limit only stops a hung test)."""
    deadline = time.monotonic() + limit
    while True:
        done = check()
        if inspect.isawaitable(done):
            done = await done
        if done:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.1)


class Running:
    """A feed task on its own store client."""

    def __init__(self, redis_url: str, bootstrap: str, prefix: str) -> None:
        self.store = IncidentStore.connect(redis_url)
        self.feed = Feed(
            self.store,
            bootstrap,
            incidents_topic=prefix + "incidents",
            contacts_topic=prefix + "contacts.accepted",
            group=prefix + "feed",
        )
        self.task = asyncio.create_task(self.feed.run())

    async def close(self) -> None:
        self.feed.stop()
        await asyncio.wait_for(self.task, 30)
        await self.store.close()


def test_the_feed_fills_the_store_continues_after_a_restart_and_rebuilds_a_lost_store(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, events_and_contacts: Any
) -> None:
    events, contacts_file = events_and_contacts
    bootstrap = kafka_broker.bootstrap
    incidents, accepted = topic_prefix + "incidents", topic_prefix + "contacts.accepted"
    make_topics(bootstrap, incidents, accepted)
    contact_lines = contacts_file.read_bytes().splitlines()[:200]
    first, rest = events[:8], events[8:]
    broken = [(b"x", b"not json"), (b"y", b'{"incident_id": "inc-x", "event": "opened"}')]
    produce(bootstrap, incidents, [*broken, *event_records(first)])
    for partition in range(3):  # telemetry shares the topic with the contacts, ahead of them in every partition
        produce(bootstrap, accepted, [(None, json.dumps(record).encode()) for record in TELEMETRY], partition)
    produce(bootstrap, accepted, [(None, b'{"contact_id": "no-ts"}'), *[(None, line) for line in contact_lines]])
    customer = json.loads(contact_lines[0])["customer_id"]

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        running = Running(redis_url, bootstrap, topic_prefix)
        store = running.store

        async def holds(expected: list[dict[str, Any]]) -> bool:
            detail = [await store.detail(incident_id) for incident_id in {e["incident_id"] for e in expected}]
            total = sum(len(d["timeline"]) for d in detail if d is not None)
            return total == len(expected)

        await until(lambda: holds(first), "the first events in the store")
        await until(lambda: running.feed.applied >= len(first) + len(contact_lines), "contacts in the store")
        seen["skipped"] = running.feed.skipped
        seen["journey"] = await store.journey(customer)
        seen["open_before_restart"] = await store.incident_ids("open")
        await running.close()

        produce(bootstrap, incidents, event_records(rest))
        produce(bootstrap, incidents, event_records(first[:3]))  # redelivered by a producer retry
        running = Running(redis_url, bootstrap, topic_prefix)
        await until(lambda: holds(events), "every event after the restart")
        await until(lambda: running.feed.applied >= len(rest) + 3, "the redelivered events read")
        seen["applied_after_restart"] = running.feed.applied
        seen["all_after_restart"] = await running.store.summaries(await running.store.incident_ids("all"))

        await running.store.redis.flushdb()  # the store is lost
        await until(lambda: holds(events), "the store rebuilt from the incidents topic")
        rebuilt_store = running.store

        async def journey_back() -> bool:  # contacts.accepted is re-read on its own, maybe after the incidents
            return len(await rebuilt_store.journey(customer)) >= len(seen["journey"])

        await until(journey_back, "the journey rebuilt from the accepted contacts")
        seen["all_after_rebuild"] = await running.store.summaries(await running.store.incident_ids("all"))
        seen["journey_after_rebuild"] = await running.store.journey(customer)
        await running.close()
        return seen

    seen = asyncio.run(scenario())
    assert [step["contact_id"] for step in seen["journey"]] == [
        c["contact_id"] for c in reversed([json.loads(line) for line in contact_lines]) if c["customer_id"] == customer
    ]
    # Two broken events and a contact without a time: skipped, the feed goes on. Telemetry is no one's journey
    # and no mistake: passed over without a word.
    assert seen["skipped"] == 3
    still_open = {e["incident_id"]: e["event"] for e in first}
    assert seen["open_before_restart"] == [i for i, name in still_open.items() if name != "resolved"]
    # After the restart the feed read only what it had not committed: the rest and the 3 redelivered.
    assert seen["applied_after_restart"] == len(rest) + 3
    last = {event["incident_id"]: event for event in events}
    assert {(s["incident_id"], s["status"], s["last_event_at"]) for s in seen["all_after_restart"]} == {
        (incident_id, "resolved", event["at"]) for incident_id, event in last.items()
    }
    assert seen["all_after_rebuild"] == seen["all_after_restart"]
    assert seen["journey_after_rebuild"] == seen["journey"]
