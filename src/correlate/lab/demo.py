"""``correlate demo``: the main job on the embedded default, start to finish, as each of its users sees it.

Simulates a week of contacts with injected faults and decoys and stops the stream shortly after the last rate
fault ends, while its incident is still open. Starts the local stack (``correlate up``: a Tansu broker, Redis,
a worker and the API, all on loopback) with every vendor's webhook pointed at a receiver of its own on
127.0.0.1, produces the contacts, and waits until the detector has read them all. Then it shows:

* the incidents, each in words, and which injected fault it found, or that it is a false one;
* their scores against the simulator's truth, each column explained;
* the agent's view: the banner the API gives for a customer of the open incident who calls now;
* a vendor's view: the event on its Kafka topic and the signed webhook it received;
* the NOC's view: the alerts that ``deploy/prometheus/alerts.yml`` fires on the worker's metrics.

``--keep`` leaves the stack up (with the console's address and tokens) until Ctrl-C. The files go to a
temporary folder removed at the end, unless ``--workdir`` names one to keep. ``--no-servers`` runs the same
core through ``correlate replay`` instead: the same incidents, without the views that need the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import orjson

from correlate import progress
from correlate.api.access import Claims, keys_path, load_keys, mint
from correlate.config import load_config
from correlate.contracts import Contact, format_time, parse_timestamp, validate
from correlate.engine import Engine
from correlate.events import Event, IncidentEvent, Kind, from_json
from correlate.extras import require
from correlate.lab.evaluate import COLUMNS, Fault, Report, evaluate, overlaps
from correlate.lab.simulate import simulate
from correlate.notify.delivery import sign
from correlate.replay import run_replay
from correlate.scope import make_scope
from correlate.streams.embedded import LOOPBACK
from correlate.streams.procs import stop
from correlate.vendors import vendor_slug

__all__ = ["Stream", "Views", "add_parser", "run"]

_START = parse_timestamp("2026-03-02T00:00:00Z")  # a Monday
_STACK_START_LIMIT = 180.0  # seconds: only stops a demo whose stack never comes up
_QUIET = 3.0  # seconds without progress after which the detector is taken to have read everything
# Seconds to wait for the API or a webhook to show what the stack published: the API's feed reads every contact
# (for the agents' journeys) and runs well behind the detector on a busy machine.
_SHOW_LIMIT = 180.0
_AFTER_THE_FAULT = 15 * 60.0  # the stream stops this long after the last rate fault ends: its incident is open
# The NOC rule the demo evaluates on the worker's metrics; tests/test_demo.py holds it to alerts.yml.
OPEN_INCIDENT_ALERT: Final = "CorrelateIncident"
OPEN_INCIDENT_EXPR: Final = (
    "max by (incident_id, number, severity, kind, vendor, summary) (correlate_incident_paging) > 0"
)
_ALERT_LABELS: Final = ("incident_id", "number", "severity", "kind", "vendor")


@dataclass(frozen=True)
class Stream:
    """The simulated stream as the demo plays it: cut at ``end``, with the truth of what happened before."""

    contacts: list[dict[str, Any]]
    truth: list[dict[str, Any]]
    end: float
    last_fault: dict[str, Any] | None


@dataclass
class Views:
    """What each user of the stack sees at the end of the stream (None: nothing to show)."""

    api: str
    console_tokens: dict[str, str] = field(default_factory=dict)
    banner: tuple[str, str, str] | None = None  # customer, what they own, the banner text
    vendor: str | None = None
    vendor_event: IncidentEvent | None = None
    webhook: tuple[dict[str, str], dict[str, Any], bool] | None = None  # headers, body, signature good
    alerts: list[str] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    if not args.no_servers:  # checked before the simulation: `correlate up` would fail only after it
        require("demo", "local", "kafka", "store", "api")
    keep_files = bool(args.workdir)
    folder = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="correlate-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _run(args, folder)
    finally:
        if keep_files:
            print(f"\nfiles: {folder}  (contacts, truth, incidents; replay them with `correlate replay`)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            print("\nfiles: removed (give --workdir DIR to keep the contacts, truth and incidents)")


def _run(args: argparse.Namespace, folder: Path) -> int:
    contacts, truth, incidents = folder / "contacts.jsonl", folder / "truth.jsonl", folder / "incidents.jsonl"
    stream = _simulate(args)
    contacts.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in stream.contacts))
    truth.write_bytes(b"".join(orjson.dumps(fault) + b"\n" for fault in stream.truth))
    views: Views | None = None
    if args.no_servers:
        config = load_config(args.config)
        summary = run_replay(
            Engine(config.settings, config.vendors), str(contacts), str(incidents), str(folder / "rejects.jsonl")
        )
        print(summary.line(), file=sys.stderr)
        events = _read_events(incidents.read_bytes())
        _report(stream, events, views)
    else:
        valid = sum(isinstance(validate(record), Contact) for record in stream.contacts)
        with _WebhookReceiver() as receiver, _stack(folder, stream, receiver, args.config) as stack:
            stack.feed(contacts, valid)
            incidents.write_bytes(stack.published())
            events = _read_events(incidents.read_bytes())
            views = stack.views(events, stream, receiver)
            _report(stream, events, views)
            if args.keep:
                _keep_up(views)
    return 0


def _simulate(args: argparse.Namespace) -> Stream:
    what = f"simulating {args.days:g} days x {args.per_day:,} contacts/day (seed {args.seed})"
    shown = progress.wanted(False)
    if not shown:
        print(f"{what} ...", file=sys.stderr)
    with progress.Bar(shown, desc=what, total=1.0, unit="", bar_format="{desc} {bar} {elapsed}") as bar:
        stages = progress.Stages(bar, {"background": 0.6, "faults": 0.1, "contacts": 0.3}, 1.0, what)
        simulation = simulate(
            seed=args.seed, days=args.days, contacts_per_day=args.per_day, start=_START, on_stage=stages.begin
        )
        stages.part(1.0)
    rate = [entry for entry in simulation.truth if entry["kind"] == "rate" and not entry["decoy"]]
    if not rate:
        return Stream(simulation.contacts, simulation.truth, float("inf"), None)
    last = max(rate, key=lambda entry: parse_timestamp(entry["end"]))
    end = parse_timestamp(last["end"]) + _AFTER_THE_FAULT
    contacts = [record for record in simulation.contacts if parse_timestamp(record["ts"]) < end]
    truth = [entry for entry in simulation.truth if parse_timestamp(entry["start"]) < end]
    return Stream(contacts, truth, end, last)


def _read_events(data: bytes) -> list[Event]:
    return [from_json(orjson.loads(line)) for line in data.splitlines() if line.strip()]


# -- the stack ------------------------------------------------------------------------------------------------
class _Stack:
    """A running ``correlate up`` in a home of its own, and how to ask it what it published."""

    def __init__(self, folder: Path, up: subprocess.Popen[bytes], env: dict[str, str]) -> None:
        self.folder, self.up, self.env = folder, up, env
        self.home = folder / "stack"
        self.status: dict[str, Any] = {}

    def wait_until_healthy(self) -> None:
        from correlate.streams.stack import stack_status

        deadline = time.monotonic() + _STACK_START_LIMIT
        while not (status := stack_status(self.home))["healthy"]:
            if self.up.poll() is not None or time.monotonic() > deadline:
                raise OSError(f"the local stack did not come up; see {self.folder / 'up.log'}")
            time.sleep(0.5)
        self.status = status
        print(f"stack up: broker {status['broker']}, store {status['store']}, API {status['api']}", file=sys.stderr)

    def feed(self, contacts: Path, valid: int) -> None:
        produced = _correlate("produce", str(contacts), env=self.env)
        print(produced.stderr.decode().strip(), file=sys.stderr)
        if produced.returncode != 0:
            raise OSError("produce failed")
        _wait_for_the_detector(self.home, valid)

    def published(self) -> bytes:
        """Every event on the incidents topic, as JSON lines (what ``correlate replay`` writes)."""
        from correlate.topics import INCIDENTS

        return self._topic(INCIDENTS, idle=3.0)

    def _topic(self, topic: str, idle: float) -> bytes:
        from correlate.streams.client import subscribe
        from correlate.streams.stack import read_state

        state = read_state(self.home) or {}
        out = io.BytesIO()
        name = str(state.get("topic_prefix", "")) + topic
        asyncio.run(subscribe(str(state["broker"]), name, out, idle_timeout=idle, from_beginning=True))
        return out.getvalue()

    def views(self, events: Sequence[Event], stream: Stream, receiver: _WebhookReceiver) -> Views:
        from correlate.topics import vendor_topic

        keys = load_keys(*keys_path(self.home))
        tokens = {role: mint(keys, Claims(role, name="demo")) for role in ("agent", "noc")}
        views = Views(str(self.status["api"]), tokens)
        shown = _incident_to_show(events, stream)
        if shown is None:
            return views
        print("waiting for the API to show the open incident (its feed also reads every contact) ...", file=sys.stderr)
        started = time.monotonic()
        views.banner = _banner(views.api, tokens["agent"], shown, stream.contacts)
        print(f"the API answered after {time.monotonic() - started:.0f} s", file=sys.stderr)
        at_fault = shown.vendors.at_fault
        if at_fault:
            views.vendor = at_fault[0]
            mine = _read_events(self._topic(vendor_topic(views.vendor), idle=3.0))
            views.vendor_event = next(
                (e for e in reversed(mine) if isinstance(e, IncidentEvent) and e.incident_id == shown.incident_id), None
            )
            if views.vendor in receiver.vendors:  # else the settings file delivers that vendor elsewhere
                views.webhook = receiver.wait_for(views.vendor, shown.incident_id, _SHOW_LIMIT)
        views.alerts = _alerts(list(self.status.get("metrics") or []))
        return views


@contextmanager
def _stack(folder: Path, stream: Stream, receiver: _WebhookReceiver, config: str | None) -> Iterator[_Stack]:
    """``correlate up`` with every vendor's webhook pointed at ``receiver``; always stopped (Ctrl-C, as a
    person would) when the block ends."""
    settings = folder / "settings.json"
    settings.write_text(json.dumps(_with_webhooks(config, _vendors(stream.contacts), receiver)), encoding="utf-8")
    env = {**os.environ, "CORRELATE_HOME": str(folder / "stack")}
    with open(folder / "up.log", "wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "correlate.cli", "up", "--config", str(settings)], env=env, stdout=log, stderr=log
        )
    try:
        stack = _Stack(folder, up, env)
        stack.wait_until_healthy()
        yield stack
    finally:
        stop(up, signal.SIGINT, grace=60)  # Ctrl-C: up stops its workers, the API and its servers in order


def _vendors(contacts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every vendor the stream names (a brand or a service), as the default registry spells vendor ids."""
    names = {
        vendor_slug(str(value))
        for record in contacts
        for dimension, value in (record.get("dimensions") or {}).items()
        if dimension in ("device_brand", "service")
    }
    return sorted(names)


def _with_webhooks(config: str | None, vendors: Sequence[str], receiver: _WebhookReceiver) -> dict[str, Any]:
    """The settings file (if any) with a webhook to ``receiver`` for each vendor it does not deliver to yet."""
    raw: dict[str, Any] = {}
    if config:
        text = Path(config).read_text(encoding="utf-8")
        raw = json.loads(text) if config.endswith(".json") else tomllib.loads(text)
    delivery = dict(raw.get("delivery") or {})
    for vendor in vendors:
        if vendor not in delivery:
            delivery[vendor] = {"webhook": f"{receiver.url}/hooks/{vendor}", "secret": receiver.secret}
            receiver.vendors.add(vendor)
    return {**raw, "delivery": delivery}


def _correlate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "correlate.cli", *args], env=env, capture_output=True)


def _wait_for_the_detector(home: Path, valid: int) -> None:
    """Until the detect leader has taken in every valid contact (or a repeat or late one), or stops moving."""
    from correlate.streams.stack import stack_status

    last, still_since = -1, time.monotonic()
    with progress.Bar(progress.wanted(False), desc="detector", total=valid, unit=" contacts", unit_scale=True) as bar:
        while True:
            state = stack_status(home).get("progress") or {}
            seen = int(state.get("accepted", 0)) + int(state.get("duplicates", 0))
            seen += sum(int(n) for n in (state.get("rejected") or {}).values())
            if seen != last:
                bar.advance(seen - max(last, 0))
                last, still_since = seen, time.monotonic()
            if seen >= valid or time.monotonic() - still_since > _QUIET * 10:
                break
            time.sleep(0.5)
    print(f"the detector has read {last:,} of {valid:,} contacts", file=sys.stderr)
    time.sleep(_QUIET)  # the last events on their way to the topic


# -- what each user sees --------------------------------------------------------------------------------------
def _still_open(events: Sequence[Event]) -> dict[str, IncidentEvent]:
    """Incident id -> its latest event, for incidents not resolved (nor merged into another) at the end."""
    still_open: dict[str, IncidentEvent] = {}
    for event in events:
        if not isinstance(event, IncidentEvent):
            continue
        if event.resolved or event.merged_into:
            still_open.pop(event.incident_id, None)
        else:
            still_open[event.incident_id] = event
    return still_open


def _incident_to_show(events: Sequence[Event], stream: Stream) -> IncidentEvent | None:
    """The open incident on the last fault if there is one, else the last one opened."""
    still_open = list(_still_open(events).values())
    if stream.last_fault is not None:
        fault = Fault.from_json(stream.last_fault)
        on_fault = [e for e in still_open if overlaps(fault.scope, make_scope(e.scope))]
        still_open = on_fault or still_open
    return still_open[-1] if still_open else None


def _affected_customer(scope: Mapping[str, str], contacts: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The latest contact of a customer (not a partner's batch) whose latest contact is inside ``scope``."""
    wanted = make_scope(scope)
    seen: set[str] = set()
    record: Mapping[str, Any]
    for record in reversed(contacts):
        customer = str(record.get("customer_id"))
        if customer in seen:
            continue
        seen.add(customer)
        if record.get("channel") == "partner":
            continue
        dims = make_scope({str(k): str(v) for k, v in (record.get("dimensions") or {}).items()})
        if _canonical(wanted) <= _canonical(dims):
            return record
    return None


def _canonical(scope: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(name, vendor_slug(value)) for name, value in scope}


def _banner(
    api: str, token: str, incident: IncidentEvent, contacts: Sequence[Mapping[str, Any]]
) -> tuple[str, str, str] | None:
    """The banner the agent API gives for an affected customer who calls now (it looks up what they own)."""
    record = _affected_customer(incident.scope, contacts)
    if record is None:
        return None
    customer = str(record["customer_id"])
    owns = ", ".join(f"{k}={v}" for k, v in sorted(record["dimensions"].items()))
    # What the agent's desktop knows about the caller: who they are and what they own (the API can also look
    # that up from their latest contact, once its feed has read all of them).
    query = urllib.parse.urlencode({**record["dimensions"], "customer_id": customer})
    found = _poll_json(f"{api}/v1/known-incidents?{query}", token)
    if not found.get("incidents"):
        return None
    return customer, owns, str(found["incidents"][0]["banner"])


def _poll_json(url: str, token: str) -> dict[str, Any]:
    """GET until it answers with something (the API's feed may still be a moment behind the topic)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + _SHOW_LIMIT
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                found: dict[str, Any] = json.load(response)
        except OSError:
            found = {}
        if found.get("incidents") or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _alerts(metrics: Sequence[str]) -> list[str]:
    """``CorrelateIncident`` as Prometheus would evaluate it on these scrapes, one line an alert (one per incident
    that pages: open, neither acknowledged nor suppressed)."""
    from prometheus_client.parser import text_string_to_metric_families

    paging: dict[tuple[str, ...], float] = {}
    for url in metrics:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "correlate_incident_paging":
                    key = tuple(sample.labels.get(name, "") for name in (*_ALERT_LABELS, "summary"))
                    paging[key] = max(paging.get(key, 0.0), sample.value)
    lines = []
    for key, value in sorted(paging.items()):
        if value <= 0:
            continue
        labels = ", ".join(f'{name}="{text}"' for name, text in zip(_ALERT_LABELS, key, strict=False))
        number, severity, summary = key[1], key[2], key[-1]
        lines.append(f"FIRING {OPEN_INCIDENT_ALERT}{{{labels}}} team=noc: {number} ({severity}): {summary}")
    return lines


class _WebhookReceiver:
    """A vendor's webhook endpoint on 127.0.0.1: keeps what it is sent, answers 204."""

    def __init__(self) -> None:
        self.secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.vendors: set[str] = set()  # the vendors whose webhook points here
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    receiver.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the demo prints what it received, not an access log

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(
        self, vendor: str, incident_id: str, limit: float
    ) -> tuple[dict[str, str], dict[str, Any], bool] | None:
        """The latest webhook ``vendor`` received about ``incident_id``, with whether its signature checks."""
        deadline = time.monotonic() + limit
        while True:
            with self._lock:
                mine = [(h, b) for path, h, b in self.received if path == f"/hooks/{vendor}"]
            for headers, body in reversed(mine):
                event = orjson.loads(body)
                if event.get("incident_id") == incident_id:
                    expected = sign(self.secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
                    return headers, event, secrets.compare_digest(expected, headers["webhook-signature"])
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)


# -- the report -----------------------------------------------------------------------------------------------
def _report(stream: Stream, events: Sequence[Event], views: Views | None) -> None:
    report = evaluate(stream.truth, events)
    found = {incident: o.fault.fault_id for o in report.outcomes for incident in o.incidents}
    still_open = _still_open(events)
    latest = {event.incident_id: event for event in events if isinstance(event, IncidentEvent)}
    if stream.last_fault is not None:
        print(
            f"\nThe stream stops at {format_time(stream.end)}, {_AFTER_THE_FAULT / 60:.0f} minutes after the last "
            f"rate fault ({stream.last_fault['fault_id']}) ended; {len(still_open)} incident(s) still open then."
        )
    print("\nINCIDENTS (time opened, state, what was found; the fault it found, from the simulator's truth)")
    for incident_id, event in latest.items():
        state = "OPEN    " if incident_id in still_open else "resolved"
        fault = found.get(incident_id)
        verdict = f"found {fault}" if fault else "FALSE: no injected fault there"
        print(f"  {event.opened_at}  {state}  {_in_words(event)}\n      -> {verdict}")
    print(f"\nSCORES against the truth\n{report.render()}")
    print("\ncolumns:")
    for name, meaning in COLUMNS:
        print(f"  {name:<8} {meaning}")
    _false_incidents(report, latest, stream.truth)
    if views is None:
        print("\n(the agent's banner, the vendor's webhook and the NOC's alerts need the servers: run without "
              "--no-servers)")  # fmt: skip
        return
    _views(views)


def _in_words(event: IncidentEvent) -> str:
    """An incident as a reader understands it: where, how many customers against how many usual, who is at fault."""
    evidence = event.evidence
    scope = _scope_text(event.scope)
    window, observed, expected = evidence.window_minutes, evidence.observed, evidence.expected
    if event.kind is Kind.SYMPTOM and expected < 0.5:
        texts = evidence.sample_texts
        example = f', e.g. "{texts[0]}"' if texts else ""
        what = f"{observed:g} customers describe the same problem within {window:g} min{example}"
        what += " (alike texts by chance: none expected)"
    else:
        what = f"{observed:g} customers in {window:g} min where {expected:.1f} are usual"
    opened_on = {Kind.SYMPTOM: "alike texts", Kind.RATE: "a rise in calls", Kind.SILENCE: "devices gone quiet"}
    at_fault = ", ".join(event.vendors.at_fault) or "nobody named"
    return f"{scope}: {what} [opened on {opened_on.get(event.kind, event.kind.value)}; at fault: {at_fault}]"


def _scope_text(scope: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in scope.items())


def _false_incidents(report: Report, latest: Mapping[str, IncidentEvent], truth: Sequence[Mapping[str, Any]]) -> None:
    if not report.false_incidents:
        print("\nFALSE INCIDENTS: none, every incident found an injected fault")
        return
    print(
        "\nFALSE INCIDENTS (no injected fault in their scope and time, so the simulator's truth says they are wrong):"
    )
    decoys = [(entry, Fault.from_json(entry)) for entry in truth if entry.get("decoy")]
    for incident_id in report.false_incidents:
        event = latest[incident_id]
        scope, opened = make_scope(event.scope), parse_timestamp(event.opened_at)
        near = [entry for entry, decoy in decoys if decoy.in_window(opened, 3600.0) and overlaps(decoy.scope, scope)]
        why = f"; the decoy {near[0]['fault_id']} was there: {near[0]['description']}" if near else ""
        print(f"  {incident_id} opened {event.opened_at} on {_scope_text(event.scope)}{why}")


def _views(views: Views) -> None:
    print("\nAGENT — the banner the API shows for a customer of the open incident who calls now:")
    if views.banner is None:
        print("  (no incident is open at the end of the stream, so no agent sees a banner)")
    else:
        customer, owns, text = views.banner
        print(f"  customer {customer} ({owns})\n  BANNER: {text}")
    print(f"\nVENDOR — what {views.vendor or 'the vendor at fault'} is told:")
    if views.vendor_event is None:
        print("  (no open incident names a vendor at fault)")
    else:
        event = views.vendor_event
        print(f"  topic incidents.vendor.{views.vendor}: {event.event} {event.incident_id} on "
              f"{_scope_text(event.scope)}, {event.evidence.customers} customers so far")  # fmt: skip
    if views.webhook is not None:
        headers, body, good = views.webhook
        print(f"  webhook POST /hooks/{views.vendor}: {body['event']} {body['incident_id']}, webhook-id "
              f"{headers['webhook-id']}, signature {'verified' if good else 'DOES NOT VERIFY'}")  # fmt: skip
    elif views.vendor_event is not None:
        print(f"  (no webhook at the demo's receiver: not delivered within {_SHOW_LIMIT:.0f} s, or sent where the "
              "settings file says)")  # fmt: skip
    print(f"\nNOC — alerts that rule {OPEN_INCIDENT_ALERT} (deploy/prometheus/alerts.yml) fires on the metrics now:")
    for line in views.alerts or ["(none firing: no incident open)"]:
        print(f"  {line}")
    print(f"\nCONSOLE — {views.api}/console; paste a token:")
    for role, token in views.console_tokens.items():
        print(f"  {role}: {token}")


def _keep_up(views: Views) -> None:
    print(f"\nThe stack stays up (API {views.api}); Ctrl-C stops it and removes its files.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping ...", file=sys.stderr)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate a week with faults, run it through the local stack, show what agents, vendors and the NOC see",
        description="Simulates a stream with faults, runs it through the local stack (or replay) and shows the "
        "incidents, their scores against the truth, and what an agent, a vendor and the NOC see.",
    )
    parser.add_argument("--days", type=float, default=7.0, help="length of the stream (default 7)")
    parser.add_argument("--per-day", type=int, default=20_000, help="average contacts a day (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same stream (default 1)")
    parser.add_argument("--config", "-c", help="settings file (TOML or JSON)")
    parser.add_argument("--workdir", help="keep the files here (default: a temporary folder, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="leave the stack up at the end, until Ctrl-C")
    parser.add_argument(
        "--no-servers", action="store_true", help="run the detection core through `correlate replay` instead"
    )
    parser.set_defaults(func=run)
