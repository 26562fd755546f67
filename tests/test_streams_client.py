"""``correlate produce`` and ``subscribe`` as a user meets them: a paced produce that keeps its pace, a broker
that goes away mid-file, progress on a terminal, and a vendor with no topic yet."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.kafka_io import ensure_topics
from correlate.topics import pipeline_topics, vendor_spec
from test_pipeline import topic_values, wait_for


def _contacts(path: Path, count: int) -> Path:
    records = (
        {
            "contact_id": f"c{i}",
            "ts": f"2026-03-02T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "channel": "chat",
            "customer_id": f"u{i % 97}",
            "source": "centre",
            "dimensions": {"device_brand": "Vizo"},
        }
        for i in range(count)
    )
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


def _correlate(*args: str, prefix: str = "", stderr: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CORRELATE_TOPIC_PREFIX": prefix}
    argv = [sys.executable, "-m", "correlate.cli", *args]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr)


def _topics(broker: str, prefix: str) -> None:
    ensure_topics(broker, pipeline_topics(["contacts"], 4, prefix))


def test_a_paced_produce_keeps_its_pace_instead_of_waiting_for_each_acknowledgement(
    kafka_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    broker = kafka_broker.bootstrap
    _topics(broker, topic_prefix)
    path = _contacts(tmp_path / "contacts.jsonl", 6_000)
    producer = _correlate("produce", str(path), "--broker", broker, "--rate", "2000", prefix=topic_prefix)
    # 3 s at the asked pace. Awaiting each acknowledgement managed 107-145 a second on CI: 40-60 s, past this
    # deadline (which is ten times the pace, for a loaded machine).
    try:
        _out, err = producer.communicate(timeout=30)
    finally:
        producer.kill()
    assert producer.returncode == 0, err.decode()
    assert b"produce: 6000 records" in err  # not a terminal: no progress line, the summary only
    assert len(topic_values(broker, topic_prefix + "contacts")) == 6_000


def test_produce_says_in_one_line_that_the_broker_is_gone(tmp_path: Path) -> None:
    path = _contacts(tmp_path / "contacts.jsonl", 20_000)
    with EmbeddedBroker().start(log=tmp_path / "broker.log") as broker:
        _topics(broker.bootstrap, "")
        producer = _correlate("produce", str(path), "--broker", broker.bootstrap, "--rate", "200")
        wait_for(lambda: len(topic_values(broker.bootstrap, "contacts")) > 0, 60, lambda: "nothing produced")
        assert broker.process is not None
        broker.process.send_signal(signal.SIGKILL)
        try:
            _out, err = producer.communicate(timeout=120)
        finally:
            producer.kill()
    lines = err.decode().strip().splitlines()
    assert producer.returncode == 1, err.decode()
    assert len(lines) == 1 and "Traceback" not in err.decode(), err.decode()
    assert lines[0].startswith(f"correlate produce: the broker at {broker.bootstrap} does not answer")


def test_produce_shows_its_progress_on_a_terminal_unless_quiet(
    kafka_broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
) -> None:
    broker = kafka_broker.bootstrap
    _topics(broker, topic_prefix)
    path = _contacts(tmp_path / "contacts.jsonl", 1_500)
    shown = {}
    for flags in ((), ("--quiet",)):
        leader, follower = pty.openpty()
        argv = ["produce", str(path), "--broker", broker, "--rate", "1000", *flags]
        producer = _correlate(*argv, prefix=topic_prefix, stderr=follower)
        os.close(follower)
        text = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the terminal closed: produce exited
                    break
                if not chunk:
                    break
                text += chunk
            elif producer.poll() is not None:
                break
        os.close(leader)
        assert producer.wait(60) == 0, text
        shown[flags] = text.decode()
    assert "\rproduce: " in shown[()] and " records, " in shown[()] and "/s" in shown[()]
    assert "produce: 1500 records to" in shown[()]
    assert shown[("--quiet",)] == ""


def test_subscribe_to_a_vendor_without_a_topic_names_the_vendors_that_have_one(
    kafka_broker: EmbeddedBroker, topic_prefix: str
) -> None:
    broker = kafka_broker.bootstrap
    ensure_topics(broker, [vendor_spec("vizo", topic_prefix), vendor_spec("acme", topic_prefix)])
    subscriber = _correlate(
        "subscribe", "--vendor", "flixco", "--broker", broker, "--timeout", "2", prefix=topic_prefix
    )
    out, err = subscriber.communicate(timeout=60)
    assert subscriber.returncode == 0 and out == b"", err.decode()
    message = err.decode()
    assert f"no topic {topic_prefix}incidents.vendor.flixco yet" in message
    assert "vendors with a topic: acme, vizo" in message
