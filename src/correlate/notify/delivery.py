"""How each vendor is told about its incidents: its Kafka topic, a signed webhook, or both.

Configured in the settings file, one table per vendor::

    [delivery.sonique]
    topic = true                                  # incidents.vendor.sonique (default true)
    webhook = "https://hooks.sonique.example/correlate"
    secret = "whsec_..."                          # signs the webhook; required with a webhook
    max_attempts = 30                             # then the message is parked as failed, not dropped
    backoff = 5.0                                 # first retry after 5 s, doubling up to max_backoff
    max_backoff = 3600.0

Webhooks follow the Standard Webhooks scheme so that vendors can use off-the-shelf verifiers: headers
``webhook-id`` (stable per message, so a redelivery is recognisable), ``webhook-timestamp`` (epoch seconds)
and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``. Everything here is pure:
the outbox (store) and the sender (correlate.notify.webhooks) do the I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from correlate.config import ConfigError
from correlate.events import IncidentEvent
from correlate.topics import vendor_topic
from correlate.vendor_view import vendor_event

__all__ = ["DeliveryTarget", "message_id", "parse_delivery", "retry_delay", "sign", "webhook_body", "webhook_headers"]

_KEYS: Final = frozenset({"topic", "webhook", "secret", "max_attempts", "backoff", "max_backoff"})


@dataclass(frozen=True)
class DeliveryTarget:
    """One vendor's delivery settings, checked on load."""

    vendor: str
    topic: bool = True
    webhook: str | None = None
    secret: str | None = None
    max_attempts: int = 30
    backoff: float = 5.0
    max_backoff: float = 3600.0


def parse_delivery(section: Mapping[str, Any]) -> dict[str, DeliveryTarget]:
    """``Config.section("delivery")`` -> vendor id -> target. Mistakes are a :class:`ConfigError` naming the
    key, at start-up, rather than a webhook that silently never fires."""
    targets: dict[str, DeliveryTarget] = {}
    for vendor, table in section.items():
        where = f"delivery.{vendor}"
        try:
            vendor_topic(str(vendor))
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: must be a table of {', '.join(sorted(_KEYS))}")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
        topic = table.get("topic", True)
        if not isinstance(topic, bool):
            raise ConfigError(f"{where}.topic: must be true or false, not {topic!r}")
        webhook, secret = table.get("webhook"), table.get("secret")
        if webhook is not None:
            parts = urlsplit(str(webhook))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{where}.webhook: {webhook!r} is not an http(s) URL")
            if not isinstance(secret, str) or len(secret) < 16:
                raise ConfigError(f"{where}.secret: a webhook needs a secret of at least 16 characters")
            if secret.startswith("whsec_"):
                try:
                    base64.b64decode(secret[len("whsec_") :], validate=True)
                except ValueError:
                    raise ConfigError(f"{where}.secret: after 'whsec_' a secret is base64, and this is not") from None
        numbers = {}
        for key, default in (("max_attempts", 30), ("backoff", 5.0), ("max_backoff", 3600.0)):
            value = table.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{where}.{key}: must be a positive number, not {value!r}")
            numbers[key] = value
        targets[str(vendor)] = DeliveryTarget(
            str(vendor),
            topic,
            str(webhook) if webhook is not None else None,
            secret if webhook is not None else None,
            int(numbers["max_attempts"]),
            float(numbers["backoff"]),
            float(numbers["max_backoff"]),
        )
    return targets


def message_id(incident_id: str, event: str, at: str) -> str:
    """The webhook-id of one incident event: the same event redelivered from Kafka gets the same id, so the
    outbox keeps one message and a vendor that sees an id twice can drop the second."""
    digest = hashlib.sha256(f"{incident_id}|{event}|{at}".encode()).hexdigest()[:24]
    return f"msg_{digest}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``<id>.<timestamp>.<body>``. A ``whsec_`` secret is base64 after the
    prefix (as Standard Webhooks issues them); any other secret is used as its UTF-8 bytes."""
    key = base64.b64decode(secret[len("whsec_") :]) if secret.startswith("whsec_") else secret.encode()
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def webhook_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def webhook_body(event: IncidentEvent) -> bytes:
    """The incident event as the vendor receives it (:func:`correlate.vendor_view.vendor_event`: the same as on
    its topic), keys sorted."""
    data = vendor_event(event.to_json())
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def retry_delay(target: DeliveryTarget, attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: ``backoff * 2**(attempts-1)``, capped.

    Exponential so that a vendor's outage is not hammered, capped so that a vendor that comes back after a
    day is caught up within ``max_backoff``.
    """
    return float(min(target.max_backoff, target.backoff * 2.0 ** max(0, attempts - 1)))
