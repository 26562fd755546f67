"""The contract every registered detector keeps (``correlate.detectors.base.Detector``), one test parametrised over
each detector the Engine can run (``correlate.detectors.registry.DETECTORS``), so that a new detector is held to
it the day it is registered:

- causal: a step's findings depend on that step and the ones before it, never on what comes later;
- deterministic: the same input gives the same findings;
- silent during the warm-up, even through a fault it would report afterwards;
- a step's records may arrive in any order.

Each detector sees the same day: contacts with a service fault and a burst of one rare complaint, heartbeats of a
fleet (and a partner's summaries of another) whose North region goes quiet, once during the warm-up and once after
it, and one device that reports every 25 seconds (several heartbeats a step) until it stops.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import pytest

from correlate.config import Settings
from correlate.contracts import Contact, parse_timestamp
from correlate.detectors.base import Detector, DetectorFactory, DeviceSilence, Finding, NotifiesDevices, TakesTelemetry
from correlate.detectors.registry import DETECTORS
from correlate.intake import validate_record
from correlate.stitch import Profile, StitchedContact, Stitcher
from correlate.telemetry import Heartbeat, HeartbeatSummary
from streams import HOUR, START, Fault, stream
from test_silence import Quiet, fleet, summaries

SETTINGS = Settings(warmup=8 * HOUR)
DAYS = 22 * HOUR / 86_400.0
FAULTS = (3 * HOUR, 15 * HOUR)  # after START: one during the warm-up, one after it
COMPLAINTS = (  # one rare complaint per fault, worded three ways
    ("Can't post a comment on the live stream!!", "cant post coment on live strem", "Cannot post comments"),
    ("Remote app crashes when I open the guide", "remote app crash when opening guide", "Remote app crashes on guide"),
)


@dataclass(frozen=True)
class Step:
    end: float
    contacts: tuple[StitchedContact, ...]
    telemetry: tuple[tuple[Heartbeat | HeartbeatSummary, Profile], ...]


@cache
def day() -> tuple[Step, ...]:
    """The day, validated, stitched and cut into steps as the Engine does (in its order inside each step)."""
    faults = [Fault({"service": "Tubo"}, START + at, HOUR, 3.0) for at in FAULTS]
    records: list[dict[str, object]] = [*stream(seed=31, days=DAYS, per_day=8000, faults=faults)]
    for at, complaint in zip(FAULTS, COMPLAINTS, strict=True):
        for n, text in enumerate(complaint):
            dims = {"device_brand": "Sonique", "service": "StreamPlus", "region": "North"}
            ts = START + at + 600.0 * n + 7.0
            records.append(
                {"contact_id": f"t{at}-{n}", "ts": ts, "channel": "app", "customer_id": f"writer-{at}-{n}"}
                | {"source": "app", "dimensions": dims, "text": text}
            )
    quiet = [Quiet({"region": "North"}, START + at, HOUR) for at in FAULTS]
    records += fleet(days=DAYS, quiet=quiet) + summaries(period=420.0, days=DAYS, quiet=quiet)
    chatty = {"type": "heartbeat", "device_id": "chatty", "customer_id": "c-chatty", "source": "partner:alarmco"}
    chatty |= {"dimensions": {"device_brand": "Zed", "region": "West"}, "status": "ok"}
    records += [chatty | {"ts": START + 25.0 * i} for i in range(int((FAULTS[1] + 2 * HOUR) / 25.0))]
    stitcher = Stitcher(window=max(SETTINGS.windows), limits=SETTINGS)
    contacts: dict[int, list[Contact]] = {}
    telemetry: dict[int, list[Heartbeat | HeartbeatSummary]] = {}
    for record in sorted(records, key=lambda r: parse_timestamp(r["ts"])):
        item = validate_record(record, SETTINGS)
        step = int(parse_timestamp(record["ts"]) // SETTINGS.step)
        if isinstance(item, Contact):
            contacts.setdefault(step, []).append(item)
        elif isinstance(item, Heartbeat | HeartbeatSummary):
            telemetry.setdefault(step, []).append(item)
        else:
            raise AssertionError(item)
    steps = []
    for step in range(min(*contacts, *telemetry), max(*contacts, *telemetry) + 1):
        ordered = sorted(contacts.get(step, ()), key=lambda c: (c.ts, c.contact_id, c.source))
        beats = tuple((beat, stitcher.profile(beat.dimensions)) for beat in telemetry.get(step, ()))
        steps.append(Step((step + 1) * SETTINGS.step, tuple(stitcher.stitch(c) for c in ordered), beats))
    return tuple(steps)


def run(factory: DetectorFactory, steps: Iterable[Step]) -> list[tuple[float, list[Finding | DeviceSilence]]]:
    """A fresh detector through the steps: the findings (and devices found quiet) of every step that had some."""
    detector: Detector = factory.from_settings(SETTINGS)
    found = []
    for step in steps:
        for contact in step.contacts:
            detector.observe(contact)
        if isinstance(detector, TakesTelemetry):
            for beat, profile in step.telemetry:
                detector.observe_telemetry(beat, profile)
        findings: list[Finding | DeviceSilence] = [*detector.close_step(step.end)]
        if isinstance(detector, NotifiesDevices):
            findings += detector.notifications
        if findings:
            found.append((step.end, findings))
    return found


@cache
def findings_of(factory: DetectorFactory) -> list[tuple[float, list[Finding | DeviceSilence]]]:
    return run(factory, day())


def shuffled(steps: Sequence[Step], seed: int) -> list[Step]:
    rng = random.Random(seed)
    mixed = []
    for step in steps:
        contacts, telemetry = list(step.contacts), list(step.telemetry)
        rng.shuffle(contacts)
        rng.shuffle(telemetry)
        mixed.append(Step(step.end, tuple(contacts), tuple(telemetry)))
    return mixed


registered = pytest.mark.parametrize("factory", DETECTORS, ids=lambda factory: factory.__name__)  # type: ignore[attr-defined]


@registered
def test_each_detector_finds_the_fault_after_its_warm_up_and_says_nothing_during_it(factory: DetectorFactory) -> None:
    # Findings only: a single device gone quiet is judged on its own history, which has no warm-up.
    found = [(end, f) for end, step in findings_of(factory) for f in step if isinstance(f, Finding)]
    warm_from = day()[0].end - SETTINGS.step + SETTINGS.warmup
    assert found, "the fault after the warm-up is found (else the rest of this contract proves nothing)"
    assert min(end for end, _ in found) >= warm_from
    assert any(START + FAULTS[1] <= end <= START + FAULTS[1] + 2 * HOUR for end, _ in found)


@registered
def test_the_same_input_gives_the_same_findings(factory: DetectorFactory) -> None:
    assert run(factory, day()) == findings_of(factory)


@registered
def test_a_step_is_decided_by_what_came_before_it_not_after(factory: DetectorFactory) -> None:
    found = findings_of(factory)
    # Cut in the middle of the second fault: the prefix has seen it begin, not how it goes on.
    cut = START + FAULTS[1] + HOUR / 2
    prefix = run(factory, [step for step in day() if step.end <= cut])
    assert prefix == [(end, findings) for end, findings in found if end <= cut]
    assert any(end > cut for end, _ in found), "what the prefix did not see changed later findings"


@registered
@pytest.mark.parametrize("seed", [1, 2])
def test_the_order_records_arrive_in_within_a_step_does_not_matter(factory: DetectorFactory, seed: int) -> None:
    assert run(factory, shuffled(day(), seed)) == findings_of(factory)
