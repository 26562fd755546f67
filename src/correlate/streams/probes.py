"""Whether a worker is alive and whether it is ready: the answers behind ``/livez`` and ``/readyz``.

A process that answers HTTP is not yet a working worker: its HTTP server runs in a thread of its own, so it
answers while the event loop that does the work is blocked (a synchronous call that never returns, a CPU-bound
loop), and while the broker or the store is gone. So the loop itself says it is turning: a heartbeat task stamps
the time every :data:`BEAT_EVERY` seconds, and the loop is *alive* while the stamp is younger than
``stale_after``. The loop also checks, every :data:`CHECK_EVERY` seconds and within :data:`CHECK_TIMEOUT`, that
the store answers a PING and the broker a metadata request (with the process's SASL/TLS settings); the worker
is *ready* when it is alive and both answered at the last check. The HTTP thread only reads what the loop wrote:
a probe never waits on the loop it judges.

Kubernetes restarts a container that is not alive and sends no traffic to (and a rollout waits for) one that is
not ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from correlate.streams import kafka_io
from correlate.streams.poison import describe_error

__all__ = [
    "BEAT_EVERY",
    "CHECK_EVERY",
    "CHECK_TIMEOUT",
    "BrokerCheck",
    "ProbeState",
    "Prober",
    "liveness",
    "readiness",
]

logger = logging.getLogger(__name__)
BEAT_EVERY = 1.0  # seconds between two heartbeats of the loop
CHECK_EVERY = 2.0  # seconds between two checks of the store and the broker
CHECK_TIMEOUT = 2.0  # seconds the store or the broker has to answer one check
NOT_CHECKED = "not checked yet"


@dataclass
class ProbeState:
    """What the loop last found, read by the probe handlers. ``beat`` is on ``clock`` (monotonic); None until
    the loop first came round. An error is None when the last check passed."""

    stale_after: float
    clock: Callable[[], float] = time.monotonic
    beat: float | None = None
    store_error: str | None = NOT_CHECKED
    broker_error: str | None = NOT_CHECKED

    def answer_live(self) -> tuple[bool, dict[str, str]]:
        """(alive, the JSON body of ``/livez``)."""
        stalled = liveness(self.beat, self.clock(), self.stale_after)
        return stalled is None, {"status": "ok" if stalled is None else "unavailable", "loop": stalled or "ok"}

    def answer_ready(self) -> tuple[bool, dict[str, str]]:
        """(ready, the JSON body of ``/readyz``: each part's verdict, ``ok`` or why not)."""
        return readiness(liveness(self.beat, self.clock(), self.stale_after), self.store_error, self.broker_error)


def liveness(beat: float | None, now: float, stale_after: float) -> str | None:
    """Why the loop counts as stalled, or None while it turns: its last heartbeat is older than ``stale_after``."""
    if beat is None:
        return "the event loop has not come round yet"
    if now - beat > stale_after:
        return f"the event loop has not come round for {now - beat:.0f} s (allowed {stale_after:g} s)"
    return None


def readiness(loop: str | None, store: str | None, broker: str | None) -> tuple[bool, dict[str, str]]:
    """Ready only when the loop turns and the store and the broker answered; the body says which part is not."""
    parts = {"loop": loop, "store": store, "broker": broker}
    ready = all(reason is None for reason in parts.values())
    body = {"status": "ok" if ready else "unavailable"}
    body.update({name: reason or "ok" for name, reason in parts.items()})
    return ready, body


class BrokerCheck:
    """Asks the cluster at ``bootstrap`` for its metadata over one long-lived client (made again after a
    failure): the cheapest request that proves the broker answers this process, credentials and all."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._client: Any = None

    async def __call__(self) -> None:
        if self._client is None:
            client = kafka_io.metadata_client(self.bootstrap)
            try:
                await client.bootstrap()
            except BaseException:  # crash guard: close the half-open client, then re-raise
                await client.close()
                raise
            self._client = client
        try:
            await self._client.fetch_all_metadata()
        except BaseException:  # crash guard: drop the client (the next probe reconnects), then re-raise
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


@dataclass
class Prober:
    """Runs in the worker's loop, until cancelled: the heartbeat, and the checks of ``store`` (a
    ``redis.asyncio.Redis``) and of the broker, written into ``state``."""

    state: ProbeState
    store: Any
    broker: Callable[[], Awaitable[None]]

    async def run(self) -> None:
        await asyncio.gather(self._beat(), self._check())

    async def _beat(self) -> None:
        while True:
            self.state.beat = self.state.clock()
            await asyncio.sleep(BEAT_EVERY)

    async def _check(self) -> None:
        while True:
            self.state.store_error = await _attempt("store", self.store.ping)
            self.state.broker_error = await _attempt("broker", self.broker)
            await asyncio.sleep(CHECK_EVERY)


async def _attempt(name: str, check: Callable[[], Awaitable[Any]]) -> str | None:
    """None if ``check`` finished within :data:`CHECK_TIMEOUT`, else what went wrong (for the probe's body)."""
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return f"unreachable: no answer within {CHECK_TIMEOUT:g} s"
    except Exception as error:  # crash guard: any failure of a check is the probe's answer, not the worker's end
        logger.debug("%s check failed: %s", name, describe_error(error))
        return f"unreachable: {describe_error(error)}"
    return None
