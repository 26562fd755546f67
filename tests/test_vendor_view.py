"""What a vendor is told, over every channel it is told by: its Kafka topic, its webhook and the API with a vendor
token. One incident whose evidence quotes customers and whose scope names a customer goes through all three; no
channel may carry a field the vendor policy does not allow, nor any customer's words or id."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from correlate.events import IncidentEvent, TelemetryEvidence
from correlate.metrics import Metrics
from correlate.notify.webhooks import WebhookSender
from correlate.store import IncidentStore
from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.kafka_io import ensure_topics, producer
from correlate.streams.publish import PublishedLog, Publisher
from correlate.topics import pipeline_topics, vendor_topic
from correlate.vendor_view import DETAIL_FIELDS, EVENT_FIELDS, EVIDENCE_FIELDS, SUMMARY_FIELDS, vendor_event
from sample_events import incident_event
from test_api import Api, scenario
from test_pipeline import topic_values
from test_webhooks import Receiver, receiving, target

WORDS = ("my name is Ana Lima, call me on +351 912 345 678", "same here, account 7781-22 keeps rebooting")
CUSTOMER = "cust-4242-secret"
BASE = incident_event(
    "opened",
    "inc-vendor-view",
    at_fault=["pixelle"],
    scope={"device_brand": "Pixelle", "customer_id": CUSTOMER},
    customers=4,
    sample_texts=WORDS,
)
EVENT = replace(
    BASE,
    evidence=replace(
        BASE.evidence,
        telemetry=TelemetryEvidence({"device_brand": "Pixelle", "device_id": "dev-99"}, 3.0, 40.0, 10.0, 1e-9),
    ),
)


def leaks(payload: Any) -> list[str]:
    """The customers' words and ids found anywhere in a payload (its JSON text)."""
    text = json.dumps(payload, ensure_ascii=False)
    return [secret for secret in (*WORDS, CUSTOMER, "dev-99") if secret in text]


def assert_event_allowed(payload: dict[str, Any]) -> None:
    assert set(payload) <= EVENT_FIELDS, set(payload) - EVENT_FIELDS
    assert set(payload["evidence"]) - {"sample_texts"} <= EVIDENCE_FIELDS
    assert payload["evidence"]["sample_texts"] == []
    assert leaks(payload) == []


def test_the_policy_lets_through_what_it_names_and_nothing_else() -> None:
    full = EVENT.to_json()
    full["internal_note"] = "a field added to events later"
    view = vendor_event(full)
    assert_event_allowed(view)
    assert "internal_note" not in view
    assert view["scope"] == {"device_brand": "Pixelle"}
    assert view["evidence"]["customers"] == 4 and view["evidence"]["telemetry"]["heartbeats"] == 3.0
    assert IncidentEvent.from_json(view).incident_id == EVENT.incident_id, "still a valid incident-event-v1"
    assert leaks(full), "the test's event does carry what must be stripped"


def test_topic_webhook_and_api_carry_the_same_event_and_nothing_the_policy_forbids(
    kafka_broker: EmbeddedBroker, redis_url: str, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    ensure_topics(bootstrap, pipeline_topics(["contacts"], 1, topic_prefix))

    async def publish() -> None:
        client = producer(bootstrap)
        await client.start()
        try:
            await Publisher(client, bootstrap, topic_prefix, Metrics(), PublishedLog()).publish([EVENT])
        finally:
            await client.stop()

    asyncio.run(publish())
    (on_topic,) = topic_values(bootstrap, topic_prefix + vendor_topic("pixelle"))
    (on_incidents,) = topic_values(bootstrap, topic_prefix + "incidents")
    topic_payload = orjson.loads(on_topic)
    assert_event_allowed(topic_payload)
    assert leaks(orjson.loads(on_incidents)), "the NOC's own topic keeps the evidence"

    async def deliver() -> dict[str, Any]:
        async with receiving(Receiver(down_for=0)) as receiver:
            targets = {"pixelle": target(receiver.url)}
            store = IncidentStore.connect(redis_url, targets=targets)
            try:
                await store.apply(EVENT)
                async with aiohttp.ClientSession() as session:
                    await WebhookSender(store, targets, Metrics(), lambda: time.time() + 60).send_due(session)
            finally:
                await store.close()
            (sent,) = receiver.accepted.values()
            return sent

    webhook_payload = asyncio.run(deliver())
    assert_event_allowed(webhook_payload)
    assert webhook_payload == topic_payload, "the topic carries what the webhook carries, no more"

    async def ask(api: Api) -> tuple[Any, Any]:
        await api.store.apply(EVENT)
        detail = await api.get(f"/v1/incidents/{EVENT.incident_id}", role="vendor", vendor="pixelle")
        listed = await api.get("/v1/incidents", role="vendor", vendor="pixelle")
        return detail, listed

    (status, detail), (listed_status, listed) = scenario(redis_url, tmp_path, 0.0, ask)
    assert status == 200 and listed_status == 200
    assert set(detail) <= DETAIL_FIELDS and leaks(detail) == []
    assert detail["evidence"] == topic_payload["evidence"]
    (summary,) = listed["incidents"]
    assert set(summary) <= SUMMARY_FIELDS and leaks(summary) == []
