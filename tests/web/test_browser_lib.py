"""The JavaScript protocol library in a real browser: headless Chromium
loads the ES modules unchanged, through an import map, and runs the shared
vectors (``clients/web/testing/browser.html``)."""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from playwright.sync_api import sync_playwright

from .chromium import ARGS, CHROMIUM, gather_errors

ROOT = Path(__file__).resolve().parents[2]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
    }

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_shared_vectors_pass_in_chromium(base_url: str) -> None:
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=ARGS,
        )
        try:
            page = browser.new_page()
            gather_errors(page, errors)
            page.goto(f"{base_url}/clients/web/testing/browser.html")
            result = page.locator("#result")
            result.filter(has_text=re.compile("passed")).wait_for(timeout=60_000)
            summary = result.inner_text()
            log = page.locator("#log").inner_text()
        finally:
            browser.close()

    match = re.fullmatch(r"(\d+) passed, (\d+) failed", summary.strip())
    assert match, summary
    passed, failed = int(match[1]), int(match[2])
    assert failed == 0, log
    assert passed > 400
    assert errors == []
