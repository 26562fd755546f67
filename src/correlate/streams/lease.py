"""Who runs the detect stage: one leader at a time, elected with a Redis lease.

The lattice must see every contact (a brand cell and its brand x service children are tested together for
attribution), so detection cannot be split by partition; one worker leads, the others stand by. The lease is
a key set only if absent (``SET NX PX``) holding the leader's id, renewed well within its time to live, and
deleted by its holder on a clean stop so a standby takes over at once. A leader killed outright is replaced
after at most ``ttl``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# Renew or release only a lease we still hold: a check-and-act in one step on the server.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease:
    """A named lease in Redis held under ``holder``; ``client`` is a ``redis.asyncio.Redis``."""

    def __init__(self, client: Any, key: str, holder: str, ttl: float) -> None:
        self.client = client
        self.key = key
        self.holder = holder
        self.ttl_ms = max(1, int(ttl * 1000))

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(await self.client.set(self.key, self.holder, nx=True, px=self.ttl_ms))

    async def release(self) -> None:
        await self.client.eval(_RELEASE, 1, self.key, self.holder)

    async def holder_now(self) -> str | None:
        value = await self.client.get(self.key)
        return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


class Renewer:
    """Renews a held lease from a thread of its own, while the leader's event loop shows signs of life.

    Renewing from the event loop ties the lease to the loop's worst pause: a rebuild step or a Faust agent
    that runs a second without yielding would lose the lease of a perfectly healthy leader. A thread keeps it
    as long as the process lives, and :meth:`beat` (called by the detect loop) keeps it honest: a loop stuck
    for ``max_stall`` seconds lets the lease lapse so a standby takes over.
    """

    def __init__(
        self, url: str, lease: Lease, on_lost: Callable[[], None], max_stall: float, clock: Callable[[], float]
    ) -> None:
        self.url = url
        self.lease = lease
        self.on_lost = on_lost
        self.max_stall = max_stall
        self.clock = clock
        self._beat = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> None:
        self._beat = self.clock()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=self.lease.ttl_ms / 3000)
        interval = self.lease.ttl_ms / 3000
        try:
            while not self._stop.wait(interval):
                if self.clock() - self._beat > self.max_stall:
                    self.on_lost()  # the loop is stuck: let the lease lapse
                    return
                try:
                    held = bool(client.eval(_RENEW, 1, self.lease.key, self.lease.holder, self.lease.ttl_ms))
                except redis.RedisError:
                    held = False
                if not held:
                    self.on_lost()
                    return
        finally:
            client.close()
