"""Headless Debian Chromium under Selenium, as bench/playground_shots.py and the
playground's tests (tests/app/test_playground_browser.py) drive it: never a
browser a tool downloads, and no background traffic towards the closed network."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

from selenium import webdriver

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def installed() -> bool:
    return bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))


def chromium(profile: Path, width: int = 1280, height: int = 1100) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))


def screenshot(driver: webdriver.Chrome, path: Path, element_id: str | None = None) -> Path:
    """The whole page (or the full-width band of one element), not only what the
    window shows."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    box = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
    if element_id is not None:  # full width: capturing beyond the window re-lays the page out
        box |= driver.execute_script(
            "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
            "return {y: Math.max(0, r.top + scrollY - 8), height: r.height + 16};",
            element_id,
        )
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"captureBeyondViewport": True, "clip": {**box, "scale": 1}}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
