"""Synthetic contact streams with injected faults, and the truth to score detectors against.

``correlate simulate`` writes contacts (JSONL, the contract of :mod:`correlate.contracts`) and a truth file
listing every injected fault and decoy; ``correlate evaluate`` scores incidents against it. The stream is hard
in the ways real support traffic is hard. Each number below is a range drawn per seed, not tuned to one seed:

* **Seasonality, over-dispersion.** Volume follows a daily curve (quiet 02:00-05:00 UTC, peak near 20:00)
  and a weekly one (busier Friday to Sunday). Each hour also draws a gamma factor for the whole centre
  (shape 30) and one per service (shape 20): counts are Poisson-gamma, and a detector assuming Poisson noise
  cries wolf.
* **Skewed markets.** 6-12 device brands with Zipf shares (exponent 0.9-1.4), 2-6 models each (names carry
  the brand, so they are unique across brands), 5-15 services (Zipf), 4-8 regions (gamma-distributed
  shares). Brand x service shares get a log-normal interaction (sigma 0.35): cells are not independent.
* **Retries across channels.** A customer contacts 1-4 times about one problem within two hours, escalating
  along email, web, social, app, chat, ivr, voice. Counting contacts instead of customers inflates counts.
* **Partners.** ~5% of problems arrive as single records forwarded by a partner (channel ``partner``). Each
  of 2-4 partners also reports a few fixed cells as aggregates (``count`` = reporters, 5-200) every 2-6 hours
  (daily for small cells), each about the size of the centre's own volume for the cell over that interval:
  a steady level, during faults and outside them.
* **Dirty values.** ~1.5% of records spell one dimension value differently (``"sonique"``,
  ``"Sonique "``); ~15% of free texts carry a typo.
* **Rate faults** (``kind: "rate"``), each in its own time slot after the 3-day warm-up: brand-wide
  ``{device_brand}``, service-wide ``{service}``, pair-only ``{device_brand, service}`` (the first pair is a
  top-2 brand with a top-2 service) and model-level ``{device_model}``. Each lasts 30 min to 4 h and adds
  distinct customers at 2-9x the scope's usual level minute by minute (3-10x in all), and at least 0.3 a
  minute, with a shared category (``E6000``-``E9999``) and similar texts. The usual level is what the
  background really brings then: the seasonal curve times that hour's gamma factors, plus the partners'
  steady aggregates in the scope. A third of the faults also reach a partner, whose aggregates then carry
  30% of the extra reporters. The truth gives the multiplier over the whole fault, floor included, as
  ``strength``.
* **Symptom faults** (``kind: "symptom"``): 3-6 customers within an hour write near-duplicate texts (typos,
  other wording) about a rare symptom on ``{service}`` or ``{device_brand, service}``, filed under the vague
  category ``E1999``: too few to move any rate.
* **Decoys** (``decoy: true``, nothing is wrong): a brand whose share triples smoothly over the stream; one
  customer who contacts nine times on every channel within an hour; a global surge where every cell rises
  by 30-50% for 2-4 hours (a big TV event); a partner aggregate of the usual size.
* **Bad records**: extra lines, a chosen fraction of the output, that break the contract (missing ts,
  unknown channel, count 0, a non-string dimension value, a non-object line). They leave the truth alone.

**Profiles.** The above is the ``standard`` profile. The ``hard`` one (at least 6 days) keeps the market, the
background and the decoys but injects slower, weaker faults: each rises linearly over 10-60 minutes to a plateau
of 1.3-3x the scope's usual level (2-4x for the two smallest scopes below) for 30 minutes to 2.5 hours, and its
customers write an everyday complaint (one background category, its own phrases), never a fresh code. Its truth
entries carry ``case``: ``big-model`` (the biggest brand's biggest model), ``big-pair`` (biggest brand x biggest
service), ``weak`` (a brand, a service, a pair), ``cold-start`` (a brand-wide fault on day 2, inside the warm-up),
``new-cell`` (a model nobody owns before ``cell_first_seen``, 18-30 hours before its fault), ``repeat-first`` and
``repeat-second`` (the same fault on the same scope 24 hours apart; the second names the first in ``repeat_of``),
``triple`` (brand x service x region), ``concurrent`` (a brand-wide and a service-wide fault overlapping in time,
each naming the other in ``concurrent_with``) and ``out-of-schema`` (a CDN that serves a third of the services:
``scope`` is empty, ``unattributable`` is true, ``services`` lists them). Each also records ``ramp_minutes`` and
``plateau_strength``. The ``flat`` profile has no daily or weekly curve and one brand-wide or pair fault 30-34
hours in.

**True backgrounds.** Every rate fault's truth entry says what its scope would have had without it:
``background``, the expected distinct new customers (single reports; a partner's forwarded record is one) a
minute, for each minute from ``background_from`` (the minute an hour before the fault) to the fault's end: the
seasonal curve times that hour's realised gamma factors times the scope's share, plus what other faults running
then bring into the scope. Given these, the counts are Poisson. ``background_partner`` is the partners' steady
aggregated reporters a minute in the scope (they arrive in lumps), and ``via_partner`` the share of the fault's
extra reporters sent in partner aggregates.

All randomness comes from ``numpy.random.Generator`` and ``random.Random`` seeded with ``seed``: the same
arguments give the same output.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import orjson

from correlate import progress
from correlate.contracts import format_time, parse_timestamp
from correlate.errors import ContractError
from correlate.vendors import vendor_slug

__all__ = ["PROFILES", "Simulation", "add_parser", "minimum_days", "run", "simulate"]

FloatArray = npt.NDArray[np.floating[Any]]
Dims = dict[str, str]
Complaint = tuple[str, str]  # (category, phrase)
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
WARM_UP = 3 * DAY
_BIN = 5 * MINUTE  # background counts are drawn per 5-minute bin
_MIN_SLOT = 75 * MINUTE  # the narrowest slot that fits a 30-minute fault and a gap after it
_MIN_EXTRA = 0.3  # extra customers a minute that a rate fault adds at least
_VARIANT_RATE, _TYPO_RATE, _PARTNER_SHARE = 0.015, 0.15, 0.05


def _rows(text: str) -> tuple[tuple[str, ...], ...]:
    """A table written one row a line, cells separated by '|'."""
    return tuple(tuple(cell.strip() for cell in line.split("|")) for line in text.strip().splitlines())


def _cells(text: str) -> tuple[str, ...]:
    return _rows(text)[0]


_BRANDS = _cells("Sonique|Lumina|Vexa|Orbix|Kestrel|Nuvo|Zentra|Halcyon|Pixelle|Arcus|Tandem|Quorra|Bryte|Mistral")
_SERVICES = _cells("StreamPlus|Flixo|TuneBox|CloudDrive|Pulse TV|Chatter|PayWave|GameHub|NewsNow|FitTrack|KidsZone")
_SERVICES += _cells("SkyCast|Mailio|PhotoVault|RadioGo|Sportix")
_REGIONS = _cells("North|South|East|West|Central|Highlands|Coast|Capital|Lakes|Valley")
_PARTNERS = _cells("retailco|fixit|telcom-one|carrierx|helpdesk24")
_MODEL_WORDS = _cells("X|S|Neo|Pro|Max|Go|One|Lite|Air")
_LADDER = ("email", "web", "social", "app", "chat", "ivr", "voice")  # a customer escalates left to right
_FIRST = ("voice", "chat", "email", "app", "web", "ivr", "social")
_FIRST_SHARE = np.array([0.33, 0.20, 0.12, 0.10, 0.09, 0.09, 0.07])
_RETRIES = np.array([0.62, 0.24, 0.10, 0.04])  # P(1..4 contacts) for an everyday problem
_MEAN_CONTACTS = (1 - _PARTNER_SHARE) * float(_RETRIES @ np.arange(1, 5)) + _PARTNER_SHARE
_DIURNAL = np.array([0.30, 0.18, 0.12, 0.10, 0.10, 0.14, 0.30, 0.55, 0.85, 1.00, 1.05, 1.10,  # 00:00 ..
                     1.15, 1.10, 1.05, 1.05, 1.10, 1.25, 1.50, 1.75, 1.90, 1.75, 1.30, 0.70])  # fmt: skip
_WEEKLY = np.array([0.92, 0.90, 0.92, 0.95, 1.05, 1.15, 1.11])  # Monday .. Sunday
_OPENERS = _cells("| | | hi, | hello | help: | urgent -")
_CLOSERS = ("", "", "", " again", " pls help", "!!", ", tried restarting", " since this morning")
_OTHER = "E1999"
_CATEGORIES = _rows("""
    E1002 | video keeps buffering | stream stops to buffer every few minutes | constant buffering
    E1003 | cannot log in | login does not work | says my password is wrong but it is not
    E2001 | question about my bill | need a copy of my invoice | when is my bill due
    E1001 | no picture on the tv | black screen but sound works | screen stays black
    E3002 | internet is very slow | slow connection in the evening | pages take ages to load
    E1004 | app crashes on start | app closes straight away | app keeps crashing
    E2003 | want to cancel my subscription | how do i cancel | please cancel my plan
    E3001 | wifi keeps dropping | wifi disconnects all the time | lost wifi again
    E4003 | update failed | software update will not install | stuck on the update screen
    E1005 | no sound | sound cuts out | audio out of sync
    E2002 | wrong charge on my bill | charged twice this month | bill is higher than usual
    E4001 | remote not working | remote does not respond | need a new remote
    E5001 | password reset email not arriving | never got the reset link | reset link expired
    E4002 | device will not turn on | device is dead | power light blinks but nothing happens
    E5002 | account locked | my account got locked | too many attempts, account blocked
    E1999 | other | general question | something is not right
""")  # everyday problems, commonest first
_CATEGORY_SHARE = 1.0 / np.arange(1, len(_CATEGORIES) + 1) ** 0.8
_CATEGORY_SHARE /= _CATEGORY_SHARE.sum()
_FAULT_THEMES = _rows("""
    error {n} when i press play | video stops with error {n} | playback fails with code {n}
    cannot sign in, server unavailable ({n}) | login says service unavailable {n} | sign in fails {n}
    device keeps rebooting, code {n} | stuck in a reboot loop error {n} | restarts by itself ({n})
    payment declined with error {n} | cannot pay, it says error {n} | card rejected code {n}
    app freezes on the home screen ({n}) | home screen frozen with error {n} | app hangs at logo {n}
    no channels load, error {n} | channel list empty error {n} | guide will not load ({n})
""")  # {n} is the fault's error number
_RARE_SYMPTOMS = _rows("""
    cannot post a comment on live stream | comments wont post during the live stream | posting a comment on a live stream fails
    subtitles switch to the wrong language after update | after the update subtitles are in the wrong language | subtitle language keeps switching to a wrong one
    parental pin rejected on second profile | second profile says the parental pin is wrong | kids profile does not accept the parental pin
    offline downloads stuck at 99 percent | download for offline never finishes, stuck at 99% | offline download stops at 99 percent
    screen mirroring shows a green screen | green screen when mirroring to the tv | mirroring to my tv only shows green
    receipt email shows someone else's name | my receipt has a stranger's name on it | got a receipt with another customer's name
""")  # noqa: E501 (one symptom a line reads better than wrapped)
# Fault patterns in the order they are handed out; their slots are shuffled in time.
_PATTERNS = _cells("big-pair|brand-wide|service-wide|symptom|model|pair|symptom|brand-wide|service-wide|pair")


@dataclass(frozen=True)
class Simulation:
    """A contact stream sorted by event time and its truth (faults and decoys, one dict a truth-file line).

    ``contacts`` holds JSON-ready records; with bad records asked for, some break the contract and one kind
    is not even an object.
    """

    contacts: list[Any]
    truth: list[dict[str, Any]]
    telemetry: list[Any] = field(default_factory=list)


def _zipf(rnd: random.Random, n: int) -> FloatArray:
    weights: FloatArray = 1.0 / np.arange(1, n + 1) ** rnd.uniform(0.9, 1.4)
    result: FloatArray = weights / weights.sum()
    return result


def _seasonality(ts: FloatArray) -> FloatArray:
    """Relative volume at these event times (UTC taken as local time); averages 1 over a week."""
    daily = np.interp((ts % DAY) / HOUR, np.arange(25), np.append(_DIURNAL, _DIURNAL[0])) / _DIURNAL.mean()
    weekday = ((ts // DAY).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    result: FloatArray = daily * _WEEKLY[weekday] / _WEEKLY.mean()
    return result


def _dims(brand: str, model: str, service: str, region: str) -> Dims:
    return {"device_brand": brand, "device_model": model, "service": service, "region": region}


@dataclass(frozen=True)
class _Market:
    """Who owns what: brands, models, services and regions, with their shares of problems."""

    brands: list[str]
    models: list[list[str]]
    model_share: list[FloatArray]
    services: list[str]
    regions: list[str]
    region_share: FloatArray
    joint: FloatArray  # brand x service shares of problems at the start of the stream; sums to 1
    drift: int  # the brand whose share triples over the stream

    def joint_at(self, progress: FloatArray) -> FloatArray:
        """Brand x service shares at points of the stream (0..1), shaped (points, brands, services)."""
        growth = 3.0**progress
        base = float(self.joint[self.drift].sum())
        scale = np.repeat(((1 - base * growth) / (1 - base))[:, None], len(self.brands), axis=1)
        scale[:, self.drift] = growth
        result: FloatArray = self.joint[None, :, :] * scale[:, :, None]
        return result

    def cell_share(self, dims: Dims) -> float:
        """The share of problems in one fully specified cell (brand, model, service, region)."""
        brand = self.brands.index(dims["device_brand"])
        model = self.model_share[brand][self.models[brand].index(dims["device_model"])]
        region = self.region_share[self.regions.index(dims["region"])]
        return float(self.joint[brand, self.services.index(dims["service"])] * model * region)

    def brand_of(self, model: str) -> int:
        return next(i for i, names in enumerate(self.models) if model in names)

    def share(self, scope: Dims, progress: FloatArray, busy: FloatArray | None = None) -> FloatArray:
        """The scope's share of all problems at points of the stream, each service's share weighted by
        ``busy`` (points x services) when given."""
        rows, cols, factor = list(range(len(self.brands))), list(range(len(self.services))), 1.0
        if "device_model" in scope:
            rows = [self.brand_of(scope["device_model"])]
            factor = float(self.model_share[rows[0]][self.models[rows[0]].index(scope["device_model"])])
        elif "device_brand" in scope:
            rows = [self.brands.index(scope["device_brand"])]
        if "service" in scope:
            cols = [self.services.index(scope["service"])]
        joint = self.joint_at(progress) if busy is None else self.joint_at(progress) * busy[:, None, :]
        result: FloatArray = joint[:, rows][:, :, cols].sum(axis=(1, 2)) * factor
        return result

    def draw(self, rnd: random.Random, scope: Dims) -> Dims:
        """Full dimensions of one customer inside ``scope``, the other values drawn by market share."""
        model = scope.get("device_model")
        if model is not None:
            brand = self.brand_of(model)
        elif "device_brand" in scope:
            brand = self.brands.index(scope["device_brand"])
        else:
            column = self.services.index(scope["service"]) if "service" in scope else None
            weights = self.joint.sum(axis=1) if column is None else self.joint[:, column]
            brand = rnd.choices(range(len(self.brands)), weights=list(weights))[0]
        service = scope.get("service") or rnd.choices(self.services, weights=list(self.joint[brand]))[0]
        model = model or rnd.choices(self.models[brand], weights=list(self.model_share[brand]))[0]
        return _dims(self.brands[brand], model, service, rnd.choices(self.regions, list(self.region_share))[0])


def _build_market(rnd: random.Random) -> _Market:
    brands = rnd.sample(_BRANDS, rnd.randint(6, 12))
    services = rnd.sample(_SERVICES, rnd.randint(5, 15))
    regions = rnd.sample(_REGIONS, rnd.randint(4, 8))
    models = []
    for brand in brands:
        names: set[str] = set()
        wanted = rnd.randint(2, 6)
        while len(names) < wanted:
            names.add(f"{brand} {rnd.choice(_MODEL_WORDS)}{rnd.randint(2, 60)}")
        models.append(sorted(names))
    interaction = np.exp(np.array([[rnd.gauss(0.0, 0.35) for _ in services] for _ in brands]))
    joint = np.outer(_zipf(rnd, len(brands)), _zipf(rnd, len(services))) * interaction
    joint /= joint.sum()
    region_share = np.array([rnd.gammavariate(5.0, 1.0) for _ in regions])
    region_share /= region_share.sum()
    model_share = [_zipf(rnd, len(names)) for names in models]
    small = [i for i in range(2, len(brands)) if joint[i].sum() < 0.25]  # small enough to triple
    drift = rnd.choice(small) if small else len(brands) - 1
    return _Market(brands, models, model_share, services, regions, region_share, joint, drift)


def _typo(rnd: random.Random, text: str) -> str:
    """Swap, drop or double one character, as hurried typing does."""
    if len(text) < 3:
        return text
    i, kind = rnd.randrange(len(text) - 1), rnd.randrange(3)
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i + 1 :] if kind == 1 else text[:i] + text[i] + text[i:]


class _Emitter:
    """Turns customers' problems into contact records, with the noise that real channels add."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.records: list[tuple[float, dict[str, Any]]] = []

    def contact(self, ts: float, channel: str, customer_id: str, dims: Dims, **fields: Any) -> None:
        record: dict[str, Any] = {"channel": channel, "customer_id": customer_id, "source": "centre"}
        record["dimensions"] = self._spell(dims)
        record.update((name, value) for name, value in fields.items() if value is not None)
        self.records.append((ts, record))

    def problem(self, ts: float, who: str, dims: Dims, complaint: Complaint, contacts: int, channel: str) -> None:
        """One customer's attempts to get one problem solved: escalating contacts within two hours."""
        deadline, (code, phrase) = ts + 2 * HOUR, complaint
        for attempt in range(contacts):
            if attempt:
                ts = min(deadline, ts + self.rnd.expovariate(1 / (20 * MINUTE)))
                position = _LADDER.index(channel)
                channel = _LADDER[self.rnd.randint(position + 1, 6)] if position < 6 else channel
            category = code if self.rnd.random() < 0.92 else None  # agents do not always file one
            written = channel not in ("voice", "ivr") or self.rnd.random() < 0.5
            self.contact(ts, channel, who, dims, category=category, text=self.text(phrase) if written else None)

    def aggregate(self, ts: float, partner: str, dims: Dims, count: int, complaint: Complaint) -> None:
        code, text, source = complaint[0], self.text(complaint[1]), f"partner:{partner}"
        self.contact(ts, "partner", f"{partner}-batch", dims, source=source, category=code, text=text, count=count)

    def text(self, phrase: str) -> str:
        text = f"{self.rnd.choice(_OPENERS)} {phrase}".strip() + self.rnd.choice(_CLOSERS)
        return _typo(self.rnd, text) if self.rnd.random() < _TYPO_RATE else text

    def _spell(self, dims: Dims) -> Dims:
        if self.rnd.random() >= _VARIANT_RATE:
            return dims
        name = self.rnd.choice(sorted(dims))
        value = dims[name]
        return {**dims, name: self.rnd.choice((value.lower(), value.upper(), value + " ", " " + value))}

    def finish(self, end: float) -> list[Any]:
        kept = sorted((item for item in self.records if item[0] < end), key=lambda item: item[0])
        return [{"contact_id": f"ct-{i:07d}", "ts": format_time(t), **r} for i, (t, r) in enumerate(kept, 1)]


@dataclass(frozen=True)
class _Plan:
    """One slot of the post-warm-up stream: a fault, the global surge, or the small decoys."""

    pattern: str
    start: float
    end: float
    strength: float  # multiplier for a rate fault, relative rise for the surge


@dataclass(frozen=True)
class _PartnerCell:
    partner: str
    dims: Dims
    mean: float
    every: float

    def per_minute(self) -> float:
        """The steady level of this cell's aggregates, in reporters a minute."""
        return self.mean / self.every * MINUTE

    def within(self, scope: Dims) -> bool:
        return all(self.dims[name] == value for name, value in scope.items())


@dataclass(frozen=True)
class _Launch:
    """A model (``brand``'s ``model``-th) that nobody owns before ``at``: a cell that starts cold."""

    brand: int
    model: int
    at: float


@dataclass(frozen=True)
class _Injected:
    """A rate fault as injected: its truth entry, its scope (``services``: a cause outside the dimensions), the
    start of each of its minutes, and the extra single reports expected in each."""

    entry: dict[str, Any]
    scope: Dims
    services: tuple[str, ...]
    minutes: FloatArray
    extra: FloatArray


@dataclass(frozen=True)
class _Busyness:
    """How much busier than its seasonal curve each hour of the stream is: a gamma factor for the whole centre
    (shape 30) and one per service (shape 20). Drawn once, so that faults scale with the hour they fall in."""

    centre: FloatArray  # one per hour of the stream
    services: FloatArray  # hours x services

    @classmethod
    def draw(cls, g: np.random.Generator, hours: int, services: int) -> _Busyness:
        return cls(g.gamma(30.0, 1 / 30, hours), g.gamma(20.0, 1 / 20, (hours, services)))


@dataclass
class _World:
    """What every injector needs, passed as one object rather than a dozen arguments."""

    g: np.random.Generator
    rnd: random.Random
    market: _Market
    emitter: _Emitter
    start: float
    end: float
    per_minute: float  # everyday problems a minute at average seasonality
    partners: list[str]
    cells: list[_PartnerCell]
    busy: _Busyness
    surge: _Plan | None
    injected: list[_Injected] = field(default_factory=list)  # every rate fault, for the truth's backgrounds
    rhythm: bool = True  # False: a flat stream, no daily or weekly curve
    launch: _Launch | None = None  # a model that first appears part-way through the stream

    def customer(self) -> str:
        return f"cu-{self.rnd.randrange(10**8):08d}"

    def everyday(self) -> Complaint:
        code, *phrases = self.rnd.choices(_CATEGORIES, weights=list(_CATEGORY_SHARE))[0]
        return code, self.rnd.choice(phrases)

    def progress(self, ts: FloatArray) -> FloatArray:
        result: FloatArray = (ts - self.start) / (self.end - self.start)
        return result

    def bins(self, ts: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """The middle of each time's 5-minute background bin, and the hour of the stream it falls in."""
        mids: FloatArray = self.start + ((ts - self.start) // _BIN + 0.5) * _BIN
        return mids, ((mids - self.start) // HOUR).astype(np.int64)

    def seasonality(self, ts: FloatArray) -> FloatArray:
        return _seasonality(ts) if self.rhythm else np.ones_like(ts)

    def usual(self, scope: Dims, ts: FloatArray) -> FloatArray:
        """Reporters a minute the scope brings at these times when nothing is wrong, as the background draws
        them: the centre's customers (seasonality, surge, this hour's busyness, market drift) plus the
        partners' steady aggregates, which keep their level at night."""
        result: FloatArray = self.centre_usual(scope, ts) + self.partner_level(scope)
        return result

    def centre_usual(self, scope: Dims, ts: FloatArray, services: tuple[str, ...] = ()) -> FloatArray:
        """The centre's distinct new customers a minute in the scope at these times (single reports: a partner's
        forwarded record included, its aggregates not), as the background draws them. A ``region`` in the scope
        scales by the region's share; ``services`` (a scope outside the dimensions) sums over those services."""
        mids, hour = self.bins(ts)
        level = self.per_minute * self.seasonality(mids) * _surge(mids, self.surge) * self.busy.centre[hour]
        market, progress, busy = self.market, self.progress(mids), self.busy.services[hour]
        plain = {name: value for name, value in scope.items() if name != "region"}
        if services:
            shares = [market.share({**plain, "service": service}, progress, busy) for service in services]
            share: FloatArray = np.sum(shares, axis=0)
        else:
            share = market.share(plain, progress, busy)
        if "region" in scope:
            share = share * float(market.region_share[market.regions.index(scope["region"])])
        result: FloatArray = level * share
        return result

    def partner_level(self, scope: Dims) -> float:
        """The partners' steady aggregates in the scope, reporters a minute."""
        return sum(cell.per_minute() for cell in self.cells if cell.within(scope))

    def brands_without_drift(self) -> list[str]:
        return [brand for i, brand in enumerate(self.market.brands) if i != self.market.drift]


def minimum_days(faults: int) -> float:
    """The shortest stream, in days rounded up to a hundredth, that fits ``faults`` faults after the warm-up:
    each of them, the global surge and the small decoys take a slot of at least 75 minutes, and the last
    hour of the stream is left quiet (see :func:`_plan`)."""
    seconds = WARM_UP + (faults + 2) * _MIN_SLOT + HOUR
    return math.ceil(seconds / DAY * 100) / 100


def _plan(rnd: random.Random, faults: int, start: float, end: float) -> list[_Plan]:
    """Cut the post-warm-up stream into equal slots, one event each, so that no two overlap in time."""
    patterns = [_PATTERNS[i % len(_PATTERNS)] for i in range(faults)] + ["global-surge", "decoys"]
    first = start + WARM_UP
    width = (end - HOUR - first) / len(patterns)
    if width < _MIN_SLOT:
        if faults:
            fits = math.floor((end - start - WARM_UP - HOUR) / _MIN_SLOT) - 2
            fewer = f"or at most {fits} with --faults {fits}" if fits > 0 else "or --faults 0 for none"
            raise ValueError(
                f"{(end - start) / DAY:g} days leave no room for {faults} faults after the 3-day warm-up: "
                f"{faults} faults need at least --days {minimum_days(faults):g} ({fewer})"
            )
        return []
    rnd.shuffle(patterns)
    plans, longest = [], min(4 * HOUR, 0.45 * width)
    for i, pattern in enumerate(patterns):
        if pattern == "symptom":
            duration = rnd.uniform(20 * MINUTE, HOUR)
        elif pattern == "decoys":
            duration = 0.5 * width
        else:
            duration = rnd.uniform(min(2 * HOUR if pattern == "global-surge" else 30 * MINUTE, longest), longest)
        begin = first + i * width + rnd.uniform(0, 0.25 * width)
        strength = rnd.uniform(0.3, 0.5) if pattern == "global-surge" else rnd.uniform(3.0, 10.0)
        plans.append(_Plan(pattern, begin, begin + duration, strength))
    return plans


def _surge(ts: FloatArray, plan: _Plan | None) -> FloatArray:
    if plan is None:
        return np.ones_like(ts)
    ramp = np.clip(np.minimum(ts - plan.start, plan.end - ts) / (30 * MINUTE), 0.0, 1.0)
    result: FloatArray = 1.0 + plan.strength * ramp
    return result


def _hours(start: float, end: float) -> int:
    """Hours of the stream that hold a background bin's middle."""
    return int((math.ceil((end - start) / _BIN) - 0.5) * _BIN // HOUR) + 1


def _background(w: _World) -> None:
    """Everyday problems: Poisson-gamma counts per 5-minute bin and brand x service cell, then customers."""
    g, market = w.g, w.market
    mids, hour = w.bins(w.start + np.arange(math.ceil((w.end - w.start) / _BIN)) * _BIN)
    level = w.per_minute * (_BIN / MINUTE) * w.seasonality(mids) * _surge(mids, w.surge) * w.busy.centre[hour]
    counts: npt.NDArray[np.int64] = g.poisson(
        market.joint_at(w.progress(mids)) * level[:, None, None] * w.busy.services[hour][:, None, :]
    )
    bins, brands, services = np.unravel_index(np.repeat(np.arange(counts.size), counts.ravel()), counts.shape)
    n = len(bins)
    models = np.zeros(n, np.int64)
    for b in range(len(market.brands)):
        mine = brands == b
        models[mine] = g.choice(len(market.models[b]), size=int(mine.sum()), p=market.model_share[b])
    if w.launch is not None:  # before its launch, the new model's share goes to its brand's other models
        b, m, at = w.launch.brand, w.launch.model, w.launch.at
        before = (brands == b) & (models == m) & (w.start + bins * _BIN < at)
        others = [i for i in range(len(market.models[b])) if i != m]
        weights = market.model_share[b][others] / market.model_share[b][others].sum()
        models[before] = np.asarray(others)[g.choice(len(others), size=int(before.sum()), p=weights)]
    columns = (w.start + bins * _BIN + g.uniform(0, _BIN, n), brands, models, services,
               g.choice(len(market.regions), size=n, p=market.region_share),
               g.choice(len(_CATEGORIES), size=n, p=_CATEGORY_SHARE), g.choice(4, size=n, p=_RETRIES) + 1,
               g.choice(len(_FIRST), size=n, p=_FIRST_SHARE), g.random(n) < _PARTNER_SHARE,
               g.integers(0, 10**8, n))  # fmt: skip
    rows = zip(*(column.tolist() for column in columns), strict=True)
    for ts, b, m, s, r, c, contacts, first, forwarded, who in rows:
        dims = _dims(market.brands[b], market.models[b][m], market.services[s], market.regions[r])
        complaint = (_CATEGORIES[c][0], w.rnd.choice(_CATEGORIES[c][1:]))
        if forwarded:
            partner = w.partners[who % len(w.partners)]
            text, source = w.emitter.text(complaint[1]), f"partner:{partner}"
            category = complaint[0]
            w.emitter.contact(ts, "partner", f"{partner}-{who:08d}", dims, source=source, category=category, text=text)
        else:
            w.emitter.problem(ts, f"cu-{who:08d}", dims, complaint, contacts, _FIRST[first])


def _partner_cells(rnd: random.Random, market: _Market, partners: list[str], per_minute: float) -> list[_PartnerCell]:
    """2-5 fixed cells a partner. Each aggregate holds about what the centre hears from the cell over the
    interval (x0.5-1.5, at least 5): every 2-6 hours, or less often for a cell too small to fill one."""
    cells = []
    for partner in partners:
        for _ in range(rnd.randint(2, 5)):
            dims = market.draw(rnd, {})
            per_second = per_minute / MINUTE * market.cell_share(dims)
            every = min(DAY, max(rnd.uniform(2, 6) * HOUR, 5 / per_second))
            mean = min(200.0, max(5.0, per_second * every * rnd.uniform(0.5, 1.5)))
            cells.append(_PartnerCell(partner, dims, mean, every))
    return cells


def _partner_background(w: _World) -> None:
    """Each partner's steady aggregates for its cells: a level a detector must learn, not alarm on."""
    for cell in w.cells:
        ts = w.start + w.rnd.uniform(0, cell.every)
        while ts < w.end:
            w.emitter.aggregate(ts, cell.partner, cell.dims, max(2, int(w.g.poisson(cell.mean))), w.everyday())
            ts += cell.every * w.rnd.uniform(0.8, 1.2)


def _truth(pattern: str, kind: str, scope: Dims, span: tuple[float, float], text: str, vendors: list[str]) -> Any:
    return {
        "fault_id": "",
        "kind": kind,
        "decoy": kind == "decoy",
        "pattern": pattern,
        "scope": scope,
        "start": format_time(span[0]),
        "end": format_time(span[1]),
        "vendors_at_fault": vendors,
        "description": text,
    }


def _rate_scope(w: _World, pattern: str) -> Dims:
    market, rnd, brands = w.market, w.rnd, w.brands_without_drift()
    if pattern == "big-pair":
        by_size = [market.brands[i] for i in np.argsort(-market.joint.sum(axis=1)) if i != market.drift]
        top_services = [market.services[i] for i in np.argsort(-market.joint.sum(axis=0))[:2]]
        return {"device_brand": rnd.choice(by_size[:2]), "service": rnd.choice(top_services)}
    if pattern == "brand-wide":
        return {"device_brand": rnd.choice(brands)}
    if pattern == "service-wide":
        return {"service": rnd.choice(market.services)}
    if pattern == "pair":
        return {"device_brand": rnd.choice(brands), "service": rnd.choice(market.services)}
    return {"device_model": rnd.choice(market.models[market.brands.index(rnd.choice(brands))])}


def _vendors(market: _Market, scope: Dims) -> list[str]:
    """Who is at fault: the brand and/or service the scope names; for a model fault, its brand."""
    if "device_model" in scope:
        return [vendor_slug(market.brands[market.brand_of(scope["device_model"])])]
    return sorted(vendor_slug(scope[name]) for name in ("device_brand", "service") if name in scope)


def _rate_fault(w: _World, plan: _Plan, number: int, phrasings: tuple[str, ...]) -> Any:
    """Extra distinct customers in the scope: ``strength - 1`` times its usual level minute by minute (what
    the background really brings then, partners' aggregates included), and at least 0.3 a minute."""
    scope, rnd, code = _rate_scope(w, plan.pattern), w.rnd, f"E{number}"
    minutes = np.arange(plan.start, plan.end, MINUTE)
    inside = np.minimum(plan.end - minutes, MINUTE) / MINUTE  # the last minute is cut short by the end
    usual = w.usual(scope, minutes) * inside
    extra = np.maximum((plan.strength - 1) * usual, _MIN_EXTRA * inside)
    # A partner carries part of the rise only when its 15-minute aggregates would hold a few reporters.
    via_partner = 0.3 if rnd.random() < 1 / 3 and extra.mean() * 15 * 0.3 >= 5 else 0.0
    arrivals = w.g.poisson(extra * (1 - via_partner)).tolist()
    for minute, share, arriving in zip(minutes.tolist(), inside.tolist(), arrivals, strict=True):
        for _ in range(arriving):
            complaint = (
                code if rnd.random() < 0.85 else w.everyday()[0],
                rnd.choice(phrasings).format(n=number),
            )
            channel, contacts = rnd.choice(_LADDER), rnd.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]
            dims, ts = w.market.draw(rnd, scope), minute + rnd.uniform(0, share * MINUTE)
            w.emitter.problem(ts, w.customer(), dims, complaint, contacts, channel)
    if via_partner:
        _partner_rise(w, scope, (minutes, plan.end), extra * via_partner, (code, phrasings[0].format(n=number)))
    strength, pattern = round(1 + float(extra.sum() / usual.sum()), 2), plan.pattern.removeprefix("big-")
    text = f"{pattern} fault: {strength:.1f}x the usual distinct customers"
    if np.any((plan.strength - 1) * usual < _MIN_EXTRA * inside):
        text += f" ({plan.strength:.1f}x, but at least {_MIN_EXTRA:g} more a minute)"
    span, vendors = (plan.start, plan.end), _vendors(w.market, scope)
    entry = _truth(pattern, "rate", scope, span, f"{text}, category {code}", vendors)
    entry = {**entry, "strength": strength, "via_partner": via_partner}
    w.injected.append(_Injected(entry, scope, (), minutes, extra * (1 - via_partner)))
    return entry


def _partner_rise(
    w: _World, scope: Dims, fault: tuple[FloatArray, float], extra: FloatArray, complaint: Complaint
) -> None:
    """A partner's share of a fault's extra reporters (``extra`` a minute of the fault): an aggregate every
    15 minutes until the fault ends, or a single forwarded record when only one reporter turns up."""
    (minutes, end), rnd, partner = fault, w.rnd, w.rnd.choice(w.partners)
    for i in range(0, len(minutes), 15):
        count = int(w.g.poisson(extra[i : i + 15].sum()))
        begin = float(minutes[i])
        ts, dims = rnd.uniform(begin, min(begin + 15 * MINUTE, end)), w.market.draw(rnd, scope)
        if count >= 2:
            w.emitter.aggregate(ts, partner, dims, count, complaint)
        elif count == 1:
            text, source = w.emitter.text(complaint[1]), f"partner:{partner}"
            who = f"{partner}-{rnd.randrange(10**8):08d}"
            w.emitter.contact(ts, "partner", who, dims, source=source, category=complaint[0], text=text)


def _symptom_fault(w: _World, plan: _Plan, phrasings: tuple[str, ...]) -> Any:
    """A handful of near-identical texts about a rare symptom, from different customers within an hour."""
    rnd, service = w.rnd, w.rnd.choice(w.market.services)
    scope = {"service": service}
    if rnd.random() < 0.5:
        scope = {"device_brand": rnd.choice(w.brands_without_drift()), "service": service}
    reporters = rnd.randint(3, 6)
    times = sorted(rnd.uniform(plan.start, plan.end) for _ in range(reporters))
    for ts in times:
        # On a service-wide symptom the reporters own any brand: the service is what they share.
        dims = w.market.draw(rnd, {"device_brand": scope.get("device_brand") or rnd.choice(w.market.brands)})
        dims["service"] = service
        phrase = rnd.choice(phrasings)
        phrase = _typo(rnd, phrase) if rnd.random() < 0.3 else phrase
        channel = rnd.choice(("chat", "email", "app", "social", "web"))
        w.emitter.problem(ts, w.customer(), dims, (_OTHER, phrase), rnd.choice((1, 1, 2)), channel)
    text = f"{reporters} customers describe a rare symptom: {phrasings[0]!r}"
    return _truth("symptom", "symptom", scope, (times[0], times[-1]), text, _vendors(w.market, scope))


def _small_decoys(w: _World, plan: _Plan) -> list[Any]:
    """A customer who tries every channel, nine times in an hour; a partner aggregate of the usual size."""
    rnd, dims, customer = w.rnd, w.market.draw(w.rnd, {}), w.customer()
    code, phrase = w.everyday()
    channels = rnd.sample(_LADDER, len(_LADDER)) + rnd.sample(_LADDER, 2)
    times = sorted(rnd.uniform(plan.start, plan.start + 55 * MINUTE) for _ in channels)
    for ts, channel in zip(times, channels, strict=True):
        w.emitter.contact(ts, channel, customer, dims, category=code, text=w.emitter.text(phrase))
    text = "one customer contacts nine times on every channel within an hour"
    decoys = [_truth("repeat-customer", "decoy", dict(dims), (times[0], times[-1]), text, [])]
    if w.cells:
        cell = rnd.choice(w.cells)
        w.emitter.aggregate(plan.end, cell.partner, cell.dims, round(cell.mean), w.everyday())
        text = f"partner:{cell.partner} sends an aggregate of its usual size ({round(cell.mean)})"
        decoys.append(_truth("partner-aggregate", "decoy", dict(cell.dims), (plan.end, plan.end), text, []))
    return decoys


def _inject(w: _World, plans: list[_Plan], specs: list[_Spec]) -> list[Any]:
    """Faults and decoys into the stream; their truth entries, faults first, each group in time order, each rate
    fault with its true background."""
    drift = w.market.brands[w.market.drift]
    text = f"{drift}'s market share triples smoothly over the stream"
    truth = [_truth("drift", "decoy", {"device_brand": drift}, (w.start, w.end), text, [])]
    numbers = w.rnd.sample(range(6000, 10000), len(plans))
    themes = w.rnd.sample(_FAULT_THEMES, len(_FAULT_THEMES))
    symptoms = w.rnd.sample(_RARE_SYMPTOMS, len(_RARE_SYMPTOMS))
    for i, plan in enumerate(plans):
        if plan.pattern == "global-surge":
            text = f"every cell rises together by {plan.strength:.0%} (a big TV event)"
            truth.append(_truth(plan.pattern, "decoy", {}, (plan.start, plan.end), text, []))
        elif plan.pattern == "decoys":
            truth.extend(_small_decoys(w, plan))
        elif plan.pattern == "symptom":
            truth.append(_symptom_fault(w, plan, symptoms[i % len(symptoms)]))
        else:
            truth.append(_rate_fault(w, plan, numbers[i], themes[i % len(themes)]))
    truth.extend(_ramped_fault(w, spec) for spec in specs)
    truth.sort(key=lambda entry: (entry["decoy"], entry["start"]))
    for group in (False, True):
        for number, entry in enumerate((e for e in truth if e["decoy"] is group), 1):
            entry["fault_id"] = f"{'d' if group else 'f'}{number}"
    _link_groups(truth)
    _record_backgrounds(w)
    return truth


# -- the hard and flat profiles: slow, weak, everyday-sounding faults, and the cases that trip detectors up --------
PROFILES = ("standard", "hard", "flat")
_GAP = 65 * MINUTE  # between one event's end and the next one's start: the background hour before a fault is clean
_FLAT_FAULT_AFTER = 30 * HOUR


@dataclass(frozen=True)
class _Spec:
    """A rate fault of the hard or flat profile, its scope chosen when planned (a repeat needs the same one twice,
    a launched model its launch before the background is drawn).

    ``strength`` is the multiplier over the scope's usual level once the ramp (``ramp`` seconds, linear from
    nothing) is over; ``services`` names the services a cause outside the dimensions serves (``scope`` is then
    empty); ``group`` ties the two faults of a repeat or of a concurrent pair together."""

    case: str
    pattern: str
    scope: Dims
    start: float
    end: float
    strength: float
    ramp: float
    services: tuple[str, ...] = ()
    group: str = ""


@dataclass(frozen=True)
class _Shape:
    """A fault's shape before it is placed in time: the part of a repeat or a concurrent pair starts ``offset``
    seconds after the first part."""

    case: str
    pattern: str
    scope: Dims
    duration: float
    strength: float
    ramp: float
    services: tuple[str, ...] = ()
    group: str = ""
    offset: float = 0.0

    def at(self, start: float) -> _Spec:
        begin = start + self.offset
        end = begin + self.duration
        return _Spec(
            self.case, self.pattern, self.scope, begin, end, self.strength, self.ramp, self.services, self.group
        )


def _shape(rnd: random.Random, case: str, pattern: str, scope: Dims, weakest: float, strongest: float) -> _Shape:
    """A ramp of 10-60 minutes, then a plateau of 30 minutes to 2.5 hours at ``weakest``-``strongest`` times the
    scope's usual level."""
    ramp = rnd.uniform(10 * MINUTE, HOUR)
    duration = ramp + rnd.uniform(30 * MINUTE, 2.5 * HOUR)
    return _Shape(case, pattern, scope, duration, rnd.uniform(weakest, strongest), ramp)


def _ranked(weights: FloatArray, names: list[str], skip: int | None = None) -> list[str]:
    """Names by weight, largest first (``skip``: an index to leave out)."""
    return [names[i] for i in np.argsort(-weights, kind="stable").tolist() if i != skip]


def _hard_shapes(
    rnd: random.Random, market: _Market, cells: list[_PartnerCell]
) -> tuple[list[_Shape], list[_Shape], _Shape]:
    """(the post-warm-up faults, one entry a slot: a repeat's two days and a concurrent pair are one entry each;
    the repeat; the new model's fault) for the hard profile."""
    brands = _ranked(market.joint.sum(axis=1), market.brands, market.drift)
    services = _ranked(market.joint.sum(axis=0), market.services)
    regions = _ranked(market.region_share, market.regions)
    biggest = market.brands.index(brands[0])
    big_model = _ranked(market.model_share[biggest], market.models[biggest])[0]
    shapes = [
        _shape(rnd, "big-model", "model", {"device_model": big_model}, 1.3, 3.0),
        _shape(rnd, "big-pair", "pair", {"device_brand": brands[0], "service": services[0]}, 1.3, 3.0),
        _shape(rnd, "weak", "brand-wide", {"device_brand": rnd.choice(brands)}, 1.3, 3.0),
        _shape(rnd, "weak", "service-wide", {"service": rnd.choice(services)}, 1.3, 3.0),
        _shape(
            rnd, "weak", "pair", {"device_brand": rnd.choice(brands[:4]), "service": rnd.choice(services[:4])}, 1.3, 3.0
        ),
        _shape(
            rnd,
            "triple",
            "triple",
            {
                "device_brand": rnd.choice(brands[:2]),
                "service": rnd.choice(services[:2]),
                "region": rnd.choice(regions[:2]),
            },
            2.0,
            4.0,
        ),
    ]
    served = tuple(sorted(rnd.sample(services, max(2, round(len(services) / 3)))))
    cdn = _shape(rnd, "out-of-schema", "out-of-schema", {}, 1.3, 2.5)
    shapes.append(replace(cdn, services=served))
    brand, service = rnd.choice(brands[:4]), rnd.choice(services[:4])
    first = _shape(rnd, "concurrent", "brand-wide", {"device_brand": brand}, 1.4, 2.5)
    second = _shape(rnd, "concurrent", "service-wide", {"service": service}, 1.4, 2.5)
    lag = rnd.uniform(10 * MINUTE, 40 * MINUTE)
    shapes += [replace(first, group="concurrent"), replace(second, group="concurrent", offset=lag)]
    if rnd.random() < 0.5:
        scope = {"device_brand": rnd.choice(brands[:4])}
    else:
        scope = {"device_brand": rnd.choice(brands[:3]), "service": rnd.choice(services[:3])}
    repeat = _shape(rnd, "repeat", "brand-wide" if len(scope) == 1 else "pair", scope, 1.5, 3.0)
    repeat = replace(repeat, group="repeat")
    # The launched model is not the biggest brand's (its biggest model has a fault of its own) nor one a partner
    # already reports on (its aggregates would show it before the launch).
    reported = {cell.dims["device_model"] for cell in cells}
    candidates = [m for b in brands[1:5] for m in market.models[market.brands.index(b)] if m not in reported]
    new_model = rnd.choice(candidates or [m for b in brands[1:] for m in market.models[market.brands.index(b)]])
    new_cell = _shape(rnd, "new-cell", "model", {"device_model": new_model}, 2.0, 4.0)
    return shapes, [repeat], new_cell


def _lay_out(rnd: random.Random, lengths: list[float], free: list[tuple[float, float]]) -> list[float] | None:
    """Starts for events of these lengths inside the free intervals, ``_GAP`` apart, in the order given (first
    fit), then each interval's slack spread at random between its events; None when they do not fit."""
    cursor, placed = [lo for lo, _ in free], []
    for length in lengths:
        for i, (_, hi) in enumerate(free):
            if cursor[i] + length <= hi:
                placed.append((i, cursor[i]))
                cursor[i] += length + _GAP
                break
        else:
            return None
    starts = [start for _, start in placed]
    for i, (_, hi) in enumerate(free):
        members = [k for k, (interval, _) in enumerate(placed) if interval == i]
        slack = hi - (cursor[i] - _GAP)
        for k, shift in zip(members, sorted(rnd.uniform(0, slack) for _ in members), strict=True):
            starts[k] += shift
    return starts


def _hard_plan(
    rnd: random.Random, market: _Market, cells: list[_PartnerCell], start: float, end: float
) -> tuple[list[_Plan], list[_Spec], _Launch]:
    """The hard profile's events: a brand-wide fault on day 2 (cold start), the same fault on two consecutive days,
    a fault on a model launched the day before, two concurrent faults, the others one a slot, a symptom fault and
    the decoys, all placed at random after the warm-up without overlapping."""
    shapes, (repeat,), new_cell = _hard_shapes(rnd, market, cells)
    brands = _ranked(market.joint.sum(axis=1), market.brands, market.drift)
    launched_brand = market.brand_of(new_cell.scope["device_model"])
    cold_brand = rnd.choice([b for b in brands[:3] if market.brands.index(b) != launched_brand])
    cold = _shape(rnd, "cold-start", "brand-wide", {"device_brand": cold_brand}, 1.8, 3.0)
    cold_spec = cold.at(start + DAY + rnd.uniform(8 * HOUR, 16 * HOUR))
    first, last = start + WARM_UP, end - HOUR
    latest_repeat = last - DAY - repeat.duration
    if latest_repeat <= first + DAY:
        raise ValueError(f"the hard profile needs at least {_HARD_DAYS:g} days, not {(end - start) / DAY:g}")
    repeat_start = rnd.uniform(first, latest_repeat)
    taken = [(repeat_start, repeat_start + repeat.duration), (repeat_start + DAY, repeat_start + DAY + repeat.duration)]
    free = [(first, taken[0][0] - _GAP), (taken[0][1] + _GAP, taken[1][0] - _GAP), (taken[1][1] + _GAP, last)]
    groups: list[list[_Shape]] = [[shape] for shape in shapes if not shape.group]
    groups.append([shape for shape in shapes if shape.group == "concurrent"])
    groups.append([new_cell])
    others = ["global-surge", "decoys", "symptom"]
    lengths = [rnd.uniform(2 * HOUR, 4 * HOUR), HOUR, rnd.uniform(20 * MINUTE, HOUR)]
    order = list(range(len(groups) + len(others)))
    rnd.shuffle(order)
    group_lengths = [max(shape.offset + shape.duration for shape in group) for group in groups]
    every = group_lengths + lengths
    starts = _lay_out(rnd, [every[i] for i in order], free)
    if starts is None:
        raise ValueError(f"the hard profile needs at least {_HARD_DAYS:g} days, not {(end - start) / DAY:g}")
    at = dict(zip(order, starts, strict=True))
    specs = [cold_spec, repeat.at(repeat_start), repeat.at(repeat_start + DAY)]
    specs += [shape.at(at[i]) for i, group in enumerate(groups) for shape in group]
    plans = []
    for k, pattern in enumerate(others):
        begin = at[len(groups) + k]
        strength = rnd.uniform(0.3, 0.5) if pattern == "global-surge" else 0.0
        plans.append(_Plan(pattern, begin, begin + lengths[k], strength))
    new_spec = next(spec for spec in specs if spec.case == "new-cell")
    brand = market.brand_of(new_spec.scope["device_model"])
    model = market.models[brand].index(new_spec.scope["device_model"])
    return plans, specs, _Launch(brand, model, new_spec.start - rnd.uniform(18 * HOUR, 30 * HOUR))


_HARD_DAYS = 6.0  # what the hard profile's events fit in after the warm-up, with room to place them at random


def _flat_plan(rnd: random.Random, market: _Market, start: float, end: float) -> list[_Spec]:
    """One brand-wide or pair fault, 30-34 hours into a stream without rhythm."""
    brands = _ranked(market.joint.sum(axis=1), market.brands, market.drift)
    services = _ranked(market.joint.sum(axis=0), market.services)
    if rnd.random() < 0.5:
        shape = _shape(rnd, "flat", "brand-wide", {"device_brand": rnd.choice(brands[:4])}, 1.5, 3.0)
    else:
        scope = {"device_brand": rnd.choice(brands[:3]), "service": rnd.choice(services[:3])}
        shape = _shape(rnd, "flat", "pair", scope, 1.5, 3.0)
    spec = shape.at(start + _FLAT_FAULT_AFTER + rnd.uniform(0, 4 * HOUR))
    if spec.end + HOUR > end:
        raise ValueError(f"the flat profile needs at least {_FLAT_DAYS:g} days, not {(end - start) / DAY:g}")
    return [spec]


_FLAT_DAYS = 1.6  # 30-34 hours of history, a fault of up to 3.5 hours, an hour after it


def _draw_in(w: _World, spec: _Spec, ts: float) -> Dims:
    """One affected customer's dimensions: inside the scope (its region too), on one of the served services for a
    cause outside the dimensions, never a launched model before its launch."""
    market, rnd = w.market, w.rnd
    scope = {name: value for name, value in spec.scope.items() if name != "region"}
    if spec.services:
        columns = [market.services.index(service) for service in spec.services]
        scope["service"] = rnd.choices(spec.services, weights=market.joint[:, columns].sum(axis=0).tolist())[0]
    dims = market.draw(rnd, scope)
    launch = w.launch
    while launch is not None and ts < launch.at and dims["device_model"] == market.models[launch.brand][launch.model]:
        dims = market.draw(rnd, scope)
    if "region" in spec.scope:
        dims["region"] = spec.scope["region"]
    return dims


def _expected_extra(w: _World, spec: _Spec, minutes: FloatArray) -> FloatArray:
    """Extra customers the fault brings in each of these minutes (starts): ``strength - 1`` times the scope's
    usual level, times the ramp, times the part of the minute inside the fault."""
    inside = np.clip(np.minimum(spec.end - minutes, MINUTE) / MINUTE, 0.0, 1.0) * (minutes >= spec.start)
    ramp = np.clip((minutes + MINUTE / 2 - spec.start) / spec.ramp, 0.0, 1.0)
    usual = w.centre_usual(spec.scope, minutes, spec.services) + w.partner_level(spec.scope)
    result: FloatArray = (spec.strength - 1.0) * usual * ramp * inside
    return result


def _ramped_fault(w: _World, spec: _Spec) -> dict[str, Any]:
    """Extra customers with an everyday complaint (one of the background's categories, its own phrases) rising
    linearly over the ramp, then at ``strength`` times the scope's usual level until the end."""
    rnd = w.rnd
    code, *phrasings = rnd.choices(_CATEGORIES[:-1], weights=list(_CATEGORY_SHARE[:-1]))[0]
    minutes = np.arange(spec.start, spec.end, MINUTE)
    extra = _expected_extra(w, spec, minutes)
    arrivals = w.g.poisson(extra).tolist()
    for minute, arriving in zip(minutes.tolist(), arrivals, strict=True):
        for _ in range(arriving):
            ts = minute + rnd.uniform(0, min(MINUTE, spec.end - minute))
            complaint = (code if rnd.random() < 0.85 else w.everyday()[0], rnd.choice(phrasings))
            channel, contacts = rnd.choice(_LADDER), rnd.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]
            w.emitter.problem(ts, w.customer(), _draw_in(w, spec, ts), complaint, contacts, channel)
    usual = w.centre_usual(spec.scope, minutes, spec.services) + w.partner_level(spec.scope)
    inside = np.minimum(spec.end - minutes, MINUTE) / MINUTE
    strength = round(1 + float(extra.sum() / (usual * inside).sum()), 2)
    ramp = round(spec.ramp / MINUTE, 1)
    where = "its services" if spec.services else "the scope"
    text = (
        f"{spec.case} {spec.pattern} fault: rises over {ramp:g} min to {spec.strength:.1f}x the usual distinct "
        f"customers in {where} ({strength:.1f}x over the fault), everyday complaint {code}"
    )
    vendors = [] if spec.services else _vendors(w.market, spec.scope)
    entry: dict[str, Any] = _truth(spec.pattern, "rate", spec.scope, (spec.start, spec.end), text, vendors)
    entry |= {"strength": strength, "via_partner": 0.0, "case": spec.case, "ramp_minutes": ramp}
    entry["plateau_strength"] = round(spec.strength, 2)
    if spec.services:
        entry |= {"unattributable": True, "services": list(spec.services)}
    if spec.case == "new-cell" and w.launch is not None:
        entry["cell_first_seen"] = format_time(w.launch.at)
    if spec.group:
        entry["_group"] = spec.group
    w.injected.append(_Injected(entry, spec.scope, spec.services, minutes, extra))
    return entry


def _link_groups(truth: list[dict[str, Any]]) -> None:
    """Name a repeat's first fault in its second's ``repeat_of``, and each concurrent fault's partner in its
    ``concurrent_with`` (fault ids are given once the truth is sorted)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in truth:
        if "_group" in entry:
            groups.setdefault(entry.pop("_group"), []).append(entry)
    for name, entries in groups.items():
        first, second = sorted(entries, key=lambda entry: entry["start"])
        if name == "repeat":
            first["case"], second["case"], second["repeat_of"] = "repeat-first", "repeat-second", first["fault_id"]
        else:
            first["concurrent_with"], second["concurrent_with"] = second["fault_id"], first["fault_id"]


def _services_of(scope: Dims, services: tuple[str, ...]) -> tuple[str, ...]:
    """The services a scope is limited to (none: all)."""
    return services or ((scope["service"],) if "service" in scope else ())


def _draw_share(market: _Market, drawn: _Injected, scope: Dims, services: tuple[str, ...]) -> float:
    """The share of one fault's customers (as :meth:`_Market.draw` and :func:`_draw_in` draw them) that fall
    inside another scope."""
    joint, where = market.joint, np.zeros_like(market.joint)
    named = drawn.scope
    brand = market.brand_of(named["device_model"]) if "device_model" in named else None
    if "device_brand" in named:
        brand = market.brands.index(named["device_brand"])
    columns = [market.services.index(s) for s in _services_of(named, drawn.services)]
    rows = [brand] if brand is not None else list(range(len(market.brands)))
    if brand is not None and "service" in named:
        where[brand, columns[0]] = 1.0
    else:
        chosen = columns or list(range(len(market.services)))
        where[np.ix_(rows, chosen)] = joint[np.ix_(rows, chosen)]
    where /= where.sum()
    target_rows = list(range(len(market.brands)))
    if "device_model" in scope:
        target_rows = [market.brand_of(scope["device_model"])]
    elif "device_brand" in scope:
        target_rows = [market.brands.index(scope["device_brand"])]
    target_columns = [market.services.index(s) for s in _services_of(scope, services)]
    share = float(where[np.ix_(target_rows, target_columns or list(range(len(market.services))))].sum())
    if "device_model" in scope:
        if "device_model" in named:
            share *= float(named["device_model"] == scope["device_model"])
        else:
            b = market.brand_of(scope["device_model"])
            share *= float(market.model_share[b][market.models[b].index(scope["device_model"])])
    if "region" in scope:
        if "region" in named:
            share *= float(named["region"] == scope["region"])
        else:
            share *= float(market.region_share[market.regions.index(scope["region"])])
    return share


def _record_backgrounds(w: _World) -> None:
    """Write into each rate fault's truth entry what its scope would have had without it, minute by minute from an
    hour before it starts to its end: ``background`` (distinct new customers a minute, single reports, each
    minute from ``background_from``), the seasonal curve times that hour's realised busyness times the scope's
    share, plus what other faults running then bring into the scope; and ``background_partner``, the partners'
    steady aggregated reporters a minute in the scope (aggregates arrive in lumps, a few a day)."""
    for mine in w.injected:
        entry = mine.entry
        first = math.floor((parse_timestamp(entry["start"]) - HOUR) / MINUTE) * MINUTE
        last = math.ceil(parse_timestamp(entry["end"]) / MINUTE) * MINUTE
        grid = np.arange(first, last, MINUTE)
        background = w.centre_usual(mine.scope, grid + MINUTE / 2, mine.services)
        for other in w.injected:
            if other is mine:
                continue
            index = ((other.minutes - first) // MINUTE).astype(np.int64)
            inside = (index >= 0) & (index < len(grid))
            if inside.any():
                share = _draw_share(w.market, other, mine.scope, mine.services)
                np.add.at(background, index[inside], other.extra[inside] * share)
        entry["background_from"] = format_time(first)
        entry["background"] = [round(value, 4) for value in background.tolist()]
        entry["background_partner"] = round(w.partner_level(mine.scope), 4)


def _with_bad_records(contacts: list[Any], fraction: float, rnd: random.Random) -> list[Any]:
    """Insert broken copies so that ``fraction`` of all lines break the contract, one kind after another."""
    wanted = round(fraction * len(contacts) / (1 - fraction)) if contacts else 0
    out: list[Any] = []
    position = 0
    for kind, index in enumerate(sorted(rnd.randrange(len(contacts)) for _ in range(wanted))):
        out.extend(contacts[position : index + 1])
        position = index + 1
        bad: Any = {**contacts[index], "contact_id": f"{contacts[index]['contact_id']}-bad"}
        match kind % 5:
            case 0:
                del bad["ts"]
            case 1:
                bad["channel"] = "fax"
            case 2:
                bad["count"] = 0
            case 3:
                bad["dimensions"] = {**bad["dimensions"], "region": 7}
            case _:
                bad = [bad["ts"], bad["customer_id"], "truncated line"]
        out.append(bad)
    return out + contacts[position:]


def simulate(
    *,
    seed: int,
    days: float,
    contacts_per_day: int,
    start: float,
    faults: int | None = None,
    bad_records: float = 0.0,
    telemetry: bool = False,
    on_stage: Callable[[str], None] | None = None,
    profile: str = "standard",
) -> Simulation:
    """A stream of ``days`` days from ``start`` (epoch seconds), about ``contacts_per_day`` contacts a day.

    ``faults`` defaults to ``max(4, round(0.7 * days))``; a stream too short to fit them after the 3-day
    warm-up raises ``ValueError``. ``bad_records`` is the fraction of lines that break the contract.

    ``telemetry`` adds a monitored fleet's heartbeats (``Simulation.telemetry``) with silent faults, whose
    customers call later (their contacts join ``contacts``), and single devices that go quiet. It draws from
    random generators of its own: the contact stream without it is unchanged.

    ``on_stage`` is told the name of each stage as it begins (``background``, ``faults``, ``contacts``, then
    with telemetry ``telemetry`` and ``merge``): a progress bar. It draws nothing, so it changes nothing.

    ``profile``: ``standard`` (the faults above), ``hard`` (slow, weak faults with everyday complaints and the
    cases that trip a detector up; at least 6 days, ``faults`` not taken) or ``flat`` (no daily or weekly curve,
    one fault 30-34 hours in; at least 1.6 days), as the module docstring describes.
    """
    stage = on_stage or _no_stage
    if days <= 0 or contacts_per_day <= 0:
        raise ValueError("days and contacts_per_day must be positive")
    if not 0.0 <= bad_records < 1.0:
        raise ValueError(f"bad_records must be a fraction in [0, 1), not {bad_records}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    if profile != "standard" and faults is not None:
        raise ValueError(f"the {profile} profile injects its own faults: leave out faults")
    rnd, g = random.Random(seed), np.random.default_rng(seed)
    market, end = _build_market(rnd), start + days * DAY
    partners = rnd.sample(_PARTNERS, rnd.randint(2, 4))
    per_minute = contacts_per_day / _MEAN_CONTACTS / (DAY / MINUTE)
    cells = _partner_cells(rnd, market, partners, per_minute)
    specs: list[_Spec] = []
    launch = None
    if profile == "hard":
        plans, specs, launch = _hard_plan(rnd, market, cells, start, end)
    elif profile == "flat":
        plans, specs = [], _flat_plan(rnd, market, start, end)
    else:
        plans = _plan(rnd, max(4, round(0.7 * days)) if faults is None else faults, start, end)
    busy = _Busyness.draw(g, _hours(start, end), len(market.services))
    surge = next((plan for plan in plans if plan.pattern == "global-surge"), None)
    w = _World(g, rnd, market, _Emitter(rnd), start, end, per_minute, partners, cells, busy, surge)
    w.rhythm, w.launch = profile != "flat", launch
    stage("background")
    _background(w)
    _partner_background(w)
    stage("faults")
    truth = _inject(w, plans, specs)
    stage("contacts")
    contacts = _with_bad_records(w.emitter.finish(end), bad_records, rnd)
    if not telemetry:
        return Simulation(contacts, truth)
    stage("telemetry")
    busy_spans = [(plan.start, plan.end) for plan in plans] + [(spec.start, spec.end) for spec in specs]
    heartbeats, callers, silent = _fleet(seed, w, busy_spans)
    stage("merge")
    return Simulation(_merged(contacts, callers), truth + silent, heartbeats)


def _no_stage(name: str) -> None:
    pass


# -- telemetry: a monitored fleet, its silent faults, single devices that go quiet ----------------------------
# Individually monitored devices (alarm panels, gateways) report every 5 or 15 minutes; 30% of them go to standby
# for about five hours every night, and say so. A partner also summarises a much larger fleet per model and region
# every 10 minutes; that fleet is 35% quieter at night. A silent fault stops 60-100% of a population's heartbeats
# (a region, a brand, a model, a brand in one region) for 1-3 hours; its customers start calling 20-60 minutes in,
# at 2-5x the scope's usual level, until half an hour after it ends. A few single devices go quiet for 1-6 hours.
_INTERVALS, _INTERVAL_SHARE = (300.0, 900.0), (0.7, 0.3)
_DEVICES, _FLEET, _SLEEPERS, _SUMMARY_PERIOD = 300, 20_000, 0.3, 600.0
_SILENT_PATTERNS = ("region", "brand", "model", "brand-region")


@dataclass(frozen=True)
class _Device:
    device_id: str
    customer_id: str
    dims: Dims
    interval: float
    bedtime: float | None  # hour of day it goes to standby, None: always on


def _fleet(seed: int, w: _World, busy: list[tuple[float, float]]) -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
    """(heartbeats and summaries, the silent faults' callers, truth entries) from generators of their own.

    Like the contact faults, each silent fault has a time of its own: it starts at least an hour after any
    other fault or decoy (``busy``) ends, and ends, callers included, before the next one begins."""
    rnd, g = random.Random(seed + 7919), np.random.default_rng(seed + 7919)
    market, first = w.market, w.start + WARM_UP
    devices = [_fleet_device(rnd, market, number) for number in range(_DEVICES)]
    count, width = max(2, round(0.4 * (w.end - w.start) / DAY)), (w.end - HOUR - first)
    faults: list[_Silent] = []
    for _ in range(200 * count if width > 4 * HOUR else 0):
        begin = rnd.uniform(first, w.end - 4 * HOUR)
        finish = begin + rnd.uniform(HOUR, 3 * HOUR)
        taken = [*busy, *((f[2], f[3]) for f in faults)]
        if any(begin - 2 * HOUR < until and finish + 2 * HOUR > since for since, until in taken):
            continue
        pattern = _SILENT_PATTERNS[len(faults) % len(_SILENT_PATTERNS)]
        faults.append((pattern, _silent_scope(rnd, market, pattern), begin, finish, rnd.uniform(0.6, 1.0)))
        if len(faults) == count:
            break
    faults.sort(key=lambda fault: fault[2])
    always_on = [device for device in devices if device.bedtime is None]
    quiet = [(rnd.choice(always_on), rnd.uniform(first, w.end - 6 * HOUR)) for _ in range(2 * count)]
    gaps = {(d.device_id, t, t + rnd.uniform(HOUR, 6 * HOUR)) for d, t in quiet}
    records: list[tuple[float, dict[str, Any]]] = []
    for device in devices:
        records.extend(_heartbeats(rnd, g, device, w.start, w.end, faults, gaps))
    records.extend(_summaries(g, market, w.start, w.end, faults))
    records.sort(key=lambda item: item[0])
    truth, callers = [], _Emitter(rnd)
    for number, (pattern, scope, begin, end, drop) in enumerate(faults, 1):
        first_call = _late_callers(w, callers, rnd, scope, begin, end, 6000 + number)
        text = f"{pattern} silence: {drop:.0%} of the heartbeats stop"
        entry = _truth(pattern, "silence", scope, (begin, end), text, _vendors(market, scope))
        entry.update(fault_id=f"s{number}", strength=round(drop, 2))
        entry["first_contact_at"] = format_time(first_call) if first_call is not None else None
        truth.append(entry)
    for number, (device_id, begin, end) in enumerate(sorted(gaps, key=lambda gap: gap[1]), 1):
        device = next(d for d in devices if d.device_id == device_id)
        text = f"device {device_id} of customer {device.customer_id} stops reporting"
        entry = _truth("device", "device", {"device_id": device_id}, (begin, end), text, [])
        entry.update(fault_id=f"q{number}", device_id=device_id, customer_id=device.customer_id)
        truth.append(entry)
    calls = [{**record, "contact_id": record["contact_id"].replace("ct-", "sf-")} for record in callers.finish(w.end)]
    return [record for _, record in records], calls, truth


def _fleet_device(rnd: random.Random, market: _Market, number: int) -> _Device:
    dims = market.draw(rnd, {})
    del dims["service"]  # a device's heartbeat knows its make and place, not what is watched on it
    dims["firmware"] = f"{dims['device_model'].split()[-1]}-fw{rnd.choice((3, 4, 4, 5))}"
    interval = rnd.choices(_INTERVALS, _INTERVAL_SHARE)[0]
    bedtime = rnd.uniform(0.5, 2.0) if rnd.random() < _SLEEPERS else None
    return _Device(f"dev-{number:05d}", f"cu-m{number:05d}", dims, interval, bedtime)


def _silent_scope(rnd: random.Random, market: _Market, pattern: str) -> Dims:
    brand = rnd.choice([b for i, b in enumerate(market.brands) if i != market.drift][:4])
    region = market.regions[int(rnd.choices(range(len(market.regions)), list(market.region_share))[0])]
    if pattern == "region":
        return {"region": region}
    if pattern == "brand":
        return {"device_brand": brand}
    if pattern == "model":
        models = market.models[market.brands.index(brand)]
        return {"device_model": models[0]}
    return {"device_brand": brand, "region": region}


def _within(dims: Dims, scope: Dims) -> bool:
    return all(dims.get(name) == value for name, value in scope.items())


_Silent = tuple[str, Dims, float, float, float]  # pattern, scope, start, end, share of heartbeats lost


def _heartbeats(
    rnd: random.Random,
    g: np.random.Generator,
    device: _Device,
    start: float,
    end: float,
    faults: list[_Silent],
    gaps: set[tuple[str, float, float]],
) -> list[tuple[float, dict[str, Any]]]:
    beats = np.arange(start + rnd.uniform(0, device.interval), end, device.interval)
    beats = beats + g.uniform(-0.1, 0.1, len(beats)) * device.interval
    keep = g.random(len(beats)) >= 0.01  # a heartbeat lost now and then
    status = np.where(g.random(len(beats)) < 0.02, "degraded", "ok").astype(object)
    if device.bedtime is not None:
        hour = (beats % DAY) / HOUR
        asleep = (hour >= device.bedtime) & (hour < device.bedtime + 5.0)
        first = asleep & ~np.roll(asleep, 1)
        status[first], keep = "standby", keep & (~asleep | first)
    for _, scope, begin, finish, drop in faults:
        if _within(device.dims, scope) and rnd.random() < drop:
            keep &= (beats < begin) | (beats >= finish)
    for device_id, begin, finish in gaps:
        if device_id == device.device_id:
            keep &= (beats < begin) | (beats >= finish)
    base: dict[str, Any] = {"type": "heartbeat", "device_id": device.device_id, "customer_id": device.customer_id}
    base |= {"source": "partner:monitorco", "dimensions": device.dims}
    return [
        (ts, {**base, "ts": round(ts, 3), "status": state})
        for ts, state in zip(beats[keep].tolist(), status[keep].tolist(), strict=True)
        if start <= ts < end
    ]


def _summaries(
    g: np.random.Generator, market: _Market, start: float, end: float, faults: list[_Silent]
) -> list[tuple[float, dict[str, Any]]]:
    """Per model and region, every 10 minutes: how many of the partner's fleet reported (35% fewer at night)."""
    ends = np.arange(start + _SUMMARY_PERIOD, end, _SUMMARY_PERIOD)
    hour = (ends % DAY) / HOUR
    awake = 1.0 - 0.35 * np.clip(np.minimum(hour - 0.5, 6.5 - hour), 0.0, 1.0)
    busy = np.repeat(g.gamma(200.0, 1 / 200, len(ends) // 6 + 1), 6)[: len(ends)]
    records = []
    for b, brand in enumerate(market.brands):
        brand_share = float(market.joint[b].sum())
        for m, model in enumerate(market.models[b]):
            for r, region in enumerate(market.regions):
                size = _FLEET * brand_share * float(market.model_share[b][m]) * float(market.region_share[r])
                if size < 5:
                    continue
                dims = {"device_brand": brand, "device_model": model, "region": region}
                share = awake * busy
                for _, scope, begin, finish, drop in faults:
                    if _within(dims, scope):
                        during = (ends > begin) & (ends - _SUMMARY_PERIOD < finish)
                        share = share * np.where(during, 1.0 - drop, 1.0)
                counts = g.poisson(size * share).tolist()
                key = f"{model}|{region}"
                for k, (ts, devices) in enumerate(zip(ends.tolist(), counts, strict=True)):
                    record = {"type": "heartbeat-summary", "summary_id": f"fleet-{key}-{k}", "ts": ts}
                    record |= {"source": "partner:monitorco", "dimensions": dims, "devices": devices}
                    records.append((ts, {**record, "period": _SUMMARY_PERIOD}))
    return records


def _late_callers(
    w: _World, callers: _Emitter, rnd: random.Random, scope: Dims, begin: float, end: float, code: int
) -> float | None:
    """Customers of a silent population who notice: from 20-60 minutes in, 2-5x the scope's usual level."""
    calling_from, until = begin + rnd.uniform(20 * MINUTE, HOUR), end + 30 * MINUTE
    minutes = np.arange(calling_from, until, MINUTE)
    if not len(minutes):
        return None
    contact_scope = {name: value for name, value in scope.items() if name != "region"}
    usual = w.usual(contact_scope, minutes)
    if "region" in scope:
        usual = usual * float(w.market.region_share[w.market.regions.index(scope["region"])])
    extra = np.maximum((rnd.uniform(2.0, 5.0) - 1.0) * usual, _MIN_EXTRA)
    phrase = f"my alarm panel is offline, no signal since earlier (E{code})"
    first: float | None = None
    arrivals = np.random.default_rng(rnd.randrange(2**32)).poisson(extra).tolist()
    for minute, arriving in zip(minutes.tolist(), arrivals, strict=True):
        for _ in range(arriving):
            dims = w.market.draw(rnd, contact_scope)
            if "region" in scope:
                dims["region"] = scope["region"]
            ts = minute + rnd.uniform(0, MINUTE)
            first = ts if first is None else min(first, ts)
            callers.problem(ts, f"cu-s{rnd.randrange(10**8):08d}", dims, (f"E{code}", phrase), 1, rnd.choice(_LADDER))
    return first


def _merged(contacts: list[Any], more: list[Any]) -> list[Any]:
    """Two record lists, each in event-time order, as one (a bad record keeps its place after its neighbour)."""

    def key(record: Any, previous: list[float]) -> float:
        if isinstance(record, dict) and isinstance(record.get("ts"), str):
            previous[0] = parse_timestamp(record["ts"])
        return previous[0]

    last = [float("-inf")]
    keyed = [(key(record, last), 0, i, record) for i, record in enumerate(contacts)]
    keyed += [(parse_timestamp(record["ts"]), 1, i, record) for i, record in enumerate(more)]
    return [record for *_, record in sorted(keyed, key=lambda item: item[:3])]


def _rfc3339(text: str) -> float:
    try:
        return parse_timestamp(text)
    except ContractError as error:  # the reason alone: the flag is --start, not a record's ts
        raise argparse.ArgumentTypeError(error.reason) from None


def _write_jsonl(path: str, rows: list[Any], done: Callable[[float], None]) -> None:
    if path == "-":
        _write_rows(sys.stdout.buffer, rows, done)
        sys.stdout.buffer.flush()
    else:
        with open(path, "wb") as out:
            _write_rows(out, rows, done)


def _write_rows(out: BinaryIO, rows: list[Any], done: Callable[[float], None]) -> None:
    """``done`` is told the share of ``rows`` written after each chunk."""
    for i in range(0, len(rows), 10_000):
        out.write(b"".join(orjson.dumps(row) + b"\n" for row in rows[i : i + 10_000]))
        done(min(len(rows), i + 10_000) / len(rows))


# Where `simulate` spends its time, measured on a 14-day stream: the bar moves by these shares.
_STAGES = {"background": 0.5, "faults": 0.05, "contacts": 0.15, "write": 0.3}
_STAGES_WITH_TELEMETRY = {
    "background": 0.3, "faults": 0.03, "contacts": 0.1, "telemetry": 0.27, "merge": 0.12, "write": 0.18,
}  # fmt: skip


# Days of stream simulated: the rate reads "days/s" and the bar has no use for tqdm's fractional counts.
_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:g} days [{elapsed}<{remaining}, {rate_fmt}]"


def run(args: argparse.Namespace) -> int:
    """The ``simulate`` sub-command: write the contacts and the truth file."""
    weights = _STAGES_WITH_TELEMETRY if args.telemetry is not None else _STAGES
    shown = progress.wanted(args.quiet) and not (args.output == "-" and sys.stdout.isatty())
    with progress.Bar(shown, desc="simulate", total=args.days, unit=" days", bar_format=_BAR) as bar:
        stages = progress.Stages(bar, weights, args.days, "simulate")
        try:
            sim = simulate(
                seed=args.seed,
                days=args.days,
                contacts_per_day=args.per_day,
                start=args.start,
                faults=args.faults,
                bad_records=args.bad_records,
                telemetry=args.telemetry is not None,
                on_stage=stages.begin,
                profile=args.profile,
            )
        except ValueError as error:
            bar.close()
            print(f"correlate simulate: {error}", file=sys.stderr)
            return 2
        stages.begin("write")
        outputs = [(args.output, sim.contacts), (args.truth, sim.truth)]
        if args.telemetry is not None:
            outputs.append((args.telemetry, sim.telemetry))
        written, size = 0, sum(len(rows) for _, rows in outputs) or 1
        for path, rows in outputs:

            def done(share: float, before: int = written, count: int = len(rows)) -> None:
                stages.part((before + share * count) / size)

            _write_jsonl(path, rows, done)
            written += len(rows)
    if args.quiet:
        return 0
    faults = sum(not entry["decoy"] for entry in sim.truth)
    heartbeats = f", {len(sim.telemetry)} telemetry records" if args.telemetry is not None else ""
    print(
        f"wrote {len(sim.contacts)} contacts{heartbeats}, {faults} faults, {len(sim.truth) - faults} decoys",
        file=sys.stderr,
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``correlate simulate``."""
    helps = "write a synthetic contact stream with injected faults, and its truth file"
    parser = subparsers.add_parser("simulate", help=helps, description=helps)
    parser.add_argument("--seed", type=int, default=1, help="same seed, same stream (default 1)")
    parser.add_argument("--days", type=float, default=14.0, help="length of the stream (default 14)")
    parser.add_argument("--per-day", type=int, default=20_000, help="average contacts a day (default 20000)")
    parser.add_argument("--start", type=_rfc3339, default="2026-03-02T00:00:00Z", help="RFC 3339 start time")
    parser.add_argument("--faults", type=int, help="faults to inject (default 0.7 a day, at least 4; standard only)")
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="standard",
        help="standard: abrupt faults; hard: slow, weak, everyday-sounding faults and the cases that trip detectors "
        "(at least 6 days); flat: no daily rhythm, one fault after 30 h (default standard)",
    )
    parser.add_argument("--bad-records", type=float, default=0.0, metavar="FRACTION", help="share of bad lines")
    parser.add_argument("--output", default="-", metavar="FILE", help="contacts as JSONL ('-' for stdout)")
    parser.add_argument("--truth", required=True, metavar="FILE", help="where to write the truth JSONL")
    parser.add_argument(
        "--telemetry", metavar="FILE", help="also a monitored fleet's heartbeats, with silent faults, to this JSONL"
    )
    progress.add_quiet(parser)
    parser.set_defaults(func=run)
