"""Errors of the protocol core and the close codes they map to.

Every exception raised by :mod:`lgserver.protocol` derives from
:class:`ProtocolError`. The hierarchy says who was at fault:

* :class:`LocalProtocolError`: our own caller misused the API (sending on a
  closed session, encoding a value the codec cannot carry, a message larger
  than the peer accepts). Fix the calling code; nothing goes on the wire.
* :class:`RemoteProtocolError`: the peer broke the protocol. Each one
  carries the :class:`CloseCode` that ends the connection and a short reason
  safe to send to the peer: it never holds internals.

Subclasses of :class:`RemoteProtocolError` exist where a caller may want to
tell the cases apart; each fixes its close code.

The close codes are those of ``docs/protocol.md`` section 7.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "CloseCode",
    "DecodeError",
    "FrameTooLarge",
    "LimitExceeded",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "UnknownTrait",
]


class CloseCode(IntEnum):
    """Why a session or connection ended (``docs/protocol.md`` section 7).

    Codes 1000-1999 are about the wire; codes 4000-4999 about the session
    and the server's policy.
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_VERSION = 1003
    FRAME_TOO_LARGE = 1004
    MALFORMED_FRAME = 1005
    UNKNOWN_KIND = 1006
    INVALID_DATA = 1007
    UNKNOWN_TRAIT = 1008
    LIMIT_EXCEEDED = 1009
    HANDSHAKE_TIMEOUT = 1010
    INTERNAL_ERROR = 1011
    TRUNCATED_FRAME = 1012
    HEARTBEAT_TIMEOUT = 1013
    RATE_LIMITED = 1014
    REPLAY_OVERFLOW = 1015

    AUTH_FAILED = 4000
    RESUME_REJECTED = 4001
    SESSION_EXPIRED = 4002
    SESSION_REPLACED = 4003
    BUILD_REFUSED = 4004
    ORIGIN_REFUSED = 4005
    TOO_MANY_CONNECTIONS = 4006
    CAPTCHA_REQUIRED = 4007


class ProtocolError(Exception):
    """Root of every error raised by the protocol core."""


class LocalProtocolError(ProtocolError):
    """The calling code misused the API; nothing was sent to the peer."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    Args:
        reason: A short explanation, safe to send to the peer.
        code: The close code that ends the connection.
    """

    default_code = CloseCode.PROTOCOL_ERROR

    def __init__(self, reason: str, code: CloseCode | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = self.default_code if code is None else code


class FrameTooLarge(RemoteProtocolError):
    """A frame header announced more bytes than the receiver accepts."""

    default_code = CloseCode.FRAME_TOO_LARGE


class DecodeError(RemoteProtocolError):
    """A payload is not a valid encoded value (``docs/protocol.md`` s. 3)."""

    default_code = CloseCode.INVALID_DATA


class UnknownTrait(DecodeError):
    """A typed object refers to a trait the sender never declared."""

    default_code = CloseCode.UNKNOWN_TRAIT


class LimitExceeded(DecodeError):
    """A value nests too deep or holds too long a string, list or map."""

    default_code = CloseCode.LIMIT_EXCEEDED
