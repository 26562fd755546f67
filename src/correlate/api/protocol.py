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
from typing import Final

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong

__all__ = ["MAX_HEADER_BYTES", "ApiRunner"]

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
    message = error.message if isinstance(error, HttpProcessingError) else ""
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else "unreadable"
    return "malformed HTTP request: " + first_line[:_MAX_REASON]


class _JsonRefusals(web.RequestHandler):
    """aiohttp's connection handler, with its 4xx refusals answered as the API answers them."""

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
