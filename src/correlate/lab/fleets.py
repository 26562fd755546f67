"""Monitored fleets from a generator of their own: a second measuring stick for proactive detection.

:mod:`correlate.lab.simulate` grows a fleet beside its contact stream, and the silence detector was built on it.
A detector judged only on the generator it was built on learns that generator's habits, so this one is made
differently on purpose, and its streams are scored by ``benchmarks/proactive_quality.py``.

Usage::

    python3 -m correlate.lab.fleets OUT_DIR --seed 3 [--days 10] [--devices 3000] [--per-day 3000]
        [--no-maintenance] [--no-summary-partner] [--no-vendor-status] [--no-feed-outage]
    correlate replay OUT_DIR/stream.jsonl -o incidents.jsonl --rejects rejects.jsonl
    correlate evaluate OUT_DIR/truth.jsonl incidents.jsonl

``stream.jsonl`` holds contacts, heartbeats, heartbeat summaries and vendor status records, merged in event-time
order; ``truth.jsonl`` one entry a line, in the format ``correlate evaluate`` reads.

**The fleet.** ``devices`` devices (3,000) of one partner (``partner:beaconnet``) each send a heartbeat on a
period of their own, log-uniform from 1 to 30 minutes, with timing jitter (2% of the period), a loss rate of
their own (mean 1.5%) and short dropouts (2-3 heartbeats in a row, about one every five days). 5% of them
announce a nightly sleep (a ``standby`` heartbeat, then 4-8 hours of nothing). A second partner
(``partner:sumwatch``) sends ``heartbeat-summary`` records per brand x region every 5 minutes for a fleet of
12,000 devices of its own, 30% quieter at night. Owners' ``customer_id`` are the ones their contacts carry.

**Contacts.** About ``contacts_per_day`` a day, on a daily curve, 40% of them from device owners, with the
dimensions the simulator uses (``device_brand``, ``device_model``, ``service``, ``region``): correlate's
settings work unchanged. Heartbeats carry ``device_brand``, ``device_model`` and ``region``; summaries
``device_brand`` and ``region``.

**Scenario parts**, each in a time slot of its own after the warm-up (3 days, or 40% of a shorter stream;
slots start at least 8 hours apart, so one part's calls never reach into the next):

* *silent faults* (``kind: "silence"``; a brand in a region, a brand, a region, a model): 60-100% of the
  scope's devices stop for 1-3 hours (``affected_devices``), the summary partner's counts drop alike (a model
  by its share of its brand). 6-13 of the affected devices' owners call from 20-60 minutes in, over 1-3 hours
  (``related_calls``; ``first_contact_at`` is the first); 2-5 unrelated calls on the scope (installation,
  login) come in the 2 hours before and 1-3 during (``unrelated_calls``).
* *maintenance* (``kind: "maintenance"``, ``decoy`` and ``maintenance`` true: not a fault, an incident on it
  is false): every device of one region goes quiet for 1-3 hours; the per-device partner's devices first send
  a ``standby`` heartbeat (``standby_devices``), the summary partner's counts for the region fall to ~2%.
* *a vendor-declared fault*: a silent brand x region fault whose vendor posts ``vendor-status`` records at +3
  and +35 minutes and ``resolved`` 15 minutes after its end (``vendor_declared_at``).
* *a partner-feed outage* (``pattern: "feed-region"``): the per-device partner's devices in one region go quiet
  for 1-2 hours, the summary partner's do not; the truth's scope names the ``source``. Nobody calls.
* *single devices* (``kind: "device"``) that go quiet for 1-6 hours; *announced sleeps* (``kind: "sleep"``,
  decoys) and *replaced devices* (``kind: "replaced"``, decoys: the old id stops, a new id of the same
  customer starts 2-20 minutes later; ``new_device_id``).

Switching a part off leaves every other part exactly as it was: every draw is made whatever is switched on.
All randomness comes from ``numpy.random.Generator`` seeded with ``seed``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from correlate.contracts import format_time, parse_timestamp
from correlate.vendors import vendor_slug

__all__ = [
    "DEVICE_SOURCE",
    "START",
    "SUMMARY_SOURCE",
    "Fleet",
    "FleetSpec",
    "Scenario",
    "build_parser",
    "generate",
    "main",
    "spec_from",
    "write",
]

FloatArray = npt.NDArray[np.float64]
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
START: Final = 1_772_409_600.0  # 2026-03-02T00:00:00Z
DEVICE_SOURCE: Final = "partner:beaconnet"
SUMMARY_SOURCE: Final = "partner:sumwatch"
CONTACT_SOURCE: Final = "centre:fleetcare"
_SUMMARY_PERIOD, _SUMMARY_FLEET = 300.0, 12_000
_BRANDS = ("Aldora", "Brisco", "Corvane", "Delmar", "Eskra", "Fennik", "Gorlan", "Hyvex", "Ivora", "Jastin")
_REGIONS = ("Nordby", "Sudhaven", "Ostmark", "Westerra", "Midland", "Kustal", "Bergvik", "Lowfield")
_SERVICES = ("HomeGuard", "AlarmLink", "NetHome", "StreamBox", "CareCall", "SafeKey", "VidWatch")
_MODEL_WORDS = ("K", "M", "Q", "T", "Z")
_CHANNELS = ("voice", "chat", "app", "email", "web")
_CHANNEL_SHARE = (0.45, 0.2, 0.15, 0.1, 0.1)
_EVERYDAY = (
    ("bill-question", "question about my bill"),
    ("login", "cannot log in to the app"),
    ("install", "need help installing the panel"),
    ("false-alarm", "the alarm went off for no reason"),
    ("sensor", "door sensor battery low"),
    ("move", "moving house, what do i do with the panel"),
    ("cancel", "want to cancel my plan"),
    ("camera", "camera picture is blurry"),
)
# Calls on a fault's scope about something else: everyday topics, worded as every day (not a cluster of alike texts).
_UNRELATED = tuple(topic for topic in _EVERYDAY if topic[0] in ("install", "login"))
_RELATED = (
    "my alarm panel says offline",
    "the panel lost its connection, no signal",
    "app says my system is not reachable",
    "panel shows no connection since a while",
)
_DOINGS = {"device": "stops reporting", "replaced": "is replaced by a new device", "sleep": "sleeps, announced"}
# Slots: silent faults first, then the vendor-declared fault, the maintenance and the feed outage.
_PATTERNS = ("brand-region", "brand", "region", "model")
_SLOT = 8 * HOUR  # between slots' starts: calls end by 4 h in, the next slot's calls start 2 h before it


@dataclass(frozen=True)
class Scenario:
    """Which parts the stream carries; ``None`` counts scale with the stream's length."""

    silent_faults: int | None = None  # default max(1, round(0.4 * days))
    vendor_declared: bool = True
    vendor_status: bool = True  # False: the same fault, the vendor silent
    maintenance: bool = True
    feed_outage: bool = True
    summary_partner: bool = True
    quiet_devices: int | None = None  # default max(1, round(days))
    replaced_devices: int | None = None  # default max(1, round(days / 2))
    sleepers: float = 0.05


@dataclass(frozen=True)
class FleetSpec:
    seed: int
    days: float = 10.0
    devices: int = 3000
    contacts_per_day: int = 3000
    start: float = START
    scenario: Scenario = field(default_factory=Scenario)

    @property
    def end(self) -> float:
        return self.start + self.days * DAY

    @property
    def first_slot(self) -> float:
        """Scenario parts begin after this: three days of history, or 40% of a shorter stream."""
        return self.start + min(3 * DAY, 0.4 * self.days * DAY)


@dataclass(frozen=True)
class _Market:
    brands: tuple[str, ...]
    brand_share: FloatArray
    models: tuple[tuple[str, ...], ...]
    model_share: tuple[FloatArray, ...]
    regions: tuple[str, ...]
    region_share: FloatArray
    services: tuple[str, ...]
    service_share: FloatArray


@dataclass
class _Devices:
    """The per-device partner's devices, one array entry each (replacements appended at the end)."""

    device_id: list[str]
    customer_id: list[str]
    brand: npt.NDArray[np.int64]
    model: npt.NDArray[np.int64]
    region: npt.NDArray[np.int64]
    service: npt.NDArray[np.int64]
    period: FloatArray
    loss: FloatArray
    sleeper: npt.NDArray[np.bool_]
    bedtime: FloatArray  # hours after midnight
    first_beat: FloatArray  # a replacement starts late
    last_beat: FloatArray  # a replaced device stops early


@dataclass(frozen=True)
class _Slot:
    part: str  # silence, declared, maintenance, outage
    pattern: str
    scope: dict[str, str]
    begin: float
    end: float
    drop: float
    number: int


@dataclass
class Fleet:
    """A generated stream: heartbeats as arrays (millions of them), every other record as JSON-ready dicts."""

    spec: FleetSpec
    beat_ts: FloatArray
    beat_device: npt.NDArray[np.int32]
    beat_standby: npt.NDArray[np.bool_]
    device_lines: list[bytes]  # a heartbeat's line up to its status and ts, per device
    records: list[tuple[float, dict[str, Any]]]  # contacts, summaries, vendor status
    truth: list[dict[str, Any]]

    @property
    def heartbeats(self) -> int:
        return len(self.beat_ts)

    def lines(self) -> Iterator[bytes]:
        """Every record as a JSONL line, in event-time order (ties: heartbeats first, then as generated)."""
        times = np.concatenate([self.beat_ts, np.array([ts for ts, _ in self.records], dtype=np.float64)])
        order = np.argsort(times, kind="stable")
        beats, ts_all = len(self.beat_ts), times
        device, standby, prefix, records = self.beat_device, self.beat_standby, self.device_lines, self.records
        for chunk in range(0, len(order), 100_000):
            part = order[chunk : chunk + 100_000].tolist()
            stamps = ts_all[order[chunk : chunk + 100_000]].tolist()
            out = []
            for index, ts in zip(part, stamps, strict=True):
                if index < beats:
                    status = b'"standby","ts":' if standby[index] else b'"ok","ts":'
                    out.append(b"%s%s%.3f}\n" % (prefix[device[index]], status, ts))
                else:
                    out.append(orjson.dumps(records[index - beats][1]) + b"\n")
            yield b"".join(out)


def _market(g: np.random.Generator, devices: int) -> _Market:
    brands = tuple(g.choice(_BRANDS, size=int(g.integers(5, 9)), replace=False).tolist())
    regions = tuple(g.choice(_REGIONS, size=int(g.integers(4, 7)), replace=False).tolist())
    models = []
    for brand in brands:
        names = sorted({f"{brand} {g.choice(_MODEL_WORDS)}{int(g.integers(10, 99)) * 10}" for _ in range(4)})
        models.append(tuple(names[: int(g.integers(2, 5))]))
    brand_share = g.dirichlet(np.full(len(brands), 2.0))
    region_share = g.dirichlet(np.full(len(regions), 4.0))
    model_share = tuple(g.dirichlet(np.full(len(names), 3.0)) for names in models)
    services = _SERVICES
    service_share = g.dirichlet(np.full(len(services), 2.0))
    return _Market(brands, brand_share, tuple(models), model_share, regions, region_share, services, service_share)


def _devices(
    g: np.random.Generator, market: _Market, count: int, sleepers: float, start: float, end: float
) -> _Devices:
    brand = g.choice(len(market.brands), size=count, p=market.brand_share)
    model = np.array([g.choice(len(market.models[b]), p=market.model_share[b]) for b in brand.tolist()])
    return _Devices(
        device_id=[f"bn-{n:05d}" for n in range(count)],
        customer_id=[f"c-{n:05d}" for n in range(count)],
        brand=brand,
        model=model,
        region=g.choice(len(market.regions), size=count, p=market.region_share),
        service=g.choice(len(market.services), size=count, p=market.service_share),
        period=np.exp(g.uniform(math.log(60.0), math.log(1800.0), count)),
        loss=g.beta(1.5, 100.0, count),
        sleeper=g.random(count) < sleepers,
        bedtime=(g.uniform(21.5, 25.0, count)) % 24.0,
        first_beat=np.full(count, start),
        last_beat=np.full(count, end),
    )


def _dims(market: _Market, devices: _Devices, i: int) -> dict[str, str]:
    b = int(devices.brand[i])
    return {
        "device_brand": market.brands[b],
        "device_model": market.models[b][int(devices.model[i])],
        "region": market.regions[int(devices.region[i])],
    }


def _in_scope(market: _Market, devices: _Devices, scope: dict[str, str]) -> npt.NDArray[np.bool_]:
    inside = np.ones(len(devices.device_id), dtype=bool)
    if "device_brand" in scope:
        inside &= devices.brand == market.brands.index(scope["device_brand"])
    if "region" in scope:
        inside &= devices.region == market.regions.index(scope["region"])
    if "device_model" in scope:
        model = scope["device_model"]
        b = next(i for i, names in enumerate(market.models) if model in names)
        inside &= (devices.brand == b) & (devices.model == market.models[b].index(model))
    return inside


def _scope(g: np.random.Generator, market: _Market, devices: _Devices, pattern: str) -> dict[str, str]:
    """A scope of the pattern holding at least a few devices (a smaller one falls back to the brand's)."""
    counts = np.zeros((len(market.brands), len(market.regions)), dtype=np.int64)
    np.add.at(counts, (devices.brand, devices.region), 1)
    brand = int(g.choice(len(market.brands), p=market.brand_share))
    region = int(g.choice(len(market.regions), p=market.region_share))
    if pattern in ("brand-region", "declared"):
        pairs = np.argwhere(counts >= max(min(8, int(counts.max())), int(counts.max()) // 4))
        b, r = pairs[int(g.integers(len(pairs)))].tolist()
        return {"device_brand": market.brands[b], "region": market.regions[r]}
    if pattern == "region":
        return {"region": market.regions[region]}
    if pattern == "model":
        return {"device_model": market.models[brand][int(np.argmax(market.model_share[brand]))]}
    return {"device_brand": market.brands[brand]}


def _slots(g: np.random.Generator, spec: FleetSpec, market: _Market, devices: _Devices) -> list[_Slot]:
    """Every part's time and scope, drawn whatever the scenario switches on."""
    days, scenario = spec.days, spec.scenario
    faults = scenario.silent_faults if scenario.silent_faults is not None else max(1, round(0.4 * days))
    parts = [("silence", _PATTERNS[n % len(_PATTERNS)]) for n in range(faults)]
    parts += [("declared", "brand-region"), ("maintenance", "region"), ("outage", "feed-region")]
    lo, hi = spec.first_slot + 2 * HOUR, spec.end - 6 * HOUR
    begins: list[float] = []
    for _ in range(2000):
        begins = []
        for _part in parts:
            for _try in range(200):
                at = float(g.uniform(lo, hi))
                if all(abs(at - other) >= _SLOT for other in begins):
                    begins.append(at)
                    break
        if len(begins) == len(parts):
            break
    if len(begins) != len(parts) or hi <= lo:
        raise ValueError(f"{days:g} days hold no room for {len(parts)} scenario parts 8 hours apart after the warm-up")
    slots = []
    for number, ((part, pattern), begin) in enumerate(zip(parts, begins, strict=True), 1):
        length = float(g.uniform(HOUR, 2 * HOUR) if part == "outage" else g.uniform(HOUR, 3 * HOUR))
        drop = float(g.uniform(0.6, 1.0))
        if part == "maintenance":
            scope = {"region": market.regions[int(g.choice(len(market.regions), p=market.region_share))]}
        elif part == "outage":
            scope = {"source": DEVICE_SOURCE, "region": market.regions[int(g.integers(len(market.regions)))]}
        else:
            scope = _scope(g, market, devices, "declared" if part == "declared" else pattern)
        slots.append(_Slot(part, pattern, scope, begin, begin + length, drop, number))
    return slots


def _enabled(scenario: Scenario, slot: _Slot) -> bool:
    return {
        "silence": True,
        "declared": scenario.vendor_declared,
        "maintenance": scenario.maintenance,
        "outage": scenario.feed_outage,
    }[slot.part]


def generate(spec: FleetSpec) -> Fleet:
    """The stream and its truth for ``spec``; raises ``ValueError`` when the scenario does not fit."""
    if spec.days <= 0 or spec.devices < 10 or spec.contacts_per_day < 0:
        raise ValueError("days must be positive, devices at least 10, contacts_per_day not negative")
    scenario = spec.scenario
    plan = np.random.default_rng([spec.seed, 0])
    market = _market(plan, spec.devices)
    devices = _devices(plan, market, spec.devices, scenario.sleepers, spec.start, spec.end)
    slots = _slots(plan, spec, market, devices)
    # Who a population part silences: a draw per slot and device, made whatever is switched on.
    affected: dict[int, npt.NDArray[np.bool_]] = {}
    for slot in slots:
        chance = plan.random(spec.devices)
        if slot.part == "outage":
            region = market.regions.index(slot.scope["region"])
            affected[slot.number] = devices.region == region
        else:
            affected[slot.number] = _in_scope(market, devices, slot.scope) & (
                (chance < slot.drop) | (slot.part == "maintenance")
            )
    live = [slot for slot in slots if _enabled(scenario, slot)]
    busy = [(slot.begin - 2 * HOUR, slot.end + 4 * HOUR) for slot in slots]
    quiet, replaced = _single_devices(plan, spec, devices, busy)
    for old, at, delay in replaced:  # the new device: same owner and make, a new id and rhythm
        _append_replacement(plan, devices, old, at, at + delay, spec.end)
        for slot in slots:  # a part after the replacement silences the new device, not the old one
            later = slot.begin > at
            affected[slot.number] = np.append(affected[slot.number], later and bool(affected[slot.number][old]))
            affected[slot.number][old] &= not later
    truth: list[dict[str, Any]] = []
    records: list[tuple[float, dict[str, Any]]] = []
    records += _background_contacts(np.random.default_rng([spec.seed, 2]), spec, market, devices)
    if scenario.summary_partner:
        records += _summaries(np.random.default_rng([spec.seed, 3]), spec, market, live)
    else:
        _summaries(np.random.default_rng([spec.seed, 3]), spec, market, live)
    maintenance_standby: dict[int, FloatArray] = {}
    for slot in slots:
        g = np.random.default_rng([spec.seed, 4, slot.number])
        mine = np.flatnonzero(affected[slot.number])
        standby_at = slot.begin - g.uniform(0.0, 120.0, len(mine))
        calls = _slot_calls(g, spec, market, devices, slot, mine)
        if not _enabled(scenario, slot):
            continue
        if slot.part == "maintenance":
            maintenance_standby[slot.number] = standby_at
        truth.append(_slot_truth(slot, devices, mine, calls, scenario))
        records += [(call["_ts"], {k: v for k, v in call.items() if not k.startswith("_")}) for call in calls]
        if slot.part == "declared" and scenario.vendor_status:
            records += _vendor_records(slot)
    sleeps: list[tuple[int, float, float]] = []
    beats = _heartbeats(spec, devices, live, affected, maintenance_standby, quiet, sleeps)
    for n, (device, begin, end) in enumerate(quiet, 1):
        truth.append(_device_truth(f"q{n}", "device", devices, device, begin, end))
    for n, (old, at, delay) in enumerate(replaced, 1):
        entry = _device_truth(f"r{n}", "replaced", devices, old, at, at + delay)
        entry.update(decoy=True, new_device_id=devices.device_id[len(devices.device_id) - len(replaced) + n - 1])
        truth.append(entry)
    for n, (device, begin, end) in enumerate(sleeps, 1):
        truth.append({**_device_truth(f"z{n}", "sleep", devices, device, begin, end), "decoy": True})
    records.sort(key=lambda item: item[0])
    truth.sort(key=lambda entry: (parse_timestamp(entry["start"]), entry["fault_id"]))
    lines = [_device_prefix(market, devices, i) for i in range(len(devices.device_id))]
    return Fleet(spec, beats[0], beats[1], beats[2], lines, records, truth)


def _single_devices(
    g: np.random.Generator, spec: FleetSpec, devices: _Devices, busy: list[tuple[float, float]]
) -> tuple[list[tuple[int, float, float]], list[tuple[int, float, float]]]:
    """Devices that go quiet (device, begin, end) and devices replaced (old device, when, delay of the new one),
    each away from every scenario slot and from each other."""
    scenario = spec.scenario
    quiet_count = scenario.quiet_devices if scenario.quiet_devices is not None else max(1, round(spec.days))
    replaced_count = (
        scenario.replaced_devices if scenario.replaced_devices is not None else max(1, round(spec.days / 2))
    )
    candidates = g.permutation(np.flatnonzero(~devices.sleeper)).tolist()
    taken = set()
    quiet: list[tuple[int, float, float]] = []
    replaced: list[tuple[int, float, float]] = []
    lo, hi = spec.start + min(DAY, 0.3 * spec.days * DAY), spec.end - 7 * HOUR
    for want, into in ((quiet_count, quiet), (replaced_count, replaced)):
        while len(into) < want and candidates:
            device = candidates.pop()
            at = float(g.uniform(lo, hi))
            length = float(g.uniform(HOUR, 6 * HOUR)) if into is quiet else float(g.uniform(120.0, 1200.0))
            if any(at - HOUR < until and at + length + HOUR > since for since, until in busy) or device in taken:
                continue
            taken.add(device)
            into.append((device, at, at + length if into is quiet else length))
    return quiet, replaced


def _append_replacement(
    g: np.random.Generator, devices: _Devices, old: int, unplugged: float, begins: float, end: float
) -> None:
    number = len(devices.device_id)
    devices.last_beat[old] = unplugged
    devices.device_id.append(f"bn-{number:05d}")
    devices.customer_id.append(devices.customer_id[old])
    for name in ("brand", "model", "region", "service", "sleeper", "bedtime", "loss"):
        array = getattr(devices, name)
        setattr(devices, name, np.append(array, array[old]))
    devices.period = np.append(devices.period, np.exp(g.uniform(math.log(60.0), math.log(1800.0))))
    devices.first_beat = np.append(devices.first_beat, begins)
    devices.last_beat = np.append(devices.last_beat, end)


def _heartbeats(
    spec: FleetSpec,
    devices: _Devices,
    live: list[_Slot],
    affected: dict[int, npt.NDArray[np.bool_]],
    maintenance_standby: dict[int, FloatArray],
    quiet: list[tuple[int, float, float]],
    sleeps: list[tuple[int, float, float]],
) -> tuple[FloatArray, npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """(ts, device, standby) of every heartbeat, one device at a time from a generator of its own; each announced
    sleep (device, its standby heartbeat, the end of the sleep) is appended to ``sleeps``."""
    quiet_of = {device: (begin, end) for device, begin, end in quiet}
    all_ts, all_device, all_standby = [], [], []
    for i in range(len(devices.device_id)):
        g = np.random.default_rng([spec.seed, 5, i])
        period = float(devices.period[i])
        first, last = float(devices.first_beat[i]), float(devices.last_beat[i])
        nominal = first + g.uniform(0.0, period) + period * np.arange(int((last - first) / period) + 1)
        ts = nominal + g.normal(0.0, 0.02 * period, len(nominal))
        keep = g.random(len(ts)) >= devices.loss[i]
        for at in g.integers(0, len(ts), g.poisson(0.2 * spec.days)).tolist():  # short dropouts
            keep[at : at + int(g.integers(2, 4))] = False
        standby = np.zeros(len(ts), dtype=bool)
        extra: list[float] = []
        nights: list[tuple[int, float]] = []  # (its standby heartbeat, when it wakes)
        if devices.sleeper[i]:
            for night in range(int(spec.days) + 1):
                begin = spec.start + night * DAY + float(devices.bedtime[i]) * HOUR
                wakes = begin + float(g.uniform(4.0, 8.0)) * HOUR
                asleep = (ts >= begin) & (ts < wakes)
                if asleep.any():
                    first_asleep = int(np.argmax(asleep))
                    keep &= ~asleep
                    keep[first_asleep], standby[first_asleep] = True, True
                    nights.append((first_asleep, wakes))
        for slot in live:
            if not affected[slot.number][i]:
                continue
            if slot.part == "maintenance":
                position = int(np.flatnonzero(affected[slot.number]).searchsorted(i))
                said = float(maintenance_standby[slot.number][position])
                keep &= (ts < said) | (ts >= slot.end)
                extra.append(said)
            else:
                keep &= (ts < slot.begin) | (ts >= slot.end)
        if i in quiet_of:
            begin, end = quiet_of[i]
            keep &= (ts < begin) | (ts >= end)
        keep &= (ts >= max(first, spec.start)) & (ts < min(last, spec.end))
        sleeps += [(i, float(ts[at]), wakes) for at, wakes in nights if keep[at]]
        all_ts += [ts[keep], np.array(extra)]
        all_standby += [standby[keep], np.ones(len(extra), dtype=bool)]
        all_device.append(np.full(int(keep.sum()) + len(extra), i, dtype=np.int32))
    return np.concatenate(all_ts), np.concatenate(all_device), np.concatenate(all_standby)


def _device_prefix(market: _Market, devices: _Devices, i: int) -> bytes:
    head = {
        "type": "heartbeat",
        "device_id": devices.device_id[i],
        "customer_id": devices.customer_id[i],
        "source": DEVICE_SOURCE,
        "dimensions": _dims(market, devices, i),
    }
    return orjson.dumps(head)[:-1] + b',"status":'


def _awake(ts: FloatArray) -> FloatArray:
    """The summary partner's share of devices on: 30% fewer at 03:00 than at 15:00, smoothly."""
    hour = (ts % DAY) / HOUR
    result: FloatArray = 1.0 - 0.15 * (1.0 + np.cos(2 * math.pi * (hour - 3.0) / 24.0))
    return result


def _overlap(ends: FloatArray, begin: float, end: float) -> FloatArray:
    """Share of each period ``(e - P, e]`` inside ``[begin, end)``."""
    inside = np.minimum(ends, end) - np.maximum(ends - _SUMMARY_PERIOD, begin)
    result: FloatArray = np.clip(inside / _SUMMARY_PERIOD, 0.0, 1.0)
    return result


def _summaries(
    g: np.random.Generator, spec: FleetSpec, market: _Market, live: list[_Slot]
) -> list[tuple[float, dict[str, Any]]]:
    ends = np.arange(spec.start + _SUMMARY_PERIOD, spec.end + 1e-6, _SUMMARY_PERIOD)
    hourly = g.gamma(300.0, 1 / 300.0, len(ends) // 12 + 1)
    level = _awake(ends) * np.repeat(hourly, 12)[: len(ends)]
    records: list[tuple[float, dict[str, Any]]] = []
    for b, brand in enumerate(market.brands):
        for r, region in enumerate(market.regions):
            size = _SUMMARY_FLEET * float(market.brand_share[b] * market.region_share[r])
            share = level.copy()
            for slot in live:
                scope = slot.scope
                if scope.get("device_brand", brand) != brand or scope.get("region", region) != region:
                    continue
                if slot.part == "outage":
                    continue  # the other partner's gateway: this partner's devices still report
                drop = 0.98 if slot.part == "maintenance" else slot.drop
                if "device_model" in scope:
                    if scope["device_model"] not in market.models[b]:
                        continue
                    drop *= float(market.model_share[b][market.models[b].index(scope["device_model"])])
                share = share * (1.0 - drop * _overlap(ends, slot.begin, slot.end))
            counts = g.poisson(size * share).tolist()
            if size < 5:
                continue
            dims = {"device_brand": brand, "region": region}
            key = f"{vendor_slug(brand)}-{vendor_slug(region)}"
            for k, (ts, devices) in enumerate(zip(ends.tolist(), counts, strict=True)):
                record = {"type": "heartbeat-summary", "summary_id": f"sw-{key}-{k}", "ts": ts}
                record |= {"source": SUMMARY_SOURCE, "dimensions": dims, "devices": devices}
                records.append((ts, {**record, "period": _SUMMARY_PERIOD}))
    return records


def _contact(ts: float, channel: str, customer: str, dims: dict[str, str], topic: tuple[str, str]) -> dict[str, Any]:
    return {
        "_ts": ts,
        "ts": format_time(ts),
        "channel": channel,
        "customer_id": customer,
        "source": CONTACT_SOURCE,
        "dimensions": dims,
        "category": topic[0],
        "text": topic[1],
    }


def _owner_dims(market: _Market, devices: _Devices, i: int) -> dict[str, str]:
    return {**_dims(market, devices, i), "service": market.services[int(devices.service[i])]}


def _background_contacts(
    g: np.random.Generator, spec: FleetSpec, market: _Market, devices: _Devices
) -> list[tuple[float, dict[str, Any]]]:
    """About ``contacts_per_day`` a day on a daily curve (busiest in the evening), 40% from device owners."""
    minutes = np.arange(spec.start, spec.end, MINUTE)
    hour = (minutes % DAY) / HOUR
    curve = 1.0 + 0.7 * np.cos(2 * math.pi * (hour - 19.0) / 24.0)
    counts = g.poisson(spec.contacts_per_day / (DAY / MINUTE) * curve / curve.mean())
    times = np.repeat(minutes, counts) + g.uniform(0.0, MINUTE, int(counts.sum()))
    owners = g.random(len(times)) < 0.4
    topic_share = 1.0 / np.arange(1, len(_EVERYDAY) + 1)
    topics = g.choice(len(_EVERYDAY), size=len(times), p=topic_share / topic_share.sum())
    channels = g.choice(len(_CHANNELS), size=len(times), p=_CHANNEL_SHARE)
    who = g.integers(0, spec.devices, len(times))
    brand = g.choice(len(market.brands), size=len(times), p=market.brand_share)
    region = g.choice(len(market.regions), size=len(times), p=market.region_share)
    service = g.choice(len(market.services), size=len(times), p=market.service_share)
    model_draw = g.random(len(times))
    others = g.integers(0, 50_000, len(times))
    records = []
    for n, ts in enumerate(times.tolist()):
        if owners[n]:
            i = int(who[n])
            dims, customer = _owner_dims(market, devices, i), devices.customer_id[i]
        else:
            b = int(brand[n])
            model = int(np.searchsorted(np.cumsum(market.model_share[b]), model_draw[n]))
            dims = {
                "device_brand": market.brands[b],
                "device_model": market.models[b][min(model, len(market.models[b]) - 1)],
                "region": market.regions[int(region[n])],
                "service": market.services[int(service[n])],
            }
            customer = f"c-o{int(others[n]):05d}"
        record = _contact(ts, _CHANNELS[int(channels[n])], customer, dims, _EVERYDAY[int(topics[n])])
        records.append((ts, {"contact_id": f"fc-{n:07d}", **{k: v for k, v in record.items() if k != "_ts"}}))
    return records


def _slot_calls(
    g: np.random.Generator,
    spec: FleetSpec,
    market: _Market,
    devices: _Devices,
    slot: _Slot,
    mine: npt.NDArray[np.int64],
) -> list[dict[str, Any]]:
    """A silent fault's callers: affected owners some minutes in, and unrelated calls on its scope around it."""
    if slot.part not in ("silence", "declared") or not len(mine):
        return []
    calls = []
    related = int(g.integers(6, 14))
    from_, over = slot.begin + float(g.uniform(20, 60)) * MINUTE, float(g.uniform(HOUR, 3 * HOUR))
    times = np.sort(np.append(from_, from_ + g.uniform(0.0, over, related - 1)))
    callers = g.choice(mine, size=related, replace=len(mine) < related)
    for n, (ts, i) in enumerate(zip(times.tolist(), callers.tolist(), strict=True)):
        phrase = _RELATED[int(g.integers(len(_RELATED)))]
        call = _contact(ts, _CHANNELS[int(g.integers(3))], devices.customer_id[i], _owner_dims(market, devices, i),
                        ("no-signal", phrase))  # fmt: skip
        calls.append({"contact_id": f"fr-{slot.number}-{n}", **call, "_related": devices.device_id[i]})
    in_scope = np.flatnonzero(_in_scope(market, devices, slot.scope))
    before, during = int(g.integers(2, 6)), int(g.integers(1, 4))
    unrelated = np.append(
        slot.begin - g.uniform(0.0, 2 * HOUR, before), slot.begin + g.uniform(0.0, slot.end - slot.begin, during)
    )
    for n, ts in enumerate(np.sort(unrelated).tolist()):
        i = int(g.choice(in_scope))
        topic = _UNRELATED[int(g.integers(len(_UNRELATED)))]
        call = _contact(
            ts, _CHANNELS[int(g.integers(3))], devices.customer_id[i], _owner_dims(market, devices, i), topic
        )
        calls.append({"contact_id": f"fu-{slot.number}-{n}", **call, "_related": None})
    return calls


def _vendor_records(slot: _Slot) -> list[tuple[float, dict[str, Any]]]:
    brand, region = slot.scope["device_brand"], slot.scope["region"]
    vendor = vendor_slug(brand)
    base = {
        "type": "vendor-status",
        "vendor": vendor,
        "status_id": f"{vendor}-{slot.number}",
        "component": f"{brand} cloud gateway ({region})",
        "scope": dict(slot.scope),
    }
    updates = (
        (slot.begin + 3 * MINUTE, "investigating", "Panels in the region may show offline; we are investigating."),
        (slot.begin + 35 * MINUTE, "identified", "A gateway fault was identified; a fix is being deployed."),
        (slot.end + 15 * MINUTE, "resolved", "Panels report again."),
    )
    return [(ts, {**base, "ts": format_time(ts), "status": status, "message": text}) for ts, status, text in updates]


def _slot_truth(
    slot: _Slot, devices: _Devices, mine: npt.NDArray[np.int64], calls: list[dict[str, Any]], scenario: Scenario
) -> dict[str, Any]:
    related = [c for c in calls if c["_related"] is not None]
    entry: dict[str, Any] = {
        "fault_id": {"maintenance": "m", "outage": "o"}.get(slot.part, "s") + str(slot.number),
        "kind": "maintenance" if slot.part == "maintenance" else "silence",
        "decoy": slot.part == "maintenance",
        "maintenance": slot.part == "maintenance",
        "pattern": slot.pattern if slot.part != "declared" else "brand-region-declared",
        "scope": dict(slot.scope),
        "start": format_time(slot.begin),
        "end": format_time(slot.end),
        "vendors_at_fault": [vendor_slug(slot.scope["device_brand"])] if "device_brand" in slot.scope else [],
        "description": f"{slot.part} on {slot.scope}: {len(mine)} devices of {DEVICE_SOURCE} quiet",
        "strength": round(slot.drop, 2) if slot.part in ("silence", "declared") else 1.0,
        "affected_devices": [devices.device_id[i] for i in mine.tolist()],
        "first_contact_at": related[0]["ts"] if related else None,
        "related_calls": [
            {"ts": c["ts"], "customer_id": c["customer_id"], "device_id": c["_related"]} for c in related
        ],
        "unrelated_calls": [
            {"ts": c["ts"], "customer_id": c["customer_id"], "category": c["category"]}
            for c in calls
            if c["_related"] is None
        ],
    }
    if slot.part == "maintenance":
        entry["standby_devices"] = entry["affected_devices"]
        entry["description"] = f"planned maintenance in {slot.scope['region']}: every device quiet, announced"
    if slot.part == "declared":
        entry["vendor_declared_at"] = (
            [format_time(slot.begin + 3 * MINUTE), format_time(slot.begin + 35 * MINUTE)]
            if scenario.vendor_status
            else []
        )
    return entry


def _device_truth(fault_id: str, kind: str, devices: _Devices, device: int, begin: float, end: float) -> dict[str, Any]:
    return {
        "fault_id": fault_id,
        "kind": kind,
        "decoy": False,
        "pattern": kind,
        "scope": {"device_id": devices.device_id[device]},
        "start": format_time(begin),
        "end": format_time(end),
        "device_id": devices.device_id[device],
        "customer_id": devices.customer_id[device],
        "description": f"device {devices.device_id[device]} {_DOINGS[kind]}",
    }


def write(fleet: Fleet, folder: str) -> tuple[str, str]:
    """Write ``stream.jsonl`` and ``truth.jsonl`` into ``folder``; their paths."""
    os.makedirs(folder, exist_ok=True)
    stream, truth = os.path.join(folder, "stream.jsonl"), os.path.join(folder, "truth.jsonl")
    with open(stream, "wb") as out:
        for chunk in fleet.lines():
            out.write(chunk)
    with open(truth, "wb") as out:
        out.write(b"".join(orjson.dumps(entry) + b"\n" for entry in fleet.truth))
    return stream, truth


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m correlate.lab.fleets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="where stream.jsonl and truth.jsonl go")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same stream (default 1)")
    parser.add_argument("--days", type=float, default=10.0, help="length of the stream (default 10)")
    parser.add_argument("--devices", type=int, default=3000, help="the per-device partner's devices")
    parser.add_argument("--per-day", type=int, default=3000, help="background contacts a day")
    parser.add_argument("--silent-faults", type=int, help="default 0.4 a day, at least 1")
    parser.add_argument("--no-maintenance", action="store_true", help="leave the planned maintenance out")
    parser.add_argument("--no-summary-partner", action="store_true", help="leave the summary partner out")
    parser.add_argument("--no-vendor-declared", action="store_true", help="leave the vendor-declared fault out")
    parser.add_argument("--no-vendor-status", action="store_true", help="the declared fault, the vendor silent")
    parser.add_argument("--no-feed-outage", action="store_true", help="leave the partner-feed outage out")
    return parser


def spec_from(args: argparse.Namespace) -> FleetSpec:
    scenario = Scenario(
        silent_faults=args.silent_faults,
        vendor_declared=not args.no_vendor_declared,
        vendor_status=not args.no_vendor_status,
        maintenance=not args.no_maintenance,
        feed_outage=not args.no_feed_outage,
        summary_partner=not args.no_summary_partner,
    )
    return replace(FleetSpec(args.seed), days=args.days, devices=args.devices, contacts_per_day=args.per_day,
                   scenario=scenario)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        fleet = generate(spec_from(args))
    except ValueError as error:
        print(f"fleets: {error}", file=sys.stderr)
        return 2
    stream, truth = write(fleet, args.out_dir)
    print(
        f"wrote {stream}: {fleet.heartbeats} heartbeats, {len(fleet.records)} other records; "
        f"{truth}: {len(fleet.truth)} entries",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
