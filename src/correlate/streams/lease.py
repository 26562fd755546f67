"""Who runs the detect stage: one leader at a time, elected with a :class:`~correlate.lease.Lease`.

The lattice must see every contact (a brand cell and its brand x service children are tested together for
attribution), so detection cannot be split by partition; one worker leads, the others stand by. The leader's
lease is renewed from a thread (:class:`Renewer`), not from its busy event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from correlate.lease import RENEW, Lease

__all__ = ["Lease", "Renewer"]


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
                    held = bool(client.eval(RENEW, 1, self.lease.key, self.lease.holder, self.lease.ttl_ms))
                except redis.RedisError:
                    held = False
                if not held:
                    self.on_lost()
                    return
        finally:
            client.close()
