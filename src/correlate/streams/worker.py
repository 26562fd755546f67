"""``correlate worker``: one process of the pipeline — a validate stage, and a bid for the detect lease.

Every worker validates its share of the input partitions (the consumer group splits them). Every worker
also contends for the detect lease; the one that holds it runs :class:`~correlate.streams.detect.DetectStage`,
the others stand by and take over when the lease lapses. SIGINT and SIGTERM stop the worker cleanly: the
validate stage commits what it forwarded, the leader releases the lease so a standby starts at once.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from prometheus_client import CollectorRegistry

from correlate import logs
from correlate.config import Config
from correlate.engine import rare_collections
from correlate.limits import Limits
from correlate.metrics import Metrics
from correlate.streams import kafka_io
from correlate.streams.detect import DetectStage
from correlate.streams.endpoint import LIVE_PATH, READY_PATH, WorkerEndpoint
from correlate.streams.exposition import MergedCollector
from correlate.streams.health import HealthReporter, Supervision
from correlate.streams.lease import Lease, Renewer
from correlate.streams.poison import FaultInjector
from correlate.streams.probes import BrokerCheck, Prober, ProbeState
from correlate.streams.procs import die_with_parent
from correlate.streams.settings import StackSettings
from correlate.topics import pipeline_topics

__all__ = [
    "CHILD_START_TIMEOUT",
    "MAX_STALL",
    "RETRY_PAUSE",
    "STOP_GRACE",
    "DetectProcess",
    "WorkerOptions",
    "detect_main",
    "main_worker",
    "run_worker",
    "worker_id",
]

logger = logging.getLogger(__name__)
MAX_STALL = 30.0  # seconds the detect loop may not come round before its lease is let go
RETRY_PAUSE = 1.0  # seconds before a stage that failed (broker away, store away) tries again
CHILD_START_TIMEOUT = 60.0  # seconds for the detect process to import correlate and serve its metrics
STOP_GRACE = 15.0  # seconds the detect process gets to stop cleanly


@dataclass(frozen=True)
class WorkerOptions:
    settings: StackSettings
    config: Config
    broker: str
    store: str
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_worker(options: WorkerOptions) -> int:
    """Run until SIGINT or SIGTERM; returns the exit code.

    Two processes: this one validates; a child (started here, killed by the kernel if this one dies) bids
    for the detect lease and, when it holds it, runs the Engine. On a 2-core machine the Engine then has a
    core of its own instead of sharing one with the validate stage. One ``/metrics`` serves both.
    """
    import redis.asyncio

    settings = options.settings
    metrics = Metrics()
    me = worker_id()
    detect = DetectProcess(options, me)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(MergedCollector(metrics.registry, detect.metrics_url))
    probes = ProbeState(settings.loop_stale_after)
    server = WorkerEndpoint(registry, probes, options.metrics_port, options.metrics_host)
    where = f"http://{options.metrics_host}:{server.port}"
    print(
        f"worker {me}: metrics at {where}/metrics, probes at {where}{LIVE_PATH} and {where}{READY_PATH}",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    store = redis.asyncio.Redis.from_url(options.store)
    supervision = Supervision.of("validate", me, FaultInjector.from_environ(os.environ))
    broker_check = BrokerCheck(options.broker)
    prober = asyncio.create_task(Prober(probes, store, broker_check).run())  # probes answer from the start
    try:
        specs = pipeline_topics(settings.input_topics, settings.input_partitions, settings.topic_prefix)
        await asyncio.to_thread(kafka_io.ensure_topics, options.broker, specs)

        def validate() -> Awaitable[None]:
            return _validate(settings, options.broker, metrics, store, supervision, options.config.settings)

        tasks = [
            asyncio.create_task(_forever("validate", validate, supervision, metrics)),
            asyncio.create_task(_forever("detect process", detect.run)),
            asyncio.create_task(_reporter(supervision, metrics, store, settings).run()),
        ]
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stopping.cancel()
    finally:
        prober.cancel()
        await asyncio.gather(prober, return_exceptions=True)
        await broker_check.close()
        await asyncio.to_thread(detect.stop)
        await store.aclose()
        server.close()
    print(f"worker {me}: stopped", file=sys.stderr, flush=True)
    return 0


class DetectProcess:
    """The detect stage's process: started, watched (restarted if it dies), stopped with SIGTERM."""

    def __init__(self, options: WorkerOptions, holder: str) -> None:
        self.options = options
        self.holder = holder
        self.process: BaseProcess | None = None
        self.port: int | None = None

    def metrics_url(self) -> str | None:
        return None if self.port is None else f"http://127.0.0.1:{self.port}/metrics"

    async def run(self) -> None:
        """Start the process and wait for it; returning means it died (``_forever`` starts another)."""
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=detect_main, args=(self.options, self.holder, os.getpid(), send), name="correlate-detect"
        )
        process.start()
        self.process = process
        send.close()
        try:
            if await asyncio.to_thread(receive.poll, CHILD_START_TIMEOUT):
                self.port = int(receive.recv())
            while process.is_alive():
                await asyncio.sleep(0.5)
            logger.warning("detect process exited with code %s", process.exitcode)
        finally:
            receive.close()
            self.port = None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or not process.is_alive():
            return
        process.terminate()  # SIGTERM: it releases the lease, so a standby takes over at once
        process.join(STOP_GRACE)
        if process.is_alive():
            process.kill()
            process.join()


def detect_main(options: WorkerOptions, holder: str, parent: int, port_out: Connection) -> None:
    """Entry point of the detect process: dies with its worker (SIGKILL, as if it had crashed with it)."""
    die_with_parent(signal.SIGKILL, parent)
    if not logs.configure_inherited():  # spawned, it never ran main(): it logs as its worker was told to
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with rare_collections():  # as replay does: see rare_collections
        asyncio.run(_detect_process(options, holder, port_out))


async def _detect_process(options: WorkerOptions, holder: str, port_out: Connection) -> None:
    import redis.asyncio

    settings = options.settings
    metrics = Metrics()
    server = metrics.serve(0, host="127.0.0.1")
    port_out.send(server.port)
    port_out.close()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    store = redis.asyncio.Redis.from_url(options.store)
    lease = Lease(store, settings.lease_key, settings.lease_ttl, holder)
    supervision = Supervision.of("detect", holder, FaultInjector.from_environ(os.environ))
    supervision.health.leading = False
    detect = DetectStage(settings, options.config, options.broker, store, metrics, holder, supervision)
    health = _reporter(supervision, metrics, store, settings)
    await health.publish()  # before the lease: a leader always has a report for `status` to read
    reporter = asyncio.create_task(health.run())
    task = asyncio.create_task(
        _forever("detect", lambda: _contend(lease, detect, metrics, options.store), supervision, metrics)
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([stopping, task], return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        reporter.cancel()
        await asyncio.gather(task, reporter, return_exceptions=True)
        stopping.cancel()
    finally:
        await _release(lease)
        await store.aclose()
        server.close()


def _reporter(supervision: Supervision, metrics: Metrics, store: Any, settings: StackSettings) -> HealthReporter:
    return HealthReporter(
        supervision.health, metrics, store, settings.health_prefix, settings.memory_budget_bytes, settings.stall_after
    )


async def _validate(
    settings: StackSettings, bootstrap: str, metrics: Metrics, store: Any, supervision: Supervision, limits: Limits
) -> None:
    if settings.validate_runner == "faust":
        from correlate.streams.app import run_faust_validate

        await run_faust_validate(settings, bootstrap, metrics, store, supervision, limits)
    else:
        from correlate.streams.runner import run_validate

        await run_validate(settings, bootstrap, metrics, store, supervision, limits)


async def _forever(
    name: str,
    stage: Callable[[], Awaitable[None]],
    supervision: Supervision | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Keep a stage running: an error (a broker restart, a store hiccup) is logged and the stage restarts.
    With ``supervision``, the record the stage was handling is blamed, and set aside on its second crash."""
    while True:
        try:
            await stage()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # crash guard: the stage supervisor (a crash costs a restart, never the worker)
            next_step = "restarting" if supervision is None else supervision.crashed(error)
            if metrics is not None:
                metrics.observe_stage_restart(supervision.health.stage if supervision else name)
            logger.exception("%s stage failed (%s); restarting in %g s", name, next_step, RETRY_PAUSE)
        await asyncio.sleep(RETRY_PAUSE)


async def _contend(lease: Lease, detect: DetectStage, metrics: Metrics, store_url: str) -> None:
    """Stand by until the lease is free, then lead until it is lost."""
    while not await lease.acquire():
        await asyncio.sleep(lease.ttl_ms / 4000)
    print(f"worker {lease.holder}: leading the detect stage", file=sys.stderr, flush=True)
    metrics.set_leader(True)
    detect.supervision.health.leading = True
    lost = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_lost() -> None:
        logger.warning("lost the detect lease; standing by")
        loop.call_soon_threadsafe(lost.set)

    renewer = Renewer(store_url, lease, on_lost, max_stall=MAX_STALL, clock=time.monotonic)
    renewer.start()
    try:
        await detect.lead(lost, renewer.beat)
    finally:
        await asyncio.to_thread(renewer.stop)
        metrics.set_leader(False)
        detect.supervision.health.leading = False
        detect.supervision.health.idle()
        await asyncio.shield(_release(lease))


async def _release(lease: Lease) -> None:
    try:
        await lease.release()
    except Exception:  # crash guard: a release on the way out must not hide why we are leaving
        logger.warning("could not release the lease; it lapses by itself", exc_info=True)


def main_worker(options: WorkerOptions) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run_worker(options))
