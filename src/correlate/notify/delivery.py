"""How each vendor is told about its incidents: its Kafka topic, a signed webhook, or both.

Configured in the settings file, one table per vendor::

    [delivery.sonique]
    topic = true                                  # incidents.vendor.sonique (default true)
    webhook = "https://hooks.sonique.example/correlate"
    secret = "whsec_..."                          # signs the webhook; required with a webhook (not with pagerduty)
    format = "correlate"                          # or "pagerduty", "alertmanager" (correlate.notify.adapters)
    routing_key = "..."                           # format = "pagerduty": the integration key of the vendor's service
    console_url = "https://correlate.example/console"  # optional: links each incident to its console page
    max_attempts = 30                             # then the message is parked as failed, not dropped
    backoff = 5.0                                 # first retry after 5 s, doubling up to max_backoff
    max_backoff = 3600.0

Webhooks follow the Standard Webhooks scheme so that vendors can use off-the-shelf verifiers: headers
``webhook-id`` (stable per message, so a redelivery is recognisable), ``webhook-timestamp`` (epoch seconds)
and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``. The secret is the
scheme's own form, ``whsec_`` and the base64 of 24 to 64 random bytes (``openssl rand -base64 32``), which is what
those verifiers take; any other secret is refused when the settings load. A PagerDuty delivery is authenticated
by its ``routing_key`` instead (PagerDuty verifies no signature), so it needs no secret. Everything here is pure:
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
from correlate.notify.adapters import Format, adapted
from correlate.topics import vendor_topic

__all__ = [
    "SECRET_PREFIX",
    "DeliveryTarget",
    "check_secret",
    "message_id",
    "parse_delivery",
    "retry_delay",
    "sign",
    "webhook_body",
    "webhook_headers",
]

_KEYS: Final = frozenset(
    {"topic", "webhook", "secret", "format", "routing_key", "console_url", "max_attempts", "backoff", "max_backoff"}
)
SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = (24, 64)  # Standard Webhooks' bounds on a secret's length


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
    format: Format = Format.CORRELATE
    routing_key: str | None = None
    console_url: str | None = None


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
        shape = _format(table.get("format", Format.CORRELATE.value), where)
        routing_key = table.get("routing_key")
        if shape is Format.PAGERDUTY and not (isinstance(routing_key, str) and routing_key.strip()):
            raise ConfigError(f'{where}.routing_key: format = "pagerduty" needs the integration key of the service')
        if shape is not Format.PAGERDUTY and routing_key is not None:
            raise ConfigError(f'{where}.routing_key: only a format = "pagerduty" delivery has one')
        console_url = table.get("console_url")
        if console_url is not None:
            _check_url(console_url, f"{where}.console_url")
        if webhook is not None:
            _check_url(webhook, f"{where}.webhook")
            if secret is not None or shape is not Format.PAGERDUTY:
                check_secret(secret, f"{where}.secret")
        elif shape is not Format.CORRELATE:
            raise ConfigError(f"{where}.format: {shape.value} is a webhook's format, and there is no webhook")
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
            shape,
            routing_key,
            console_url,
        )
    return targets


def _format(value: object, where: str) -> Format:
    try:
        return Format(str(value))
    except ValueError:
        known = ", ".join(f'"{shape.value}"' for shape in Format)
        raise ConfigError(f"{where}.format: {value!r} is not one of {known}") from None


def _check_url(value: object, where: str) -> None:
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: {value!r} is not an http(s) URL")


def check_secret(secret: object, where: str) -> None:
    """A webhook secret in Standard Webhooks' form, or a :class:`ConfigError` that says how to make one."""
    make = "make one with: echo whsec_$(openssl rand -base64 32)"
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        shown = "none" if secret is None else "a plain secret"
        raise ConfigError(f"{where}: a webhook needs a secret of the form whsec_<base64>, not {shown}; {make}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ConfigError(f"{where}: after 'whsec_' a secret is base64, and this is not; {make}") from None
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise ConfigError(f"{where}: a secret is {low} to {high} bytes (this is {len(key)}); {make}")


def message_id(incident_id: str, event: str, at: str) -> str:
    """The webhook-id of one incident event: the same event redelivered from Kafka gets the same id, so the
    outbox keeps one message and a vendor that sees an id twice can drop the second."""
    digest = hashlib.sha256(f"{incident_id}|{event}|{at}".encode()).hexdigest()[:24]
    return f"msg_{digest}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``<id>.<timestamp>.<body>``, keyed by the bytes a ``whsec_`` secret
    encodes (as Standard Webhooks issues them)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret has the form whsec_<base64>")
    key = base64.b64decode(secret[len(SECRET_PREFIX) :])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def webhook_headers(secret: str | None, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers; without a secret (a PagerDuty delivery) no signature."""
    headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret is not None:
        headers["webhook-signature"] = sign(secret, msg_id, timestamp, body)
    return headers


def webhook_body(event: IncidentEvent, target: DeliveryTarget) -> bytes:
    """The incident event as the vendor receives it, in its delivery's ``format``: correlate's own is the
    vendor's view (:func:`correlate.vendor_view.vendor_event`: the same as on its topic); keys sorted."""
    data = adapted(event, target.format, target.vendor, target.routing_key, target.console_url)
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def retry_delay(target: DeliveryTarget, attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: ``backoff * 2**(attempts-1)``, capped.

    Exponential so that a vendor's outage is not hammered, capped so that a vendor that comes back after a
    day is caught up within ``max_backoff``.
    """
    return float(min(target.max_backoff, target.backoff * 2.0 ** max(0, attempts - 1)))
