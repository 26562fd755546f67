"""The API fuzzed from its own OpenAPI document (schemathesis): no 5xx, every answer as documented, bad input
refused with a documented 4xx. Runs against `correlate api` on loopback with two real incidents in its store."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from correlate.api.serve import read_state
from correlate.embedded import EmbeddedRedis
from correlate.store import IncidentStore
from test_api_serve import correlate, wait_for
from test_store import replayed


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, redis_server: EmbeddedRedis) -> Iterator[tuple[str, str]]:
    """(url, noc token) of an API on a store holding every event of a real replay (database 3 of the session's
    Redis, which no other test flushes)."""
    events, _ = replayed(tmp_path_factory.getbasetemp())
    store_url = redis_server.url.rsplit("/", 1)[0] + "/3"

    async def fill() -> None:
        store = IncidentStore.connect(store_url)
        await store.redis.flushdb()
        for event in events[:-1]:  # the last incident stays open
            await store.apply(event)
        await store.close()

    asyncio.run(fill())
    home = tmp_path_factory.mktemp("fuzz-home")
    process = subprocess.Popen(
        [sys.executable, "-m", "correlate.cli", "api", "--home", str(home), "--store", store_url, "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CORRELATE_HOME": str(home)},
    )
    try:
        url = wait_for(lambda: read_state(home), "api.json")["url"]
        yield url, correlate("token", "--role", "noc", "--name", "fuzz", home=home).stdout.strip()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


@pytest.fixture(scope="module")
def api_schema(running: tuple[str, str]) -> Any:
    url, _ = running
    return schemathesis.openapi.from_url(f"{url}/v1/openapi.yaml")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
# Derandomised: the same examples on every run, so CI is reproducible; a newly found case is fixed, not retried.
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_the_api_answers_as_its_document_says(case: Any, running: tuple[str, str]) -> None:
    _, token = running
    headers = {"Authorization": f"Bearer {token}"}
    if case.path == "/v1/known-incidents" and not case.query:
        # Every parameter is optional on its own, but one is needed: OpenAPI cannot say "at least one of".
        # (A negative case may bring an Authorization header of its own, which must then be refused.)
        response = case.call(headers=headers)
        forged = response.request.headers.get("Authorization") != headers["Authorization"]
        assert response.status_code == (401 if forged else 400), response.text
        assert response.json()["status"] == response.status_code
        return
    case.call_and_validate(headers=headers)


def test_the_document_is_the_one_in_the_package(running: tuple[str, str]) -> None:
    import urllib.request

    url, _ = running
    with urllib.request.urlopen(f"{url}/v1/openapi.yaml", timeout=10) as response:
        served = response.read().decode()
    assert served == (Path(__file__).parents[1] / "src/correlate/api/openapi.yaml").read_text()
