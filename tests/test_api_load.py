"""A burst of concurrent requests waits for the store's connections instead of failing (issue 21).

redis-py's default pool refused a command at once when its connections were all busy: 150 concurrent requests
gave 49 answers 503, 400 gave 299. Every test here counts answers, never times them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from correlate.contracts import Contact, validate
from correlate.events import IncidentEvent
from test_api import of
from test_api_hostile import Served, served
from test_store import replayed

BURST = 400


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return replayed(tmp_path_factory.getbasetemp())[0]


async def fill(api: Served, events: list[dict[str, Any]]) -> str:
    """Two incidents (one open) and a contact; the open incident's id."""
    for event in [*of(events, 0)[:-1], *of(events, 1)]:
        await api.store.apply(IncidentEvent.from_json(event))
    contact = validate(
        {"contact_id": "c-1", "ts": 1_772_000_000, "channel": "chat", "customer_id": "cu-0", "source": "s"}
    )
    assert isinstance(contact, Contact)
    await api.store.add_contact(contact)
    return str(of(events, 0)[0]["incident_id"])


async def burst(api: Served, incident_id: str, size: int = BURST) -> Counter[int | str]:
    """``size`` requests at once, each on its own connection: reads that go to Redis and follow-ups that hold a
    connection through a WATCH transaction. Their statuses (or the client error's name)."""
    headers = {"Authorization": "Bearer " + api.token("noc")}
    counts: Counter[int | str] = Counter()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=120)  # only stops a hung test

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        kind = index % 4
        if kind == 0:
            request = session.get(f"{api.url}/v1/incidents?status=all", headers=headers)
        elif kind == 1:
            request = session.get(f"{api.url}/v1/incidents/{incident_id}", headers=headers)
        elif kind == 2:
            request = session.get(f"{api.url}/v1/customers/cu-{index % 7}/journey", headers=headers)
        else:
            body = {"customer_id": f"cu-{index}"}
            request = session.post(f"{api.url}/v1/incidents/{incident_id}/follow-ups", json=body, headers=headers)
        try:
            async with request as response:
                await response.read()
                counts[response.status] += 1
        except aiohttp.ClientError as error:
            counts[type(error).__name__] += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(one(session, index) for index in range(size)))
    return counts


def run(redis_url: str, home: Path, events: list[dict[str, Any]], **store_options: Any) -> Counter[int | str]:
    async def go() -> Counter[int | str]:
        async with served(redis_url, home, store_options) as api:
            return await burst(api, await fill(api, events))

    return asyncio.run(go())


def test_a_burst_far_beyond_the_default_pool_is_answered_in_full(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    counts = run(redis_url, tmp_path, events)
    assert counts == Counter({200: BURST // 2 + BURST // 4, 201: BURST // 4}), counts


def test_four_connections_carry_a_burst_of_400_concurrent_requests(
    redis_url: str, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    counts = run(redis_url, tmp_path, events, max_connections=4)
    assert counts == Counter({200: BURST // 2 + BURST // 4, 201: BURST // 4}), counts


def test_a_store_busy_longer_than_the_wait_is_a_503_with_retry_after(redis_url: str, tmp_path: Path) -> None:
    """The wait is bounded: with the only connection held (a blocking pop), a request gives up after
    ``pool_timeout`` and says when to try again."""

    async def go() -> tuple[int, dict[str, Any], str | None]:
        async with served(redis_url, tmp_path, {"max_connections": 1, "pool_timeout": 0.2}) as api:
            holder = asyncio.create_task(api.store.redis.blpop(["correlate:test:never"], timeout=30))
            watcher = aioredis.Redis.from_url(redis_url, decode_responses=True)
            try:
                for _ in range(600):  # until the pop holds the connection (the limit only stops a hung test)
                    if any(client.get("cmd") == "blpop" for client in await watcher.client_list()):
                        break
                    await asyncio.sleep(0.05)
                headers = {"Authorization": "Bearer " + api.token("noc")}
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"{api.url}/v1/incidents", headers=headers) as response,
                ):
                    return response.status, await response.json(), response.headers.get("Retry-After")
            finally:
                holder.cancel()
                await watcher.aclose()

    status, answer, retry_after = asyncio.run(go())
    assert (status, answer["status"], retry_after) == (503, 503, "1")
    assert "not reachable" in answer["error"]
