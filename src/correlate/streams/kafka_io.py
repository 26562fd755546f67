"""Small adapters over aiokafka (the one Kafka client: consumers, producers, topic admin), so the stages read as
wiring. Every client is made with the process's SASL/TLS settings (:mod:`correlate.streams.security`).

Batching is what makes the pipeline fast: :class:`BatchWriter` fills aiokafka's record batches directly (one
Python call per record instead of a future and a task per ``send``), partitioning keys the way Kafka's own
clients do (murmur2), so a customer's contacts land in the same partition whichever client wrote them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.partitioner import murmur2

from correlate.streams.security import kafka_security
from correlate.topics import TopicSpec

__all__ = [
    "FETCH_MAX_WAIT_MS",
    "INPUT_HEADER",
    "VISIBLE_HEADER",
    "BatchWriter",
    "accepted_headers",
    "consumer",
    "create_topics",
    "end_offsets",
    "ensure_topics",
    "input_position",
    "metadata_client",
    "partition_for",
    "producer",
    "stop",
    "visible_at",
    "visible_header",
]

# Tansu answers an empty fetch only after the full max wait: keep it short, or an idle partition stalls reads.
FETCH_MAX_WAIT_MS = 30
# Header on accepted records: wall time (ms) by which the validate stage had fetched the input record, i.e. when
# the record was visible on the broker at the latest. The event-time merge compares it with lag reports.
VISIBLE_HEADER = "correlate-visible-ms"
# Header on accepted records: where the validate stage read the record (``topic:partition:offset`` of the input).
# A record forwarded twice (at-least-once) carries the same position twice: the detect leader drops the repeat.
INPUT_HEADER = "correlate-input"


def visible_header(fetched_ms: int) -> list[tuple[str, bytes]]:
    return [(VISIBLE_HEADER, str(fetched_ms).encode())]


def accepted_headers(fetched_ms: int, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """The headers of an accepted record: when it was visible, and where it came from."""
    return [*visible_header(fetched_ms), (INPUT_HEADER, f"{topic}:{partition}:{offset}".encode())]


def input_position(record: Any) -> tuple[str, int, int] | None:
    """The input ``(topic, partition, offset)`` an accepted record was read from; None when it carries none."""
    for name, value in record.headers or ():
        if name == INPUT_HEADER:
            topic, _, rest = bytes(value).decode(errors="replace").partition(":")
            partition, _, offset = rest.partition(":")
            if topic and partition.isdigit() and offset.isdigit():
                return topic, int(partition), int(offset)
            return None
    return None


def visible_at(record: Any) -> float | None:
    """The visibility time carried by an accepted record, in seconds; None when it has none."""
    for name, value in record.headers or ():
        if name == VISIBLE_HEADER:
            try:
                return int(value) / 1000
            except ValueError:
                return None
    return None


def producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    settings: dict[str, Any] = {"linger_ms": 5, "max_batch_size": 262_144, "acks": "all"}
    settings.update(kafka_security().aiokafka_options())
    settings.update(options)
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **settings)


def consumer(bootstrap: str, *topics: str, **options: Any) -> AIOKafkaConsumer:
    settings: dict[str, Any] = {
        "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1_048_576,
    }
    settings.update(kafka_security().aiokafka_options())
    settings.update(options)
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, **settings)


def metadata_client(bootstrap: str) -> AIOKafkaClient:
    """A bare client for cluster metadata (the readiness probe's question), not yet bootstrapped."""
    return AIOKafkaClient(
        bootstrap_servers=bootstrap, client_id="correlate-probe", **kafka_security().aiokafka_options()
    )


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (Java clients, kafka-python, aiokafka): murmur2 of the key."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class BatchWriter:
    """Records collected into per-partition batches and sent together; :meth:`flush` waits for the acks."""

    def __init__(self, client: AIOKafkaProducer) -> None:
        self.client = client
        self._partitions: dict[str, int] = {}
        self._batches: dict[tuple[str, int], Any] = {}
        self._inflight: list[asyncio.Future[Any]] = []
        self._round = 0
        self._full: list[tuple[str, int, Any]] = []

    async def prepare(self, topics: Iterable[str]) -> None:
        """Learn the partition counts (once per topic, before the hot loop)."""
        for topic in topics:
            if topic not in self._partitions:
                found = await self.client.partitions_for(topic)
                self._partitions[topic] = len(found)

    def add(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int | None = None) -> None:
        """Queue one record; keyed records go to the key's partition, others round-robin. Nothing is sent
        before :meth:`flush`: no await per record on the hot path."""
        count = self._partitions[topic]
        if key is not None:
            partition = partition_for(key, count)
        else:
            self._round += 1
            partition = self._round % count
        self.add_to(topic, partition, key, value, timestamp_ms)

    def add_to(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one record for a chosen partition (``partition`` is taken modulo the topic's count)."""
        partition %= self._partitions[topic]
        batch = self._batches.get((topic, partition))
        if batch is None:
            batch = self._batches[(topic, partition)] = self.client.create_batch()
        stamp = timestamp_ms  # milliseconds, whatever aiokafka's docstring says (it stores the number as given)
        extra = headers or []
        if batch.append(key=key, value=value, timestamp=stamp, headers=extra) is None:
            self._full.append((topic, partition, batch))
            batch = self._batches[(topic, partition)] = self.client.create_batch()
            batch.append(key=key, value=value, timestamp=stamp, headers=extra)

    async def _send(self, topic: str, partition: int, batch: Any) -> None:
        self._inflight.append(await self.client.send_batch(batch, topic, partition=partition))

    async def send(self) -> None:
        """Hand every open batch to the producer without waiting for the broker's acknowledgements."""
        full, self._full = self._full, []
        batches, self._batches = self._batches, {}
        for topic, partition, batch in full:
            await self._send(topic, partition, batch)
        for (topic, partition), batch in batches.items():
            if batch.record_count():
                await self._send(topic, partition, batch)

    async def settle(self, in_flight: int = 0) -> None:
        """Wait for the oldest sends until at most ``in_flight`` await their acknowledgement (an error in one
        is raised here)."""
        while len(self._inflight) > in_flight:
            await self._inflight.pop(0)

    @property
    def unacknowledged(self) -> int:
        return len(self._inflight)

    def abandon(self) -> None:
        """Give up on the sends still awaiting acknowledgement (the broker is gone): their errors are taken
        here, not reported later as never retrieved."""
        inflight, self._inflight = self._inflight, []
        for future in inflight:
            if future.done():
                if not future.cancelled():
                    future.exception()
            else:
                future.cancel()

    async def flush(self) -> None:
        """Send every open batch and wait until the broker has them all."""
        await self.send()
        inflight, self._inflight = self._inflight, []
        if inflight:
            await asyncio.gather(*inflight)


async def end_offsets(client: AIOKafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = await client.end_offsets(partitions)
    return ends


async def create_topics(bootstrap: str, specs: Iterable[TopicSpec], replication: int = 1) -> list[str]:
    """Create the topics of ``specs`` that do not exist yet on the cluster at ``bootstrap``; returns the names
    created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="correlate-admin", **kafka_security().aiokafka_options()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        created: list[str] = []
        for spec in specs:  # one by one: a topic another worker created meanwhile must not fail the others
            if spec.name in existing:
                continue
            topic = NewTopic(spec.name, spec.partitions, replication, topic_configs=dict(spec.config))
            response = await admin.create_topics([topic])
            for error in response.topic_errors:  # (topic, error_code[, error_message]) by protocol version
                code = error[1]
                if code and code != TopicAlreadyExistsError.errno:
                    raise for_code(code)(f"creating topic {spec.name}: {error[2] if len(error) > 2 else code}")
                if not code:
                    created.append(spec.name)
        return created
    finally:
        await admin.close()


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec]) -> list[str]:
    """:func:`create_topics`, blocking (an event loop of its own: call it from a thread in async code)."""
    return asyncio.run(create_topics(bootstrap, list(specs)))


async def stop(client: Any) -> None:
    """Stop an aiokafka client. aiokafka's consumer can raise CancelledError from a task of its own when
    stopped soon after starting; that is not our cancellation, so it is swallowed unless we are cancelled."""
    try:
        await client.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
