"""Texts that recur word for word across customers over days: form letters, macros, canned openers.

A form letter that three consumers send within an hour is not three customers describing a fault: they copied
one text that circulates. What tells the two apart is time: a fault's customers write in the hour it happens,
a template comes back, day after day. So a text is a *template* once at least ``min_writers`` distinct writers
sent it word for word (after normalisation), at least one of them more than ``apart`` (the symptom window)
earlier: it was written before the window in which it would count. A copies control (a fault whose customers
all send one narrative word for word) is still a fault: nobody sent that text before the fault.

Memory: one record per distinct normalised text seen in the ``horizon`` (a 64-bit digest, the first few
writers, when it was first and last seen), dropped a horizon after it was last seen.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field

__all__ = ["TemplateBook"]


@dataclass(slots=True)
class _Record:
    first_ts: float
    last_ts: float
    writers: dict[str, float] = field(default_factory=dict)  # the first few writers -> when they first sent it


class TemplateBook:
    """Learns which texts are templates; :meth:`observe` answers for one text, then learns from it."""

    def __init__(self, *, min_writers: int = 2, apart: float = 3600.0, horizon: float = 7 * 86_400.0) -> None:
        self.min_writers = min_writers
        self.apart = apart
        self.horizon = horizon
        self._records: dict[int, _Record] = {}
        self._seen: deque[tuple[float, int]] = deque()  # (ts, digest) in arrival order, for forgetting

    def __len__(self) -> int:
        return len(self._records)

    def observe(self, normalised: str, writer: str, ts: float) -> bool:
        """Whether the text was a template before this writer sent it at ``ts``; then remember this writer."""
        self._forget(ts)
        key = _digest(normalised)
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record(ts, ts)
        template = self._is_template(record, writer, ts)
        if writer not in record.writers and len(record.writers) < self.min_writers + 1:
            record.writers[writer] = ts
        if ts > record.last_ts:
            record.last_ts = ts
        self._seen.append((ts, key))
        return template

    def _is_template(self, record: _Record, writer: str, ts: float) -> bool:
        others = [when for who, when in record.writers.items() if who != writer and when <= ts]
        return len(others) >= self.min_writers and min(others) <= ts - self.apart

    def _forget(self, now: float) -> None:
        seen, records = self._seen, self._records
        while seen and seen[0][0] < now - self.horizon:
            key = seen.popleft()[1]
            record = records.get(key)
            if record is not None and record.last_ts < now - self.horizon:
                del records[key]


def _digest(normalised: str) -> int:
    """A stable 64-bit digest (not ``hash()``, which changes per process)."""
    return int.from_bytes(hashlib.blake2b(normalised.encode(), digest_size=8).digest(), "little")
