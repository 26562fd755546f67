"""The validate stage as a Faust agent (``validate_runner = "faust"``).

The same :func:`~correlate.streams.validate.check` as the aiokafka runner, inside a Faust app whose consumer
group is the pipeline's (``<prefix>correlate``; every worker of a group must use the same runner, since the
two assign partitions with different protocols). Faust flushes its producer before it commits offsets, so
this runner is at-least-once like the other. Two settings make it usable on Tansu: a short fetch wait
(Faust hard-codes 1.5 s, which stalls every fetch that has an idle partition) and a short rebalance
timeout (Tansu holds a join until it expires: 60 s by default).

Measured against the aiokafka runner in ``benchmarks/pipeline_throughput.py``: the aiokafka loop is the
default because it forwards whole batches without a future per record (docs/pipeline.md).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from correlate.limits import DEFAULT_LIMITS, Limits
from correlate.metrics import Metrics
from correlate.streams import kafka_io, upstream
from correlate.streams.health import Supervision
from correlate.streams.kafka_io import FETCH_MAX_WAIT_MS
from correlate.streams.poison import CRASHES_TO_QUARANTINE, poison_letter
from correlate.streams.security import kafka_security
from correlate.streams.settings import StackSettings
from correlate.streams.validate import Forward, check, observe, route
from correlate.topics import ACCEPTED, REJECTS

__all__ = ["FETCH_SLACK", "REPORT_EVERY", "YIELD_EVERY", "build_app", "run_faust_validate"]

logger = logging.getLogger(__name__)
YIELD_EVERY = 500  # records between two yields to the event loop
REPORT_EVERY = 0.2  # seconds between lag reports (see correlate.streams.upstream)
FETCH_SLACK = 1.0  # seconds to assume a fetch is old when Faust's consumer thread cannot say


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # Faust passes a fixed 1500 ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class _App(faust.App):
    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def build_app(
    settings: StackSettings,
    bootstrap: str,
    metrics: Metrics,
    store: Any,
    datadir: str,
    supervision: Supervision,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """A Faust app with one agent: input records in, accepted records and dead letters out.

    ``datadir`` is where Faust keeps its table folders even with memory storage; without it Faust writes
    them under the current directory. A record whose check raises is tried again at once (Faust's agent is
    not restarted per record); a second crash quarantines it, as in the aiokafka runner.
    """
    guard, health, faults = supervision.guard, supervision.health, supervision.faults
    app = _App(
        settings.group,
        broker=f"kafka://{bootstrap}",
        broker_credentials=kafka_security().faust_credentials(),
        datadir=datadir,
        web_enabled=False,
        store="memory://",
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,  # the worker creates the topics, with their partitions and retention
        topic_disable_leader=True,
        broker_max_poll_records=5_000,
        producer_linger_ms=5,
        broker_session_timeout=6,
        broker_rebalance_timeout=6,
        broker_heartbeat_interval=1,
    )
    names = [settings.topic(t) for t in settings.input_topics]
    inputs = app.topic(*names, key_serializer="raw", value_serializer="raw")
    accepted = app.topic(settings.topic(ACCEPTED), key_serializer="raw", value_serializer="raw")
    rejects = app.topic(settings.topic(REJECTS), key_serializer="raw", value_serializer="raw")
    forwarded: dict[Any, int] = {}  # input partition -> next offset to forward
    delivery: dict[Any, Any] = {}  # input partition -> the future of its last forward

    async def validate(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            position = (message.topic, message.partition, message.offset)
            out = None
            for _attempt in range(CRASHES_TO_QUARANTINE + 1):  # the last finds it quarantined
                quarantined = guard.handling(position)
                if quarantined is not None:
                    metrics.observe_quarantined()
                    letter = poison_letter(position, "validate", quarantined.reason, message.value)
                    out = Forward(False, None, letter)
                    break
                try:
                    faults.check("validate", message.value)
                    faults.hang("validate-hang", message.value)
                    verdict = check(message.value, limits)
                    out = route(verdict, message.value, message.topic, message.partition, message.offset)
                    observe(metrics, verdict)  # once routed: a crash in route must not count the record twice
                except Exception as error:  # crash guard: a record that crashes validation is blamed, not fatal
                    logger.exception("validate: %s", supervision.crashed(error))
                    continue
                guard.handled()
                break
            if out is None:  # not reached: the last attempt finds the record quarantined
                continue
            health.progressed(1)
            # force=True: sent now, in order. Faust would otherwise attach the send to the event and publish it
            # when the event is acknowledged, out of order and after this partition was reported forwarded.
            if out.accepted:
                fetched = _last_fetch(app.consumer, message.tp) or time.time()
                sent = await accepted.send(
                    key=out.key,
                    value=out.value,
                    partition=message.partition,
                    timestamp=message.timestamp,
                    headers=kafka_io.accepted_headers(
                        int(fetched * 1000), message.topic, message.partition, message.offset
                    ),
                    force=True,
                )
            else:
                sent = await rejects.send(value=out.value, force=True)
            forwarded[message.tp] = message.offset + 1
            delivery[message.tp] = sent  # the last send of a partition is acknowledged after the earlier ones
            if message.offset % YIELD_EVERY == 0:  # share the loop with the detect stage
                await asyncio.sleep(0)

    async def report_lag() -> None:
        consumer = app.consumer
        done_before_flush = dict(forwarded)
        # What is reported forwarded must be on the broker: wait for the acknowledgements, not just the buffer.
        await app.producer.flush()
        await asyncio.gather(*delivery.values(), return_exceptions=True)
        now = time.time()
        committed: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
        mapping: dict[str, bytes] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            done = done_before_flush.get(tp)
            if done is None:
                # Nothing of this partition forwarded yet. Faust's fetch position runs ahead of its buffers,
                # so the floor is the group's committed offset (Faust keeps it, privately, after the seek).
                done = committed.get(tp) or 0
            fetched_at = (_last_fetch(consumer, tp) or now - FETCH_SLACK) - upstream.FETCH_MARGIN
            lag = max(0, highwater - done)
            mapping[upstream.field_name(tp.topic, tp.partition)] = upstream.encode(lag, fetched_at, now)
        if mapping:
            await store.hset(settings.lag_key, mapping=mapping)

    app.agent(inputs, name="validate")(validate)
    app.timer(REPORT_EVERY)(report_lag)
    return app


def _last_fetch(consumer: Any, tp: Any) -> float | None:
    """When the consumer thread's aiokafka client last fetched ``tp`` (Faust does not expose it)."""
    try:
        millis = consumer._thread._ensure_consumer().last_poll_timestamp(tp)
    except (AttributeError, KeyError, TypeError, AssertionError):
        return None
    return millis / 1000 if millis else None


async def run_faust_validate(
    settings: StackSettings,
    bootstrap: str,
    metrics: Metrics,
    store: Any,
    supervision: Supervision,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Run the Faust app until cancelled."""
    datadir = tempfile.mkdtemp(prefix="correlate-faust-")
    app = build_app(settings, bootstrap, metrics, store, datadir, supervision, limits)
    await app.start()
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        await asyncio.shield(app.stop())
        shutil.rmtree(datadir, ignore_errors=True)
