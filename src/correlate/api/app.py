"""The HTTP API for people: agents' banner and journeys, the NOC's incidents, vendors' own incidents.

aiohttp, because it already ships with Faust (no new dependency) and serves thousands of small requests a second
on one core; the handlers are thin: check the caller, check the input, ask the store, shape the answer. Every
refusal is JSON ``{"error": "<reason>", "status": <code>}`` so that a desktop integration can show the reason.

The routes and their shapes are published in ``openapi.yaml`` beside this file, served at
``/v1/openapi.yaml``; ``tests/test_api_fuzz.py`` holds the implementation to it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from importlib.resources import files
from typing import Any, Final

import orjson
from aiohttp import web
from redis.exceptions import RedisError

from correlate.actions import Action, Verb, action_record, permitted, validate_action
from correlate.api.access import Claims, KeyRing, Verifier
from correlate.api.banner import banner_text, facts_from_event
from correlate.api.console import Console
from correlate.api.known import MAX_QUERY_DIMENSIONS, KnownIncidents
from correlate.api.protocol import MAX_HEADER_BYTES, body_fault
from correlate.contracts import Rejection, parse_timestamp
from correlate.errors import AccessError, ApiError, InvalidRequest, Mismatch, NotFound, StateConflict, StoreError
from correlate.metrics import Metrics
from correlate.store import IncidentStore
from correlate.vendor_view import vendor_detail, vendor_summary

__all__ = ["ApiContext", "ago", "build_app", "store_status"]

log = logging.getLogger(__name__)

_DIMENSION = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
# Customer ids are the senders' (a salted hash may be base64): anything printable but '/', starting alnum.
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9][^/\x00-\x1f\x7f]{0,127}")
_MAX_TEXT: Final = 500
# Blank as the OpenAPI document's pattern '\S' means it (JSON Schema regexes are ECMA-262): Python's str.strip()
# also strips the ASCII separators \x1c-\x1f, which the document counts as text.
_ECMA_BLANK: Final = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*")


def _blank(text: str) -> bool:
    return _ECMA_BLANK.fullmatch(text) is not None


_MAX_BODY: Final = 16 * 1024
_HEALTH_TIMEOUT: Final = 2.0  # seconds the store has to answer a health check's PING
READERS: Final = frozenset({"agent", "noc", "vendor"})
PEOPLE: Final = frozenset({"agent", "noc"})
NOC: Final = frozenset({"noc"})


@dataclass(frozen=True)
class ApiContext:
    """What the handlers need; one per application, no module state."""

    store: IncidentStore
    keys: KeyRing
    metrics: Metrics
    clock: Callable[[], float]
    zone: tzinfo = UTC
    banner_max_age: float = 0.25  # how far behind the store a banner may be (seconds)
    # /metrics on the API's port carries vendors' names and incident counts: open to anyone who can reach a
    # loopback-only API, a NOC token's business once the API listens beyond it (scrape --metrics-port there).
    metrics_need_token: bool = False
    # Origins that may show the console in a frame (an agent desktop embedding the banner widget); none by
    # default, so that no other site can frame it and trick an agent into clicking.
    console_frame_ancestors: tuple[str, ...] = ()
    # Writes a person's action (an input record, correlate.actions) to the input topic, where the detect leader
    # takes it in with the contacts; None without a broker (actions are then refused with a 503).
    submit: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifier", Verifier(self.keys, self.clock))
        object.__setattr__(self, "known", KnownIncidents(self.store, self.banner_max_age))
        object.__setattr__(self, "console", Console.load(self.console_frame_ancestors))

    verifier: Verifier = field(init=False, repr=False, compare=False)
    known: KnownIncidents = field(init=False, repr=False, compare=False)
    console: Console = field(init=False, repr=False, compare=False)


CONTEXT: Final = web.AppKey("context", ApiContext)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# What the store refuses, as HTTP says it (the store itself does not speak HTTP).
_STORE_STATUSES: Final[tuple[tuple[type[StoreError], int], ...]] = (
    (InvalidRequest, 400),
    (NotFound, 404),
    (StateConflict, 409),
    (Mismatch, 422),
)


def store_status(error: StoreError) -> int:
    """The HTTP status for a store refusal: its kind's, else 400 (the request was refused, the store is fine)."""
    return next((status for kind, status in _STORE_STATUSES if isinstance(error, kind)), 400)


def build_app(context: ApiContext) -> web.Application:
    """The API's routes. Serve it with :class:`correlate.api.protocol.ApiRunner`, so that what aiohttp refuses
    before the handlers (a request line or header over 64 KiB, broken HTTP) is JSON as well."""
    # Request lines and headers up to 64 KiB reach the handlers, which refuse what is too long with a reason.
    app = web.Application(
        middlewares=[_errors],
        client_max_size=_MAX_BODY,
        handler_args={"max_line_size": MAX_HEADER_BYTES, "max_field_size": MAX_HEADER_BYTES},
    )
    app.on_response_prepare.append(_no_sniffing)
    app[CONTEXT] = context
    app.router.add_get("/v1/health", _health)
    app.router.add_get("/v1/openapi.yaml", _openapi)
    app.router.add_get("/console", _console)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/v1/known-incidents", _known_incidents)
    app.router.add_get("/v1/customers/{customer_id}/journey", _journey)
    app.router.add_get("/v1/incidents", _incidents)
    app.router.add_get("/v1/incidents/{incident_id}", _incident)
    app.router.add_post("/v1/incidents/{incident_id}/follow-ups", _attach)
    app.router.add_put("/v1/incidents/{incident_id}/owner", _assign)
    app.router.add_post("/v1/incidents/{incident_id}/escalations", _escalate)
    app.router.add_post("/v1/incidents/{incident_id}/actions", _act)
    app.router.add_post("/v1/maintenance", _maintenance)
    return app


async def _no_sniffing(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer is what its Content-Type says: a browser never reads a JSON error as a page."""
    response.headers["X-Content-Type-Options"] = "nosniff"


# -- errors ----------------------------------------------------------------------------------------------------
def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status, headers=headers)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        headers = {"WWW-Authenticate": 'Bearer realm="correlate"'} if error.status == 401 else {}
        return _error(error.status, str(error), **headers)
    except StoreError as error:
        return _error(store_status(error), str(error))
    except RedisError:
        log.warning("store unreachable during %s %a", request.method, request.path)
        return _error(503, "the incident store is not reachable; try again shortly", **{"Retry-After": "1"})
    except web.HTTPException as error:
        if error.status < 400:
            raise
        reason = {404: "no such route", 405: f"method {request.method} not allowed here"}.get(error.status)
        if error.status == 413:
            reason = f"request body larger than {_MAX_BODY} bytes"
        return _error(error.status, reason or error.reason, **{k: v for k, v in error.headers.items() if k == "Allow"})
    except Exception:  # crash guard: one request's bug is a 500 for it, not a dead API
        # Logged without the request's headers: they carry the bearer token.
        log.exception("unexpected error in %s %a", request.method, request.path)
        return _error(500, "internal error; the API log has the details")


# -- access ----------------------------------------------------------------------------------------------------
def _claims(request: web.Request, roles: frozenset[str]) -> Claims:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "send 'Authorization: Bearer <token>' (correlate token --role agent|noc|vendor)")
    try:
        claims = request.app[CONTEXT].verifier(token.strip())
    except AccessError as error:
        raise ApiError(401, str(error)) from None
    if claims.role not in roles:
        raise ApiError(403, f"a {claims.role} token may not do this (needs {' or '.join(sorted(roles))})")
    return claims


async def _visible(context: ApiContext, claims: Claims, incident_id: str) -> None:
    """A vendor asking for an incident that is not theirs gets the same 404 as for one that does not exist."""
    if claims.role == "vendor" and not await context.store.visible_to(incident_id, claims.vendor or ""):
        raise ApiError(404, f"incident {incident_id!r} not found")


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if name == "customer_id":
        if not _CUSTOMER_ID.fullmatch(value):
            raise ApiError(400, f"{name}: 1-128 printable characters but '/', starting with a letter or digit")
    elif not _ID.fullmatch(value):
        raise ApiError(400, f"{name}: 1-128 letters, digits and . _ : @ -, starting with a letter or digit")
    return value


# -- open routes -----------------------------------------------------------------------------------------------
async def _health(request: web.Request) -> web.Response:
    """Ok only when the store answers: a replica that cannot reach it serves nothing but 503s, and a load
    balancer or Kubernetes readiness probe should take it out of rotation."""
    try:
        await asyncio.wait_for(request.app[CONTEXT].store.redis.ping(), _HEALTH_TIMEOUT)
    except (RedisError, OSError, TimeoutError):
        return web.json_response({"status": "unavailable", "store": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "store": "ok"})


async def _openapi(request: web.Request) -> web.Response:
    text = (files("correlate.api") / "openapi.yaml").read_text(encoding="utf-8")
    return web.Response(text=text, content_type="application/yaml")


async def _console(request: web.Request) -> web.Response:
    console = request.app[CONTEXT].console
    return web.Response(text=console.page, content_type="text/html", headers=console.headers)


async def _metrics(request: web.Request) -> web.Response:
    if request.app[CONTEXT].metrics_need_token:
        _claims(request, NOC)
    body = request.app[CONTEXT].metrics.expose()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


# -- agents ----------------------------------------------------------------------------------------------------
async def _known_incidents(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    _claims(request, PEOPLE)
    dimensions = _dimensions(request, reserved=("customer_id",))
    customer_id = request.query.get("customer_id")
    if not dimensions and customer_id is not None:
        # The agent knows who is calling but not what they own: take it from their latest contact.
        journey = await context.store.journey(customer_id, limit=1)
        if not journey or not journey[0].get("dimensions"):
            raise ApiError(404, f"customer {customer_id!r} has no recent contact with dimensions; name them")
        dimensions = dict(journey[0]["dimensions"])
    if not dimensions:
        raise ApiError(400, "name at least one dimension, e.g. ?device_brand=Sonique&service=StreamPlus")
    unknown, known_names = await context.known.unknown_dimensions(dimensions)
    if unknown:
        raise ApiError(400, f"unknown dimension(s) {', '.join(unknown)}; known: {', '.join(known_names)}")
    now = context.clock()
    found = await context.known.find(dimensions, customer_id)
    incidents = []
    for known in found:
        event = known.event
        facts = facts_from_event(event, known.notified, known.on_follow_up)
        incidents.append(
            {
                "incident_id": event.incident_id,
                "kind": event.kind.value,
                "opened_at": event.opened_at,
                "scope": event.scope,
                "customers": facts.customers,
                "vendors": event.vendors.to_json(),
                "vendors_notified": list(facts.notified),
                "on_follow_up_list": known.on_follow_up,
                "banner": banner_text(facts, now, context.zone),
            }
        )
    return web.json_response({"incidents": incidents, "count": len(incidents), "dimensions": dimensions})


def _dimensions(request: web.Request, reserved: tuple[str, ...]) -> dict[str, str]:
    """Query parameters other than ``reserved`` are dimensions: each given once, non-blank, a dimension name."""
    dimensions: dict[str, str] = {}
    for name in request.query:
        values = request.query.getall(name)
        if len(values) != 1:
            raise ApiError(400, f"{name}: give it once, not {len(values)} times")
        value = values[0]
        if _blank(value) or len(value) > _MAX_TEXT:
            raise ApiError(400, f"{name}: must be 1-{_MAX_TEXT} characters, not blank")
        if name in reserved:
            continue
        if not _DIMENSION.fullmatch(name):
            raise ApiError(400, f"{name!r} is not a dimension name (lower-case letters, digits and _)")
        dimensions[name] = value
    if len(dimensions) > MAX_QUERY_DIMENSIONS:
        raise ApiError(400, f"at most {MAX_QUERY_DIMENSIONS} dimensions in one query")
    return dimensions


async def _journey(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    _claims(request, PEOPLE)
    customer_id = _path_id(request, "customer_id")
    now = context.clock()
    steps = await context.store.journey(customer_id)
    for step in steps:
        step["ago"] = ago(now - parse_timestamp(step["ts"]))
    return web.json_response({"customer_id": customer_id, "contacts": steps, "count": len(steps)})


def ago(seconds: float) -> str:
    """How long ago, as an agent would say it: "just now", "5 minutes ago", "2 hours ago", "3 days ago"."""
    if seconds < 60:
        return "just now" if seconds > -60 else "in the future"
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{'an' if count == 1 and unit == 'hour' else count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"  # pragma: no cover - the loop returns for any seconds >= 60


# -- incidents -------------------------------------------------------------------------------------------------
async def _incidents(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    claims = _claims(request, READERS)
    dimensions = _dimensions(request, reserved=("status", "limit"))
    status = request.query.get("status", "open")
    if status not in ("open", "resolved", "all"):
        raise ApiError(400, f"status: one of open, resolved, all; not {status!r}")
    limit_text = request.query.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise ApiError(400, f"limit: a whole number from 1 to 1000, not {limit_text!r}")
    ids = await context.store.incident_ids(status, claims.vendor, int(limit_text), dimensions)
    summaries = await context.store.summaries(ids)
    if claims.role == "vendor":
        summaries = [vendor_summary(summary) for summary in summaries]
    return web.json_response({"incidents": summaries, "count": len(summaries)})


async def _incident(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    claims = _claims(request, READERS)
    incident_id = _path_id(request, "incident_id")
    await _visible(context, claims, incident_id)
    detail = await context.store.detail(incident_id)
    if detail is None:
        raise ApiError(404, f"incident {incident_id!r} not found")
    if claims.role == "vendor":
        detail = vendor_detail(detail, claims.vendor or "")
    return web.json_response(detail)


async def _body(request: web.Request, allowed: Mapping[str, bool]) -> dict[str, str]:
    """A JSON object of short strings with only the ``allowed`` keys (True: required).

    orjson, not json: it refuses nesting deeper than 1024 (json recurses until RecursionError), invalid UTF-8
    and lone surrogates (which Redis could not store) as plain decoding errors.
    """
    try:
        raw = await request.read()
    except web.RequestPayloadError as error:  # a broken chunked or compressed body
        raise ApiError(400, f"body unreadable: {body_fault(error)}") from None
    try:
        data = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"body must be JSON ({error})") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"body must be a JSON object with {', '.join(allowed)}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
    out: dict[str, str] = {}
    for name, required in allowed.items():
        value = data.get(name)
        if value is None:
            if required:
                raise ApiError(400, f"{name}: required")
            continue
        if not isinstance(value, str) or _blank(value) or len(value) > _MAX_TEXT:
            raise ApiError(400, f"{name}: must be a non-blank string of at most {_MAX_TEXT} characters")
        out[name] = value
    return out


async def _attach(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    claims = _claims(request, PEOPLE)
    incident_id = _path_id(request, "incident_id")
    body = await _body(request, {"customer_id": False, "contact_id": False, "source": False})
    if not body:
        raise ApiError(400, "give customer_id, or contact_id and source")
    entry, added = await context.store.attach(
        incident_id, claims.who, body.get("customer_id"), body.get("contact_id"), body.get("source")
    )
    context.known.invalidate()
    return web.json_response({**entry, "added": added}, status=201 if added else 200)


async def _assign(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    claims = _claims(request, NOC)
    incident_id = _path_id(request, "incident_id")
    body = await _body(request, {"owner": True})
    await context.store.assign(incident_id, body["owner"], claims.who)
    return web.json_response({"incident_id": incident_id, "owner": body["owner"]})


async def _escalate(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    claims = _claims(request, NOC)
    incident_id = _path_id(request, "incident_id")
    body = await _body(request, {"to": True, "note": False})
    entry = await context.store.escalate(incident_id, body["to"], body.get("note", ""), claims.who)
    return web.json_response(entry, status=201)


# -- people's actions (correlate.actions) -----------------------------------------------------------------------
def _can_submit(context: ApiContext) -> Callable[[dict[str, Any]], Awaitable[None]]:
    if context.submit is None:
        # 409, not 503: this API was started without a broker, and retrying will not change that.
        raise ApiError(409, "no broker: actions reach the detector through the input topic; start the API with one")
    return context.submit


async def _submit(context: ApiContext, action: Action) -> dict[str, Any]:
    """Audit the action in the store and send it to the detector; it comes back as an incident event."""
    submit = _can_submit(context)
    record = action_record(action)
    await submit(record)
    await context.store.record_action(action.incident_id, {**record, "action_id": action.action_id})
    return {**record, "action_id": action.action_id, "status": "submitted"}


async def _act(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    claims = _claims(request, READERS)
    incident_id = _path_id(request, "incident_id")
    await _visible(context, claims, incident_id)
    body = await _body(request, {"action": True, "reason": False})
    names = [verb.value for verb in Verb if verb is not Verb.MAINTENANCE]
    if body["action"] not in names:
        raise ApiError(400, f"action: one of {', '.join(names)}; not {body['action']!r}")
    verb = Verb(body["action"])
    if not permitted(claims.role, verb):
        raise ApiError(403, f"a {claims.role} token may not {verb.value}")
    if verb is not Verb.ACKNOWLEDGE and "reason" not in body:
        raise ApiError(400, f"reason: required to {verb.value}")
    if await context.store.status(incident_id) != "open":
        raise ApiError(409, f"incident {incident_id!r} is not open")
    action = Action(verb, context.clock(), claims.who, claims.role, body.get("reason", ""), incident_id, claims.vendor)
    return web.json_response(await _submit(context, action), status=202)


async def _maintenance(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    claims = _claims(request, NOC)
    _can_submit(context)  # first: without a broker, nothing about the window matters
    try:
        data = orjson.loads(await request.read() or b"null")
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"body must be JSON ({error})") from None
    fields = ("scope", "starts_at", "ends_at", "reason")
    if not isinstance(data, dict) or set(data) - set(fields):
        raise ApiError(400, f"body must be a JSON object with {', '.join(fields)} only")
    record = {"type": "action", "action": "maintenance", "ts": context.clock(), "by": claims.who, "role": "noc"}
    checked = validate_action({**{k: data.get(k) for k in fields}, **record})
    if isinstance(checked, Rejection):
        raise ApiError(400, f"{checked.field}: {checked.reason}")
    return web.json_response(await _submit(context, checked), status=202)
