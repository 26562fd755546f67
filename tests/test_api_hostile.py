"""Hostile and garbled requests get a 4xx in the API's JSON shape and leave no traceback in the log (issue 21).

The API is served as `correlate api` serves it (ApiRunner on loopback, real Redis); requests that aiohttp
itself must refuse are written on raw sockets, because a client library would not send them.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from correlate.api.access import KEYS_DIR, Claims, KeyRing, load_keys, mint
from correlate.api.app import ApiContext, build_app
from correlate.api.protocol import ApiRunner
from correlate.api.serve import LISTEN_BACKLOG
from correlate.metrics import Metrics
from correlate.store import IncidentStore


@dataclass
class Served:
    url: str
    port: int
    store: IncidentStore
    secret: KeyRing

    def token(self, role: str = "noc") -> str:
        return mint(self.secret, Claims(role, name="ana"))


@asynccontextmanager
async def served(
    redis_url: str, home: Path, store_options: dict[str, Any] | None = None, **context: Any
) -> AsyncIterator[Served]:
    """The API on an ephemeral loopback port, served the way `correlate api` serves it."""
    store = IncidentStore.connect(redis_url, **(store_options or {}))
    secret = load_keys(home / KEYS_DIR, create=True)
    app = build_app(ApiContext(store, secret, Metrics(), lambda: 0.0, banner_max_age=0.0, **context))
    runner = ApiRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=LISTEN_BACKLOG)
        await site.start()
        port = runner.addresses[0][1]
        yield Served(f"http://127.0.0.1:{port}", port, store, secret)
    finally:
        await runner.cleanup()
        await store.close()


def scenario(redis_url: str, home: Path, body: Callable[[Served], Awaitable[Any]], **context: Any) -> Any:
    async def go() -> Any:
        async with served(redis_url, home, **context) as api:
            return await body(api)

    return asyncio.run(go())


async def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Write ``request`` as is and read the first answer: (status, headers, body); with ``Connection: close``,
    also wait until the server closes (it has then drained, and logged, all it will)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 30)
        if b"\r\nConnection: close\r\n" in request:
            await asyncio.wait_for(reader.read(), 30)  # until the server has finished with the connection
        return int(lines[0].split()[1]), headers, body
    finally:
        writer.close()


def assert_refused_as_json(status: int, headers: dict[str, str], body: bytes, expected: int = 400) -> str:
    assert status == expected, body[:300]
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert set(answer) == {"error", "status"} and answer["status"] == expected
    return str(answer["error"])


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


def test_a_non_ascii_bearer_token_is_a_401_not_a_500(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(api: Served) -> list[tuple[int, dict[str, str], bytes]]:
        headers = [b"Bearer cor1.\xc3\xa9.\xc3\xa9", b"Bearer \xff\xfe\xfd", b"Bearer cor1.a.\xe9"]
        return [
            await raw(api.port, b"GET /v1/incidents HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\n\r\n")
            for value in headers
        ]

    for status, headers, answer in scenario(redis_url, tmp_path, body):
        assert "not a correlate token" in assert_refused_as_json(status, headers, answer, 401)
        assert headers["www-authenticate"] == 'Bearer realm="correlate"'
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 2000, "depth limit"),
        (b"{" * 100_000, "larger than 16384 bytes"),
        (b'{"customer_id": "\\ud800"}', "surrogate"),
        (b'{"customer_id": "\xff"}', "body must be JSON"),
        (b'{"customer_id": NaN}', "body must be JSON"),
        (b"\x00\x01", "body must be JSON"),
    ],
    ids=["deeply-nested", "oversize", "lone-surrogate", "invalid-utf8", "nan", "binary"],
)
def test_a_garbled_follow_up_body_is_a_4xx_with_a_reason(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, payload: bytes, reason: str
) -> None:
    async def body(api: Served) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": "Bearer " + api.token("agent"), "Content-Type": "application/json"}
            async with session.post(f"{api.url}/v1/incidents/inc-1/follow-ups", data=payload, headers=headers) as r:
                return r.status, await r.json()

    status, answer = scenario(redis_url, tmp_path, body)
    assert 400 <= status < 500 and answer["status"] == status
    assert reason in answer["error"]
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "longer than 65536"),
        (b"GET /v1/incidents?x=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "longer than 65536"),
        (
            b"POST /v1/incidents/i/follow-ups HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "malformed HTTP request",
        ),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, "not an HTTP request"),
        (b"GET /v1/customers/a\xedb/journey HTTP/1.1\r\nHost: x\r\n\r\n", "malformed HTTP request"),
    ],
    ids=["header-over-64k", "request-line-over-64k", "broken-chunk", "tls-on-http-port", "raw-byte-in-path"],
)
def test_what_aiohttp_cannot_parse_is_refused_as_json_without_a_traceback(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, request_bytes: bytes, reason: str
) -> None:
    async def body(api: Served) -> tuple[int, dict[str, str], bytes]:
        return await raw(api.port, request_bytes)

    status, headers, answer = scenario(redis_url, tmp_path, body)
    assert reason in assert_refused_as_json(status, headers, answer)
    assert len(answer) < 500  # the refusal does not echo the input back
    assert_no_traceback(caplog)


def test_bytes_past_a_bodys_length_are_refused_without_being_echoed(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Content-Length 10, then 70 kB that are no request: a JSON 400 that does not send the 70 kB back
    (aiohttp's own refusal did, as plain text). Whether the first request is answered before depends on how
    the bytes arrive, so it is not asserted."""

    async def body(api: Served) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
        request = b"POST /v1/incidents/i/follow-ups HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n" + b"a" * 70_000
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)  # the server closes after its refusal
        writer.close()
        return answer

    answer = scenario(redis_url, tmp_path, body)
    refusal = answer[answer.index(b"HTTP/1.0 400 ") :]
    assert b"application/json" in refusal and b'"status": 400}' in refusal
    assert b"aaaaaaaaaa" not in answer
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        (b"gzip", b"not gzip at all", "Content-Encoding cannot be decoded"),
        (b"br", b"xx", "Content-Encoding cannot be decoded"),
        (b"gzip", gzip.compress(b"{" + b" " * 5_000_000 + b"}"), "larger than 16384 bytes"),
    ],
    ids=["broken-gzip", "unsupported-encoding", "gzip-bomb"],
)
def test_a_body_that_does_not_decompress_is_a_4xx_without_a_traceback(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, encoding: bytes, body: bytes, reason: str
) -> None:
    """A broken gzip body was answered, then re-raised when aiohttp drained it: a traceback at ERROR."""

    async def go(api: Served) -> tuple[int, dict[str, str], bytes]:
        head = f"POST /v1/incidents/i/follow-ups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.token()}\r\n"
        length = f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        encoded = b"Content-Encoding: " + encoding + b"\r\n"
        return await raw(api.port, head.encode() + encoded + length.encode() + body)

    status, headers, answer = scenario(redis_url, tmp_path, go)
    assert 400 <= status < 500
    assert reason in assert_refused_as_json(status, headers, answer, status)
    assert_no_traceback(caplog)


def test_the_console_says_what_may_run_and_that_it_may_not_be_framed(redis_url: str, tmp_path: Path) -> None:
    async def body(api: Served) -> tuple[dict[str, str], str]:
        async with aiohttp.ClientSession() as session, session.get(f"{api.url}/console") as response:
            return dict(response.headers), await response.text()

    headers, page = scenario(redis_url, tmp_path, body)
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["script-src"].startswith("'sha256-") and "unsafe" not in headers["Content-Security-Policy"]
    assert policy["connect-src"] == "'self'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "style=" not in page  # inline style attributes would be blocked by the policy


def test_the_console_may_be_framed_by_the_origins_named_for_it(redis_url: str, tmp_path: Path) -> None:
    async def body(api: Served) -> dict[str, str]:
        async with aiohttp.ClientSession() as session, session.get(f"{api.url}/console") as response:
            return dict(response.headers)

    desk = ("https://desk.example", "http://127.0.0.1:9000")
    headers = scenario(redis_url, tmp_path, body, console_frame_ancestors=desk)
    assert "frame-ancestors https://desk.example http://127.0.0.1:9000" in headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in headers
    with pytest.raises(ValueError, match="not an origin"):
        scenario(redis_url, tmp_path, body, console_frame_ancestors=("https://desk.example; script-src *",))


def test_metrics_need_a_noc_token_when_the_api_listens_beyond_loopback(redis_url: str, tmp_path: Path) -> None:
    async def body(api: Served) -> list[int]:
        statuses = []
        async with aiohttp.ClientSession() as session:
            for role in (None, "agent", "noc"):
                headers = {"Authorization": "Bearer " + api.token(role)} if role else {}
                async with session.get(f"{api.url}/metrics", headers=headers) as response:
                    statuses.append(response.status)
        return statuses

    assert scenario(redis_url, tmp_path, body, metrics_need_token=True) == [401, 403, 200]
    assert scenario(redis_url, tmp_path, body) == [200, 200, 200]
