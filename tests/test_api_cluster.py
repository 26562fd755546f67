"""Two `correlate api` replicas behind one Service: the same signing keys (a mounted Secret) and the same store,
so a token works on either, and an expired or revoked one is refused by both, with the reason."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from correlate.api.access import Claims, load_keys, mint
from correlate.api.app import ApiContext, build_app
from correlate.api.serve import read_state
from correlate.metrics import Metrics
from correlate.store import IncidentStore
from correlate.streams.embedded import free_port
from test_access import ring
from test_api_serve import get, wait_for


def cli(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRELATE_HOME": str(home)}
    env.pop("CORRELATE_API_KEYS", None)
    return subprocess.run([sys.executable, "-m", "correlate.cli", *argv], capture_output=True, text=True, env=env)


@contextmanager
def replica(home: Path, keys: Path, store: str) -> Iterator[str]:
    """One `correlate api` process with a home of its own; yields its URL."""
    argv = ["api", "--home", str(home), "--keys", str(keys), "--store", store, "--port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "correlate.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        state = wait_for(lambda: read_state(home) or process.poll() is not None, "api.json")
        assert process.poll() is None, "the API exited at start"
        yield str(state["url"])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def test_two_replicas_sharing_the_keys_accept_each_others_tokens_and_refuse_expired_and_revoked_ones(
    redis_url: str, tmp_path: Path
) -> None:
    keys = ring(tmp_path, **{"2025-01-01": "a" * 64})
    with replica(tmp_path / "one", keys, redis_url) as one, replica(tmp_path / "two", keys, redis_url) as two:
        minted = cli("token", "--role", "noc", "--keys", str(keys), "--ttl", "1h", home=tmp_path / "cli")
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip()
        for url in (one, two):
            assert get(f"{url}/v1/incidents", token) == (200, {"incidents": [], "count": 0})

        expired = mint(load_keys(keys), Claims("noc"), ttl=60, now=time.time() - 3600)
        for url in (one, two):
            status, body = get(f"{url}/v1/incidents", expired)
            assert status == 401 and body["error"].startswith("token expired at ")

        revoked = cli("token", "--revoke", token, "--store", redis_url, home=tmp_path / "cli")
        assert revoked.returncode == 0, revoked.stderr
        for url in (one, two):
            status, body = wait_for(lambda u=url: (a := get(f"{u}/v1/incidents", token))[0] == 401 and a, "revoked")
            assert "was revoked" in body["error"]

        # A key rotated in while both run: what it signs is accepted by both, without a restart.
        (keys / "..data" / "2025-06-01").write_text("b" * 64 + "\n")
        (keys / "2025-06-01").symlink_to("..data/2025-06-01")
        fresh = cli("token", "--role", "agent", "--keys", str(keys), home=tmp_path / "cli").stdout.strip()
        for url in (one, two):
            wait_for(lambda u=url: get(f"{u}/v1/incidents", fresh)[0] == 200, "the new key on every replica")


def test_health_says_unavailable_when_the_store_is_gone(redis_url: str, tmp_path: Path) -> None:
    async def probe(url: str) -> tuple[int, Any]:
        store = IncidentStore.connect(url)
        app = build_app(ApiContext(store, load_keys(tmp_path, create=True), Metrics(), time.time))
        try:
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                response = await client.get("/v1/health")
                return response.status, await response.json()
        finally:
            await store.close()

    assert asyncio.run(probe(redis_url)) == (200, {"status": "ok", "store": "ok"})
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    assert asyncio.run(probe(nowhere)) == (503, {"status": "unavailable", "store": "unreachable"})
