"""Bearer tokens: who they say the bearer is, how long, under which key, and what a forged, foreign, expired or
revoked token gets."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import jwt
import pytest

from correlate.api.access import (
    FIRST_KEY_ID,
    AccessError,
    Claims,
    KeyRing,
    Verifier,
    load_keys,
    mint,
    parse_ttl,
    verify,
)
from correlate.api.tokens import token_identity

KEY_A = "a" * 64
KEY_B = "b" * 64


def ring(tmp_path: Path, **keys: str) -> Path:
    """A key directory laid out as Kubernetes mounts a Secret: each key a symlink into a hidden ``..data``."""
    directory = tmp_path / "keys"
    data = directory / "..2025_06_01_00_00_00.000000001"
    data.mkdir(parents=True)
    (directory / "..data").symlink_to(data.name)
    for kid, text in keys.items():
        (data / kid).write_text(text + "\n")
        (directory / kid).symlink_to(f"..data/{kid}")
    return directory


def test_a_token_is_a_jwt_that_says_who_its_bearer_is_until_when(tmp_path: Path) -> None:
    keys = load_keys(tmp_path, create=True)
    token = mint(keys, Claims("vendor", vendor="sonique", name="ops@sonique"), ttl=3600, now=1_700_000_000)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": FIRST_KEY_ID}
    claims = verify(keys, token, now=1_700_000_100)
    assert (claims.role, claims.vendor, claims.name) == ("vendor", "sonique", "ops@sonique")
    assert (claims.issued_at, claims.expires_at) == (1_700_000_000, 1_700_003_600)
    other = verify(keys, mint(keys, Claims("vendor", vendor="sonique"), now=1_700_000_000), now=1_700_000_100)
    assert claims.token_id and other.token_id != claims.token_id, "every token has an id of its own"


def test_the_first_key_is_made_once_and_only_readable_by_its_owner(tmp_path: Path) -> None:
    first = load_keys(tmp_path / "keys", create=True)
    assert load_keys(tmp_path / "keys", create=True) == first
    assert [p.name for p in (tmp_path / "keys").iterdir()] == [FIRST_KEY_ID]
    assert stat.S_IMODE((tmp_path / "keys" / FIRST_KEY_ID).stat().st_mode) == 0o600


def test_a_mounted_secret_is_read_as_it_is_and_never_written(tmp_path: Path) -> None:
    directory = ring(tmp_path, **{"2025-01-01": KEY_A, "2025-06-01": KEY_B})
    keys = load_keys(directory)
    assert sorted(keys.keys) == ["2025-01-01", "2025-06-01"]
    assert keys.signing_id == "2025-06-01"
    with pytest.raises(AccessError, match="no such directory"):
        load_keys(tmp_path / "not-mounted")
    assert not (tmp_path / "not-mounted").exists()


def test_keys_rotate_without_refusing_the_tokens_of_the_old_key(tmp_path: Path) -> None:
    old = KeyRing({"2025-01-01": KEY_A.encode()})
    rotated = KeyRing({"2025-01-01": KEY_A.encode(), "2025-06-01": KEY_B.encode()})
    before = mint(old, Claims("agent"))
    after = mint(rotated, Claims("agent"))
    assert jwt.get_unverified_header(after)["kid"] == "2025-06-01", "the newest key signs"
    assert verify(rotated, before).role == verify(rotated, after).role == "agent"
    retired = KeyRing({"2025-06-01": KEY_B.encode()})
    with pytest.raises(AccessError, match="key id '2025-01-01' is not one of this API's keys"):
        verify(retired, before)


def test_an_expired_token_is_refused_with_when_it_expired(tmp_path: Path) -> None:
    keys = load_keys(tmp_path, create=True)
    token = mint(keys, Claims("agent"), ttl=60, now=1_700_000_000)
    assert verify(keys, token, now=1_700_000_059).role == "agent"
    with pytest.raises(AccessError, match=r"token expired at 2023-11-14T22:14:20Z"):
        verify(keys, token, now=1_700_000_060)


def test_the_verifier_refuses_a_remembered_token_once_it_expires_or_is_revoked(tmp_path: Path) -> None:
    keys = load_keys(tmp_path, create=True)
    clock = [1_700_000_000.0]
    check = Verifier(keys, lambda: clock[0])
    short, other = mint(keys, Claims("agent"), ttl=60, now=clock[0]), mint(keys, Claims("noc"), now=clock[0])
    assert check(short).role == "agent" and check(other).role == "noc"
    clock[0] += 60
    with pytest.raises(AccessError, match="expired"):
        check(short)
    check.revoked = frozenset({check(other).token_id})
    with pytest.raises(AccessError, match=r"token \S+ was revoked"):
        check(other)


def test_the_verifier_forgets_what_a_retired_key_signed(tmp_path: Path) -> None:
    old = KeyRing({"k1": KEY_A.encode()})
    check = Verifier(old)
    token = mint(old, Claims("agent"))
    assert check(token).role == "agent"
    check.use_keys(KeyRing({"k2": KEY_B.encode()}))
    with pytest.raises(AccessError, match="not one of this API's keys"):
        check(token)


def test_a_token_from_another_stack_is_refused(tmp_path: Path) -> None:
    ours, theirs = load_keys(tmp_path / "a", create=True), load_keys(tmp_path / "b", create=True)
    token = mint(theirs, Claims("noc"))
    with pytest.raises(AccessError, match="signature") as caught:
        verify(ours, token)
    assert token not in str(caught.value)


def test_changed_claims_or_another_algorithm_break_the_token(tmp_path: Path) -> None:
    keys = load_keys(tmp_path, create=True)
    header, _claims, mac = mint(keys, Claims("vendor", vendor="sonique")).split(".")
    forged_claims = mint(KeyRing({FIRST_KEY_ID: b"x" * 32}), Claims("noc")).split(".")[1]
    with pytest.raises(AccessError, match="signature"):
        verify(keys, f"{header}.{forged_claims}.{mac}")
    unsigned = jwt.encode({"role": "noc", "exp": 2**40}, None, algorithm="none", headers={"kid": FIRST_KEY_ID})
    with pytest.raises(AccessError, match="refused"):
        verify(keys, unsigned)


@pytest.mark.parametrize("text", ["", "Bearer", "cor1.abc", "a.b.c", "a.b.c.d"])
def test_garbage_is_refused_with_a_reason(tmp_path: Path, text: str) -> None:
    with pytest.raises(AccessError, match="token"):
        verify(load_keys(tmp_path, create=True), text)


@pytest.mark.parametrize(
    ("role", "vendor"), [("vendor", None), ("agent", "sonique"), ("boss", None), ("vendor", "Not An Id")]
)
def test_claims_that_make_no_sense_are_refused(role: str, vendor: str | None) -> None:
    with pytest.raises(AccessError):
        Claims(role, vendor)


def test_the_verifier_remembers_good_tokens_only(tmp_path: Path) -> None:
    keys = load_keys(tmp_path, create=True)
    check = Verifier(keys, size=2)
    tokens = [mint(keys, Claims("agent", name=f"a{i}")) for i in range(3)]
    assert [check(token).name for token in tokens + tokens] == ["a0", "a1", "a2", "a0", "a1", "a2"]
    forged = tokens[0][:-2] + ("AA" if not tokens[0].endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(AccessError):
            check(forged)


@pytest.mark.parametrize(
    "text",
    ["e30.\u00e9.\u00e9", "e30.abc.d\u00e9f", "e30.\udcc3\udca9.x", "e30." + "a" * 5000 + ".b"],
    ids=["accented", "accented-mac", "undecodable-bytes", "overlong"],
)
def test_non_ascii_and_overlong_tokens_are_refused_not_crashed_on(tmp_path: Path, text: str) -> None:
    with pytest.raises(AccessError, match="not a correlate token"):
        verify(load_keys(tmp_path, create=True), text)


def test_short_keys_and_odd_key_names_are_refused_with_the_file(tmp_path: Path) -> None:
    with pytest.raises(AccessError, match=r"short.*at least 32"):
        load_keys(ring(tmp_path / "short", k1="short"))
    with pytest.raises(AccessError, match="key id"):
        load_keys(ring(tmp_path / "odd", **{"k 1": KEY_A}))


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("12h", 43_200), ("30d", 2_592_000), ("2w", 1_209_600)]
)
def test_ttl_reads_as_people_write_it(text: str, seconds: float) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["0", "soon", "-5m", "500d"])
def test_a_ttl_out_of_range_is_refused(text: str) -> None:
    with pytest.raises(AccessError, match="--ttl"):
        parse_ttl(text)


def test_revoking_takes_a_whole_token_or_its_id(tmp_path: Path) -> None:
    keys = load_keys(tmp_path, create=True)
    token = mint(keys, Claims("agent"), ttl=60, now=time.time())
    token_id = verify(keys, token).token_id
    assert token_identity(token) == (token_id, pytest.approx(time.time() + 60, abs=5))
    assert token_identity(token_id) == (token_id, None)
