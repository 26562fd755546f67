"""Requests refused before they reach the API's handlers answer in the API's own shape, and log no traceback.

aiohttp refuses what it cannot parse as HTTP (a request line or header over the size limit, too many headers,
a broken chunk, bytes after a body that are not a request) in its connection handler, before any middleware:
as plain text that may echo kilobytes of the input back, after logging a traceback at ERROR. That is a
client's mistake, so here it is a JSON ``{"error": ..., "status": 400}`` and one INFO line.

aiohttp has no setting for the connection handler's class: :class:`ApiRunner` gives the server it makes this
one. ``tests/test_api_hostile.py`` sends such requests on raw sockets, so an aiohttp that changes this
machinery fails there, not in production.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, ContentEncodingError, HttpProcessingError, LineTooLong

__all__ = ["MAX_HEADER_BYTES", "ApiRunner", "body_fault", "refusal_reason"]

log = logging.getLogger(__name__)

# The longest request line or header field parsed; longer ones are refused (400) by the parser.
MAX_HEADER_BYTES: Final = 65_536
_MAX_REASON: Final = 200


def refusal_reason(error: BaseException | None) -> str:
    """What was wrong, in a sentence that never carries more than a few dozen bytes of the input."""
    if isinstance(error, LineTooLong):
        return f"request line or header longer than {MAX_HEADER_BYTES} bytes"
    if isinstance(error, BadHttpMethod):
        return "not an HTTP request: the request line starts with no known method"
    if isinstance(error, ContentEncodingError):
        return "the body's Content-Encoding cannot be decoded (gzip and deflate are understood)"
    message = error.message if isinstance(error, HttpProcessingError) else ""
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else "unreadable"
    return "malformed HTTP request: " + first_line[:_MAX_REASON]


def _clients_fault(error: BaseException) -> HttpProcessingError | web.RequestPayloadError | None:
    """The unparseable input behind ``error`` (itself, or what caused it), if that is what it was."""
    seen: BaseException | None = error
    for _ in range(8):  # a chain of causes is short; this only bounds a cycle
        if seen is None:
            return None
        if isinstance(seen, HttpProcessingError | web.RequestPayloadError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def body_fault(error: web.RequestPayloadError) -> str:
    """Why a body could not be read, in a sentence (aiohttp's own text spans lines and names its internals)."""
    cause = _clients_fault(error.__cause__) if error.__cause__ is not None else None
    if isinstance(cause, HttpProcessingError):
        return refusal_reason(cause).removeprefix("malformed HTTP request: ")
    return "it broke off or its chunked encoding is broken"


class _JsonRefusals(web.RequestHandler):
    """aiohttp's connection handler, with its 4xx refusals answered as the API answers them."""

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A body that breaks off or does not decode is re-raised when aiohttp drains it after the handler
        has answered 400: that is the client's doing, worth a line, not a traceback."""
        error = kw.get("exc_info")
        cause = _clients_fault(error) if isinstance(error, BaseException) else None
        if cause is None:
            super().log_exception(*args, **kw)
            return
        reason = refusal_reason(cause) if isinstance(cause, HttpProcessingError) else body_fault(cause)
        log.info("dropped the rest of a request body: %s", reason)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        reason = refusal_reason(exc)
        log.info("refused a request from %s: %s", request.remote, reason)
        body = json.dumps({"error": reason, "status": status})
        response = web.Response(status=status, text=body, content_type="application/json")
        response.force_close()
        return response


class _ApiServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _JsonRefusals(self, loop=self._loop, **self._kwargs)


class ApiRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose connections refuse malformed HTTP as JSON (see the module)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _ApiServer  # no state of its own: only which handler class a connection gets
        return server
