"""WebTransport over HTTP/3 on the UDP port beside the TLS one: the
adapter, the hub and the Python client over real QUIC on loopback, with
connections cut and resumed, and every kind of unwanted input."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import os
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    ProtocolNegotiated,
    QuicEvent,
    StopSendingReceived,
    StreamDataReceived,
    StreamReset,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lgserver.client import Client, SessionClosed
from lgserver.config import Config, LimitsSettings, ServerSettings
from lgserver.daemon import Daemon
from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.events import MessageReceived, SessionEnded, SessionEstablished
from lgserver.protocol.messages import Call, Event, Hello, Result
from lgserver.protocol.session import ClientSession, SessionConfig
from lgserver.server.hub import CallContext, Hub, HubLimits, Principal
from lgserver.transport.http import Site
from lgserver.transport.listener import serve_tls
from lgserver.transport.webtransport import (
    StreamRefusal,
    WebTransportServer,
    serve_webtransport,
    webtransport_error_code,
)

from ..conftest import Certificate

pytestmark = pytest.mark.timeout(60)

registry = Registry()


async def authenticate(
    hello: Hello, address: str | None
) -> Principal | tuple[int, str]:
    visitor = (hello.auth or {}).get("visitor", "v-1")
    return Principal("customer", str(visitor))


@dataclass
class Server:
    hub: Hub
    port: int
    certificate: Certificate
    site: Site
    quic: WebTransportServer
    appended: list[Any]

    def client(self, **options: Any) -> Client:
        """A Python client of this server over WebTransport."""
        options.setdefault("ssl_context", self.certificate.client_context())
        return Client(
            "127.0.0.1",
            self.port,
            registry=registry,
            build="test",
            server_hostname="localhost",
            transport="webtransport",
            **options,
        )

    def pin(self) -> bytes:
        pem = self.certificate.cert_file.read_bytes()
        return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())


async def start(
    certificate: Certificate, hub: Hub, appended: list[Any], **options: Any
) -> Server:
    site = Site(allowed_origins=frozenset({"https://shop.example"}))
    listener = await serve_tls(
        hub, site, certificate.server_context([]), "127.0.0.1", 0
    )
    port = listener.sockets[0].getsockname()[1]
    quic = await serve_webtransport(
        hub,
        site,
        "127.0.0.1",
        port,
        cert_file=certificate.cert_file,
        key_file=certificate.key_file,
        **options,
    )
    server = Server(hub, port, certificate, site, quic, appended)
    server.listener = listener  # type: ignore[attr-defined]
    return server


def make_hub(appended: list[Any]) -> Hub:
    hub = Hub(
        registry,
        authenticate,
        SessionConfig(grace=1.0, heartbeat=0.5),
        limits=HubLimits(
            max_connections_per_address=20, messages_per_second=500, burst=400
        ),
    )

    @hub.method("echo")
    async def echo(context: CallContext, params: Any) -> Any:
        return params

    @hub.method("append")
    async def append(context: CallContext, params: Any) -> Any:
        appended.append(params)
        return len(appended)

    @hub.method("notify")
    async def notify(context: CallContext, params: Any) -> Any:
        for number in range(params):
            context.hub.send(context.session, Event("note", number))
        return None

    return hub


@pytest.fixture
async def server(certificate: Certificate) -> AsyncIterator[Server]:
    appended: list[Any] = []
    hub = make_hub(appended)
    server = await start(certificate, hub, appended)
    try:
        yield server
    finally:
        hub.close_all()
        server.quic.close()
        server.listener.close()  # type: ignore[attr-defined]


class RawSession(QuicConnectionProtocol):
    """A WebTransport client driven by hand: what it sends is up to the
    test, and it records everything that comes back."""

    def __init__(self, quic: QuicConnection, **kwargs: Any) -> None:
        super().__init__(quic, **kwargs)
        self.h3: H3Connection | None = None
        self.events: list[Any] = []
        self.changed = asyncio.Event()
        self.session_id = -1
        self.mine: set[int] = set()
        self.fed = 0
        self.session = ClientSession(registry, build="test")

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated):
            self.h3 = H3Connection(self._quic, enable_webtransport=True)
        if isinstance(event, StreamReset | StopSendingReceived | ConnectionTerminated):
            self.events.append(event)
        if isinstance(event, StreamDataReceived) and event.stream_id in self.mine:
            # the server's side of a stream we opened: no header, no frames
            self.events.append(event)
            self.changed.set()
            return
        if self.h3 is not None:
            self.events.extend(self.h3.handle_event(event))
        self.changed.set()

    @classmethod
    async def open(
        cls,
        server: Server,
        path: str = "/wt",
        origin: str | None = None,
        protocol: bytes = b"webtransport",
    ) -> tuple[RawSession, int]:
        """Connect and send a CONNECT; the protocol and the status."""
        configuration = QuicConfiguration(
            alpn_protocols=H3_ALPN,
            is_client=True,
            max_datagram_frame_size=65536,
            server_name="localhost",
        )
        configuration.load_verify_locations(str(server.certificate.cert_file))
        quic = QuicConnection(configuration=configuration)
        loop = asyncio.get_running_loop()
        _, raw = await loop.create_datagram_endpoint(
            lambda: cls(quic), local_addr=("127.0.0.1", 0)
        )
        raw.connect(("127.0.0.1", server.port))
        await asyncio.wait_for(raw.wait_connected(), 5)
        assert raw.h3 is not None
        raw.session_id = quic.get_next_available_stream_id()
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", protocol),
            (b":scheme", b"https"),
            (b":authority", f"localhost:{server.port}".encode()),
            (b":path", path.encode()),
        ]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        raw.h3.send_headers(raw.session_id, headers)
        raw.transmit()
        answer = await raw.wait_for(
            lambda e: isinstance(e, HeadersReceived) and e.stream_id == raw.session_id
        )
        return raw, int(dict(answer.headers)[b":status"])

    async def wait_for(self, match: Any, timeout: float = 5) -> Any:
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events[seen:]:
                    if match(event):
                        return event
                seen = len(self.events)
                self.changed.clear()
                await self.changed.wait()

    def stream(self) -> int:
        assert self.h3 is not None
        stream_id = self.h3.create_webtransport_stream(self.session_id)
        self.mine.add(stream_id)
        return stream_id

    def send(self, stream_id: int, data: bytes) -> None:
        self._quic.send_stream_data(stream_id, data)
        self.transmit()

    async def handshake(self, stream_id: int) -> None:
        """HELLO on ``stream_id``, until WELCOME."""
        self.session.connection_made(0.0)
        self.send(stream_id, self.session.data_to_send())
        await self.pump(stream_id, SessionEstablished)

    async def pump(self, stream_id: int, until: type) -> Any:
        """Feed what arrives on ``stream_id`` to the session until an
        event of type ``until``."""
        async with asyncio.timeout(5):
            while True:
                for event in self.events[self.fed :]:
                    if (
                        isinstance(event, StreamDataReceived)
                        and event.stream_id == stream_id
                    ):
                        self.session.receive_data(event.data, 0.0)
                self.fed = len(self.events)
                if out := self.session.data_to_send():
                    self.send(stream_id, out)
                while (happened := self.session.next_event()) is not None:
                    if isinstance(happened, until):
                        return happened
                self.changed.clear()
                await self.changed.wait()

    def end(self) -> None:
        self.close()


async def test_calls_and_events_over_webtransport(server: Server) -> None:
    client = server.client()
    await client.connect()
    assert await client.call("echo", {"over": "quic"}) == {"over": "quic"}
    session = next(iter(server.hub._by_key.values()))
    server.hub.send(session, Event("hello", {"to": "you"}))
    message = await asyncio.wait_for(client.receive(), 5)
    assert message.value == Event("hello", {"to": "you"})
    metrics = server.hub.metrics.render().decode()
    assert 'lgserver_connections{transport="webtransport"} 1.0' in metrics

    await client.close()
    assert isinstance(client.ended, SessionEnded)
    assert client.ended.code == CloseCode.NORMAL
    async with asyncio.timeout(5):
        while server.hub.sessions or server.quic.connections:
            await asyncio.sleep(0.01)


async def test_a_pinned_certificate_hash_replaces_the_ca(server: Server) -> None:
    client = server.client(ssl_context=None, certificate_hash=server.pin())
    await client.connect()
    assert await client.call("echo", 1) == 1
    await client.close()

    wrong = server.client(ssl_context=None, certificate_hash=bytes(32))
    with pytest.raises(ConnectionError, match="pin"):
        await wrong.connect()

    # a CA that did not sign the server's certificate
    stranger = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = dt.datetime.now(dt.UTC)
    authority = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(stranger.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(stranger, hashes.SHA256())
    )
    context = ssl.create_default_context(
        cadata=authority.public_bytes(serialization.Encoding.PEM).decode()
    )
    untrusted = server.client(ssl_context=context)
    with pytest.raises(ConnectionError):
        await untrusted.connect()
    assert server.hub.sessions == 0


async def test_cut_connections_lose_and_repeat_nothing(server: Server) -> None:
    client = server.client()
    await client.connect()

    async def cut_now_and_then() -> None:
        for _ in range(3):
            await asyncio.sleep(0.05)
            client.drop_connection()

    calls = [asyncio.ensure_future(client.call("append", n)) for n in range(300)]
    notes = asyncio.ensure_future(client.call("notify", 300))
    await asyncio.gather(cut_now_and_then(), *calls, notes)

    assert server.appended == list(range(300))
    received = [(await client.receive()).value for _ in range(300)]
    assert received == [Event("note", n) for n in range(300)]
    assert client.reconnects >= 1
    await client.close()


async def test_past_the_grace_window_the_session_ends(server: Server) -> None:
    ended: list[int] = []
    server.hub.on_session_ended.append(lambda session, event: ended.append(event.code))
    client = server.client()
    await client.connect()
    token = client.session.welcome.token  # type: ignore[union-attr]
    client.port = 1  # nothing listens there: every reconnect fails
    client.drop_connection()
    with pytest.raises(SessionClosed) as closed:
        await asyncio.wait_for(client.receive(), 5)
    assert closed.value.code == CloseCode.SESSION_EXPIRED
    async with asyncio.timeout(5):
        while not ended:
            await asyncio.sleep(0.05)
    assert ended == [CloseCode.SESSION_EXPIRED]
    assert server.hub.sessions == 0

    # a RESUME that comes too late hears so from the server
    raw, status = await RawSession.open(server)
    assert status == 200
    stream = raw.stream()
    late = ClientSession(registry, build="test")
    late.welcome = client.session.welcome
    late._token = token  # the token the server gave, forgotten at the end
    raw.session = late
    late.connection_made(0.0)
    raw.send(stream, late.data_to_send())
    gone = await raw.pump(stream, SessionEnded)
    assert gone.code == CloseCode.SESSION_EXPIRED
    raw.end()


@pytest.mark.parametrize(
    ("path", "origin", "protocol", "status"),
    [
        ("/ws", None, b"webtransport", 404),
        ("/wt/more", None, b"webtransport", 404),
        ("/wt", "https://evil.example", b"webtransport", 403),
        ("/wt", None, b"websocket", 400),
        ("/wt", "https://shop.example", b"webtransport", 200),
        ("/wt", None, b"webtransport", 200),
    ],
    ids=["other path", "longer path", "origin", "protocol", "allowed", "native"],
)
async def test_sessions_are_opened_at_wt_for_allowed_origins(
    server: Server, path: str, origin: str | None, protocol: bytes, status: int
) -> None:
    raw, got = await RawSession.open(server, path, origin, protocol)
    assert got == status
    if status == 200:
        stream = raw.stream()
        await raw.handshake(stream)
        assert server.hub.sessions == 1
    else:
        assert server.hub.connections == 0
    raw.end()


async def test_one_session_a_connection_and_one_stream_a_session(
    server: Server,
) -> None:
    raw, status = await RawSession.open(server)
    assert status == 200
    first = raw.stream()
    await raw.handshake(first)

    # a second bidirectional stream is refused, the first goes on
    second = raw.stream()
    raw.send(second, b"\x00\x00\x00\x08more")
    reset = await raw.wait_for(
        lambda e: isinstance(e, StreamReset) and e.stream_id == second
    )
    assert reset.error_code == webtransport_error_code(StreamRefusal.ONE_STREAM)

    # a unidirectional stream and a datagram are refused or dropped
    assert raw.h3 is not None
    uni = raw.h3.create_webtransport_stream(raw.session_id, is_unidirectional=True)
    raw.send(uni, b"media, some day")
    stopped = await raw.wait_for(
        lambda e: isinstance(e, StopSendingReceived) and e.stream_id == uni
    )
    assert stopped.error_code == webtransport_error_code(StreamRefusal.RESERVED)
    raw.h3.send_datagram(raw.session_id, b"a datagram")
    raw.transmit()

    # another CONNECT on the same connection: one session a connection
    again = raw._quic.get_next_available_stream_id()
    raw.h3.send_headers(
        again,
        [
            (b":method", b"CONNECT"),
            (b":protocol", b"webtransport"),
            (b":scheme", b"https"),
            (b":authority", b"localhost"),
            (b":path", b"/wt"),
        ],
    )
    raw.transmit()
    answer = await raw.wait_for(
        lambda e: isinstance(e, HeadersReceived) and e.stream_id == again
    )
    assert dict(answer.headers)[b":status"] == b"429"

    raw.session.send(Call(1, "echo", "still here"))
    reply = await raw.pump(first, MessageReceived)
    assert reply.value == Result(1, "still here")
    assert server.hub.connections == 1
    raw.end()


async def test_junk_datagrams_are_ignored(server: Server) -> None:
    client = server.client()
    await client.connect()
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for size in (0, 1, 20, 1200, 1500):
            junk.sendto(os.urandom(size), ("127.0.0.1", server.port))
        # a long header that announces an Initial of a version we do not
        # speak, and one of ours with garbage after the header
        junk.sendto(
            b"\xc0\x0a\x0a\x0a\x0a" + os.urandom(1250), ("127.0.0.1", server.port)
        )
        junk.sendto(
            b"\xc0\x00\x00\x00\x01\x08" + os.urandom(1250), ("127.0.0.1", server.port)
        )
    finally:
        junk.close()
    assert await client.call("echo", "calm") == "calm"
    await client.close()


async def test_a_flood_of_handshakes_is_capped(certificate: Certificate) -> None:
    appended: list[Any] = []
    hub = make_hub(appended)
    server = await start(
        certificate, hub, appended, max_connections=5, handshake_timeout=0.5
    )
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peak = 0
        for _ in range(40):
            # a real Initial packet, from a client that never answers
            quic = QuicConnection(
                configuration=QuicConfiguration(
                    alpn_protocols=H3_ALPN, is_client=True, server_name="localhost"
                )
            )
            quic.connect(("127.0.0.1", server.port), now=0.0)
            for data, _ in quic.datagrams_to_send(now=0.0):
                sender.sendto(data, ("127.0.0.1", server.port))
            await asyncio.sleep(0.001)
            peak = max(peak, len(server.quic.connections))
        sender.close()
        assert 0 < peak <= 5

        # the handshakes that never finish are given up, and room is made
        async with asyncio.timeout(5):
            while server.quic.connections:
                await asyncio.sleep(0.05)
        client = server.client()
        await client.connect()
        assert await client.call("echo", "after the flood") == "after the flood"
        await client.close()
    finally:
        hub.close_all()
        server.quic.close()
        server.listener.close()  # type: ignore[attr-defined]


def udp_port_free(port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        assert exc.errno == errno.EADDRINUSE
        return False
    finally:
        probe.close()
    return True


def daemon_config(tmp_path: Path, *, webtransport: bool) -> Config:
    server = ServerSettings(port=0, data_dir=tmp_path, webtransport=webtransport)
    return Config(server=server, limits=LimitsSettings())


async def test_the_daemon_listens_on_udp_unless_told_not_to(tmp_path: Path) -> None:
    off = Daemon(daemon_config(tmp_path / "off", webtransport=False))
    await off.start()
    try:
        assert off.webtransport is None
        assert udp_port_free(off.port)
    finally:
        await off.stop()

    on = Daemon(daemon_config(tmp_path / "on", webtransport=True))
    await on.start()
    try:
        assert on.webtransport is not None
        assert not udp_port_free(on.port)
    finally:
        await on.stop()
    assert udp_port_free(on.port)


async def test_the_daemon_gives_pages_its_hash_and_renews_it(tmp_path: Path) -> None:
    daemon = Daemon(daemon_config(tmp_path, webtransport=True))
    await daemon.start()
    try:
        assert daemon.certificate is not None
        old = daemon.certificate.sha256
        context = ssl.create_default_context(cafile=str(daemon.certificate.cert_file))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", daemon.port, ssl=context, server_hostname="localhost"
        )
        writer.write(b"GET /wt-cert HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(4096), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ")
        body = answer.split(b"\r\n\r\n", 1)[1]
        assert body == (f'{{"sha256": "{old.hex()}", "port": {daemon.port}}}'.encode())

        def client(pin: bytes) -> Client:
            return Client(
                "127.0.0.1",
                daemon.port,
                registry=Registry(),
                build="test",
                auth={"visitor": "v-1"},
                transport="webtransport",
                certificate_hash=pin,
            )

        # a new certificate: new QUIC connections are made with it
        daemon.certificate.cert_file.unlink()
        daemon.certificate.key_file.unlink()
        daemon.reload_certificate()
        new = daemon.certificate.sha256
        assert new != old
        stale = client(old)
        with pytest.raises(ConnectionError, match="pin"):
            await stale.connect()
        fresh = client(new)
        with pytest.raises(SessionClosed) as refused:
            await fresh.connect()  # no such visitor in an empty store
        assert refused.value.code == CloseCode.AUTH_FAILED
    finally:
        await daemon.stop()
