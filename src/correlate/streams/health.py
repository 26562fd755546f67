"""Whether each stage of a worker is doing its job: a report per stage, in metrics and in the store.

A worker whose process is up can still be useless: a stage that crashes and restarts on the same record, a
detect leader that takes nothing in while records wait, a process that grows past its memory budget. Each
stage keeps a :class:`StageHealth`; a :class:`HealthReporter` in its process publishes it every second — as
gauges (``correlate_stage_stuck``, ``correlate_resident_memory_bytes`` against
``correlate_memory_budget_bytes``, for the alert rules) and as an expiring key in the store that
``correlate status`` reads. A key that stops being renewed expires: a wedged or dead stage reports nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from correlate.metrics import Metrics
from correlate.streams.poison import FaultInjector, PoisonGuard, describe_error

__all__ = [
    "CRASHES_STUCK",
    "REPORT_EVERY",
    "REPORT_TTL",
    "HealthReporter",
    "StageHealth",
    "Supervision",
    "read_reports",
    "resident_bytes",
    "stuck_reason",
]

logger = logging.getLogger(__name__)
REPORT_EVERY = 1.0  # seconds between two reports
REPORT_TTL = 10  # seconds a report lives in the store unless renewed
# Crashes in a row without handling a record that make a stage stuck: a poison record costs two (the second
# quarantines it, see correlate.streams.poison), so a third means the restarts are not getting anywhere.
CRASHES_STUCK = 3


def resident_bytes() -> int:
    """This process's resident memory (Linux ``/proc``; elsewhere the peak, which is what ``resource`` has)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class StageHealth:
    """One stage of one worker: restarts, crashes since it last handled a record, and since when records wait
    while it takes none in (``waiting_since``, wall time; None when it keeps up or has nothing to do)."""

    stage: str
    worker: str
    restarts: int = 0
    crashes_in_a_row: int = 0
    last_error: str = ""
    handled: int = 0
    waiting_since: float | None = None
    leading: bool | None = None  # the detect stage: whether it holds the lease (None: not a detect stage)

    def crashed(self, error: BaseException) -> None:
        self.restarts += 1
        self.crashes_in_a_row += 1
        self.last_error = describe_error(error)

    def progressed(self, records: int) -> None:
        """``records`` handled (0 is allowed: a round with nothing to do)."""
        if records > 0:
            self.handled += records
            self.crashes_in_a_row = 0
            self.waiting_since = None

    def waiting(self, now: float) -> None:
        """Records wait and this round took none in."""
        if self.waiting_since is None:
            self.waiting_since = now

    def idle(self) -> None:
        """Nothing waits: not taking anything in is no stall."""
        self.waiting_since = None


@dataclass
class Supervision:
    """What a stage carries across its restarts: its poison guard, its health, and the faults to inject."""

    guard: PoisonGuard
    health: StageHealth
    faults: FaultInjector = field(default_factory=FaultInjector)

    @classmethod
    def of(cls, stage: str, worker: str, faults: FaultInjector | None = None) -> Supervision:
        return cls(PoisonGuard(stage), StageHealth(stage, worker), faults or FaultInjector())

    def crashed(self, error: BaseException) -> str:
        """The stage raised: count it, blame the record it was on; says what happens next (for the log)."""
        self.health.crashed(error)
        quarantined = self.guard.crashed(error)
        if quarantined is None:
            return "restarting"
        topic, partition, offset = quarantined
        return f"the record at {topic}[{partition}]@{offset} crashed it twice: it goes to the dead letters"


def stuck_reason(report: dict[str, Any], now: float, stall_after: float) -> str | None:
    """Why a stage (as reported) is stuck, or None: crash-looping, or taking nothing in while records wait."""
    crashes = int(report.get("crashes_in_a_row") or 0)
    if crashes >= CRASHES_STUCK:
        return f"restarted {crashes} times without handling a record (last error: {report.get('last_error')})"
    since = report.get("waiting_since")
    if isinstance(since, int | float) and now - since >= stall_after:
        return f"has taken nothing in for {now - since:.0f} s while records wait"
    return None


@dataclass
class HealthReporter:
    """Publishes one stage's health every second, until cancelled. ``store`` is a ``redis.asyncio.Redis``."""

    health: StageHealth
    metrics: Metrics
    store: Any
    key_prefix: str
    memory_budget: int
    stall_after: float
    clock: Callable[[], float] = time.time
    memory: Callable[[], int] = resident_bytes
    _warned: bool = field(default=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.key_prefix}{self.health.worker}:{self.health.stage}"

    def report(self) -> dict[str, Any]:
        now = self.clock()
        health = self.health
        rss = self.memory()
        report: dict[str, Any] = {
            "worker": health.worker,
            "stage": health.stage,
            "pid": os.getpid(),
            "restarts": health.restarts,
            "crashes_in_a_row": health.crashes_in_a_row,
            "last_error": health.last_error,
            "handled": health.handled,
            "waiting_since": health.waiting_since,
            "leading": health.leading,
            "resident_bytes": rss,
            "memory_budget_bytes": self.memory_budget,
            "at": now,
        }
        stuck = stuck_reason(report, now, self.stall_after)
        report["stuck"] = stuck
        self.metrics.set_stage_health(health.stage, stuck is not None, rss, self.memory_budget)
        if stuck and not self._warned:
            logger.error("%s stage is stuck: %s", health.stage, stuck)
        self._warned = stuck is not None
        return report

    async def publish(self) -> None:
        """One report, to the metrics and the store."""
        report = self.report()
        try:
            await self.store.set(self.key, json.dumps(report), ex=REPORT_TTL)
        except Exception as error:  # crash guard: the report loop outlives a store away (status then says "store")
            logger.debug("health report not written: %s", describe_error(error))

    async def run(self) -> None:
        while True:
            await self.publish()
            await asyncio.sleep(REPORT_EVERY)


def read_reports(client: Any, key_prefix: str) -> list[dict[str, Any]]:
    """Every live health report in the store (``client`` a blocking ``redis.Redis``), by worker and stage."""
    reports: list[dict[str, Any]] = []
    for key in sorted(client.scan_iter(match=key_prefix + "*", count=100)):
        raw = client.get(key)
        if raw is None:
            continue
        try:
            report = json.loads(raw)
        except ValueError:
            continue
        if isinstance(report, dict):
            reports.append(report)
    return reports
