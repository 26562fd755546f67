"""The console under its Content-Security-Policy, in headless Chromium: it works with nothing blocked, and no
other page can frame it. (What it shows is tests/test_console.py's business.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from test_api_serve import correlate, wait_for
from test_console import api_url, events

__all__ = ["api_url", "events"]  # fixtures, shared with test_console


def messages(browser: WebDriver) -> list[str]:
    return [str(entry["message"]) for entry in browser.get_log("browser")]


def test_the_console_runs_its_script_and_style_with_nothing_blocked(
    browser: WebDriver, api_url: tuple[str, Path], events: list[dict[str, Any]]
) -> None:
    url, home = api_url
    token = correlate("token", "--role", "agent", home=home).stdout.strip()
    browser.get(f"{url}/console?device_brand=Pixelle&service=StreamPlus&customer_id=cu-42#token={token}")
    wait = WebDriverWait(browser, 20)
    wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".banner-text")))  # script ran
    tagline = browser.find_element(By.CSS_SELECTOR, "header .tagline")
    assert tagline.value_of_css_property("color") == "rgba(207, 216, 227, 1)"  # the stylesheet applied
    assert [m for m in messages(browser) if "Content Security Policy" in m] == []


def test_no_page_can_frame_the_console(browser: WebDriver, api_url: tuple[str, Path]) -> None:
    """Not even one from the API's own origin: a page that frames the console gets Chromium's error page."""
    url, _ = api_url
    browser.get(f"{url}/v1/health")
    browser.execute_script(f"document.body.innerHTML = '<iframe src=\"{url}/console\"></iframe>'")

    def refused() -> list[str]:
        return [m for m in messages(browser) if "frame-ancestors 'none'" in m and "blocked" in m]

    wait_for(refused, "Chromium refusing to frame the console", limit=20)
    browser.switch_to.frame(0)
    assert "agent console" not in browser.page_source
