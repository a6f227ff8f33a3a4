"""An asyncio client of lgserver over raw frames (ALPN ``lg/1``), a
WebSocket, or a WebTransport session over HTTP/3.

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
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    ProtocolNegotiated,
    QuicEvent,
    StopSendingReceived,
    StreamDataReceived,
    StreamReset,
)
from cryptography.hazmat.primitives import hashes
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

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
from .timers import Alarm

__all__ = ["Client", "RemoteCallError", "SessionClosed"]

logger = logging.getLogger("lgserver.client")

ALPN = "lg/1"
TRANSPORTS = ("lg/1", "websocket", "webtransport")
#: Seconds of silence after which a QUIC connection is given up.
QUIC_IDLE_TIMEOUT = 30.0
#: Seconds a closing WebTransport session waits for the server to end it.
QUIC_CLOSE_LINGER = 1.0
#: HTTP/3's "no error" (RFC 9114 section 8.1), closing a QUIC connection.
H3_NO_ERROR = 0x100


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


class _Carrier(Protocol):
    """What the client needs of a connection, whatever its transport."""

    ready: asyncio.Future[None]

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


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

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _WebSocketConnection(_Connection):
    """Frames over a WebSocket (``/ws`` over HTTP/1.1), one a message."""

    def __init__(self, client: Client, host: str, port: int) -> None:
        super().__init__(client)
        authority = f"[{host}]" if ":" in host else host
        # the server bounds what it sends by the frame limit of HELLO
        self.ws = ClientProtocol(
            parse_uri(f"wss://{authority}:{port}/ws"), max_size=None
        )
        self.message = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Response):
                if ws.handshake_exc is not None:
                    self._give_up(f"the WebSocket was refused ({event.status_code})")
                    return
                self.ready.set_result(None)
            elif isinstance(event, Frame) and event.opcode in (
                Opcode.BINARY,
                Opcode.CONT,
            ):
                self.message += event.data
                if event.fin:
                    message = bytes(self.message)
                    self.message.clear()
                    self.client._data_received(self, message, whole=True)
        if ws.parser_exc is not None and not self.ready.done():
            self._give_up("the WebSocket broke down")
        self._flush()

    def _flush(self) -> None:
        """Write what the protocol has to send (pongs, the closing
        handshake); close the connection once it says so."""
        if self.transport is None:
            return
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self.transport.close()
                return
        if self.ws.state is State.CLOSED:
            self.transport.close()

    def _give_up(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> None:
        if self.transport is not None and self.ws.state is State.OPEN:
            for frame in split_frames(data):
                self.ws.send_binary(frame)
            self.transport.write(b"".join(self.ws.data_to_send()))


class _WebTransportConnection(QuicConnectionProtocol):
    """Frames over one bidirectional stream of a WebTransport session
    (``/wt`` over HTTP/3), as over a TLS stream.

    With ``pin`` (a SHA-256 of the certificate's DER) the certificate is
    checked against it once the handshake is done, before anything is
    sent, as a browser's ``serverCertificateHashes`` does."""

    def __init__(
        self, quic: QuicConnection, client: Client, authority: str, pin: bytes | None
    ) -> None:
        super().__init__(quic)
        self.client = client
        self.authority = authority
        self.pin = pin
        self.ready: asyncio.Future[None] = self._loop.create_future()
        self.h3: H3Connection | None = None
        self.session_id: int | None = None
        self.stream_id: int | None = None
        self.aborted = False
        self.gone = False
        self._closer: asyncio.TimerHandle | None = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated):
            self.h3 = H3Connection(self._quic, enable_webtransport=True)
        elif isinstance(event, HandshakeCompleted):
            self._open_session()
        elif isinstance(event, ConnectionTerminated):
            self._gone(f"the QUIC connection ended: {event.reason_phrase}")
            self._loop.call_soon(self._release)
            return
        elif isinstance(
            event, StreamReset | StopSendingReceived
        ) and event.stream_id in (self.session_id, self.stream_id):
            self._ended_by_server()
        elif (
            isinstance(event, StreamDataReceived) and event.stream_id == self.stream_id
        ):
            # what the server sends on a stream we opened has no stream
            # header, and HTTP/3 would read it as frames: it is ours alone
            self._stream_data(event.data, event.end_stream)
            return
        if self.h3 is not None:
            for h3_event in self.h3.handle_event(event):
                self._h3_event(h3_event)

    def error_received(self, exc: Exception) -> None:
        # an ICMP error: nothing listens at the address
        self._gone(f"the server cannot be reached: {exc}")
        self.abort()

    def _open_session(self) -> None:
        if self.pin is not None:
            # the certificate the handshake was made with
            certificate = self._quic.tls._peer_certificate
            if (
                certificate is None
                or certificate.fingerprint(hashes.SHA256()) != self.pin
            ):
                self._gone("the server's certificate does not match the pin")
                self._quic.close(reason_phrase="certificate not pinned")
                self.transmit()
                return
        assert self.h3 is not None
        self.session_id = self._quic.get_next_available_stream_id()
        self.h3.send_headers(
            self.session_id,
            [
                (b":method", b"CONNECT"),
                (b":protocol", b"webtransport"),
                (b":scheme", b"https"),
                (b":authority", self.authority.encode()),
                (b":path", b"/wt"),
            ],
        )

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, HeadersReceived) and event.stream_id == self.session_id:
            status = dict(event.headers).get(b":status", b"")
            if status == b"200" and self.h3 is not None:
                self.stream_id = self.h3.create_webtransport_stream(event.stream_id)
                if not self.ready.done():
                    self.ready.set_result(None)
            else:
                self._gone(f"the WebTransport session was refused ({status.decode()})")
                self._quic.close(error_code=H3_NO_ERROR)
                self.transmit()
        elif (
            isinstance(event, DataReceived)
            and event.stream_id == self.session_id
            and event.stream_ended
        ):
            self._ended_by_server()

    def _stream_data(self, data: bytes, ended: bool) -> None:
        if data:
            self.client._data_received(self, data, whole=False)
        if ended:
            self._ended_by_server()

    def _ended_by_server(self) -> None:
        self._quic.close(error_code=H3_NO_ERROR)
        self.transmit()
        self._gone("the server ended the session")

    def _gone(self, why: str) -> None:
        if self.gone:
            return
        self.gone = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        self.client._connection_lost(self)

    def _release(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
        if self._transport is not None:
            self._transport.close()

    def transmit(self) -> None:
        if not self.aborted:
            super().transmit()

    def send(self, data: bytes) -> None:
        if self.stream_id is not None and not self.gone:
            self._quic.send_stream_data(self.stream_id, data)
            self.transmit()

    def close(self, error_code: int = H3_NO_ERROR, reason_phrase: str = "") -> None:
        """End the stream, and the QUIC connection (with ``error_code``)
        once the server has ended the session or a moment has passed."""
        if self.aborted or self._closer is not None:
            return
        if self.stream_id is not None and not self.gone:
            self._quic.send_stream_data(self.stream_id, b"", end_stream=True)
            self._closer = self._loop.call_later(
                QUIC_CLOSE_LINGER, super().close, error_code, reason_phrase
            )
            self.transmit()
        else:
            super().close(error_code, reason_phrase)

    def abort(self) -> None:
        """Stop at once, telling the server nothing."""
        if self.aborted:
            return
        self.aborted = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._release()
        self._gone("the connection was cut")


class Client:
    """A session with an lgserver, kept alive across dropped connections.

    Args:
        host: The server's address.
        port: Its TLS port.
        registry: The client's message classes.
        build: The client's build, announced in HELLO.
        auth: Credentials for HELLO.
        ssl_context: The TLS settings; the ALPN of the transport is set on
            it. Over WebTransport its CA certificates and whether it
            verifies at all are what counts; without it (and without
            ``certificate_hash``) the system's CAs are trusted.
        server_hostname: The name to check the certificate against.
        transport: ``"lg/1"`` for raw frames, ``"websocket"`` for frames
            over a WebSocket, ``"webtransport"`` for frames over a
            WebTransport stream (HTTP/3 on the same port number, over UDP).
        certificate_hash: Over WebTransport: the SHA-256 of the server
            certificate's DER, trusted instead of a CA (a development
            certificate, as pages pin it).
        config: Session settings (frame limit, handshake timeout); by
            default an acknowledgement waits up to 150 ms.

    Raises:
        ValueError: An unknown transport, no ``ssl_context`` for a TLS
            transport, or a ``certificate_hash`` outside WebTransport.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: Registry,
        build: str,
        auth: dict[str, Any] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        config: SessionConfig | None = None,
        transport: str = "lg/1",
        certificate_hash: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}")
        if transport != "webtransport":
            if ssl_context is None:
                raise ValueError(f"{transport} needs an ssl_context")
            if certificate_hash is not None:
                raise ValueError("a certificate hash is pinned over WebTransport only")
            ssl_context.set_alpn_protocols(
                [ALPN if transport == "lg/1" else "http/1.1"]
            )
        if certificate_hash is not None and len(certificate_hash) != 32:
            raise ValueError("a certificate hash is a SHA-256: 32 bytes")
        self.transport = transport
        self.host = host
        self.port = port
        # acknowledgements wait, within the protocol's 200 ms, for a call to
        # ride along with, and one covers every message received meanwhile
        config = config or SessionConfig(ack_delay=0.15)
        self.session = ClientSession(registry, build=build, auth=auth, config=config)
        self._ssl = ssl_context
        self._pin = certificate_hash
        self._server_hostname = server_hostname
        self._clock = clock
        self._connection: _Carrier | None = None
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._inbox: asyncio.Queue[MessageReceived | SessionEnded] = asyncio.Queue()
        self._alarm = Alarm(self._on_timer, clock)
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
        if self._connection is not None:
            self._connection.close()

    def drop_connection(self) -> None:
        """Cut the connection abruptly, as a network failure would."""
        if self._connection is not None:
            self._connection.abort()

    # -- the machinery

    def _check_open(self) -> None:
        if self.ended is not None:
            raise SessionClosed(self.ended.code, self.ended.reason)

    async def _open_connection(self) -> None:
        connection: _Carrier
        if self.transport == "webtransport":
            connection = await self._open_webtransport()
        else:
            connection = await self._open_stream()
        try:
            await connection.ready
        except ConnectionError:
            connection.close()
            raise
        self._connection = connection
        self.session.connection_made(self._clock())
        self._after()

    async def _open_stream(self) -> _Connection:
        loop = asyncio.get_running_loop()
        host = self._server_hostname or self.host
        make: Callable[[], _Connection]
        if self.transport == "websocket":
            make = lambda: _WebSocketConnection(self, host, self.port)  # noqa: E731
        else:
            make = lambda: _Connection(self)  # noqa: E731
        _, connection = await loop.create_connection(
            make,
            self.host,
            self.port,
            ssl=self._ssl,
            server_hostname=self._server_hostname,
        )
        return connection

    async def _open_webtransport(self) -> _WebTransportConnection:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        name = self._server_hostname or self.host
        quic = QuicConnection(configuration=self._quic_configuration(name))
        authority = f"{name}:{self.port}"
        local = "::" if family == socket.AF_INET6 else "0.0.0.0"
        _, connection = await loop.create_datagram_endpoint(
            lambda: _WebTransportConnection(quic, self, authority, self._pin),
            local_addr=(local, 0),
            family=family,
        )
        connection.connect(address)
        # a server that drops every packet would keep us waiting for the
        # QUIC idle timeout; TimeoutError is an OSError, and retried
        timeout = self.session.config.handshake_timeout
        loop.call_later(timeout, self._too_slow, connection)
        return connection

    @staticmethod
    def _too_slow(connection: _WebTransportConnection) -> None:
        if not connection.ready.done():
            connection.ready.set_exception(TimeoutError("no WebTransport session"))
            connection.abort()

    def _quic_configuration(self, name: str) -> QuicConfiguration:
        configuration = QuicConfiguration(
            alpn_protocols=H3_ALPN,
            is_client=True,
            idle_timeout=QUIC_IDLE_TIMEOUT,
            max_datagram_frame_size=65536,
            server_name=name,
        )
        context = self._ssl
        if self._pin is not None or (
            context is not None and context.verify_mode == ssl.CERT_NONE
        ):
            configuration.verify_mode = ssl.CERT_NONE
        elif context is not None:
            authorities = context.get_ca_certs(binary_form=True)
            if authorities:
                configuration.cadata = "".join(
                    ssl.DER_cert_to_PEM_cert(der) for der in authorities
                ).encode()
        return configuration
        self.session.connection_made(self._clock())
        self._after()

    def _data_received(self, connection: _Carrier, data: bytes, whole: bool) -> None:
        if connection is self._connection:
            if whole:
                self.session.receive_message(data, self._clock())
            else:
                self.session.receive_data(data, self._clock())
            self._after()

    def _connection_lost(self, connection: _Carrier) -> None:
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
        self._alarm.arm(self.session.get_timer())
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
                connection, self._connection = self._connection, None
                connection.abort()
            self._not_welcomed("no WELCOME came in time")
        elif isinstance(event, SessionEnded):
            self.ended = event
            self._alarm.cancel()
            failure = SessionClosed(event.code, event.reason)
            for future in self._calls.values():
                if not future.done():
                    future.set_exception(failure)
            if self._established is not None and not self._established.done():
                self._established.set_exception(failure)
            self._inbox.put_nowait(event)
            if self._connection is not None:
                self._connection.close()

    def _not_welcomed(self, why: str) -> None:
        established = self._established
        if (
            self.session.welcome is None
            and established is not None
            and not established.done()
        ):
            established.set_exception(ConnectionError(why))

    def _on_timer(self) -> None:
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
