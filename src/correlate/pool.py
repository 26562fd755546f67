"""The bounds of the store's Redis connection pool, apart from the store so that ``correlate api --help`` shows
them without the 'store' extra installed."""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_CONNECTIONS", "POOL_TIMEOUT"]

# One API process: the banner answers from memory, other requests make 1-3 round trips of well under a
# millisecond each, so 64 connections carry thousands of requests a second; a burst beyond that waits its turn.
MAX_CONNECTIONS: Final = 64
POOL_TIMEOUT: Final = 10.0
