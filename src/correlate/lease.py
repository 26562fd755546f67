"""One holder at a time, across processes and hosts: a lease in Redis.

Used where two replicas must not both act: the detect leader (one engine sees every contact) and the API's
outbox senders (two would post each webhook twice). The lease is a key set only if absent (``SET NX PX``)
holding the holder's id, renewed by its holder well within its time to live, and deleted by its holder on a
clean stop so a standby takes over at once. A holder killed outright is replaced after at most ``ttl``.

A holder that stalls for longer than ``ttl`` (a frozen VM) and then resumes may overlap with its successor for
one batch; each user bounds the harm (the detect leader re-reads what is published, webhook ids are stable).
"""

from __future__ import annotations

import secrets
from typing import Any, Final

__all__ = ["RENEW", "Lease"]

# Renew or release only a lease still held by us: check and act in one step on the server.
RENEW: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease:
    """A named lease held under ``holder`` (random unless given); ``client`` is a ``redis.asyncio.Redis``."""

    def __init__(self, client: Any, key: str, ttl: float = 15.0, holder: str | None = None) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl * 1000))
        self.holder = holder or secrets.token_hex(8)

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        return bool(await self.client.set(self.key, self.holder, nx=True, px=self.ttl_ms))

    async def hold(self) -> bool:
        """Renew the lease if we hold it, else take it if nobody does; True while it is ours."""
        if await self.client.eval(RENEW, 1, self.key, self.holder, self.ttl_ms) == 1:
            return True
        return await self.acquire()

    async def release(self) -> None:
        await self.client.eval(_RELEASE, 1, self.key, self.holder)
