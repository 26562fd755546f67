"""The console's incident page in headless Chromium, as the NOC uses it: the evidence timeline drawn as a chart,
and the Acknowledge button, whose action goes to the input topic and comes back as the incident's
``acknowledged`` event. Screenshot: tests/artifacts/console-incident.png (the README's docs/console.png)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from correlate.actions import Action, ActionBook, validate_action
from correlate.contracts import format_time, parse_timestamp
from correlate.events import Event, IncidentEvent
from correlate.metrics import Metrics
from correlate.stamps import Stamper
from correlate.streams.embedded import EmbeddedBroker
from correlate.streams.kafka_io import ensure_topics
from correlate.streams.publish import PublishedLog, Publisher
from correlate.topics import pipeline_topics
from test_api_serve import correlate, wait_for
from test_cloudevents import records
from test_console import api_process
from test_event_schemas import ACTION
from test_store import replayed

ARTIFACTS = Path(__file__).parent / "artifacts"


def _moved(event: IncidentEvent, by: float) -> IncidentEvent:
    def move(text: str | None) -> str | None:
        return None if text is None else format_time(parse_timestamp(text) + by)

    evidence = replace(event.evidence, first_contact_at=move(event.evidence.first_contact_at))
    return replace(event, at=move(event.at), opened_at=move(event.opened_at), evidence=evidence)


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> list[IncidentEvent]:
    """The open part of the replay's longest-lived incident (everything before it resolved), moved to end a few
    minutes ago: the console's clock is the wall clock, and a NOC acknowledges an incident while it happens."""
    events = [IncidentEvent.from_json(e) for e in replayed(tmp_path_factory.getbasetemp())[0]]
    by_incident: dict[str, list[IncidentEvent]] = {}
    for event in events:
        by_incident.setdefault(event.incident_id, []).append(event)
    longest = [event for event in max(by_incident.values(), key=len) if not event.resolved]
    by = (time.time() - parse_timestamp(longest[-1].at)) // 60 * 60 - 10 * 60
    return [_moved(event, by) for event in longest]


def publish(bootstrap: str, prefix: str, events: list[Event]) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await Publisher(producer, bootstrap, prefix, Metrics(), PublishedLog()).publish(events)
        finally:
            await producer.stop()

    asyncio.run(send())


@pytest.fixture
def stack(
    kafka_broker: EmbeddedBroker, topic_prefix: str, redis_url: str, tmp_path: Path, life: list[IncidentEvent]
) -> Iterator[tuple[str, Path]]:
    """The incident on the ``incidents`` topic and ``correlate api`` fed from it, with the broker to send
    people's actions to."""
    ensure_topics(kafka_broker.bootstrap, pipeline_topics(["contacts"], 1, topic_prefix))
    publish(kafka_broker.bootstrap, topic_prefix, list(life))
    home = tmp_path / "home"
    argv = ["--store", redis_url, "--broker", kafka_broker.bootstrap, "--topic-prefix", topic_prefix]
    with api_process(home, *argv) as url:
        yield url, home


def _scope_changes(life: list[IncidentEvent]) -> int:
    return sum(1 for before, after in pairwise(life) if before.scope != after.scope)


def test_the_noc_sees_the_evidence_chart_and_acknowledges_the_incident(
    browser: WebDriver,
    stack: tuple[str, Path],
    life: list[IncidentEvent],
    kafka_broker: EmbeddedBroker,
    topic_prefix: str,
) -> None:
    url, home = stack
    incident_id = life[0].incident_id
    token = correlate("token", "--role", "noc", "--name", "ana", home=home).stdout.strip()
    page = f"{url}/console?incident={incident_id}#token={token}"

    browser.get(page)

    def chart_shown() -> bool:
        browser.refresh()  # the same address again would be a jump within the page, not a new load
        try:
            WebDriverWait(browser, 5).until(
                expected_conditions.visibility_of_element_located((By.ID, "evidence-chart"))
            )
        except Exception:  # the API's feed has not applied the incident yet: the page says not found
            return False
        return True

    wait_for(chart_shown, "the incident's chart in the console", limit=120)
    chart = browser.find_element(By.ID, "evidence-chart")
    # One point per event, observed against the expected band, a line at each scope change.
    points = chart.find_elements(By.CSS_SELECTOR, "circle.point")
    assert len(points) == len(life)
    assert chart.find_elements(By.CSS_SELECTOR, "polygon.band") and chart.find_elements(
        By.CSS_SELECTOR, "polyline.observed"
    )
    assert len(chart.find_elements(By.CSS_SELECTOR, "line.scope-change:not(.legend)")) == _scope_changes(life)
    first = points[0].find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert first.startswith(f"opened {life[0].at}: {life[0].evidence.observed:g} observed against")
    heights = [float(point.get_attribute("cy")) for point in points]
    assert heights[0] != min(heights) or len(set(heights)) == 1, "observed values are drawn to scale"
    assert chart.find_elements(By.CSS_SELECTOR, "polygon.told"), "the vendors told on each event"
    assert not chart.find_elements(By.CSS_SELECTOR, "polygon.person"), "no one has acted yet"
    title = browser.find_element(By.CSS_SELECTOR, "#detail h2").text
    assert title.startswith(f"{life[-1].number} · Incident {incident_id} — open")

    # Acknowledge: the action goes to the input topic, as the detector takes it in.
    browser.find_element(By.ID, "acknowledge").click()
    wait = WebDriverWait(browser, 30)
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "detail"), "Acknowledgement sent by ana"))
    sent = wait_for(lambda: records(kafka_broker.bootstrap, topic_prefix + "contacts"), "the action on the topic")
    (record,) = [json.loads(r.value) for r in sent]
    assert list(ACTION.iter_errors(record)) == []
    action = validate_action(record)
    assert isinstance(action, Action) and action.incident_id == incident_id and action.by == "ana"
    assert browser.find_elements(By.CSS_SELECTOR, "#evidence-chart polygon.person"), "the action on the chart"

    # The detector's answer (what its ActionBook and Stamper make of the action) comes back on `incidents`.
    book = ActionBook()
    book.latest[incident_id] = life[-1]
    (acknowledged,), refused = book.take([action], close=lambda _: None)
    assert refused == []
    numbered = Stamper(first_number=int(str(life[0].number).removeprefix("INC-")))  # as the detector numbered it
    publish(kafka_broker.bootstrap, topic_prefix, [numbered.stamp([*life, acknowledged])[-1]])

    def shows_acknowledged() -> bool:
        browser.refresh()
        detail = WebDriverWait(browser, 10).until(expected_conditions.visibility_of_element_located((By.ID, "detail")))
        return "Acknowledged by ana at " in detail.text

    wait_for(shows_acknowledged, "the acknowledgement in the console", limit=120)
    assert browser.find_element(By.CSS_SELECTOR, "#detail h2").text.startswith(f"{life[-1].number} · ")
    assert not browser.find_elements(By.ID, "acknowledge")
    csp = [entry for entry in browser.get_log("browser") if "Content Security Policy" in str(entry["message"])]
    assert csp == []
    assert browser.find_element(By.ID, "error").text == ""
    # What an agent reads out for a customer of that scope, beside it (the picture in the README).
    for name, value in life[-1].scope.items():
        if name in ("device_brand", "service"):
            browser.find_element(By.ID, f"q-{name}").send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "#lookup button").click()
    banner = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".banner-text")))
    assert banner.text.startswith("Known incident since ")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "console-incident.png"))
