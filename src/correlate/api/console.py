"""The agent console page and the headers that keep it to itself.

The page is one static file whose script and style are inline; its Content-Security-Policy allows exactly
those two blocks (by their SHA-256), requests to this API only, and nothing else: no other script, no
plugin, no form posted elsewhere, no ``<base>``. So text from the API that slipped into the page as markup
could not run. It may not be framed (``X-Frame-Options: DENY``, ``frame-ancestors 'none'``) unless origins are
named for an agent desktop that embeds the banner widget; then only those (CSP alone: X-Frame-Options cannot
name several origins, and browsers that know frame-ancestors ignore it).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files

__all__ = ["Console"]

_BLOCK = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL) for tag in ("script", "style")}
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _hashes(page: str, tag: str) -> str:
    digests = [hashlib.sha256(block.encode()).digest() for block in _BLOCK[tag].findall(page)]
    return " ".join(f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests) or "'none'"


@dataclass(frozen=True)
class Console:
    page: str
    headers: Mapping[str, str]

    @classmethod
    def load(cls, frame_ancestors: Sequence[str] = ()) -> Console:
        """The page from the package, with its headers. ``frame_ancestors``: origins (``https://desk.example``)
        that may frame it; ValueError for anything else, as a policy with a stray word in it means another."""
        for origin in frame_ancestors:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"frame ancestor {origin!r} is not an origin like https://desk.example:8443")
        page = (files("correlate.api") / "console.html").read_text(encoding="utf-8")
        policy = [
            "default-src 'none'",
            f"script-src {_hashes(page, 'script')}",
            f"style-src {_hashes(page, 'style')}",
            "connect-src 'self'",
            "img-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors " + (" ".join(frame_ancestors) or "'none'"),
        ]
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": "; ".join(policy)}
        if not frame_ancestors:
            headers["X-Frame-Options"] = "DENY"
        return cls(page, headers)
