"""The servers `correlate up` starts for you are real, on loopback, and leave nothing behind."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from kafka.admin import KafkaAdminClient, NewTopic

from correlate.streams.embedded import LOOPBACK, EmbeddedBroker, EmbeddedRedis


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def test_the_embedded_broker_takes_topics_and_stops_cleanly() -> None:
    with EmbeddedBroker().start() as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic("contacts", num_partitions=4, replication_factor=1)])
        assert "contacts" in admin.list_topics()
        admin.close()
        port = broker.port
    assert not broker.running
    assert not _listening(port)


def test_the_embedded_store_keeps_its_data_across_a_restart(tmp_path) -> None:
    with EmbeddedRedis().start(tmp_path) as store:
        redis.Redis.from_url(store.url).set("incident:1", "open")
    with EmbeddedRedis().start(tmp_path) as store:
        assert redis.Redis.from_url(store.url).get("incident:1") == b"open"


def test_servers_do_not_outlive_a_parent_killed_outright(tmp_path) -> None:
    """`correlate up` killed with SIGKILL cannot stop its servers; the kernel must, or they hold their ports."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from correlate.streams.embedded import EmbeddedBroker, EmbeddedRedis\n"
        f"b = EmbeddedBroker().start(); r = EmbeddedRedis().start(Path({str(tmp_path)!r}))\n"
        "print(b.process.pid, r.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 2, "both servers started"
    parent.kill()
    parent.wait()
    for pid in pids:
        for _ in range(100):
            try:
                if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
                    break  # a zombie: dead, waiting for init to reap it
            except FileNotFoundError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"server {pid} outlived its parent")
