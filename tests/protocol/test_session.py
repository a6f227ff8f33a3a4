"""Sessions: handshake, reliable delivery, resume, grace window, heartbeat
and bad input, with client and server wired together in memory."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode, LocalProtocolError
from lgserver.protocol.events import (
    ConnectionLost,
    HelloReceived,
    MediaReceived,
    MessageReceived,
    SessionEnded,
    SessionEstablished,
    SessionResumed,
)
from lgserver.protocol.frames import (
    FrameDecoder,
    FrameKind,
    Opcode,
    encode_control,
    encode_media,
    encode_message,
)
from lgserver.protocol.messages import PROTOCOL_VERSION, Hello, Resume
from lgserver.protocol.session import (
    ClientSession,
    ServerSession,
    SessionConfig,
    SessionState,
)

from .memory import Hub, Link, drain

registry = Registry()


@registry.register("test.Text")
@dataclass(frozen=True, slots=True)
class Text:
    text: str


def established(
    config: SessionConfig | None = None,
) -> tuple[Hub, ClientSession, Link]:
    hub = Hub(registry, config or SessionConfig())
    client = ClientSession(registry, build="test")
    link = Link.open(hub, client, 0.0)
    link.settle(0.0)
    assert client.state is SessionState.OPEN
    return hub, client, link


def client_received(link: Link) -> list[object]:
    return [e.value for e in link.client_events if isinstance(e, MessageReceived)]


def closes(data: bytes) -> list[tuple[int, str]]:
    """The (code, reason) of every CLOSE frame in ``data``."""
    found = []
    for frame in FrameDecoder().feed(data):
        if frame.kind == FrameKind.CONTROL and frame.channel == Opcode.CLOSE:
            (code,) = struct.unpack_from(">H", frame.payload)
            found.append((code, frame.payload[2:].decode()))
    return found


def hello_frame(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "version": PROTOCOL_VERSION,
        "build": "raw",
        "auth": None,
        "max_frame": 1 << 20,
        "traits": registry.trait_table(),
    }
    fields.update(changes)
    body = registry.encoder.encode(Hello(**fields))  # type: ignore[arg-type]
    return encode_control(Opcode.HELLO, body)


def resume_frame(token: bytes, last_seq: int = 0) -> bytes:
    body = registry.encoder.encode(
        Resume(PROTOCOL_VERSION, "raw", token, last_seq, 1 << 20)
    )
    return encode_control(Opcode.RESUME, body)


# -- handshake and delivery


def test_handshake_opens_both_sides() -> None:
    _hub, client, link = established()
    assert isinstance(link.client_events[0], SessionEstablished)
    assert client.session_id == link.server.session_id
    assert link.server.state is SessionState.OPEN
    assert client.welcome is not None
    assert client.welcome.heartbeat == 5.0 and client.welcome.grace == 15.0


def test_messages_flow_both_ways_and_acks_empty_the_replay_buffers() -> None:
    hub, client, link = established()
    for i in range(5):
        assert client.send(Text(f"up {i}")) == i + 1
        assert link.server.send(Text(f"down {i}"), channel=3) == i + 1
    assert client.unacknowledged == 5
    link.settle(1.0)
    assert hub.received[link.server.key] == [Text(f"up {i}") for i in range(5)]
    assert client_received(link) == [Text(f"down {i}") for i in range(5)]
    channels = {e.channel for e in link.client_events if isinstance(e, MessageReceived)}
    assert channels == {3}
    assert client.unacknowledged == 0
    assert link.server.unacknowledged == 0


def test_messages_sent_before_welcome_wait_for_it() -> None:
    hub = Hub(registry)
    client = ClientSession(registry, build="test")
    client.send(Text("early"))
    link = Link.open(hub, client, 0.0)
    link.settle(0.0)
    assert hub.received[link.server.key] == [Text("early")]


def test_volatile_messages_are_not_numbered_nor_kept() -> None:
    hub, client, link = established()
    assert client.send(Text("typing"), volatile=True) == 0
    assert client.unacknowledged == 0
    link.settle(0.0)
    assert hub.received[link.server.key] == [Text("typing")]
    link.cut(1.0, 1.0)
    assert client.send(Text("lost"), volatile=True) == 0
    assert client.unacknowledged == 0


def test_manual_acknowledgement_waits_for_the_application() -> None:
    _hub, client, link = established(SessionConfig(auto_ack=False))
    client.send(Text("a"))
    client.send(Text("b"))
    link.settle(0.0)
    assert client.unacknowledged == 2
    link.server.acknowledge(1)
    link.settle(0.0)
    assert client.unacknowledged == 1
    with pytest.raises(LocalProtocolError):
        link.server.acknowledge(3)


def test_encode_once_send_to_many() -> None:
    hub = Hub(registry)
    links = []
    for _ in range(3):
        client = ClientSession(registry, build="test")
        link = Link.open(hub, client, 0.0)
        link.settle(0.0)
        links.append(link)
    payload = registry.encoder.encode(Text("to all"))
    for link in links:
        link.server.send_encoded(payload)
        link.settle(0.0)
        assert client_received(link) == [Text("to all")]


def test_media_frames_reach_the_application() -> None:
    _hub, _client, link = established()
    link.down += encode_media(2, 1_000_000, 7, b"chunk", flags=1)
    link.settle(0.0)
    media = [e for e in link.client_events if isinstance(e, MediaReceived)]
    assert media == [MediaReceived(2, 1, 1_000_000, 7, b"chunk")]


def test_close_ends_both_sides_with_the_code() -> None:
    hub, client, link = established()
    client.close(CloseCode.NORMAL, "bye")
    link.settle(0.0)
    assert hub.ended[link.server.key] == [SessionEnded(1000, "bye", True)]
    assert client.state is SessionState.CLOSED
    with pytest.raises(LocalProtocolError):
        client.send(Text("after close"))


# -- drops and resumes


def test_resume_replays_what_was_not_acknowledged() -> None:
    hub, client, link = established()
    server = link.server
    client.send(Text("1"))
    server.send(Text("A"))
    link.collect()
    link.cut(1.0, 1.0)  # both messages were in flight and are lost
    client.send(Text("2"))
    server.send(Text("B"))

    link2 = Link.open(hub, client, 3.0)
    link2.settle(3.0)
    assert link2.server is server
    assert hub.received[server.key] == [Text("1"), Text("2")]
    assert client_received(link2) == [Text("A"), Text("B")]
    resumed = [e for e in link2.client_events if isinstance(e, SessionResumed)]
    assert resumed == [SessionResumed(2)]
    assert client.unacknowledged == server.unacknowledged == 0


def test_resume_replaces_a_connection_the_server_still_holds() -> None:
    hub, client, link = established()
    server = link.server
    client.connection_lost(1.0)  # the server has not noticed
    client.send(Text("after"))
    new = hub.connect(2.0)
    client.connection_made(2.0)
    new.receive_data(client.data_to_send(), 2.0)
    events = drain(new)
    accepted, old_connection = server.take_over(new, 2.0)
    assert accepted
    assert closes(old_connection) == [(CloseCode.SESSION_REPLACED, "replaced")]
    assert new.state is SessionState.CLOSED
    assert events and server.connected
    client.receive_data(server.data_to_send(), 2.0)
    server.receive_data(client.data_to_send(), 2.0)
    hub.collect(server)
    assert hub.received[server.key] == [Text("after")]


cut_schedule = st.lists(
    st.tuples(
        st.sampled_from(["up", "down", "deliver", "cut", "wait"]),
        st.integers(min_value=1, max_value=80),
        st.floats(min_value=0.0, max_value=1.5),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut_schedule)
def test_drops_inside_the_grace_window_lose_and_repeat_nothing(
    schedule: list[tuple[str, int, float]],
) -> None:
    hub, client, link = established()
    server = link.server
    sent_up: list[Text] = []
    sent_down: list[Text] = []
    got_down: list[object] = []
    now = 0.0
    connected = True

    def tick() -> None:
        for side in (client, server):
            deadline = side.get_timer()
            if deadline is not None and deadline <= now:
                side.handle_timer(now)

    lost_at: float | None = None
    for action, size, delay in schedule:
        now += delay
        tick()
        if connected and not (client.connected and server.connected):
            # the heartbeat found the connection dead
            link.cut(now, now)
            connected = False
        if client.state is SessionState.OPEN:
            lost_at = None
        elif lost_at is None:
            lost_at = now
        if lost_at is not None and now - lost_at > 8.0:
            # come back well inside the window, wherever it was cut
            if not connected:
                got_down += client_received(link)
                link = Link.open(hub, client, now)
                connected = True
            link.settle(now)
            lost_at = None

        if action == "up":
            sent_up.append(Text(f"up {len(sent_up)}"))
            client.send(sent_up[-1])
        elif action == "down":
            sent_down.append(Text(f"down {len(sent_down)}"))
            server.send(sent_down[-1])
        elif action == "deliver" and connected:
            link.step(now, size)
        elif action == "cut" and connected:
            link.cut(now + delay / 2, now + delay)
            connected = False
        elif action == "wait" and not connected:
            # reconnect; the handshake may itself be cut before it ends
            got_down += client_received(link)
            link = Link.open(hub, client, now)
            link.step(now, size)
            connected = True
        tick()

    if not connected:
        got_down += client_received(link)
        link = Link.open(hub, client, now)
    link.settle(now)
    got_down += client_received(link)
    assert hub.received[server.key] == sent_up
    assert got_down == sent_down
    assert client.state is SessionState.OPEN
    assert server.state is SessionState.OPEN


def test_after_the_window_both_sides_end_with_session_expired() -> None:
    hub, client, link = established()
    server = link.server
    token = client.welcome.token if client.welcome else b""
    link.cut(1.0, 1.2)
    assert client.get_timer() == pytest.approx(16.0)
    assert server.get_timer() == pytest.approx(16.2)
    client.handle_timer(16.0)
    server.handle_timer(16.2)
    hub.collect(server)
    expired = SessionEnded(CloseCode.SESSION_EXPIRED, "grace window passed", False)
    assert drain(client) == [expired]
    assert hub.ended[server.key] == [expired]
    with pytest.raises(LocalProtocolError):
        client.connection_made(17.0)

    # a late RESUME is told the session expired
    late = hub.connect(17.0)
    late.receive_data(resume_frame(token), 17.0)
    hub.process(late, 17.0)
    assert closes(late.data_to_send()) == [
        (CloseCode.SESSION_EXPIRED, "session expired")
    ]


def test_resume_after_a_failed_reconnect_keeps_the_first_deadline() -> None:
    hub, client, link = established()
    link.cut(1.0, 1.0)
    client.connection_made(5.0)
    client.connection_lost(6.0)  # the new connection failed as well
    assert client.get_timer() == pytest.approx(16.0)
    link = Link.open(hub, client, 10.0)
    link.settle(10.0)
    assert client.state is SessionState.OPEN
    assert client.get_timer() == pytest.approx(15.0)  # heartbeat now


# -- heartbeat and timeouts


def test_heartbeat_pings_an_idle_connection_and_finds_a_dead_one() -> None:
    _hub, client, link = established()
    server = link.server
    assert client.get_timer() == pytest.approx(5.0)
    client.handle_timer(5.0)
    server.handle_timer(5.0)
    link.settle(5.1)
    assert client.state is SessionState.OPEN
    # nothing from the server for two intervals: the client gives up on the
    # connection, not on the session
    assert client.get_timer() == pytest.approx(10.1)  # its PONG went at 5.1
    client.handle_timer(10.1)
    assert client.get_timer() == pytest.approx(15.1)
    client.handle_timer(15.1)
    assert drain(client) == [ConnectionLost(CloseCode.HEARTBEAT_TIMEOUT)]
    assert client.state is SessionState.DETACHED
    assert client.get_timer() == pytest.approx(30.1)


def test_server_closes_a_connection_that_never_says_hello() -> None:
    hub = Hub(registry)
    pending = hub.connect(0.0)
    assert pending.get_timer() == pytest.approx(10.0)
    pending.handle_timer(10.0)
    assert closes(pending.data_to_send()) == [
        (CloseCode.HANDSHAKE_TIMEOUT, "handshake timed out")
    ]


def test_client_gives_up_a_connection_that_is_never_welcomed() -> None:
    client = ClientSession(registry, build="test")
    client.connection_made(0.0)
    client.handle_timer(10.0)
    assert drain(client) == [ConnectionLost(CloseCode.HANDSHAKE_TIMEOUT)]
    assert client.state is SessionState.IDLE
    client.connection_made(11.0)  # and may try again with HELLO
    assert FrameDecoder().feed(client.data_to_send())[0].channel == Opcode.HELLO


def test_replay_overflow_ends_the_session() -> None:
    hub, _client, link = established(SessionConfig(replay_max_messages=3))
    server = link.server
    link.cut(1.0, 1.0)
    for i in range(4):
        server.send(Text(str(i)))
    hub.collect(server)
    assert hub.ended[server.key] == [
        SessionEnded(CloseCode.REPLAY_OVERFLOW, "replay buffer full", False)
    ]


def test_a_message_too_large_for_the_peer_is_refused_locally() -> None:
    hub, client, link = established()
    with pytest.raises(LocalProtocolError):
        client.send(Text("x" * (1 << 20)))
    client.send(Text("still fine"))
    link.settle(0.0)
    assert hub.received[link.server.key] == [Text("still fine")]


# -- bad input


def raw_connection(hub: Hub, data: bytes, *, hello: bool = True) -> ServerSession:
    """A connection that says HELLO (optionally), then ``data``."""
    server = hub.connect(0.0)
    if hello:
        server.receive_data(hello_frame(), 0.0)
        server = hub.process(server, 0.0)
        server.data_to_send()
    server.receive_data(data, 0.0)
    return hub.process(server, 0.0)


deep = b"\x91" * 40 + b"\xc0"

bad_inputs = [
    (
        "oversized length",
        struct.pack(">IBBH", 1 << 30, 1, 0, 0),
        True,
        CloseCode.FRAME_TOO_LARGE,
    ),
    ("unknown kind", struct.pack(">IBBH", 4, 9, 0, 0), True, CloseCode.UNKNOWN_KIND),
    (
        "short message",
        struct.pack(">IBBH", 4, 1, 0, 0),
        True,
        CloseCode.MALFORMED_FRAME,
    ),
    (
        "unknown trait",
        encode_message(1, b"\x91\xd4\x01\x7f"),
        True,
        CloseCode.UNKNOWN_TRAIT,
    ),
    ("invalid utf-8", encode_message(1, b"\xa2\xff\xfe"), True, CloseCode.INVALID_DATA),
    ("nesting too deep", encode_message(1, deep), True, CloseCode.LIMIT_EXCEEDED),
    ("sequence gap", encode_message(2, b"\xc0"), True, CloseCode.PROTOCOL_ERROR),
    (
        "unknown opcode",
        struct.pack(">IBBH", 4, 0, 0, 99),
        True,
        CloseCode.PROTOCOL_ERROR,
    ),
    (
        "ack never sent",
        encode_control(Opcode.ACK, struct.pack(">Q", 5)),
        True,
        CloseCode.PROTOCOL_ERROR,
    ),
    ("second hello", hello_frame(), True, CloseCode.PROTOCOL_ERROR),
    ("wrong version", hello_frame(version=2), False, CloseCode.UNSUPPORTED_VERSION),
    ("message first", encode_message(1, b"\xc0"), False, CloseCode.PROTOCOL_ERROR),
    ("small max_frame", hello_frame(max_frame=100), False, CloseCode.PROTOCOL_ERROR),
    (
        "bad trait table",
        hello_frame(traits=[["x", [1]]]),
        False,
        CloseCode.INVALID_DATA,
    ),
    (
        "hello of wrong type",
        encode_control(Opcode.HELLO, b"\xc0"),
        False,
        CloseCode.PROTOCOL_ERROR,
    ),
    ("forged token", resume_frame(b"\x01" * 32), False, CloseCode.RESUME_REJECTED),
    ("malformed token", resume_frame(b"\x01"), False, CloseCode.RESUME_REJECTED),
]


@pytest.mark.parametrize(
    ("data", "hello", "code"),
    [case[1:] for case in bad_inputs],
    ids=[case[0] for case in bad_inputs],
)
def test_bad_input_closes_with_its_code_and_spares_the_others(
    data: bytes, hello: bool, code: CloseCode
) -> None:
    hub, client, link = established()
    bad = raw_connection(hub, data, hello=hello)
    out = bad.data_to_send()
    assert [c for c, _ in closes(out)] == [code]
    assert bad.state is SessionState.CLOSED

    # the reason names the problem in words, without internals
    reason = closes(out)[0][1]
    assert reason and "Traceback" not in reason and len(reason.encode()) <= 123

    client.send(Text("unaffected"))
    link.settle(1.0)
    assert hub.received[link.server.key] == [Text("unaffected")]


def test_a_truncated_websocket_message_is_refused() -> None:
    _hub, _client, link = established()
    frame = encode_message(1, registry.encoder.encode(Text("whole")))
    link.server.receive_message(frame[:-2], 1.0)
    assert closes(link.server.data_to_send()) == [
        (CloseCode.TRUNCATED_FRAME, "a message must hold exactly one frame")
    ]


def test_websocket_messages_of_one_frame_each_are_accepted() -> None:
    hub, client, link = established()
    client.send(Text("a"))
    client.send(Text("b"))
    frames = FrameDecoder().feed(client.data_to_send())
    for frame in frames:
        link.server.receive_message(
            encode_message(frame.seq, frame.payload, channel=frame.channel), 1.0
        )
    hub.collect(link.server)
    assert hub.received[link.server.key] == [Text("a"), Text("b")]


def test_a_replayed_token_is_refused() -> None:
    hub, client, link = established()
    first_token = client.welcome.token if client.welcome else b""
    link.cut(1.0, 1.0)
    link = Link.open(hub, client, 2.0)
    link.settle(2.0)
    assert client.welcome is not None and client.welcome.token != first_token
    replayed = raw_connection(hub, resume_frame(first_token), hello=False)
    assert closes(replayed.data_to_send()) == [
        (CloseCode.RESUME_REJECTED, "resume token refused")
    ]
    assert link.server.state is SessionState.OPEN


def test_resume_from_a_point_never_reached_is_refused() -> None:
    hub, client, _link = established()
    token = client.welcome.token if client.welcome else b""
    bad = raw_connection(hub, resume_frame(token, last_seq=9), hello=False)
    assert closes(bad.data_to_send()) == [
        (CloseCode.PROTOCOL_ERROR, "resume from an unknown point")
    ]


def test_frames_after_a_bad_one_are_not_processed() -> None:
    hub, _client, link = established()
    server = link.server
    good = encode_message(1, registry.encoder.encode(Text("kept")))
    later = encode_message(2, registry.encoder.encode(Text("never")))
    server.receive_data(good + struct.pack(">IBBH", 4, 9, 0, 0) + later, 1.0)
    hub.collect(server)
    assert hub.received[server.key] == [Text("kept")]
    assert hub.ended[server.key][0].code == CloseCode.UNKNOWN_KIND


def test_hello_is_reported_before_any_answer() -> None:
    hub = Hub(registry)
    server = hub.connect(0.0)
    server.receive_data(hello_frame(auth={"name": "ann"}), 0.0)
    (event,) = drain(server)
    assert isinstance(event, HelloReceived)
    assert event.hello.auth == {"name": "ann"}
    assert server.data_to_send() == b""
    server.reject(CloseCode.AUTH_FAILED, "wrong name or password")
    assert closes(server.data_to_send()) == [
        (CloseCode.AUTH_FAILED, "wrong name or password")
    ]


def test_a_close_reason_that_is_not_utf8_is_ignored() -> None:
    _hub, _client, link = established()
    link.down += encode_control(Opcode.CLOSE, struct.pack(">H", 4000) + b"\xff\xfe")
    link.settle(1.0)
    assert link.client_events[-1] == SessionEnded(4000, "", True)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.booleans(), st.booleans())
def test_random_bytes_only_ever_close_the_session(
    data: bytes, after_hello: bool, as_message: bool
) -> None:
    hub, client, link = established()
    server = hub.connect(0.0)
    if after_hello:
        server.receive_data(hello_frame(), 0.0)
        server = hub.process(server, 0.0)
    feed = server.receive_message if as_message else server.receive_data
    feed(data, 0.0)  # must not raise, whatever the bytes
    client.receive_data(data, 0.0)
    ended = [e for e in drain(server) if isinstance(e, SessionEnded)]
    sent = closes(server.data_to_send())
    if server.state is SessionState.CLOSED:
        # refused with one CLOSE, unless the bytes were the peer's own CLOSE
        (end,) = ended
        assert sent == ([] if end.remote else [(end.code, end.reason)])
    else:
        assert not ended and not sent

    # and everyone else goes on
    if link.server.state is SessionState.OPEN and client.state is SessionState.OPEN:
        client.send(Text("still here"))
        link.settle(1.0)
        assert hub.received[link.server.key][-1] == Text("still here")


def test_a_delayed_ack_rides_along_with_the_answer() -> None:
    _hub, client, link = established(SessionConfig(ack_delay=0.05))
    server = link.server
    client.send(Text("question"))
    link.collect()
    server.receive_data(bytes(link.up), 1.0)
    link.up.clear()
    assert server.data_to_send() == b""  # the ACK waits for company
    assert server.get_timer() == pytest.approx(1.05)
    server.send(Text("answer"))
    frames = FrameDecoder().feed(server.data_to_send())
    kinds = [(f.kind, f.channel) for f in frames]
    assert kinds == [(FrameKind.MESSAGE, 0), (FrameKind.CONTROL, Opcode.ACK)]

    # with nothing to ride along with, it goes alone when its time comes
    client.send(Text("another"))
    link.collect()
    server.receive_data(bytes(link.up), 2.0)
    link.up.clear()
    assert server.data_to_send() == b""
    server.handle_timer(2.05)
    (ack,) = FrameDecoder().feed(server.data_to_send())
    assert (ack.kind, ack.channel) == (FrameKind.CONTROL, Opcode.ACK)
    assert struct.unpack(">Q", ack.payload)[0] == 2
