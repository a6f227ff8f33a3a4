"""WebTransport over HTTP/3 on UDP, at the port number of the TLS listener
(``docs/protocol.md`` section 2.7).

A browser sends an extended CONNECT (``:protocol`` ``webtransport``) for
``/wt``; the page's Origin is checked as for a WebSocket. Once the
session is accepted the client opens one bidirectional stream, and that
stream carries the lgserver byte stream exactly as a TLS stream does under
ALPN ``lg/1``: its bytes feed the session the hub gives it.

Unidirectional streams and datagrams are reserved for media. They are
negotiated (H3 datagrams are on) but not used yet: an incoming
unidirectional stream is stopped with :attr:`StreamRefusal.RESERVED`, a
datagram is dropped. A second bidirectional stream is refused with
:attr:`StreamRefusal.ONE_STREAM`, and a second CONNECT on the same QUIC
connection with status 429: one QUIC connection carries one session.

Closing takes two steps, so that the last frames the hub wrote (a CLOSE,
most often) reach the peer: the stream ends first (FIN), and
:data:`CLOSE_LINGER` seconds later, if the peer has not closed by then,
the WebTransport session is closed with a CLOSE_WEBTRANSPORT_SESSION
capsule and the QUIC connection after it. A peer that goes away (the QUIC
connection ends or times out, the stream or the session is reset or
finished) is a lost connection for the hub: the session waits for a
resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aioquic._buffer import Buffer
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import (
    DatagramReceived,
    DataReceived,
    H3Event,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.h3.exceptions import H3Error
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress, QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    ProtocolNegotiated,
    QuicEvent,
    StopSendingReceived,
    StreamReset,
)
from aioquic.quic.packet import pull_quic_header

from ..protocol.session import ServerSession
from ..server.hub import Hub
from .http import Response, Site

__all__ = [
    "CLOSE_LINGER",
    "IDLE_TIMEOUT",
    "PATH",
    "StreamRefusal",
    "WebTransportServer",
    "WebTransportSession",
    "close_session_capsule",
    "serve_webtransport",
    "webtransport_error_code",
]

logger = logging.getLogger("lgserver.transport")

#: Where browsers open a WebTransport session.
PATH = "/wt"
#: Seconds of silence after which a QUIC connection is given up. Sessions
#: have heartbeats of their own, far more frequent.
IDLE_TIMEOUT = 30.0
#: Seconds between the end of the stream and the close of the session and
#: its QUIC connection, for the peer to read the last frames.
CLOSE_LINGER = 1.0
#: The largest QUIC DATAGRAM frame accepted; WebTransport needs the
#: extension negotiated, even while datagrams are dropped.
MAX_DATAGRAM_FRAME_SIZE = 65536
#: The capsule that closes a WebTransport session
#: (draft-ietf-webtrans-http3, section 5).
CLOSE_WEBTRANSPORT_SESSION = 0x2843
#: The longest reason a CLOSE_WEBTRANSPORT_SESSION capsule may carry.
MAX_CLOSE_REASON = 1024

# HTTP/3 error codes (RFC 9114 section 8.1).
H3_NO_ERROR = 0x100
# The first code of the HTTP/3 error space kept for WebTransport streams.
_WEBTRANSPORT_ERROR_BASE = 0x52E4A40FA8DB


class StreamRefusal(IntEnum):
    """WebTransport application error codes of the streams refused
    (``docs/protocol.md`` section 2.7)."""

    #: Unidirectional streams are reserved for media, not accepted yet.
    RESERVED = 1
    #: The session already has its bidirectional stream.
    ONE_STREAM = 2
    #: The stream names a session that does not exist on this connection.
    NO_SESSION = 3


def webtransport_error_code(code: int) -> int:
    """The HTTP/3 error code that carries WebTransport application error
    ``code`` in a RESET_STREAM or STOP_SENDING frame: the codes kept for
    WebTransport skip every reserved (greased) value of the form
    ``0x1f * N + 0x21``."""
    return _WEBTRANSPORT_ERROR_BASE + code + code // 0x1E


def close_session_capsule(code: int = 0, reason: str = "") -> bytes:
    """A CLOSE_WEBTRANSPORT_SESSION capsule: a 32-bit application error
    code and a UTF-8 reason (cut to :data:`MAX_CLOSE_REASON` bytes)."""
    text = reason.encode()[:MAX_CLOSE_REASON].decode(errors="ignore").encode()
    body = code.to_bytes(4, "big") + text
    buf = Buffer(capacity=16 + len(body))
    buf.push_uint_var(CLOSE_WEBTRANSPORT_SESSION)
    buf.push_uint_var(len(body))
    buf.push_bytes(body)
    return buf.data


def _is_unidirectional(stream_id: int) -> bool:
    return bool(stream_id & 0x2)


def _host(address: NetworkAddress | None) -> str | None:
    """The client's IP address as the hub counts it: IPv4 addresses mapped
    into IPv6 (a dual-stack socket) are written as IPv4."""
    if not address:
        return None
    text = str(address[0])
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class WebTransportSession:
    """One WebTransport session and its stream: the :class:`Link` the hub
    writes through.

    Args:
        protocol: The QUIC connection that carries it.
        session_id: The id of the CONNECT stream, which names the session.
    """

    def __init__(self, protocol: WebTransportProtocol, session_id: int) -> None:
        self.protocol = protocol
        self.session_id = session_id
        self.stream_id: int | None = None
        self.hub_session: ServerSession | None = None
        self.closing = False
        self._pending = bytearray()
        self._finished = False

    def adopt(self, stream_id: int) -> None:
        """Take ``stream_id`` as the session's stream; what the hub wrote
        before it existed goes out on it now."""
        self.stream_id = stream_id
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            self.protocol.send_stream(stream_id, data)
        if self.closing:
            self._finish()

    # -- the Link interface the hub writes through

    def write(self, data: bytes) -> None:
        """Queue bytes for the peer; before the client has opened its
        stream they wait for it."""
        if self._finished:
            return
        if self.stream_id is None:
            self._pending += data
        else:
            self.protocol.send_stream(self.stream_id, data)

    def close(self) -> None:
        """End the stream, then the session; the hub lets go of us."""
        self.hub_session = None
        if self.closing:
            return
        self.closing = True
        if self.stream_id is not None:
            self._finish()
        self.protocol.close_later()

    def _finish(self) -> None:
        if not self._finished and self.stream_id is not None:
            self._finished = True
            self.protocol.send_stream(self.stream_id, b"", end=True)


class WebTransportProtocol(QuicConnectionProtocol):
    """One QUIC connection: HTTP/3, and at most one WebTransport session.

    Args:
        quic: The QUIC connection.
        server: The listener, which counts its connections.
        stream_handler: Unused: every stream is read here.
    """

    def __init__(
        self,
        quic: QuicConnection,
        stream_handler: Any = None,
        *,
        server: WebTransportServer,
    ) -> None:
        super().__init__(quic)
        self._server = server
        self._hub = server.hub
        self._site = server.site
        self._h3: H3Connection | None = None
        self._session: WebTransportSession | None = None
        self._refused: set[int] = set()
        self._flushing: asyncio.Handle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._ended = False
        server.opened(self)
        self._deadline: asyncio.TimerHandle | None = self._loop.call_later(
            server.handshake_timeout, self._too_slow
        )

    # -- QUIC and HTTP/3 events

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated):
            self._h3 = H3Connection(self._quic, enable_webtransport=True)
        elif isinstance(event, ConnectionTerminated):
            self._terminated()
            return
        elif isinstance(event, StreamReset | StopSendingReceived):
            self._stream_reset(event.stream_id)
        if self._h3 is not None:
            for h3_event in self._h3.handle_event(event):
                self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, WebTransportStreamDataReceived):
            self._stream_data(event)
        elif isinstance(event, HeadersReceived):
            self._request(event)
        elif isinstance(event, DataReceived):
            session = self._session
            if (
                session is not None
                and event.stream_id == session.session_id
                and event.stream_ended
            ):
                # the peer closed the session: a capsule, then the end
                self._peer_gone()
        elif isinstance(event, DatagramReceived):
            pass  # datagrams are reserved for media

    def _request(self, event: HeadersReceived) -> None:
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1").lower()
            headers.setdefault(key, value.decode("latin-1"))
        method = headers.get(":method", "")
        path = urlsplit(headers.get(":path", "")).path
        stream_id = event.stream_id
        if method != "CONNECT":
            address = _host(self._quic.get_peer_address())
            target = headers.get(":path", "/")
            self._respond(stream_id, self._site.respond(method, target, {}, address))
            return
        if headers.get(":protocol") != "webtransport":
            self._respond(stream_id, self._site._error(400, "unsupported protocol"))
            return
        if path != PATH:
            self._respond(stream_id, self._site._error(404, "not found"))
            return
        if not self._site.origin_allowed(
            headers.get("origin"), headers.get(":authority")
        ):
            self._respond(stream_id, self._site._error(403, "origin not allowed"))
            return
        if self._session is not None or self._ended:
            self._respond(stream_id, self._site._error(429, "one session a connection"))
            return
        self._accept(stream_id)

    def _accept(self, session_id: int) -> None:
        assert self._h3 is not None
        self._h3.send_headers(
            session_id,
            [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")],
        )
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        session = WebTransportSession(self, session_id)
        self._session = session
        address = _host(self._quic.get_peer_address())
        hub_session = self._hub.connection_made(session, address, "webtransport")
        if not session.closing:
            session.hub_session = hub_session

    def _respond(self, stream_id: int, response: Response) -> None:
        assert self._h3 is not None
        headers = [(b":status", str(response.status).encode())]
        for name, value in (
            *response.headers,
            *self._site.security_headers(response.scripts, response.framable),
        ):
            headers.append((name.lower().encode(), value.encode()))
        try:
            self._h3.send_headers(stream_id, headers, end_stream=not response.body)
            if response.body:
                self._h3.send_data(stream_id, response.body, end_stream=True)
        except H3Error:
            # the peer already ended the request
            return
        self._flush_soon()

    def _stream_data(self, event: WebTransportStreamDataReceived) -> None:
        stream_id = event.stream_id
        if stream_id in self._refused:
            return
        session = self._session
        if session is None or event.session_id != session.session_id:
            self._refuse(stream_id, StreamRefusal.NO_SESSION)
            return
        if _is_unidirectional(stream_id):
            self._refuse(stream_id, StreamRefusal.RESERVED)
            return
        if session.stream_id is None:
            session.adopt(stream_id)
        elif stream_id != session.stream_id:
            self._refuse(stream_id, StreamRefusal.ONE_STREAM)
            return
        hub_session = session.hub_session
        if event.data and hub_session is not None:
            session.hub_session = self._hub.data_received(hub_session, event.data)
            if session.closing:
                session.hub_session = None
        if event.stream_ended:
            self._peer_gone()

    def _refuse(self, stream_id: int, code: StreamRefusal) -> None:
        self._refused.add(stream_id)
        error = webtransport_error_code(code)
        with contextlib.suppress(ValueError, RuntimeError):
            self._quic.stop_stream(stream_id, error)
            if not _is_unidirectional(stream_id):
                self._quic.reset_stream(stream_id, error)
        self._flush_soon()

    def _stream_reset(self, stream_id: int) -> None:
        session = self._session
        if session is not None and stream_id in (session.session_id, session.stream_id):
            self._peer_gone()

    # -- ending

    def _peer_gone(self) -> None:
        """The peer ended the session or its stream: the connection is
        lost for the hub, and the QUIC connection closes."""
        self._lose()
        self._ended = True
        self.close_now()

    def _lose(self) -> None:
        session = self._session
        if session is None:
            return
        hub_session, session.hub_session = session.hub_session, None
        session.closing = True
        if hub_session is not None:
            self._hub.connection_lost(hub_session)

    def _terminated(self) -> None:
        self._ended = True
        for timer in (self._deadline, self._linger, self._flushing):
            if timer is not None:
                timer.cancel()
        self._deadline = self._linger = self._flushing = None
        self._lose()
        self._server.closed(self)

    def _too_slow(self) -> None:
        # the handshake, or the CONNECT that follows it, did not come in time
        self._deadline = None
        self.close_now()

    def close_later(self) -> None:
        """Close the session and the QUIC connection once the peer has had
        :data:`CLOSE_LINGER` seconds to read what was sent."""
        self._flush_soon()
        if self._linger is None and not self._ended:
            self._linger = self._loop.call_later(CLOSE_LINGER, self._close_session)

    def _close_session(self) -> None:
        self._linger = None
        session = self._session
        if session is not None and self._h3 is not None:
            with contextlib.suppress(H3Error):
                self._h3.send_data(
                    session.session_id, close_session_capsule(), end_stream=True
                )
            self.transmit()
        self._linger = self._loop.call_later(CLOSE_LINGER, self.close_now)

    def close_now(self) -> None:
        """Close the QUIC connection at once."""
        self._linger = None
        self._quic.close(error_code=H3_NO_ERROR)
        self.transmit()

    # -- writing

    def send_stream(self, stream_id: int, data: bytes, *, end: bool = False) -> None:
        """Queue ``data`` on a stream; it goes out with the next flush."""
        if self._ended:
            return
        try:
            self._quic.send_stream_data(stream_id, data, end)
        except (RuntimeError, ValueError):
            # the peer stopped the stream: what it will not read is dropped
            return
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flushing is None:
            self._flushing = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = None
        self.transmit()


class WebTransportServer(QuicServer):
    """The UDP listener: QUIC connections carrying HTTP/3 and WebTransport.

    Past ``max_connections`` QUIC connections, packets that would open one
    more are dropped unanswered, so a flood of handshakes costs no more
    than parsing their headers.

    Args:
        hub: The hub whose sessions the WebTransport streams feed.
        site: Answers plain HTTP/3 requests and checks Origins.
        configuration: The QUIC settings, the certificate among them.
        max_connections: QUIC connections at once.
        handshake_timeout: Seconds a QUIC connection has to complete its
            handshake and open a WebTransport session.
    """

    def __init__(
        self,
        *,
        hub: Hub,
        site: Site,
        configuration: QuicConfiguration,
        max_connections: int,
        handshake_timeout: float,
    ) -> None:
        self.hub = hub
        self.site = site
        self.max_connections = max_connections
        self.handshake_timeout = handshake_timeout
        self.connections: set[WebTransportProtocol] = set()
        self.configuration = configuration
        super().__init__(
            configuration=configuration, create_protocol=self._new_protocol
        )

    def _new_protocol(
        self, quic: QuicConnection, stream_handler: Any = None
    ) -> WebTransportProtocol:
        return WebTransportProtocol(quic, stream_handler, server=self)

    def opened(self, protocol: WebTransportProtocol) -> None:
        """Count a new QUIC connection."""
        self.connections.add(protocol)

    def closed(self, protocol: WebTransportProtocol) -> None:
        """Forget a QUIC connection that has ended."""
        self.connections.discard(protocol)

    def datagram_received(self, data: bytes | str, addr: NetworkAddress) -> None:
        if len(self.connections) >= self.max_connections and self._opens(data):
            return
        super().datagram_received(data, addr)

    def _opens(self, data: bytes | str) -> bool:
        """Whether ``data`` would open a QUIC connection rather than feed
        one (or be dropped as junk)."""
        if isinstance(data, str):
            return False
        try:
            header = pull_quic_header(
                Buffer(data=data),
                host_cid_length=self.configuration.connection_id_length,
            )
        except ValueError:
            return False
        return header.destination_cid not in self._protocols

    def reload(self, cert_file: Path, key_file: Path) -> None:
        """Present this certificate to the QUIC connections that start from
        now on; those already open keep theirs."""
        self.configuration.load_cert_chain(cert_file, key_file)

    def close(self) -> None:
        """Close every QUIC connection and stop listening."""
        for protocol in list(self.connections):
            protocol.close_now()
        super().close()

    @property
    def address(self) -> tuple[str, int]:
        """The host and port the listener is bound to."""
        assert self._transport is not None
        sockname = self._transport.get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])


def quic_configuration(cert_file: Path, key_file: Path) -> QuicConfiguration:
    """The QUIC settings of the listener: HTTP/3, H3 datagrams, the idle
    timeout, and the certificate from these files.

    Raises:
        OSError: A file cannot be read.
        ValueError: A file holds no certificate or key.
    """
    configuration = QuicConfiguration(
        alpn_protocols=H3_ALPN,
        is_client=False,
        idle_timeout=IDLE_TIMEOUT,
        max_datagram_frame_size=MAX_DATAGRAM_FRAME_SIZE,
    )
    configuration.load_cert_chain(cert_file, key_file)
    return configuration


async def serve_webtransport(
    hub: Hub,
    site: Site,
    host: str,
    port: int,
    *,
    cert_file: Path,
    key_file: Path,
    max_connections: int = 10_000,
    handshake_timeout: float = 10.0,
) -> WebTransportServer:
    """Listen for QUIC on UDP ``host``:``port``.

    Args:
        hub: The hub that owns the sessions.
        site: Checks Origins and answers plain HTTP/3 requests.
        host: The address to bind.
        port: The UDP port, or 0 for any free one.
        cert_file: The certificate in PEM, the same as the TLS listener's.
        key_file: Its private key.
        max_connections: QUIC connections at once.
        handshake_timeout: Seconds a QUIC connection has to open its
            WebTransport session.

    Raises:
        OSError: The port cannot be bound or a file cannot be read.
        ValueError: A file holds no certificate or key.
    """
    configuration = quic_configuration(cert_file, key_file)
    loop = asyncio.get_running_loop()
    factory: Callable[[], WebTransportServer] = lambda: WebTransportServer(  # noqa: E731
        hub=hub,
        site=site,
        configuration=configuration,
        max_connections=max_connections,
        handshake_timeout=handshake_timeout,
    )
    _, server = await loop.create_datagram_endpoint(factory, local_addr=(host, port))
    return server
