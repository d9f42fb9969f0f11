"""A real headless browser for the dashboard tests: Debian's chromium driven through its
chromedriver by Selenium (no browser download: both binaries come from apt, see
scripts/services). Missing chromium skips on a laptop and fails in CI."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support import services

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ENTER = "\ue007"  # WebDriver's Enter key (selenium.webdriver.common.keys.Keys.ENTER)
T = TypeVar("T")


def require_chromium() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing or shutil.which("chromium") is None:
        what = ", ".join(missing) or "chromium"
        message = f"{what} not installed (apt-get install chromium chromium-driver)"
        if services.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    try:
        import selenium  # noqa: F401
    except ImportError:
        if services.in_ci():
            pytest.fail("selenium is not installed (pip install -e '.[dev]')")
        pytest.skip("selenium is not installed")


@contextmanager
def chromium(tmp: Path, width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A headless chromium session (a Selenium ``WebDriver``), closed afterwards."""
    require_chromium()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """``probe()``'s first truthy value (polled every 50 ms), or a TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what or probe}")
        time.sleep(0.05)


def sign_in(driver: Any, base_url: str, key: str, page: str = "#/tasks") -> None:
    """Open the dashboard and enter ``key`` in its form, as a person would."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/ui/{page}")
    forget = driver.find_elements(By.ID, "sign-out")
    if forget and forget[0].is_displayed():
        forget[0].click()
    field = wait_for(lambda: _shown(driver.find_element(By.ID, "api-key")), what="the key form")
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    wait_for(lambda: driver.find_element(By.ID, "who").text, what="the key to be accepted")


def _shown(element: Any) -> Any:
    return element if element.is_displayed() else None
