"""The rare-symptom detector: a few customers describing the same unusual fault, in their own words.

"Three customers who cannot post a comment are evidence; the burden of proof is not on them." Free texts are
grouped into *symptoms* by near-duplicate matching (:mod:`correlate.detectors.similarity`); a text matching no
symptom may still join a rare symptom seen in the window (a rewording): at similarity minus 0.15, or by sharing
that much of its rare words ("my receipt has a stranger's name" and "got a receipt with another customer's
name", see ``_reworded``). At the end of a step, a symptom's texts from the last ``window`` seconds form a
*cluster*; a cluster from ``min_customers`` distinct reporters who wrote it independently, whose symptom is
rare, is reported as a ``symptom`` finding.

Counting: a customer repeating the same text on three channels is one reporter, a partner's aggregated record
(``count > 1``) is ``count`` reporters. A customer's dimension values are pooled over their contacts. *Writers*:
each customer is one, and so is each partner, whatever it sends: a partner's record stands for many reporters
but its text was written once, by the partner. A batch of twelve reporters whose summary is an everyday
complaint with a typo ("ojher") is not twelve customers describing something new; the partner's reporters are
the rate detector's evidence (tested against the partner's usual batches), and they count here as soon as
other writers describe the same thing.

Scope: the dimension values all reporters of the cluster share, cut to ``max_depth`` pairs, owned dimensions
first (in their order), then the others by name. No shared value, no finding. A mixed cluster is also split by
each owned dimension (one sub-cluster per brand), so that a rare fault on one brand is not hidden by the same
words about another. A symptom reports at most one cluster per step: its most significant.

Rarity (the rule). History is the reporters who left the window in the ``rarity_horizon`` before it, each
customer counted once per window, of the symptom and of its neighbours (symptoms that had ``min_customers``
reporters, within similarity minus 0.15 of one of the cluster's texts: a common complaint's stray misspellings
are no new fault; unless ``min_customers`` writers of the cluster share a word rare in the history that is no
misspelling of an everyday word: then they name something new, whatever boilerplate they share with an everyday
complaint). ``span`` is how long the detector has watched, at most the horizon.

* *rare*: fewer than ``min_customers`` reporters a day in that history, all scopes together. A complaint
  common every day ("my remote doesn't work") is never rare, however sharply it peaks or however small the
  scope where three customers write it; its peaks are the rate detectors' work.
* ``expected = (H + 0.5) * window / max(span, window)`` reporters per window on the cluster's scope, with
  ``H`` the larger of the history on the scope and the history everywhere times the scope's share of all
  texts. The half reporter is a prior: no history is not certainty.
* ``p_value = P(X >= observed)`` for ``X ~ Poisson(expected)``; a rare cluster is reported when
  ``p_value <= alpha / tests`` (Bonferroni). ``tests`` counts every (symptom, scope) cell with a reporter in
  the window, not only the clusters that reached ``min_customers``: any cell could have, and with a hundred
  complaints over a thousand scopes, three in an hour somewhere is no surprise.
* Warm-up: nothing is reported before the detector has watched contacts for ``warmup`` seconds.

Templates: a text that two other writers sent word for word, one of them more than a window earlier (a form
letter, a macro), is not a description (:mod:`correlate.detectors.templates`): its writer does not count among a
cluster's writers, so form letters alone never open an incident.

By meaning (``meaning``, the setting ``symptom_meaning``): the texts this pass cannot place in an everyday symptom
(one with ``min_customers`` reporters, common in the history) go to :mod:`correlate.detectors.meaning`, embedded
in one batch per step; the placed ones go along with their symptom's direction, counted but never tested. Its
findings, each on the scope its texts all share (cut as this pass cuts one), join these, one per scope (the more
significant), with the false-alarm budget of the rate detector.

Memory is bounded by one horizon of texts: history past the horizon is dropped, a symptom is forgotten
``window + rarity_horizon`` after it was last seen, a one-off (one reporter ever) a day after. Causality: a
step's contacts are scored against history learned before it, and only contacts with ``ts <= step_end`` count.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Final, Generic, NamedTuple, Self, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.special import pdtrc

from correlate.detectors.base import Finding
from correlate.detectors.meaning import MeaningCluster, MeaningScan, Text
from correlate.detectors.similarity import Sketch, Sketcher, SymptomIndex, central_texts, one_typo_apart
from correlate.detectors.templates import TemplateBook
from correlate.scope import Scope, related
from correlate.stitch import Profile, StitchedContact

__all__ = ["SymptomDetector"]

if TYPE_CHECKING:
    from correlate.config import Settings
    from correlate.detectors.embedding import StaticEmbedding

_DAY: Final = 86_400.0
_PRIOR: Final = 0.5  # reporters assumed in any history: no history is not certainty
_MAX_TEXTS: Final = 16  # distinct texts of a cluster considered for its representative
_SLACK: Final = 0.15  # rewordings join, and rarity counts, symptoms this much less similar than clustering
_FRESH_LIMIT: Final = 256  # recent rare symptoms a rewording may join
_FILED_FROM: Final = 2  # reporters from which a word is filed for misspelling look-ups (_WordTally)
_TEMPLATE_HORIZON: Final = 3 * 86_400.0  # how long a text is remembered to tell a template (a form letter) by
_Key = TypeVar("_Key")


class _Tally(Generic[_Key]):
    """Reporters over a sliding horizon, in all and per key (a scope's text, a profile; an entry may count for
    several).

    Held for days at hundreds of thousands of texts a day, so the entries are three flat columns (time as a C
    double, the keys, the weight as a C integer) read from a moving head and cut in bulk, not a tuple per entry:
    about half the memory, the same counts."""

    __slots__ = ("_head", "_keys", "_ts", "_weight", "counts", "total")

    def __init__(self) -> None:
        self._ts = array("d")
        self._keys: list[tuple[_Key, ...] | None] = []
        self._weight = array("q")
        self._head = 0  # the oldest entry still counted; the columns before it are cut in bulk
        self.counts: dict[_Key, int] = {}
        self.total = 0

    def add(self, ts: float, keys: tuple[_Key, ...], weight: int) -> None:
        self._append(ts, keys, weight)
        counts = self.counts
        for key in keys:
            counts[key] = counts.get(key, 0) + weight

    def _append(self, ts: float, keys: tuple[_Key, ...], weight: int) -> None:
        self._ts.append(ts)
        self._keys.append(keys)
        self._weight.append(weight)
        self.total += weight

    def prune(self, since: float) -> _Tally[_Key]:
        counts = self.counts
        for keys, weight in self._expired(since):
            for key in keys:
                left = counts[key] - weight
                if left:
                    counts[key] = left
                else:
                    del counts[key]
        return self

    def _expired(self, since: float) -> Iterator[tuple[tuple[_Key, ...], int]]:
        """Take out the entries older than ``since``, oldest first, and yield their keys and weights."""
        times, keys, weights, head = self._ts, self._keys, self._weight, self._head
        end = len(times)
        while head < end and times[head] < since:
            entry_keys, weight = keys[head], weights[head]
            keys[head] = None  # the keys go now, their slots when the columns are cut
            head += 1
            self._head = head
            self.total -= weight
            assert entry_keys is not None
            yield entry_keys, weight
        if head > 4096 and 2 * head > end:  # cut in bulk: each entry is moved at most once on average
            del times[:head], keys[:head], weights[:head]
            head = 0
        self._head = head


class _TypoIndex:
    """Words filed under themselves and each of their one-character deletions, for the words one typo away.

    Two words are one typo apart (a character dropped, added or replaced, two neighbours swapped) only if
    deleting at most one character from each gives the same string: a drop or an addition leaves the shorter
    word, a replacement or a swap of "xy" leaves the word without the changed character or without "x". So the
    words filed under a word's own deletions hold every word one typo from it (and a few more, two deletions
    apart, which :func:`one_typo_apart` then tells apart) in a few look-ups, where a scan of all words cost one
    comparison per word, and the word tally grows by every typo it meets.
    """

    __slots__ = ("_filed",)

    def __init__(self) -> None:
        self._filed: dict[str, list[str]] = {}  # a word or a deletion -> the words filed under it

    def add(self, word: str) -> None:
        filed = self._filed
        for key in _deletions(word):
            holders = filed.get(key)
            if holders is None:
                filed[key] = [word]
            else:
                holders.append(word)

    def remove(self, word: str) -> None:
        filed = self._filed
        for key in _deletions(word):
            holders = filed[key]
            if len(holders) == 1:
                del filed[key]
            else:
                holders.remove(word)

    def near(self, word: str) -> set[str]:
        """Every filed word one typo from ``word``, among others (and ``word`` itself if filed)."""
        filed = self._filed
        return {other for key in _deletions(word) for other in filed.get(key, ())}


def _deletions(word: str) -> list[str]:
    """The word and the strings left by deleting one of its characters (a string twice if two deletions leave
    it: filing a word twice under one key is harmless, and cheaper than removing repeats)."""
    return [word, *[word[:i] + word[i + 1 :] for i in range(len(word))]]


class _WordTally(_Tally[str]):
    """Reporters per content word over the horizon; the words of two reporters or more are also filed by
    :class:`_TypoIndex` (``typos``).

    Only those: an everyday word has two reporters or more once the history is long enough for one reporter to
    be rare (see ``SymptomDetector._misspelling``), and most words of one reporter are typos, one new word per
    typo. Filing them too cost more than the look-ups saved.
    """

    __slots__ = ("typos",)

    def __init__(self) -> None:
        super().__init__()
        self.typos = _TypoIndex()

    def add(self, ts: float, keys: tuple[str, ...], weight: int) -> None:
        self._append(ts, keys, weight)
        counts = self.counts
        for key in keys:
            before = counts.get(key, 0)
            counts[key] = after = before + weight
            if before < _FILED_FROM <= after:
                self.typos.add(key)

    def prune(self, since: float) -> _WordTally:
        counts = self.counts
        for keys, weight in self._expired(since):
            for key in keys:
                before = counts[key]
                left = before - weight
                if left:
                    counts[key] = left
                else:
                    del counts[key]
                if left < _FILED_FROM <= before:
                    self.typos.remove(key)
        return self


@dataclass(slots=True, eq=False)
class _Member:
    """One text in a symptom's window (treated as immutable; not frozen: one is built per text, and frozen
    dataclasses are slow to build)."""

    ts: float
    reporter: str  # the customer, or the record itself for an aggregated record
    weight: int  # reporters this contact adds to the history: 0 for a repeat within the window
    profile: Profile
    sketch: Sketch
    template: bool = False  # a form letter's text (see correlate.detectors.templates): not a description


@dataclass(slots=True)
class _Reporter:
    reporters: int  # 1, or ``count`` for an aggregated record
    writer: str  # who wrote the texts: the customer, or the partner (the source) for an aggregated record
    members: list[_Member] = field(default_factory=list)
    profile: Profile = ()  # dimension values pooled over ``members`` (first value per dimension)
    cells: int = 0  # how many scopes ``profile`` makes (see ``SymptomDetector._cells``)


@dataclass(slots=True)
class _Symptom:
    members: deque[_Member] = field(default_factory=deque)  # in the window, oldest first
    reporters: dict[str, _Reporter] = field(default_factory=dict)
    profiles: dict[Profile, int] = field(default_factory=dict)  # pooled profile -> reporters in the window
    # pooled profile -> its reporters' writers (-> how many reporters each), form letters left out: kept as
    # reporters come and go, since a recount at every step cost a pass over all of the window's reporters
    writers: dict[Profile, dict[str, int]] = field(default_factory=dict)
    volume: int = 0  # distinct reporters in the window
    counted: dict[str, float] = field(default_factory=dict)  # reporter -> when last counted
    history: _Tally[Profile] = field(default_factory=_Tally)  # reporters per profile
    last_seen: float = float("-inf")
    described: int = 0  # reporters ever counted
    version: int = 0  # bumped whenever the window changes
    clusters: tuple[int, list[tuple[Scope, int]]] = (-1, [])  # (version, [(scope, observed)])
    common_until: float = float("-inf")  # not rare until then (rechecked now and then, not every step)
    words: set[str] = field(default_factory=set)  # content words of its texts while it is fresh


class _Cluster(NamedTuple):
    symptom: int
    scope: Scope
    observed: int
    expected: float
    p_value: float
    rare: bool


class SymptomDetector:
    """Near-duplicate texts from ``min_customers`` distinct customers on one scope within ``window``.

    ``similarity`` is the estimated Jaccard similarity of character 3-gram sets that makes two texts one
    symptom (typos and small rewordings score 0.65-0.8, different faults worded alike 0.4-0.55).
    ``dimensions`` limits the dimensions a scope may use (None: all). ``alpha`` is the false-alarm rate per
    step; ``warmup`` how long the detector watches before it reports anything.
    """

    kind = "symptom"

    def __init__(
        self,
        *,
        window: float = 3600.0,
        min_customers: int = 3,
        similarity: float = 0.6,
        rarity_horizon: float = 7 * 86400.0,
        max_depth: int = 2,
        dimensions: Sequence[str] | None = None,
        owned_dimensions: Sequence[str] = ("device_brand", "service"),
        alpha: float = 0.01,
        warmup: float = 86_400.0,
        meaning: StaticEmbedding | None = None,
        false_alarms_per_day: float = 0.05,
    ) -> None:
        self.window = window
        self.min_customers = min_customers
        self.similarity = similarity
        self.rarity_horizon = rarity_horizon
        self.max_depth = max_depth
        self.dimensions = dimensions
        self.owned_dimensions = owned_dimensions
        self.alpha = alpha
        self.warmup = warmup
        # Learned state.
        self._allowed = None if dimensions is None else frozenset(dimensions)
        self._sketcher = Sketcher()
        self._index = SymptomIndex(similarity)
        self._pending: list[StitchedContact] = []  # observed, not yet scored
        self._symptoms: dict[int, _Symptom] = {}
        self._arrivals: deque[tuple[float, int]] = deque()  # (ts, symptom) of window members, oldest first
        self._expiries: list[tuple[float, int]] = []  # heap of (forget after, symptom)
        self._crowded: dict[int, None] = {}  # symptoms with min_customers reporters in the window
        self._established: dict[int, None] = {}  # symptoms with min_customers reporters ever (in memory)
        self._fresh: dict[int, None] = {}  # the others with reporters in the window, oldest first
        self._hot: dict[tuple[int, Scope], None] = {}  # reported clusters still holding min_customers
        self._cells = 0  # (symptom, scope) cells with a reporter in the window, give or take shared scopes
        self._volume: _Tally[str] = _Tally()  # reporters of any text, per scope: each scope's share of all texts
        # A profile's scopes, as text: a string keeps its hash, a tuple of pairs is hashed again at every look-up.
        self._scopes_of: dict[Profile, tuple[str, ...]] = {}
        self._near: dict[str, tuple[float, list[int]]] = {}  # normalised text -> (when, its neighbours)
        self._first_ts: float | None = None  # the first contact seen, with or without text
        self._words = _WordTally()  # reporters per content word, over the horizon: which words are rare
        self._fresh_by_word: dict[str, dict[int, None]] = {}  # content word -> fresh symptoms whose texts use it
        self._fresh_words = _TypoIndex()  # the same words, for misspellings of them (see _alike)
        self._span = 0.0  # how long the rarity history of the step being closed is
        self._warm = False  # whether the detector had watched for the warm-up when the step began
        self._misspelt: dict[str, tuple[float, bool]] = {}  # rare word -> (until when, one typo from an everyday one)
        self._templates = TemplateBook(min_writers=2, apart=window, horizon=min(rarity_horizon, _TEMPLATE_HORIZON))
        # Grouping by meaning, for the texts the MinHash pass cannot place (correlate.detectors.meaning).
        self._embedding = meaning
        self._meaning = (
            None
            if meaning is None
            else MeaningScan(
                window=window,
                min_customers=min_customers,
                horizon=rarity_horizon,
                false_alarms_per_day=false_alarms_per_day,
                encode=meaning.encode,
                home=self._scope_of,
            )
        )
        # (contact, writer, the everyday symptom the MinHash pass placed it in, if any) for the meaning pass
        self._unplaced: list[tuple[StitchedContact, str, int | None]] = []
        # An everyday symptom -> the direction of its first text seen here (correlate.detectors.embedding).
        self._everyday: dict[int, npt.NDArray[np.float32]] = {}

    @classmethod
    def runs_with(cls, settings: Settings) -> bool:
        return settings.symptoms

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        meaning = None
        if settings.symptom_meaning:
            from correlate.detectors.embedding import StaticEmbedding  # the semantic extra's

            meaning = StaticEmbedding()
        return cls(
            window=settings.symptom_window,
            min_customers=settings.symptom_min_customers,
            warmup=settings.warmup,
            max_depth=settings.max_depth,
            dimensions=settings.dimensions,
            meaning=meaning,
            false_alarms_per_day=settings.false_alarms_per_day,
        )

    def observe(self, contact: StitchedContact) -> None:
        """Queue a contact of the current step; it is scored, then learned from, at :meth:`close_step`."""
        self._pending.append(contact)

    def close_step(self, step_end: float) -> list[Finding]:
        """Findings for the window ending at ``step_end``, from the contacts with ``ts <= step_end``."""
        window_start = step_end - self.window
        since = window_start - self.rarity_horizon
        self._span = self._history_span(window_start)
        self._warm = self._first_ts is not None and step_end - self._first_ts >= self.warmup
        self._words.prune(since)
        self._take_pending(step_end)
        self._age_out(window_start)
        self._forget_expired(step_end)
        first_ts = step_end if self._first_ts is None else self._first_ts
        watched, span = step_end - first_ts, self._history_span(window_start)
        self._volume.prune(since)
        hot_ids = {sid for sid, _ in self._hot}
        symptoms = self._symptoms
        clusters = [
            self._cluster(sid, scope, observed, [sid], since, span)
            for sid in self._crowded
            # common_until is read here first: most crowded symptoms are common ones, known to be for a while
            if sid in hot_ids
            or (symptoms[sid].common_until <= step_end and self._may_be_rare(symptoms[sid], step_end, since, span))
            for scope, observed in self._clusters(sid)
        ]
        tests = max(1, self._cells, len(clusters))
        threshold = self.alpha / tests
        best: dict[int, _Cluster] = {}
        hot: dict[tuple[int, Scope], None] = {}
        for cluster in clusters:
            qualifies = watched >= self.warmup and cluster.rare and cluster.p_value <= threshold
            if qualifies and not self._names_something_new(cluster.symptom, cluster.scope, step_end):
                near = self._neighbours(cluster.symptom, cluster.scope, step_end)  # confirm against them
                cluster = self._cluster(cluster.symptom, cluster.scope, cluster.observed, near, since, span)
                qualifies = cluster.rare and cluster.p_value <= threshold
            if qualifies or (cluster.symptom, cluster.scope) in self._hot:
                hot[cluster.symptom, cluster.scope] = None
            current = best.get(cluster.symptom)
            if qualifies and (current is None or cluster.p_value < current.p_value):
                best[cluster.symptom] = cluster
        self._hot = hot
        findings = [
            Finding(
                kind=self.kind,
                scope=c.scope,
                at=step_end,
                observed=float(c.observed),
                expected=c.expected,
                p_value=c.p_value,
                threshold=threshold,
                tests=tests,
                window=self.window,
                sample_texts=central_texts(self._texts(self._symptoms[c.symptom], c.scope), 3),
            )
            for c in best.values()
        ]
        if self._meaning is not None:
            findings = self._with_meaning(findings, step_end)
        return sorted(findings, key=lambda f: (f.p_value, f.scope))

    def _with_meaning(self, findings: list[Finding], step_end: float) -> list[Finding]:
        """The MinHash findings and the meaning scan's, one per scope (the more significant; MinHash on a tie)."""
        assert self._meaning is not None and self._embedding is not None
        unplaced, self._unplaced = self._unplaced, []
        everyday = self._everyday
        fresh = [contact for contact, _, placed in unplaced if placed is None or placed not in everyday]
        found: dict[int, tuple[npt.NDArray[np.float32], bool]] = {}
        if fresh:
            directions, meaningful = self._embedding.directions([contact.contact.text or "" for contact in fresh])
            found = {id(c): (row, bool(ok)) for c, row, ok in zip(fresh, directions, meaningful, strict=True)}
        for contact, writer, placed in unplaced:
            if placed is not None and placed in everyday:
                direction, usable = everyday[placed], True
            else:
                direction, usable = found[id(contact)]
                if placed is not None and usable:
                    everyday[placed] = direction
            if usable:
                allowed = self._allowed
                scopes = tuple((pair,) for pair in contact.profile if allowed is None or pair[0] in allowed)
                text = contact.contact.text or ""
                self._meaning.add(Text(contact.contact.ts, writer, scopes, text, direction, centre=placed is None))
        clusters: list[MeaningCluster] = self._meaning.close_step(step_end, self._warm, self._first_ts)
        by_scope = {finding.scope: finding for finding in findings}
        for cluster in clusters:
            known = by_scope.get(cluster.scope)
            if known is None or cluster.p_value < known.p_value:
                by_scope[cluster.scope] = Finding(
                    kind=self.kind,
                    scope=cluster.scope,
                    at=step_end,
                    observed=float(cluster.observed),
                    expected=cluster.expected,
                    p_value=cluster.p_value,
                    threshold=cluster.threshold,
                    tests=cluster.tests,
                    window=self.window,
                    sample_texts=cluster.exemplars,
                )
        return list(by_scope.values())

    def is_elevated(self, scope: Scope) -> bool:
        """A reported cluster on this scope (or one containing or inside it) still has ``min_customers``."""
        if self._meaning is not None and any(related(scope, hot) for hot in self._meaning.hot_scopes()):
            return True
        return any(related(scope, hot_scope) for _, hot_scope in self._hot)

    # Learning: contacts join their symptom's window, then leave it into the history, kept for the horizon.

    def _take_pending(self, step_end: float) -> None:
        pending = self._pending
        ready = [c for c in pending if c.contact.ts <= step_end]
        self._pending = [c for c in pending if c.contact.ts > step_end] if len(ready) < len(pending) else []
        for contact in ready:
            if self._first_ts is None or contact.contact.ts < self._first_ts:
                self._first_ts = contact.contact.ts
        written = [c for c in ready if c.contact.text and c.contact.ts > step_end - self.window]  # else: too late
        self._sketcher.prime(c.contact.text or "" for c in written)
        for contact in written:
            self._add(contact)

    def _add(self, contact: StitchedContact) -> None:
        record = contact.contact
        sketch = self._sketcher.sketch(record.text or "")
        if sketch is None:
            return
        symptom_id = self._index.match(sketch, self.similarity - _SLACK)
        if symptom_id is None:
            symptom_id = self._reworded(sketch)
            if symptom_id is None:
                symptom_id = self._index.found(sketch)
            else:
                self._index.join(sketch, symptom_id)
        symptom = self._symptoms.get(symptom_id)
        if symptom is None:
            symptom = self._symptoms[symptom_id] = _Symptom()
        key = f"\0{record.source}\0{record.contact_id}" if record.count > 1 else record.customer_id
        writer = record.source if record.count > 1 else record.customer_id
        template = self._templates.observe_digest(sketch.digest, writer, record.ts)
        if self._meaning is not None and not template:
            self._unplaced.append((contact, writer, symptom_id if self._placed(symptom_id, symptom) else None))
        last = symptom.counted.get(key)
        weight = 0
        if last is None or record.ts - last >= self.window:
            symptom.counted[key] = record.ts
            weight = record.count
            symptom.described += weight
        if symptom.described < self.min_customers:
            self._freshen(symptom_id, True)
        elif symptom_id not in self._established:
            self._established[symptom_id] = None
            self._index.establish(symptom_id)
            self._freshen(symptom_id, False)
        member = _Member(record.ts, key, weight, contact.profile, sketch, template)
        symptom.members.append(member)
        if record.ts > symptom.last_seen:
            symptom.last_seen = record.ts
        self._arrivals.append((record.ts, symptom_id))
        reporter = symptom.reporters.get(key)
        if reporter is None:
            reporter = symptom.reporters[key] = _Reporter(record.count, _writer(key))
        else:
            self._pool(symptom, reporter, -1)
        reporter.members.append(member)
        self._pool(symptom, reporter, +1)
        if symptom.volume >= self.min_customers:
            self._crowded[symptom_id] = None
        if symptom_id in self._fresh:
            self._index_words(symptom_id, symptom, sketch.words)

    def _placed(self, symptom_id: int, symptom: _Symptom) -> bool:
        """Whether the MinHash pass placed a text in an everyday symptom: one that had ``min_customers`` reporters
        and is common in the history. The meaning pass takes the others."""
        return symptom_id in self._established and not self._rare(symptom.history.total, self._span)

    def _age_out(self, window_start: float) -> None:
        arrivals, symptoms = self._arrivals, self._symptoms
        while arrivals and arrivals[0][0] <= window_start:
            symptom_id = arrivals.popleft()[1]
            symptom = symptoms[symptom_id]
            member = symptom.members.popleft()
            reporter = symptom.reporters[member.reporter]
            self._pool(symptom, reporter, -1)
            reporter.members.remove(member)
            if reporter.members:
                self._pool(symptom, reporter, +1)
            else:
                del symptom.reporters[member.reporter]
            if symptom.counted.get(member.reporter) == member.ts:
                del symptom.counted[member.reporter]
            if member.weight:
                symptom.history.add(member.ts, (member.profile,), member.weight)
                self._volume.add(member.ts, self._scopes(member.profile), member.weight)
                self._words.add(member.ts, member.sketch.words, member.weight)
            if symptom.volume < self.min_customers:
                self._crowded.pop(symptom_id, None)
            if not symptom.members:
                self._freshen(symptom_id, False)
                heapq.heappush(self._expiries, (self._forget_at(symptom), symptom_id))

    def _freshen(self, symptom_id: int, fresh: bool) -> None:
        """Mark a rare symptom with reporters in the window, which rewordings may join (the newest 256)."""
        if fresh == (symptom_id in self._fresh):
            return
        if not fresh:
            del self._fresh[symptom_id]
            self._unindex_words(symptom_id)
        else:
            self._fresh[symptom_id] = None
            if len(self._fresh) > _FRESH_LIMIT:
                oldest = next(iter(self._fresh))
                del self._fresh[oldest]
                self._index.watch(oldest, False)
                self._unindex_words(oldest)
        self._index.watch(symptom_id, fresh)

    # Rewordings: a text like no symptom's may still share a fresh rare symptom's rare words.

    def _reworded(self, sketch: Sketch) -> int | None:
        """The fresh symptom whose rare content words this text shares, if any.

        "My receipt has a stranger's name on it" and "got a receipt with another customer's name" share one
        3-gram in eight, but both rare words of the first. Rare is the rarity rule's: fewer than
        ``min_customers`` reporters a day used the word in the history (so "wifi" and "update" never link two
        texts). A text joins the fresh symptom that shares the largest part of the smaller of the two sets of
        rare words, if that part reaches the rewording similarity (``similarity - 0.15``, the bar a rewording
        must clear in 3-grams) and it is at least two words: one shared rare word is a coincidence of
        vocabulary (a name, a place), two are a description. A rare word counts as shared if they wrote it one
        typo apart (``_alike``). Not before the warm-up: until the history holds a day, every word is rare, and
        two everyday complaints that both end in "since this morning" would join.
        """
        if not self._warm or not self._fresh_by_word:
            return None
        rare = self._rare_words(sketch.words)
        alike = {word: self._alike(word) for word in rare}
        fresh_by_word = self._fresh_by_word
        candidates = sorted({sid for words in alike.values() for word in words for sid in fresh_by_word.get(word, ())})
        best: tuple[float, int, int] | None = None
        for symptom_id in candidates:
            theirs = self._rare_words(self._symptoms[symptom_id].words)
            shared = sum(1 for words in alike.values() if not words.isdisjoint(theirs))
            if shared < 2:
                continue
            part = shared / min(len(rare), len(theirs))
            if part >= self.similarity - _SLACK and (best is None or (part, shared) > best[:2]):
                best = (part, shared, symptom_id)
        return None if best is None else best[2]

    def _alike(self, word: str) -> set[str]:
        """The word and the fresh symptoms' words one typo from it ("receiptt", "reciept" for "receipt"): a
        customer who misspells the one word that names the fault still names it. Not for words with a digit: an
        error code one digit off is another error."""
        if not word.isalpha():
            return {word}
        near = self._fresh_words.near(word)
        return {word, *(other for other in near if other.isalpha() and one_typo_apart(word, other))}

    def _rare_words(self, words: Iterable[str]) -> frozenset[str]:
        counts, span = self._words.counts, self._span
        return frozenset(word for word in words if self._rare(counts.get(word, 0), span))

    def _index_words(self, symptom_id: int, symptom: _Symptom, words: Iterable[str]) -> None:
        for word in words:
            if word not in symptom.words:
                symptom.words.add(word)
                holders = self._fresh_by_word.get(word)
                if holders is None:
                    holders = self._fresh_by_word[word] = {}
                    self._fresh_words.add(word)
                holders[symptom_id] = None

    def _unindex_words(self, symptom_id: int) -> None:
        symptom = self._symptoms.get(symptom_id)
        if symptom is None:
            return
        for word in symptom.words:
            holders = self._fresh_by_word.get(word)
            if holders is not None:
                holders.pop(symptom_id, None)
                if not holders:
                    del self._fresh_by_word[word]
                    self._fresh_words.remove(word)
        symptom.words.clear()

    def _history_span(self, window_start: float) -> float:
        """How long the detector has watched before the window, at most the horizon."""
        first_ts = window_start + self.window if self._first_ts is None else self._first_ts
        return min(self.rarity_horizon, max(0.0, window_start - first_ts))

    def _pool(self, symptom: _Symptom, reporter: _Reporter, sign: int) -> None:
        """Add (+1) or remove (-1) a reporter's pooled profile to or from the symptom's window counts."""
        members = reporter.members
        if sign > 0:
            if len(members) == 1 and self._allowed is None:
                profile = reporter.profile = members[0].profile
            else:
                pooled: dict[str, str] = {}
                for member in members:
                    for name, value in member.profile:
                        if self._allowed is None or name in self._allowed:
                            pooled.setdefault(name, value)
                profile = reporter.profile = tuple(sorted(pooled.items()))
            scopes = self._scopes_of.get(profile)
            reporter.cells = len(self._scopes(profile) if scopes is None else scopes)
            weight = reporter.reporters
        else:
            profile, weight = reporter.profile, -reporter.reporters
        profiles = symptom.profiles
        before = profiles.get(profile, 0)
        left = before + weight
        if left:
            profiles[profile] = left
        else:
            del profiles[profile]
        if not (before and left):  # a profile came or went: so did the cells its scopes make for the symptom
            self._cells += sign * reporter.cells
        symptom.volume += weight
        symptom.version += 1
        if members[0].template if len(members) == 1 else all([member.template for member in members]):
            return  # a form letter is no description: its writer is none of the symptom's writers
        writer, writers = reporter.writer, symptom.writers.get(profile)
        if writers is None:
            writers = symptom.writers[profile] = {}
        texts = writers.get(writer, 0) + sign
        if texts:
            writers[writer] = texts
        else:
            del writers[writer]
            if not writers:
                del symptom.writers[profile]

    def _scopes(self, profile: Profile) -> tuple[str, ...]:
        """Every scope of one to ``max_depth`` pairs that contains the profile, as text (:func:`_scope_key`)."""
        scopes = self._scopes_of.get(profile)
        if scopes is None:
            pairs = [pair for pair in profile if self._allowed is None or pair[0] in self._allowed]
            depths = range(1, min(self.max_depth, len(pairs)) + 1)
            scopes = tuple(_scope_key(scope) for depth in depths for scope in combinations(pairs, depth))
            if len(self._scopes_of) >= 1 << 16:
                self._scopes_of.clear()
            self._scopes_of[profile] = scopes
        return scopes

    def _forget_at(self, symptom: _Symptom) -> float:
        memory = self.rarity_horizon if symptom.described > 1 else min(self.rarity_horizon, _DAY)
        return symptom.last_seen + self.window + memory

    def _forget_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            symptom_id = heapq.heappop(self._expiries)[1]
            symptom = self._symptoms.get(symptom_id)
            if symptom is not None and not symptom.members and self._forget_at(symptom) <= now:
                del self._symptoms[symptom_id]
                self._established.pop(symptom_id, None)
                self._everyday.pop(symptom_id, None)
                self._index.forget(symptom_id)

    # Scoring, from reporters pooled by profile: a step costs per distinct profile, not per contact.

    def _clusters(self, symptom_id: int) -> list[tuple[Scope, int]]:
        """(scope, distinct reporters) of the symptom's clusters in the window, recounted when it changed: those
        with ``min_customers`` reporters and as many writers."""
        symptom = self._symptoms[symptom_id]
        version, clusters = symptom.clusters
        if version != symptom.version:
            writers = symptom.writers
            by_scope: dict[Scope, int] = {}
            least = self.min_customers
            for group in self._groups(list(symptom.profiles.items())):
                observed = sum([n for _, n in group])
                if observed < least or not _written_by(group, writers, least):
                    continue
                scope = self._scope_of(set(group[0][0]).intersection(*[profile for profile, _ in group[1:]]))
                if scope and scope not in by_scope:
                    by_scope[scope] = observed
            clusters = list(by_scope.items())
            symptom.clusters = (symptom.version, clusters)
        return clusters

    def _cluster(
        self, symptom_id: int, scope: Scope, observed: int, near: list[int], since: float, span: float
    ) -> _Cluster:
        """The rarity rule of the module docstring, with the history of the symptoms ``near``."""
        histories = [self._symptoms[sid].history.prune(since) for sid in near if sid in self._symptoms]
        everywhere = sum(history.total for history in histories)
        seen = everywhere * self._volume.counts.get(_scope_key(scope), 0) / max(1, self._volume.total)
        rare = self._rare(everywhere, span)
        if rare:  # the history on the scope itself, only when it matters: it costs a pass over profiles
            inside = 0
            for history in histories:
                for profile, n in history.counts.items():
                    if _within(scope, profile):
                        inside += n
            seen = max(seen, inside)
        expected = (seen + _PRIOR) * self.window / max(span, self.window)
        p_value = float(pdtrc(observed - 1, expected)) if rare else 1.0  # a common symptom is never reported
        return _Cluster(symptom_id, scope, observed, expected, p_value, rare)

    def _may_be_rare(self, symptom: _Symptom, now: float, since: float, span: float) -> bool:
        """Whether the symptom alone is rare; a common one is taken to stay common for a tenth of a window."""
        if symptom.common_until > now:
            return False
        if self._rare(symptom.history.prune(since).total, span):
            return True
        symptom.common_until = now + self.window / 10
        return False

    def _rare(self, everywhere: int, span: float) -> bool:
        """Fewer than ``min_customers`` reporters a day, everywhere: no everyday complaint."""
        return everywhere * _DAY / max(span, self.window) < self.min_customers

    def _neighbours(self, symptom_id: int, scope: Scope, now: float) -> list[int]:
        """The symptom and the established symptoms near one of its texts in the cluster on ``scope``.

        Each text's neighbours are remembered for a window: the established symptoms change slowly.
        """
        texts = {s.normalised: s for s, _ in self._texts(self._symptoms[symptom_id], scope).values()}
        if len(self._near) >= 1 << 16:
            self._near.clear()
        for text, sketch in texts.items():
            if self._near.get(text, (-math.inf,))[0] < now - self.window:
                found = self._index.established_neighbours([sketch], self.similarity - _SLACK)
                self._near[text] = (now, found)
        return list(dict.fromkeys([symptom_id, *(sid for text in texts for sid in self._near[text][1])]))

    def _names_something_new(self, symptom_id: int, scope: Scope, now: float) -> bool:
        """Whether ``min_customers`` writers of the cluster used one same word that is rare in the history.

        The neighbour check is there for a common complaint's stray misspellings: their rare words are each
        writer's own typos. Writers who share a rare word ("mirroring", "receipt") name something new, however
        close their boilerplate ("..., tried restarting") or a common word ("screen") brings them to an everyday
        complaint; unless the word is one typo from an everyday word ("remte"), which is the misspelling again.
        A partner's aggregated record is one writer here: its text was written once.
        """
        writers: dict[str, int] = {}
        for reporter in self._symptoms[symptom_id].reporters.values():
            if _within(scope, reporter.profile):
                words = set().union(*(m.sketch.words for m in reporter.members))
                for word in words:
                    writers[word] = writers.get(word, 0) + 1
        shared = self._rare_words(frozenset(word for word, n in writers.items() if n >= self.min_customers))
        return any(not self._misspelling(word, now) for word in sorted(shared))

    def _misspelling(self, word: str, now: float) -> bool:
        """Whether a rare word is one typo from an everyday word. Remembered for a tenth of a window, like a
        common symptom: the everyday words change slowly, and a cluster asks at every step while it qualifies."""
        known = self._misspelt.get(word)
        if known is None or known[0] <= now:
            counts, span = self._words.counts, self._span
            # Once one reporter is rare, an everyday word has two or more, and so is filed; before (the first
            # hours), the words are few and all are scanned.
            others: Iterable[str] = self._words.typos.near(word) if self._rare(_FILED_FROM - 1, span) else counts
            misspelt = any(one_typo_apart(word, other) and not self._rare(counts[other], span) for other in others)
            if len(self._misspelt) >= 1 << 16:
                self._misspelt.clear()
            known = self._misspelt[word] = (now + self.window / 10, misspelt)
        return known[1]

    def _texts(self, symptom: _Symptom, scope: Scope) -> dict[str, tuple[Sketch, int]]:
        """The cluster's distinct texts as written (up to 16), with how many reporters wrote each."""
        found: dict[str, tuple[Sketch, int]] = {}
        for reporter in symptom.reporters.values():
            if _within(scope, reporter.profile):
                members = reporter.members
                if len(members) == 1:  # most reporters wrote once
                    sketches = [members[0].sketch]
                else:
                    sketches = list({m.sketch.text: m.sketch for m in members}.values())
                for sketch in sketches:
                    known = found.get(sketch.text)
                    if known is not None:
                        found[sketch.text] = (sketch, known[1] + reporter.reporters)
                    elif len(found) < _MAX_TEXTS:
                        found[sketch.text] = (sketch, reporter.reporters)
        return found

    def _groups(self, profiles: list[tuple[Profile, int]]) -> list[list[tuple[Profile, int]]]:
        """The whole cluster, then one sub-cluster per value of each owned dimension it is mixed on."""
        groups = [profiles]
        # One pass over the profiles for every owned dimension at once (a profile names a dimension once).
        by_name: dict[str, dict[str, list[tuple[Profile, int]]]] = {name: {} for name in self.owned_dimensions}
        owned = by_name.get
        for item in profiles:
            for name, value in item[0]:
                by_value = owned(name)
                if by_value is not None:
                    by_value.setdefault(value, []).append(item)
        for name in self.owned_dimensions:
            by_value = by_name[name]
            if len(by_value) > 1 or sum(map(len, by_value.values())) < len(profiles):
                groups.extend(by_value.values())
        return groups

    def _scope_of(self, pairs: set[tuple[str, str]]) -> Scope:
        """The scope of the (name, value) pairs a group's profiles share: owned dimensions first, ``max_depth``."""
        common = dict(pairs)
        owned = [name for name in self.owned_dimensions if name in common]
        others = sorted(name for name in common if name not in owned)
        return tuple(sorted((name, common[name]) for name in (owned + others)[: self.max_depth]))


def _written_by(group: list[tuple[Profile, int]], writers: dict[Profile, dict[str, int]], least: int) -> bool:
    """Whether the group's profiles have ``least`` distinct writers (counted until there are as many)."""
    if least <= 0:
        return True
    found: set[str] = set()
    for profile, _ in group:
        theirs = writers.get(profile)
        if theirs:
            found.update(theirs)
            if len(found) >= least:
                return True
    return False


def _writer(key: str) -> str:
    """Who wrote a reporter's texts, from its key: the customer, or the partner (the source) for an aggregated
    record, whose reporter key is the source and the contact id, each after a NUL."""
    return key.split("\0", 2)[1] if key.startswith("\0") else key


def _scope_key(scope: Scope) -> str:
    """A scope as text, one to one (``repr`` of its pairs): the key of the volume tally."""
    return repr(scope)


def _within(scope: Scope, profile: Profile) -> bool:
    """Whether the profile carries every pair of the scope (``map`` rather than a generator, which costs twice as
    much: this runs for every reporter of a cluster)."""
    return all(map(profile.__contains__, scope))
