"""Events a session reports to its application (``docs/protocol.md`` s. 6).

The adapter that drives a session reads them with
:meth:`~.session.Session.next_event` after each call that feeds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .messages import Hello, Resume, Welcome

__all__ = [
    "ConnectionLost",
    "HelloReceived",
    "MediaReceived",
    "MessageReceived",
    "ResumeRequested",
    "SessionEnded",
    "SessionEstablished",
    "SessionEvent",
    "SessionResumed",
]


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Base class of every session event."""


@dataclass(frozen=True, slots=True)
class HelloReceived(SessionEvent):
    """A server connection received HELLO: accept or reject it."""

    hello: Hello


@dataclass(frozen=True, slots=True)
class ResumeRequested(SessionEvent):
    """A server connection received RESUME: find the session it names."""

    resume: Resume


@dataclass(frozen=True, slots=True)
class SessionEstablished(SessionEvent):
    """A client's HELLO was welcomed: the session is open."""

    session_id: str
    welcome: Welcome


@dataclass(frozen=True, slots=True)
class SessionResumed(SessionEvent):
    """The session is back on a new connection.

    ``replayed`` counts the messages this side sent again.
    """

    replayed: int


@dataclass(frozen=True, slots=True)
class MessageReceived(SessionEvent):
    """A message for the application; ``seq`` is 0 for a volatile one."""

    value: Any
    channel: int
    seq: int


@dataclass(frozen=True, slots=True)
class MediaReceived(SessionEvent):
    """A media chunk (section 2.4); ``data`` is the opaque payload."""

    track: int
    flags: int
    timestamp: int
    group: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ConnectionLost(SessionEvent):
    """The session has no connection any more and waits for a resume.

    ``code`` is None when the transport reported the loss, or the reason
    the session gave the connection up (HEARTBEAT_TIMEOUT,
    HANDSHAKE_TIMEOUT); the adapter then closes the transport.
    """

    code: int | None


@dataclass(frozen=True, slots=True)
class SessionEnded(SessionEvent):
    """The session is over; the adapter flushes what is left and closes.

    ``remote`` tells whether the peer ended it (with a CLOSE frame).
    """

    code: int
    reason: str
    remote: bool
