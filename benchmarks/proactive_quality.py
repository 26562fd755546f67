"""Proactive detection judged on fleets from a generator of its own (correlate.lab.fleets), and on the simulator's.

    python3 benchmarks/proactive_quality.py --seeds 1 2             # 10 days x 3,000 devices (~12M heartbeats a seed)
    python3 benchmarks/proactive_quality.py --seeds 1 --days 5 --devices 1000 --sim-seeds
    python3 benchmarks/proactive_quality.py --seeds 1 --no-maintenance --no-summary-partner
    python3 benchmarks/proactive_quality.py --seeds 1 --no-vendor-status   # the declared fault, the vendor silent
    python3 benchmarks/proactive_quality.py --fleet-seeds --sim-seeds 1 2    # only the simulator's streams

Each fleet (see ``python3 -m correlate.lab.fleets --help``) is generated, replayed in process with the default
settings and scored against its truth; then the same figures for ``correlate simulate --telemetry`` streams
(``--sim-seeds``, default: the fleet seeds; ``--sim-days``, ``--sim-per-day``), so that fixes made for the fleets
can be checked not to cost anything on the simulator's. Printed per seed and pooled:

* rejects (records correlate's contracts refused: 0 expected);
* silence recall (silent faults hit by an incident) and exact-scope share; median time to detect from the
  fault's start and median lead over the first related call;
* precision: incidents that hit a fault over all incidents (an incident on the maintenance counts false, and
  is also counted on its own); false incidents by kind;
* the vendor-declared fault: minutes from its start to the first event of its incidents whose
  ``evidence_kinds`` holds ``telemetry``;
* incidents on a silent fault whose contact evidence starts (``evidence.first_contact_at``) before it began;
* faults whose incidents got contact evidence (``contacts`` in ``evidence_kinds``), and when: minutes after the
  first related call; how many of those incidents had exactly the fault's scope then;
* device notifications: quiet devices notified (recall) and duplicates; notifications for announced sleeps,
  for a replaced device's new id (its first day), for the old id, for devices in the maintenance or a silent
  fault, and for nothing the truth explains (mostly short dropouts: 2-3 heartbeats lost in a row).

``--jobs`` runs seeds side by side (each full-size fleet replays ~12M records: ~10 minutes and ~1 GB).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.events import CustomerNotification, Event, IncidentEvent, from_json
from correlate.lab import fleets
from correlate.lab.evaluate import DEVICE, Fault, collect_incidents, evaluate, overlaps
from correlate.lab.simulate import simulate
from correlate.replay import run_replay
from correlate.scope import make_scope

GRACE = 3600.0
_NEW = 86_400.0  # a replaced device's new id is new for a day: later, it is a device like any other
# A notification is put down to the first of these that explains it: a new id is only to blame when nothing else is.
_PRIORITY = (DEVICE, "silence", "maintenance", "sleep", "replaced", "new-id")


def _root(incident_id: str, merged: dict[str, str]) -> str:
    seen = {incident_id}
    while incident_id in merged and merged[incident_id] not in seen:
        incident_id = merged[incident_id]
        seen.add(incident_id)
    return incident_id


def _minutes(later: float, earlier: float) -> float:
    return round((later - earlier) / 60.0, 1)


def figures(truth: list[dict[str, Any]], events: Sequence[Event], rejected: int) -> dict[str, Any]:
    """Every figure of one stream, as counts and lists (pooled by adding)."""
    report = evaluate(truth, events, grace=GRACE)
    incidents = collect_incidents(events)
    merged = {e.incident_id: e.merged_into for e in events if isinstance(e, IncidentEvent) and e.merged_into}
    timeline: dict[str, list[IncidentEvent]] = defaultdict(list)  # every event of an incident and its parts
    for event in events:
        if isinstance(event, IncidentEvent):
            timeline[_root(event.incident_id, merged)].append(event)
    for items in timeline.values():
        items.sort(key=lambda e: parse_timestamp(e.at))
    entries = {entry["fault_id"]: entry for entry in truth}
    silences = [o for o in report.outcomes if o.fault.kind == "silence"]
    maintenance = [Fault.from_json(e) for e in truth if e.get("maintenance")]
    on_maintenance = [
        i.incident_id
        for i in incidents
        if any(m.in_window(i.opened_at, GRACE) and overlaps(m.scope, i.scope) for m in maintenance)
    ]
    false_ids = set(report.false_incidents)
    false_kinds: dict[str, int] = defaultdict(int)
    for incident in incidents:
        if incident.incident_id in false_ids:
            false_kinds[incident.kind] += 1
    declared, early_contacts, joined, joined_exact = [], 0, [], 0
    early_ids: set[str] = set()
    for outcome in report.outcomes:
        fault, entry = outcome.fault, entries[outcome.fault.fault_id]
        mine = [event for incident_id in outcome.incidents for event in timeline[incident_id]]
        mine.sort(key=lambda e: parse_timestamp(e.at))
        for event in mine if fault.kind == "silence" else ():
            first = event.evidence.first_contact_at
            if first is not None and parse_timestamp(first) < fault.start and event.incident_id not in early_ids:
                early_ids.add(event.incident_id)
        if "vendor_declared_at" in entry:  # with the vendor's records or without them (the same fault)
            seen = next((e for e in mine if e.evidence_kinds and "telemetry" in e.evidence_kinds), None)
            declared.append(None if seen is None else _minutes(parse_timestamp(seen.at), fault.start))
        first_call = fault.first_contact
        if fault.kind == "silence" and first_call is not None:
            join = next((e for e in mine if e.evidence_kinds and "contacts" in e.evidence_kinds), None)
            joined.append(None if join is None else _minutes(parse_timestamp(join.at), first_call))
            exact = fault.scope == make_scope(join.scope) if join is not None else False
            joined_exact += exact
    early_contacts = len(early_ids)
    return {
        "rejected": rejected,
        "silences": len(silences),
        "silences_detected": sum(o.detected for o in silences),
        "silences_exact": sum(o.exact for o in silences),
        "ttd": [o.minutes_to_detect for o in silences if o.minutes_to_detect is not None],
        "leads": [o.lead_minutes for o in silences if o.lead_minutes is not None],
        "missed": [_missed(o.fault, events) for o in silences if not o.detected],
        "inexact": [
            f"{o.fault.fault_id} {o.fault.pattern}: {len(o.incidents)} incidents"
            for o in silences
            if o.detected and not o.exact
        ],
        "incidents": report.incidents,
        "true_incidents": report.incidents - len(false_ids),
        "maintenance_incidents": len(on_maintenance),
        "false_kinds": dict(false_kinds),
        "declared_telemetry_minutes": declared,
        "early_contact_incidents": early_contacts,
        "joined_minutes": joined,
        "joined_exact": joined_exact,
        **_notifications(truth, events),
    }


def _missed(fault: Fault, events: Sequence[Event]) -> str:
    """The fault, and where an incident that was once on its scope in its window ended up (evaluate scores an
    incident by its last scope)."""
    moved = {
        e.incident_id: e.scope
        for e in events
        if isinstance(e, IncidentEvent) and fault.in_window(parse_timestamp(e.opened_at), GRACE)
    }
    once = {
        e.incident_id
        for e in events
        if isinstance(e, IncidentEvent) and e.incident_id in moved and overlaps(fault.scope, make_scope(e.scope))
    }
    where = "; ".join(f"an incident on it moved to {moved[i]}" for i in sorted(once))
    return f"{fault.fault_id} {fault.pattern} {dict(fault.scope)}" + (f" ({where})" if where else "")


def _notifications(truth: list[dict[str, Any]], events: Sequence[Event]) -> dict[str, Any]:
    sent = [e for e in events if isinstance(e, CustomerNotification)]
    windows: dict[str, list[tuple[str, float, float]]] = defaultdict(list)  # device -> (why, from, until)
    for entry in truth:
        start, end = parse_timestamp(entry["start"]), parse_timestamp(entry.get("end", entry["start"]))
        if entry.get("kind") in (DEVICE, "sleep"):
            windows[entry["device_id"]].append((entry["kind"], start, end + GRACE))
        elif entry.get("kind") == "replaced":
            windows[entry["new_device_id"]].append(("new-id", start, start + _NEW))
            windows[entry["device_id"]].append(("replaced", start, float("inf")))
        else:
            reason = "maintenance" if entry.get("maintenance") else "silence"
            for device in entry.get("affected_devices", ()):
                windows[device].append((reason, start, end + GRACE))
    # A truth that names no devices (the simulator's): a device inside a silent fault's scope during it.
    scopes = [
        (entry["scope"], parse_timestamp(entry["start"]), parse_timestamp(entry["end"]) + GRACE)
        for entry in truth
        if entry.get("kind") == "silence" and "affected_devices" not in entry
    ]
    per_quiet: dict[tuple[str, float], int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    for notice in sent:
        at = parse_timestamp(notice.at)
        why = [(kind, since) for kind, since, until in windows.get(notice.device_id, ()) if since <= at <= until]
        dims = notice.dimensions
        why += [
            ("silence", since)
            for scope, since, until in scopes
            if since <= at <= until and all(dims.get(name) == value for name, value in scope.items())
        ]
        if not why:
            reasons["unexplained"] += 1
            continue
        kind, since = min(why, key=lambda reason: _PRIORITY.index(reason[0]))
        reasons[kind] += 1
        if kind == DEVICE:
            per_quiet[(notice.device_id, since)] += 1
    quiet = [e for e in truth if e.get("kind") == DEVICE]
    return {
        "quiet_devices": len(quiet),
        "quiet_notified": len(per_quiet),
        "duplicates": sum(n - 1 for n in per_quiet.values()),
        "notifications": len(sent),
        "notified_for": dict(reasons),
    }


def _replay(stream: Path, folder: Path, name: str, merge: Sequence[str] = ()) -> tuple[list[Event], int]:
    incidents = folder / f"{name}.incidents.jsonl"
    summary = run_replay(Engine(Settings()), str(stream), str(incidents), None, merge)
    events = [from_json(orjson.loads(line)) for line in incidents.read_bytes().splitlines()]
    return events, summary.rejected


def one_fleet(seed: int, spec: fleets.FleetSpec, folder: str) -> dict[str, Any]:
    where = Path(folder) / f"fleet{seed}"
    fleet = fleets.generate(replace(spec, seed=seed))
    stream, _ = fleets.write(fleet, str(where))
    del fleet
    events, rejected = _replay(Path(stream), where, "fleet")
    truth = [orjson.loads(line) for line in (where / "truth.jsonl").read_bytes().splitlines()]
    (where / "stream.jsonl").unlink()
    return {"seed": seed, **figures(truth, events, rejected)}


def one_simulation(seed: int, days: float, per_day: int, folder: str) -> dict[str, Any]:
    sim = simulate(seed=seed, days=days, contacts_per_day=per_day, start=fleets.START, telemetry=True)
    where = Path(folder) / f"sim{seed}"
    where.mkdir(parents=True, exist_ok=True)
    contacts, telemetry = where / "contacts.jsonl", where / "telemetry.jsonl"
    contacts.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in sim.contacts))
    telemetry.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in sim.telemetry))
    events, rejected = _replay(contacts, where, "sim", [str(telemetry)])
    return {"seed": seed, **figures(sim.truth, events, rejected)}


def _median(values: Iterable[float | None]) -> str:
    numbers = [v for v in values if v is not None]
    return "n/a" if not numbers else f"{statistics.median(numbers):.1f}"


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole}" + (f" = {part / whole:.2f}" if whole else "")


def _after(minutes: float | None) -> str:
    return "none" if minutes is None else f"{minutes} min"


def render(label: str, f: dict[str, Any]) -> list[str]:
    joined = [m for m in f["joined_minutes"] if m is not None]
    declared = f["declared_telemetry_minutes"]
    lines = [
        f"{label}",
        f"  rejects                          {f['rejected']}",
        f"  silence recall / exact scope     {_share(f['silences_detected'], f['silences'])} / "
        f"{_share(f['silences_exact'], f['silences'])}",
        f"  time to detect / lead (median)   {_median(f['ttd'])} min / {_median(f['leads'])} min over the first call",
        f"  precision (all incidents)        {_share(f['true_incidents'], f['incidents'])}; on the maintenance "
        f"{f['maintenance_incidents']}; false by kind {f['false_kinds'] or '{}'}",
        f"  declared fault: telemetry after  {', '.join(_after(m) for m in declared) or 'n/a'}",
        f"  contact evidence before fault    {f['early_contact_incidents']} incidents",
        f"  contacts joined the silence      {_share(len(joined), len(f['joined_minutes']))}; minutes after the "
        f"first related call: {sorted(joined)}; on an incident of exactly its scope {f['joined_exact']}",
        f"  quiet devices notified / dups    {_share(f['quiet_notified'], f['quiet_devices'])} / {f['duplicates']}; "
        f"{f['notifications']} notifications for {dict(sorted(f['notified_for'].items()))}",
    ]
    if f["missed"] or f["inexact"]:
        lines.append(f"  missed {f['missed']}; not exact {f['inexact']}")
    return lines


def pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for result in results:
        for name, value in result.items():
            if name == "seed":
                continue
            if isinstance(value, dict):
                into = total.setdefault(name, {})
                for key, count in value.items():
                    into[key] = into.get(key, 0) + count
            elif isinstance(value, list):
                total.setdefault(name, []).extend(value)
            else:
                total[name] = total.get(name, 0) + value
    return total


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proactive_quality.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seeds", "--fleet-seeds", dest="seeds", type=int, nargs="*", default=[1, 2], help="fleet seeds (default 1 2)"
    )
    parser.add_argument("--days", type=float, default=10.0, help="fleet stream length (default 10)")
    parser.add_argument("--devices", type=int, default=3000, help="the per-device partner's devices (default 3000)")
    parser.add_argument("--per-day", type=int, default=3000, help="background contacts a day (default 3000)")
    parser.add_argument("--no-maintenance", action="store_true", help="leave the planned maintenance out")
    parser.add_argument("--no-summary-partner", action="store_true", help="leave the summary partner out")
    parser.add_argument("--no-vendor-status", action="store_true", help="the declared fault without vendor records")
    parser.add_argument("--no-feed-outage", action="store_true", help="leave the partner-feed outage out")
    parser.add_argument("--sim-seeds", type=int, nargs="*", help="simulator seeds (default: the fleet seeds)")
    parser.add_argument("--sim-days", type=float, default=10.0, help="simulator stream length (default 10)")
    parser.add_argument("--sim-per-day", type=int, default=20_000, help="simulator contacts a day (default 20000)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run side by side (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write every seed's figures to FILE as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scenario = fleets.Scenario(
        maintenance=not args.no_maintenance,
        summary_partner=not args.no_summary_partner,
        vendor_status=not args.no_vendor_status,
        feed_outage=not args.no_feed_outage,
    )
    spec = fleets.FleetSpec(0, args.days, args.devices, args.per_day, fleets.START, scenario)
    sim_seeds = args.seeds if args.sim_seeds is None else args.sim_seeds
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(args.jobs) as pool:
        fleet_results = list(pool.map(partial(one_fleet, spec=spec, folder=folder), args.seeds))
        sim_results = list(
            pool.map(partial(one_simulation, days=args.sim_days, per_day=args.sim_per_day, folder=folder), sim_seeds)
        )
    switched = [name for name in ("maintenance", "summary_partner", "vendor_status", "feed_outage")
                if not getattr(scenario, name)]  # fmt: skip
    what = f"{args.days:g} days x {args.devices} devices" + (f", without {', '.join(switched)}" if switched else "")
    for title, results in ((f"fleets ({what})", fleet_results), ("simulator --telemetry", sim_results)):
        if not results:
            continue
        print(f"== {title}")
        for result in results:
            print("\n".join(render(f"seed {result['seed']}", result)))
        if len(results) > 1:
            print("\n".join(render(f"pooled, seeds {' '.join(str(r['seed']) for r in results)}", pooled(results))))
    if args.json:
        Path(args.json).write_bytes(
            orjson.dumps({"fleets": fleet_results, "simulator": sim_results}, option=orjson.OPT_INDENT_2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
