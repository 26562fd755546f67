"""Vendor webhooks against a real receiver on loopback that is down for a while, then comes back."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from correlate.config import ConfigError
from correlate.events import IncidentEvent
from correlate.metrics import Metrics
from correlate.notify.adapters import Format
from correlate.notify.delivery import DeliveryTarget, message_id, parse_delivery, retry_delay
from correlate.notify.webhooks import WebhookSender, next_step
from correlate.store import IncidentStore
from test_store import replayed

SECRET = "whsec_" + base64.b64encode(b"sonique-shared-secret-32-bytes!!").decode()


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return replayed(tmp_path_factory.getbasetemp())[0]


def incident_of(events: list[dict[str, Any]], vendor: str) -> list[dict[str, Any]]:
    """The events of the first incident that concerns ``vendor`` (the replay's first incident may concern
    only others)."""
    first = next(e for e in events if vendor in (*e["vendors"]["at_fault"], *e["vendors"]["affected"]))
    return [e for e in events if e["incident_id"] == first["incident_id"]]


@dataclass
class Receiver:
    """A vendor's endpoint: answers 503 to the first ``down_for`` requests, then 204; checks signatures."""

    down_for: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        msg_id, stamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
        signatures = [part.split(",", 1)[1] for part in request.headers["webhook-signature"].split()]
        valid = expected.decode() in signatures
        self.requests.append({"id": msg_id, "valid": valid})
        if len(self.requests) <= self.down_for:
            return web.Response(status=503)
        if not valid:
            return web.Response(status=401)
        self.accepted.setdefault(msg_id, json.loads(body))
        return web.Response(status=204)


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


class Ticking:
    """A wall clock that moves one second each time it is read: every retry (at most 0.05 s away) is due at the
    next read, so the test runs as fast as the HTTP round trips and needs no sleeps."""

    def __init__(self) -> None:
        self.now = time.time()  # the store queued the messages at wall time

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def target(url: str, **options: Any) -> DeliveryTarget:
    return DeliveryTarget("pixelle", webhook=url, secret=SECRET, backoff=0.01, max_backoff=0.05, **options)


async def drain(sender: WebhookSender, store: IncidentStore, rounds: int = 400) -> None:
    """Send until the outbox is empty (bounded: a broken sender fails the test instead of hanging)."""
    async with aiohttp.ClientSession() as session:
        for _ in range(rounds):
            await sender.send_due(session)
            if not await store.due_webhooks(float("inf")):  # nothing queued at any time
                return
            await asyncio.sleep(0.01)
    raise AssertionError("outbox not empty")


def test_an_outage_delays_webhooks_and_loses_none(redis_url: str, events: list[dict[str, Any]]) -> None:
    pixelle = incident_of(events, "pixelle")

    async def scenario() -> Any:
        async with receiving(Receiver(down_for=5)) as receiver:
            targets = {"pixelle": target(receiver.url)}
            store = IncidentStore.connect(redis_url, targets=targets)
            metrics = Metrics()
            try:
                for event in pixelle:
                    await store.apply(IncidentEvent.from_json(event))
                    await store.apply(IncidentEvent.from_json(event))  # redelivered from Kafka: no second message
                clock = Ticking()
                first = WebhookSender(store, targets, metrics, clock=clock)
                async with aiohttp.ClientSession() as session:
                    await first.send_due(session)  # the vendor is down; this sender then stops
                second = WebhookSender(store, targets, metrics, clock=clock)
                await drain(second, store)
                detail = await store.detail(pixelle[0]["incident_id"])
            finally:
                await store.close()
            return receiver, metrics, detail

    receiver, metrics, detail = asyncio.run(scenario())
    expected = [message_id(e["incident_id"], e["event"], e["at"]) for e in pixelle]
    assert sorted(receiver.accepted) == sorted(expected)
    assert all(request["valid"] for request in receiver.requests)
    assert [receiver.accepted[m]["event"] for m in expected] == [e["event"] for e in pixelle]
    sent = receiver.accepted[expected[0]]
    assert sent["evidence"]["sample_texts"] == []  # customers' own words stay with us
    evidence = {**pixelle[0]["evidence"], "sample_texts": []}
    if "symptom" in evidence:  # how many described the symptom, not in whose words
        evidence["symptom"] = {**evidence["symptom"], "exemplars": []}
    assert sent == {**pixelle[0], "evidence": evidence}
    failed_ids = [request["id"] for request in receiver.requests[:5]]
    assert len(receiver.requests) == len(expected) + 5  # each failure retried once it came back, nothing more
    assert set(failed_ids) <= set(expected)
    samples = {
        s.labels["outcome"]: s.value for f in metrics.webhooks.collect() for s in f.samples if "_total" in s.name
    }
    assert samples == {"retried": 5.0, "delivered": float(len(expected))}
    assert {d["status"] for d in detail["deliveries"]} == {"delivered"}
    assert "pixelle" in detail["vendors_notified"]


def test_a_vendor_down_for_good_gets_its_messages_parked_not_dropped(
    redis_url: str, events: list[dict[str, Any]]
) -> None:
    opened = incident_of(events, "pixelle")[0]

    async def scenario() -> Any:
        async with receiving(Receiver(down_for=10**6)) as receiver:
            targets = {"pixelle": target(receiver.url, max_attempts=3)}
            store = IncidentStore.connect(redis_url, targets=targets)
            try:
                await store.apply(IncidentEvent.from_json(opened))
                sender = WebhookSender(store, targets, Metrics(), clock=Ticking())
                await drain(sender, store)
                return len(receiver.requests), await store.detail(opened["incident_id"])
            finally:
                await store.close()

    attempts, detail = asyncio.run(scenario())
    assert attempts == 3
    assert [(d["vendor"], d["status"], d["attempts"]) for d in detail["deliveries"]] == [("pixelle", "failed", 3)]
    assert "pixelle" in detail["vendors_notified"]  # by its topic, which is on by default
    assert detail["deliveries"][0]["webhook_id"] == message_id(opened["incident_id"], "opened", opened["at"])


@pytest.mark.parametrize(
    ("status", "attempts", "outcome", "retry_in"),
    [
        (200, 1, "delivered", None),
        (204, 7, "delivered", None),
        (503, 1, "retried", 5.0),
        (None, 3, "retried", 20.0),
        (404, 2, "retried", 10.0),
        (500, 20, "retried", 3600.0),
        (500, 30, "failed", None),
    ],
)
def test_what_follows_an_attempt(status: int | None, attempts: int, outcome: str, retry_in: float | None) -> None:
    step = next_step(DeliveryTarget("v", webhook="http://x", secret=SECRET), status, attempts, now=100.0)
    assert step.outcome == outcome
    assert (None if step.retry_at is None else step.retry_at - 100.0) == retry_in


def test_backoff_doubles_up_to_its_cap() -> None:
    settings = DeliveryTarget("v", backoff=1.0, max_backoff=10.0)
    assert [retry_delay(settings, n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_delivery_tables_are_checked_on_load() -> None:
    targets = parse_delivery(
        {
            "sonique": {"webhook": "http://127.0.0.1:9000/h", "secret": SECRET, "topic": False},
            "flixco": {"topic": True},
        }
    )
    assert targets["sonique"] == DeliveryTarget("sonique", False, "http://127.0.0.1:9000/h", SECRET)
    assert targets["flixco"].webhook is None
    pagerduty = parse_delivery(
        {"vizo": {"webhook": "https://events.example/v2/enqueue", "format": "pagerduty", "routing_key": "R0UT1NGKEY"}}
    )["vizo"]
    assert (pagerduty.format, pagerduty.routing_key, pagerduty.secret) == (Format.PAGERDUTY, "R0UT1NGKEY", None)
    bad = [
        ({"Sonique": {}}, "lower-case"),
        ({"x": {"webhook": "ftp://a"}}, "not an http"),
        ({"x": {"webhook": "http://a"}}, "needs a secret of the form whsec_"),
        ({"x": {"webhook": "http://a", "secret": "a plain shared secret of many characters"}}, "not a plain secret"),
        ({"x": {"webhook": "http://a", "secret": "whsec_not-base64-at-all"}}, "is base64"),
        ({"x": {"webhook": "http://a", "secret": "whsec_c2hvcnQ="}}, "24 to 64 bytes"),
        ({"x": {"webhook": "http://a", "secret": SECRET, "format": "slack"}}, "not one of"),
        ({"x": {"webhook": "http://a", "format": "pagerduty"}}, "routing_key"),
        ({"x": {"webhook": "http://a", "secret": SECRET, "routing_key": "k"}}, "only a format"),
        ({"x": {"format": "alertmanager"}}, "there is no webhook"),
        ({"x": {"webhook": "http://a", "secret": SECRET, "console_url": "console"}}, "not an http"),
        ({"x": {"topic": "yes"}}, "true or false"),
        ({"x": {"retries": 3}}, "unknown key"),
        ({"x": {"backoff": 0}}, "positive number"),
    ]
    for section, reason in bad:
        with pytest.raises(ConfigError, match=reason):
            parse_delivery(section)


def test_delivery_comes_from_the_settings_file(tmp_path: Any) -> None:
    from correlate.config import load_config

    path = tmp_path / "settings.toml"
    path.write_text(
        f'[delivery.sonique]\nwebhook = "http://127.0.0.1:9000/hook"\nsecret = "{SECRET}"\nbackoff = 1\n'
        "[delivery.flixco]\ntopic = false\n"
    )
    targets = parse_delivery(load_config(path).section("delivery"))
    assert targets == {
        "sonique": DeliveryTarget("sonique", True, "http://127.0.0.1:9000/hook", SECRET, backoff=1.0),
        "flixco": DeliveryTarget("flixco", topic=False),
    }


def test_a_hanging_vendor_delays_only_its_own_messages(redis_url: str, events: list[dict[str, Any]]) -> None:
    pixelle = incident_of(events, "pixelle")  # vendors: pixelle, streamplus
    happened: list[str] = []

    async def slow(request: web.Request) -> web.Response:
        happened.append("slow vendor: request in")
        await asyncio.sleep(1.0)
        happened.append("slow vendor: answered")
        return web.Response(status=204)

    async def quick(request: web.Request) -> web.Response:
        happened.append("quick vendor")
        return web.Response(status=204)

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/slow", slow)
        app.router.add_post("/quick", quick)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        targets = {
            "pixelle": DeliveryTarget("pixelle", webhook=base + "/slow", secret=SECRET),
            "streamplus": DeliveryTarget("streamplus", webhook=base + "/quick", secret=SECRET),
        }
        store = IncidentStore.connect(redis_url, targets=targets)
        try:
            for event in pixelle[:2]:
                await store.apply(IncidentEvent.from_json(event))
            async with aiohttp.ClientSession() as session:
                await WebhookSender(store, targets, Metrics(), clock=Ticking()).send_due(session)
        finally:
            await store.close()
            await runner.cleanup()

    asyncio.run(scenario())
    assert happened.count("quick vendor") == 2
    first_answer = happened.index("slow vendor: answered")
    assert happened[:first_answer].count("quick vendor") == 2


def test_two_api_replicas_post_each_message_once(redis_url: str, events: list[dict[str, Any]]) -> None:
    pixelle = incident_of(events, "pixelle")

    async def scenario() -> Receiver:
        async with receiving(Receiver(down_for=0)) as receiver:
            targets = {"pixelle": target(receiver.url)}
            store = IncidentStore.connect(redis_url, targets=targets)
            senders = [WebhookSender(store, targets, Metrics(), clock=time.time, poll=0.02) for _ in range(2)]
            tasks = [asyncio.create_task(sender.run()) for sender in senders]
            try:
                for event in pixelle:
                    await store.apply(IncidentEvent.from_json(event))
                for _ in range(600):
                    await asyncio.sleep(0.05)
                    if not await store.due_webhooks(float("inf")):
                        break
            finally:
                for sender in senders:
                    sender.stop()
                await asyncio.gather(*tasks)
                await store.close()
            return receiver

    receiver = asyncio.run(scenario())
    assert sorted(request["id"] for request in receiver.requests) == sorted(
        message_id(e["incident_id"], e["event"], e["at"]) for e in pixelle
    )


def test_the_standard_webhooks_library_verifies_what_correlate_sends(
    redis_url: str, events: list[dict[str, Any]]
) -> None:
    """A vendor verifies correlate's webhooks with the official Standard Webhooks library and its whsec_ secret:
    no code of its own. A body changed on the way, or another secret, fails its check."""
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    pixelle = incident_of(events, "pixelle")
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        targets = {
            "pixelle": DeliveryTarget(
                "pixelle", webhook=f"http://127.0.0.1:{runner.addresses[0][1]}/hook", secret=SECRET
            )
        }
        store = IncidentStore.connect(redis_url, targets=targets)
        try:
            for event in pixelle:
                await store.apply(IncidentEvent.from_json(event))
            await drain(WebhookSender(store, targets, Metrics(), clock=time.time), store)
        finally:
            await store.close()
            await runner.cleanup()

    asyncio.run(scenario())
    assert len(received) == len(pixelle)
    verifier = Webhook(SECRET)
    for headers, body in received:
        assert verifier.verify(body, headers)["incident_id"] == pixelle[0]["incident_id"]
    headers, body = received[0]
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body.replace(b"pixelle", b"pixellf"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"another vendor's secret, 32 b!!").decode()).verify(body, headers)
