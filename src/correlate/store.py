"""The incident store in Redis: what people look at while an incident is open, and what it left behind.

It holds, for every incident, its current state (the latest event by event time) and its whole timeline; the
customers put on its follow-up list; its owner and escalations; the notifications sent to customers when it was
resolved; and the webhook deliveries to its vendors. Open incidents are indexed by their exact scope
(``scope:<signature>`` sets, for lookups by dimension values), and :meth:`IncidentStore.open_views` hands the
banner's in-process copy (:mod:`correlate.api.known`) the same signatures, with a change counter that tells
such copies when they are stale. It also keeps each customer's recent contacts (their
journey across channels).

Everything it learns from Kafka is applied idempotently: events arrive at least once, so applying an event
twice changes nothing (the timeline is a sorted set of the events themselves, and each apply is one
optimistic transaction that first checks whether the event is already there). Side effects of a *new* event —
webhook messages for vendors, customer notifications on resolve — are queued in the same transaction (an
outbox), so they happen once, and are sent by the senders in :mod:`correlate.notify`.

If the store is lost, :mod:`correlate.streams.feed` replays the ``incidents`` topic into an empty one (see
:meth:`IncidentStore.unbuilt`). What only people wrote here (owners, escalations, follow-up lists) is not on
any topic: run Redis append-only (as ``correlate up`` does) so it survives restarts.

Key layout (prefix ``correlate:``): ``incident:<id>`` (hash), ``incident:<id>:timeline`` (events by time),
``:followups``, ``:notifications``, ``:escalations``, ``:deliveries``, ``:notified``; ``incidents`` (all, by
opening time), ``open``, ``scope:<signature>`` (open ids by exact scope), ``vendor:<id>`` (ids a vendor may
see), ``journey:<customer>``, ``contact:["<source>","<contact id>"]`` (a contact id is unique only within
its source, as the contact contract says, so the source is part of the key), ``webhooks:due``,
``webhook:<vendor>|<msg>``, ``notifications:pending``, ``dimensions`` (every dimension name seen).

:meth:`IncidentStore.connect` makes a bounded pool: at most ``max_connections`` commands are in flight to Redis
at once and the rest wait (up to ``pool_timeout`` seconds) for a connection, so a burst of requests queues for
a few milliseconds instead of failing; only a store that stays busy or away that long is an error.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from correlate.contracts import Contact, format_time, parse_timestamp
from correlate.errors import InvalidRequest, Mismatch, NotFound, StateConflict
from correlate.events import RANK, EventName, FollowUpNotice, IncidentEvent, IncidentHeadline, Vendors
from correlate.notify.delivery import DeliveryTarget, message_id, webhook_body
from correlate.pool import MAX_CONNECTIONS, POOL_TIMEOUT
from correlate.stitch import pool_key

__all__ = ["IncidentStore", "OpenView", "notification_id", "scope_signature"]

JOURNEY_LENGTH: Final = 50
JOURNEY_TTL: Final = 8 * 86_400


def scope_signature(pairs: Iterable[tuple[str, str]]) -> str:
    """The index key of a scope: its (dimension, pooled value) pairs, sorted."""
    return json.dumps(sorted((name, pool_key(value)) for name, value in pairs), separators=(",", ":"))


def _canonical(event: Mapping[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _order(event: IncidentEvent) -> tuple[float, int]:
    return parse_timestamp(event.at), RANK[event.event]


def _parse(text: str) -> IncidentEvent:
    """An event as the store holds it (its canonical JSON)."""
    return IncidentEvent.from_json(json.loads(text))


def notification_id(incident_id: str, customer_id: str) -> str:
    """One notification per customer per incident: the id is the key that makes it exactly once."""
    return "ntf_" + hashlib.sha256(f"{incident_id}|{customer_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class OpenView:
    """An open incident as the banner sees it: its scope signature, banner view, vendors told, follow-ups."""

    sig: str
    event: IncidentHeadline
    notified: list[str]
    followups: frozenset[str]


class IncidentStore:
    """Incidents, follow-ups, journeys and outboxes in one Redis database.

    ``clock`` is wall time (epoch seconds) for what people do (attach, assign) and for when a webhook is due;
    incident state itself is ordered by the events' own event time.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        targets: Mapping[str, DeliveryTarget] | None = None,
        clock: Callable[[], float] | None = None,
        prefix: str = "correlate:",
    ) -> None:
        import time

        # redis-py's async methods are typed as unions of results and awaitables over bytes and str; the
        # client is made with decode_responses=True (see connect()), so every reply here is text.
        self.redis: Any = redis
        self.targets = dict(targets or {})
        self.clock = clock or time.time
        self.prefix = prefix

    @classmethod
    def connect(
        cls, url: str, max_connections: int = MAX_CONNECTIONS, pool_timeout: float = POOL_TIMEOUT, **options: Any
    ) -> IncidentStore:
        """A store on the Redis at ``url`` (``redis://127.0.0.1:6379/0``); replies decoded as text.

        The pool blocks: redis-py's default pool refuses a command at once when all its connections are busy,
        which turned any burst of more concurrent requests than connections into errors. Here a command waits
        up to ``pool_timeout`` seconds for one of ``max_connections`` connections (then ``ConnectionError``).
        """
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=max_connections, timeout=pool_timeout
        )
        return cls(aioredis.Redis.from_pool(pool), **options)

    async def close(self) -> None:
        await self.redis.aclose()

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- rebuild markers -----------------------------------------------------------------------------------
    async def unbuilt(self, partitions: Sequence[str]) -> list[str]:
        """The topic partitions (``topic/partition``) this store holds nothing of: new, or the store was lost.

        The feed replays those from the beginning. Marked per partition so that several API processes sharing
        a store each rebuild the partitions they were given, and none relies on another having done it.
        """
        if not partitions:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for name in partitions:
            pipe.exists(self.key("built", name))
        found = await pipe.execute()
        return [name for name, exists in zip(partitions, found, strict=True) if not exists]

    async def mark_built(self, partitions: Iterable[str]) -> None:
        for name in partitions:
            await self.redis.set(self.key("built", name), "1")

    # -- incident events -----------------------------------------------------------------------------------
    async def apply(self, event: IncidentEvent) -> bool:
        """Apply one incident event; True if it was new, False if it was already applied (a no-op)."""
        incident_id = event.incident_id
        member = _canonical(event.to_json())
        at = parse_timestamp(event.at)
        head, timeline = self.key("incident", incident_id), self.key("incident", incident_id, "timeline")
        followups = self.key("incident", incident_id, "followups")
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(head, timeline, followups)
                    if await pipe.zscore(timeline, member) is not None:
                        return False
                    current_text, old_sig = await pipe.hmget(head, ["current", "sig"])
                    current = _parse(current_text) if current_text else None
                    told = event.event is EventName.RESOLVED  # a dismissed incident was no fault to be fixed
                    customers = await pipe.hgetall(followups) if told else {}
                    pipe.multi()
                    self._queue_apply(pipe, event, member, at, current, old_sig, customers)
                    await pipe.execute()
                    return True
                except WatchError:
                    continue

    def _queue_apply(
        self,
        pipe: Any,
        event: IncidentEvent,
        member: str,
        at: float,
        current: IncidentEvent | None,
        old_sig: str | None,
        customers: Mapping[str, str],
    ) -> None:
        incident_id = event.incident_id
        head = self.key("incident", incident_id)
        pipe.zadd(self.key("incident", incident_id, "timeline"), {member: at})
        pipe.zadd(self.key("incidents"), {incident_id: parse_timestamp(event.opened_at)})
        for vendor in event.vendors.involved():
            pipe.sadd(self.key("vendor", vendor), incident_id)
        if event.scope:
            pipe.sadd(self.key("dimensions"), *event.scope)
        if current is None or _order(event) >= _order(current):
            sig = scope_signature(event.scope.items())
            pipe.hset(
                head, mapping={"current": member, "banner": _banner_view(event), "sig": sig, "status": _status(event)}
            )
            if old_sig is not None:
                pipe.srem(self.key("scope", old_sig), incident_id)
            if event.resolved:
                pipe.srem(self.key("open"), incident_id)
            else:
                pipe.sadd(self.key("open"), incident_id)
                pipe.sadd(self.key("scope", sig), incident_id)
        self._queue_webhooks(pipe, event)
        if customers:
            self._queue_notifications(pipe, event, customers)
        self._bump(pipe)

    def _queue_webhooks(self, pipe: Any, event: IncidentEvent) -> None:
        if event.suppressed is not None:
            return  # recorded, not sent: a maintenance window or a dismissed scope holds it
        incident_id = event.incident_id
        msg = message_id(incident_id, event.event.value, event.at)
        for vendor in event.vendors.involved():
            target = self.targets.get(vendor)
            if target is None or target.webhook is None:
                continue
            body = webhook_body(event, target).decode()  # in the vendor's format
            ref = f"{vendor}|{msg}"
            pipe.hsetnx(self.key("webhook", ref), "body", body)
            pipe.hsetnx(self.key("webhook", ref), "incident_id", incident_id)
            pipe.zadd(self.key("webhooks", "due"), {ref: self.clock()}, nx=True)
            status = {
                "vendor": vendor,
                "webhook_id": msg,
                "event": event.event.value,
                "status": "pending",
                "attempts": 0,
            }
            pipe.hsetnx(self.key("incident", incident_id, "deliveries"), ref, json.dumps(status))

    def _queue_notifications(self, pipe: Any, event: IncidentEvent, customers: Mapping[str, str]) -> None:
        incident_id = event.incident_id
        for customer_raw, attached_raw in customers.items():
            customer = customer_raw
            attached = json.loads(attached_raw)
            ntf = notification_id(incident_id, customer)
            notice: FollowUpNotice = {
                "event": "customer-notification",
                "notification_id": ntf,
                "incident_id": incident_id,
                "customer_id": customer,
                "contact_id": attached.get("contact_id"),
                "source": attached.get("source"),
                "at": event.at,
                "scope": event.scope,
                "message": "The fault you contacted us about has been fixed. Thank you for your patience.",
            }
            text = _canonical(notice)
            pipe.hsetnx(self.key("incident", incident_id, "notifications"), customer, text)
            pipe.hsetnx(self.key("notifications", "pending"), ntf, text)

    def _bump(self, pipe: Any) -> None:
        """Count a change the banner can show, so that copies of the open incidents know they are stale. The
        epoch is new whenever the store is (a rebuilt store counting up again is not mistaken for the old one)."""
        pipe.set(self.key("epoch"), secrets.token_hex(8), nx=True)
        pipe.incr(self.key("version"))

    async def version(self) -> tuple[str, int]:
        """(epoch, changes so far): equal answers mean nothing the banner shows has changed in between."""
        epoch, count = await self.redis.mget([self.key("epoch"), self.key("version")])
        return epoch or "", int(count or 0)

    async def open_views(self) -> list[OpenView]:
        """Every open incident as the banner needs it, in two round trips (for an in-process copy)."""
        ids = sorted(await self.redis.smembers(self.key("open")))
        pipe = self.redis.pipeline(transaction=False)
        for incident_id in ids:
            base = self.key("incident", incident_id)
            pipe.hmget(base, ["banner", "sig"])
            pipe.smembers(base + ":notified")
            pipe.hkeys(base + ":followups")
        replies = await pipe.execute()
        views = []
        for index in range(len(ids)):
            (banner, sig), delivered, followups = replies[3 * index : 3 * index + 3]
            if banner is None or sig is None:
                continue
            event = IncidentHeadline.from_json(json.loads(banner))
            if not event.resolved:
                views.append(OpenView(sig, event, self._notified(event.vendors, delivered), frozenset(followups)))
        return views

    # -- contacts and journeys -----------------------------------------------------------------------------
    async def add_contact(self, contact: Contact) -> None:
        """Remember an accepted contact in its customer's journey (idempotent: the same contact, same entry)."""
        step = {
            "contact_id": contact.contact_id,
            "ts": format_time(contact.ts),
            "channel": contact.channel,
            "source": contact.source,
            "customer_id": contact.customer_id,
            "category": contact.category,
            "text": contact.text,
            "dimensions": dict(contact.dimensions),
        }
        journey = self.key("journey", contact.customer_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(journey, {_canonical(step): contact.ts})
        pipe.zremrangebyrank(journey, 0, -JOURNEY_LENGTH - 1)
        pipe.expire(journey, JOURNEY_TTL)
        pipe.set(self._contact_key(contact.source, contact.contact_id), _canonical(step), ex=JOURNEY_TTL)
        if contact.dimensions:
            pipe.sadd(self.key("dimensions"), *contact.dimensions)
        await pipe.execute()

    def _contact_key(self, source: str, contact_id: str) -> str:
        """A contact by its identity, (source, contact id): a JSON pair, so no source and id run together."""
        return self.key("contact", json.dumps([source, contact_id], separators=(",", ":"), ensure_ascii=False))

    async def dimension_names(self) -> set[str]:
        """Every dimension name seen in a contact or an incident's scope (what a banner query may name)."""
        return set(await self.redis.smembers(self.key("dimensions")))

    async def journey(self, customer_id: str, limit: int = JOURNEY_LENGTH) -> list[dict[str, Any]]:
        """The customer's recent contacts on every channel, newest first."""
        raw = await self.redis.zrevrange(self.key("journey", customer_id), 0, limit - 1)
        return [json.loads(item) for item in raw]

    # -- reading -------------------------------------------------------------------------------------------
    def _notified(self, vendors: Vendors, delivered: Iterable[str]) -> list[str]:
        """Vendors told about the incident: a webhook delivered, or their topic (on unless configured off)."""
        told = {vendor for vendor in delivered}
        for vendor in vendors.involved():
            target = self.targets.get(vendor)
            if target is None or target.topic:
                told.add(vendor)
        return sorted(told)

    async def incident_ids(
        self,
        status: str = "all",
        vendor: str | None = None,
        limit: int = 100,
        dimensions: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Incident ids, newest opened first; ``vendor`` keeps only those it may see; ``dimensions`` only those
        whose every scope dimension equals the given value: open ones from the ``scope:`` index (one SUNION over
        the signatures of every subset of the given pairs), resolved ones by their last scope's signature."""
        ids = [member for member in await self.redis.zrevrange(self.key("incidents"), 0, -1)]
        if vendor is not None:
            visible = {member for member in await self.redis.smembers(self.key("vendor", vendor))}
            ids = [incident_id for incident_id in ids if incident_id in visible]
        opened = {member for member in await self.redis.smembers(self.key("open"))}
        if status != "all":
            ids = [incident_id for incident_id in ids if (incident_id in opened) == (status == "open")]
        if dimensions:
            pairs = sorted(dimensions.items())
            signatures = [
                scope_signature(subset) for size in range(len(pairs) + 1) for subset in combinations(pairs, size)
            ]
            matching = set(await self.redis.sunion([self.key("scope", sig) for sig in signatures]))
            closed = [incident_id for incident_id in ids if incident_id not in opened]
            if closed:  # resolved incidents left the index: compare their last scope's signature
                pipe = self.redis.pipeline(transaction=False)
                for incident_id in closed:
                    pipe.hget(self.key("incident", incident_id), "sig")
                wanted = set(signatures)
                matching |= {i for i, sig in zip(closed, await pipe.execute(), strict=True) if sig in wanted}
            ids = [incident_id for incident_id in ids if incident_id in matching]
        return ids[:limit]

    async def summaries(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        pipe = self.redis.pipeline(transaction=False)
        for incident_id in ids:
            pipe.hmget(self.key("incident", incident_id), ["current", "owner"])
            pipe.hlen(self.key("incident", incident_id, "followups"))
        results = await pipe.execute()
        out = []
        for index in range(len(ids)):
            current, owner = results[2 * index]
            if current is None:
                continue
            out.append(_summary(_parse(current), owner if owner else None, results[2 * index + 1]))
        return out

    async def visible_to(self, incident_id: str, vendor: str) -> bool:
        return bool(await self.redis.sismember(self.key("vendor", vendor), incident_id))

    async def detail(self, incident_id: str) -> dict[str, Any] | None:
        """Everything about one incident: state, evidence timeline, people, notifications, deliveries."""
        base = self.key("incident", incident_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(base, ["current", "owner", "assigned"])
        pipe.zrange(base + ":timeline", 0, -1)
        pipe.hvals(base + ":followups")
        pipe.hvals(base + ":notifications")
        pipe.lrange(base + ":escalations", 0, -1)
        pipe.hvals(base + ":deliveries")
        pipe.smembers(base + ":notified")
        pipe.lrange(base + ":actions", 0, -1)
        (
            (current, owner, assigned),
            timeline,
            followups,
            notices,
            escalations,
            deliveries,
            delivered,
            actions,
        ) = await pipe.execute()
        if current is None:
            return None
        event = _parse(current)
        events = sorted((_parse(item) for item in timeline), key=_order)
        detail = _summary(event, owner if owner else None, len(followups))
        detail.update(
            {
                "timeline": [_timeline_entry(item) for item in events],
                "evidence": event.evidence.to_json(),
                "confidence": event.confidence,
                "summary": event.summary,
                "follow_ups": sorted(
                    (json.loads(item) for item in followups), key=lambda f: (f["attached_at"], f["customer_id"])
                ),
                "notifications": sorted((json.loads(item) for item in notices), key=lambda n: n["customer_id"]),
                "escalations": [json.loads(item) for item in escalations],
                "deliveries": sorted((json.loads(item) for item in deliveries), key=lambda d: d["webhook_id"]),
                "vendors_notified": self._notified(event.vendors, delivered),
                "owner_assigned": json.loads(assigned) if assigned else None,
                "actions": [json.loads(item) for item in actions],
            }
        )
        return detail

    # -- what people do ------------------------------------------------------------------------------------
    async def attach(
        self,
        incident_id: str,
        by: str,
        customer_id: str | None = None,
        contact_id: str | None = None,
        source: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Put a customer (or the customer of a contact) on the follow-up list; (entry, newly added).

        A contact is named by its ``source`` and ``contact_id`` together: a contact id is unique only within its
        source, so an id alone could name another source's customer. Attaching twice keeps the first entry. A
        resolved incident takes no one: its notifications are out.
        """
        if (contact_id is None) != (source is None):
            raise InvalidRequest(
                "name a contact by contact_id and source together (a contact id is unique only within its source)"
            )
        if contact_id is not None and source is not None:
            raw = await self.redis.get(self._contact_key(source, contact_id))
            if raw is None:
                raise NotFound(f"contact {contact_id!r} from {source!r} is not known (no accepted contact)")
            known = json.loads(raw)["customer_id"]
            if customer_id is not None and customer_id != known:
                raise Mismatch(f"contact {contact_id!r} belongs to another customer than {customer_id!r}")
            customer_id = known
        if customer_id is None:
            raise InvalidRequest("give customer_id, or contact_id and source")
        head, followups = self.key("incident", incident_id), self.key("incident", incident_id, "followups")
        entry = {"customer_id": customer_id, "contact_id": contact_id, "source": source, "attached_by": by}
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(head, followups)
                    status = await pipe.hget(head, "status")
                    if status is None:
                        raise NotFound(f"incident {incident_id!r} not found")
                    if status == "resolved":
                        raise StateConflict(f"incident {incident_id!r} is resolved; its customers were notified")
                    existing = await pipe.hget(followups, customer_id)
                    if existing is not None:
                        return json.loads(existing), False
                    entry["attached_at"] = format_time(self.clock())
                    pipe.multi()
                    pipe.hset(followups, customer_id, _canonical(entry))
                    self._bump(pipe)
                    await pipe.execute()
                    return entry, True
                except WatchError:
                    continue

    async def status(self, incident_id: str) -> str | None:
        """``open``, ``resolved`` (or dismissed), or None for an incident the store does not know."""
        status = await self.redis.hget(self.key("incident", incident_id), "status")
        return str(status) if status is not None else None

    async def record_action(self, incident_id: str | None, entry: Mapping[str, Any]) -> None:
        """Keep a person's action as submitted (the audit trail beside the events it becomes): on the incident,
        or on ``maintenance`` for a maintenance window."""
        key = self.key("incident", incident_id, "actions") if incident_id else self.key("maintenance")
        await self.redis.rpush(key, _canonical(entry))

    async def maintenance(self) -> list[dict[str, Any]]:
        return [json.loads(item) for item in await self.redis.lrange(self.key("maintenance"), 0, -1)]

    async def assign(self, incident_id: str, owner: str, by: str) -> None:
        """Make ``owner`` the incident's owner; who assigned it, and when, is kept beside it."""
        if not await self.redis.exists(self.key("incident", incident_id)):
            raise NotFound(f"incident {incident_id!r} not found")
        assigned = _canonical({"by": by, "at": format_time(self.clock())})
        await self.redis.hset(self.key("incident", incident_id), mapping={"owner": owner, "assigned": assigned})

    async def escalate(self, incident_id: str, to: str, note: str, by: str) -> dict[str, Any]:
        """Record an escalation; whoever it goes to reports back to the incident's owner."""
        owner = await self.redis.hget(self.key("incident", incident_id), "owner")
        if not await self.redis.exists(self.key("incident", incident_id)):
            raise NotFound(f"incident {incident_id!r} not found")
        if owner is None:
            raise StateConflict(f"incident {incident_id!r} has no owner to report back to; assign one first")
        entry = {"to": to, "note": note, "by": by, "report_back_to": owner, "at": format_time(self.clock())}
        await self.redis.rpush(self.key("incident", incident_id, "escalations"), _canonical(entry))
        return entry

    # -- outboxes ------------------------------------------------------------------------------------------
    async def due_webhooks(self, now: float, limit: int = 50) -> list[str]:
        return [ref for ref in await self.redis.zrangebyscore(self.key("webhooks", "due"), 0, now, 0, limit)]

    async def webhook_message(self, ref: str) -> tuple[str, str, int] | None:
        """(incident id, body, attempts so far) of a queued webhook message."""
        body, incident_id, attempts = await self.redis.hmget(
            self.key("webhook", ref), ["body", "incident_id", "attempts"]
        )
        if body is None or incident_id is None:
            return None
        return incident_id, body, int(attempts or 0)

    async def webhook_outcome(self, ref: str, incident_id: str, delivered: bool, retry_at: float | None) -> None:
        """Record one attempt: delivered (leaves the queue), to retry at ``retry_at``, or parked as failed
        (``retry_at`` None: kept in the incident's deliveries and ``webhooks:failed``, never dropped)."""
        vendor, msg = ref.split("|", 1)
        attempts = int(await self.redis.hincrby(self.key("webhook", ref), "attempts", 1))
        status = "delivered" if delivered else ("retrying" if retry_at is not None else "failed")
        record = {"vendor": vendor, "webhook_id": msg, "status": status, "attempts": attempts}
        previous = await self.redis.hget(self.key("incident", incident_id, "deliveries"), ref)
        if previous is not None:
            record = {**json.loads(previous), **record}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key("incident", incident_id, "deliveries"), ref, json.dumps(record))
        if delivered:
            pipe.zrem(self.key("webhooks", "due"), ref)
            pipe.sadd(self.key("incident", incident_id, "notified"), vendor)
            self._bump(pipe)
        elif retry_at is not None:
            pipe.zadd(self.key("webhooks", "due"), {ref: retry_at})
        else:
            pipe.zrem(self.key("webhooks", "due"), ref)
            pipe.sadd(self.key("webhooks", "failed"), ref)
        await pipe.execute()

    async def pending_notifications(self) -> dict[str, str]:
        raw = await self.redis.hgetall(self.key("notifications", "pending"))
        return {key: value for key, value in raw.items()}

    async def notifications_sent(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            await self.redis.hdel(self.key("notifications", "pending"), *ids)

    async def get_offset(self, name: str) -> int | None:
        value = await self.redis.hget(self.key("offsets"), name)
        return int(value) if value is not None else None

    async def set_offset(self, name: str, offset: int) -> None:
        await self.redis.hset(self.key("offsets"), name, offset)


def _banner_view(event: IncidentEvent) -> str:
    """The part of the current event the banner needs: a tenth of the event's size, parsed on every lookup."""
    return _canonical(event.headline().to_json())


def _status(event: IncidentEvent) -> str:
    return "resolved" if event.resolved else "open"


def _summary(event: IncidentEvent, owner: str | None, follow_ups: int) -> dict[str, Any]:
    return {
        "incident_id": event.incident_id,
        "kind": event.kind.value,
        "status": _status(event),
        "opened_at": event.opened_at,
        "last_event_at": event.at,
        "resolved_at": event.at if event.resolved else None,
        "scope": event.scope,
        "vendors": event.vendors.to_json(),
        "customers": event.evidence.customers,
        "owner": owner,
        "follow_up_count": follow_ups,
        "number": event.number,
        "severity": event.severity.value if event.severity is not None else None,
        "acknowledged": event.acknowledged.to_json() if event.acknowledged is not None else None,
        "suppressed": event.suppressed.to_json() if event.suppressed is not None else None,
    }


def _timeline_entry(event: IncidentEvent) -> dict[str, Any]:
    evidence = event.evidence
    return {
        "event": event.event.value,
        "at": event.at,
        "scope": event.scope,
        "customers": evidence.customers,
        "contacts": evidence.contacts,
        "observed": evidence.observed,
        "expected": evidence.expected,
        "confidence": event.confidence,
        "summary": event.summary,
        "action": event.action.to_json() if event.action is not None else None,
    }
