"""What a browser page reports going wrong, gathered for a test to check."""

from __future__ import annotations

from typing import Any


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
