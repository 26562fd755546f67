"""The incident store on a real Redis, fed with real incident events from `correlate replay`.

Also the home of two helpers the other people-facing tests import: :func:`replayed` (a small simulated stream
replayed once per run) and :func:`make_store`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from correlate.api.known import KnownIncidents
from correlate.cli import main
from correlate.contracts import Contact, parse_timestamp, validate
from correlate.events import IncidentEvent
from correlate.notify.delivery import DeliveryTarget
from correlate.store import IncidentStore

SEED = 3


def replayed(base: Path) -> tuple[list[dict[str, Any]], Path]:
    """Incident events and the contacts file of a real run: 4 simulated days, 2 faults, replayed.

    Made once under ``base`` and reused (simulating and replaying takes a few seconds)."""
    folder = base / f"replayed-seed{SEED}"
    events_file = folder / "events.jsonl"
    if not events_file.exists():
        folder.mkdir(parents=True, exist_ok=True)
        contacts = str(folder / "contacts.jsonl")
        argv = ["simulate", "--truth", str(folder / "truth.jsonl"), "--seed", str(SEED), "--days", "4"]
        assert main([*argv, "--per-day", "4000", "--faults", "2", "--output", contacts]) == 0
        partial = folder / "events.partial"
        assert main(["replay", contacts, "-o", str(partial), "--rejects", str(folder / "rejects.jsonl")]) == 0
        partial.rename(events_file)
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert {event["event"] for event in events} == {"opened", "updated", "resolved"}
    return events, folder / "contacts.jsonl"


@pytest.fixture(scope="session")
def events_and_contacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    return replayed(tmp_path_factory.getbasetemp())


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def with_store(url: str, body: Callable[[IncidentStore], Awaitable[Any]], **options: Any) -> Any:
    async def go() -> Any:
        store = IncidentStore.connect(url, **options)
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(go())


def first_incident(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    incident_id = events[0]["incident_id"]
    return [event for event in events if event["incident_id"] == incident_id]


def test_applying_every_event_gives_each_incident_its_last_state(redis_url: str, events_and_contacts: Any) -> None:
    events, _ = events_and_contacts

    async def body(store: IncidentStore) -> Any:
        applied = [await store.apply(IncidentEvent.from_json(event)) for event in events]
        ids = await store.incident_ids()
        return applied, ids, await store.summaries(ids), await store.detail(events[0]["incident_id"])

    applied, ids, summaries, detail = with_store(redis_url, body)
    assert all(applied)
    assert set(ids) == {event["incident_id"] for event in events}
    last = {event["incident_id"]: event for event in events}
    for summary in summaries:
        final = last[summary["incident_id"]]
        assert summary["status"] == "resolved"
        assert summary["scope"] == final["scope"]
        assert summary["resolved_at"] == final["at"]
    mine = first_incident(events)
    assert [entry["event"] for entry in detail["timeline"]] == [event["event"] for event in mine]
    assert [entry["customers"] for entry in detail["timeline"]] == [e["evidence"]["customers"] for e in mine]


def test_the_same_event_twice_and_out_of_order_changes_nothing(redis_url: str, events_and_contacts: Any) -> None:
    mine = first_incident(events_and_contacts[0])

    async def body(store: IncidentStore) -> Any:
        for event in mine:
            await store.apply(IncidentEvent.from_json(event))
        once = await store.detail(mine[0]["incident_id"])
        again = [await store.apply(IncidentEvent.from_json(event)) for event in reversed(mine)]
        return once, again, await store.detail(mine[0]["incident_id"])

    once, again, twice = with_store(redis_url, body)
    assert again == [False] * len(mine)
    assert twice == once


def test_the_banner_index_finds_open_incidents_by_their_scope(redis_url: str, events_and_contacts: Any) -> None:
    mine = first_incident(events_and_contacts[0])
    opened = mine[0]
    scope = opened["scope"]  # {"device_brand": "Pixelle"} in this run
    assert scope == {"device_brand": "Pixelle"}

    async def body(store: IncidentStore) -> Any:
        known = KnownIncidents(store, max_age=0).find
        await store.apply(IncidentEvent.from_json(opened))
        found = {
            "exact": await known(scope),
            "with more detail": await known({**scope, "service": "StreamPlus", "region": "West"}),
            "other spelling": await known({"device_brand": "pixelle "}),
            "other brand": await known({"device_brand": "Arcus", "service": "StreamPlus"}),
            "service only": await known({"service": "StreamPlus"}),
        }
        await store.apply(IncidentEvent.from_json(mine[-1]))  # resolved
        found["after resolving"] = await known(scope)
        return found

    found = with_store(redis_url, body)
    ids = {name: [known.event.incident_id for known in hits] for name, hits in found.items()}
    assert ids == {
        "exact": [opened["incident_id"]],
        "with more detail": [opened["incident_id"]],
        "other spelling": [opened["incident_id"]],
        "other brand": [],
        "service only": [],
        "after resolving": [],
    }


def test_a_narrowed_scope_moves_the_incident_in_the_index(redis_url: str, events_and_contacts: Any) -> None:
    opened = first_incident(events_and_contacts[0])[0]
    assert opened["scope"] == {"device_brand": "Pixelle"}
    # The engine narrows a brand's incident to one model when that model holds the excess (test_incidents.py).
    narrowed = {**opened, "event": "updated", "scope": {"device_model": "Pixelle Max32"}}

    async def body(store: IncidentStore) -> Any:
        known = KnownIncidents(store, max_age=0).find
        for event in (opened, narrowed):
            await store.apply(IncidentEvent.from_json(event))
        return (
            await known({"device_brand": "Pixelle", "device_model": "Pixelle Lite"}),
            await known({"device_brand": "Pixelle", "device_model": "Pixelle Max32"}),
        )

    other_model, same_model = with_store(redis_url, body)
    assert other_model == []
    assert [known.event.incident_id for known in same_model] == [narrowed["incident_id"]]


def test_resolving_notifies_each_attached_customer_once(redis_url: str, events_and_contacts: Any) -> None:
    mine = first_incident(events_and_contacts[0])

    async def body(store: IncidentStore) -> Any:
        for event in mine[:-1]:
            await store.apply(IncidentEvent.from_json(event))
        incident_id = mine[0]["incident_id"]
        await store.attach(incident_id, "agent", customer_id="cu-1")
        await store.attach(incident_id, "agent", customer_id="cu-2")
        _, added_again = await store.attach(incident_id, "agent", customer_id="cu-1")
        await store.apply(IncidentEvent.from_json(mine[-1]))
        await store.apply(IncidentEvent.from_json(mine[-1]))  # redelivered
        pending = await store.pending_notifications()
        detail = await store.detail(incident_id)
        return added_again, pending, detail

    added_again, pending, detail = with_store(redis_url, body)
    assert added_again is False
    assert sorted(json.loads(text)["customer_id"] for text in pending.values()) == ["cu-1", "cu-2"]
    assert [notice["customer_id"] for notice in detail["notifications"]] == ["cu-1", "cu-2"]
    assert all(notice["event"] == "customer-notification" for notice in detail["notifications"])
    assert {notice["at"] for notice in detail["notifications"]} == {mine[-1]["at"]}


def test_a_resolved_incident_takes_no_more_follow_ups(redis_url: str, events_and_contacts: Any) -> None:
    from correlate.errors import NotFound, StateConflict

    mine = first_incident(events_and_contacts[0])

    async def body(store: IncidentStore) -> Any:
        for event in mine:
            await store.apply(IncidentEvent.from_json(event))
        with pytest.raises(StateConflict, match="is resolved"):
            await store.attach(mine[0]["incident_id"], "agent", customer_id="cu-9")
        with pytest.raises(NotFound, match="not found"):
            await store.attach("inc-nope", "agent", customer_id="cu-9")

    with_store(redis_url, body)


def test_contacts_are_known_by_source_and_id_together(redis_url: str, events_and_contacts: Any) -> None:
    """A source with ':' in it and an id with ':' in it do not run together: ("a:b", "c") is not ("a", "b:c"),
    and each names its own customer; a resolve notifies each with the contact it was attached by."""
    mine = first_incident(events_and_contacts[0])
    incident_id = mine[0]["incident_id"]
    pairs = [("a:b", "c", "cu-1"), ("a", "b:c", "cu-2"), ("partner:acme", "42", "cu-3"), ("centre", "42", "cu-4")]

    async def body(store: IncidentStore) -> Any:
        await store.apply(IncidentEvent.from_json(mine[0]))
        for source, contact_id, customer in pairs:
            contact = validate(
                {
                    "contact_id": contact_id,
                    "ts": mine[0]["at"],
                    "channel": "chat",
                    "customer_id": customer,
                    "source": source,
                }
            )
            assert isinstance(contact, Contact)
            await store.add_contact(contact)
        attached = [
            (await store.attach(incident_id, "ana", contact_id=contact_id, source=source))[0]["customer_id"]
            for source, contact_id, _ in pairs
        ]
        await store.apply(IncidentEvent.from_json(mine[-1]))
        detail = await store.detail(incident_id)
        return attached, detail

    attached, detail = with_store(redis_url, body)
    assert attached == [customer for _, _, customer in pairs]
    assert {(n["customer_id"], n["source"], n["contact_id"]) for n in detail["notifications"]} == {
        (customer, source, contact_id) for source, contact_id, customer in pairs
    }


def test_a_customer_journey_spans_channels_newest_first(redis_url: str, events_and_contacts: Any) -> None:
    _, contacts_file = events_and_contacts
    records = [json.loads(line) for line in contacts_file.read_text().splitlines()[:3000]]
    contacts = [c for c in (validate(r) for r in records) if isinstance(c, Contact)]
    by_customer: dict[str, list[Contact]] = {}
    for contact in contacts:
        by_customer.setdefault(contact.customer_id, []).append(contact)
    customer, theirs = max(by_customer.items(), key=lambda item: len({c.channel for c in item[1]}))
    assert len({c.channel for c in theirs}) >= 2

    async def body(store: IncidentStore) -> Any:
        for contact in contacts:
            await store.add_contact(contact)
        for contact in theirs:  # redelivered
            await store.add_contact(contact)
        return await store.journey(customer)

    journey = with_store(redis_url, body)
    assert [step["contact_id"] for step in journey] == [c.contact_id for c in sorted(theirs, key=lambda c: -c.ts)]
    assert [step["channel"] for step in journey] == [c.channel for c in sorted(theirs, key=lambda c: -c.ts)]
    assert parse_timestamp(journey[0]["ts"]) == max(c.ts for c in theirs)


def test_new_events_queue_one_webhook_per_vendor_with_a_webhook(redis_url: str, events_and_contacts: Any) -> None:
    mine = first_incident(events_and_contacts[0])
    targets = {
        "pixelle": DeliveryTarget("pixelle", webhook="http://127.0.0.1:9/hook", secret="whsec_" + "c2VjcmV0" * 4)
    }

    async def body(store: IncidentStore) -> Any:
        for event in mine:
            await store.apply(IncidentEvent.from_json(event))
            await store.apply(IncidentEvent.from_json(event))
        return await store.due_webhooks(now=float("inf"), limit=1000)

    due = with_store(redis_url, body, targets=targets, clock=lambda: 1000.0)
    assert len(due) == len(mine)
    assert all(ref.startswith("pixelle|msg_") for ref in due)


def test_the_banner_copy_is_at_most_max_age_behind_unless_invalidated(redis_url: str, events_and_contacts: Any) -> None:
    mine = first_incident(events_and_contacts[0])
    now = [100.0]

    async def body(store: IncidentStore) -> Any:
        known = KnownIncidents(store, max_age=0.25, clock=lambda: now[0])
        seen = [len(await known.find({"device_brand": "Pixelle"}))]  # first lookup loads: nothing open
        await store.apply(IncidentEvent.from_json(mine[0]))
        seen.append(len(await known.find({"device_brand": "Pixelle"})))  # within max_age: the old copy
        now[0] += 0.3
        seen.append(len(await known.find({"device_brand": "Pixelle"})))  # checked again: the new incident
        await store.attach(mine[0]["incident_id"], "ana", customer_id="cu-1")
        known.invalidate()  # this process made the change: the next lookup checks at once
        on_list = (await known.find({"device_brand": "Pixelle"}, customer_id="cu-1"))[0].on_follow_up
        return seen, on_list

    seen, on_list = with_store(redis_url, body)
    assert seen == [0, 0, 1]
    assert on_list is True
