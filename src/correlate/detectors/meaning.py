"""Customers describing one thing in their own words: texts close in meaning, rare for their scope.

The symptom detector's MinHash pass groups texts that share their letters. Real customers share the meaning
and little else, so texts the first pass cannot place (see :mod:`correlate.detectors.symptom`) come here, as
256-bit codes of a static sentence embedding (:mod:`correlate.detectors.embedding`); the Hamming distance of
two codes estimates the angle between the texts. The texts it placed in an everyday complaint come too, with
that complaint's code: they are what is usual on their scope, counted in the balls and histories below but
never a ball's centre.

The scan (a scan statistic over balls in meaning space, per scope)
-------------------------------------------------------------------
For each text that arrives, and each scope it belongs to (one dimension value: a company, a model, a region),
and each radius of a fixed grid (cosine 0.2 to 0.9):

* ``observed``: the distinct writers of the texts in the last ``window`` on that scope within the radius of it,
  the text's own writer included. A ball needs ``min_customers`` writers to be tested further.
* ``expected``: the texts of the scope's own history within the same radius, per window:
  ``(H + 0.5) * window / max(span, window)``, with ``H`` the larger of the scope's count and the count over
  all scopes times the scope's share of all texts (a scope seen little so far is judged by the centre's
  history, as the MinHash pass does), and ``span`` how far the history reaches back. What is everyday on the
  scope is not news there, however rare it is elsewhere; what is everyday elsewhere can be news on one scope.
* ``p_value = P(X >= observed)``, ``X ~ Poisson(expected)``, reported when below the rate detector's budget
  (:func:`correlate.detectors.tail.per_test_threshold`): ``false_alarms_per_day`` split over the tests of a
  day, one per text, scope and radius (each ball is tested when its centre arrives), counted at the rate
  texts reach the window. One scope reports at most one ball per step, its most significant, with the ball's
  texts as exemplars (the centre first, then the closest).
* *Home*: a ball is reported on the narrowest scope that holds all its texts (the values they all share, cut
  as the caller cuts a scope: ``home``), not on the scope it was tested on. The writers of one company share
  its product and often a state: the balls around their texts on each of those are one cluster, reported once,
  on the company and what else they share. A step reports the most significant balls first, and no writer
  twice.

The radii are a grid, not a tuned value: static sentence vectors of long narratives sit closer together
than those of short messages, and a scan over radii finds the scale at which a scope's texts bunch up.

Codes are measured from the centre's own mean direction (:class:`correlate.detectors.embedding.Centre`): the
texts of the warm-up teach it, wait until it is fixed, then go into the histories (or the window) with their
codes, so that every code compares with every other.

Memory: the window's texts (code, writer, scopes, text) and, per scope and for the centre, the codes and times
of the texts that left the window in the horizon: 32 bytes of code and 8 of time per text and scope, in
arrays. A history holds at most ``history_limit`` texts (the newest; its span shrinks accordingly), so memory
and the cost of a look-up stay bounded on the busiest scope. Only a ball that reached ``min_customers``
writers in the window looks its history up, once per text and scope while it stays in the window (recounted
after a tenth of a window). Deterministic: integer codes, arrays in arrival order, no hashing of strings.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import pdtrc

from correlate.detectors.embedding import CODE_WORDS, Centre, Codes, distances, hamming_radius
from correlate.detectors.tail import per_test_threshold
from correlate.scope import Scope

__all__ = ["MeaningCluster", "MeaningScan", "Text"]

SIMILARITIES: Final = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # the radii scanned, as cosine similarities
_PRIOR: Final = 0.5
_DAY: Final = 86_400.0
_EVERYWHERE: Final = ""  # the key of the history over all scopes
_EXEMPLARS: Final = 3
_WARMING_LIMIT: Final = 1 << 14  # warm-up texts kept to be coded, the newest (all of them count in the centre)


@dataclass(frozen=True, slots=True)
class Text:
    """One text for the scan: who wrote it, when, the scopes it belongs to, and its code."""

    ts: float
    writer: str
    scopes: tuple[Scope, ...]
    text: str
    direction: npt.NDArray[np.float32]  # see correlate.detectors.embedding (StaticEmbedding.directions)
    centre: bool = True  # False: an everyday text, counted in the balls and histories, never tested itself


class MeaningCluster(NamedTuple):
    scope: Scope
    observed: int  # distinct writers in the ball
    expected: float
    p_value: float
    exemplars: tuple[str, ...]  # the ball's texts, its centre first, then the closest
    threshold: float  # the p-value it had to beat
    tests: int  # tests a day, over which the budget is split


@dataclass(slots=True)
class _History:
    """Codes and times of texts that left the window, oldest first, in a growing ring of arrays."""

    limit: int
    codes: Codes = field(default_factory=lambda: np.zeros((16, CODE_WORDS), dtype=np.uint64))
    times: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(16))
    start: int = 0
    end: int = 0

    def __len__(self) -> int:
        return self.end - self.start

    def add(self, ts: float, code: Codes) -> None:
        if self.end == len(self.times):
            live = self.end - self.start
            size = max(16, 2 * live) if live >= len(self.times) // 2 else len(self.times)
            codes = np.zeros((size, CODE_WORDS), dtype=np.uint64)
            times = np.zeros(size)
            codes[:live], times[:live] = self.codes[self.start : self.end], self.times[self.start : self.end]
            self.codes, self.times, self.start, self.end = codes, times, 0, live
        self.codes[self.end], self.times[self.end] = code, ts
        self.end += 1
        if self.end - self.start > self.limit:
            self.start += 1

    def prune(self, since: float) -> None:
        if self.start < self.end and self.times[self.start] < since:
            self.start += int(np.searchsorted(self.times[self.start : self.end], since, side="left"))

    def oldest(self) -> float | None:
        return float(self.times[self.start]) if self.start < self.end else None

    def within(self, code: Codes, radii: Sequence[int]) -> list[int]:
        """How many texts lie within each radius of ``code`` (one pass: a histogram of the distances)."""
        found = distances(code[np.newaxis], self.codes[self.start : self.end])[0]
        cumulative = np.cumsum(np.bincount(found, minlength=CODE_WORDS * 64 + 1))
        return [int(cumulative[radius]) for radius in radii]


@dataclass(slots=True, eq=False)
class _Entry:
    text: Text
    code: Codes
    ball: dict[Scope, tuple[float, list[int], float]] = field(default_factory=dict)  # scope -> (when, H, span)
    everywhere: tuple[float, list[int]] | None = None  # (when, the centre's history within each radius)


class MeaningScan:
    """The scan of the module docstring. Feed texts with :meth:`add`, then call :meth:`close_step`."""

    def __init__(
        self,
        *,
        window: float = 3600.0,
        min_customers: int = 3,
        horizon: float = 7 * 86_400.0,
        false_alarms_per_day: float = 0.05,
        history_limit: int = 4096,
        similarities: Sequence[float] = SIMILARITIES,
        encode: Callable[[npt.NDArray[np.float32], Centre | None], Codes],
        home: Callable[[set[tuple[str, str]]], Scope] | None = None,
    ) -> None:
        self.window = window
        self.min_customers = min_customers
        self.horizon = horizon
        self.false_alarms_per_day = false_alarms_per_day
        self.history_limit = history_limit
        self.radii = sorted({hamming_radius(s) for s in similarities}, reverse=True)  # loosest first
        self.home = home  # the scope of (name, value) pairs a ball's texts all share, as the caller cuts it
        self._window: deque[_Entry] = deque()
        self._codes: Codes = np.zeros((0, CODE_WORDS), dtype=np.uint64)  # of the window, in order
        self._new: list[Text] = []
        self._histories: dict[str, _History] = {}
        self._first_ts: float | None = None
        self._hot: dict[Scope, list[_Entry]] = {}  # reported balls, while they hold min_customers writers
        self._encode = encode
        self._centre = Centre()  # learned from the texts of the warm-up, then fixed
        self._warming: list[Text] = []  # the warm-up's texts, coded once the centre is fixed
        self._in_window: Counter[Scope] = Counter()  # texts per scope in the window
        self._cells = 0  # (centre text, scope) pairs in the window: the tests, before radii

    def __len__(self) -> int:
        """Texts in the window."""
        return len(self._window)

    def add(self, text: Text) -> None:
        self._new.append(text)
        if self._first_ts is None or text.ts < self._first_ts:
            self._first_ts = text.ts

    def close_step(self, step_end: float, report: bool, watched_since: float | None = None) -> list[MeaningCluster]:
        """The balls that qualify at ``step_end`` (none unless ``report``: the caller's warm-up). ``watched_since``:
        when the caller began watching contacts, with or without text (a day without texts is a day in which
        nothing was described)."""
        if watched_since is not None and (self._first_ts is None or watched_since < self._first_ts):
            self._first_ts = watched_since
        window_start = step_end - self.window
        if not self._centre.frozen and not self._warm_up(report, window_start):
            return []
        self._age_out(window_start)
        arrived, self._new = [text for text in self._new if text.ts > window_start], []
        new = []
        if arrived:
            codes = self._encode(np.stack([text.direction for text in arrived]), self._centre)
            new = [_Entry(text, code) for text, code in zip(arrived, codes, strict=True)]
            self._window.extend(new)
            self._codes = np.concatenate([self._codes, codes])
            for entry in new:
                self._count(entry.text, +1)
        hot: dict[Scope, list[_Entry]] = {}
        for scope, members in self._hot.items():
            kept = [member for member in members if member.text.ts > window_start]
            if len({member.text.writer for member in kept}) >= self.min_customers:
                hot[scope] = kept
        self._hot = hot
        if not new or not report:
            return []
        cells = self._cells * len(self.radii)
        tests = max(1, round(cells * _DAY / self.window))  # per day, at the rate texts fill the window
        threshold = per_test_threshold(self.false_alarms_per_day, tests)
        offset = len(self._window) - len(new)
        centres = [(offset + i, entry) for i, entry in enumerate(new) if entry.text.centre]
        near = distances(self._codes[[i for i, _ in centres]], self._codes)  # centres x window texts
        best: dict[Scope, tuple[float, MeaningCluster, list[_Entry]]] = {}
        entries = list(self._window)
        in_window = self._in_window
        for row, (_, entry) in enumerate(centres):
            for scope in entry.text.scopes:
                if in_window[scope] < self.min_customers:
                    continue  # too few texts on the scope this hour for any ball to hold min_customers writers
                balls = self._balls(entry, scope, near[row], entries, step_end, window_start, threshold, tests)
                for cluster, members in balls:
                    if cluster.p_value <= threshold and (scope not in best or cluster.p_value < best[scope][0]):
                        best[scope] = (cluster.p_value, cluster, members)
        return self._reported(best.values())

    def _reported(self, balls: Iterable[tuple[float, MeaningCluster, list[_Entry]]]) -> list[MeaningCluster]:
        """The balls reported, each on its home (:meth:`_home_of`): the most significant first, then each ball
        none of whose writers is in one already reported, one per home. A ball's writers are often in several
        of the scopes scanned (three customers of one company also share its product, often a state): the
        balls around their texts on each are one cluster, told once, where its writers are."""
        reported: dict[Scope, MeaningCluster] = {}
        told: set[str] = set()
        for _, cluster, members in sorted(balls, key=lambda ball: (ball[0], ball[1].scope)):
            writers = {member.text.writer for member in members}
            home = self._home_of(members, cluster.scope)
            if home in reported or not told.isdisjoint(writers):
                continue
            told |= writers
            reported[home] = cluster._replace(scope=home)
            self._hot[home] = members
        return list(reported.values())

    def _home_of(self, members: Sequence[_Entry], tested: Scope) -> Scope:
        """The narrowest scope holding every text of a ball: the values all of them share (``home``, the
        caller's order and depth), or the scope it was tested on without ``home``."""
        if self.home is None:
            return tested
        shared = set(pair for scope in members[0].text.scopes for pair in scope)
        for member in members[1:]:
            shared.intersection_update(pair for scope in member.text.scopes for pair in scope)
        return self.home(shared) or tested

    def _warm_up(self, report: bool, window_start: float) -> bool:
        """Learn the centre from the texts until the caller reports; then fix it, file the warm-up's texts older
        than the window in the histories and leave the others to arrive. Whether the scan is warm."""
        if self._new:
            self._centre.add(np.stack([text.direction for text in self._new]))
            self._warming.extend(self._new)
            self._new = []
            if len(self._warming) > _WARMING_LIMIT:
                del self._warming[: len(self._warming) - _WARMING_LIMIT]
        if not report:
            return False
        self._centre.frozen = True
        warming, self._warming = sorted(self._warming, key=lambda text: text.ts), []
        old = [text for text in warming if text.ts <= window_start]
        self._new = [text for text in warming if text.ts > window_start]
        if old:
            codes = self._encode(np.stack([text.direction for text in old]), self._centre)
            for text, code in zip(old, codes, strict=True):
                self._file(text, code)
        return True

    def hot_scopes(self) -> list[Scope]:
        """The scopes of reported balls whose texts in the window still come from ``min_customers`` writers."""
        return list(self._hot)

    def _balls(
        self,
        entry: _Entry,
        scope: Scope,
        near: npt.NDArray[np.int64],
        entries: list[_Entry],
        now: float,
        window_start: float,
        threshold: float,
        tests: int,
    ) -> list[tuple[MeaningCluster, list[_Entry]]]:
        """The ball around ``entry`` on ``scope`` at each radius that holds ``min_customers`` writers."""
        found: list[tuple[MeaningCluster, list[_Entry]]] = []
        loose = np.flatnonzero(near <= self.radii[0])
        on_scope = sorted((int(near[i]), i) for i in loose.tolist() if scope in entries[i].text.scopes)
        if len({entries[i].text.writer for _, i in on_scope}) < self.min_customers:
            return found
        for k, radius in enumerate(self.radii):
            inside = [i for distance, i in on_scope if distance <= radius]
            writers = len({entries[i].text.writer for i in inside})
            if writers < self.min_customers:
                break  # the radii shrink: the balls inside hold fewer still
            within, span = self._history_near(entry, scope, now, window_start)
            expected = (within[k] + _PRIOR) * self.window / max(span, self.window)
            p_value = float(pdtrc(writers - 1, expected))
            exemplars = tuple(dict.fromkeys(entries[i].text.text for i in inside))[:_EXEMPLARS]
            members = [entries[i] for i in inside]
            cluster = MeaningCluster(scope, writers, expected, p_value, exemplars, threshold, tests)
            found.append((cluster, members))
        return found

    def _history_near(self, entry: _Entry, scope: Scope, now: float, window_start: float) -> tuple[list[int], float]:
        """Texts of the scope's history within each radius of the entry (the larger of the scope's own count and
        the centre's count times the scope's share), and the history's span; remembered for a tenth of a
        window."""
        known = entry.ball.get(scope)
        if known is not None and known[0] > now - self.window / 10:
            return known[1], known[2]
        since = window_start - self.horizon
        watched = window_start - (self._first_ts if self._first_ts is not None else window_start)
        everywhere = self._histories.get(_EVERYWHERE)
        mine = self._histories.get(_key(scope))
        code = entry.code
        counts = [0] * len(self.radii)
        span = max(0.0, min(self.horizon, watched))
        if everywhere is not None and len(everywhere):
            everywhere.prune(since)
            span_all = _span(everywhere, window_start, watched, self.horizon)
            if entry.everywhere is None or entry.everywhere[0] <= now - self.window / 10:
                entry.everywhere = (now, everywhere.within(code, self.radii))
            all_counts = entry.everywhere[1]
            # The scope's share of all texts, its window included: a value seen for the first time this hour
            # is judged by the centre's history in proportion, not taken for one that never speaks.
            in_window = self._in_window.get(scope, 0)
            total_rate = (len(everywhere) + len(self._window)) / max(span_all + self.window, self.window)
            own: list[int] | None = None
            span_mine = 0.0
            if mine is not None and len(mine):
                mine.prune(since)
                span_mine = _span(mine, window_start, watched, self.horizon)
                own = mine.within(code, self.radii)
            mine_rate = ((len(mine) if mine is not None else 0) + in_window) / max(span_mine + self.window, self.window)
            share = min(1.0, mine_rate / total_rate) if total_rate else 0.0
            if own is None:
                counts = [round(a * share) for a in all_counts]
            else:
                # Both as counts over the centre's span, so that they compare.
                scale = max(span_all, self.window) / max(span_mine, self.window)
                counts = [max(round(o * scale), round(a * share)) for o, a in zip(own, all_counts, strict=True)]
            span = span_all
        entry.ball[scope] = (now, counts, span)
        return counts, span

    def _age_out(self, window_start: float) -> None:
        window, gone = self._window, 0
        while window and window[0].text.ts <= window_start:
            entry = window.popleft()
            gone += 1
            self._count(entry.text, -1)
            self._file(entry.text, entry.code)
        if gone:
            self._codes = self._codes[gone:]

    def _count(self, text: Text, sign: int) -> None:
        """Add (+1) or remove (-1) a text to or from the window's counts per scope and of cells."""
        in_window = self._in_window
        for scope in text.scopes:
            left = in_window[scope] + sign
            if left:
                in_window[scope] = left
            else:
                del in_window[scope]
        if text.centre:
            self._cells += sign * len(text.scopes)

    def _file(self, text: Text, code: Codes) -> None:
        """Into the history of each of its scopes and of the centre."""
        self._history(_EVERYWHERE).add(text.ts, code)
        for scope in text.scopes:
            self._history(_key(scope)).add(text.ts, code)

    def _history(self, key: str) -> _History:
        history = self._histories.get(key)
        if history is None:
            history = self._histories[key] = _History(self.history_limit)
        return history


def _span(history: _History, window_start: float, watched: float, horizon: float) -> float:
    """How far a history reaches back from the window: what was watched, or less if the history was cut."""
    oldest = history.oldest()
    reach = watched if oldest is None or len(history) < history.limit else window_start - oldest
    return max(0.0, min(horizon, watched, reach))


def _key(scope: Scope) -> str:
    return repr(scope)
