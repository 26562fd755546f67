"""``correlate token --revoke``: one token refused by every API replica sharing the store.

Apart from :mod:`correlate.api.commands` because it needs the store (the 'store' extra), which minting a token
does not.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import jwt

from correlate.api.access import AccessError
from correlate.extras import require

__all__ = ["revoke_command", "token_identity"]


def token_identity(text: str) -> tuple[str, float | None]:
    """The id (and expiry, if known) of a token given whole, or of a bare token id.

    The token's signature is not checked: revoking is the safe direction, and the one who revokes may hold a
    token signed with a key this machine no longer has.
    """
    text = text.strip()
    if text.count(".") != 2:
        if not text or len(text) > 128:
            raise AccessError("--revoke: give a token or a token id (its jti)")
        return text, None
    try:
        body = jwt.decode(text, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise AccessError(f"--revoke: not a readable token ({error})") from None
    token_id, expires = body.get("jti"), body.get("exp")
    if not isinstance(token_id, str) or not token_id:
        raise AccessError("--revoke: this token has no id (jti); rotate its signing key to refuse it")
    return token_id, float(expires) if isinstance(expires, int | float) else None


def revoke_command(text: str, home: Path, store: str | None) -> int:
    require("token --revoke", "store")
    from correlate.api.revocation import revoke
    from correlate.api.serve import read_state
    from correlate.store import IncidentStore

    token_id, expires = token_identity(text)
    url = store or os.environ.get("CORRELATE_STORE") or (read_state(home) or {}).get("store")
    if not url:
        raise AccessError("--revoke: no store to record it in (--store, $CORRELATE_STORE, or a running API)")

    async def record() -> None:
        target = IncidentStore.connect(str(url))
        try:
            await revoke(target.redis, token_id, expires)
        finally:
            await target.close()

    asyncio.run(record())
    print(
        f"correlate token: revoked {token_id}; every API sharing the store refuses it within a second", file=sys.stderr
    )
    return 0
