"""``correlate api``: the HTTP API, the feed into its store, and the two outbox senders, in one process.

The process writes ``<home>/api.json`` (its URL and pid) once it listens, so that ``correlate status`` and the
agent desktop integration find it (:func:`read_state`), and removes it when it stops. With no ``--store`` it
starts a Redis of its own under ``<home>/api-redis`` (append-only, so follow-up lists and owners survive a
restart); with no ``--broker`` it serves what the store holds and reads no topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from aiohttp import web
from redis.exceptions import RedisError

from correlate.api.access import default_home, keys_path, load_keys
from correlate.api.app import ApiContext, build_app
from correlate.api.protocol import ApiRunner
from correlate.api.revocation import AccessRefresher
from correlate.metrics import Metrics, MetricsServer
from correlate.notify.delivery import DeliveryTarget
from correlate.notify.notifications import NotificationWriter
from correlate.notify.webhooks import WebhookSender
from correlate.pool import MAX_CONNECTIONS, POOL_TIMEOUT
from correlate.store import IncidentStore
from correlate.streams.embedded import LOOPBACK, EmbeddedRedis
from correlate.streams.feed import Feed
from correlate.topics import ACCEPTED, CONTACTS, INCIDENTS, NOTIFICATIONS

__all__ = ["ActionWriter", "ApiOptions", "Worker", "default_home", "keep_running", "read_state", "run", "serve", "zone"]

log = logging.getLogger(__name__)

STATE_FILE = "api.json"
# Connections the kernel holds for the API while it is busy: a burst of a thousand new connections is queued,
# not dropped into the clients' one-second SYN retry (aiohttp's default is 128; Linux caps it at somaxconn).
LISTEN_BACKLOG = 1024


def read_state(home: Path | None = None) -> dict[str, Any] | None:
    """What a running ``correlate api`` wrote about itself (``url``, ``pid``, ...), or None if none runs."""
    path = (home or default_home()) / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = state.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # left behind by a process that was killed
        except PermissionError:
            pass
    return state if isinstance(state, dict) else None


def _reachable(host: str) -> str:
    """The address a local client uses for a server bound to ``host`` (all interfaces: loopback)."""
    return LOOPBACK if host in ("0.0.0.0", "::", "") else host


def _loopback_only(host: str) -> bool:
    """Whether a server bound to ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _redact(url: str) -> str:
    """A store URL without its password, fit for a state file and a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class ApiOptions:
    home: Path
    port: int = 8480
    store_url: str | None = None
    broker: str | None = None
    targets: Mapping[str, DeliveryTarget] = field(default_factory=dict)
    zone: tzinfo = UTC
    topic_prefix: str = ""
    clock: Callable[[], float] = time.time
    access_log: bool = False
    # Loopback unless told otherwise: a container that is reached from outside must say 0.0.0.0 explicitly.
    host: str = LOOPBACK
    # A separate exporter for Prometheus. The API's own port serves /metrics too, behind a noc token when the
    # API listens beyond loopback (it names vendors and counts incidents).
    metrics_port: int | None = None
    metrics_host: str = LOOPBACK
    # Redis connections for requests (and how long a request waits for one before a 503): see store.connect.
    store_connections: int = MAX_CONNECTIONS
    store_wait: float = POOL_TIMEOUT
    # Origins that may frame the console (an agent desktop embedding the banner widget); none by default.
    console_frame_ancestors: tuple[str, ...] = ()
    # The signing keys' directory (a mounted Secret); None: $CORRELATE_API_KEYS, else <home>/api-keys.
    keys_dir: str | None = None


async def serve(options: ApiOptions, stop: asyncio.Event, ready: Callable[[str], None] | None = None) -> None:
    """Run until ``stop`` is set: API on 127.0.0.1, feed and senders beside it."""
    home = options.home
    home.mkdir(parents=True, exist_ok=True)
    keys_dir, may_create = keys_path(home, options.keys_dir)
    keys = load_keys(keys_dir, create=may_create)
    embedded: EmbeddedRedis | None = None
    store_url = options.store_url
    if store_url is None:
        embedded = EmbeddedRedis().start(home / "api-redis", log=home / "api-redis.log")
        store_url = embedded.url
    metrics = Metrics(clock=options.clock)
    store = IncidentStore.connect(
        store_url,
        max_connections=options.store_connections,
        pool_timeout=options.store_wait,
        targets=options.targets,
        clock=options.clock,
    )
    workers: list[tuple[Worker, asyncio.Task[None]]] = []
    exporter: MetricsServer | None = None
    actions = ActionWriter(options.broker, options.topic_prefix + CONTACTS) if options.broker else None
    # No access log unless asked: at 500 banner requests a second it is 43 million lines a day, and the
    # formatting costs a tenth of a request.
    context = ApiContext(
        store,
        keys,
        metrics,
        options.clock,
        options.zone,
        metrics_need_token=not _loopback_only(options.host),
        console_frame_ancestors=options.console_frame_ancestors,
        submit=actions.send if actions is not None else None,
    )
    app = build_app(context)
    runner = ApiRunner(app) if options.access_log else ApiRunner(app, access_log=None)
    try:
        try:
            await store.redis.ping()
        except RedisError as error:
            raise ConnectionError(f"cannot reach the store at {_redact(store_url)}: {error}") from None
        plan: list[tuple[str, Worker]] = [
            ("webhooks", WebhookSender(store, options.targets, metrics, options.clock)),
            ("access", AccessRefresher(store.redis, context.verifier, keys_dir, options.clock)),
        ]
        if options.broker is not None:
            prefix = options.topic_prefix
            feed = Feed(
                store,
                options.broker,
                incidents_topic=prefix + INCIDENTS,
                contacts_topic=prefix + ACCEPTED,
                group=prefix + "correlate-api-feed",
                metrics=metrics,
            )
            plan += [
                ("feed", feed),
                ("notifications", NotificationWriter(store, options.broker, prefix + NOTIFICATIONS)),
            ]
        else:
            log.warning("no broker: serving the store as it is; no incidents or notifications flow")
        for name, worker in plan:
            workers.append((worker, asyncio.create_task(keep_running(name, worker, stop), name=name)))
        await runner.setup()
        site = web.TCPSite(runner, options.host, options.port, backlog=LISTEN_BACKLOG)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://{_reachable(options.host)}:{port}"
        if options.metrics_port is not None:
            exporter = metrics.serve(options.metrics_port, options.metrics_host)
        state = {
            "url": url,
            "console": f"{url}/console",
            "openapi": f"{url}/v1/openapi.yaml",
            "pid": os.getpid(),
            "store": _redact(store_url),
            "broker": options.broker,
            "started_at": options.clock(),
        }
        if exporter is not None:
            state["metrics"] = f"http://{_reachable(exporter.host)}:{exporter.port}/metrics"
        (home / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
        log.info("correlate api on %s", url)
        if ready is not None:
            ready(url)
        await stop.wait()
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError):
            state_path = home / STATE_FILE
            if json.loads(state_path.read_text()).get("pid") == os.getpid():
                state_path.unlink()
        stop.set()
        for worker, _ in workers:
            worker.stop()
        for _, task in workers:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        await runner.cleanup()
        if actions is not None:
            await actions.stop()
        if exporter is not None:
            exporter.close()
        await store.close()
        if embedded is not None:
            embedded.stop()


class ActionWriter:
    """People's actions to the input topic, where the validate stage and the detect leader take them in with
    the contacts (correlate.actions). The producer starts on the first action: an API that nobody acts through
    holds no Kafka connection for it."""

    def __init__(self, broker: str, topic: str) -> None:
        self.broker, self.topic = broker, topic
        self._producer: Any = None

    async def send(self, record: dict[str, Any]) -> None:
        from correlate.streams import kafka_io

        if self._producer is None:
            producer = kafka_io.producer(self.broker)
            await producer.start()
            self._producer = producer
        await self._producer.send_and_wait(self.topic, json.dumps(record).encode())

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


class Worker(Protocol):
    """A loop beside the API: runs until stopped, or fails."""

    def stop(self) -> None: ...

    async def run(self) -> None: ...


async def keep_running(name: str, worker: Worker, stopping: asyncio.Event, first_delay: float = 1.0) -> None:
    """Run ``worker`` until ``stopping``, restarting it when it fails (its Redis or Kafka away for a while),
    after 1, 2, 4 ... 30 s. The API keeps answering from what the store holds meanwhile; the feed resumes from
    its committed offsets and the senders from their outboxes, so a restart loses nothing."""
    delay = first_delay
    while not stopping.is_set():
        try:
            await worker.run()
        except Exception:  # crash guard: the supervisor of the API's workers (feed, senders)
            log.exception("%s failed; restarting in %g s", name, delay)
        else:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        delay = min(30.0, delay * 2)


def run(options: ApiOptions) -> int:
    """Blocking entry point of ``correlate api``: SIGTERM and Ctrl-C stop it cleanly."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(options, stop, ready=lambda url: print(f"correlate api: {url} (console {url}/console)"))

    asyncio.run(main())
    return 0


def zone(name: str | None) -> tzinfo:
    return UTC if not name else ZoneInfo(name)
