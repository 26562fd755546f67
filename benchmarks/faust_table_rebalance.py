"""A Faust table that counts per key, on the embedded Tansu broker, while its partitions move between workers.

    python benchmarks/faust_table_rebalance.py            # 3 variants, ~80 s
    python benchmarks/faust_table_rebalance.py --variants one-record-batches fetch-highwater skip-seen

Starts Tansu (memory storage, 127.0.0.1) and creates the input topic and the table's changelog topic (Tansu
creates none by itself; the changelog compacted, as Faust declares it). For each variant of the workers:

1. produces ``--rounds`` records for every key; worker A counts them alone (``table[key] += 1``);
2. starts worker B: half the partitions move to B, which restores their counts from the changelog;
3. produces as many again; stops worker A: its partitions move to B, restored the same way;
4. produces as many again, stops B, and compares per key the records produced with the table's count (the
   key's last value on the changelog: what the workers last wrote, and what a restoring worker reads).

Before each move it prints, per changelog partition, the end ListOffsets answers (what Faust's recovery
takes as the partition's end) against the highwater a fetch reports (the true end), and per input partition
the group's committed offset. Two faults make the counts wrong; the variants show each alone:

- too few (the broker): Tansu 0.6.0 answers ListOffsets(latest) with the base offset of the partition's
  last record batch + 1, not the offset after its last record (the probe at the start shows it), so a worker
  that takes a partition over stops restoring its changelog before the end whenever the last batch held more
  than one record, and counts on from an older value. ``as-is`` (Faust's settings; the stream quiet and every
  record committed before a move) shows it alone; ``one-record-batches`` (``producer_max_batch_size`` of
  1 byte: a batch per record) and ``fetch-highwater`` (recovery ends at a fetch's highwater) count right.
- too many (Faust, on any broker): on a rebalance Faust forgets the offsets it has processed and not yet
  committed before it commits, so the partition's next owner counts those records again. ``slow-commits``
  (commits every 60 s, longer than a run: every move finds uncommitted records; Faust commits every 2.8 s,
  so a stream that does not pause loses up to that much at each move) shows it alone; ``skip-seen`` (each
  count keeps its next input offset and a record read again is skipped) counts right.

``exactly-once`` (Faust's transactions) does not start on Tansu 0.6.0: InitProducerId fails. Workers use
correlate's 30 ms fetch wait and 6 s rebalance timeout for Tansu, and a 20 ms producer linger (correlate's
runners linger 5 ms) so that batches form. Exits 0 whatever it measures; the figures are the result
(docs/pipeline.md, "Crashes and takeover").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.kafka_io import create_topics
from correlate.topics import TopicSpec

TABLE = "counts"
FAUST_DEFAULT_BATCH = 16384  # bytes: Faust's producer_max_batch_size
ONE_RECORD_BATCH = 1  # bytes: smaller than any record, so aiokafka sends each record in a batch of its own
LINGER_MS = 20  # the workers' producers gather records for 20 ms, as correlate's do (5 ms), so batches form
FAUST_COMMIT_INTERVAL = 2.8  # seconds between Faust's offset commits (broker_commit_interval): its default
SLOW_COMMIT_INTERVAL = 60.0  # longer than a run: every move finds records processed and not committed
WAIT = 40.0  # seconds to wait for a state before giving up (busy machines)


# --------------------------------------------------------------------------------------------- the worker


def run_worker(bootstrap: str, app_id: str, topic: str, partitions: int, variant: Variant) -> None:
    """One Faust worker: counts the records of ``topic`` per key in a table (memory store + changelog)."""
    import faust
    from faust.transport.drivers import aiokafka as faust_aiokafka

    class ShortFetchThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = 30  # Faust's fixed 1.5 s stalls every fetch with an idle partition
            return consumer

    class ShortFetchConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> Any:
            return ShortFetchThread(self, loop=self.loop, beacon=self.beacon)

        async def highwaters(self, *partitions: Any) -> Any:
            """Where a changelog recovery stops: the end ListOffsets answers, or (fetch_highwater) a fetch's."""
            listed = await super().highwaters(*partitions)
            if not variant.fetch_highwater:
                return listed
            return await fetch_highwaters(bootstrap, listed)

    class ShortFetchTransport(faust_aiokafka.Transport):
        Consumer = ShortFetchConsumer

    class App(faust.App):
        def _new_transport(self) -> Any:
            return ShortFetchTransport(self.conf.broker_consumer, self)

    datadir = tempfile.mkdtemp(prefix="faust-table-")
    app = App(
        app_id,
        broker=f"kafka://{bootstrap}",
        datadir=datadir,
        store="memory://",
        web_enabled=False,
        topic_allow_declare=False,  # the benchmark created every topic
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_max_batch_size=variant.batch_size,
        producer_linger_ms=LINGER_MS,
        broker_commit_interval=variant.commit_interval,
        processing_guarantee=variant.guarantee,
        broker_session_timeout=6,
        broker_rebalance_timeout=6,  # Tansu holds a join until the rebalance timeout expires
        broker_heartbeat_interval=1,
    )
    source = app.topic(topic, key_serializer="raw", value_serializer="raw", partitions=partitions)
    counts = app.Table(TABLE, default=int, partitions=partitions)  # key's count (skip_seen: [count, offset])

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for event in stream.events():
            key = event.key.decode()  # a str key: the table's changelog keys and values are JSON
            if not variant.skip_seen:
                counts[key] += 1
                continue
            # [count, next input offset]: a record read again after a rebalance is recognised and skipped
            done, after = counts[key] or (0, 0)
            if event.message.offset >= after:
                counts[key] = [done + 1, event.message.offset + 1]

    try:
        app.main()
    finally:
        shutil.rmtree(datadir, ignore_errors=True)


# ------------------------------------------------------------------------------------------ the experiment


@dataclass(frozen=True)
class Variant:
    """How the workers are set up."""

    name: str
    batch_size: int = FAUST_DEFAULT_BATCH  # producer_max_batch_size (bytes)
    skip_seen: bool = False  # keep the next input offset with each count and skip records already counted
    guarantee: str = "at_least_once"  # Faust's processing_guarantee
    fetch_highwater: bool = False  # recovery reads the changelog up to a fetch's highwater, not ListOffsets'
    commit_interval: float = FAUST_COMMIT_INTERVAL

    @property
    def slow_commits(self) -> bool:
        return self.commit_interval >= SLOW_COMMIT_INTERVAL

    def argv(self) -> list[str]:
        flags = f"{int(self.skip_seen)}{int(self.fetch_highwater)}"
        return [self.name, str(self.batch_size), flags, self.guarantee, str(self.commit_interval)]

    @classmethod
    def from_argv(cls, argv: list[str]) -> Variant:
        name, batch_size, flags, guarantee, commit_interval = argv
        return cls(name, int(batch_size), flags[0] == "1", guarantee, flags[1] == "1", float(commit_interval))


SLOW = SLOW_COMMIT_INTERVAL
VARIANTS = {
    v.name: v
    for v in (
        Variant("as-is"),
        Variant("skip-seen", skip_seen=True),
        Variant("one-record-batches", batch_size=ONE_RECORD_BATCH),
        Variant("fetch-highwater", fetch_highwater=True),
        Variant("one-record-batches+slow-commits", batch_size=ONE_RECORD_BATCH, commit_interval=SLOW),
        Variant(
            "one-record-batches+slow-commits+skip-seen",
            batch_size=ONE_RECORD_BATCH,
            commit_interval=SLOW,
            skip_seen=True,
        ),
        Variant("fetch-highwater+slow-commits+skip-seen", fetch_highwater=True, commit_interval=SLOW, skip_seen=True),
        Variant("exactly-once", guarantee="exactly_once"),
    )
}


@dataclass
class Ends:
    """One changelog partition at one moment: what ListOffsets says its end is, and what a fetch says."""

    partition: int
    list_offsets: int
    fetch_highwater: int


@dataclass
class Outcome:
    variant: Variant
    produced: Counter[str] = field(default_factory=Counter)
    counted: dict[str, int] = field(default_factory=dict)
    changelog_records: int = 0
    moves: list[tuple[str, list[Ends], list[tuple[int | None, int]]]] = field(default_factory=list)


def key_of(index: int) -> bytes:
    return f"k{index:02d}".encode()


async def produce(bootstrap: str, topic: str, keys: int, partitions: int, rounds: int, into: Outcome) -> None:
    """``rounds`` records per key, key ``i`` on partition ``i % partitions`` (where Faust's table keeps it)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = []
        for _ in range(rounds):
            for index in range(keys):
                sends.append(await producer.send(topic, b"1", key=key_of(index), partition=index % partitions))
                into.produced[key_of(index).decode()] += 1
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def read_changelog(
    bootstrap: str, topic: str, partitions: int, decode: bool = True
) -> tuple[dict[str, int], list[Ends]]:
    """The last value of every key on the changelog, and each partition's end by ListOffsets and by fetch.

    The end of the read is the fetch's highwater, not ListOffsets (which falls short on Tansu)."""
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=30)
    await client.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        listed = await client.end_offsets(tps)
        client.assign(tps)
        await client.seek_to_beginning(*tps)
        last: dict[str, int] = {}
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            fetched = await client.getmany(timeout_ms=100, max_records=10_000)
            for records in fetched.values():
                for record in records:
                    if decode and record.key is not None and record.value is not None:
                        value = json.loads(record.value)
                        last[json.loads(record.key)] = value[0] if isinstance(value, list) else value
            positions = {tp: await client.position(tp) for tp in tps}
            ends = {tp: client.highwater(tp) for tp in tps}
            if all(end is not None and positions[tp] >= end for tp, end in ends.items()):
                break
        report = []
        for tp in tps:
            highwater = client.highwater(tp) or 0
            listed_end = listed.get(tp, 0)
            report.append(Ends(tp.partition, listed_end, highwater))
        return last, report
    finally:
        await client.stop()


async def fetch_highwaters(bootstrap: str, listed: Any) -> dict[Any, int]:
    """The true end of each partition: the highwater of a fetch from the offset ListOffsets answered."""
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=30)
    await client.start()
    try:
        tps = {TopicPartition(tp.topic, tp.partition): tp for tp in listed}
        client.assign(list(tps))
        for tp, original in tps.items():
            client.seek(tp, max(0, listed[original] - 1))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and any(client.highwater(tp) is None for tp in tps):
            await client.getmany(timeout_ms=100)
        return {original: client.highwater(tp) or listed[original] for tp, original in tps.items()}
    finally:
        await client.stop()


async def committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[tuple[int | None, int]]:
    """Per input partition: the group's committed offset (OffsetFetch) and the partition's end (fetch)."""
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await client.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        offsets = [await client.committed(tp) for tp in tps]
    finally:
        await client.stop()
    _, ends = await read_changelog(bootstrap, topic, partitions, decode=False)
    return [(offset, end.fetch_highwater) for offset, end in zip(offsets, ends, strict=True)]


async def changelog_total(bootstrap: str, topic: str, partitions: int) -> int:
    """Records on the changelog now (sum of fetch highwaters): one per ``table[key] += 1`` done."""
    _, ends = await read_changelog(bootstrap, topic, partitions)
    return sum(e.fetch_highwater for e in ends)


class WorkerDied(RuntimeError):
    """A worker exited while the run needed it."""


class Worker:
    """A worker process, its log in ``logs``."""

    def __init__(self, name: str, argv: list[str], logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def readies(self) -> int:
        """How many times this worker has finished a rebalance (Faust logs 'Worker ready' after recovery)."""
        return self.log.read_text(errors="replace").count("Worker ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Crew:
    """The workers of one run: a wait gives up at once when one that should run has exited."""

    argv: list[str]
    logs: Path
    running: list[Worker] = field(default_factory=list)

    def start(self, name: str) -> Worker:
        worker = Worker(name, self.argv, self.logs)
        self.running.append(worker)
        return worker

    def stop(self, worker: Worker) -> None:
        self.running.remove(worker)
        worker.stop()

    def stop_all(self) -> None:
        while self.running:
            self.stop(self.running[-1])

    def check(self) -> None:
        for worker in self.running:
            if worker.process.poll() is not None:
                tail = worker.log.read_text(errors="replace")[-2000:]
                raise WorkerDied(f"{worker.name} exited with {worker.process.returncode}:\n{tail}")


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], crew: Crew) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        crew.check()
        if await check():
            return
        await asyncio.sleep(0.3)
    print(f"  (gave up waiting for {what} after {WAIT:g} s)")


async def settle(bootstrap: str, changelog: str, partitions: int, expected: int, crew: Crew) -> None:
    """Wait until the table has made at least ``expected`` changes, and then no more for a second."""

    async def reached() -> bool:
        return await changelog_total(bootstrap, changelog, partitions) >= expected

    await wait_for(f"{expected} table changes", reached, crew)
    await quiet(bootstrap, changelog, partitions)


async def settle_committed(bootstrap: str, group: str, topic: str, partitions: int, crew: Crew) -> None:
    """Wait until the group has committed every input record (unless its commits are slow on purpose)."""

    async def all_committed() -> bool:
        return all(offset == end for offset, end in await committed(bootstrap, group, topic, partitions))

    await wait_for("the commits of every input record", all_committed, crew)


async def quiet(bootstrap: str, changelog: str, partitions: int) -> None:
    """Until the changelog has stopped growing for a second."""
    before = -1
    while True:
        now = await changelog_total(bootstrap, changelog, partitions)
        if now == before:
            return
        before = now
        await asyncio.sleep(1.0)


async def scenario(bootstrap: str, args: argparse.Namespace, variant: Variant, logs: Path) -> Outcome:
    app_id = "tablecount-" + variant.name.replace("+", "-and-")  # a topic name has no '+'
    topic = f"{app_id}-input"
    changelog = f"{app_id}-{TABLE}-changelog"  # the name Faust gives a table's changelog topic
    partitions = args.partitions
    await create_topics(
        bootstrap,
        [
            TopicSpec(topic, partitions, "key"),
            TopicSpec(changelog, partitions, "table key", {"cleanup.policy": "compact"}),
        ],
    )
    outcome = Outcome(variant)
    argv = [sys.executable, __file__, "--worker", bootstrap, app_id, topic, str(partitions), *variant.argv()]
    argv += ["worker", "--loglevel", "info", "--without-web"]
    per_phase = args.keys * args.rounds
    crew = Crew(argv, logs)

    async def snapshot(move: str) -> tuple[str, list[Ends], list[tuple[int | None, int]]]:
        if not variant.slow_commits:  # a quiet stream: partitions move once every record is committed
            await settle_committed(bootstrap, app_id, topic, partitions, crew)
        _, ends = await read_changelog(bootstrap, changelog, partitions)
        return move, ends, await committed(bootstrap, app_id, topic, partitions)

    try:
        await produce(bootstrap, topic, args.keys, partitions, args.rounds, outcome)
        first = crew.start(f"{app_id}-A")
        await settle(bootstrap, changelog, partitions, per_phase, crew)

        outcome.moves.append(await snapshot("B joins"))
        second = crew.start(f"{app_id}-B")
        readies = first.readies()

        async def both_ready() -> bool:
            return second.readies() >= 1 and first.readies() > readies

        await wait_for("the rebalance after B joined", both_ready, crew)
        await produce(bootstrap, topic, args.keys, partitions, args.rounds, outcome)
        await settle(bootstrap, changelog, partitions, 2 * per_phase, crew)

        outcome.moves.append(await snapshot("A leaves"))
        readies = second.readies()
        crew.stop(first)

        async def second_ready() -> bool:
            return second.readies() > readies

        await wait_for("the rebalance after A left", second_ready, crew)
        await produce(bootstrap, topic, args.keys, partitions, args.rounds, outcome)
        await settle(bootstrap, changelog, partitions, 3 * per_phase, crew)
    finally:
        crew.stop_all()
    outcome.counted, ends = await read_changelog(bootstrap, changelog, partitions)
    outcome.changelog_records = sum(e.fetch_highwater for e in ends)
    return outcome


def show(outcome: Outcome) -> None:
    v = outcome.variant
    print(
        f"\n{v.name}: producer_max_batch_size={v.batch_size}, processing_guarantee={v.guarantee}, "
        f"broker_commit_interval={v.commit_interval:g} s, "
        f"recovery ends at: {'a fetch highwater' if v.fetch_highwater else 'ListOffsets'}, "
        f"skip records already counted: {'yes' if v.skip_seen else 'no'}"
    )
    for move, ends, commits in outcome.moves:
        print(f"  before '{move}':")
        print(
            "    changelog end, ListOffsets / fetch highwater:  "
            + "  ".join(f"p{e.partition}: {e.list_offsets}/{e.fetch_highwater}" for e in ends)
        )
        print(
            "    input, committed offset / fetch highwater:      "
            + "  ".join(f"p{p}: {c}/{h}" for p, (c, h) in enumerate(commits))
        )
    produced = sum(outcome.produced.values())
    counted = sum(outcome.counted.values())
    print(
        f"  produced {produced} records; table changes on the changelog {outcome.changelog_records}; "
        f"table total {counted}"
    )
    print("  key   expected  counted  difference")
    wrong = 0
    for key in sorted(outcome.produced):
        expected, got = outcome.produced[key], outcome.counted.get(key, 0)
        wrong += got != expected
        print(f"  {key}  {expected:8d} {got:8d}  {got - expected:+d}")
    print(f"  keys counted wrong: {wrong} of {len(outcome.produced)}")


async def experiment(args: argparse.Namespace) -> None:
    logs = Path(tempfile.mkdtemp(prefix="faust-table-logs-"))
    try:
        with EmbeddedBroker().start(log=logs / "tansu.log") as broker:
            print(
                f"Tansu on {broker.bootstrap}; {args.keys} keys over {args.partitions} partitions, "
                f"{args.rounds} records per key per phase, 3 phases"
            )
            # What Tansu answers: 10 records in one batch, then 5 in another.
            probe = "listoffsets-probe"
            await create_topics(broker.bootstrap, [TopicSpec(probe, 1, "none")])
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
            await producer.start()
            for count in (10, 5):
                await asyncio.gather(*[await producer.send(probe, b"x", partition=0) for _ in range(count)])
            await producer.stop()
            _, ends = await read_changelog(broker.bootstrap, probe, 1)
            print(
                f"probe: 15 records in batches of 10 and 5: ListOffsets(latest) = {ends[0].list_offsets}, "
                f"fetch highwater = {ends[0].fetch_highwater}"
            )
            for name in args.variants:
                try:
                    outcome = await scenario(broker.bootstrap, args, VARIANTS[name], logs)
                except WorkerDied as died:
                    errors = [line for line in str(died).splitlines() if "Error" in line]
                    print(f"\n{name}: {str(died).splitlines()[0]}; last error: {errors[-1] if errors else '?'}")
                    continue
                show(outcome)
            if args.keep_logs:
                print(f"\nlogs: {logs}")
    finally:
        if not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        bootstrap, app_id, topic, partitions = sys.argv[2:6]
        variant = Variant.from_argv(sys.argv[6:11])
        sys.argv = [sys.argv[0], *sys.argv[11:]]  # Faust's own command line: worker --loglevel ...
        run_worker(bootstrap, app_id, topic, int(partitions), variant)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=8)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=50, help="records per key in each of the 3 phases")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=["as-is", "one-record-batches+slow-commits", "one-record-batches+slow-commits+skip-seen"],
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' and Tansu's logs")
    args = parser.parse_args()
    asyncio.run(experiment(args))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
