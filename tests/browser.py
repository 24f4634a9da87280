"""Headless Chromium for the browser tests (the system's /usr/bin/chromium; Playwright never downloads one),
with every request outside loopback refused and recorded."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from tests.helpers import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"blob", "data", "about"}
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"  # the README names this folder


def is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in LOCAL_SCHEMES or parsed.hostname in LOOPBACK


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def loopback_only(context) -> tuple[list[str], list[str]]:
    """Record every request of ``context`` and abort those leaving loopback; returns (seen, refused)."""
    seen, refused = [], []

    def guard(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.on("request", lambda request: seen.append(request.url))
    context.route("**/*", guard)
    return seen, refused


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
