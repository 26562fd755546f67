"""Who may see what: bearer tokens for agents, the NOC and each vendor.

A token is a JWT (RFC 7519, HS256) made with PyJWT: any gateway, vendor tool or jwt.io reads it, and PyJWT pins
the algorithm and parses the header, the two places hand-made formats go wrong. It is self-contained, so every
API replica checks it without a round trip, and it carries:

- ``kid`` (header): the signing key's id. The keys are files in one directory (a Kubernetes Secret mounted as a
  volume: one file per key, the file name is the key id). The last id in sort order signs; every key verifies.
  Rotation: add a key whose id sorts last (a date, ``2025-06-01``), and remove the old one once the tokens it
  signed have expired. Removing a key is how to revoke everything it signed.
- ``exp``: every token expires (``correlate token --ttl``, 30 days unless told).
- ``jti``: the token's id, for revoking one token (:mod:`correlate.api.revocation`) without touching the rest.
- ``role``, ``vendor``, ``name``: who the bearer is.

Roles:

- ``agent``: the banner, customer journeys, follow-up lists, incident list and detail;
- ``noc``: all of that, plus owners and escalations;
- ``vendor`` (with a vendor id): only incidents where that vendor is at fault or affected, and no customer
  data. An incident a vendor may not see is reported as not found, so its id does not leak.

Token text is a credential: nothing here logs it, and :class:`Claims` has no reference to it.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import jwt

from correlate.errors import AccessError

__all__ = [
    "DEFAULT_TTL",
    "KEYS_DIR",
    "MAX_TTL",
    "ROLES",
    "AccessError",
    "Claims",
    "KeyRing",
    "Verifier",
    "default_home",
    "keys_path",
    "load_keys",
    "mint",
    "parse_ttl",
    "verify",
]

ALGORITHM: Final = "HS256"
ISSUER: Final = "correlate"
ROLES: Final = ("agent", "noc", "vendor")
KEYS_DIR: Final = "api-keys"
# The id of the key correlate makes itself: it sorts before any dated id, so a key added later signs.
FIRST_KEY_ID: Final = "0-initial"
DEFAULT_TTL: Final = 30 * 86_400.0
MAX_TTL: Final = 400 * 86_400.0  # a little over a year: a token nobody remembers minting still runs out
MIN_KEY_LENGTH: Final = 32
_VENDOR_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TTL = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_TTL_UNITS: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
# Far above any token mint() makes (a few hundred characters): longer text is refused before any work on it.
MAX_TOKEN_LENGTH: Final = 4096


@dataclass(frozen=True)
class Claims:
    """What a token says about its bearer. ``name`` is who they are (recorded as owner, escalator).

    ``issued_at``, ``expires_at`` and ``token_id`` are what :func:`verify` read from a token; :func:`mint` sets
    its own.
    """

    role: str
    vendor: str | None = None
    name: str | None = None
    issued_at: float = 0.0
    expires_at: float = math.inf
    token_id: str = ""

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


@dataclass(frozen=True)
class KeyRing:
    """The signing keys, by id; the last id in sort order signs new tokens."""

    keys: Mapping[str, bytes]
    source: str = ""

    def __post_init__(self) -> None:
        if not self.keys:
            raise AccessError(f"{self.source or 'key ring'}: no signing keys")

    @property
    def signing_id(self) -> str:
        return max(self.keys)


def keys_path(home: Path, given: str | None = None, environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """Where the keys are, and whether correlate may make the first one there: ``--keys``, else
    ``$CORRELATE_API_KEYS`` (both: a mounted Secret, never written), else ``<home>/api-keys`` (made on first use).
    """
    environ = os.environ if environ is None else environ
    chosen = given or environ.get("CORRELATE_API_KEYS")
    return (Path(chosen), False) if chosen else (home / KEYS_DIR, True)


def load_keys(directory: Path, create: bool = False) -> KeyRing:
    """Every key in ``directory``: one file per key, named by its id, holding at least 32 characters.

    Names starting with '.' are skipped (Kubernetes keeps ``..data`` and its timestamped copies beside the keys of
    a mounted Secret). With ``create``, an empty or missing directory gets a first key (64 random hex characters,
    mode 0600) named :data:`FIRST_KEY_ID`, linked in whole, so that two processes starting together agree on it.
    """
    if create:
        directory.mkdir(parents=True, exist_ok=True)
        if not _key_files(directory):
            # Written aside, then linked in: the link fails if another process was first, and nobody ever
            # reads a key file that is still being written.
            draft = directory / f".draft-{secrets.token_hex(8)}"
            with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            try:
                os.link(draft, directory / FIRST_KEY_ID)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
    if not directory.is_dir():
        raise AccessError(f"{directory}: no such directory of signing keys (--keys, $CORRELATE_API_KEYS)")
    keys: dict[str, bytes] = {}
    for path in _key_files(directory):
        if not _KEY_ID.fullmatch(path.name):
            raise AccessError(f"{path}: a key id is letters, digits, '.', '_' and '-' (at most 64)")
        text = path.read_text(encoding="utf-8").strip()
        if len(text) < MIN_KEY_LENGTH:
            raise AccessError(f"{path}: key too short (at least {MIN_KEY_LENGTH} characters)")
        keys[path.name] = text.encode()
    return KeyRing(keys, str(directory))


def _key_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if not path.name.startswith(".") and path.is_file())


def parse_ttl(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``12h``, ``30d``, ``2w`` as seconds; from 1 s to :data:`MAX_TTL`."""
    match = _TTL.fullmatch(text.strip().lower())
    if match is None:
        raise AccessError(f"--ttl: {text!r} is not a duration (e.g. 90s, 15m, 12h, 30d)")
    seconds = float(match.group(1)) * _TTL_UNITS[match.group(2)]
    if not 1 <= seconds <= MAX_TTL:
        raise AccessError(f"--ttl: from 1 second to {MAX_TTL / 86_400:.0f} days, not {text!r}")
    return seconds


def mint(keys: KeyRing, claims: Claims, ttl: float = DEFAULT_TTL, now: float | None = None) -> str:
    """A token for ``claims`` (role, vendor, name), issued ``now``, expiring ``ttl`` seconds later, with a new id,
    signed with the ring's signing key."""
    issued = time.time() if now is None else now
    body: dict[str, object] = {
        "iss": ISSUER,
        "jti": secrets.token_urlsafe(12),
        "iat": int(issued),
        "exp": int(issued + ttl),
        "role": claims.role,
    }
    if claims.vendor is not None:
        body["vendor"] = claims.vendor
    if claims.name is not None:
        body["name"] = claims.name
    kid = keys.signing_id
    return jwt.encode(body, keys.keys[kid], algorithm=ALGORITHM, headers={"kid": kid})


def verify(keys: KeyRing, token: str, now: float | None = None) -> Claims:
    """The claims of a token signed with one of ``keys`` and not expired at ``now``; :class:`AccessError` with
    the reason for anything else."""
    claims = _signed_claims(keys, token)
    _check_expiry(claims, time.time() if now is None else now)
    return claims


def _signed_claims(keys: KeyRing, token: str) -> Claims:
    """The claims of a token whose signature is good, expired or not."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise AccessError(f"not a correlate token (longer than {MAX_TOKEN_LENGTH} characters)")
    if not token.isascii():
        raise AccessError("not a correlate token (tokens are ASCII: letters, digits, '-', '_' and '.')")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise AccessError("not a correlate token (expected a JWT: <header>.<claims>.<signature>)") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys.keys:
        raise AccessError(
            f"token signature cannot be checked: key id {kid!r} is not one of this API's keys (rotated out?)"
        )
    try:
        body = jwt.decode(
            token,
            keys.keys[kid],
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # Time is checked against the API's own clock (_check_expiry), not PyJWT's.
            options={"require": ["exp", "iat", "jti", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise AccessError(f"token signature does not match key {kid!r} of this API") from None
    except jwt.InvalidTokenError as error:
        raise AccessError(f"token refused: {error}") from None
    try:
        return Claims(
            role=str(body["role"]),
            vendor=body.get("vendor"),
            name=body.get("name"),
            issued_at=float(body["iat"]),
            expires_at=float(body["exp"]),
            token_id=str(body["jti"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise AccessError(f"token claims unreadable: {error}") from None


def _check_expiry(claims: Claims, now: float) -> None:
    if now >= claims.expires_at:
        when = datetime.fromtimestamp(claims.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise AccessError(f"token expired at {when}; ask for a new one (correlate token)")


@dataclass
class Verifier:
    """:func:`verify` with a memory of the tokens whose signature it has checked: an agent desktop polling the
    banner sends the same token hundreds of times, and the signature work is most of an authorisation's cost.
    Expiry and revocation are checked on every call, against ``clock`` and ``revoked`` (token ids, kept up to
    date by :class:`correlate.api.revocation.AccessRefresher`)."""

    keys: KeyRing
    clock: Callable[[], float] = time.time
    size: int = 4096
    revoked: Collection[str] = frozenset()
    _known: dict[str, Claims] = field(default_factory=dict, init=False, repr=False)

    def __call__(self, token: str) -> Claims:
        claims = self._known.get(token)
        if claims is None:
            claims = _signed_claims(self.keys, token)
            if len(self._known) >= self.size:
                self._known.clear()
            self._known[token] = claims
        _check_expiry(claims, self.clock())
        if claims.token_id in self.revoked:
            raise AccessError(f"token {claims.token_id} was revoked; ask for a new one (correlate token)")
        return claims

    def use_keys(self, keys: KeyRing) -> None:
        """Verify with ``keys`` from now on (a key rotated in or out): tokens checked with the old ring are
        checked again."""
        if keys != self.keys:
            self.keys = keys
            self._known.clear()


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where the keys and the API's state live: ``$CORRELATE_HOME``, else ``~/.correlate``."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("CORRELATE_HOME") or Path.home() / ".correlate")
