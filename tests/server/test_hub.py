"""The hub with in-memory links: accepting and refusing, resuming onto a
new connection, the grace window, fan-out and shutdown."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Any

from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.events import MessageReceived, SessionEnded
from lgserver.protocol.frames import FrameDecoder, FrameKind, Opcode
from lgserver.protocol.messages import Call, Event, Hello, Result
from lgserver.protocol.session import ClientSession, SessionConfig, SessionState
from lgserver.server.hub import Hub, Principal

registry = Registry()


@dataclass
class MemoryLink:
    """A connection whose bytes go to a client session in the same test."""

    client: ClientSession
    written: bytearray = field(default_factory=bytearray)
    closed: bool = False
    writes: int = 0

    def write(self, data: bytes) -> None:
        self.written += data
        self.writes += 1

    def close(self) -> None:
        self.closed = True

    async def deliver(self) -> None:
        await asyncio.sleep(0)  # the hub writes once a turn of the loop
        data = bytes(self.written)
        self.written.clear()
        if data:
            self.client.receive_data(data, 0.0)


def close_codes(data: bytes) -> list[int]:
    return [
        struct.unpack(">H", f.payload[:2])[0]
        for f in FrameDecoder().feed(data)
        if f.kind == FrameKind.CONTROL and f.channel == Opcode.CLOSE
    ]


async def accept_all(hello: Hello, address: str | None) -> Principal | tuple[int, str]:
    if hello.auth == {"deny": True}:
        return (CloseCode.AUTH_FAILED, "refused")
    return Principal("customer", "v")


async def open_session(hub: Hub, **auth: Any) -> tuple[ClientSession, MemoryLink]:
    client = ClientSession(registry, build="test", auth=auth or None)
    link = MemoryLink(client)
    server = hub.connection_made(link)
    client.connection_made(0.0)
    hub.data_received(server, client.data_to_send())
    await asyncio.sleep(0)  # the authenticator runs in a task
    await asyncio.sleep(0)
    await link.deliver()
    return client, link


async def test_accepts_and_refuses() -> None:
    hub = Hub(registry, accept_all)
    client, _ = await open_session(hub)
    assert client.state is SessionState.OPEN
    assert hub.sessions == 1

    refused, link = await open_session(hub, deny=True)
    assert refused.state is SessionState.CLOSED
    assert link.closed
    assert hub.sessions == 1


async def test_resume_moves_the_session_to_the_new_link() -> None:
    hub = Hub(registry, accept_all)
    client, old_link = await open_session(hub)
    (session,) = hub._by_key.values()

    # the client's connection dies; the server has not noticed yet
    client.connection_lost(1.0)
    hub.send(session, Event("while away"))
    new_link = MemoryLink(client)
    pending = hub.connection_made(new_link)
    client.connection_made(2.0)
    owner = hub.data_received(pending, client.data_to_send())

    assert owner is session
    assert old_link.closed
    assert close_codes(bytes(old_link.written)) == [CloseCode.SESSION_REPLACED]
    await new_link.deliver()
    events = []
    while (event := client.next_event()) is not None:
        events.append(event)
    messages = [e.value for e in events if isinstance(e, MessageReceived)]
    assert messages == [Event("while away")]
    assert hub.sessions == 1


async def test_a_late_resume_hears_the_session_expired() -> None:
    hub = Hub(registry, accept_all, SessionConfig(grace=0.05))
    ended: list[SessionEnded] = []
    hub.on_session_ended.append(lambda session, event: ended.append(event))
    client, _ = await open_session(hub)
    (session,) = hub._by_key.values()
    hub.connection_lost(session)
    assert hub.detached == 1
    await asyncio.sleep(0.2)
    assert [e.code for e in ended] == [CloseCode.SESSION_EXPIRED]
    assert hub.sessions == 0

    client.connection_lost(0.0)
    link = MemoryLink(client)
    pending = hub.connection_made(link)
    client.connection_made(0.1)
    hub.data_received(pending, client.data_to_send())
    assert close_codes(bytes(link.written)) == [CloseCode.SESSION_EXPIRED]
    assert link.closed


async def test_one_encoding_goes_to_every_session() -> None:
    hub = Hub(registry, accept_all)
    clients = [await open_session(hub) for _ in range(3)]
    payload = registry.encoder.encode(Event("to all", [1, 2, 3]))
    hub.send_encoded(list(hub._by_key.values()), payload)
    await asyncio.sleep(0)
    for client, link in clients:
        assert payload in bytes(link.written)
        await link.deliver()
        received = [e for e in iter(client.next_event, None)]
        assert any(
            isinstance(e, MessageReceived) and e.value == Event("to all", [1, 2, 3])
            for e in received
        )


async def test_shutdown_tells_every_client_to_go_away() -> None:
    hub = Hub(registry, accept_all)
    clients = [await open_session(hub) for _ in range(2)]
    hub.close_all(CloseCode.GOING_AWAY, "restarting")
    for _, link in clients:
        assert close_codes(bytes(link.written)) == [CloseCode.GOING_AWAY]
        assert link.closed
    assert hub.sessions == 0


async def test_a_foreign_build_is_told_to_reload() -> None:
    hub = Hub(registry, accept_all, accepted_builds=("web-2026.", "native-"))
    client = ClientSession(registry, build="web-2025.01")
    link = MemoryLink(client)
    server = hub.connection_made(link)
    client.connection_made(0.0)
    hub.data_received(server, client.data_to_send())
    await asyncio.sleep(0)
    assert close_codes(bytes(link.written)) == [CloseCode.BUILD_REFUSED]

    current = ClientSession(registry, build="web-2026.12.3")
    link = MemoryLink(current)
    server = hub.connection_made(link)
    current.connection_made(0.0)
    hub.data_received(server, current.data_to_send())
    await asyncio.sleep(0)
    await link.deliver()
    assert current.state is SessionState.OPEN


def acks(data: bytes) -> list[int]:
    return [
        struct.unpack(">Q", f.payload)[0]
        for f in FrameDecoder().feed(data)
        if f.kind == FrameKind.CONTROL and f.channel == Opcode.ACK
    ]


def slow_hub() -> tuple[Hub, dict[str, asyncio.Event]]:
    """A hub whose ``wait`` method returns when the test lets it."""
    hub = Hub(registry, accept_all)
    gates: dict[str, asyncio.Event] = {}

    @hub.method("wait")
    async def wait(context: Any, name: str) -> str:
        await gates.setdefault(name, asyncio.Event()).wait()
        return name

    return hub, gates


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_call_is_acknowledged_once_answered_and_in_order() -> None:
    hub, gates = slow_hub()
    client, link = await open_session(hub)
    (session,) = hub._by_key.values()
    link.written.clear()
    for number, name in enumerate(["a", "b", "c"], 1):
        client.send(Call(number, "wait", name))
    client.send(Event("after the calls"))
    hub.data_received(session, client.data_to_send())
    await settle()
    assert acks(bytes(link.written)) == []

    # the second and third answers go out; their ACK waits for the first
    gates["b"].set()
    gates["c"].set()
    await settle()
    assert acks(bytes(link.written)) == []
    gates["a"].set()
    await settle()
    assert acks(bytes(link.written)) == [4]
    await link.deliver()
    answers = [
        e.value.value
        for e in iter(client.next_event, None)
        if isinstance(e, MessageReceived) and isinstance(e.value, Result)
    ]
    assert answers == ["b", "c", "a"]
    assert client.unacknowledged == 0


async def test_a_message_other_than_a_call_is_acknowledged_at_once() -> None:
    hub, _ = slow_hub()
    client, link = await open_session(hub)
    (session,) = hub._by_key.values()
    link.written.clear()
    client.send(Event("hello"))
    hub.data_received(session, client.data_to_send())
    await asyncio.sleep(0)
    assert acks(bytes(link.written)) == [1]


async def test_a_resume_replays_what_was_not_answered_and_runs_it_once() -> None:
    hub, gates = slow_hub()
    runs: list[str] = []

    @hub.method("count")
    async def count(context: Any, name: str) -> str:
        runs.append(name)
        return name

    client, link = await open_session(hub)
    (session,) = hub._by_key.values()
    client.send(Call(1, "count", "first"))
    client.send(Call(2, "wait", "held"))
    client.send(Call(3, "count", "third"))
    hub.data_received(session, client.data_to_send())
    await settle()
    assert runs == ["first", "third"]
    await link.deliver()  # the ACK of the first call only

    client.connection_lost(1.0)
    hub.connection_lost(session)
    new_link = MemoryLink(client)
    pending = hub.connection_made(new_link)
    client.connection_made(2.0)
    assert hub.data_received(pending, client.data_to_send()) is session
    await new_link.deliver()  # WELCOME acknowledges the first call only
    assert client.unacknowledged == 2
    hub.data_received(session, client.data_to_send())  # the replay: dropped
    gates["held"].set()
    await settle()
    await new_link.deliver()
    assert runs == ["first", "third"]
    assert client.unacknowledged == 0
    results = [
        e.value.value
        for e in iter(client.next_event, None)
        if isinstance(e, MessageReceived) and isinstance(e.value, Result)
    ]
    assert sorted(results) == ["first", "held", "third"]


async def test_answers_ready_in_one_turn_of_the_loop_go_out_in_one_write() -> None:
    hub, _ = slow_hub()

    @hub.method("echo")
    async def echo(context: Any, params: Any) -> Any:
        return params

    client, link = await open_session(hub)
    (session,) = hub._by_key.values()
    link.writes = 0
    for number in range(1, 33):
        client.send(Call(number, "echo", number))
    hub.data_received(session, client.data_to_send())
    await settle()
    assert link.writes == 1
    assert acks(bytes(link.written)) == [32]
    await link.deliver()
    results = [
        e.value.value
        for e in iter(client.next_event, None)
        if isinstance(e, MessageReceived) and isinstance(e.value, Result)
    ]
    assert results == list(range(1, 33))


async def test_events_from_clients_reach_their_handler_in_order() -> None:
    hub, _ = slow_hub()
    seen: list[tuple[str, Any]] = []

    @hub.event("typing")
    def typing(context: Any, data: Any) -> None:
        seen.append((context.principal.name, data))
        if data == "boom":
            raise RuntimeError("a handler's own failure")

    client, link = await open_session(hub)
    (session,) = hub._by_key.values()
    client.send(Event("typing", "h"), volatile=True)
    client.send(Event("typing", "boom"))
    client.send(Event("nobody listens", 1))
    client.send(Event("typing", "he"), volatile=True)
    hub.data_received(session, client.data_to_send())
    assert seen == [("v", "h"), ("v", "boom"), ("v", "he")]
    await link.deliver()
    assert client.unacknowledged == 0
    assert client.state is SessionState.OPEN


async def test_the_authenticator_hears_the_client_address() -> None:
    heard: list[str | None] = []

    async def note(hello: Hello, address: str | None) -> Principal | tuple[int, str]:
        heard.append(address)
        return Principal("customer", "v")

    hub = Hub(registry, note)
    for address in ("203.0.113.7", None):
        client = ClientSession(registry, build="test")
        link = MemoryLink(client)
        server = hub.connection_made(link, address)
        client.connection_made(0.0)
        hub.data_received(server, client.data_to_send())
        await asyncio.sleep(0)
        await link.deliver()
        assert client.state is SessionState.OPEN
    assert heard == ["203.0.113.7", None]


async def test_volatile_values_go_now_or_never_and_addresses_are_known() -> None:
    hub = Hub(registry, accept_all)
    client = ClientSession(registry, build="test")
    link = MemoryLink(client)
    session = hub.connection_made(link, "192.0.2.7")
    client.connection_made(0.0)
    hub.data_received(session, client.data_to_send())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await link.deliver()
    assert hub.address(session) == "192.0.2.7"

    # connected: a volatile event goes at once, and to many, encoded once
    payload = registry.encoder.encode(Event("typing"))
    hub.send_encoded([session], payload, volatile=True)
    hub.send(session, Event("typing again"), volatile=True)
    await link.deliver()
    received = []
    while (event := client.next_event()) is not None:
        if isinstance(event, MessageReceived):
            received.append(event.value)
    assert received == [Event("typing"), Event("typing again")]

    # detached: a volatile event is dropped, a reliable one waits
    hub.connection_lost(session)
    assert hub.address(session) is None
    hub.send(session, Event("typing"), volatile=True)
    hub.send(session, Event("kept"))
    replay = [frame for frame in session._replay if frame]
    assert len(replay) == 1

    # a value larger than the client accepts is skipped, not raised
    huge = registry.encoder.encode(Event("big", "x" * (2 << 20)))
    hub.send_encoded([session], huge)
    assert len(session._replay) == 1
