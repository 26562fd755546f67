"""The agent console in headless Chromium: what an agent sees and clicks. Screenshot: tests/artifacts/console.png."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from correlate.api.serve import read_state
from correlate.contracts import Contact, validate
from correlate.events import IncidentEvent
from correlate.store import IncidentStore
from test_api_serve import correlate, wait_for
from test_store import replayed

ARTIFACTS = Path(__file__).parent / "artifacts"


def _post(url: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return replayed(tmp_path_factory.getbasetemp())[0]


@pytest.fixture
def api_url(redis_url: str, tmp_path: Path, events: list[dict[str, Any]]) -> Iterator[tuple[str, Path]]:
    """`correlate api` on a store holding two open incidents (no broker: the test writes the store)."""
    pixelle = [e for e in events if e["incident_id"] == events[0]["incident_id"]]
    arcus_opened = next(e for e in events if e["incident_id"] != events[0]["incident_id"])

    async def fill() -> None:
        store = IncidentStore.connect(redis_url)
        for event in [*pixelle[:3], arcus_opened]:
            await store.apply(IncidentEvent.from_json(event))
        now = time.time()
        for contact_id, channel, ago, text in (("e-1", "email", 7300, "no channels"), ("c-1", "chat", 3700, None)):
            contact = validate(
                {
                    "contact_id": contact_id,
                    "ts": now - ago,
                    "channel": channel,
                    "customer_id": "cu-42",
                    "source": "centre",
                    "category": "E8860",
                    "text": text,
                }
            )
            assert isinstance(contact, Contact)
            await store.add_contact(contact)
        await store.close()

    asyncio.run(fill())
    home = tmp_path / "home"
    with api_process(home, "--store", redis_url) as url:
        yield url, home


@contextmanager
def api_process(home: Path, *argv: str) -> Iterator[str]:
    """``correlate api`` on a free port with its home in ``home`` and these arguments: its URL once it is up;
    stopped on leaving."""
    process = subprocess.Popen(
        [sys.executable, "-m", "correlate.cli", "api", "--home", str(home), "--port", "0", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CORRELATE_HOME": str(home)},
    )
    try:
        yield str(wait_for(lambda: read_state(home), "api.json")["url"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_an_agent_sees_the_banner_adds_the_customer_and_reads_the_incident(
    browser: WebDriver, api_url: tuple[str, Path], events: list[dict[str, Any]]
) -> None:
    url, home = api_url
    token = correlate("token", "--role", "agent", "--name", "ana", home=home).stdout.strip()
    browser.get(f"{url}/console?device_brand=Pixelle&service=StreamPlus&customer_id=cu-42#token={token}")
    wait = WebDriverWait(browser, 20)
    banner = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".banner-text")))
    assert banner.text.startswith("Known incident since 5 Mar 00:50: error E8860 on Pixelle devices")
    assert banner.text.endswith("Don't troubleshoot the device; add the customer to the follow-up list.")
    assert token not in browser.current_url  # the token left the address bar
    journey = wait.until(expected_conditions.visibility_of_element_located((By.ID, "journey")))
    wait.until(lambda driver: "chat" in journey.text)
    rows = [row.text for row in journey.find_elements(By.TAG_NAME, "tr")[1:]]
    assert rows == ["chat an hour ago E8860", "email 2 hours ago no channels"]

    rows = wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#incidents .incident"))
    assert len(rows) == 2
    assert browser.find_element(By.ID, "open-count").text == "(2)"

    browser.find_element(By.XPATH, "//button[text()='Add customer to follow-up list']").click()
    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.CSS_SELECTOR, ".banner-text"), "the customer is already on the follow-up list"
        )
    )

    pixelle_row = next(row for row in rows if row.get_attribute("data-incident") == events[0]["incident_id"])
    pixelle_row.click()
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "detail"), "Evidence timeline"))
    detail = browser.find_element(By.ID, "detail").text
    assert "Follow-up list (1)" in detail and "cu-42" in detail and "ana" in detail
    assert len(browser.find_elements(By.CSS_SELECTOR, "#detail table")[0].find_elements(By.TAG_NAME, "tr")) == 1 + 3
    assert browser.find_element(By.ID, "error").text == ""
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "console.png"))


def test_the_banner_widget_alone_for_an_agent_desktop(
    browser: WebDriver, api_url: tuple[str, Path], events: list[dict[str, Any]]
) -> None:
    url, home = api_url
    token = correlate("token", "--role", "agent", home=home).stdout.strip()
    browser.get(f"{url}/console?widget=banner&device_brand=Arcus&service=RadioGo#token={token}")
    wait = WebDriverWait(browser, 20)
    banner = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".banner-text")))
    assert "on Arcus devices with RadioGo" in banner.text
    assert not browser.find_element(By.ID, "incidents").is_displayed()

    browser.get(f"{url}/console?widget=banner&device_brand=Vizo")
    calm = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".banner.none")))
    assert calm.text.startswith("No known incident")


def test_a_page_without_a_token_says_how_to_get_one(browser: WebDriver, api_url: tuple[str, Path]) -> None:
    url, _ = api_url
    browser.get(f"{url}/console")
    error = WebDriverWait(browser, 20).until(expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert "correlate token --role agent" in error.text


def test_a_vendor_sees_only_its_incident_and_no_customer(
    browser: WebDriver, api_url: tuple[str, Path], events: list[dict[str, Any]]
) -> None:
    """The same console with Pixelle's vendor token: Pixelle's incident alone, without the follow-up list's
    customers. Screenshot: tests/artifacts/vendor.png (the README's docs/vendor.png)."""
    url, home = api_url
    pixelle = events[0]["incident_id"]
    agent = correlate("token", "--role", "agent", "--name", "ana", home=home).stdout.strip()
    attached = _post(f"{url}/v1/incidents/{pixelle}/follow-ups", {"customer_id": "cu-42"}, agent)
    assert attached["customer_id"] == "cu-42", attached
    token = correlate("token", "--role", "vendor", "--vendor", "pixelle", home=home).stdout.strip()
    browser.set_window_size(1200, 800)  # a small picture for the README
    browser.get(f"{url}/console#token={token}")
    wait = WebDriverWait(browser, 20)
    (row,) = wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#incidents .incident"))
    assert row.get_attribute("data-incident") == pixelle, "the other vendor's incident is hidden"
    assert browser.find_element(By.ID, "open-count").text == "(1)"
    row.click()
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "detail"), "Evidence timeline"))
    detail = browser.find_element(By.ID, "detail").text
    assert "Pixelle" in detail and "Follow-up list (0)" in detail, "the agent's follow-up is not the vendor's"
    assert "cu-42" not in browser.find_element(By.TAG_NAME, "body").text, "no customer id reaches a vendor"
    assert browser.find_element(By.ID, "error").text == ""
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "vendor.png"))
