"""Texts that recur word for word across customers over days: form letters, macros, canned openers.

A form letter that three consumers send within an hour is not three customers describing a fault: they copied
one text that circulates. What tells the two apart is time: a fault's customers write in the hour it happens,
a template comes back, day after day. So a text is a *template* once at least ``min_writers`` distinct writers
sent it word for word (after normalisation), at least one of them more than ``apart`` (the symptom window)
earlier: it was written before the window in which it would count. A copies control (a fault whose customers
all send one narrative word for word) is still a fault: nobody sent that text before the fault.

Memory: per distinct normalised text seen in the ``horizon`` (the symptom detector keeps three days: a form
letter that circulates comes back within them), a 64-bit digest with its first writer and time; the first few
writers once a second one sends it. Dropped a horizon after it was last seen.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field

__all__ = ["TemplateBook", "digest"]


@dataclass(slots=True)
class _Record:
    """A text sent by two writers or more."""

    last_ts: float
    writers: dict[str, float] = field(default_factory=dict)  # the first few writers -> when they first sent it


class TemplateBook:
    """Learns which texts are templates; :meth:`observe` answers for one text, then learns from it.

    Most texts are written once: they are kept as one small tuple until a second writer sends the same words.
    """

    def __init__(self, *, min_writers: int = 2, apart: float = 3600.0, horizon: float = 86_400.0) -> None:
        self.min_writers = min_writers
        self.apart = apart
        self.horizon = horizon
        self._once: dict[int, tuple[float, str]] = {}  # digest -> (when, writer) of a text one writer sent
        self._records: dict[int, _Record] = {}
        self._seen: deque[tuple[float, int]] = deque()  # (first seen, digest), for forgetting

    def __len__(self) -> int:
        return len(self._once) + len(self._records)

    def observe(self, normalised: str, writer: str, ts: float) -> bool:
        """Whether the text was a template before this writer sent it at ``ts``; then remember this writer."""
        return self.observe_digest(digest(normalised), writer, ts)

    def observe_digest(self, key: int, writer: str, ts: float) -> bool:
        """:meth:`observe` for a text known by its :func:`digest` (a sketch carries it: computed once per text,
        not once per contact)."""
        if self._seen and self._seen[0][0] < ts - self.horizon:
            self._forget(ts)
        record = self._records.get(key)
        if record is None:
            once = self._once.get(key)
            if once is None:
                self._once[key] = (ts, writer)
                self._seen.append((ts, key))
                return False
            if once[1] == writer:
                self._once[key] = (once[0], writer) if once[0] <= ts else (ts, writer)
                return False
            del self._once[key]
            record = self._records[key] = _Record(max(once[0], ts), {once[1]: once[0]})
        others = [when for who, when in record.writers.items() if who != writer and when <= ts]
        template = len(others) >= self.min_writers and min(others) <= ts - self.apart
        if writer not in record.writers and len(record.writers) <= self.min_writers:
            record.writers[writer] = ts
        record.last_ts = max(record.last_ts, ts)
        return template

    def _forget(self, now: float) -> None:
        seen, since = self._seen, now - self.horizon
        while seen and seen[0][0] < since:
            key = seen.popleft()[1]
            once = self._once.get(key)
            if once is not None:
                if once[0] < since:
                    del self._once[key]
                else:
                    seen.append((once[0], key))
                continue
            record = self._records.get(key)
            if record is not None:
                if record.last_ts < since:
                    del self._records[key]
                else:
                    seen.append((record.last_ts, key))


def digest(normalised: str) -> int:
    """A stable 64-bit digest (not ``hash()``, which changes per process)."""
    return int.from_bytes(hashlib.blake2b(normalised.encode(), digest_size=8).digest(), "little")
