"""Who may see what: bearer tokens for agents, the NOC and each vendor.

A token is ``cor1.<claims>.<mac>``: base64url JSON claims and an HMAC-SHA256 of ``cor1.<claims>`` under the
stack's secret. It is self-contained so the API checks it without a round trip to a store, and the secret never
leaves ``<home>/api-secret`` (created on first use, mode 0600). Revoking a token means rotating the secret.

Roles:

- ``agent``: the banner, customer journeys, follow-up lists, incident list and detail;
- ``noc``: all of that, plus owners and escalations;
- ``vendor`` (with a vendor id): only incidents where that vendor is at fault or affected, and no customer
  data. An incident a vendor may not see is reported as not found, so its id does not leak.

Token text is a credential: nothing here logs it, and :class:`Claims` has no reference to it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from correlate.errors import AccessError

__all__ = ["ROLES", "AccessError", "Claims", "Verifier", "default_home", "load_secret", "mint", "verify"]

PREFIX: Final = "cor1"
ROLES: Final = ("agent", "noc", "vendor")
SECRET_FILE: Final = "api-secret"
_VENDOR_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
# Far above any token mint() makes (a few hundred characters): longer text is refused before any work on it.
MAX_TOKEN_LENGTH: Final = 4096


@dataclass(frozen=True)
class Claims:
    """What a token says about its bearer. ``name`` is who they are (recorded as owner, escalator)."""

    role: str
    vendor: str | None = None
    name: str | None = None
    issued_at: float = 0.0

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccessError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if (self.role == "vendor") != (self.vendor is not None):
            raise AccessError("a vendor token names exactly one vendor; other roles name none")
        if self.vendor is not None and not _VENDOR_ID.fullmatch(self.vendor):
            raise AccessError(f"vendor id {self.vendor!r} must be lower-case letters, digits and '-'")

    @property
    def who(self) -> str:
        return self.name or (f"vendor:{self.vendor}" if self.vendor else self.role)


def mint(secret: bytes, claims: Claims) -> str:
    body = {"role": claims.role, "iat": int(claims.issued_at)}
    if claims.vendor is not None:
        body["vendor"] = claims.vendor
    if claims.name is not None:
        body["name"] = claims.name
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{PREFIX}.{payload}.{_mac(secret, payload)}"


def verify(secret: bytes, token: str) -> Claims:
    """The claims of a token made with ``secret``; :class:`AccessError` for anything else.

    Tokens are ASCII (base64url and dots): anything else is refused here, before ``hmac.compare_digest``,
    which raises TypeError rather than answer False for non-ASCII text.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise AccessError(f"not a correlate token (longer than {MAX_TOKEN_LENGTH} characters)")
    if not token.isascii():
        raise AccessError("not a correlate token (tokens are ASCII: letters, digits, '-', '_' and '.')")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise AccessError(f"not a correlate token (expected {PREFIX}.<claims>.<signature>)")
    if not hmac.compare_digest(_mac(secret, parts[1]), parts[2]):
        raise AccessError("token signature does not match this stack's secret")
    try:
        body = json.loads(_unb64(parts[1]))
        return Claims(
            role=str(body["role"]),
            vendor=body.get("vendor"),
            name=body.get("name"),
            issued_at=float(body.get("iat", 0)),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise AccessError(f"token claims unreadable: {error}") from None


class Verifier:
    """:func:`verify` with a memory of the tokens it has accepted: an agent desktop polling the banner sends the
    same token hundreds of times, and the HMAC and JSON work is most of an authorisation's cost."""

    def __init__(self, secret: bytes, size: int = 4096) -> None:
        self._secret = secret
        self._size = size
        self._known: dict[str, Claims] = {}

    def __call__(self, token: str) -> Claims:
        claims = self._known.get(token)
        if claims is None:
            claims = verify(self._secret, token)
            if len(self._known) >= self._size:
                self._known.clear()
            self._known[token] = claims
        return claims


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where the secret and the API's state live: ``$CORRELATE_HOME``, else ``~/.correlate``."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("CORRELATE_HOME") or Path.home() / ".correlate")


def load_secret(home: Path) -> bytes:
    """The stack's token secret, created on first use (32 random bytes, hex, file mode 0600).

    Created with O_EXCL so that two processes starting together agree on one secret.
    """
    path = home / SECRET_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    text = path.read_text().strip()
    if len(text) < 32:
        raise AccessError(f"{path}: secret too short (at least 32 characters)")
    return text.encode()


def _mac(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, f"{PREFIX}.{payload}".encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
