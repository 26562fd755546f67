"""Who runs the detect stage: one leader at a time, elected with a Redis lease.

The lattice must see every contact (a brand cell and its brand x service children are tested together for
attribution), so detection cannot be split by partition; one worker leads, the others stand by. The lease is
a key set only if absent (``SET NX PX``) holding the leader's id, renewed well within its time to live, and
deleted by its holder on a clean stop so a standby takes over at once. A leader killed outright is replaced
after at most ``ttl``.
"""

from __future__ import annotations

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

    async def renew(self) -> bool:
        """Extend our lease; False means it is no longer ours (expired, or taken by another worker)."""
        return bool(await self.client.eval(_RENEW, 1, self.key, self.holder, self.ttl_ms))

    async def release(self) -> None:
        await self.client.eval(_RELEASE, 1, self.key, self.holder)

    async def holder_now(self) -> str | None:
        value = await self.client.get(self.key)
        return None if value is None else value.decode() if isinstance(value, bytes) else str(value)
