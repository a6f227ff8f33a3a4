"""The protocol's own typed objects (``docs/protocol.md`` sections 3.4-6).

Their trait ids are fixed by the spec, below
:data:`~.codec.FIRST_APPLICATION_TRAIT`, so that a HELLO can be decoded
before any trait table has been exchanged. Fields are only ever added at
the end, with a default, so that older peers keep decoding them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = [
    "BUILTIN_TRAITS",
    "PROTOCOL_VERSION",
    "Call",
    "CallError",
    "ErrorCode",
    "Event",
    "Hello",
    "Result",
    "Resume",
    "Welcome",
]

PROTOCOL_VERSION = 1


class ErrorCode(IntEnum):
    """Codes of a failed call (section 5.3); close to their HTTP namesakes."""

    BAD_REQUEST = 400
    UNAUTHORIZED = 401
    FORBIDDEN = 403
    NOT_FOUND = 404
    CONFLICT = 409
    TOO_LARGE = 413
    RATE_LIMITED = 429
    INTERNAL = 500
    UNAVAILABLE = 503


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame of a client opening a new session (section 6.1).

    ``auth`` holds the credentials; its keys are the server's business.
    ``max_frame`` is the largest frame the client accepts; ``traits`` the
    client's trait table.
    """

    version: int
    build: str
    auth: dict[str, Any] | None
    max_frame: int
    traits: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Welcome:
    """The server's answer to HELLO or RESUME (section 6.2).

    ``last_seq`` is the last message the server received in order (always
    0 for a new session); ``heartbeat`` and ``grace`` are in seconds;
    ``traits`` is empty on a resume, where the first table stays in force.
    """

    session: str
    token: bytes
    resumed: bool
    last_seq: int
    max_frame: int
    heartbeat: float
    grace: float
    traits: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Resume:
    """First frame of a client taking its session back (section 6.4)."""

    version: int
    build: str
    token: bytes
    last_seq: int
    max_frame: int


@dataclass(frozen=True, slots=True)
class Call:
    """A request; answered by a :class:`Result` or :class:`CallError`."""

    id: int
    method: str
    params: Any = None


@dataclass(frozen=True, slots=True)
class Result:
    """The successful answer to the :class:`Call` with the same id."""

    id: int
    value: Any = None


@dataclass(frozen=True, slots=True)
class CallError:
    """The failed answer to the :class:`Call` with the same id.

    ``code`` is an :class:`ErrorCode` (or an application's own code from
    1000 on); ``message`` is for people, ``data`` for programs.
    """

    id: int
    code: int
    message: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, pushed without being asked for."""

    name: str
    data: Any = None


# (trait id, class, alias): section 3.4.
BUILTIN_TRAITS: tuple[tuple[int, type[Any], str], ...] = (
    (0, Hello, "lg.Hello"),
    (1, Welcome, "lg.Welcome"),
    (2, Resume, "lg.Resume"),
    (3, Call, "lg.Call"),
    (4, Result, "lg.Result"),
    (5, CallError, "lg.Error"),
    (6, Event, "lg.Event"),
)
