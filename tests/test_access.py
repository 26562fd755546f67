"""Bearer tokens: who they say the bearer is, and what a forged or foreign token gets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from correlate.api.access import AccessError, Claims, Verifier, load_secret, mint, verify


def test_a_token_says_who_its_bearer_is(tmp_path: Path) -> None:
    secret = load_secret(tmp_path)
    token = mint(secret, Claims("vendor", vendor="sonique", name="ops@sonique", issued_at=1_700_000_000))
    assert token.startswith("cor1.")
    assert verify(secret, token) == Claims("vendor", "sonique", "ops@sonique", 1_700_000_000)


def test_the_secret_is_made_once_and_only_readable_by_its_owner(tmp_path: Path) -> None:
    first = load_secret(tmp_path / "home")
    assert load_secret(tmp_path / "home") == first
    mode = stat.S_IMODE((tmp_path / "home" / "api-secret").stat().st_mode)
    assert mode == 0o600


def test_a_token_from_another_stack_is_refused(tmp_path: Path) -> None:
    ours, theirs = load_secret(tmp_path / "a"), load_secret(tmp_path / "b")
    token = mint(theirs, Claims("noc"))
    with pytest.raises(AccessError, match="signature") as caught:
        verify(ours, token)
    assert token not in str(caught.value)


def test_changed_claims_break_the_signature(tmp_path: Path) -> None:
    secret = load_secret(tmp_path)
    prefix, _claims, mac = mint(secret, Claims("vendor", vendor="sonique")).split(".")
    forged_claims = mint(b"x" * 32, Claims("noc")).split(".")[1]
    with pytest.raises(AccessError):
        verify(secret, f"{prefix}.{forged_claims}.{mac}")


@pytest.mark.parametrize("text", ["", "Bearer", "cor1.abc", "cor2.a.b", "a.b.c.d"])
def test_garbage_is_refused_with_a_reason(tmp_path: Path, text: str) -> None:
    with pytest.raises(AccessError, match="token"):
        verify(load_secret(tmp_path), text)


@pytest.mark.parametrize(
    ("role", "vendor"), [("vendor", None), ("agent", "sonique"), ("boss", None), ("vendor", "Not An Id")]
)
def test_claims_that_make_no_sense_are_refused(role: str, vendor: str | None) -> None:
    with pytest.raises(AccessError):
        Claims(role, vendor)


def test_the_verifier_remembers_good_tokens_only(tmp_path: Path) -> None:
    secret = load_secret(tmp_path)
    check = Verifier(secret, size=2)
    tokens = [mint(secret, Claims("agent", name=f"a{i}")) for i in range(3)]
    assert [check(token).name for token in tokens + tokens] == ["a0", "a1", "a2", "a0", "a1", "a2"]
    forged = tokens[0][:-2] + ("AA" if not tokens[0].endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(AccessError):
            check(forged)


@pytest.mark.parametrize(
    "text",
    ["cor1.\u00e9.\u00e9", "cor1.abc.d\u00e9f", "cor1.\udcc3\udca9.x", "cor1." + "a" * 5000 + ".b"],
    ids=["accented", "accented-mac", "undecodable-bytes", "overlong"],
)
def test_non_ascii_and_overlong_tokens_are_refused_not_crashed_on(tmp_path: Path, text: str) -> None:
    """hmac.compare_digest raises TypeError for non-ASCII text: such a header was a 500 (issue 21)."""
    with pytest.raises(AccessError, match="not a correlate token"):
        verify(load_secret(tmp_path), text)
