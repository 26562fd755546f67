"""How correlate's Kafka clients authenticate and encrypt: SASL (PLAIN, SCRAM-SHA-256/512) and TLS.

Secured clusters (Strimzi, Amazon MSK, Confluent Cloud) require it on their listeners. The settings come from the
environment, so that every client a process makes (aiokafka consumers, producers and topic admin in the workers
and the API, the Faust runner's, a test's kafka-python) and every process it starts use the same ones; a password
is best given as a file (a mounted Secret) rather than a variable:

=====================================  =====================================================================
``CORRELATE_KAFKA_SECURITY_PROTOCOL``  ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``
``CORRELATE_KAFKA_SASL_MECHANISM``     ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (with ``SASL_*``)
``CORRELATE_KAFKA_SASL_USERNAME``      the principal's name
``CORRELATE_KAFKA_SASL_PASSWORD``      its password; or ``CORRELATE_KAFKA_SASL_PASSWORD_FILE``: a file holding it
``CORRELATE_KAFKA_SSL_CAFILE``         CA bundle that signed the brokers' certificates (default: the system's)
``CORRELATE_KAFKA_SSL_CERTFILE``       client certificate, for mutual TLS (with ``..._SSL_KEYFILE``)
``CORRELATE_KAFKA_SSL_KEYFILE``        its private key
=====================================  =====================================================================

Pure but for reading the password file and building the TLS context; the I/O edge (``kafka_io``) applies it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from correlate.errors import ConfigError

__all__ = ["MECHANISMS", "PROTOCOLS", "KafkaSecurity", "kafka_security"]

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_PREFIX: Final = "CORRELATE_KAFKA_"


@dataclass(frozen=True)
class KafkaSecurity:
    """One process's Kafka client security; :meth:`aiokafka_options` and friends turn it into client arguments."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"{_PREFIX}SECURITY_PROTOCOL: one of {', '.join(PROTOCOLS)}, not {self.protocol!r}")
        if self.sasl:
            if self.sasl_mechanism not in MECHANISMS:
                raise ConfigError(
                    f"{_PREFIX}SASL_MECHANISM: one of {', '.join(MECHANISMS)} with {self.protocol}, "
                    f"not {self.sasl_mechanism!r}"
                )
            if not self.username or self.password is None:
                raise ConfigError(f"{self.protocol} needs {_PREFIX}SASL_USERNAME and a password (..._PASSWORD_FILE)")
        elif self.sasl_mechanism or self.username:
            raise ConfigError(f"SASL settings given, but {_PREFIX}SECURITY_PROTOCOL is {self.protocol}")
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError(f"{_PREFIX}SSL_CERTFILE and {_PREFIX}SSL_KEYFILE go together (mutual TLS)")
        if not self.tls and (self.cafile or self.certfile):
            raise ConfigError(f"TLS files given, but {_PREFIX}SECURITY_PROTOCOL is {self.protocol}")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client's TLS context: the given CA (else the system's), hostname checked, optional client cert."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.cafile)
        if self.certfile is not None:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def aiokafka_options(self) -> dict[str, Any]:
        """Arguments for aiokafka's consumer, producer and admin client."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options

    def kafka_python_options(self) -> dict[str, Any]:
        """Arguments for kafka-python's clients (the tests' independent client, operators' scripts)."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options.update(ssl_cafile=self.cafile, ssl_certfile=self.certfile, ssl_keyfile=self.keyfile)
        if self.sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options

    def faust_credentials(self) -> Any:
        """``broker_credentials`` for the Faust runner's app; None for plain text."""
        if self.protocol == "PLAINTEXT":
            return None
        import faust

        if self.sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password,
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context(),
            )
        return faust.SSLCredentials(self.ssl_context())


def kafka_security(environ: Mapping[str, str] | None = None) -> KafkaSecurity:
    """The settings in ``environ`` (default: this process's environment), checked."""
    environ = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = environ.get(_PREFIX + name, "").strip()
        return value or None

    password = environ.get(_PREFIX + "SASL_PASSWORD")
    password_file = get("SASL_PASSWORD_FILE")
    if password_file is not None:
        try:
            password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ConfigError(f"{_PREFIX}SASL_PASSWORD_FILE: {password_file}: {error.strerror or error}") from None
    for name in ("SSL_CAFILE", "SSL_CERTFILE", "SSL_KEYFILE"):
        path = get(name)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{_PREFIX}{name}: {path} is not a file")
    return KafkaSecurity(
        protocol=(get("SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
        sasl_mechanism=(get("SASL_MECHANISM") or "").upper() or None,
        username=get("SASL_USERNAME"),
        password=password,
        cafile=get("SSL_CAFILE"),
        certfile=get("SSL_CERTFILE"),
        keyfile=get("SSL_KEYFILE"),
    )
