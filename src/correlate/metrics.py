"""The metric contract: what the NOC sees of a worker or the API in Prometheus, and nothing with unbounded labels.

Dashboards (``grafana/``) and alert rules (``deploy/prometheus/alerts.yml``) are written against the names
declared here, and tests hold them to it: a metric renamed here fails the dashboard test, not a NOC screen.

:class:`Metrics` takes plain values (a contact, a rejection, events, numbers) so the core never imports
prometheus-client; :mod:`correlate.streams.monitor` reads an :class:`~correlate.engine.Engine` and feeds it. Each
instance owns its own registry: no global state, so two engines (or two tests) in one process never share
counts.

Every label is bounded:

- ``source``: ``own`` or the partner's id, and at most ``max_partners`` partner ids (then ``other``);
- ``kind``: a telemetry record's ``type`` (``heartbeat``, ``heartbeat-summary``, ``vendor-status``), or an
  incident's kind;
- ``reason``: a contract field name, ``late``, ``json``, ``record`` or ``crash`` (see :func:`reject_reason`);
- ``stage``: a pipeline stage (``validate``, ``detect``);
- ``vendor``: vendors named by the registry, joined with ``+`` when several share the fault;
- ``scope``: only the ``max_anomalous`` most significant anomalous cells, removed when they calm down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

from correlate.contracts import KNOWN_FIELDS, Contact, Rejection
from correlate.events import Event, EventName, IncidentEvent

__all__ = [
    "DETECT_STARTS",
    "INCIDENT_EVENTS",
    "LATENCY_BUCKETS",
    "NOTIFICATIONS_TOPIC",
    "NO_VENDOR",
    "OTHER",
    "OWN",
    "REJECT_REASONS",
    "STAGES",
    "TOPIC_KINDS",
    "VENDOR_TOPIC_PREFIX",
    "WEBHOOK_OUTCOMES",
    "CellValues",
    "Metrics",
    "MetricsServer",
    "reject_reason",
    "topic_kind",
    "window_label",
]

OWN: Final = "own"
OTHER: Final = "other"
NO_VENDOR: Final = "none"
INCIDENT_EVENTS: Final = tuple(name.value for name in EventName)
TOPIC_KINDS: Final = ("incidents", "vendor", "notifications")
WEBHOOK_OUTCOMES: Final = ("delivered", "failed", "retried")
VENDOR_TOPIC_PREFIX: Final = "incidents.vendor."
DETECT_STARTS: Final = ("checkpoint", "scratch")
NOTIFICATIONS_TOPIC: Final = "notifications"
# Detection latency runs from a step's length (seconds) to a stuck producer (tens of seconds).
LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
# ``crash``: a record that made a pipeline stage raise twice, dead-lettered and skipped (correlate.streams.poison).
REJECT_REASONS: Final = tuple(sorted({*KNOWN_FIELDS, "late", "json", "record", "crash", OTHER}))
STAGES: Final = ("validate", "detect")


def reject_reason(rejection: Rejection) -> str:
    """The bounded ``reason`` label of a rejection: the field at fault, never free text.

    ``dimensions.<name>`` becomes ``dimensions`` (the name is the sender's, unbounded); a contact for a step
    already scored becomes ``late`` rather than ``ts``, because late arrivals point at the pipeline while a bad
    ``ts`` points at the sender.
    """
    field = rejection.field.split(".", 1)[0]
    if not field:
        return "record"
    if field == "ts" and rejection.reason.startswith("late:"):
        return "late"
    return field if field in REJECT_REASONS else OTHER


def window_label(seconds: float) -> str:
    """A window length as a label value: 900 -> ``15m``."""
    return f"{seconds / 60:g}m"


def topic_kind(topic: str) -> str:
    """``incidents``, ``vendor`` (``incidents.vendor.<id>``) or ``notifications``: the label never carries the
    vendor's topic."""
    if topic.startswith(VENDOR_TOPIC_PREFIX):
        return "vendor"
    return "notifications" if topic == NOTIFICATIONS_TOPIC else "incidents"


@dataclass(frozen=True)
class CellValues:
    """Distinct reporters counted in one cell and window, and how many were expected there."""

    scope: str
    window: float
    observed: float
    expected: float


class MetricsServer:
    """An HTTP exporter serving one registry; ``port`` is the bound port (useful when asked for port 0)."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port: int = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Metrics:
    """Every metric a correlate process exposes, in a registry of its own.

    ``clock`` gives wall time (``time.time`` unless a test passes its own): it stamps the last contact taken in
    and measures detection latency. Nothing else here reads the clock.
    """

    def __init__(
        self,
        *,
        max_anomalous: int = 20,
        max_partners: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_anomalous = max_anomalous
        self.max_partners = max_partners
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.series_names: set[str] = set()
        self._partners: set[str] = set()
        self._open: dict[str, tuple[str, str]] = {}  # incident_id -> (kind, vendor label)
        self._paging: dict[str, tuple[str, ...]] = {}  # incident_id -> its correlate_incident_paging labels
        self._anomalous: set[tuple[str, str]] = set()  # (scope, window) series now exposed
        self._declare()

    # -- declaration ---------------------------------------------------------------------------------------
    def _declare(self) -> None:
        counter, gauge = self._counter, self._gauge
        self.contacts = counter(
            "correlate_contacts_total", "Contacts taken in, by channel and source.", "channel", "source"
        )
        self.telemetry = counter(
            "correlate_telemetry_total",
            "Telemetry and status records taken in, by type (heartbeat, heartbeat-summary, vendor-status) and source.",
            "kind",
            "source",
        )
        self.rejects = counter("correlate_rejects_total", "Records rejected, by the field at fault.", "reason")
        self.duplicates = counter(
            "correlate_duplicates_total", "Records dropped as repeats (a contact_id or a summary_id seen before)."
        )
        self.incidents_open = gauge(
            "correlate_incidents_open", "Incidents open now, by kind and vendor at fault.", "kind", "vendor"
        )
        self.incident_paging = gauge(
            "correlate_incident_paging",
            "1 for each open incident that should page: not acknowledged, not in maintenance or a dismissed scope.",
            "incident_id",
            "number",
            "severity",
            "kind",
            "vendor",
            "summary",
        )
        self.incident_events = counter(
            "correlate_incident_events_total", "Incident events released, by event.", "event"
        )
        self.published = counter(
            "correlate_incident_events_published_total",
            "Incident events (and customer notifications) written to Kafka, by topic kind.",
            "topic_kind",
        )
        self.latency = Histogram(
            "correlate_detection_latency_seconds",
            "Wall time from the arrival of the contact that tipped an event to the event's publication.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.series_names |= {f"correlate_detection_latency_seconds_{s}" for s in ("bucket", "sum", "count")}
        self.webhooks = counter(
            "correlate_webhook_deliveries_total", "Vendor webhook deliveries, by outcome.", "vendor", "outcome"
        )
        self.consumer_lag = gauge(
            "correlate_consumer_lag_records", "Records behind the end of each input topic.", "topic"
        )
        self.event_time = gauge("correlate_event_time_seconds", "The detector's watermark (event time, epoch seconds).")
        self.last_contact = gauge(
            "correlate_last_contact_timestamp_seconds", "Wall time at which the last contact was taken in."
        )
        self.leader = gauge(
            "correlate_detector_leader", "1 while this process runs the detect stage (one leader; the others stand by)."
        )
        self.detect_starts = counter(
            "correlate_detect_starts_total",
            "Detect leaders started, by what they started from: a checkpoint, or from scratch (none usable).",
            "start",
        )
        self.checkpoint_time = gauge(
            "correlate_checkpoint_timestamp_seconds", "Wall time at which this leader last stored its checkpoint."
        )
        self.checkpoint_bytes = gauge("correlate_checkpoint_bytes", "Size of the detect leader's last checkpoint.")
        self.stage_restarts = counter(
            "correlate_stage_restarts_total", "Pipeline stages restarted after an error, by stage.", "stage"
        )
        self.stage_stuck = gauge(
            "correlate_stage_stuck",
            "1 while a stage is stuck: restarting without handling a record, or taking nothing in while records wait.",
            "stage",
        )
        self.resident_memory = gauge(
            "correlate_resident_memory_bytes", "Resident memory of the process running a stage.", "stage"
        )
        self.memory_budget = gauge(
            "correlate_memory_budget_bytes", "The memory budget of that process (setting memory_budget).", "stage"
        )
        help_cell = "distinct reporters in the window, for the most significant anomalous cells"
        self.cell_observed = gauge("correlate_anomalous_cell_observed", f"Observed {help_cell}.", "scope", "window")
        self.cell_expected = gauge(
            "correlate_anomalous_cell_expected",
            f"Expected {help_cell} (the baseline the test used, lifted with the whole centre).",
            "scope",
            "window",
        )
        self.centre_observed = gauge(
            "correlate_observed_contacts", "Distinct reporters in the window, whole centre.", "window"
        )
        self.centre_expected = gauge(
            "correlate_expected_contacts", "Distinct reporters the seasonal baseline expects in the window.", "window"
        )
        # Known label values start at zero, so rate() and alerts see a series before the first increment.
        for reason in REJECT_REASONS:
            self.rejects.labels(reason)
        for event in INCIDENT_EVENTS:
            self.incident_events.labels(event)
        for kind in TOPIC_KINDS:
            self.published.labels(kind)
        for stage in STAGES:
            self.stage_restarts.labels(stage)
        for start in DETECT_STARTS:
            self.detect_starts.labels(start)

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        self.series_names.add(name)
        return Counter(name, documentation, labels, registry=self.registry)

    def _gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        self.series_names.add(name)
        return Gauge(name, documentation, labels, registry=self.registry)

    # -- input ---------------------------------------------------------------------------------------------
    def observe_outcome(
        self, contact: Contact | None, rejection: Rejection | None, events: Iterable[Event] = ()
    ) -> None:
        """One record's fate: taken in (``contact``, no rejection) or rejected; and the events it released."""
        if rejection is not None:
            self.rejects.labels(reject_reason(rejection)).inc()
        elif contact is not None:
            self.contacts.labels(contact.channel, self._source_label(contact.source)).inc()
            self.last_contact.set(self.clock())
        self.observe_events(events)

    def observe_telemetry(self, kind: str, source: str) -> None:
        """One telemetry or status record taken in: its ``type`` and its sender (``source`` as a contact's)."""
        self.telemetry.labels(kind, self._source_label(source)).inc()

    def observe_undecodable(self) -> None:
        """A record that is not JSON at all (the worker could not decode it)."""
        self.rejects.labels("json").inc()

    def observe_quarantined(self) -> None:
        """A record set aside because it crashed a stage twice (dead-lettered, reason ``crash``)."""
        self.rejects.labels("crash").inc()

    def observe_duplicate(self) -> None:
        self.duplicates.inc()

    def _source_label(self, source: str) -> str:
        if not source.startswith("partner:"):
            return OWN
        partner = source[len("partner:") :].strip()
        if partner not in self._partners:
            if len(self._partners) >= self.max_partners:
                return OTHER
            self._partners.add(partner)
        return partner

    # -- incidents -----------------------------------------------------------------------------------------
    def observe_events(self, events: Iterable[Event]) -> None:
        """Count incident events and keep the open-incident gauge: opened/updated set, resolved clears."""
        changed = False
        for event in events:
            if not isinstance(event, IncidentEvent):
                continue  # a customer-notification (a device gone quiet) is no incident's lifecycle
            self.incident_events.labels(event.event.value).inc()
            incident_id = event.incident_id
            self._page(event)
            if event.resolved:
                changed |= self._open.pop(incident_id, None) is not None
            else:
                at_fault = sorted(event.vendors.at_fault)
                self._open[incident_id] = (event.kind.value, "+".join(at_fault) or NO_VENDOR)
                changed = True
        if changed:
            self._refresh_open()

    def _page(self, event: IncidentEvent) -> None:
        """One series per incident that should page, at its severity: gone once it is closed, acknowledged or
        suppressed, so that its alert resolves (a new severity is a new series, and pages again)."""
        before = self._paging.pop(event.incident_id, None)
        pages = not event.resolved and event.acknowledged is None and event.suppressed is None
        labels = None
        if pages and event.severity is not None:
            vendor = "+".join(sorted(event.vendors.at_fault)) or NO_VENDOR
            number = event.number or event.incident_id
            labels = (event.incident_id, number, event.severity.value, event.kind.value, vendor, event.summary)
            self._paging[event.incident_id] = labels
        if before is not None and before != labels:
            self.incident_paging.remove(*before)
        if labels is not None:
            self.incident_paging.labels(*labels).set(1)

    def _refresh_open(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for key in self._open.values():
            counts[key] = counts.get(key, 0) + 1
        for labels in _children(self.incidents_open):
            if labels not in counts:
                self.incidents_open.remove(*labels)
        for (kind, vendor), count in counts.items():
            self.incidents_open.labels(kind, vendor).set(count)

    def observe_published(self, topic: str) -> None:
        """One event written to ``topic`` (``incidents``, ``incidents.vendor.<id>`` or ``notifications``)."""
        self.published.labels(topic_kind(topic)).inc()

    def observe_detection_latency(self, arrived_at: float) -> None:
        """An event published now, tipped by a contact that arrived at wall time ``arrived_at``."""
        self.latency.observe(max(0.0, self.clock() - arrived_at))

    def observe_webhook(self, vendor: str, outcome: str) -> None:
        if outcome not in WEBHOOK_OUTCOMES:
            raise ValueError(f"webhook outcome {outcome!r} is not one of {', '.join(WEBHOOK_OUTCOMES)}")
        self.webhooks.labels(vendor, outcome).inc()

    # -- pipeline state ------------------------------------------------------------------------------------
    def set_consumer_lag(self, topic: str, records: float) -> None:
        self.consumer_lag.labels(topic).set(records)

    def set_event_time(self, watermark: float) -> None:
        self.event_time.set(watermark)

    def observe_detect_start(self, start: str) -> None:
        """A leader began: from a ``checkpoint``, or from ``scratch`` (the start of ``contacts.accepted``)."""
        self.detect_starts.labels(start).inc()

    def observe_checkpoint(self, size: int, at: float) -> None:
        self.checkpoint_bytes.set(size)
        self.checkpoint_time.set(at)

    def observe_stage_restart(self, stage: str) -> None:
        self.stage_restarts.labels(stage).inc()

    def set_stage_health(self, stage: str, stuck: bool, resident_bytes: int, budget_bytes: int) -> None:
        """A stage's latest health report (see :mod:`correlate.streams.health`)."""
        self.stage_stuck.labels(stage).set(1 if stuck else 0)
        self.resident_memory.labels(stage).set(resident_bytes)
        self.memory_budget.labels(stage).set(budget_bytes)

    def set_leader(self, leading: bool) -> None:
        """Whether this process runs the detect stage. A worker that loses the lease stops exposing what its
        engine held (open incidents, anomalous cells, the centre): the new leader's figures are the true ones."""
        self.leader.set(1 if leading else 0)
        if not leading:
            self._open.clear()
            self._refresh_open()
            self._paging.clear()
            self.incident_paging.clear()
            self.set_anomalous([])
            self.centre_observed.clear()
            self.centre_expected.clear()

    # -- observed against expected -------------------------------------------------------------------------
    def set_anomalous(self, cells: Sequence[CellValues]) -> None:
        """The anomalous cells now, most significant first: the first ``max_anomalous`` scopes are exposed,
        every window of each; series of cells no longer listed are removed (the cell is calm again)."""
        kept_scopes: list[str] = []
        fresh: set[tuple[str, str]] = set()
        for cell in cells:
            if cell.scope not in kept_scopes:
                if len(kept_scopes) >= self.max_anomalous:
                    continue
                kept_scopes.append(cell.scope)
            labels = (cell.scope, window_label(cell.window))
            self.cell_observed.labels(*labels).set(cell.observed)
            self.cell_expected.labels(*labels).set(cell.expected)
            fresh.add(labels)
        for labels in self._anomalous - fresh:
            self.cell_observed.remove(*labels)
            self.cell_expected.remove(*labels)
        self._anomalous = fresh

    def set_centre(self, window: float, observed: float, expected: float) -> None:
        """The whole centre (the root cell) in one window: reporters counted and what the baseline expects."""
        self.centre_observed.labels(window_label(window)).set(observed)
        self.centre_expected.labels(window_label(window)).set(expected)

    # -- exposition ----------------------------------------------------------------------------------------
    def expose(self) -> bytes:
        """The Prometheus text exposition of this registry, as a scrape would see it."""
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve ``/metrics`` on ``host:port`` in a background thread. Loopback unless a host is given: a
        container that Prometheus scrapes from another host must say ``0.0.0.0`` explicitly."""
        return MetricsServer(self.registry, port, host)


def _children(metric: Gauge) -> list[tuple[str, ...]]:
    """Label values of the series a labelled metric holds now."""
    return [tuple(sample.labels.values()) for family in metric.collect() for sample in family.samples]
