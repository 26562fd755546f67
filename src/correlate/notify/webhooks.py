"""The webhook sender: drains the store's outbox of signed vendor webhooks, retrying with backoff.

Messages were queued by the store in the same transaction that applied their incident event, so nothing is
sent that was not recorded and nothing recorded is forgotten: a vendor's outage only delays its messages
(exponential backoff, capped), and after ``max_attempts`` a message is parked as failed in the store, visible in
the incident's deliveries, never dropped silently. A message is resent with the same ``webhook-id``, so a vendor
that got it but whose answer was lost can recognise the repeat.

The decision "what to do after this attempt" is a pure function (:func:`next_step`), tested as a table; the
loop around it is I/O only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp

from correlate.lease import Lease
from correlate.metrics import Metrics
from correlate.notify.delivery import DeliveryTarget, retry_delay, webhook_headers
from correlate.store import IncidentStore

__all__ = ["Step", "WebhookSender", "next_step"]

log = logging.getLogger(__name__)

TIMEOUT: Final = aiohttp.ClientTimeout(total=10)


@dataclass(frozen=True)
class Step:
    """After an attempt: ``outcome`` (the metric label), and when to try again (None: not again)."""

    outcome: str
    retry_at: float | None
    reason: str


def next_step(target: DeliveryTarget, status: int | None, attempts: int, now: float) -> Step:
    """What follows an attempt that got HTTP ``status`` (None: no answer), the ``attempts``-th one.

    2xx is delivered. Anything else is retried — including 4xx, because a vendor's misconfigured endpoint is
    fixed by the vendor, and the message must still be there when it is — until ``max_attempts``.
    """
    if status is not None and 200 <= status < 300:
        return Step("delivered", None, f"HTTP {status}")
    reason = f"HTTP {status}" if status is not None else "no answer"
    if attempts >= target.max_attempts:
        return Step("failed", None, f"{reason}; gave up after {attempts} attempts")
    return Step("retried", now + retry_delay(target, attempts), reason)


class WebhookSender:
    """Sends due webhook messages; :meth:`send_due` once, :meth:`run` until stopped."""

    def __init__(
        self,
        store: IncidentStore,
        targets: Mapping[str, DeliveryTarget],
        metrics: Metrics,
        clock: Callable[[], float],
        poll: float = 0.5,
    ) -> None:
        self.store = store
        self.targets = dict(targets)
        self.metrics = metrics
        self.clock = clock
        self.poll = poll
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Send due messages while this process holds the senders' lease: API replicas share one outbox, and
        two senders would post every message twice."""
        lease = Lease(self.store.redis, self.store.key("lease", "webhooks"))
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            try:
                while not self._stopping.is_set():
                    sent = await self.send_due(session) if await lease.hold() else 0
                    if not sent:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._stopping.wait(), self.poll)
            finally:
                await lease.release()

    async def send_due(self, session: aiohttp.ClientSession) -> int:
        """Attempt every message due now; the number attempted.

        Vendors are served side by side, each vendor's messages one after the other: a vendor whose endpoint
        hangs until the timeout delays only its own messages.
        """
        refs = await self.store.due_webhooks(self.clock())
        by_vendor: dict[str, list[str]] = {}
        for ref in refs:
            by_vendor.setdefault(ref.split("|", 1)[0], []).append(ref)

        async def vendor_queue(queue: list[str]) -> None:
            for ref in queue:
                await self._attempt(session, ref)

        await asyncio.gather(*(vendor_queue(queue) for queue in by_vendor.values()))
        return len(refs)

    async def _attempt(self, session: aiohttp.ClientSession, ref: str) -> None:
        vendor, msg_id = ref.split("|", 1)
        target = self.targets.get(vendor)
        message = await self.store.webhook_message(ref)
        if target is None or target.webhook is None or message is None:
            log.warning("webhook %s for %s has no target any more: parked as failed", msg_id, vendor)
            if message is not None:
                await self.store.webhook_outcome(ref, message[0], delivered=False, retry_at=None)
            return
        incident_id, body, attempts = message
        now = self.clock()
        data = body.encode()
        headers = webhook_headers(target.secret, msg_id, int(now), data)
        status: int | None
        try:
            async with session.post(target.webhook, data=data, headers=headers) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            status = None
            log.info("webhook %s to %s: %s", msg_id, vendor, type(error).__name__)
        step = next_step(target, status, attempts + 1, now)
        await self.store.webhook_outcome(ref, incident_id, step.outcome == "delivered", step.retry_at)
        self.metrics.observe_webhook(vendor, step.outcome)
        if step.outcome != "delivered":
            log.info("webhook %s to %s not delivered (%s)", msg_id, vendor, step.reason)
