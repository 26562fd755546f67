"""Detection quality over several independent simulated streams, pooled: what the closing notes quote.

    python benchmarks/detection_quality.py                 # seeds 1-5, 10 days x 20,000 contacts/day
    python benchmarks/detection_quality.py --seeds 1 2 3 --days 7
    python benchmarks/detection_quality.py --telemetry        # with a monitored fleet and silent faults

Each seed is simulated, replayed with the default settings (nothing tuned per seed) and evaluated against its
truth; faults are pooled across seeds. Targets (issue 2): exact attribution >= 90%, precision >= 0.9, median
time to detect <= 10 minutes, no incident from the decoys. With ``--telemetry`` (issue 6) the stream also
carries a fleet's heartbeats, silent faults whose customers call later, and single devices that go quiet: the
silence faults are scored like the others, plus their lead over the first customer contact, and the
customer notifications against the devices that went quiet.
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
from correlate.engine import Engine
from correlate.events import from_json
from correlate.lab.evaluate import evaluate
from correlate.lab.simulate import simulate
from correlate.replay import run_replay

START = 1_772_409_600.0  # 2026-03-02T00:00:00Z


def one_seed(seed: int, days: float, per_day: int, folder: str, telemetry: bool = False) -> dict[str, Any]:
    simulation = simulate(seed=seed, days=days, contacts_per_day=per_day, start=START, telemetry=telemetry)
    contacts, incidents = Path(folder) / f"contacts{seed}.jsonl", Path(folder) / f"incidents{seed}.jsonl"
    contacts.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in simulation.contacts))
    merge = []
    if telemetry:
        heartbeats = Path(folder) / f"telemetry{seed}.jsonl"
        heartbeats.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in simulation.telemetry))
        merge.append(str(heartbeats))
    run_replay(Engine(Settings()), str(contacts), str(incidents), None, merge)
    events = [from_json(orjson.loads(line)) for line in incidents.read_bytes().splitlines()]
    report: dict[str, Any] = evaluate(simulation.truth, events).to_json()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--days", type=float, default=10.0)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--telemetry", action="store_true", help="add a monitored fleet with silent faults")
    args = parser.parse_args()
    run = partial(one_seed, days=args.days, per_day=args.per_day, telemetry=args.telemetry)
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(args.jobs) as pool:
        reports = list(pool.map(partial(run, folder=folder), args.seeds))
    outcomes = [o for report in reports for o in report["outcomes"]]
    incidents = sum(r["incidents"] for r in reports)
    true_incidents = sum(round((r["precision"] or 0.0) * r["incidents"]) for r in reports)
    print(f"{len(args.seeds)} seeds x {args.days:g} days x {args.per_day:,} contacts/day, default settings")
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
    if args.telemetry:
        leads = sorted(o["lead_minutes"] for o in outcomes if o.get("lead_minutes") is not None)
        ahead = sum(lead > 0 for lead in leads)
        median = f"{statistics.median(leads):.1f}" if leads else "n/a"
        print(f"  silent faults found before the first customer contact {ahead}/{len(leads)}, median lead {median} min")
        devices, notified = sum(r["devices"] for r in reports), sum(r["devices_notified"] for r in reports)
        sent, right = sum(r["notifications"] for r in reports), sum(r["notifications_right"] for r in reports)
        print(f"  devices gone quiet notified {notified}/{devices}; notifications {sent}, right {right}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
