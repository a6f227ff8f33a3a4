"""Debian's Chromium as the browser tests start it, and what its pages
report going wrong."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
#: Arguments of every launch: no sandbox (tests may run as root), no GPU,
#: no requests of the browser's own.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: Added where a customer's site and lgserver are both on loopback: Chromium
#: would refuse the site's requests to lgserver as local-network requests,
#: which an lgserver on a public address never gets.
SITE_ARGS = [
    *ARGS,
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests",
]


def gather_errors(page: Any, errors: list[str]) -> None:
    """Append to ``errors`` every uncaught exception and every console
    error of ``page`` (Playwright's async or sync page)."""
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if message.type == "error" else None
        ),
    )
