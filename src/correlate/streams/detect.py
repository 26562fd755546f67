"""The detect stage: the elected leader reads every accepted record, in event-time order, into one Engine.

Why one leader and not a partitioned table: attribution compares a parent cell with its children (a brand
with each brand x service pair), so all of them must be counted in one place; a cell-partitioned design
would split a parent from its children. The Engine drops repeated contact_ids, so a contact the validate stage
forwarded twice (at-least-once) is still counted once; telemetry and status records forwarded twice are known by
their input position (:mod:`correlate.streams.identity`). Contacts go to :meth:`Engine.accept`, telemetry and
status records to :meth:`Engine.accept_other`: the calls ``correlate replay`` makes, in the same event-time order.

A leader starts from the latest checkpoint (:mod:`correlate.streams.checkpoint`): the Engine's state and, per
partition, the first offset of ``contacts.accepted`` it does not hold; it reads on from there. It stores one
every ``checkpoint_every`` seconds (pickled by a forked child while it goes on), once a rebuild has caught up,
and when it stops cleanly, between two rounds (every event released is published, every dead letter flushed).
With no usable checkpoint it rebuilds the Engine from the start of the topic, whose retention covers the
detector's history, and says why.

Events the restored or rebuilt engine releases again are held back by the
:class:`~correlate.streams.publish.PublishedLog` read from ``incidents`` (and ``notifications``, for customer
notifications); dead letters for late records are held back for the offsets the previous leader reported done
(:class:`Progress`, kept in Redis, also what ``correlate status`` shows).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import redis
from aiokafka import TopicPartition

from correlate import snapshot
from correlate.config import Config
from correlate.contracts import Contact, Rejection
from correlate.engine import Engine
from correlate.intake import Record, validate_record
from correlate.metrics import Metrics
from correlate.streams import kafka_io, upstream
from correlate.streams.checkpoint import (
    Coverage,
    ForkedSave,
    load_checkpoint,
    restore_checkpoint,
    still_open,
    store_checkpoint,
)
from correlate.streams.health import Supervision
from correlate.streams.identity import merge_key
from correlate.streams.merge import EventTimeMerge
from correlate.streams.monitor import EngineMonitor
from correlate.streams.poison import poison_letter
from correlate.streams.publish import PublishedLog, Publisher
from correlate.streams.settings import StackSettings
from correlate.streams.validate import dead_letter
from correlate.topics import ACCEPTED, INCIDENTS, NOTIFICATIONS, REJECTS

__all__ = [
    "CELLS_EVERY",
    "PROGRESS_EVERY",
    "REPORTS_KEPT",
    "UPSTREAM_EVERY",
    "YIELD_EVERY",
    "DetectStage",
    "Progress",
    "read_all",
]

PROGRESS_EVERY = 1.0  # seconds between progress reports to the store
YIELD_EVERY = 500  # contacts taken in between two yields to the event loop (~40 ms of engine work)
UPSTREAM_EVERY = 0.1  # seconds between reads of the validate stage's lag reports
REPORTS_KEPT = 50  # lag reports remembered per partition (a few seconds' worth)
CELLS_EVERY = 0.5  # seconds of wall time between two publications of the anomalous cells while catching up

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """What the leader has done so far: counts as the engine holds them and the offsets it has read up to."""

    leader: str = ""
    accepted: int = 0
    telemetry: int = 0  # heartbeats and summaries taken in
    statuses: int = 0  # vendors' status records taken in
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)  # partition of contacts.accepted -> next offset
    rebuilt: bool = False  # caught up with what was on the topic at takeover
    updated_at: float = 0.0
    start: str = ""  # what this leader started from: "checkpoint" or "scratch"
    restored: dict[str, int] = field(default_factory=dict)  # the checkpoint's offsets it read on from
    restored_from: str = ""  # the leader that wrote that checkpoint
    records_read: int = 0  # read from contacts.accepted by this leader (after a checkpoint: its tail only)
    checkpointed_at: float = 0.0  # wall time of this leader's latest checkpoint

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def read(cls, store_url: str, settings: StackSettings) -> Progress:
        """The leader's latest report, read from the store at once (for whoever waits on the pipeline)."""
        client = redis.Redis.from_url(store_url)
        try:
            return cls.from_json(client.get(settings.progress_key))
        finally:
            client.close()

    @classmethod
    def from_json(cls, value: bytes | str | None) -> Progress:
        if not value:
            return cls()
        try:
            raw = orjson.loads(value)
            return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})
        except (orjson.JSONDecodeError, TypeError):
            return cls()


@dataclass
class _Held:
    """One accepted record waiting in the merge."""

    item: Record
    record: Any  # the decoded record, quoted in a late record's dead letter (contacts: rebuilt from the item)
    produced_at: float  # wall time the record was first written (Kafka timestamp), for detection latency
    partition: int
    offset: int


async def read_all(bootstrap: str, topic: str) -> list[bytes]:
    """Every value on ``topic`` up to its end now (a takeover reads what earlier leaders published).

    The end is the highwater a fetch reports, not ListOffsets: Tansu answers ListOffsets with the first
    offset of the last batch, which would miss the last events.
    """
    client = kafka_io.consumer(bootstrap)  # a fresh client: its metadata has every topic there is now
    await client.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        client.assign(partitions)
        await client.seek_to_beginning(*partitions)
        values: list[bytes] = []
        while True:
            batches = await client.getmany(timeout_ms=100, max_records=10_000)
            for records in batches.values():
                values.extend(r.value for r in records if r.value is not None)
            positions = {tp: await client.position(tp) for tp in partitions}
            ends = {tp: client.highwater(tp) for tp in partitions}
            if all(end is not None and positions[tp] >= end for tp, end in ends.items()):
                return values
    finally:
        await kafka_io.stop(client)


class DetectStage:
    """Runs the Engine while this worker holds the lease; a fresh one on every takeover."""

    def __init__(
        self,
        settings: StackSettings,
        config: Config,
        bootstrap: str,
        store: Any,
        metrics: Metrics,
        worker_id: str,
        supervision: Supervision | None = None,
    ) -> None:
        """``supervision`` outlives each takeover: a record that crashed the stage twice is dead-lettered and
        skipped by every later rebuild of this process."""
        self.settings = settings
        self.config = config
        self.bootstrap = bootstrap
        self.store = store
        self.metrics = metrics
        self.worker_id = worker_id
        self.supervision = supervision or Supervision.of("detect", worker_id)

    async def lead(self, lost: asyncio.Event, beat: Callable[[], None] = lambda: None) -> None:
        """Rebuild from the start of ``contacts.accepted``, then follow it, until ``lost`` is set; ``beat``
        is called every round (the lease is only renewed while it is)."""
        settings = self.settings
        accepted_topic = settings.topic(ACCEPTED)
        guard, health, faults = self.supervision.guard, self.supervision.health, self.supervision.faults
        published = await read_all(self.bootstrap, settings.topic(INCIDENTS))
        log = PublishedLog.from_values(published)
        log.note_notifications(await read_all(self.bootstrap, settings.topic(NOTIFICATIONS)))
        previous = Progress.from_json(await self.store.get(settings.progress_key))
        reader = kafka_io.consumer(self.bootstrap, max_partition_fetch_bytes=1_048_576)
        writer_client = kafka_io.producer(self.bootstrap)
        await reader.start()
        await writer_client.start()
        settled = False  # every event released published, every dead letter flushed: a checkpoint may be taken
        saving: asyncio.Task[None] | None = None  # a checkpoint being written by a forked child
        try:
            numbers = sorted(reader.partitions_for_topic(accepted_topic) or ())
            partitions = [TopicPartition(accepted_topic, p) for p in numbers]
            inputs = {t: reader.partitions_for_topic(t) or set() for t in map(settings.topic, settings.input_topics)}
            fed = upstream.feeders(inputs, len(numbers))
            progress = Progress(leader=self.worker_id)
            engine, coverage = await self._start(numbers, progress)
            monitor = EngineMonitor(engine, self.metrics, intake=False, refresh_every=CELLS_EVERY)
            if progress.start == "checkpoint":  # the history's open incidents, which only a rebuild releases again
                self.metrics.observe_events(still_open(published))
            del published
            reader.assign(partitions)
            if progress.start == "checkpoint":
                for tp in partitions:
                    reader.seek(tp, progress.restored[str(tp.partition)])
            else:
                await reader.seek_to_beginning(*partitions)
            at_takeover: dict[int, int] = {}  # partition -> its end when first fetched: before it, a rebuild
            reported = {int(p): n for p, n in previous.offsets.items()}
            publisher = Publisher(
                writer_client, self.bootstrap, settings.topic_prefix, self.metrics, log, self._without_topic()
            )
            dead_letters = kafka_io.BatchWriter(writer_client)
            await dead_letters.prepare([settings.topic(REJECTS)])
            merge: EventTimeMerge[_Held] = EventTimeMerge(numbers, settings.merge_idle, self.config.settings.lateness)
            next_offset = coverage.offsets()
            progress.offsets = {str(p): offset for p, offset in next_offset.items()}
            last_report = last_upstream = 0.0
            last_checkpoint = time.time()
            settled = True
            unreported = False  # contacts taken in since the last progress report
            history: dict[int, deque[tuple[float, float]]] = {p: deque(maxlen=REPORTS_KEPT) for p in numbers}
            while not lost.is_set():
                beat()
                batches = await reader.getmany(timeout_ms=50, max_records=5_000)
                now = time.time()
                for tp, records in batches.items():
                    for record in records:
                        if coverage.read(tp.partition, record.offset) and self._hold(
                            merge, tp.partition, record, dead_letters, accepted_topic, coverage
                        ):
                            continue  # waits in the merge
                        coverage.handed(tp.partition, record.offset)  # dropped, or in the engine already
                    next_offset[tp.partition] = records[-1].offset + 1
                    progress.records_read += len(records)
                if now - last_upstream >= UPSTREAM_EVERY:
                    last_upstream = now
                    reports = upstream.quiet_until(await self.store.hgetall(settings.lag_key), fed)
                    for partition, report in reports.items():
                        history[partition].append(report)
                for tp in partitions:
                    highwater = reader.highwater(tp)
                    if highwater is None:
                        continue
                    at_takeover.setdefault(tp.partition, highwater)
                    read_at = (reader.last_poll_timestamp(tp) or 0) / 1000 - upstream.FETCH_MARGIN
                    if highwater <= next_offset[tp.partition]:
                        # The latest report whose forwards our own read of the partition certainly includes.
                        covered = [until for until, acknowledged in history[tp.partition] if acknowledged <= read_at]
                        if covered:
                            merge.prove_quiet(tp.partition, min(max(covered), read_at))
                done = progress.offsets
                count = 0
                settled = False
                for count, held in enumerate(merge.pop_ready(), start=1):
                    if count % YIELD_EVERY == 0:  # a rebuild is long: let the lease renewal and validate run
                        await asyncio.sleep(0)
                    position = (accepted_topic, held.partition, held.offset)
                    quarantined = guard.handling(position)
                    if quarantined is not None:
                        if quarantined.letter_due and held.offset >= reported.get(held.partition, 0):
                            self.metrics.observe_quarantined()
                            shown = held.record if held.record is not None else held.item
                            letter = poison_letter(position, "detect", quarantined.reason, shown)
                            dead_letters.add(settings.topic(REJECTS), None, letter)
                        done[str(held.partition)] = held.offset + 1
                        coverage.handed(held.partition, held.offset)
                        continue
                    faults.check_item("detect", held.item)
                    if isinstance(held.item, Contact):
                        outcome = monitor.accept(held.item, held.record)
                    else:
                        outcome = monitor.accept_other(held.item, held.record)
                    fresh = held.offset >= reported.get(held.partition, 0)  # not a rebuild's repeat
                    if outcome.rejection is not None and fresh:
                        letter = dead_letter(outcome.rejection, accepted_topic, held.partition, held.offset)
                        dead_letters.add(settings.topic(REJECTS), None, letter)
                    for far_off in monitor.engine.unreached():  # taken in, then found far behind the stream's clock
                        if fresh:
                            dead_letters.add(
                                settings.topic(REJECTS), None, dead_letter(far_off, accepted_topic, -1, -1)
                            )
                    guard.handled()
                    coverage.handed(held.partition, held.offset)
                    if outcome.events:
                        live = held.offset >= at_takeover.get(held.partition, 0)
                        await publisher.publish(outcome.events, held.produced_at if live else None)
                    done[str(held.partition)] = held.offset + 1
                await dead_letters.flush()
                settled = True
                monitor.catch_up()
                if count:
                    health.progressed(count)
                elif len(merge) or any((reader.highwater(tp) or 0) > next_offset[tp.partition] for tp in partitions):
                    health.waiting(now)
                else:
                    health.idle()
                unreported = unreported or count > 0
                # Reported every second, and at once when a burst has been taken in: `correlate status` (and
                # whoever waits for a backlog to clear) sees the leader caught up within a round, not a second.
                if now - last_report >= PROGRESS_EVERY or (unreported and count == 0):
                    last_report, unreported = now, False
                    self._report(progress, engine, at_takeover, partitions, reader, next_offset)
                    await self.store.set(settings.progress_key, progress.to_json())
                # And at once when a rebuild from scratch has caught up: the next takeover need not redo it.
                rebuilt = progress.start == "scratch" and progress.rebuilt and not progress.checkpointed_at
                due = settings.checkpoint_every and (now - last_checkpoint >= settings.checkpoint_every or rebuilt)
                if due and (saving is None or saving.done()):
                    saving = await self._checkpoint_aside(engine, coverage, progress)
                    last_checkpoint = time.time()
        except asyncio.CancelledError:  # a clean stop: leave a checkpoint, so the next leader reads only the rest
            if saving is not None:
                saving.cancel()  # an older state, which must not land after this one
            if settled and settings.checkpoint_every:
                await self._checkpoint(engine, coverage, progress)
            raise
        finally:
            if saving is not None:
                saving.cancel()
            await kafka_io.stop(reader)
            await kafka_io.stop(writer_client)

    async def _start(self, partitions: list[int], progress: Progress) -> tuple[Engine, Coverage]:
        """The engine to lead with and what it covers: the latest checkpoint's if there is a usable one, else a
        fresh engine that reads ``contacts.accepted`` from its start. Says which in a log line, the progress
        (``start``) and a metric."""
        settings, config = self.settings, self.config
        reason = "checkpoints are off (checkpoint_every = 0)"
        if settings.checkpoint_every:
            data = await load_checkpoint(self.store, settings.checkpoint_key)
            reason = "none stored"
            if data is not None:
                try:
                    restored = await asyncio.to_thread(
                        restore_checkpoint, data, config.settings, config.vendors, partitions
                    )
                except snapshot.SnapshotRefused as refused:
                    reason = str(refused)
                else:
                    progress.start = "checkpoint"
                    progress.restored = {str(p): offset for p, offset in restored.offsets.items()}
                    progress.restored_from = str(restored.covers.get("leader", ""))
                    self.metrics.observe_detect_start("checkpoint")
                    logger.warning(
                        "detect: restored the checkpoint %s stored at %s (%d bytes); reading %s from offsets %s",
                        progress.restored_from or "a leader",
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(restored.covers.get("saved_at", 0))),
                        len(data),
                        settings.topic(ACCEPTED),
                        progress.restored,
                    )
                    return restored.engine, restored.coverage
        progress.start = "scratch"
        self.metrics.observe_detect_start("scratch")
        logger.warning(
            "detect: no usable checkpoint (%s); rebuilding from the start of %s", reason, settings.topic(ACCEPTED)
        )
        return Engine(config.settings, config.vendors), Coverage(dict.fromkeys(partitions, 0))

    def _covers(self, engine: Engine, coverage: Coverage) -> dict[str, Any]:
        noted = {"leader": self.worker_id, "saved_at": time.time(), "accepted": engine.counts.accepted}
        return coverage.covers() | noted

    async def _checkpoint(self, engine: Engine, coverage: Coverage, progress: Progress) -> None:
        """Store the engine's state with what it covers (the previous checkpoint stays whole until the new one
        is). Pickled in a thread: the event loop (health reports) goes on meanwhile; this leader's own loop waits, so
        nothing changes the engine while it is read. For a stop; while leading, :meth:`_checkpoint_aside`."""
        covers = self._covers(engine, coverage)
        data = await asyncio.to_thread(snapshot.save, engine, covers)
        await self._store_checkpoint(data, covers["saved_at"], progress)

    async def _checkpoint_aside(
        self, engine: Engine, coverage: Coverage, progress: Progress
    ) -> asyncio.Task[None] | None:
        """A checkpoint of the state as it is now, pickled by a forked child while this leader goes on (where
        there is no fork, pickled here, and None)."""
        covers = self._covers(engine, coverage)
        forked = ForkedSave.start(engine, covers)
        if forked is None:
            await self._checkpoint(engine, coverage, progress)
            return None

        async def store() -> None:
            try:
                data = await asyncio.to_thread(forked.collect)
            except asyncio.CancelledError:
                forked.abandon()
                raise
            if data is None:
                logger.warning("detect: the checkpoint's child process failed; the previous checkpoint stands")
                return
            try:
                await self._store_checkpoint(data, covers["saved_at"], progress)
            except Exception:  # crash guard: the store is away; the previous checkpoint stands, the next one comes
                logger.warning("detect: could not store a checkpoint; the previous one stands", exc_info=True)

        return asyncio.create_task(store())

    async def _store_checkpoint(self, data: bytes, saved_at: float, progress: Progress) -> None:
        await store_checkpoint(self.store, self.settings.checkpoint_key, data)
        progress.checkpointed_at = saved_at
        self.metrics.observe_checkpoint(len(data), saved_at)

    def _without_topic(self) -> frozenset[str]:
        """Vendors configured with ``topic = false`` under ``[delivery.<vendor>]``: told by webhook only."""
        from correlate.notify.delivery import parse_delivery

        targets = parse_delivery(self.config.section("delivery"))
        return frozenset(vendor for vendor, target in targets.items() if not target.topic)

    def _hold(
        self,
        merge: EventTimeMerge[_Held],
        partition: int,
        record: Any,
        dead_letters: kafka_io.BatchWriter,
        topic: str,
        coverage: Coverage,
    ) -> bool:
        """Decode one accepted record into the merge (True) or drop it (False): a record that breaks its contract
        (written to the topic by something other than the validate stage) becomes a dead letter, never a crash. A
        telemetry or status record forwarded twice is dropped here (a contact's repeat is the engine's to drop,
        as in replay)."""
        guard = self.supervision.guard
        position = (topic, partition, record.offset)
        quarantined = guard.handling(position)
        if quarantined is not None:
            if quarantined.letter_due:
                self.metrics.observe_quarantined()
                letter = poison_letter(position, "detect", quarantined.reason, record.value)
                dead_letters.add(self.settings.topic(REJECTS), None, letter)
            return False
        held = self._decode(merge, partition, record, dead_letters, topic, coverage)
        guard.handled()  # not on a raise: the guard blames this record when the stage reports the crash
        return held

    def _decode(
        self,
        merge: EventTimeMerge[_Held],
        partition: int,
        record: Any,
        dead_letters: kafka_io.BatchWriter,
        topic: str,
        coverage: Coverage,
    ) -> bool:
        try:
            decoded = orjson.loads(record.value)
            verdict: Record | Rejection = validate_record(decoded, self.config.settings)
        except (orjson.JSONDecodeError, TypeError):
            verdict = Rejection("", "not valid JSON on the accepted topic", repr(record.value)[:200])
        if isinstance(verdict, Rejection):
            self.metrics.observe_outcome(None, verdict)
            letter = dead_letter(verdict, topic, partition, record.offset, self.config.settings.max_excerpt_chars)
            dead_letters.add(self.settings.topic(REJECTS), None, letter)
            return False
        if isinstance(verdict, Contact):
            decoded = None  # quoted from the contact itself if ever late: less to hold in the merge
        elif coverage.repeated(partition, record.offset, kafka_io.input_position(record)):
            self.metrics.observe_duplicate()
            return False
        held = _Held(verdict, decoded, record.timestamp / 1000, partition, record.offset)
        visible = kafka_io.visible_at(record)
        merge.add(partition, merge_key(verdict), held, held.produced_at if visible is None else visible)
        return True

    def _report(
        self,
        progress: Progress,
        engine: Engine,
        at_takeover: dict[int, int],
        partitions: list[TopicPartition],
        reader: Any,
        next_offset: dict[int, int],
    ) -> None:
        counts = engine.counts
        progress.accepted = counts.accepted
        progress.telemetry = counts.telemetry
        progress.statuses = counts.statuses
        progress.duplicates = counts.duplicates
        progress.rejected = dict(counts.rejected)
        progress.events = dict(Counter(counts.events))
        progress.rebuilt = progress.rebuilt or (
            len(at_takeover) == len(partitions)
            and all(int(progress.offsets.get(str(p), 0)) >= end for p, end in at_takeover.items())
        )
        progress.updated_at = time.time()
        behind = 0
        for tp in partitions:
            highwater = reader.highwater(tp)
            if highwater is not None:
                behind += max(0, highwater - next_offset[tp.partition])
        self.metrics.set_consumer_lag(self.settings.topic(ACCEPTED), behind)
