"""Raw frames over a TLS stream (ALPN ``lg/1``, ``docs/protocol.md`` 2.6).

:class:`StreamConnection` is the asyncio protocol of one such connection:
it feeds what it reads to the hub, and writes what the hub gives it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from ..protocol.session import ServerSession
from ..server.hub import Hub

__all__ = ["StreamConnection"]

logger = logging.getLogger("lgserver.transport")


class StreamConnection(asyncio.Protocol):
    """One raw-frame connection.

    Args:
        hub: The hub that owns the sessions.
    """

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._transport: asyncio.Transport | None = None
        self._session: ServerSession | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses
        self._transport = cast(asyncio.Transport, transport)
        transport = self._transport
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else None
        self._session = self._hub.connection_made(self, address)

    def data_received(self, data: bytes) -> None:
        if self._session is not None:
            self._session = self._hub.data_received(self._session, data)

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        session, self._session = self._session, None
        self._transport = None
        if session is not None:
            self._hub.connection_lost(session)

    # -- the Link interface the hub writes through

    def write(self, data: bytes) -> None:
        """Queue bytes for the peer."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Flush what is queued and close; the session lets go of us."""
        transport, self._transport = self._transport, None
        self._session = None
        if transport is not None:
            transport.close()

    def peer(self) -> Any:
        """The peer's address, as the transport reports it."""
        if self._transport is None:
            return None
        return self._transport.get_extra_info("peername")
