"""Detection quality over several independent simulated streams, pooled: what the closing notes quote.

    python benchmarks/detection_quality.py                 # seeds 1-5, 10 days x 20,000 contacts/day
    python benchmarks/detection_quality.py --seeds 1 2 3 --days 7
    python benchmarks/detection_quality.py --telemetry        # with a monitored fleet and silent faults
    python benchmarks/detection_quality.py --profile hard --days 6   # slow, weak faults and the special cases

Each seed is simulated, replayed with the default settings (nothing tuned per seed) and evaluated against its
truth; faults are pooled across seeds. Targets (issue 2): exact attribution >= 90%, precision >= 0.9, median
time to detect <= 10 minutes, no incident from the decoys. With ``--telemetry`` (issue 6) the stream also
carries a fleet's heartbeats, silent faults whose customers call later, and single devices that go quiet: the
silence faults are scored like the others, plus their lead over the first customer contact, and the
customer notifications against the devices that went quiet.

Every rate fault is also found by the oracle (``correlate.lab.oracle``: the scope's new customers against the true
background the simulator recorded, in the detector's windows, at its false-alarm budget): the median lag behind it
and the worst ratio of the two times to detect are printed beside the rest. ``--profile hard`` (issue 15) adds one
line per special case: the cold-start fault found, the second day's repeat found no later than the first, the
cause outside the dimensions never blamed on a single vendor, both concurrent faults named exactly.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from correlate.config import Settings
from correlate.contracts import parse_timestamp
from correlate.engine import Engine
from correlate.events import from_json
from correlate.lab.evaluate import Oracle, evaluate
from correlate.lab.simulate import PROFILES, simulate
from correlate.replay import run_replay

START = 1_772_409_600.0  # 2026-03-02T00:00:00Z


def one_seed(
    seed: int,
    days: float,
    per_day: int,
    folder: str,
    telemetry: bool = False,
    profile: str = "standard",
    settings: Settings | None = None,
) -> dict[str, Any]:
    settings = settings or Settings()
    simulation = simulate(
        seed=seed, days=days, contacts_per_day=per_day, start=START, telemetry=telemetry, profile=profile
    )
    contacts, incidents = Path(folder) / f"contacts{seed}.jsonl", Path(folder) / f"incidents{seed}.jsonl"
    contacts.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in simulation.contacts))
    merge = []
    if telemetry:
        heartbeats = Path(folder) / f"telemetry{seed}.jsonl"
        heartbeats.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in simulation.telemetry))
        merge.append(str(heartbeats))
    run_replay(Engine(settings), str(contacts), str(incidents), None, merge)
    events = [from_json(orjson.loads(line)) for line in incidents.read_bytes().splitlines()]
    oracle = Oracle.from_records(simulation.contacts, settings)
    report: dict[str, Any] = evaluate(simulation.truth, events, oracle=oracle).to_json()
    for outcome in report["outcomes"]:
        outcome["seed"] = seed
    false, first = set(report["false_incidents"]), {}
    for event in events:
        incident = getattr(event, "incident_id", None)
        if incident in false and incident not in first:
            day = (parse_timestamp(event.opened_at) - START) / 86_400
            first[incident] = f"seed {seed} day {day:.2f} {dict(event.scope)}"
    report["false_first"] = sorted(first.values())
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--days", type=float, default=10.0)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--telemetry", action="store_true", help="add a monitored fleet with silent faults")
    parser.add_argument("--profile", choices=PROFILES, default="standard", help="the simulator's profile")
    parser.add_argument("--false-incidents", action="store_true", help="list every incident that hit no fault")
    parser.add_argument(
        "--hold-reported",
        choices=("on", "off"),
        help="override the hold_reported setting (a reported scope does not teach its cells' baseline)",
    )
    args = parser.parse_args()
    settings = Settings() if args.hold_reported is None else Settings(hold_reported=args.hold_reported == "on")
    run = partial(
        one_seed,
        days=args.days,
        per_day=args.per_day,
        telemetry=args.telemetry,
        profile=args.profile,
        settings=settings,
    )
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(args.jobs) as pool:
        reports = list(pool.map(partial(run, folder=folder), args.seeds))
    outcomes = [o for report in reports for o in report["outcomes"]]
    incidents = sum(r["incidents"] for r in reports)
    true_incidents = sum(round((r["precision"] or 0.0) * r["incidents"]) for r in reports)
    print(
        f"{len(args.seeds)} seeds x {args.days:g} days x {args.per_day:,} contacts/day, {args.profile} profile, "
        f"default settings{'' if args.hold_reported is None else f', hold_reported {args.hold_reported}'}"
    )
    for kind in ("rate", "symptom", "silence", None):
        faults = [o for o in outcomes if kind is None or o["kind"] == kind]
        if not faults:
            continue
        found = [o for o in faults if o["detected"]]
        exact = [o for o in faults if o["exact"]]
        minutes = sorted(o["minutes_to_detect"] for o in found)
        median = f"{statistics.median(minutes):.1f}" if minutes else "n/a"
        print(
            f"  {kind or 'all':8s} faults {len(faults):3d}  detected {len(found) / len(faults):5.0%}  "
            f"exact attribution {len(exact) / len(faults):5.0%}  median time to detect {median} min"
        )
    per_fault = [len(o["incidents"]) for o in outcomes if o["detected"]]
    print(f"  incidents {incidents}, on a fault {true_incidents}: precision {true_incidents / max(incidents, 1):.2f}")
    print(f"  decoy incidents {sum(r['decoy_incidents'] for r in reports)}")
    print(f"  fragmentation {sum(per_fault) / max(len(per_fault), 1):.2f} incidents per detected fault")
    _print_oracle(outcomes)
    if args.false_incidents:
        for line in (line for report in reports for line in report["false_first"]):
            print(f"    false incident: {line}")
    if args.profile == "hard":
        _print_cases(outcomes)
    if args.telemetry:
        leads = sorted(o["lead_minutes"] for o in outcomes if o.get("lead_minutes") is not None)
        ahead = sum(lead > 0 for lead in leads)
        median = f"{statistics.median(leads):.1f}" if leads else "n/a"
        print(f"  silent faults found before the first customer contact {ahead}/{len(leads)}, median lead {median} min")
        devices, notified = sum(r["devices"] for r in reports), sum(r["devices_notified"] for r in reports)
        sent, right = sum(r["notifications"] for r in reports), sum(r["notifications_right"] for r in reports)
        print(f"  devices gone quiet notified {notified}/{devices}; notifications {sent}, right {right}")
    return 0


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "n/a"


def _print_oracle(outcomes: list[dict[str, Any]]) -> None:
    """The lag behind the oracle over faults both found, and what neither or only one of them found."""
    with_oracle = [o for o in outcomes if o["kind"] == "rate" and o["oracle_ttd"] is not None]
    both = [o for o in with_oracle if o["lag"] is not None]
    ratios = [o["minutes_to_detect"] / o["oracle_ttd"] for o in both if o["oracle_ttd"] > 0]
    worst = max(ratios, key=abs, default=None)
    oracle_only = sum(o["minutes_to_detect"] is None for o in with_oracle)
    print(
        f"  oracle: found {len(with_oracle)} rate faults, median oracle TTD "
        f"{_median([o['oracle_ttd'] for o in with_oracle])} min; detector median lag "
        f"{_median([o['lag'] for o in both])} min, worst ratio "
        f"{'n/a' if worst is None else f'{worst:.2f}'}, found by the oracle only {oracle_only}"
    )
    blind = sum(o["kind"] == "rate" and o["oracle_ttd"] is None for o in outcomes)
    if blind:
        print(f"  rate faults the oracle does not find before they end {blind}")
    for case in sorted({o["case"] for o in with_oracle if o["case"]}):
        mine = [o for o in with_oracle if o["case"] == case]
        ttd = _median([o["minutes_to_detect"] for o in mine if o["detected"]])
        lag = _median([o["lag"] for o in mine if o["lag"] is not None])
        found, exact = sum(o["detected"] for o in mine), sum(o["exact"] for o in mine)
        oracle = _median([o["oracle_ttd"] for o in mine])
        print(
            f"    {case:14s} {len(mine):2d}  detected {found:2d}  exact {exact:2d}  TTD {ttd} oracle {oracle} lag {lag}"
        )


def _print_cases(outcomes: list[dict[str, Any]]) -> None:
    """The special cases of the hard profile, one line each, pooled over seeds."""
    by_case: dict[str, list[dict[str, Any]]] = {}
    for outcome in outcomes:
        by_case.setdefault(outcome["case"], []).append(outcome)
    cold = by_case.get("cold-start", [])
    print(f"  cold start found {sum(o['detected'] for o in cold)}/{len(cold)}, exact {sum(o['exact'] for o in cold)}")
    firsts = {(o["seed"], o["fault_id"]): o for o in by_case.get("repeat-first", [])}
    ratios = []
    for second in by_case.get("repeat-second", []):
        first = firsts[(second["seed"], second["repeat_of"])]
        if first["detected"] and second["detected"]:
            ratios.append(f"{second['minutes_to_detect']:.0f}/{first['minutes_to_detect']:.0f}")
        else:
            ratios.append(f"{'found' if first['detected'] else 'missed'}/{'found' if second['detected'] else 'missed'}")
    print(f"  repeat, second day TTD / first day TTD: {', '.join(ratios) or 'n/a'}")
    outside = by_case.get("out-of-schema", [])
    print(
        f"  out-of-schema cause: detected {sum(o['detected'] for o in outside)}/{len(outside)}, blamed on a single "
        f"vendor {sum(o['single_vendor'] for o in outside)}/{len(outside)}"
    )
    pairs: dict[int, list[dict[str, Any]]] = {}
    for outcome in by_case.get("concurrent", []):
        pairs.setdefault(outcome["seed"], []).append(outcome)
    print(
        f"  concurrent faults both exact {sum(all(o['exact'] for o in pair) for pair in pairs.values())}/{len(pairs)}"
    )


if __name__ == "__main__":
    sys.exit(main())
