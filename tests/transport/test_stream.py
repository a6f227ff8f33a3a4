"""Raw frames over real TLS: the stream adapter, the hub and the client,
with connections cut in the middle and resumed."""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from lgserver.client import Client, RemoteCallError, SessionClosed
from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.frames import FrameDecoder, FrameKind, Opcode, encode_control
from lgserver.protocol.messages import PROTOCOL_VERSION, Event, Hello, Resume
from lgserver.protocol.session import SessionConfig
from lgserver.server.hub import CallContext, CallFailed, Hub, HubLimits, Principal
from lgserver.transport.stream import StreamConnection

from ..conftest import Certificate

registry = Registry()


@registry.register("test.Note")
@dataclass(frozen=True, slots=True)
class Note:
    number: int


async def authenticate(
    hello: Hello, address: str | None
) -> Principal | tuple[int, str]:
    auth = hello.auth or {}
    if "visitor" in auth:
        return Principal("customer", str(auth["visitor"]))
    if auth.get("password") == "secret":
        return Principal("operator", str(auth.get("name")))
    return (CloseCode.AUTH_FAILED, "wrong name or password")


@dataclass
class Server:
    hub: Hub
    port: int
    certificate: Certificate
    appended: list[Any]

    def client(self, **auth: Any) -> Client:
        return Client(
            "127.0.0.1",
            self.port,
            registry=registry,
            build="test",
            auth=auth or {"visitor": "v-1"},
            ssl_context=self.certificate.client_context(),
            server_hostname="localhost",
        )


@pytest.fixture
async def server(certificate: Certificate) -> AsyncIterator[Server]:
    hub = Hub(
        registry,
        authenticate,
        SessionConfig(grace=1.0, heartbeat=0.5, handshake_timeout=0.5),
        limits=HubLimits(
            max_connections_per_address=20, messages_per_second=500, burst=400
        ),
    )
    appended: list[Any] = []

    @hub.method("echo")
    async def echo(context: CallContext, params: Any) -> Any:
        return params

    @hub.method("whoami")
    async def whoami(context: CallContext, params: Any) -> Any:
        return [context.principal.kind, context.principal.name]

    @hub.method("append")
    async def append(context: CallContext, params: Any) -> Any:
        appended.append(params)
        return len(appended)

    @hub.method("notify")
    async def notify(context: CallContext, params: Any) -> Any:
        for number in range(params):
            context.hub.send(context.session, Note(number))
        return None

    @hub.method("conflict")
    async def conflict(context: CallContext, params: Any) -> Any:
        raise CallFailed(409, "already taken")

    @hub.method("broken")
    async def broken(context: CallContext, params: Any) -> Any:
        raise RuntimeError("a secret detail")

    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: StreamConnection(hub),
        "127.0.0.1",
        0,
        ssl=certificate.server_context(["lg/1"]),
    )
    port = listener.sockets[0].getsockname()[1]
    try:
        yield Server(hub, port, certificate, appended)
    finally:
        hub.close_all()
        listener.close()
        await listener.wait_closed()


async def test_calls_over_tls(server: Server) -> None:
    client = server.client(name="ann", password="secret")
    await client.connect()
    assert await client.call("echo", {"a": [1, 2]}) == {"a": [1, 2]}
    assert await client.call("whoami") == ["operator", "ann"]
    assert server.hub.sessions == 1
    await client.close()


async def test_call_errors_say_what_and_hide_internals(server: Server) -> None:
    client = server.client()
    await client.connect()
    with pytest.raises(RemoteCallError) as conflict:
        await client.call("conflict")
    assert (conflict.value.code, conflict.value.message) == (409, "already taken")
    with pytest.raises(RemoteCallError) as broken:
        await client.call("broken")
    assert (broken.value.code, broken.value.message) == (500, "internal error")
    with pytest.raises(RemoteCallError) as missing:
        await client.call("no.such.method")
    assert missing.value.code == 404
    assert await client.call("echo", 1) == 1  # and the session goes on
    await client.close()


async def test_a_wrong_password_is_refused(server: Server) -> None:
    client = server.client(name="ann", password="guess")
    with pytest.raises(SessionClosed) as refused:
        await client.connect()
    assert refused.value.code == CloseCode.AUTH_FAILED
    assert server.hub.sessions == 0


async def test_cut_connections_lose_and_repeat_nothing(server: Server) -> None:
    client = server.client()
    await client.connect()

    async def cut_now_and_then() -> None:
        for _ in range(4):
            await asyncio.sleep(0.02)
            client.drop_connection()

    calls = [asyncio.ensure_future(client.call("append", n)) for n in range(300)]
    notes = asyncio.ensure_future(client.call("notify", 300))
    await asyncio.gather(cut_now_and_then(), *calls, notes)

    assert server.appended == list(range(300))
    received = [(await client.receive()).value for _ in range(300)]
    assert received == [Note(n) for n in range(300)]
    assert client.reconnects >= 1
    await client.close()


async def test_past_the_grace_window_the_session_ends(server: Server) -> None:
    ended: list[int] = []
    server.hub.on_session_ended.append(lambda session, event: ended.append(event.code))
    client = server.client()
    await client.connect()
    client.port = 1  # nothing listens there: every reconnect fails
    client.drop_connection()
    with pytest.raises(SessionClosed) as closed:
        await asyncio.wait_for(client.receive(), 5)
    assert closed.value.code == CloseCode.SESSION_EXPIRED
    await asyncio.sleep(0.5)
    assert ended == [CloseCode.SESSION_EXPIRED]
    assert server.hub.sessions == 0


async def raw_exchange(server: Server, data: bytes) -> list[tuple[int, int, bytes]]:
    """Send ``data`` on a fresh lg/1 connection; the frames that come back."""
    context = server.certificate.client_context()
    context.set_alpn_protocols(["lg/1"])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=context, server_hostname="localhost"
    )
    writer.write(data)
    received = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return [(f.kind, f.channel, f.payload) for f in FrameDecoder().feed(received)]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (struct.pack(">IBBH", 1 << 30, 0, 0, 1), CloseCode.FRAME_TOO_LARGE),
        (struct.pack(">IBBH", 4, 9, 0, 0), CloseCode.UNKNOWN_KIND),
        (struct.pack(">IBBH", 5, 0, 0, 1) + b"\xc1", CloseCode.INVALID_DATA),
        (
            encode_control(
                Opcode.HELLO, registry.encoder.encode(Hello(99, "test", None, 65536))
            ),
            CloseCode.UNSUPPORTED_VERSION,
        ),
        (
            encode_control(
                Opcode.RESUME,
                registry.encoder.encode(
                    Resume(PROTOCOL_VERSION, "test", secrets.token_bytes(32), 0, 65536)
                ),
            ),
            CloseCode.RESUME_REJECTED,
        ),
    ],
    ids=["oversized", "unknown kind", "junk hello", "wrong version", "forged token"],
)
async def test_bad_frames_are_closed_with_their_code(
    server: Server, data: bytes, code: int
) -> None:
    client = server.client()
    await client.connect()
    frames = await raw_exchange(server, data)
    assert [(k, c) for k, c, _ in frames] == [(FrameKind.CONTROL, Opcode.CLOSE)]
    assert struct.unpack(">H", frames[0][2][:2])[0] == code
    assert await client.call("echo", "still here") == "still here"
    await client.close()


async def test_events_reach_the_client(server: Server) -> None:
    client = server.client()
    await client.connect()
    session = next(iter(server.hub._by_key.values()))
    server.hub.send(session, Event("hello", {"to": "you"}))
    message = await asyncio.wait_for(client.receive(), 5)
    assert message.value == Event("hello", {"to": "you"})
    await client.close()


async def test_a_flood_is_cut_at_the_rate_limit(server: Server) -> None:
    flooder = server.client()
    await flooder.connect()
    calm = server.client()
    await calm.connect()
    for number in range(1000):
        flooder.send(Note(number))
    with pytest.raises(SessionClosed) as closed:
        await asyncio.wait_for(flooder.receive(), 5)
    assert closed.value.code == CloseCode.RATE_LIMITED
    assert await calm.call("echo", "calm") == "calm"
    await calm.close()


async def test_connections_per_address_are_limited(server: Server) -> None:
    clients = [server.client() for _ in range(20)]
    for client in clients:
        await client.connect()
    extra = server.client()
    with pytest.raises(SessionClosed) as refused:
        await extra.connect()
    assert refused.value.code == CloseCode.TOO_MANY_CONNECTIONS
    await clients[0].close()
    await asyncio.sleep(0.05)
    again = server.client()
    await again.connect()
    assert await again.call("echo", 1) == 1
    assert server.hub.connections == 20


async def test_connect_fails_when_no_welcome_comes(certificate: Certificate) -> None:
    async def never(hello: Hello, address: str | None) -> Principal | tuple[int, str]:
        await asyncio.Event().wait()
        raise AssertionError

    hub = Hub(registry, never, SessionConfig(handshake_timeout=5.0))
    listener = await asyncio.get_running_loop().create_server(
        lambda: StreamConnection(hub),
        "127.0.0.1",
        0,
        ssl=certificate.server_context(["lg/1"]),
    )
    client = Client(
        "127.0.0.1",
        listener.sockets[0].getsockname()[1],
        registry=registry,
        build="test",
        ssl_context=certificate.client_context(),
        server_hostname="localhost",
        config=SessionConfig(handshake_timeout=0.3),
    )
    try:
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(client.connect(), 5)
        hub.config = SessionConfig(handshake_timeout=0.3)  # now the server gives up
        client.session.config = SessionConfig(handshake_timeout=5.0)
        with pytest.raises(SessionClosed) as closed:
            await asyncio.wait_for(client.connect(), 5)
        assert closed.value.code == CloseCode.HANDSHAKE_TIMEOUT
    finally:
        listener.close()
        await listener.wait_closed()


async def test_a_connection_that_never_says_hello_is_closed(server: Server) -> None:
    client = server.client()
    await client.connect()
    frames = await raw_exchange(server, b"")
    assert [(k, c) for k, c, _ in frames] == [(FrameKind.CONTROL, Opcode.CLOSE)]
    assert struct.unpack(">H", frames[0][2][:2])[0] == CloseCode.HANDSHAKE_TIMEOUT
    assert await client.call("echo", "still here") == "still here"
    await client.close()
