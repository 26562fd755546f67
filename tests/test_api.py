"""The HTTP API as agents, the NOC and vendors use it: real Redis, real incident events, real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from correlate.api.access import KEYS_DIR, Claims, KeyRing, load_keys, mint
from correlate.api.app import ApiContext, ago, build_app
from correlate.contracts import Contact, Rejection, parse_timestamp, validate
from correlate.events import IncidentEvent
from correlate.metrics import Metrics
from correlate.notify.delivery import DeliveryTarget
from correlate.store import IncidentStore
from test_store import replayed


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return replayed(tmp_path_factory.getbasetemp())[0]


class Api:
    """A running API on a fresh store, and tokens for each kind of caller."""

    def __init__(self, client: TestClient[Any, Any], store: IncidentStore, secret: KeyRing, clock: list[float]) -> None:
        self.client, self.store, self.secret, self.clock = client, store, secret, clock

    def token(self, role: str, vendor: str | None = None, name: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint(self.secret, Claims(role, vendor, name))}

    async def get(self, path: str, role: str = "agent", vendor: str | None = None, **params: str) -> tuple[int, Any]:
        response = await self.client.get(path, params=params, headers=self.token(role, vendor, "ana"))
        return response.status, await response.json()

    async def send(self, method: str, path: str, body: Any, role: str = "agent", name: str = "ana") -> tuple[int, Any]:
        response = await self.client.request(method, path, json=body, headers=self.token(role, None, name))
        return response.status, await response.json()


@asynccontextmanager
async def running_api(redis_url: str, home: Path, now: float, **store_options: Any) -> AsyncIterator[Api]:
    clock = [now]
    store = IncidentStore.connect(redis_url, clock=lambda: clock[0], **store_options)
    secret = load_keys(home / KEYS_DIR, create=True)
    app = build_app(ApiContext(store, secret, Metrics(), lambda: clock[0], banner_max_age=0.0))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        try:
            yield Api(client, store, secret, clock)
        finally:
            await store.close()


def scenario(redis_url: str, home: Path, now: float, body: Callable[[Api], Awaitable[Any]], **options: Any) -> Any:
    async def go() -> Any:
        async with running_api(redis_url, home, now, **options) as api:
            return await body(api)

    return asyncio.run(go())


def of(events: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    """The events of the index-th incident of the run."""
    ids = list(dict.fromkeys(event["incident_id"] for event in events))
    return [event for event in events if event["incident_id"] == ids[index]]


def test_an_agent_gets_the_banner_for_the_callers_device_and_service(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    pixelle = of(events, 0)
    opened = pixelle[0]  # symptom incident on {device_brand: Pixelle}, opened 2026-03-05 00:50
    now = parse_timestamp(opened["at"]) + 600

    async def body(api: Api) -> Any:
        await api.store.apply(IncidentEvent.from_json(opened))
        await api.store.attach(opened["incident_id"], "ana", customer_id="cu-on-list")
        return (
            await api.get("/v1/known-incidents", device_brand="Pixelle", service="StreamPlus"),
            await api.get("/v1/known-incidents", device_brand="pixelle", customer_id="cu-on-list"),
            await api.get("/v1/known-incidents", device_brand="Arcus", service="StreamPlus"),
        )

    (status, found), (_, on_list), (_, other) = scenario(redis_url, tmp_path, now, body)
    assert status == 200
    assert found["count"] == 1
    incident = found["incidents"][0]
    assert incident["incident_id"] == opened["incident_id"]
    assert incident["banner"] == (
        "Known incident since 00:50: error E8860 on Pixelle devices — 12 customers, all 3 vendors notified. "
        "Don't troubleshoot the device; add the customer to the follow-up list."
    )
    assert incident["on_follow_up_list"] is None
    assert on_list["incidents"][0]["on_follow_up_list"] is True
    assert "already on the follow-up list" in on_list["incidents"][0]["banner"]
    assert other == {"incidents": [], "count": 0, "dimensions": {"device_brand": "Arcus", "service": "StreamPlus"}}


def test_the_banner_says_which_vendors_were_told(redis_url: str, tmp_path: Path, events: list[dict[str, Any]]) -> None:
    opened = of(events, 0)[0]
    hook = {"webhook": "http://127.0.0.1:9/hook", "secret": "whsec_" + "c2VjcmV0" * 4, "topic": False}
    targets = {v: DeliveryTarget(v, **hook) for v in ("pixelle", "radiogo", "streamplus")}  # type: ignore[arg-type]

    async def body(api: Api) -> Any:
        await api.store.apply(IncidentEvent.from_json(opened))
        before = await api.get("/v1/known-incidents", device_brand="Pixelle")
        ref = next(r for r in await api.store.due_webhooks(float("inf")) if r.startswith("pixelle|"))
        await api.store.webhook_outcome(ref, opened["incident_id"], delivered=True, retry_at=None)
        return before, await api.get("/v1/known-incidents", device_brand="Pixelle")

    (_, before), (_, after) = scenario(redis_url, tmp_path, parse_timestamp(opened["at"]), body, targets=targets)
    assert "vendors not yet notified" in before["incidents"][0]["banner"]
    assert "1 of 3 vendors notified" in after["incidents"][0]["banner"]
    assert after["incidents"][0]["vendors_notified"] == ["pixelle"]


def test_the_customer_alone_is_enough_when_they_contacted_us_recently(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    opened = of(events, 0)[0]
    contact = validate(
        {
            "contact_id": "ct-1",
            "ts": opened["at"],
            "channel": "voice",
            "customer_id": "cu-5",
            "source": "centre",
            "dimensions": {"device_brand": "Pixelle", "device_model": "Pixelle Max32", "service": "RadioGo"},
        }
    )
    assert isinstance(contact, Contact)

    async def body(api: Api) -> Any:
        await api.store.apply(IncidentEvent.from_json(opened))
        await api.store.add_contact(contact)
        return await api.get("/v1/known-incidents", customer_id="cu-5"), await api.get(
            "/v1/known-incidents", customer_id="cu-unknown"
        )

    (status, found), (missing, reason) = scenario(redis_url, tmp_path, parse_timestamp(opened["at"]), body)
    assert status == 200
    assert found["dimensions"] == {"device_brand": "Pixelle", "device_model": "Pixelle Max32", "service": "RadioGo"}
    assert [i["incident_id"] for i in found["incidents"]] == [opened["incident_id"]]
    assert found["incidents"][0]["on_follow_up_list"] is False
    assert missing == 404 and "no recent contact" in reason["error"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "name at least one dimension"),
        ({"Device Brand": "x"}, "is not a dimension name"),
        ({"device_brand": " "}, "not blank"),
        ({"device_brand": "x" * 501}, "1-500 characters"),
        ({f"d{i}": "x" for i in range(9)}, "at most 8 dimensions"),
    ],
)
def test_a_bad_banner_query_says_what_is_wrong(
    redis_url: str, tmp_path: Path, params: dict[str, str], reason: str
) -> None:
    status, body = scenario(redis_url, tmp_path, 0.0, lambda api: api.get("/v1/known-incidents", **params))
    assert status == 400
    assert reason in body["error"]
    assert body["status"] == 400


def test_a_repeated_dimension_is_refused(redis_url: str, tmp_path: Path) -> None:
    async def body(api: Api) -> Any:
        response = await api.client.get("/v1/known-incidents?service=A&service=B", headers=api.token("agent"))
        return response.status, await response.json()

    status, answer = scenario(redis_url, tmp_path, 0.0, body)
    assert (status, answer["error"]) == (400, "service: give it once, not 2 times")


def test_the_journey_shows_a_customers_contacts_on_every_channel(redis_url: str, tmp_path: Path) -> None:
    now = parse_timestamp("2026-03-05T12:00:00Z")
    records = [
        {"contact_id": "e-1", "ts": "2026-03-05T10:00:00Z", "channel": "email", "text": "no picture"},
        {"contact_id": "c-1", "ts": "2026-03-05T11:00:00Z", "channel": "chat"},
        {"contact_id": "v-1", "ts": "2026-03-05T11:55:00Z", "channel": "voice"},
    ]
    contacts = [
        validate({**r, "customer_id": "cu-7", "source": "centre", "dimensions": {"device_brand": "Sonique"}})
        for r in records
    ]
    other = validate({**records[0], "contact_id": "x-1", "customer_id": "cu-8", "source": "centre"})

    async def body(api: Api) -> Any:
        for contact in [*contacts, other]:
            assert isinstance(contact, Contact)
            await api.store.add_contact(contact)
        return await api.get("/v1/customers/cu-7/journey"), await api.get("/v1/customers/cu-none/journey")

    (status, journey), (_, empty) = scenario(redis_url, tmp_path, now, body)
    assert status == 200
    assert [(c["channel"], c["ago"]) for c in journey["contacts"]] == [
        ("voice", "5 minutes ago"),
        ("chat", "an hour ago"),
        ("email", "2 hours ago"),
    ]
    assert journey["contacts"][-1]["text"] == "no picture"
    assert empty == {"customer_id": "cu-none", "contacts": [], "count": 0}


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(5, "just now"), (60, "1 minute ago"), (3599, "59 minutes ago"), (7200, "2 hours ago"), (90_000, "1 day ago")],
)
def test_ago_words(seconds: float, words: str) -> None:
    assert ago(seconds) == words


def test_follow_ups_are_notified_once_when_the_incident_resolves(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    pixelle = of(events, 0)
    contact = validate(
        {"contact_id": "ct-9", "ts": pixelle[0]["at"], "channel": "chat", "customer_id": "cu-9", "source": "centre"}
    )
    assert isinstance(contact, Contact)

    async def body(api: Api) -> Any:
        for event in pixelle[:-1]:
            await api.store.apply(IncidentEvent.from_json(event))
        await api.store.add_contact(contact)
        path = f"/v1/incidents/{pixelle[0]['incident_id']}/follow-ups"
        answers = [
            await api.send("POST", path, {"customer_id": "cu-1"}),
            await api.send("POST", path, {"contact_id": "ct-9", "source": "centre"}),
            await api.send("POST", path, {"customer_id": "cu-1"}),
            await api.send("POST", path, {"contact_id": "ct-unknown", "source": "centre"}),
            await api.send("POST", path, {"customer_id": "cu-2", "contact_id": "ct-9", "source": "centre"}),
            await api.send("POST", path, {}),
            await api.send("POST", path, ["cu-1"]),
        ]
        await api.store.apply(IncidentEvent.from_json(pixelle[-1]))
        await api.store.apply(IncidentEvent.from_json(pixelle[-1]))  # redelivered
        answers.append(await api.send("POST", path, {"customer_id": "cu-3"}))
        return answers, await api.get(f"/v1/incidents/{pixelle[0]['incident_id']}", role="noc")

    answers, (status, detail) = scenario(redis_url, tmp_path, parse_timestamp(pixelle[0]["at"]), body)
    assert [code for code, _ in answers] == [201, 201, 200, 404, 422, 400, 400, 409]
    assert answers[1][1]["customer_id"] == "cu-9"
    assert (answers[1][1]["contact_id"], answers[1][1]["source"]) == ("ct-9", "centre")
    assert answers[1][1]["attached_by"] == "ana"
    assert "resolved" in answers[-1][1]["error"]
    assert status == 200
    assert detail["status"] == "resolved"
    assert [(n["customer_id"], n["event"]) for n in detail["notifications"]] == [
        ("cu-1", "customer-notification"),
        ("cu-9", "customer-notification"),
    ]
    assert [f["customer_id"] for f in detail["follow_ups"]] == ["cu-1", "cu-9"]


def test_a_follow_up_by_contact_reaches_the_customer_of_that_source_only(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """Contact ids are unique per source (the contract): two sources' contact "42" are two customers. A contact
    id without its source is refused, as it may name either; with it, the follow-up reaches the right one."""
    opened = of(events, 0)[0]
    same_id = [
        validate({"contact_id": "42", "ts": opened["at"], "channel": channel, "customer_id": who, "source": source})
        for channel, who, source in (("voice", "cu-lisbon", "centre:lisbon"), ("partner", "cu-acme", "partner:acme"))
    ]
    path = f"/v1/incidents/{opened['incident_id']}/follow-ups"

    async def body(api: Api) -> Any:
        await api.store.apply(IncidentEvent.from_json(opened))
        for contact in same_id:
            assert isinstance(contact, Contact)
            await api.store.add_contact(contact)
        return [
            await api.send("POST", path, {"contact_id": "42"}),
            await api.send("POST", path, {"source": "partner:acme"}),
            await api.send("POST", path, {"contact_id": "42", "source": "partner:acme"}),
            await api.send("POST", path, {"contact_id": "42", "source": "centre:lisbon"}),
            await api.send("POST", path, {"contact_id": "42", "source": "centre:porto"}),
            await api.send("POST", path, {"contact_id": "42", "source": "partner:acme", "customer_id": "cu-lisbon"}),
        ]

    answers = scenario(redis_url, tmp_path, parse_timestamp(opened["at"]), body)
    assert [status for status, _ in answers] == [400, 400, 201, 201, 404, 422]
    assert "unique only within its source" in answers[0][1]["error"]
    assert [(a["customer_id"], a["source"]) for _, a in answers[2:4]] == [
        ("cu-acme", "partner:acme"),
        ("cu-lisbon", "centre:lisbon"),
    ]


def test_the_noc_assigns_an_owner_and_escalations_report_back_to_them(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    opened = of(events, 1)[0]
    path = f"/v1/incidents/{opened['incident_id']}"

    async def body(api: Api) -> Any:
        await api.store.apply(IncidentEvent.from_json(opened))
        return [
            await api.send("POST", path + "/escalations", {"to": "vendor:arcus"}, role="noc", name="nora"),
            await api.send("PUT", path + "/owner", {"owner": "nora"}, role="agent"),
            await api.send("PUT", path + "/owner", {"owner": "nora"}, role="noc", name="nora"),
            await api.send(
                "POST", path + "/escalations", {"to": "vendor:arcus", "note": "firmware?"}, role="noc", name="nora"
            ),
            await api.send("PUT", "/v1/incidents/inc-none/owner", {"owner": "nora"}, role="noc"),
            # Blank as the OpenAPI document means it (found by the fuzzer): a control character is text, spaces are not
            await api.send("POST", path + "/escalations", {"to": "vendor:arcus", "note": "\x1e"}, role="noc"),
            await api.send("POST", path + "/escalations", {"to": "vendor:arcus", "note": " \t"}, role="noc"),
            await api.get(path, role="noc"),
        ]

    answers = scenario(redis_url, tmp_path, parse_timestamp(opened["at"]), body)
    assert [code for code, _ in answers] == [409, 403, 200, 201, 404, 201, 400, 200]
    assert "assign one first" in answers[0][1]["error"]
    detail = answers[-1][1]
    assert detail["owner"] == "nora"
    assert detail["owner_assigned"]["by"] == "nora"
    first = detail["escalations"][0]
    assert (first["to"], first["report_back_to"], first["by"]) == ("vendor:arcus", "nora", "nora")
    assert [e["note"] for e in detail["escalations"]] == ["firmware?", "\x1e"]
    assert detail["timeline"][0]["event"] == "opened"
    assert detail["vendors"] == opened["vendors"]


def test_a_vendor_sees_only_its_own_incidents_and_no_customers(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    pixelle, arcus = of(events, 0), of(events, 1)

    async def body(api: Api) -> Any:
        for event in [*pixelle[:-1], *arcus]:
            await api.store.apply(IncidentEvent.from_json(event))
        await api.store.attach(pixelle[0]["incident_id"], "ana", customer_id="cu-secret")
        await api.store.apply(IncidentEvent.from_json(pixelle[-1]))
        return {
            "list": await api.get("/v1/incidents", role="vendor", vendor="pixelle", status="all"),
            "own": await api.get(f"/v1/incidents/{pixelle[0]['incident_id']}", role="vendor", vendor="pixelle"),
            "noc view": await api.get(f"/v1/incidents/{pixelle[0]['incident_id']}", role="noc"),
            "other": await api.get(f"/v1/incidents/{arcus[0]['incident_id']}", role="vendor", vendor="pixelle"),
            "unknown": await api.get("/v1/incidents/inc-000000000000", role="vendor", vendor="pixelle"),
            "banner": await api.get("/v1/known-incidents", role="vendor", vendor="pixelle", device_brand="Arcus"),
            "journey": await api.get("/v1/customers/cu-secret/journey", role="vendor", vendor="pixelle"),
            "noc list": await api.get("/v1/incidents", role="noc", status="all"),
        }

    seen = scenario(redis_url, tmp_path, 0.0, body)
    assert [i["incident_id"] for i in seen["list"][1]["incidents"]] == [pixelle[0]["incident_id"]]
    assert seen["own"][0] == 200
    assert [f["customer_id"] for f in seen["noc view"][1]["follow_ups"]] == ["cu-secret"]
    assert len(seen["noc view"][1]["notifications"]) == 1
    assert seen["own"][1]["follow_ups"] == [] and seen["own"][1]["notifications"] == []
    assert "cu-secret" not in json.dumps(seen["own"][1])
    assert seen["own"][1]["evidence"]["sample_texts"] == []
    assert seen["other"][0] == 404 and seen["unknown"][0] == 404
    assert seen["other"][1]["error"].replace(arcus[0]["incident_id"], "ID") == seen["unknown"][1]["error"].replace(
        "inc-000000000000", "ID"
    )
    assert seen["banner"][0] == 403 and seen["journey"][0] == 403
    assert len(seen["noc list"][1]["incidents"]) == 2


def test_missing_and_forged_tokens_get_401_with_a_reason(redis_url: str, tmp_path: Path) -> None:
    async def body(api: Api) -> Any:
        forged = mint(load_keys(tmp_path / "elsewhere", create=True), Claims("noc"))
        answers = []
        for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer " + forged}):
            response = await api.client.get("/v1/incidents", headers=headers)
            answers.append(
                (response.status, (await response.json())["error"], response.headers.get("WWW-Authenticate"))
            )
        return answers, forged

    answers, forged = scenario(redis_url, tmp_path, 0.0, body)
    assert [status for status, _, _ in answers] == [401, 401, 401]
    assert "Authorization: Bearer" in answers[0][1]
    assert "signature" in answers[2][1] and forged not in answers[2][1]
    assert all(challenge == 'Bearer realm="correlate"' for _, _, challenge in answers)


def test_the_openapi_document_the_console_and_metrics_are_served(redis_url: str, tmp_path: Path) -> None:
    async def body(api: Api) -> Any:
        texts = {}
        for path in ("/v1/openapi.yaml", "/console", "/metrics", "/v1/health", "/v1/nowhere"):
            response = await api.client.get(path)
            texts[path] = (response.status, await response.text())
        return texts, [resource.canonical for resource in api.client.app.router.resources()]  # type: ignore[union-attr]

    texts, routes = scenario(redis_url, tmp_path, 0.0, body)
    document = yaml.safe_load(texts["/v1/openapi.yaml"][1])
    assert set(document["paths"]) == {route for route in routes if route.startswith("/v1/")}
    assert texts["/console"][0] == 200 and "<title>correlate" in texts["/console"][1]
    assert "correlate_webhook_deliveries_total" in texts["/metrics"][1]
    assert texts["/v1/nowhere"] == (404, json.dumps({"error": "no such route", "status": 404}))


def test_a_base64_customer_id_has_a_journey(redis_url: str, tmp_path: Path) -> None:
    contact = validate(
        {"contact_id": "e-1", "ts": 1_772_000_000, "channel": "email", "customer_id": "Zm9v+YmFy=", "source": "c"}
    )
    assert isinstance(contact, Contact)

    async def body(api: Api) -> Any:
        await api.store.add_contact(contact)
        return await api.get("/v1/customers/Zm9v+YmFy=/journey"), await api.get("/v1/customers/%20x/journey")

    (status, journey), (bad, reason) = scenario(redis_url, tmp_path, 1_772_000_600.0, body)
    assert status == 200 and [c["contact_id"] for c in journey["contacts"]] == ["e-1"]
    assert journey["contacts"][0]["ago"] == "10 minutes ago"
    assert bad == 400 and "starting with a letter or digit" in reason["error"]


def test_a_store_that_is_away_is_a_503_with_a_reason(tmp_path: Path) -> None:
    from correlate.streams.embedded import free_port

    async def go() -> tuple[int, Any]:
        async with running_api(f"redis://127.0.0.1:{free_port()}/0", tmp_path, 0.0) as api:
            return await api.get("/v1/incidents", role="noc")

    status, body = asyncio.run(go())
    assert status == 503
    assert body == {"error": "the incident store is not reachable; try again shortly", "status": 503}


ROLES = {"agent": ("agent", None), "noc": ("noc", None), "vendor": ("vendor", "pixelle"), "other": ("vendor", "vizo")}
PERMISSIONS = [
    # method, path, body, {role: status}
    ("GET", "/v1/known-incidents?device_brand=Pixelle", None, {"agent": 200, "noc": 200, "vendor": 403, "other": 403}),
    ("GET", "/v1/customers/cu-1/journey", None, {"agent": 200, "noc": 200, "vendor": 403, "other": 403}),
    ("GET", "/v1/incidents", None, {"agent": 200, "noc": 200, "vendor": 200, "other": 200}),
    ("GET", "/v1/incidents/{id}", None, {"agent": 200, "noc": 200, "vendor": 200, "other": 404}),
    ("POST", "/v1/incidents/{id}/follow-ups", {"customer_id": "cu-9"}, {"agent": 201, "noc": 201, "vendor": 403}),
    ("PUT", "/v1/incidents/{id}/owner", {"owner": "nora"}, {"agent": 403, "noc": 200, "vendor": 403, "other": 403}),
    ("POST", "/v1/incidents/{id}/escalations", {"to": "vendor:pixelle"}, {"agent": 403, "noc": 201, "vendor": 403}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "role", "expected"),
    [(m, p, b, role, status) for m, p, b, statuses in PERMISSIONS for role, status in statuses.items()],
)
def test_who_may_do_what(
    redis_url: str,
    tmp_path: Path,
    events: list[dict[str, Any]],
    method: str,
    path: str,
    body: Any,
    role: str,
    expected: int,
) -> None:
    opened = of(events, 0)[0]  # pixelle at fault; radiogo, streamplus affected; vizo not involved

    async def go(api: Api) -> int:
        await api.store.apply(IncidentEvent.from_json(opened))
        await api.store.assign(opened["incident_id"], "nora", "nora")
        kind, vendor = ROLES[role]
        response = await api.client.request(
            method, path.format(id=opened["incident_id"]), json=body, headers=api.token(kind, vendor, "x")
        )
        return response.status

    assert scenario(redis_url, tmp_path, parse_timestamp(opened["at"]), go) == expected


def test_the_noc_filters_incidents_by_dimension(redis_url: str, tmp_path: Path, events: list[dict[str, Any]]) -> None:
    pixelle = of(events, 0)[0]  # open: {device_brand: Pixelle}
    arcus = of(events, 1)  # resolved: {device_brand: Arcus, service: RadioGo}
    cases = [
        ("noc", {"device_brand": "Pixelle"}, [pixelle["incident_id"]]),
        ("noc", {"device_brand": "pixelle", "service": "StreamPlus"}, [pixelle["incident_id"]]),
        ("noc", {"device_brand": "Arcus", "service": "RadioGo"}, []),  # resolved; open is the default
        ("noc", {"status": "resolved", "device_brand": "Arcus", "service": "RadioGo"}, [arcus[0]["incident_id"]]),
        ("noc", {"status": "resolved", "device_brand": "Arcus"}, []),  # its scope also names a service
        ("noc", {"status": "all", "service": "RadioGo", "device_brand": "arcus"}, [arcus[0]["incident_id"]]),
        ("vizo", {"device_brand": "Pixelle"}, []),
    ]

    async def body(api: Api) -> Any:
        for event in [pixelle, *arcus]:
            await api.store.apply(IncidentEvent.from_json(event))
        found = []
        for who, params, _ in cases:
            role, vendor = ("vendor", "vizo") if who == "vizo" else ("noc", None)
            status, answer = await api.get("/v1/incidents", role=role, vendor=vendor, **params)
            found.append((status, [i["incident_id"] for i in answer["incidents"]]))
        return found

    assert scenario(redis_url, tmp_path, 0.0, body) == [(200, expected) for _, _, expected in cases]


def test_a_misspelt_dimension_is_refused_with_the_known_names(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """?brand=Arcus must not answer "no known incident" (troubleshoot as usual): it names the dimensions there are."""
    opened = of(events, 0)[0]
    contact = validate(
        {
            "contact_id": "c-1",
            "ts": opened["at"],
            "channel": "voice",
            "customer_id": "cu-1",
            "source": "ivr",
            "dimensions": {"device_brand": "Arcus", "plan": "Gold"},
        }
    )
    assert isinstance(contact, Contact)

    async def body(api: Api) -> Any:
        await api.store.apply(IncidentEvent.from_json(opened))
        await api.store.add_contact(contact)
        return (
            await api.get("/v1/known-incidents", brand="Arcus"),
            await api.get("/v1/known-incidents", device_brand="Arcus", regoin="North"),
            await api.get("/v1/known-incidents", device_brand="Arcus", plan="Gold"),
        )

    (status, refused), (status_two, refused_two), (ok, _) = scenario(redis_url, tmp_path, 0.0, body)
    assert status == 400
    assert refused["error"].startswith("unknown dimension(s) brand; known: ")
    assert "device_brand" in refused["error"] and "plan" in refused["error"]  # documented, and seen
    assert status_two == 400 and "regoin" in refused_two["error"]
    assert ok == 200


def test_people_act_on_an_incident_as_their_role_allows(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """The NOC acknowledges and dismisses, an agent notes but may not dismiss; each action is audited and sent to
    the detector as an input record (which turns it into the incident's event: tests/test_actions.py)."""
    from correlate.actions import validate_action
    from correlate.api.app import CONTEXT

    opened = of(events, 0)[0]
    incident_id = opened["incident_id"]
    sent: list[dict[str, Any]] = []

    async def submit(record: dict[str, Any]) -> None:
        sent.append(record)

    async def body(api: Api) -> Any:
        assert api.client.app is not None
        object.__setattr__(api.client.app[CONTEXT], "submit", submit)  # the frozen context, given a broker
        await api.store.apply(IncidentEvent.from_json(opened))
        path = f"/v1/incidents/{incident_id}/actions"
        return (
            await api.send("POST", path, {"action": "acknowledge"}, role="noc", name="ana"),
            await api.send("POST", path, {"action": "dismiss", "reason": "x"}, role="agent", name="bo"),
            await api.send("POST", path, {"action": "note", "reason": "E42 on screen"}, role="agent", name="bo"),
            await api.send("POST", path, {"action": "dismiss"}, role="noc"),
            await api.send("POST", "/v1/incidents/inc-none/actions", {"action": "acknowledge"}, role="noc"),
            await api.get(f"/v1/incidents/{incident_id}", role="noc"),
        )

    ack, refused, note, no_reason, unknown, (_, detail) = scenario(redis_url, tmp_path, 1_772_700_000.0, body)
    assert ack[0] == 202 and ack[1]["by"] == "ana" and ack[1]["role"] == "noc"
    assert refused[0] == 403 and "may not dismiss" in refused[1]["error"]
    assert note[0] == 202
    assert no_reason[0] == 400 and "reason" in no_reason[1]["error"]
    assert unknown[0] == 409
    assert [r["action"] for r in sent] == ["acknowledge", "note"]
    assert all(not isinstance(validate_action(r), Rejection) for r in sent)
    assert [a["action"] for a in detail["actions"]] == ["acknowledge", "note"]


def test_without_a_broker_an_action_is_refused_not_lost(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    opened = of(events, 0)[0]

    async def body(api: Api) -> Any:
        await api.store.apply(IncidentEvent.from_json(opened))
        return await api.send(
            "POST", f"/v1/incidents/{opened['incident_id']}/actions", {"action": "acknowledge"}, "noc"
        )

    status, answer = scenario(redis_url, tmp_path, 0.0, body)
    assert status == 409 and "broker" in answer["error"]
