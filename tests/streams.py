"""Small, exactly controlled contact streams for engine tests: a seasonal background plus chosen faults.

The simulator (``correlate simulate``) makes realistic streams; these are deliberately plain so that a test
can say precisely which cell carries the fault.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import orjson

from correlate.config import Settings
from correlate.contracts import format_time
from correlate.engine import Engine

START = 1_772_409_600.0  # 2026-03-02T00:00:00Z, a Monday
HOUR = 3600.0
DAY = 86_400.0
BRANDS = {"Sonique": 0.40, "Rokit": 0.25, "Vizo": 0.15, "Pana": 0.12, "Zed": 0.08}
SERVICES = {"StreamPlus": 0.40, "FlixCo": 0.30, "Tubo": 0.18, "Vidz": 0.12}
REGIONS = {"North": 0.3, "South": 0.3, "East": 0.2, "West": 0.2}


@dataclass(frozen=True)
class Fault:
    scope: Mapping[str, str]
    start: float
    duration: float
    per_minute: float
    ramp: float = 0.0  # seconds over which the extra rate climbs linearly from 0 to ``per_minute``


def _diurnal(ts: np.ndarray) -> np.ndarray:
    hour = (ts % DAY) / HOUR
    return 1.0 + 0.7 * np.sin((hour - 10.0) / 24.0 * 2 * math.pi)


@dataclass(frozen=True)
class Surge:
    """Every cell rises together by ``factor`` (a TV event): not a fault."""

    start: float
    duration: float
    factor: float


def stream(
    *,
    seed: int = 7,
    days: float = 3.0,
    per_day: int = 8000,
    faults: Iterable[Fault] = (),
    start: float = START,
    surges: Iterable[Surge] = (),
    drift: tuple[str, float] | None = None,
    flat: bool = False,
) -> list[dict[str, object]]:
    """Contacts in event-time order: Poisson background with a daily rhythm, plus each fault's extra reporters.

    ``drift=(brand, factor)``: that brand's contacts grow smoothly to ``factor`` times their share by the end.
    ``flat``: no daily rhythm (the same rate all day).
    """
    rng = np.random.default_rng(seed)
    surges = list(surges)
    # Thinning: draw at the peak rate, keep in proportion to the rhythm (and to surges and drift).
    top = 1.7 * max([1.0, *(s.factor for s in surges)]) * (drift[1] if drift else 1.0)
    n = rng.poisson(per_day / DAY * top * days * DAY)
    ts = np.sort(rng.uniform(start, start + days * DAY, n))
    rows = [_draw_profile(rng) for _ in range(len(ts))]
    keep = np.ones_like(ts) if flat else _diurnal(ts)
    for surge in surges:
        keep = keep * np.where((ts >= surge.start) & (ts < surge.start + surge.duration), surge.factor, 1.0)
    if drift:
        growth = 1.0 + (drift[1] - 1.0) * (ts - start) / (days * DAY)
        is_brand = np.array([row["device_brand"] == drift[0] for row in rows])
        keep = keep * np.where(is_brand, growth, 1.0)
    chosen = rng.uniform(0, top, n) < keep
    events = [(t, row) for t, row, k in zip(ts.tolist(), rows, chosen.tolist(), strict=True) if k]
    for fault in faults:
        count = rng.poisson(fault.per_minute * fault.duration / 60.0)
        offsets = rng.uniform(0.0, fault.duration, count)
        if fault.ramp > 0:  # thinning: keep an early draw in proportion to how far the ramp has climbed
            offsets = offsets[rng.uniform(0.0, 1.0, count) < np.minimum(offsets / fault.ramp, 1.0)]
        for t in np.sort(fault.start + offsets).tolist():
            profile = _draw_profile(rng)
            profile.update(fault.scope)
            events.append((t, profile))
    events.sort(key=lambda item: item[0])
    channels = ["voice", "chat", "email", "app"]
    return [
        {
            "contact_id": f"c{i}",
            "ts": format_time(t),
            "channel": channels[i % 4],
            "customer_id": f"u{rng.integers(10**12)}",
            "source": "centre",
            "dimensions": profile,
        }
        for i, (t, profile) in enumerate(events)
    ]


def _draw_profile(rng: np.random.Generator) -> dict[str, str]:
    return {
        "device_brand": _pick(rng, BRANDS),
        "service": _pick(rng, SERVICES),
        "region": _pick(rng, REGIONS),
    }


def _pick(rng: np.random.Generator, shares: Mapping[str, float]) -> str:
    names = list(shares)
    return names[int(rng.choice(len(names), p=list(shares.values())))]


def run(records: Iterable[Mapping[str, object]], settings: Settings | None = None) -> list[dict[str, object]]:
    """Replay records through a fresh engine and return every event, as the JSON it is published as."""
    engine = Engine(settings or Settings(symptoms=False))
    events: list[dict[str, object]] = []
    for record in records:
        events.extend(event.to_json() for event in engine.process(record).events)
    events.extend(event.to_json() for event in engine.close())
    return events


def opened_scopes(events: Iterable[Mapping[str, object]]) -> list[dict[str, str]]:
    """Final scope of every incident, in opening order."""
    final: dict[str, dict[str, str]] = {}
    for event in events:
        final[str(event["incident_id"])] = dict(event["scope"])  # type: ignore[call-overload]
    return list(final.values())


def as_jsonl(records: Iterable[Mapping[str, object]]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)
