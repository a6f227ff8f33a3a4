"""An asyncio client of lgserver over raw frames (ALPN ``lg/1``).

:class:`Client` opens a session, calls methods and receives messages. When
its connection drops it reconnects and resumes by itself, within the grace
window the server announced, so its user sees no more than a delay; only
when the session ends does :meth:`Client.receive` or :meth:`Client.call`
raise :class:`SessionClosed`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, cast

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
)
from wsproto.utilities import ProtocolError as WebSocketError

from .protocol.codec import Registry
from .protocol.errors import CloseCode
from .protocol.events import (
    ConnectionLost,
    MessageReceived,
    SessionEnded,
    SessionEstablished,
)
from .protocol.frames import split_frames
from .protocol.messages import Call, CallError, Result
from .protocol.session import ClientSession, SessionConfig, SessionState

__all__ = ["Client", "RemoteCallError", "SessionClosed"]

logger = logging.getLogger("lgserver.client")

ALPN = "lg/1"


class SessionClosed(Exception):
    """The session ended; ``code`` and ``reason`` say why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"session closed: {code} {reason}")
        self.code = code
        self.reason = reason


class RemoteCallError(Exception):
    """The server answered a call with an error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.data = data


class _Connection(asyncio.Protocol):
    """Raw frames over TLS (ALPN ``lg/1``)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses
        self.transport = cast(asyncio.Transport, transport)
        self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.client._data_received(self, data, whole=False)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("connection lost"))
        self.client._connection_lost(self)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)


class _WebSocketConnection(_Connection):
    """Frames over a WebSocket (``/ws`` over HTTP/1.1), one a message."""

    def __init__(self, client: Client, host: str) -> None:
        super().__init__(client)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.host = host
        self.message = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.ws.send(Request(host=self.host, target="/ws")))

    def data_received(self, data: bytes) -> None:
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                self._event(event)
        except WebSocketError:
            self._give_up("the WebSocket broke down")

    def _event(self, event: object) -> None:
        if isinstance(event, AcceptConnection):
            self.ready.set_result(None)
        elif isinstance(event, RejectConnection):
            self._give_up(f"the WebSocket was refused ({event.status_code})")
        elif isinstance(event, BytesMessage):
            self.message += event.data
            if event.message_finished:
                message = bytes(self.message)
                self.message.clear()
                self.client._data_received(self, message, whole=True)
        elif isinstance(event, Ping) and self.transport is not None:
            self.transport.write(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection) and self.transport is not None:
            self.transport.close()

    def _give_up(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(
                b"".join(
                    self.ws.send(BytesMessage(data=frame))
                    for frame in split_frames(data)
                )
            )


class Client:
    """A session with an lgserver, kept alive across dropped connections.

    Args:
        host: The server's address.
        port: Its TLS port.
        registry: The client's message classes.
        build: The client's build, announced in HELLO.
        auth: Credentials for HELLO.
        ssl_context: The TLS settings; the ALPN of the transport is set on it.
        server_hostname: The name to check the certificate against.
        transport: ``"lg/1"`` for raw frames, ``"websocket"`` for frames
            over a WebSocket (what a browser uses).
        config: Session settings (frame limit, handshake timeout).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: Registry,
        build: str,
        auth: dict[str, Any] | None = None,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        config: SessionConfig | None = None,
        transport: str = "lg/1",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if transport not in ("lg/1", "websocket"):
            raise ValueError(f"unknown transport {transport!r}")
        self.transport = transport
        self.host = host
        self.port = port
        # acknowledgements wait a moment to ride along with the next call
        config = config or SessionConfig(ack_delay=0.02)
        self.session = ClientSession(registry, build=build, auth=auth, config=config)
        ssl_context.set_alpn_protocols([ALPN if transport == "lg/1" else "http/1.1"])
        self._ssl = ssl_context
        self._server_hostname = server_hostname
        self._clock = clock
        self._connection: _Connection | None = None
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._inbox: asyncio.Queue[MessageReceived | SessionEnded] = asyncio.Queue()
        self._timer: asyncio.TimerHandle | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._established: asyncio.Future[None] | None = None
        self.ended: SessionEnded | None = None
        self.reconnects = 0

    async def connect(self) -> None:
        """Open the session.

        Raises:
            SessionClosed: The server refused the HELLO.
            OSError: The server cannot be reached, or the connection ended
                (ConnectionError) before the server answered.
        """
        self._established = asyncio.get_running_loop().create_future()
        await self._open_connection()
        await self._established

    async def call(self, method: str, params: Any = None) -> Any:
        """Call a method of the server and return its result.

        Raises:
            RemoteCallError: The server answered with an error.
            SessionClosed: The session ended before the answer.
        """
        self._check_open()
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        try:
            self.session.send(Call(call_id, method, params))
            self._after()
            return await future
        finally:
            self._calls.pop(call_id, None)

    def send(self, value: Any, *, channel: int = 0, volatile: bool = False) -> int:
        """Send a message; returns its sequence number (0 if volatile)."""
        self._check_open()
        seq = self.session.send(value, channel=channel, volatile=volatile)
        self._after()
        return seq

    async def receive(self) -> MessageReceived:
        """The next message from the server that is not an answer to a call.

        Raises:
            SessionClosed: The session has ended.
        """
        item = await self._inbox.get()
        if isinstance(item, SessionEnded):
            self._inbox.put_nowait(item)
            raise SessionClosed(item.code, item.reason)
        return item

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """End the session and close the connection."""
        if self.session.state is not SessionState.CLOSED:
            self.session.close(code, reason)
            self._after()
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        connection = self._connection
        if connection is not None and connection.transport is not None:
            connection.transport.close()

    def drop_connection(self) -> None:
        """Cut the connection abruptly, as a network failure would."""
        connection = self._connection
        if connection is not None and connection.transport is not None:
            connection.transport.abort()

    # -- the machinery

    def _check_open(self) -> None:
        if self.ended is not None:
            raise SessionClosed(self.ended.code, self.ended.reason)

    async def _open_connection(self) -> None:
        loop = asyncio.get_running_loop()
        host = self._server_hostname or self.host
        make: Callable[[], _Connection]
        if self.transport == "websocket":
            make = lambda: _WebSocketConnection(self, host)  # noqa: E731
        else:
            make = lambda: _Connection(self)  # noqa: E731
        _, connection = await loop.create_connection(
            make,
            self.host,
            self.port,
            ssl=self._ssl,
            server_hostname=self._server_hostname,
        )
        try:
            await connection.ready
        except ConnectionError:
            if connection.transport is not None:
                connection.transport.close()
            raise
        self._connection = connection
        self.session.connection_made(self._clock())
        self._after()

    def _data_received(self, connection: _Connection, data: bytes, whole: bool) -> None:
        if connection is self._connection:
            if whole:
                self.session.receive_message(data, self._clock())
            else:
                self.session.receive_data(data, self._clock())
            self._after()

    def _connection_lost(self, connection: _Connection) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        if self.session.connected:
            self.session.connection_lost(self._clock())
        self._after()
        self._not_welcomed("the connection ended before WELCOME")

    def _after(self) -> None:
        connection = self._connection
        data = self.session.data_to_send()
        if data and connection is not None:
            connection.send(data)
        while (event := self.session.next_event()) is not None:
            self._handle(event)
        self._schedule()
        if (
            self._connection is None
            and self.session.state in (SessionState.DETACHED, SessionState.IDLE)
            and self.session.welcome is not None
            and self._reconnecting is None
        ):
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    def _handle(self, event: object) -> None:
        if isinstance(event, MessageReceived):
            value = event.value
            if isinstance(value, Result | CallError):
                future = self._calls.get(value.id)
                if future is not None and not future.done():
                    if isinstance(value, Result):
                        future.set_result(value.value)
                    else:
                        error = RemoteCallError(value.code, value.message, value.data)
                        future.set_exception(error)
                    return
            self._inbox.put_nowait(event)
        elif isinstance(event, SessionEstablished):
            if self._established is not None and not self._established.done():
                self._established.set_result(None)
        elif isinstance(event, ConnectionLost):
            if event.code is not None and self._connection is not None:
                transport = self._connection.transport
                self._connection = None
                if transport is not None:
                    transport.abort()
            self._not_welcomed("no WELCOME came in time")
        elif isinstance(event, SessionEnded):
            self.ended = event
            failure = SessionClosed(event.code, event.reason)
            for future in self._calls.values():
                if not future.done():
                    future.set_exception(failure)
            if self._established is not None and not self._established.done():
                self._established.set_exception(failure)
            self._inbox.put_nowait(event)
            if self._connection is not None and self._connection.transport:
                self._connection.transport.close()

    def _not_welcomed(self, why: str) -> None:
        established = self._established
        if (
            self.session.welcome is None
            and established is not None
            and not established.done()
        ):
            established.set_exception(ConnectionError(why))

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.session.get_timer()
        if deadline is not None:
            delay = max(0.0, deadline - self._clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.session.handle_timer(self._clock())
        self._after()

    async def _reconnect(self) -> None:
        # try again and again until a connection holds or the session ends
        # (the session's own grace timer ends it)
        delay = 0.05
        try:
            while self.session.state is not SessionState.CLOSED:
                if self._connection is not None:
                    return
                try:
                    await self._open_connection()
                    self.reconnects += 1
                    return
                except OSError as exc:
                    logger.debug("reconnect failed: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        finally:
            self._reconnecting = None
