"""Revoking one token, and keeping every API replica's view of the keys and revocations current.

Revoked token ids live in the store every API replica shares (Redis), in a sorted set scored by the token's
expiry: once a token has expired it is refused for that reason anyway, so its entry is pruned and the set stays
as small as the tokens that are both revoked and still alive. Each replica copies the set into its
:class:`~correlate.api.access.Verifier` every ``interval`` seconds (one round trip a second, not one per request:
the banner is called hundreds of times a second), and re-reads the key directory at the same time, so a key
added to or removed from the mounted Secret takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from correlate.api.access import MAX_TTL, AccessError, Verifier, load_keys

__all__ = ["REVOKED_KEY", "AccessRefresher", "revoke", "revoked_ids"]

log = logging.getLogger(__name__)

REVOKED_KEY: Final = "correlate:access:revoked"


async def revoke(redis: Any, token_id: str, expires_at: float | None = None, now: float | None = None) -> None:
    """Refuse the token ``token_id`` from now on (on every replica within its refresh interval). Without its
    expiry, the id is kept as long as the longest token could live."""
    kept_until = expires_at if expires_at is not None else (time.time() if now is None else now) + MAX_TTL
    await redis.zadd(REVOKED_KEY, {token_id: kept_until})


async def revoked_ids(redis: Any, now: float) -> frozenset[str]:
    """The ids of revoked tokens that have not expired yet (the expired ones are pruned here)."""
    await redis.zremrangebyscore(REVOKED_KEY, "-inf", now)
    members = await redis.zrange(REVOKED_KEY, 0, -1)
    return frozenset(m.decode() if isinstance(m, bytes) else str(m) for m in members)


class AccessRefresher:
    """Copies the revoked ids and the key directory into a verifier every ``interval`` seconds; a worker beside
    the API (:func:`correlate.api.serve.keep_running` restarts it when the store is away)."""

    def __init__(
        self,
        redis: Any,
        verifier: Verifier,
        keys_dir: Path,
        clock: Callable[[], float] = time.time,
        interval: float = 1.0,
    ) -> None:
        self.redis = redis
        self.verifier = verifier
        self.keys_dir = keys_dir
        self.clock = clock
        self.interval = interval
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def refresh(self) -> None:
        self.verifier.revoked = await revoked_ids(self.redis, self.clock())
        try:
            self.verifier.use_keys(await asyncio.to_thread(load_keys, self.keys_dir))
        except (OSError, AccessError) as error:  # a Secret half-updated: keep the keys that worked
            log.warning("signing keys not reloaded: %s", error)

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
