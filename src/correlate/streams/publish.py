"""Publishing incident events: vendor copies first, then ``incidents``; never the same event twice on takeover.
A ``customer-notification`` (a monitored device gone quiet: no incident's event, no ``incident_id``) goes to
``notifications`` instead, keyed by the customer, as the line replay writes.

Every record carries CloudEvents 1.0 attributes in its headers (:mod:`correlate.cloudevents`); the value is the
event's JSON.

Order matters for a crash in between: the ``incidents`` topic is the record of what was published, and a new
leader re-publishes everything that is not there. Writing the vendor copies first means a crash can only
cause a vendor to see an event twice, never miss one.

:class:`PublishedLog` is that record as the new leader reads it back: the last ``(at, event)`` mark per
incident. The rebuilt engine releases the same events again (it is deterministic, and incident ids are a hash
of scope and opening time), and every event at or before the mark is held back. Notifications are marked by
their time, and the devices notified at the last one (a crash may fall between two of one step).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import orjson

from correlate.cloudevents import event_headers, notification_headers
from correlate.contracts import parse_timestamp
from correlate.errors import ContractError
from correlate.events import RANK, CustomerNotification, Event, IncidentEvent
from correlate.metrics import Metrics
from correlate.topics import INCIDENTS, NOTIFICATIONS, vendor_spec
from correlate.vendor_view import vendor_event
from correlate.vendors import vendor_slug

__all__ = ["Mark", "PublishedLog", "Publisher", "mark", "vendors_of"]

Mark = tuple[float, int]


def mark(event: IncidentEvent) -> Mark:
    """Where an event sits in its incident's life: event time, then opened < updated < resolved."""
    return parse_timestamp(event.at), RANK[event.event]


def vendors_of(event: IncidentEvent) -> list[str]:
    """The vendor ids whose topic gets this event: at fault or affected, each once, as topic-safe slugs."""
    return sorted({vendor_slug(v) for v in event.vendors.involved()})


class PublishedLog:
    """The last published mark of every incident (and of the device notifications), to publish each event
    once across leaders."""

    def __init__(self) -> None:
        self.last: dict[str, Mark] = {}
        self.notified_at = float("-inf")  # the time of the last device notification published
        self.notified: set[str] = set()  # the devices notified at that time

    def note(self, event: Event) -> None:
        if isinstance(event, CustomerNotification):
            at = parse_timestamp(event.at)
            if at > self.notified_at:
                self.notified_at, self.notified = at, set()
            if at == self.notified_at:
                self.notified.add(event.device_id)
            return
        here = mark(event)
        if here > self.last.get(event.incident_id, (float("-inf"), -1)):
            self.last[event.incident_id] = here

    def is_new(self, event: Event) -> bool:
        if isinstance(event, CustomerNotification):
            at = parse_timestamp(event.at)
            return at > self.notified_at or (at == self.notified_at and event.device_id not in self.notified)
        return mark(event) > self.last.get(event.incident_id, (float("-inf"), -1))

    def note_notifications(self, values: Iterable[bytes]) -> None:
        """What the ``notifications`` topic holds: device notifications are noted, the rest (the notifier's
        notices to an incident's follow-up customers, which name their incident) is not ours."""
        for value in values:
            try:
                self.note(CustomerNotification.from_json(orjson.loads(value)))
            except (ValueError, ContractError):  # orjson.JSONDecodeError is a ValueError
                continue

    @classmethod
    def from_values(cls, values: Iterable[bytes]) -> PublishedLog:
        """Rebuilt from the values on the ``incidents`` topic (undecodable values are skipped: not ours)."""
        log = cls()
        for value in values:
            try:
                log.note(IncidentEvent.from_json(orjson.loads(value)))
            except (ValueError, ContractError):  # orjson.JSONDecodeError is a ValueError
                continue
        return log


class Publisher:
    """Writes events to the vendor topics and ``incidents``; creates a vendor's topic the first time."""

    def __init__(
        self,
        producer: Any,
        bootstrap: str,
        prefix: str,
        metrics: Metrics,
        log: PublishedLog,
        without_topic: frozenset[str] = frozenset(),
    ) -> None:
        """``without_topic``: vendors whose delivery says ``topic = false`` (a webhook only, say)."""
        self.producer = producer
        self.without_topic = without_topic
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.metrics = metrics
        self.log = log
        self._known_topics: set[str] = set()

    async def publish(self, events: Iterable[Event], arrived_at: float | None = None) -> int:
        """Publish the events not yet published; ``arrived_at`` (wall time the tipping contact was produced)
        feeds the detection-latency histogram. Returns how many were published."""
        count = 0
        for event in events:
            if not self.log.is_new(event):
                continue
            value = orjson.dumps(event.to_json())
            if isinstance(event, CustomerNotification):
                key = event.customer_id.encode() if event.customer_id else None
                headers = notification_headers(event, self.prefix)
                await self.producer.send_and_wait(self.prefix + NOTIFICATIONS, value, key=key, headers=headers)
                self.metrics.observe_published(NOTIFICATIONS)
                self.log.note(event)
                count += 1
                continue
            key = event.incident_id.encode()
            headers = event_headers(event, self.prefix)  # CloudEvents attributes; the value stays the event's JSON
            vendor_value = orjson.dumps(vendor_event(event.to_json()))  # what its webhook carries, no more
            # A suppressed event (maintenance, a dismissed scope) is recorded on ``incidents``, not sent to vendors.
            for vendor in vendors_of(event) if event.suppressed is None else ():
                if vendor in self.without_topic:
                    continue
                topic = await self._vendor_topic(vendor)
                await self.producer.send_and_wait(topic, vendor_value, key=key, headers=headers)
                self.metrics.observe_published(topic.removeprefix(self.prefix))
            await self.producer.send_and_wait(self.prefix + INCIDENTS, value, key=key, headers=headers)
            self.metrics.observe_published(INCIDENTS)
            self.log.note(event)
            if arrived_at is not None:
                self.metrics.observe_detection_latency(arrived_at)
            count += 1
        return count

    async def _vendor_topic(self, vendor: str) -> str:
        spec = vendor_spec(vendor, self.prefix)
        if spec.name not in self._known_topics:
            from correlate.streams.kafka_io import ensure_topics

            await asyncio.to_thread(ensure_topics, self.bootstrap, [spec])
            self._known_topics.add(spec.name)
        return spec.name
