"""The rare-symptom detector: a few customers describing the same unusual fault, in their own words.

"Three customers who cannot post a comment are evidence; the burden of proof is not on them." Free texts are
grouped into *symptoms* by near-duplicate matching (see :mod:`correlate.detectors.similarity`). At the end of
each step, the texts of one symptom from the last ``window`` seconds form a *cluster*; a cluster from at least
``min_customers`` distinct customers whose symptom is rare on the cluster's scope opens a ``symptom`` finding.

Counting
    Distinct reporters: a customer repeating the same text on three channels is one; a partner's aggregated
    record (``count > 1``) is ``count`` reporters. A customer's dimension values are pooled over their contacts.

Scope
    The dimension values every reporter in the cluster shares, cut to ``max_depth`` pairs: ``owned_dimensions``
    first (in their order), then the other dimensions by name. A cluster with nothing in common is also split
    by each owned dimension (one sub-cluster per brand, say), so that a rare fault on one brand is not hidden
    by the same words about another brand. Each symptom reports at most one cluster per step, its most
    significant.

Rarity (the rule)
    History is the symptom's reporters that left the window in the ``rarity_horizon`` before it (each customer
    counted once per window), on the cluster's scope. With ``H`` such reporters over ``span`` seconds of history
    (the time the detector has been watching, at most the horizon):

    * ``expected = (H + 0.5) * window / max(span, window)`` reporters per window. The half reporter is a prior:
      it makes a detector with no history cautious (five reporters needed in the first hour) and a detector
      with a week of silence confident (three suffice). This is the warm-up; it needs no separate setting.
    * the symptom is *rare* when ``H * day / max(span, day) < min_customers``: fewer than one cluster's worth of
      customers a day on average. A complaint that is common every day ("my remote doesn't work") fails this
      however sharply it peaks; volume peaks of common complaints are other detectors' work.
    * ``p_value`` is the Poisson tail ``P(X >= observed | expected)``; a rare cluster is reported when
      ``p_value <= alpha / tests``, ``tests`` being the clusters evaluated at this step (Bonferroni).

    History older than the horizon is dropped and symptoms unseen for ``window + rarity_horizon`` are forgotten,
    so memory is bounded by the texts of one horizon.

Causality: a step is scored before it is learned from, and only contacts with ``ts <= step_end`` are scored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from scipy.special import pdtrc

from correlate.detectors.base import Finding
from correlate.detectors.similarity import Sketch, Sketcher, SymptomIndex, similarities
from correlate.scope import Scope, make_scope, related
from correlate.stitch import Profile, StitchedContact

_DAY: Final = 86_400.0
_PRIOR: Final = 0.5  # reporters assumed in any history, so that no history is not certainty
_MAX_MEDOID_TEXTS: Final = 16
_NEIGHBOUR_SLACK: Final = 0.15  # rarity counts symptoms this much less similar than the clustering threshold


@dataclass(frozen=True, slots=True)
class _Member:
    ts: float
    reporter: str  # customer id, or the record's id for an aggregated record
    weight: int  # reporters new to this symptom within the window (0 for a repeat)
    profile: Profile
    sketch: Sketch


@dataclass(slots=True)
class _Reporter:
    """One distinct reporter in a symptom's window: ``reporters`` is ``count`` for an aggregated record."""

    reporters: int
    members: list[_Member] = field(default_factory=list)
    profile: Profile = ()  # dimension values pooled over ``members`` (first value per dimension)


@dataclass(slots=True)
class _Symptom:
    members: deque[_Member] = field(default_factory=deque)  # in the window, oldest first
    reporters: dict[str, _Reporter] = field(default_factory=dict)
    profiles: dict[Profile, int] = field(default_factory=dict)  # pooled profile -> reporters in the window
    volume: int = 0  # distinct reporters in the window
    counted: dict[str, float] = field(default_factory=dict)  # reporter -> when last counted
    history: deque[tuple[float, Profile, int]] = field(default_factory=deque)
    by_profile: dict[Profile, int] = field(default_factory=dict)  # history totals per profile
    last_seen: float = float("-inf")


@dataclass(frozen=True, slots=True)
class _Cluster:
    symptom: int
    scope: Scope
    observed: int
    expected: float
    p_value: float
    rare: bool


class SymptomDetector:
    """Near-duplicate texts from ``min_customers`` distinct customers on one scope within ``window``.

    ``similarity`` is the estimated Jaccard similarity of character 3-gram sets that makes two texts one
    symptom (typos and small rewordings score 0.65-0.8, different faults worded alike 0.4-0.55). ``dimensions``
    limits the dimensions a scope may use (None: all). ``alpha`` is the family-wise false-alarm rate per step.
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
    ) -> None:
        self.window = window
        self.min_customers = min_customers
        self.similarity = similarity
        self.rarity_horizon = rarity_horizon
        self.max_depth = max_depth
        self.dimensions = dimensions
        self.owned_dimensions = owned_dimensions
        self.alpha = alpha
        # Learned state.
        self._allowed = None if dimensions is None else frozenset(dimensions)
        self._sketcher = Sketcher()
        self._index = SymptomIndex(similarity)
        self._pending: list[StitchedContact] = []  # observed, not yet scored
        self._symptoms: dict[int, _Symptom] = {}
        self._arrivals: deque[tuple[float, int]] = deque()  # (ts, symptom) in arrival order
        self._expiries: deque[tuple[float, int]] = deque()  # (forget after, symptom)
        self._crowded: dict[int, None] = {}  # symptoms with min_customers reporters in the window
        self._hot: dict[tuple[int, Scope], None] = {}  # clusters reported and still holding min_customers
        self._first_ts: float | None = None  # the first contact seen, with or without text

    def observe(self, contact: StitchedContact) -> None:
        self._pending.append(contact)

    def close_step(self, step_end: float) -> list[Finding]:
        window_start = step_end - self.window
        self._take_pending(step_end)
        self._age_out(window_start)
        self._forget_expired(step_end)
        first_ts = window_start if self._first_ts is None else self._first_ts
        span = min(self.rarity_horizon, max(0.0, window_start - first_ts))  # history watched so far
        clusters = [c for sid in self._crowded for c in self._evaluate(sid, window_start, span)]
        tests = len(clusters)
        threshold = self.alpha / max(1, tests)
        best: dict[int, _Cluster] = {}
        hot: dict[tuple[int, Scope], None] = {}
        for cluster in clusters:
            qualifies = span >= self.window and cluster.rare and cluster.p_value <= threshold
            if qualifies:  # confirm against the symptom's neighbourhood (its stray misspellings)
                cluster = self._with_neighbours(cluster, window_start, span)
                qualifies = cluster.rare and cluster.p_value <= threshold
            key = (cluster.symptom, cluster.scope)
            if qualifies or key in self._hot:
                hot[key] = None
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
                sample_texts=_samples(self._sketches(self._symptoms[c.symptom], c.scope)),
            )
            for c in best.values()
        ]
        return sorted(findings, key=lambda f: (f.p_value, f.scope))

    def is_elevated(self, scope: Scope) -> bool:
        """A reported cluster on this scope (or one containing or inside it) still has ``min_customers``."""
        return any(related(scope, hot_scope) for _, hot_scope in self._hot)

    # Learning: contacts of the step join their symptom's window, leave it into the symptom's history, and
    # history leaves after the horizon.

    def _take_pending(self, step_end: float) -> None:
        pending = self._pending
        ready = [c for c in pending if c.contact.ts <= step_end]
        self._pending = [c for c in pending if c.contact.ts > step_end] if len(ready) < len(pending) else []
        for contact in ready:
            ts = contact.contact.ts
            if self._first_ts is None or ts < self._first_ts:
                self._first_ts = ts
            if contact.contact.text:
                self._add(contact)

    def _add(self, contact: StitchedContact) -> None:
        record = contact.contact
        sketch = self._sketcher.sketch(record.text or "")
        if sketch is None:
            return
        symptom_id = self._index.assign(sketch)
        symptom = self._symptoms.get(symptom_id)
        if symptom is None:
            symptom = self._symptoms[symptom_id] = _Symptom()
        key = f"\0{record.source}\0{record.contact_id}" if record.count > 1 else record.customer_id
        last = symptom.counted.get(key)
        weight = 0
        if last is None or record.ts - last >= self.window:
            symptom.counted[key] = record.ts
            weight = record.count
        member = _Member(record.ts, key, weight, contact.profile, sketch)
        symptom.members.append(member)
        symptom.last_seen = max(symptom.last_seen, record.ts)
        self._arrivals.append((record.ts, symptom_id))
        reporter = symptom.reporters.get(key)
        if reporter is None:
            reporter = symptom.reporters[key] = _Reporter(record.count)
        else:
            self._unpool(symptom, reporter)
        reporter.members.append(member)
        self._pool(symptom, reporter)
        if symptom.volume >= self.min_customers:
            self._crowded[symptom_id] = None

    def _age_out(self, window_start: float) -> None:
        arrivals, symptoms = self._arrivals, self._symptoms
        while arrivals and arrivals[0][0] <= window_start:
            symptom_id = arrivals.popleft()[1]
            symptom = symptoms[symptom_id]
            member = symptom.members.popleft()
            reporter = symptom.reporters[member.reporter]
            self._unpool(symptom, reporter)
            reporter.members.remove(member)
            if reporter.members:
                self._pool(symptom, reporter)
            else:
                del symptom.reporters[member.reporter]
            if symptom.counted.get(member.reporter) == member.ts:
                del symptom.counted[member.reporter]
            if member.weight:
                symptom.history.append((member.ts, member.profile, member.weight))
                symptom.by_profile[member.profile] = symptom.by_profile.get(member.profile, 0) + member.weight
            if symptom.volume < self.min_customers:
                self._crowded.pop(symptom_id, None)
            if not symptom.members:
                self._expiries.append((symptom.last_seen + self.window + self.rarity_horizon, symptom_id))

    def _pool(self, symptom: _Symptom, reporter: _Reporter) -> None:
        allowed = self._allowed
        if len(reporter.members) == 1 and allowed is None:
            profile = reporter.members[0].profile
        else:
            pooled: dict[str, str] = {}
            for member in reporter.members:
                for name, value in member.profile:
                    if allowed is None or name in allowed:
                        pooled.setdefault(name, value)
            profile = tuple(sorted(pooled.items()))
        reporter.profile = profile
        symptom.profiles[profile] = symptom.profiles.get(profile, 0) + reporter.reporters
        symptom.volume += reporter.reporters

    def _unpool(self, symptom: _Symptom, reporter: _Reporter) -> None:
        left = symptom.profiles[reporter.profile] - reporter.reporters
        if left:
            symptom.profiles[reporter.profile] = left
        else:
            del symptom.profiles[reporter.profile]
        symptom.volume -= reporter.reporters

    def _forget_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            symptom_id = self._expiries.popleft()[1]
            symptom = self._symptoms.get(symptom_id)
            if symptom is not None and not symptom.members:
                del self._symptoms[symptom_id]
                self._index.forget(symptom_id)

    def _history(self, symptom: _Symptom, scope: Scope, since: float) -> int:
        history, totals = symptom.history, symptom.by_profile
        while history and history[0][0] < since:
            _, profile, weight = history.popleft()
            left = totals[profile] - weight
            if left:
                totals[profile] = left
            else:
                del totals[profile]
        return sum(n for profile, n in totals.items() if all(pair in profile for pair in scope))

    # Scoring: from the reporters pooled by profile, so a step costs per distinct profile, not per contact.

    def _evaluate(self, symptom_id: int, window_start: float, span: float) -> list[_Cluster]:
        symptom = self._symptoms[symptom_id]
        history_start = window_start - self.rarity_horizon
        clusters: dict[Scope, _Cluster] = {}
        for group in self._groups([(dict(p), n) for p, n in symptom.profiles.items()]):
            observed = sum(n for _, n in group)
            scope = self._scope([dims for dims, _ in group])
            if observed < self.min_customers or not scope or scope in clusters:
                continue
            seen = self._history(symptom, scope, history_start)
            clusters[scope] = self._cluster(symptom_id, scope, observed, seen, span)
        return list(clusters.values())

    def _cluster(self, symptom_id: int, scope: Scope, observed: int, seen: int, span: float) -> _Cluster:
        """The rarity rule of the module docstring, for ``seen`` reporters in the history on the scope."""
        expected = (seen + _PRIOR) * self.window / max(span, self.window)
        rare = seen * _DAY / max(span, _DAY) < self.min_customers
        p_value = float(pdtrc(observed - 1, expected))
        return _Cluster(symptom_id, scope, observed, expected, p_value, rare)

    def _with_neighbours(self, cluster: _Cluster, window_start: float, span: float) -> _Cluster:
        """The cluster re-scored with the history of every symptom near one of its texts."""
        sketches = self._sketches(self._symptoms[cluster.symptom], cluster.scope)
        near = dict.fromkeys([cluster.symptom])
        loose = self.similarity - _NEIGHBOUR_SLACK
        for sketch in {sketch.normalised: sketch for sketch, _ in sketches.values()}.values():
            near.update(dict.fromkeys(self._index.neighbours(sketch, loose)))
        history_start = window_start - self.rarity_horizon
        seen = sum(
            self._history(self._symptoms[sid], cluster.scope, history_start) for sid in near if sid in self._symptoms
        )
        return self._cluster(cluster.symptom, cluster.scope, cluster.observed, seen, span)

    def _sketches(self, symptom: _Symptom, scope: Scope) -> dict[str, tuple[Sketch, int]]:
        """The distinct texts of the cluster on ``scope`` (up to 16), with how many reporters wrote each."""
        found: dict[str, tuple[Sketch, int]] = {}
        for reporter in symptom.reporters.values():
            if all(pair in reporter.profile for pair in scope):
                for sketch in {m.sketch.text: m.sketch for m in reporter.members}.values():
                    known = found.get(sketch.text)
                    if known is not None:
                        found[sketch.text] = (sketch, known[1] + reporter.reporters)
                    elif len(found) < _MAX_MEDOID_TEXTS:
                        found[sketch.text] = (sketch, reporter.reporters)
        return found

    def _groups(self, profiles: list[tuple[dict[str, str], int]]) -> list[list[tuple[dict[str, str], int]]]:
        """The whole cluster, then one sub-cluster per value of each owned dimension it is split on."""
        groups = [profiles]
        for name in self.owned_dimensions:
            by_value: dict[str, list[tuple[dict[str, str], int]]] = {}
            for dims, n in profiles:
                value = dims.get(name)
                if value is not None:
                    by_value.setdefault(value, []).append((dims, n))
            if len(by_value) > 1 or sum(map(len, by_value.values())) < len(profiles):
                groups.extend(by_value.values())
        return groups

    def _scope(self, profiles: list[dict[str, str]]) -> Scope:
        common = dict(profiles[0])
        for dims in profiles[1:]:
            common = {k: v for k, v in common.items() if dims.get(k) == v}
        owned = [name for name in self.owned_dimensions if name in common]
        others = sorted(name for name in common if name not in owned)
        return make_scope((name, common[name]) for name in (owned + others)[: self.max_depth])


def _samples(sketches: dict[str, tuple[Sketch, int]]) -> tuple[str, ...]:
    """The most central text of the cluster (its medoid, as written), then the next two most central."""
    texts = list(sketches)
    if len(texts) == 1:
        return (texts[0],)
    sigs = np.stack([sketches[text][0].signature for text in texts])
    centrality = similarities(sigs) @ np.array([sketches[text][1] for text in texts], dtype=np.float64)
    order = sorted(range(len(texts)), key=lambda i: (-centrality[i], i))
    return tuple(texts[i] for i in order[:3])
