"""A report page opened in a real headless browser: Debian's Chromium, driven by Playwright.

Playwright's own browser download is not used (no network here or in CI): it
launches the system's ``chromium`` (``apt-get install chromium``; .ci/run installs
it when missing). Run as a script it takes the screenshot committed as
docs/report-demo.png::

    .venv/bin/python tests/browser.py outputs/tiny-vlm/demo/report/report.html docs/report-demo.png
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOT_HEIGHT = 3200
"""The top of the page the screenshot keeps, in CSS pixels."""


@dataclass
class Loaded:
    """What the browser saw of a page."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    image_widths: list[int] = field(default_factory=list)
    """naturalWidth of every <img>: 0 when it did not load."""
    figures: list[str] = field(default_factory=list)
    """The PNG file each <figure data-figure=…> names."""
    scripts: int = 0


def chromium() -> str | None:
    """The system Chromium, or None where it is not installed."""
    return CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")


def open_page(page: Path, screenshot: Path | None = None) -> Loaded:
    """Load ``page`` from its file, note every error, optionally take a screenshot."""
    from playwright.sync_api import sync_playwright

    loaded = Loaded()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium())
        try:
            tab = browser.new_page(viewport=VIEWPORT)
            tab.on("console", lambda m: m.type == "error" and loaded.console_errors.append(m.text))
            tab.on("pageerror", lambda e: loaded.console_errors.append(str(e)))
            tab.on("requestfailed", lambda r: loaded.failed_requests.append(r.url))
            tab.goto(page.resolve().as_uri(), wait_until="load")
            loaded.image_widths = tab.evaluate(
                "Array.from(document.images, image => image.complete ? image.naturalWidth : 0)"
            )
            loaded.figures = tab.evaluate(
                "Array.from(document.querySelectorAll('figure[data-figure]'),"
                " f => f.dataset.figure)"
            )
            loaded.scripts = tab.evaluate("document.scripts.length")
            if screenshot is not None:
                height = min(SCREENSHOT_HEIGHT, tab.evaluate("document.body.scrollHeight"))
                clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height}
                tab.screenshot(path=str(screenshot), clip=clip, full_page=True)
        finally:
            browser.close()
    return loaded


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/browser.py REPORT.html SCREENSHOT.png")
    seen = open_page(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{sys.argv[2]}: {len(seen.figures)} figures, {len(seen.image_widths)} images")
