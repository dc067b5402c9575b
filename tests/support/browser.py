"""A real browser for tests: Debian's chromium, headless, driven by Selenium through the system
chromedriver. Selenium Manager is never asked for anything (`SE_OFFLINE`, explicit paths), so
nothing is downloaded; a missing browser fails the test naming `make system-deps`.

Selenium is synchronous and the servers under test run in the test's event loop, so every call
runs in a worker thread (`asyncio.to_thread`): the loop keeps serving the page meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = (412, 915)
LAPTOP = (1280, 1000)

T = TypeVar("T")


def _driver(size: tuple[int, int]) -> WebDriver:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make system-deps` (installs Debian's "
                    "chromium and chromium-driver)")  # fmt: skip
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never download a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", f"--window-size={size[0]},{size[1]}"):  # fmt: skip
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))


class Browser:
    """One headless chromium; every method runs Selenium in a thread."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    async def get(self, url: str) -> None:
        """Navigate and wait for the load event."""
        await asyncio.to_thread(self.driver.get, url)

    async def until(self, condition: Callable[[WebDriver], T], timeout_secs: float = 45) -> T:
        """Poll `condition(driver)` until it returns something truthy (raises on timeout).

        The page re-renders live (server-sent events), so an element read between a find and its
        use may be replaced: such a poll counts as "not yet" and the next one finds it again.
        """
        wait = WebDriverWait(
            self.driver, timeout_secs, poll_frequency=0.1,
            ignored_exceptions=(StaleElementReferenceException,),
        )  # fmt: skip
        return await asyncio.to_thread(wait.until, condition)

    async def all(self, css: str) -> list[WebElement]:
        """Elements matching a CSS selector."""
        return await asyncio.to_thread(self.driver.find_elements, By.CSS_SELECTOR, css)

    async def one(self, css: str) -> WebElement:
        """The first element matching `css`, waiting for it to exist."""
        found: list[WebElement] = await self.until(lambda d: d.find_elements(By.CSS_SELECTOR, css))
        return found[0]

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Any Selenium call (e.g. `element.click`), in a thread."""
        return await asyncio.to_thread(fn, *args)

    async def keys(self, text: str) -> None:
        """Type `text` into whatever has the focus (the page's keyboard shortcuts)."""
        await asyncio.to_thread(lambda: ActionChains(self.driver).send_keys(text).perform())

    async def script(self, source: str) -> Any:
        """Run JavaScript in the page and return its value."""
        return await asyncio.to_thread(self.driver.execute_script, source)

    async def screenshot(self, path: Path) -> None:
        """Save a PNG of the whole page (the window grows to the page's height first)."""
        path.parent.mkdir(parents=True, exist_ok=True)

        def shoot() -> None:
            width = self.driver.get_window_size()["width"]
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(width, int(height) + 160)  # + the browser's own frame
            self.driver.save_screenshot(str(path))

        await asyncio.to_thread(shoot)


async def open_browser(size: tuple[int, int] = LAPTOP) -> AsyncIterator[Browser]:
    """A started browser, quit afterwards (the body of a fixture)."""
    driver = await asyncio.to_thread(_driver, size)
    try:
        yield Browser(driver)
    finally:
        await asyncio.to_thread(driver.quit)
