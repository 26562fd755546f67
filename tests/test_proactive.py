"""Proactive detection on fleets as partners really send them: a planned maintenance is not an outage, a vendor's
early word never hides our own heartbeats, a silence's contact evidence is its own customers' calls after it began,
a few of those calls corroborate it, and one partner's feed going dark in a region is one incident on that feed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from correlate.config import Settings
from correlate.contracts import format_time
from correlate.engine import Engine
from streams import DAY, Fault, stream
from test_silence import SILENCE_AT, Quiet, epoch, fleet, incidents, merged, notifications, replay, summaries
from test_status_feed import status

HOUR = 3600.0
NORTH = {"region": "North"}
SONIQUE_NORTH = {"device_brand": "Sonique", "region": "North"}


def _maintenance(records: list[dict[str, Any]], scope: Mapping[str, str], start: float, *, until: bool) -> None:
    """Every device in ``scope`` says 'standby' in its last heartbeat before ``start`` (the fleet is quiet there
    from ``start``), with the time it will be back if ``until``."""
    last: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["ts"] < start and all(record["dimensions"].get(k) == v for k, v in scope.items()):
            last[record["device_id"]] = record
    for record in last.values():
        record["status"] = "standby"
        if until:
            record["until"] = format_time(start + 2 * HOUR)


def _calls(customers: Iterable[str], first: float, spacing: float, dims: Mapping[str, str]) -> list[dict[str, Any]]:
    """One contact from each customer, ``spacing`` seconds apart from ``first``, on the given dimensions."""
    return [
        {
            "contact_id": f"call-{customer}-{n}",
            "customer_id": customer,
            "ts": format_time(first + n * spacing),
            "channel": "voice",
            "source": "own",
            "dimensions": dict(dims),
            "text": "my alarm panel shows offline in the app",
        }
        for n, customer in enumerate(customers)
    ]


def _owners(records: Iterable[Mapping[str, Any]], scope: Mapping[str, str]) -> list[str]:
    return sorted({r["customer_id"] for r in records if all(r["dimensions"].get(k) == v for k, v in scope.items())})


# -- 1. a planned maintenance ------------------------------------------------------------------------------------


def test_a_maintenance_announced_by_every_device_opens_nothing_even_where_a_partner_only_counts() -> None:
    """The region's devices all say 'standby', then stop for two hours: the population counts them as present,
    and the other partner's counts of that region falling at the same time are held, and counted as held."""
    maintenance = Quiet(NORTH, SILENCE_AT, 2 * HOUR)
    devices = fleet(quiet=[maintenance])
    _maintenance(devices, NORTH, SILENCE_AT, until=True)
    engine = Engine(Settings(symptoms=False))
    events = replay(merged(devices, summaries(quiet=[maintenance])), engine=engine)
    assert incidents(events) == {}, "a planned maintenance is not an outage"
    assert engine.counts.held > 0, "the partner's falling counts there are held, and said so"
    assert notifications(events) == [], "devices back when they said they would be are not reported"


def test_a_maintenance_without_the_counting_partner_opens_nothing() -> None:
    devices = fleet(quiet=[Quiet(NORTH, SILENCE_AT, 2 * HOUR)])
    _maintenance(devices, NORTH, SILENCE_AT, until=False)
    assert incidents(replay(devices)) == {}


def test_a_real_silence_during_a_maintenance_elsewhere_is_still_found() -> None:
    devices = fleet(quiet=[Quiet(NORTH, SILENCE_AT, 2 * HOUR), Quiet({"region": "South"}, SILENCE_AT, 2 * HOUR)])
    _maintenance(devices, NORTH, SILENCE_AT, until=True)
    found = incidents(replay(devices))
    assert [timeline[-1]["scope"] for timeline in found.values()] == [{"region": "South"}]


def test_devices_not_back_when_they_said_are_waited_for_again() -> None:
    """Standby until +1 h, but the region stays dark for three: each device is reported once, after its own
    promised time, and the population's silence is found then, not while the maintenance was announced."""
    devices = fleet(quiet=[Quiet(NORTH, SILENCE_AT, 3 * HOUR)])
    last: dict[str, dict[str, Any]] = {}
    for record in devices:
        if record["ts"] < SILENCE_AT and record["dimensions"]["region"] == "North":
            last[record["device_id"]] = record
    for record in last.values():
        record["status"], record["until"] = "standby", SILENCE_AT + HOUR
    events = replay(devices)
    told = notifications(events)
    assert sorted(n["device_id"] for n in told) == sorted(last), "every device once"
    assert all(epoch(n["at"]) > SILENCE_AT + HOUR for n in told)
    found = incidents(events)
    assert [timeline[0]["scope"] for timeline in found.values()] == [NORTH]
    assert epoch(next(iter(found.values()))[0]["opened_at"]) > SILENCE_AT + HOUR


# -- 2. a vendor's early word --------------------------------------------------------------------------------


def test_our_heartbeats_join_a_vendors_declared_incident_the_step_we_see_them() -> None:
    """The vendor declares a brand x region fault at +3 min and says nothing more until +35 min: our own
    silence (found at about +4 min without the vendor) shows on its incident at once. Calls on the scope in
    the 40 minutes before it began are not its evidence."""
    devices = fleet(quiet=[Quiet(SONIQUE_NORTH, SILENCE_AT, 2 * HOUR)])
    declared = [
        {**status(SILENCE_AT + 3 * 60, "investigating", scope=SONIQUE_NORTH), "vendor": "sonique"},
        {**status(SILENCE_AT + 35 * 60, "identified", scope=SONIQUE_NORTH), "vendor": "sonique"},
    ]
    early = _calls(_owners(devices, SONIQUE_NORTH)[:3], SILENCE_AT - 40 * 60, 10 * 60, SONIQUE_NORTH)
    found = incidents(replay(merged(devices, declared, early)))
    assert len(found) == 1
    (timeline,) = found.values()
    assert timeline[0]["kind"] == "vendor"
    joined = [event for event in timeline if "telemetry" in event.get("evidence_kinds", ())]
    assert joined, "our telemetry shows on the vendor's incident"
    assert joined[0]["reason"] == "evidence-joined"
    assert epoch(joined[0]["at"]) <= SILENCE_AT + 15 * 60, "not when the vendor next speaks (+35 min)"
    assert joined[0]["evidence"]["telemetry"]["heartbeats"] < joined[0]["evidence"]["telemetry"]["expected"]
    assert all(event["evidence"].get("first_contact_at") is None for event in timeline), "calls before it began"


# -- 3. and 4. a silence's own callers --------------------------------------------------------------------------


def test_contacts_before_a_silence_began_are_not_its_evidence() -> None:
    """Installation and login calls from the region's customers in the 47 minutes before the fault: the silence
    opens with no contact evidence, and its first contact is never before it began."""
    devices = fleet(quiet=[Quiet(NORTH, SILENCE_AT, 2 * HOUR)])
    owners = _owners(devices, NORTH)
    early = _calls(owners[:4], SILENCE_AT - 47 * 60, 10 * 60, NORTH)
    for call in early:
        call["text"] = "how do I install the app"
    found = incidents(replay(merged(devices, early)))
    (timeline,) = found.values()
    for event in timeline:
        assert event["evidence"]["customers"] == 0, event
        assert event["evidence"].get("first_contact_at") is None


def test_a_few_calls_from_the_silent_devices_owners_corroborate_the_silence() -> None:
    """Six of the quiet devices' owners call over an hour from +20 min: too few for a rate finding on the region,
    enough against how rarely device owners call. The calls join the incident by the second or third of them,
    with a combined confidence, and the evidence counts exactly those callers, the first at its own time."""
    devices = fleet(quiet=[Quiet(NORTH, SILENCE_AT, 2 * HOUR)])
    calls = _calls(_owners(devices, NORTH)[:6], SILENCE_AT + 20 * 60, 12 * 60, NORTH)
    (timeline,) = incidents(replay(merged(devices, calls))).values()
    assert timeline[0]["kind"] == "silence"
    joined = [event for event in timeline if "contacts" in event.get("evidence_kinds", ())]
    assert joined, "the owners' calls corroborate the silence"
    first = joined[0]
    assert first["reason"] == "evidence-joined"
    assert epoch(first["at"]) <= SILENCE_AT + (20 + 2 * 12 + 2) * 60, "by the third caller"
    assert first["evidence"]["first_contact_at"] == calls[0]["ts"]
    assert 2 <= first["evidence"]["customers"] <= 3
    assert first["confidence"] >= timeline[0]["confidence"]
    assert timeline[-1]["evidence"]["customers"] == 6


def test_calls_from_customers_whose_devices_still_report_do_not_corroborate() -> None:
    devices = fleet(quiet=[Quiet(SONIQUE_NORTH, SILENCE_AT, 2 * HOUR)])
    reporting = sorted(set(_owners(devices, NORTH)) - set(_owners(devices, SONIQUE_NORTH)))
    calls = _calls(reporting[:6], SILENCE_AT + 20 * 60, 12 * 60, NORTH)
    (timeline,) = incidents(replay(merged(devices, calls))).values()
    assert all(event["evidence_kinds"] == ["telemetry"] for event in timeline)
    assert all(event["evidence"]["customers"] == 0 for event in timeline)


# -- 5. the feed ---------------------------------------------------------------------------------------------


def _second_partner(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        | {
            "device_id": "b-" + r["device_id"],
            "customer_id": "b-" + r["customer_id"],
            "source": "partner:homesafe",
        }
        for r in records
    ]


def test_one_partners_feed_going_dark_in_a_region_is_one_incident_on_that_feed() -> None:
    """Two partners relay devices of the same brands in the same regions; one partner's gateway for the North
    fails. That is one silence on that partner in the North, not one per brand."""
    first = fleet(quiet=[Quiet(NORTH, SILENCE_AT, 2 * HOUR)])
    second = _second_partner(fleet(seed=4))
    found = incidents(replay(merged(first, second)))
    assert [timeline[-1]["scope"] for timeline in found.values()] == [{"region": "North", "source": "partner:alarmco"}]


def test_calls_on_a_silences_scope_corroborate_it_at_the_lower_bar() -> None:
    """Half as many calls again as usual on the silent region, from customers we know no device of: far below
    what a rate finding on any cell needs (on its own it opens nothing), but the silence is prior evidence, and
    the scope's own test against its baseline passes the lower bar within the hour."""
    calls_from = SILENCE_AT + DAY + 30 * 60
    contacts = stream(seed=1, faults=[Fault(NORTH, calls_from, 2 * HOUR, 1.5)])
    heartbeats = fleet(days=3.0, quiet=[Quiet(NORTH, SILENCE_AT + DAY, 2.5 * HOUR)])
    assert incidents(replay(contacts)) == {}, "the calls alone are no finding"
    (timeline,) = incidents(replay(merged(contacts, heartbeats))).values()
    joined = [event for event in timeline if event.get("reason") == "evidence-joined"]
    assert joined and joined[0]["evidence_kinds"] == ["contacts", "telemetry"]
    assert calls_from < epoch(joined[0]["at"]) <= calls_from + HOUR
    assert joined[0]["evidence"]["observed"] > joined[0]["evidence"]["expected"]
    assert joined[0]["scope"] == NORTH


def test_a_partner_that_counts_devices_in_standby_shows_no_silence() -> None:
    """A partner that only sends counts says how many of a population are in standby: nine in ten of the
    North's devices for two hours. They are present, not silent."""
    records = summaries()
    for record in records:
        if record["dimensions"]["region"] == "North" and SILENCE_AT <= record["ts"] < SILENCE_AT + 2 * HOUR:
            record["standby"] = round(0.9 * record["devices"])
            record["devices"] -= record["standby"]
    assert incidents(replay(records)) == {}
    without = [{k: v for k, v in record.items() if k != "standby"} for record in records]
    assert incidents(replay(without)), "the same counts without the word standby are a silence"


def test_a_new_device_whose_first_word_is_standby_is_taken_in() -> None:
    """A device never seen before, of a brand and region never seen before, says 'standby' in its very first
    heartbeat: the population counts it, nothing breaks, nothing is reported."""
    newcomer = {
        "type": "heartbeat",
        "device_id": "dev-new",
        "customer_id": "cust-new",
        "ts": SILENCE_AT,
        "source": "partner:alarmco",
        "dimensions": {"device_brand": "Newco", "region": "Atlantis"},
        "status": "standby",
    }
    events = replay(merged(fleet(), [newcomer]))
    assert incidents(events) == {}
    assert notifications(events) == []


def test_a_silence_known_only_by_counts_takes_no_calls_from_before_its_shortfall_began() -> None:
    """A partner's counts of one brand fall; customers call about it half an hour later, enough for a rate
    finding of their own. The contacts that join are those since the counts began to fall (the change point of
    the shortfall), not the brand's everyday calls of the window before."""
    rokit = {"device_brand": "Rokit"}
    quiet_at = SILENCE_AT + DAY
    counts = summaries(quiet=[Quiet(rokit, quiet_at, 2 * HOUR)], days=3.0)
    contacts = stream(seed=1, faults=[Fault(rokit, quiet_at + 30 * 60, 2 * HOUR, 3.0)])
    (timeline,) = incidents(replay(merged(counts, contacts))).values()
    spoken = [event for event in timeline if "contacts" in event.get("evidence_kinds", ())]
    assert spoken, "the calls join the silence"
    for event in spoken:
        assert epoch(event["evidence"]["first_contact_at"]) >= quiet_at - 60.0, event["evidence"]


def test_calls_corroborate_a_vendors_incident_that_our_heartbeats_joined() -> None:
    """The vendor declared it, our heartbeats joined it; then six of the quiet devices' owners call: the calls
    join it at the same lower bar as they join a silence."""
    devices = fleet(quiet=[Quiet(SONIQUE_NORTH, SILENCE_AT, 2 * HOUR)])
    declared = [{**status(SILENCE_AT + 3 * 60, "investigating", scope=SONIQUE_NORTH), "vendor": "sonique"}]
    calls = _calls(_owners(devices, SONIQUE_NORTH)[:6], SILENCE_AT + 20 * 60, 12 * 60, SONIQUE_NORTH)
    (timeline,) = incidents(replay(merged(devices, declared, calls))).values()
    assert timeline[0]["kind"] == "vendor"
    joined = [event for event in timeline if "contacts" in event.get("evidence_kinds", ())]
    assert joined and joined[0]["reason"] == "evidence-joined"
    assert epoch(joined[0]["at"]) <= SILENCE_AT + HOUR
    assert joined[0]["evidence"]["first_contact_at"] == calls[0]["ts"]
