import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from correlate.streams.embedded import EmbeddedBroker, EmbeddedRedis

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

# Test helpers (tests/streams.py) import as plain modules.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real Tansu broker on loopback for the whole run. Tests create their own topics (Tansu creates none);
    give them names of their own (see ``topic_prefix``) so tests never read each other's records."""
    log = tmp_path_factory.mktemp("tansu") / "broker.log"
    with EmbeddedBroker().start(log=log) as broker:
        yield broker


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix unique to this test, for topic names and consumer groups on the shared broker."""
    return "t" + str(abs(hash(request.node.nodeid)) % 10**10) + "."


@dataclass(frozen=True)
class RunningRedis:
    url: str


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRedis | EmbeddedRedis]:
    """The Redis the tests share: ``CORRELATE_TEST_REDIS`` if set (CI starts Debian's redis-server), else one
    started here on loopback. Each test gets it empty (``redis_url``)."""
    external = os.environ.get("CORRELATE_TEST_REDIS")
    if external:
        yield RunningRedis(external)
        return
    directory = tmp_path_factory.mktemp("redis")
    with EmbeddedRedis().start(directory, log=directory / "redis.log") as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RunningRedis | EmbeddedRedis) -> Iterator[str]:
    """A Redis URL with an empty database for this test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def browser() -> "Iterator[WebDriver]":
    """Debian's chromium and chromedriver (nothing is downloaded), keeping the page's console messages (CSP reports
    land there). Selenium is imported here, so the tests that drive no browser do not need it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
