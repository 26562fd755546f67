"""The servers `correlate up` starts for you are real, on loopback, and leave nothing behind."""

from __future__ import annotations

import socket

import redis
from kafka.admin import KafkaAdminClient, NewTopic

from correlate.embedded import LOOPBACK, EmbeddedBroker, EmbeddedRedis


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
