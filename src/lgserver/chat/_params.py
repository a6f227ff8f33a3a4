"""The checks of what chat clients send: each refuses a bad value with
``BAD_REQUEST`` and a message naming the parameter."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from ..mail import InvalidAddress, check_address
from ..protocol.messages import ErrorCode
from ..server.hub import CallFailed

__all__ = [
    "MAX_URL",
    "bad",
    "email",
    "language",
    "name",
    "number",
    "optional_text",
    "params",
    "plain_text",
    "text",
    "url",
]

MAX_URL = 2048
MAX_KEY = 64
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,4}")


def bad(message: str) -> CallFailed:
    """A ``BAD_REQUEST`` failure saying ``message``."""
    return CallFailed(ErrorCode.BAD_REQUEST, message)


def params(raw: object, required: set[str], optional: set[str]) -> dict[str, Any]:
    """The parameters of a call: a map with the ``required`` keys and no
    keys beyond ``optional`` (a null value counts as absent)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad("params must be a map")
    for key in raw:
        if key not in required and key not in optional:
            raise bad(f"unknown parameter {key!r}")
    for key in required:
        if raw.get(key) is None:
            raise bad(f"missing parameter {key!r}")
    return {key: value for key, value in raw.items() if value is not None}


# control characters (Unicode category Cc) and lone surrogates (Cs)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# the same, but for line feeds and tabs
_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _has_controls(value: str, *, lines: bool) -> bool:
    found = (_CONTROLS_BUT_LINES if lines else _CONTROLS).search(value)
    return found is not None


def name(value: object, what: str) -> str:
    """An identifier: a chat id, a department's or an operator's name, a
    message id: 1 to 64 printable characters."""
    if not isinstance(value, str):
        raise bad(f"{what} must be a string")
    if not 1 <= len(value) <= MAX_KEY or not value.isprintable():
        raise bad(f"{what} must be 1 to {MAX_KEY} printable characters")
    return value


def text(value: object, what: str, limit: int) -> str:
    """Text of a message: 1 to ``limit`` characters, not only blanks,
    line breaks and tabs allowed but no other control character."""
    if not isinstance(value, str):
        raise bad(f"{what} must be a string")
    if len(value) > limit:
        raise bad(f"{what} is longer than {limit} characters")
    if not value.strip():
        raise bad(f"{what} must not be empty")
    if _has_controls(value, lines=True):
        raise bad(f"{what} holds a control character")
    return value


def plain_text(value: object, what: str, limit: int) -> str:
    """One line of text (a name, a reason) of up to ``limit`` characters,
    possibly empty; blanks around it are dropped."""
    if not isinstance(value, str):
        raise bad(f"{what} must be a string")
    if len(value) > limit:
        raise bad(f"{what} is longer than {limit} characters")
    if _has_controls(value, lines=False):
        raise bad(f"{what} holds a control character")
    return value.strip()


def optional_text(value: object, what: str, limit: int) -> str:
    """:func:`plain_text`, or empty when absent."""
    return "" if value is None else plain_text(value, what, limit)


def url(value: object, what: str) -> str:
    """An absolute ``http`` or ``https`` URL with a host."""
    if not isinstance(value, str):
        raise bad(f"{what} must be a string")
    if len(value) > MAX_URL or _has_controls(value, lines=False) or " " in value:
        raise bad(f"{what} is not a URL")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise bad(f"{what} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad(f"{what} must be an http or https URL")
    return value


def email(value: object, what: str) -> str:
    """An e-mail address lgserver can send to."""
    if not isinstance(value, str):
        raise bad(f"{what} must be a string")
    try:
        return check_address(value).addr_spec
    except InvalidAddress as exc:
        raise bad(f"{what}: {exc}") from None


def language(value: object) -> str:
    """A language tag such as ``en`` or ``pt-BR``."""
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        raise bad("language must be a language tag such as 'en' or 'pt-BR'")
    return value


def number(value: object, what: str, low: float, high: float) -> float:
    """A number greater than ``low`` and at most ``high``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"{what} must be a number")
    if not (math.isfinite(value) and low < value <= high):
        raise bad(f"{what} must be more than {low:g} and at most {high:g}")
    return float(value)
