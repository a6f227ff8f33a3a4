"""Reliable sessions over connections that come and go (``docs/protocol.md``
section 6).

A session numbers every message it sends, keeps it in a replay buffer
until the peer acknowledges it, and delivers what it receives to its
application exactly once and in order. It outlives its connections: when
one drops, the session is *detached* for the grace window; the client
comes back on a new connection with RESUME, both sides send again what
the other did not acknowledge, and the applications notice nothing.

The classes here are sans-I/O. An adapter feeds them the bytes it reads
(:meth:`Session.receive_data`), writes what :meth:`Session.data_to_send`
returns, tells them when the transport ends
(:meth:`Session.connection_lost`), reads the events
(:meth:`Session.next_event`), and keeps one timer for
:meth:`Session.get_timer` / :meth:`Session.handle_timer`. Every call that
may change the state takes the current time ``now``, in seconds, from any
monotonic clock.

On the server, each new connection gets a :class:`ServerSession` in the
HANDSHAKE state. Its HELLO is reported as :class:`~.events.HelloReceived`,
and the server calls :meth:`ServerSession.accept` or
:meth:`ServerSession.reject`. Its RESUME is reported as
:class:`~.events.ResumeRequested`: the server finds the session the token
names (:func:`token_key`) and calls :meth:`ServerSession.take_over` on it
with the new connection's session, whose connection it adopts.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .codec import Decoder, Limits, Registry
from .errors import (
    CloseCode,
    DecodeError,
    LocalProtocolError,
    RemoteProtocolError,
)
from .events import (
    ConnectionLost,
    HelloReceived,
    MediaReceived,
    MessageReceived,
    ResumeRequested,
    SessionEnded,
    SessionEstablished,
    SessionEvent,
    SessionResumed,
)
from .frames import (
    DEFAULT_MAX_FRAME_SIZE,
    Frame,
    FrameDecoder,
    FrameKind,
    MessageFlags,
    Opcode,
    decode_media,
    encode_control,
    encode_message,
)
from .messages import PROTOCOL_VERSION, Hello, Resume, Welcome

__all__ = [
    "ClientSession",
    "ServerSession",
    "Session",
    "SessionConfig",
    "SessionState",
    "token_key",
]

# The smallest frame limit a side may announce, and the limit a server
# applies before the handshake tells it the client's (section 2.5).
MIN_FRAME_SIZE = 4096
HANDSHAKE_FRAME_SIZE = 64 * 1024
MAX_REASON_BYTES = 123
TOKEN_KEY_SIZE = 16
TOKEN_SECRET_SIZE = 16

_u64 = struct.Struct(">Q")
_close_code = struct.Struct(">H")
_MESSAGE = int(FrameKind.MESSAGE)
_CONTROL = int(FrameKind.CONTROL)
_MEDIA = int(FrameKind.MEDIA)
_VOLATILE = int(MessageFlags.VOLATILE)


class SessionState(enum.Enum):
    """Where a session stands."""

    #: A client with no connection that has never been welcomed.
    IDLE = enum.auto()
    #: HELLO or RESUME sent (client) or awaited and decided (server).
    HANDSHAKE = enum.auto()
    #: Welcomed and connected: messages flow.
    OPEN = enum.auto()
    #: Welcomed before, no connection now: the grace window runs.
    DETACHED = enum.auto()
    #: Over; nothing more is sent or received.
    CLOSED = enum.auto()


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Settings of a session; every one has a safe default.

    Args:
        max_frame_size: The largest frame this side accepts.
        heartbeat: Seconds between heartbeats (a server announces it; a
            client takes the server's).
        grace: Seconds a detached session waits for a resume (a server
            announces it; a client takes the server's).
        handshake_timeout: Seconds allowed for HELLO or RESUME to be
            answered.
        replay_max_messages: Unacknowledged messages kept for replay.
        replay_max_bytes: Bytes of unacknowledged messages kept.
        auto_ack: Acknowledge received messages at once. When False, the
            application calls :meth:`Session.acknowledge` (a server that
            acknowledges only what it has stored).
        ack_delay: Seconds an ACK may wait for another frame to go out with
            (an answer usually follows a request at once); 0 sends each ACK
            as soon as there is something to acknowledge. Keep it well
            under the 200 ms of ``docs/protocol.md`` section 6.3.
        limits: Limits on decoded values.
    """

    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    heartbeat: float = 5.0
    grace: float = 15.0
    handshake_timeout: float = 10.0
    replay_max_messages: int = 4096
    replay_max_bytes: int = 4 << 20
    auto_ack: bool = True
    ack_delay: float = 0.0
    limits: Limits = field(default_factory=Limits)


def token_key(token: bytes) -> bytes | None:
    """The lookup key a resume token carries, or None if it is malformed.

    A token is a key that names its session, followed by a secret that
    changes with every WELCOME; :meth:`ServerSession.take_over` checks the
    secret.
    """
    if len(token) != TOKEN_KEY_SIZE + TOKEN_SECRET_SIZE:
        return None
    return token[:TOKEN_KEY_SIZE]


class Session:
    """What the client and server roles share; see the module documentation.

    Args:
        registry: The message classes this side sends and receives.
        config: The session's settings.
    """

    def __init__(self, registry: Registry, config: SessionConfig | None = None) -> None:
        self.config = config = config or SessionConfig()
        self.state = SessionState.IDLE
        self.session_id: str | None = None
        self._registry = registry
        self._encoder = registry.encoder
        self._decoder: Decoder = registry.decoder(None, config.limits)
        self._frames = FrameDecoder(config.max_frame_size)
        self._connected = False
        self._out: list[bytes] = []
        self._events: deque[SessionEvent] = deque()
        self._now = 0.0

        # the peer's announcements, once known
        self._peer_max_frame = DEFAULT_MAX_FRAME_SIZE
        self._heartbeat = config.heartbeat
        self._grace = config.grace

        # sending: the last seq used, and what is not acknowledged yet
        self._sent = 0
        self._replay: deque[tuple[int, bytes]] = deque()
        self._replay_bytes = 0

        # receiving: the last seq delivered, and the last one acknowledged
        self._received = 0
        self._ack_target = 0
        self._acked = 0
        self._ack_due: float | None = None
        self._ack_now = False  # an ACK for the next data_to_send

        # timers
        self._last_sent = 0.0
        self._last_received = 0.0
        self._handshake_deadline: float | None = None
        self._grace_deadline: float | None = None
        self._ping_nonce = 0

        #: Frames received and sent over the session's life, for metrics.
        self.frames_received = 0
        self.frames_sent = 0

    # -- the adapter's side

    @property
    def connected(self) -> bool:
        """Whether the session has a connection now."""
        return self._connected

    @property
    def unacknowledged(self) -> int:
        """How many sent messages wait for the peer's acknowledgement."""
        return len(self._replay)

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> None:
        """Feed bytes read from a stream transport (TLS, WebTransport)."""
        self._receive(data, now, whole=False)

    def receive_message(self, data: bytes | bytearray | memoryview, now: float) -> None:
        """Feed one message of a message transport (WebSocket), which must
        hold exactly one whole frame (section 2.6)."""
        self._receive(data, now, whole=True)

    def _receive(
        self, data: bytes | bytearray | memoryview, now: float, *, whole: bool
    ) -> None:
        if not self._connected or self.state is SessionState.CLOSED:
            return
        self._now = self._last_received = now
        try:
            frames = self._frames.feed(data)
            self.frames_received += len(frames)
            if whole and (
                len(frames) != 1 or self._frames.buffered or self._frames.error
            ):
                raise RemoteProtocolError(
                    "a message must hold exactly one frame",
                    CloseCode.TRUNCATED_FRAME,
                )
            for frame in frames:
                self._handle_frame(frame)
                if not self._connected:
                    return
            if self._frames.error is not None:
                raise self._frames.error
        except RemoteProtocolError as exc:
            self._fail(exc)
            return
        self._queue_ack()

    def connection_lost(self, now: float) -> None:
        """Tell the session its transport ended without a CLOSE frame."""
        self._now = now
        if self._connected:
            self._detach(None)

    @property
    def has_output(self) -> bool:
        """Whether :meth:`data_to_send` has bytes to give."""
        return bool(self._out) or self._ack_now

    def data_to_send(self) -> bytes:
        """The bytes to write to the current connection, and forget them."""
        if self._ack_now or (self._ack_due is not None and self._out):
            self._send_ack()  # a waiting ACK rides along
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def next_event(self) -> SessionEvent | None:
        """The oldest event not read yet, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must be called next, or None."""
        if self.state is SessionState.CLOSED:
            return None
        due = self._handshake_deadline
        grace = self._grace_deadline
        if grace is not None and (due is None or grace < due):
            due = grace
        if self.state is SessionState.OPEN and self._connected:
            heartbeat = self._heartbeat
            beat = min(self._last_sent + heartbeat, self._last_received + 2 * heartbeat)
            if due is None or beat < due:
                due = beat
            ack = self._ack_due
            if ack is not None and ack < due:
                due = ack
        return due

    def handle_timer(self, now: float) -> None:
        """Act on the deadlines that have passed by ``now``."""
        self._now = now
        if self.state is SessionState.CLOSED:
            return
        if self._grace_deadline is not None and now >= self._grace_deadline:
            self._end(CloseCode.SESSION_EXPIRED, "grace window passed", remote=False)
            return
        if self._handshake_deadline is not None and now >= self._handshake_deadline:
            self._handshake_timed_out()
            return
        if self.state is SessionState.OPEN and self._connected:
            if self._ack_due is not None and now >= self._ack_due:
                self._send_ack()
            if now >= self._last_received + 2 * self._heartbeat:
                self._detach(CloseCode.HEARTBEAT_TIMEOUT)
            elif now >= self._last_sent + self._heartbeat:
                self._ping_nonce += 1
                self._write(encode_control(Opcode.PING, _u64.pack(self._ping_nonce)))

    # -- the application's side

    def send(self, value: Any, *, channel: int = 0, volatile: bool = False) -> int:
        """Send a value to the peer's application.

        Returns:
            The message's sequence number, or 0 for a volatile message.

        Raises:
            LocalProtocolError: The session is closed, or the value cannot
                be encoded or is larger than the peer accepts.
        """
        return self.send_encoded(
            self._encoder.encode(value), channel=channel, volatile=volatile
        )

    def send_encoded(
        self, payload: bytes, *, channel: int = 0, volatile: bool = False
    ) -> int:
        """Send a value encoded already, as when one message goes to many
        sessions: the encoder's output does not depend on the session.

        Returns and raises as :meth:`send`.
        """
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("the session is closed")
        if 12 + len(payload) > self._peer_max_frame:
            raise LocalProtocolError("message larger than the peer accepts")
        if volatile:
            if self.state is SessionState.OPEN and self._connected:
                self._write(
                    encode_message(0, payload, channel=channel, flags=_VOLATILE)
                )
            return 0
        self._sent = seq = self._sent + 1
        frame = encode_message(seq, payload, channel=channel)
        self._replay.append((seq, frame))
        self._replay_bytes += len(frame)
        if (
            len(self._replay) > self.config.replay_max_messages
            or self._replay_bytes > self.config.replay_max_bytes
        ):
            self._end(CloseCode.REPLAY_OVERFLOW, "replay buffer full", remote=False)
            return seq
        if self.state is SessionState.OPEN and self._connected:
            self._write(frame)
        return seq

    def acknowledge(self, seq: int) -> None:
        """Acknowledge every received message up to ``seq``, when the
        session was configured without ``auto_ack``.

        Raises:
            LocalProtocolError: ``seq`` was not received yet.
        """
        if seq > self._received:
            raise LocalProtocolError("cannot acknowledge a message not received")
        if seq > self._ack_target:
            self._ack_target = seq
            self._queue_ack()

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """End the session: send CLOSE if connected and report the end."""
        if self.state is not SessionState.CLOSED:
            self._end(code, reason, remote=False)

    # -- frames

    def _handle_frame(self, frame: Frame) -> None:
        kind = frame.kind
        if kind == _MESSAGE:
            self._handle_message(frame)
        elif kind == _CONTROL:
            self._handle_control(frame.channel, frame.payload)
        else:
            if self.state is not SessionState.OPEN:
                raise RemoteProtocolError("media before WELCOME")
            header, data = decode_media(frame.payload)
            self._events.append(
                MediaReceived(
                    frame.channel,
                    frame.flags,
                    header.timestamp,
                    header.group,
                    bytes(data),
                )
            )

    def _handle_message(self, frame: Frame) -> None:
        if self.state is not SessionState.OPEN:
            raise RemoteProtocolError("message before WELCOME")
        seq = frame.seq
        if frame.flags & _VOLATILE:
            value = self._decoder.decode(frame.payload)
            self._events.append(MessageReceived(value, frame.channel, 0))
            return
        if seq <= self._received:
            return
        if seq != self._received + 1:
            raise RemoteProtocolError("message sequence skipped ahead")
        value = self._decoder.decode(frame.payload)
        self._received = seq
        if self.config.auto_ack:
            self._ack_target = seq
        self._events.append(MessageReceived(value, frame.channel, seq))

    def _handle_control(self, opcode: int, body: bytes) -> None:
        if opcode == Opcode.ACK:
            self._handle_ack(_read_u64(body))
        elif opcode == Opcode.PING:
            self._write(encode_control(Opcode.PONG, _u64.pack(_read_u64(body))))
        elif opcode == Opcode.PONG:
            _read_u64(body)
        elif opcode == Opcode.CLOSE:
            if len(body) < 2:
                raise RemoteProtocolError("CLOSE without a code")
            (code,) = _close_code.unpack_from(body)
            try:
                reason = bytes(body[2:]).decode("utf-8")
            except UnicodeDecodeError:
                reason = ""  # a bad reason is ignored (section 2.2)
            self._end(code, reason, remote=True)
        elif opcode in (Opcode.HELLO, Opcode.WELCOME, Opcode.RESUME):
            self._handle_handshake(opcode, body)
        else:
            raise RemoteProtocolError(f"unknown opcode {opcode}")

    def _handle_handshake(self, opcode: int, body: bytes) -> None:
        raise RemoteProtocolError("unexpected handshake frame")

    def _handle_ack(self, seq: int) -> None:
        if self.state is not SessionState.OPEN:
            raise RemoteProtocolError("ACK before WELCOME")
        if seq > self._sent:
            raise RemoteProtocolError("ACK of a message never sent")
        self._drop_acknowledged(seq)

    def _drop_acknowledged(self, seq: int) -> None:
        replay = self._replay
        while replay and replay[0][0] <= seq:
            self._replay_bytes -= len(replay.popleft()[1])

    # -- writing and state changes

    def _write(self, frame: bytes) -> None:
        self._out.append(frame)
        self._last_sent = self._now
        self.frames_sent += 1

    def _queue_ack(self) -> None:
        if self._ack_target <= self._acked or self.state is not SessionState.OPEN:
            return
        if self._out or self.config.ack_delay <= 0:
            # one ACK for everything acknowledged until the bytes are taken
            self._ack_now = True
        elif self._ack_due is None:
            self._ack_due = self._now + self.config.ack_delay

    def _send_ack(self) -> None:
        self._ack_due = None
        self._ack_now = False
        if self._ack_target > self._acked and self._connected:
            self._acked = self._ack_target
            self._write(encode_control(Opcode.ACK, _u64.pack(self._acked)))

    def _replay_all(self) -> int:
        for _, frame in self._replay:
            self._write(frame)
        return len(self._replay)

    def _attach(self, now: float) -> None:
        self._connected = True
        self._now = self._last_received = self._last_sent = now
        self._out.clear()

    def _detach(self, code: CloseCode | None) -> None:
        self._connected = False
        self._ack_due = None
        self._ack_now = False
        self._out.clear()
        self._handshake_deadline = None
        self._frames = FrameDecoder(self.config.max_frame_size)
        if self.state in (SessionState.OPEN, SessionState.DETACHED) or (
            self.state is SessionState.HANDSHAKE and self.session_id is not None
        ):
            self.state = SessionState.DETACHED
            if self._grace_deadline is None:
                self._grace_deadline = self._now + self._grace
            self._events.append(ConnectionLost(code))
        else:
            self._lost_before_welcome(code)

    def _lost_before_welcome(self, code: CloseCode | None) -> None:
        self.state = SessionState.CLOSED

    def _handshake_timed_out(self) -> None:
        self._detach(CloseCode.HANDSHAKE_TIMEOUT)

    def _fail(self, exc: RemoteProtocolError) -> None:
        self._end(exc.code, exc.reason, remote=False)

    def _end(self, code: int, reason: str, *, remote: bool) -> None:
        if self._connected and not remote:
            self._write(_encode_close(code, reason))
        self.state = SessionState.CLOSED
        self._connected = False
        self._handshake_deadline = self._grace_deadline = None
        self._replay.clear()
        self._replay_bytes = 0
        self._events.append(SessionEnded(code, reason, remote))

    def _decode_control(self, body: bytes, cls: type[Any]) -> Any:
        value = self._decoder.decode(body)
        if type(value) is not cls:
            raise RemoteProtocolError("handshake frame of the wrong type")
        return value


def _encode_close(code: int, reason: str) -> bytes:
    """A CLOSE frame; the reason is cut to its limit on a character
    boundary (section 2.2)."""
    raw = reason.encode("utf-8")[:MAX_REASON_BYTES]
    raw = raw.decode("utf-8", "ignore").encode("utf-8")
    return encode_control(Opcode.CLOSE, _close_code.pack(code) + raw)


def _read_u64(body: bytes) -> int:
    if len(body) != 8:
        raise RemoteProtocolError("control frame body of the wrong size")
    return int(_u64.unpack(body)[0])


def _check_max_frame(value: int) -> int:
    if not MIN_FRAME_SIZE <= value <= 0xFFFFFFFF:
        raise RemoteProtocolError("max_frame out of range")
    return value


class ClientSession(Session):
    """The client role: opens a session with HELLO, resumes it with RESUME.

    Args:
        registry: The client's message classes.
        build: The client's build, which the server may refuse.
        auth: Credentials for the server, or None.
        config: Settings; ``heartbeat`` and ``grace`` come from the server.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        build: str,
        auth: dict[str, Any] | None = None,
        config: SessionConfig | None = None,
    ) -> None:
        super().__init__(registry, config)
        self.build = build
        self.auth = auth
        self.welcome: Welcome | None = None
        self._token = b""

    def connection_made(self, now: float) -> None:
        """Start the handshake on a new connection: HELLO, or RESUME when
        the session was welcomed before.

        Raises:
            LocalProtocolError: The session is closed or still connected.
        """
        if self.state is SessionState.CLOSED:
            raise LocalProtocolError("the session is closed")
        if self._connected:
            raise LocalProtocolError("the session has a connection already")
        self._attach(now)
        self.state = SessionState.HANDSHAKE
        self._handshake_deadline = now + self.config.handshake_timeout
        if self.welcome is None:
            message: Any = Hello(
                PROTOCOL_VERSION,
                self.build,
                self.auth,
                self.config.max_frame_size,
                self._registry.trait_table(),
            )
            opcode = Opcode.HELLO
        else:
            message = Resume(
                PROTOCOL_VERSION,
                self.build,
                self._token,
                self._received,
                self.config.max_frame_size,
            )
            opcode = Opcode.RESUME
        self._write(encode_control(opcode, self._encoder.encode(message)))

    def _handle_handshake(self, opcode: int, body: bytes) -> None:
        if opcode != Opcode.WELCOME or self.state is not SessionState.HANDSHAKE:
            raise RemoteProtocolError("unexpected handshake frame")
        welcome: Welcome = self._decode_control(body, Welcome)
        resuming = self.welcome is not None
        if welcome.resumed != resuming:
            raise RemoteProtocolError("WELCOME does not answer what was asked")
        acked = self._replay[0][0] - 1 if self._replay else self._sent
        if not acked <= welcome.last_seq <= self._sent:
            raise RemoteProtocolError("WELCOME resumes from an unknown point")
        if not (0 < welcome.heartbeat <= 3600 and 0 <= welcome.grace <= 86400):
            raise RemoteProtocolError("WELCOME timers out of range")
        self._peer_max_frame = _check_max_frame(welcome.max_frame)
        if not resuming:
            self._decoder.set_peer_table(welcome.traits)
        self._heartbeat = welcome.heartbeat
        self._grace = welcome.grace
        self.welcome = welcome
        self.session_id = welcome.session
        self._token = welcome.token
        self.state = SessionState.OPEN
        self._handshake_deadline = self._grace_deadline = None
        self._drop_acknowledged(welcome.last_seq)

        # an ACK at once tells the server this WELCOME arrived (section 6.4)
        self._acked = self._received
        self._write(encode_control(Opcode.ACK, _u64.pack(self._received)))
        replayed = self._replay_all()
        if resuming:
            self._events.append(SessionResumed(replayed))
        else:
            self._events.append(SessionEstablished(welcome.session, welcome))

    def _lost_before_welcome(self, code: CloseCode | None) -> None:
        # no session yet: a new connection will say HELLO again
        self.state = SessionState.IDLE
        self._events.append(ConnectionLost(code))


class ServerSession(Session):
    """The server role; one is made for each new connection.

    Args:
        registry: The server's message classes.
        config: Settings; ``heartbeat`` and ``grace`` are announced to the
            client.
        now: When the connection was accepted.
    """

    def __init__(
        self, registry: Registry, config: SessionConfig | None = None, *, now: float
    ) -> None:
        super().__init__(registry, config)
        self._frames = FrameDecoder(
            min(self.config.max_frame_size, HANDSHAKE_FRAME_SIZE)
        )
        self._attach(now)
        self.state = SessionState.HANDSHAKE
        self._handshake_deadline = now + self.config.handshake_timeout
        self._token = self._confirmed_token = b""
        self._key = secrets.token_bytes(TOKEN_KEY_SIZE)
        self._request: Hello | Resume | None = None

    @property
    def key(self) -> bytes:
        """The part of every resume token of this session that names it."""
        return self._key

    def accept(self, now: float, *, session_id: str | None = None) -> None:
        """Welcome the HELLO reported by :class:`~.events.HelloReceived`.

        Raises:
            LocalProtocolError: No HELLO waits for an answer.
        """
        if not isinstance(self._request, Hello) or not self._connected:
            raise LocalProtocolError("no HELLO to accept")
        self._now = now
        self.session_id = session_id or secrets.token_urlsafe(12)
        self._frames.max_frame_size = self.config.max_frame_size
        self._request = None
        self._open(resumed=False, traits=self._registry.trait_table())
        self._replay_all()

    def reject(self, code: int, reason: str = "") -> None:
        """Refuse the HELLO or RESUME waiting for an answer and close."""
        self._end(code, reason, remote=False)

    def take_over(self, other: ServerSession, now: float) -> tuple[bool, bytes]:
        """Resume this session on the connection of ``other``, whose RESUME
        (reported by :class:`~.events.ResumeRequested`) names it.

        On success ``other`` is closed without a word and the adapter of its
        connection must drive this session from now on; this session's old
        connection, if it still had one, is replaced. On failure ``other``
        sends CLOSE with RESUME_REJECTED, SESSION_EXPIRED or PROTOCOL_ERROR.

        Returns:
            Whether the resume was accepted, and the last bytes for this
            session's old connection (a CLOSE with SESSION_REPLACED), which
            the adapter of that connection writes before closing it; empty
            when there was no old connection.

        Raises:
            LocalProtocolError: ``other`` has no RESUME waiting.
        """
        request = other._request
        if not isinstance(request, Resume) or not other._connected:
            raise LocalProtocolError("no RESUME to take over")
        self._now = other._now = now
        if self.state is SessionState.CLOSED:
            other.reject(CloseCode.SESSION_EXPIRED, "session expired")
            return False, b""
        if hmac.compare_digest(request.token, self._token):
            self._confirmed_token = self._token
        elif not hmac.compare_digest(request.token, self._confirmed_token):
            other.reject(CloseCode.RESUME_REJECTED, "resume token refused")
            return False, b""
        acked = self._replay[0][0] - 1 if self._replay else self._sent
        if not acked <= request.last_seq <= self._sent:
            other.reject(CloseCode.PROTOCOL_ERROR, "resume from an unknown point")
            return False, b""

        # take the new connection over from the session that received it
        farewell = b""
        if self._connected:
            self._write(_encode_close(CloseCode.SESSION_REPLACED, "replaced"))
            farewell = self.data_to_send()
        self._attach(now)
        self._frames = other._frames
        self._frames.max_frame_size = self.config.max_frame_size
        self._peer_max_frame = request.max_frame
        other._request = None
        other._connected = False
        other.state = SessionState.CLOSED

        self._drop_acknowledged(request.last_seq)
        self._open(resumed=True, traits=[])
        self._events.append(SessionResumed(self._replay_all()))
        return True, farewell

    def _open(self, *, resumed: bool, traits: list[Any]) -> None:
        self.state = SessionState.OPEN
        self._handshake_deadline = self._grace_deadline = None
        # The last token the client is known to hold stays good until it
        # shows it has the new one, by sending anything after the WELCOME
        # or by resuming with it: a WELCOME lost with its connection must
        # not lock the client out.
        self._token = self._key + secrets.token_bytes(TOKEN_SECRET_SIZE)
        welcome = Welcome(
            self.session_id or "",
            self._token,
            resumed,
            self._ack_target,
            self.config.max_frame_size,
            self._heartbeat,
            self._grace,
            traits,
        )
        self._write(encode_control(Opcode.WELCOME, self._encoder.encode(welcome)))

    def _handle_handshake(self, opcode: int, body: bytes) -> None:
        if self.state is not SessionState.HANDSHAKE or self._request is not None:
            raise RemoteProtocolError("unexpected handshake frame")
        if opcode == Opcode.HELLO:
            hello: Hello = self._decode_control(body, Hello)
            self._check_version(hello.version)
            self._peer_max_frame = _check_max_frame(hello.max_frame)
            try:
                self._decoder.set_peer_table(hello.traits)
            except DecodeError as exc:
                raise RemoteProtocolError(exc.reason, exc.code) from None
            self._request = hello
            self._events.append(HelloReceived(hello))
        elif opcode == Opcode.RESUME:
            resume: Resume = self._decode_control(body, Resume)
            self._check_version(resume.version)
            _check_max_frame(resume.max_frame)
            if resume.last_seq < 0:
                raise RemoteProtocolError("negative last_seq")
            self._request = resume
            self._events.append(ResumeRequested(resume))
        else:
            raise RemoteProtocolError("unexpected handshake frame")

    def _check_version(self, version: int) -> None:
        if version != PROTOCOL_VERSION:
            raise RemoteProtocolError(
                f"protocol version {PROTOCOL_VERSION} only",
                CloseCode.UNSUPPORTED_VERSION,
            )

    def _handle_frame(self, frame: Frame) -> None:
        # until the server decides, the client must wait (section 6.1)
        if self._request is not None:
            raise RemoteProtocolError("frame before WELCOME")
        self._confirmed_token = self._token
        super()._handle_frame(frame)

    def _handshake_timed_out(self) -> None:
        self._end(CloseCode.HANDSHAKE_TIMEOUT, "handshake timed out", remote=False)

    def _lost_before_welcome(self, code: CloseCode | None) -> None:
        self._end(CloseCode.GOING_AWAY, "connection lost before WELCOME", remote=False)
