"""The API fuzzed from its own OpenAPI document (schemathesis): no 5xx, every answer as documented, bad input
refused with a documented 4xx. Runs against `correlate api` on loopback with two real incidents in its store.

And fuzzed past its document (hypothesis): random methods, paths, headers (bytes a client library would not
send) and bodies, written on a raw socket. Every answer is below 500, every refusal is the API's JSON, and the
API's log shows no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from correlate.api.serve import read_state
from correlate.events import IncidentEvent
from correlate.store import IncidentStore
from correlate.streams.embedded import EmbeddedRedis
from test_api_serve import correlate, wait_for
from test_store import replayed


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, redis_server: EmbeddedRedis) -> Iterator[tuple[str, str, Path]]:
    """(url, noc token, home: its log is <home>/api.log) of an API on a store holding every event of a real
    replay (database 3 of the session's Redis, which no other test flushes)."""
    events, _ = replayed(tmp_path_factory.getbasetemp())
    store_url = redis_server.url.rsplit("/", 1)[0] + "/3"

    async def fill() -> None:
        store = IncidentStore.connect(store_url)
        await store.redis.flushdb()
        for event in events[:-1]:  # the last incident stays open
            await store.apply(IncidentEvent.from_json(event))
        await store.close()

    asyncio.run(fill())
    home = tmp_path_factory.mktemp("fuzz-home")
    with open(home / LOG, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "correlate.cli", "api", "--home", str(home), "--store", store_url, "--port", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CORRELATE_HOME": str(home)},
        )
    try:
        url = wait_for(lambda: read_state(home), "api.json")["url"]
        yield url, correlate("token", "--role", "noc", "--name", "fuzz", home=home).stdout.strip(), home
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


LOG = "api.log"


@pytest.fixture(scope="module")
def api_schema(running: tuple[str, str, Path]) -> Any:
    url, _, _ = running
    return schemathesis.openapi.from_url(f"{url}/v1/openapi.yaml")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
# Derandomised: the same examples on every run, so CI is reproducible; a newly found case is fixed, not retried.
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_the_api_answers_as_its_document_says(case: Any, running: tuple[str, str, Path]) -> None:
    _, token, _ = running
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


def test_the_document_is_the_one_in_the_package(running: tuple[str, str, Path]) -> None:
    import urllib.request

    url, _, _ = running
    with urllib.request.urlopen(f"{url}/v1/openapi.yaml", timeout=10) as response:
        served = response.read().decode()
    assert served == (Path(__file__).parents[1] / "src/correlate/api/openapi.yaml").read_text()


# -- past the document -----------------------------------------------------------------------------------------
PATHS = [
    "/v1/health",
    "/v1/known-incidents",
    "/v1/customers/{id}/journey",
    "/v1/incidents",
    "/v1/incidents/{id}",
    "/v1/incidents/{id}/follow-ups",
    "/v1/incidents/{id}/owner",
    "/v1/incidents/{id}/escalations",
    "/metrics",
    "/console",
    "/{id}",
]
# Header values: any byte but CR, LF and NUL (which end or break the header block; test_api_hostile writes those).
HEADER_BYTES = st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b""))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=600),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=20,
)
BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=2000),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(
        st.sampled_from(["customer_id", "contact_id", "source", "owner", "to", "note", "x"]),
        st.text(max_size=40) | st.integers() | st.none(),
        max_size=4,
    ).map(lambda value: json.dumps(value).encode()),
    st.integers(1, 5000).map(lambda depth: b"[" * depth),
    st.integers(16_000, 70_000).map(lambda size: b"{" * size),
)


@st.composite
def requests(draw: st.DrawFn, token: str) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
    ident = quote(draw(st.text(min_size=1, max_size=40)), safe="")
    path = draw(st.sampled_from(PATHS)).replace("{id}", ident)
    query = draw(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=30)), max_size=4))
    target = path + ("?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query) if query else "")
    authorization = draw(
        st.one_of(
            st.none(),
            st.just(b"Bearer " + token.encode()),
            HEADER_BYTES.map(lambda value: b"Bearer " + value),
            HEADER_BYTES.map(lambda value: b"Bearer " + token.encode()[:-3] + value),
            HEADER_BYTES,
        )
    )
    extra = draw(
        st.lists(
            st.tuples(
                st.sampled_from([b"Content-Type", b"Accept", b"Accept-Encoding", b"Content-Encoding", b"X-Anything"]),
                HEADER_BYTES,
            ),
            max_size=4,
        )
    )
    encoding = draw(st.none() | st.sampled_from([b"gzip", b"deflate", b"br", b"zstd", b"gzip, deflate", b"identity"]))
    if encoding is not None:
        extra.append((b"Content-Encoding", encoding))
    body = draw(BODIES)
    if encoding is not None and draw(st.booleans()):
        body = gzip.compress(body) if encoding == b"gzip" else zlib.compress(body)
    headers = [(b"Host", b"127.0.0.1"), (b"Connection", b"close"), *extra]
    if authorization is not None:
        headers.append((b"Authorization", authorization))
    headers.append((b"Content-Length", str(len(body)).encode()))
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return f"{method} {target} HTTP/1.1\r\n".encode() + head + b"\r\n" + body


def exchange(address: tuple[str, int], request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send the request, read the answer to the end (the API closes: Connection: close)."""
    with socket.create_connection(address, timeout=30) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(request)  # may be refused before the whole body is read: the answer is still there
        answer = b""
        while chunk := connection.recv(65_536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_random_methods_headers_and_bodies_never_get_a_5xx_or_a_traceback(running: tuple[str, str, Path]) -> None:
    url, token, home = running
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    log = home / LOG

    @given(request=requests(token))
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def check(request: bytes) -> None:
        seen = log.stat().st_size
        status, headers, body = exchange(address, request)
        assert status < 500, (request[:300], body[:300])
        if status >= 400 and not request.startswith(b"HEAD "):
            assert headers["content-type"].startswith("application/json"), body[:300]
            assert json.loads(body)["status"] == status
        written = log.read_bytes()[seen:].decode(errors="replace")
        assert "Traceback" not in written and " ERROR " not in written, written

    check()
