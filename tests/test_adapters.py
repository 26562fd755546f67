"""Delivery formats: a vendor on PagerDuty or on an Alertmanager-webhook tool gets incidents in that tool's own
format, checked against the format's published description (tests/fixtures, written from PagerDuty's OpenAPI
document and Alertmanager's documentation) and, for PagerDuty, against what its official client sends."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from standardwebhooks.webhooks import Webhook

from correlate.events import Acknowledgement, EventName, IncidentEvent, PersonAction
from correlate.lifecycle import Reason
from correlate.metrics import Metrics
from correlate.notify.adapters import NO_END, Format, adapted
from correlate.notify.delivery import DeliveryTarget
from correlate.notify.webhooks import WebhookSender
from correlate.store import IncidentStore
from test_store import replayed
from test_webhooks import SECRET, drain

FIXTURES = Path(__file__).parent / "fixtures"
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
CONSOLE = "https://correlate.noc.example/console"


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((FIXTURES / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


PAGERDUTY = _validator("pagerduty-events-v2.schema.json")
ALERTMANAGER = _validator("alertmanager-webhook-v4.schema.json")


def problems(validator: Draft202012Validator, payload: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)]


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> list[IncidentEvent]:
    """One incident's events from a replay, with a person's acknowledgement after its opening."""
    events = [IncidentEvent.from_json(e) for e in replayed(tmp_path_factory.getbasetemp())[0]]
    first = [e for e in events if e.incident_id == events[0].incident_id]
    ack = Acknowledgement("ana", first[0].at)
    acknowledged = replace(
        first[0],
        event=EventName.ACKNOWLEDGED,
        reason=Reason.PERSON,
        action=PersonAction("acknowledge", "ana", "noc", "", "act-1"),
        acknowledged=ack,
    )
    return [first[0], acknowledged, *(replace(e, acknowledged=ack) for e in first[1:])]


def test_pagerduty_events_meet_the_published_schema_and_follow_the_incident(life: list[IncidentEvent]) -> None:
    sent = [adapted(event, Format.PAGERDUTY, "pixelle", ROUTING_KEY, CONSOLE) for event in life]
    for payload in sent:
        assert problems(PAGERDUTY, payload) == [], payload
        assert payload["dedup_key"] == life[0].incident_id and payload["routing_key"] == ROUTING_KEY
    actions = [payload["event_action"] for payload in sent]
    assert actions[:2] == ["trigger", "acknowledge"] and actions[-1] == "resolve"
    trigger = sent[0]
    assert trigger["payload"]["severity"] == life[0].severity
    assert trigger["payload"]["summary"].startswith(f"{life[0].number} ({life[0].severity}): ")
    assert trigger["links"] == [{"href": f"{CONSOLE}#{life[0].incident_id}", "text": "correlate console"}]
    # Through the vendor view: no customer's words.
    assert trigger["payload"]["custom_details"]["evidence"]["sample_texts"] == []
    dismissed = replace(life[-1], event=EventName.DISMISSED)
    assert adapted(dismissed, Format.PAGERDUTY, "pixelle", ROUTING_KEY)["event_action"] == "resolve"


def test_the_official_pagerduty_client_sends_what_correlate_sends(life: list[IncidentEvent]) -> None:
    """PagerDuty's own Python client, given the same alert, posts the same body to /v2/enqueue: correlate's
    payloads are PagerDuty's, field for field (correlate adds only ``client``, ``client_url``). The client's
    requests end in an in-process transport that records them: nothing leaves the machine."""
    import httpx2
    from pagerduty import EventsApiV2Client

    posted: list[tuple[str, dict[str, Any]]] = []

    def events_api(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        posted.append((request.url.path, body))
        return httpx2.Response(202, json={"status": "success", "dedup_key": body.get("dedup_key")})

    ours = [adapted(event, Format.PAGERDUTY, "pixelle", ROUTING_KEY, CONSOLE) for event in (life[0], life[1], life[-1])]
    client = EventsApiV2Client(ROUTING_KEY, transport=httpx2.MockTransport(events_api))
    trigger = ours[0]
    payload = trigger["payload"]
    client.trigger(
        summary=payload["summary"],
        source=payload["source"],
        dedup_key=trigger["dedup_key"],
        severity=payload["severity"],
        payload={key: payload[key] for key in ("timestamp", "component", "group", "class")},
        custom_details=payload["custom_details"],
        links=trigger["links"],
    )
    client.acknowledge(ours[1]["dedup_key"])
    client.resolve(ours[2]["dedup_key"])
    assert [path for path, _ in posted] == ["/v2/enqueue"] * 3
    theirs = [body for _, body in posted]
    assert theirs[0] == {key: value for key, value in trigger.items() if key not in ("client", "client_url")}
    assert theirs[1:] == ours[1:]


def test_alertmanager_messages_meet_the_documented_schema(life: list[IncidentEvent]) -> None:
    sent = [adapted(event, Format.ALERTMANAGER, "streamplus", console_url=CONSOLE) for event in life]
    for message in sent:
        assert problems(ALERTMANAGER, message) == [], message
        (alert,) = message["alerts"]
        assert alert["labels"]["incident_id"] == life[0].incident_id
        assert alert["labels"]["severity"] in ("info", "warning", "error", "critical")
        assert alert["startsAt"] == life[0].opened_at
    assert [m["status"] for m in sent[:-1]] == ["firing"] * (len(sent) - 1)
    assert sent[-1]["status"] == "resolved" and sent[-1]["alerts"][0]["endsAt"] == life[-1].at
    assert sent[0]["alerts"][0]["endsAt"] == NO_END
    assert sent[1]["commonAnnotations"]["acknowledged_by"] == "ana", "acknowledged: still firing, and says who"
    assert len({m["alerts"][0]["fingerprint"] for m in sent}) == 1, "one alert per incident"


def test_each_vendor_gets_its_format_through_the_outbox(redis_url: str, life: list[IncidentEvent]) -> None:
    """Configured formats, end to end: the store queues each vendor's body in its format, the sender posts it
    to a real endpoint on loopback, signed (Standard Webhooks, checked by its own library) where there is a secret."""
    vendors = life[0].vendors.involved()
    if len(vendors) < 2:
        pytest.skip("the replayed incident concerns one vendor")
    on_pagerduty, on_alertmanager = vendors[:2]
    received: dict[str, list[tuple[dict[str, str], bytes]]] = {on_pagerduty: [], on_alertmanager: []}

    async def hook(request: web.Request) -> web.Response:
        received[request.match_info["vendor"]].append((dict(request.headers), await request.read()))
        return web.Response(status=202)

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/{vendor}", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        targets = {
            on_pagerduty: DeliveryTarget(
                on_pagerduty, webhook=f"{base}/{on_pagerduty}", format=Format.PAGERDUTY, routing_key=ROUTING_KEY
            ),
            on_alertmanager: DeliveryTarget(
                on_alertmanager, webhook=f"{base}/{on_alertmanager}", secret=SECRET, format=Format.ALERTMANAGER
            ),
        }
        store = IncidentStore.connect(redis_url, targets=targets)
        try:
            for event in life:
                await store.apply(event)
            await drain(WebhookSender(store, targets, Metrics(), clock=time.time), store)
        finally:
            await store.close()
            await runner.cleanup()

    asyncio.run(scenario())
    # Each vendor gets every event of the incident's life that concerns it (the vendors involved may change as
    # the incident's scope does).
    concerning = {vendor: sum(vendor in event.vendors.involved() for event in life) for vendor in received}
    assert concerning[on_pagerduty] >= 1 and concerning[on_alertmanager] >= 1
    assert {vendor: len(messages) for vendor, messages in received.items()} == concerning
    for headers, body in received[on_pagerduty]:
        assert problems(PAGERDUTY, json.loads(body)) == []
        assert "webhook-signature" not in headers, "PagerDuty authenticates by routing key, not by signature"
    for headers, body in received[on_alertmanager]:
        assert problems(ALERTMANAGER, json.loads(body)) == []
        Webhook(SECRET).verify(body, headers)  # raises if the signature is not Standard Webhooks'
