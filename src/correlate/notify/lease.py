"""One sender at a time: a lease in Redis, so that API replicas do not both drain the same outbox.

Two notification writers would each write a customer's notification before either marked it sent, and two
webhook senders would post each message twice. A sender works only while it holds the lease: a key set if
absent (``SET NX PX``) holding a random holder id, renewed by its holder before every batch, released on a
clean stop so a standby takes over at once. A holder killed outright is replaced after at most ``ttl``.

A holder that stalls for longer than ``ttl`` (a frozen VM) and then resumes may overlap with its successor for
one batch; the notification writer's start-up reconciliation and the webhook ids bound the harm to a repeat a
receiver can recognise.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

__all__ = ["Lease"]

# Renew or release only a lease still held by us: check and act in one step on the server.
_RENEW: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE: Final = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease:
    """A named lease; ``redis`` is a ``redis.asyncio.Redis``."""

    def __init__(self, redis: Any, key: str, ttl: float = 15.0) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = max(1, int(ttl * 1000))
        self.holder = secrets.token_hex(8)

    async def hold(self) -> bool:
        """Renew the lease if we hold it, else take it if nobody does; True while it is ours."""
        if await self.redis.eval(_RENEW, 1, self.key, self.holder, self.ttl_ms) == 1:
            return True
        return bool(await self.redis.set(self.key, self.holder, nx=True, px=self.ttl_ms))

    async def release(self) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.holder)
