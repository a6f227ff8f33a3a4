"""The hub: connections, sessions and principals, and the calls between them.

Every transport hands its connections to the hub through the small
:class:`Link` interface: a way to write bytes and to close. The hub gives
each new connection a :class:`~lgserver.protocol.session.ServerSession`,
answers its HELLO (through the configured authenticator) or its RESUME
(by finding the session its token names, which then adopts the
connection), keeps one timer per session for heartbeats and the grace
window, dispatches calls to the registered methods, and forgets a session
once it has ended.

The hub knows nothing of sockets; the transports know nothing of sessions
beyond feeding bytes to the one the hub gives them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from ..protocol.codec import Registry
from ..protocol.errors import CloseCode, LocalProtocolError
from ..protocol.events import (
    ConnectionLost,
    HelloReceived,
    MessageReceived,
    ResumeRequested,
    SessionEnded,
    SessionEvent,
    SessionResumed,
)
from ..protocol.messages import Call, CallError, ErrorCode, Event, Hello, Result
from ..protocol.session import ServerSession, SessionConfig, SessionState, token_key
from ..timers import Alarm
from .metrics import Metrics

__all__ = [
    "Authenticator",
    "CallContext",
    "CallFailed",
    "EventHandler",
    "Hub",
    "HubLimits",
    "Link",
    "Principal",
]

logger = logging.getLogger("lgserver.server")

# Expired sessions remembered, so that a late RESUME hears SESSION_EXPIRED
# rather than RESUME_REJECTED; the oldest are forgotten first.
TOMBSTONES = 10_000


class Link(Protocol):
    """What the hub needs of a connection, whatever its transport."""

    def write(self, data: bytes) -> None:
        """Queue bytes for the peer."""

    def close(self) -> None:
        """Flush what is queued and close the connection."""


@dataclass(frozen=True, slots=True)
class HubLimits:
    """Limits on what clients may take; each has a safe default.

    Args:
        max_connections: Connections at once, over every transport.
        max_connections_per_address: Connections at once from one address.
        messages_per_second: The steady rate of messages a session may
            send (a token bucket).
        burst: How many messages above that rate it may send at once.
    """

    max_connections: int = 10_000
    max_connections_per_address: int = 100
    messages_per_second: float = 50.0
    burst: int = 100


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a session speaks for: an operator, an administrator or a
    customer (``kind``), by ``name``.

    ``via`` says how the HELLO proved it (``"password"``, ``"token"``,
    ``"visitor"``; empty when the authenticator does not say), and
    ``token_id`` names the login token it used, if any.
    """

    kind: str
    name: str
    display_name: str = ""
    via: str = ""
    token_id: int | None = None


#: Decides on a HELLO from a client address (None when unknown): a
#: principal to accept it, or a close code and a reason to refuse it.
Authenticator = Callable[
    [Hello, "str | None"], Awaitable["Principal | tuple[int, str]"]
]


class CallFailed(Exception):
    """Raised by a method to answer its call with an error.

    Args:
        code: An :class:`~lgserver.protocol.messages.ErrorCode` or an
            application code from 1000 on.
        message: Words for people; nothing internal.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a method knows of its caller."""

    hub: Hub
    session: ServerSession
    principal: Principal


Method = Callable[[CallContext, Any], Awaitable[Any]]
#: Handles an event a client sent (such as a typing preview), at once.
EventHandler = Callable[[CallContext, Any], None]


@dataclass(slots=True)
class _Entry:
    """The hub's record of one session."""

    session: ServerSession
    alarm: Alarm  # wakes the session at its next deadline
    principal: Principal | None = None
    link: Link | None = None
    address: str | None = None
    dirty: bool = False  # written to since the last flush
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    tokens: float = 0.0
    refilled_at: float = 0.0
    transport: str = ""
    frames_received: int = 0
    frames_sent: int = 0
    # seqs of received messages not yet acknowledged, in order, and those
    # of them already handled; made when first needed (most sessions wait)
    handling: deque[int] | None = None
    handled: set[int] | None = None


class Hub:
    """Sessions and their connections, for every transport.

    The hub acknowledges a client's message only once it has been handled:
    a call once its method has returned (so a method that stores something
    and returns after the store commits makes the acknowledgement mean
    "durable"), other messages at once. Acknowledgements are cumulative, so
    a slow call holds back those of the messages after it.

    Args:
        registry: The server's message classes.
        authenticate: Decides on each HELLO.
        config: Session settings announced to every client.
        limits: Limits on connections and messages.
        metrics: Where the hub counts; a new set by default.
        accepted_builds: Client builds accepted, by prefix; empty accepts
            any. Others are refused with BUILD_REFUSED.
        clock: The monotonic clock; ``time.monotonic`` by default.
    """

    def __init__(
        self,
        registry: Registry,
        authenticate: Authenticator,
        config: SessionConfig | None = None,
        *,
        limits: HubLimits | None = None,
        metrics: Metrics | None = None,
        accepted_builds: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.config = replace(config or SessionConfig(), auto_ack=False)
        self.limits = limits or HubLimits()
        self.accepted_builds = accepted_builds
        self.connections = 0
        self._per_address: dict[str, int] = {}
        self.metrics = metrics or Metrics()
        self._traffic = self.metrics.traffic
        self.metrics.watch_sessions(
            lambda: self.sessions - self.detached, lambda: self.detached
        )
        self._authenticate = authenticate
        self._clock = clock
        self._entries: dict[ServerSession, _Entry] = {}
        self._by_key: dict[bytes, ServerSession] = {}
        self._expired: OrderedDict[bytes, None] = OrderedDict()
        self._methods: dict[str, Method] = {}
        self._event_handlers: dict[str, EventHandler] = {}
        self._dirty: list[_Entry] = []
        self.on_session_ended: list[Callable[[ServerSession, SessionEnded], None]] = []

    # -- what the application registers

    def method(self, name: str) -> Callable[[Method], Method]:
        """Decorator: register ``name`` as a method clients may call."""

        def register(function: Method) -> Method:
            self._methods[name] = function
            return function

        return register

    def event(self, name: str) -> Callable[[EventHandler], EventHandler]:
        """Decorator: register the handler of the events ``name`` clients
        send. It runs at once, in the order the events arrive, and must not
        block; an event no handler takes is dropped."""

        def register(function: EventHandler) -> EventHandler:
            self._event_handlers[name] = function
            return function

        return register

    @property
    def sessions(self) -> int:
        """How many sessions are open or waiting in their grace window."""
        return len(self._by_key)

    @property
    def detached(self) -> int:
        """How many sessions wait in their grace window."""
        return sum(1 for s in self._by_key.values() if not s.connected)

    def principal(self, session: ServerSession) -> Principal | None:
        """Who ``session`` speaks for, once accepted."""
        entry = self._entries.get(session)
        return entry.principal if entry else None

    def address(self, session: ServerSession) -> str | None:
        """The address of ``session``'s connection (the client's, behind a
        trusted proxy), or None while it has none."""
        entry = self._entries.get(session)
        return entry.address if entry else None

    def send(
        self,
        session: ServerSession,
        value: Any,
        *,
        channel: int = 0,
        volatile: bool = False,
    ) -> None:
        """Send ``value`` to a session, now or, if detached, on its resume.
        A ``volatile`` value (a typing notice) goes now or never."""
        session.send(value, channel=channel, volatile=volatile)
        self._after(session)

    def send_encoded(
        self,
        sessions: list[ServerSession],
        payload: bytes,
        *,
        channel: int = 0,
        volatile: bool = False,
    ) -> None:
        """Send one encoded message to many sessions: encoded once. A
        session that cannot take it (larger than its peer accepts) is
        skipped; one whose replay buffer overflows ends."""
        for session in sessions:
            if session.state is not SessionState.CLOSED:
                try:
                    session.send_encoded(payload, channel=channel, volatile=volatile)
                except LocalProtocolError:
                    logger.info(
                        "session %s: a message larger than its client accepts "
                        "was not sent",
                        session.session_id,
                    )
                    continue
                self._after(session)

    def refuse(self, session: ServerSession, code: int, reason: str) -> None:
        """End a session because its transport met bad input."""
        if session.state is not SessionState.CLOSED:
            session.close(code, reason)
            self._after(session)

    def end_sessions(
        self, kinds: Iterable[str], name: str, code: int, reason: str
    ) -> int:
        """End every session of one principal on the server's own account
        (an account that was disabled), telling the connected clients
        why; returns how many ended."""
        wanted = set(kinds)
        ending = [
            entry.session
            for entry in self._entries.values()
            if entry.principal is not None
            and entry.principal.kind in wanted
            and entry.principal.name == name
            and entry.session.state is not SessionState.CLOSED
        ]
        for session in ending:
            session.close(code, reason)
            self._after(session)
        return len(ending)

    def close_all(self, code: int = CloseCode.GOING_AWAY, reason: str = "") -> None:
        """End every session, telling the connected clients why."""
        for session in list(self._entries):
            session.close(code, reason)
            self._after(session)

    # -- what the transports call

    def connection_made(
        self, link: Link, address: str | None = None, transport: str = "lg/1"
    ) -> ServerSession:
        """A transport accepted a connection from ``address``: the session
        it feeds. Over a connection limit, that session refuses at once.
        ``transport`` names the transport in the metrics."""
        now = self._clock()
        session = ServerSession(self.registry, self.config, now=now)
        alarm = Alarm(partial(self._on_timer, session), self._clock)
        entry = _Entry(session, alarm, link=link, address=address, refilled_at=now)
        entry.tokens = self.limits.burst
        entry.transport = transport
        self._entries[session] = entry
        self._count(address, +1)
        self.metrics.connections.labels(transport).inc()
        limits = self.limits
        if self.connections > limits.max_connections or (
            address is not None
            and self._per_address[address] > limits.max_connections_per_address
        ):
            session.reject(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
            self._after(session)
            return session
        alarm.arm(session.get_timer())
        return session

    def data_received(self, session: ServerSession, data: bytes) -> ServerSession:
        """Feed bytes of a stream transport; returns the session that now
        owns the connection (another one after a resume)."""
        self._traffic.bytes_received += len(data)
        session.receive_data(data, self._clock())
        return self._after(session)

    def message_received(self, session: ServerSession, data: bytes) -> ServerSession:
        """Feed one message of a message transport; as :meth:`data_received`."""
        self._traffic.bytes_received += len(data)
        session.receive_message(data, self._clock())
        return self._after(session)

    def connection_lost(self, session: ServerSession) -> None:
        """The transport of ``session``'s connection ended."""
        entry = self._entries.get(session)
        if entry is None:
            return
        self._release(entry, close=False)
        session.connection_lost(self._clock())
        self._after(session)

    # -- the machinery

    def _after(self, session: ServerSession, *, now: bool = False) -> ServerSession:
        """Handle events, flush (``now``, or at the loop's next turn) and
        rearm the timer after any change."""
        owner = session
        entry = self._entries.get(session)
        if entry is None:
            return session
        while (event := session.next_event()) is not None:
            adopted = self._handle(entry, event)
            if adopted is not None:
                owner = adopted
        if session.state is SessionState.CLOSED:
            self._forget(entry)
        else:
            if now:
                self._flush(entry)
            elif not entry.dirty and session.has_output:
                # everything written to sessions until the loop's next turn
                # goes out then, one write a connection
                entry.dirty = True
                if not self._dirty:
                    asyncio.get_running_loop().call_soon(self._flush_dirty)
                self._dirty.append(entry)
            entry.alarm.arm(session.get_timer())
        return owner

    def _flush_dirty(self) -> None:
        dirty, self._dirty = self._dirty, []
        for entry in dirty:
            entry.dirty = False
            self._flush(entry)

    def _flush(self, entry: _Entry) -> None:
        session = entry.session
        data = session.data_to_send()
        if data and entry.link is not None:
            entry.link.write(data)
            self._traffic.bytes_sent += len(data)
        traffic = self._traffic
        traffic.frames_received += session.frames_received - entry.frames_received
        entry.frames_received = session.frames_received
        traffic.frames_sent += session.frames_sent - entry.frames_sent
        entry.frames_sent = session.frames_sent

    def _handle(self, entry: _Entry, event: SessionEvent) -> ServerSession | None:
        session = entry.session
        if isinstance(event, MessageReceived):
            if not self._take_token(entry):
                session.close(CloseCode.RATE_LIMITED, "too many messages")
            elif isinstance(event.value, Call):
                if event.seq:
                    if entry.handling is None:
                        entry.handling, entry.handled = deque(), set()
                    entry.handling.append(event.seq)
                self._start_call(entry, event.value, event.seq)
            else:
                if isinstance(event.value, Event):
                    self._run_event(entry, event.value)
                handling, handled = entry.handling, entry.handled
                if event.seq and handling and handled is not None:
                    # handled, and acknowledged after the calls before it
                    handling.append(event.seq)
                    handled.add(event.seq)
                elif event.seq:  # (a volatile message has none)
                    session.acknowledge(event.seq)
        elif isinstance(event, HelloReceived):
            self._start(entry, self._accept(entry, event.hello))
        elif isinstance(event, ResumeRequested):
            return self._resume(entry, event.resume.token)
        elif isinstance(event, ConnectionLost):
            if event.code is not None:
                self._release(entry, close=True)
            logger.info("session %s lost its connection", session.session_id)
        elif isinstance(event, SessionResumed):
            self.metrics.resumes.inc()
            logger.info("session %s resumed", session.session_id)
        elif isinstance(event, SessionEnded):
            if session.session_id is not None:
                logger.info(
                    "session %s ended: %s %s",
                    session.session_id,
                    event.code,
                    event.reason,
                )
                self.metrics.closes.labels(str(int(event.code))).inc()
            for callback in self.on_session_ended:
                callback(session, event)
        return None

    async def _accept(self, entry: _Entry, hello: Hello) -> None:
        session = entry.session
        try:
            if self.accepted_builds and not hello.build.startswith(
                self.accepted_builds
            ):
                verdict: Principal | tuple[int, str] = (
                    CloseCode.BUILD_REFUSED,
                    "this client build is not accepted; reload the page",
                )
            else:
                verdict = await self._authenticate(hello, entry.address)
        except Exception:
            logger.exception("authentication failed")
            verdict = (CloseCode.INTERNAL_ERROR, "internal error")
        if session.state is not SessionState.HANDSHAKE or not session.connected:
            return
        if isinstance(verdict, Principal):
            session.accept(self._clock())
            entry.principal = verdict
            assert session.key not in self._by_key
            self._by_key[session.key] = session
            logger.info(
                "session %s opened for %s %s",
                session.session_id,
                verdict.kind,
                verdict.name,
            )
        else:
            code, reason = verdict
            session.reject(code, reason)
        self._after(session)

    def _resume(self, entry: _Entry, token: bytes) -> ServerSession | None:
        pending = entry.session
        key = token_key(token)
        old = None if key is None else self._by_key.get(key)
        if old is None:
            if key in self._expired:
                pending.reject(CloseCode.SESSION_EXPIRED, "session expired")
            else:
                pending.reject(CloseCode.RESUME_REJECTED, "resume token refused")
            return None
        accepted, farewell = old.take_over(pending, self._clock())
        if not accepted:
            return None
        old_entry = self._entries[old]
        if old_entry.link is not None and farewell:
            old_entry.link.write(farewell)
        # what the session has to send now is for its new connection
        self._release(old_entry, close=True, flush=False)
        old_entry.link, old_entry.address = entry.link, entry.address
        old_entry.transport = entry.transport
        entry.link = entry.address = None
        self._after(old)
        return old

    def _start(self, entry: _Entry, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        entry.tasks.add(task)
        task.add_done_callback(entry.tasks.discard)

    def _run_event(self, entry: _Entry, event: Event) -> None:
        handler = self._event_handlers.get(event.name)
        if handler is None or entry.principal is None:
            return
        try:
            handler(CallContext(self, entry.session, entry.principal), event.data)
        except Exception:
            logger.exception("handler of event %s failed", event.name)

    def _start_call(self, entry: _Entry, call: Call, seq: int) -> None:
        self._start(entry, self._run_call(entry, call, seq))

    def _handled(self, entry: _Entry, seq: int) -> None:
        """Call ``seq`` has been answered: acknowledge it and the messages
        after it handled before it, unless an earlier call still runs."""
        handling, handled = entry.handling, entry.handled
        assert handling is not None and handled is not None
        if handling[0] != seq:
            handled.add(seq)
            return
        last = handling.popleft()
        while handling and handling[0] in handled:
            last = handling.popleft()
            handled.remove(last)
        entry.session.acknowledge(last)

    async def _run_call(self, entry: _Entry, call: Call, seq: int) -> None:
        session = entry.session
        method = self._methods.get(call.method)
        answer: Result | CallError
        if method is None or entry.principal is None:
            answer = CallError(call.id, ErrorCode.NOT_FOUND, "no such method")
        else:
            context = CallContext(self, session, entry.principal)
            try:
                answer = Result(call.id, await method(context, call.params))
            except CallFailed as failure:
                answer = CallError(call.id, failure.code, failure.message, failure.data)
            except Exception:
                logger.exception("method %s failed", call.method)
                answer = CallError(call.id, ErrorCode.INTERNAL, "internal error")
        if session.state is SessionState.CLOSED:
            return
        try:
            session.send(answer)
        except LocalProtocolError:
            session.send(CallError(call.id, ErrorCode.TOO_LARGE, "result too large"))
        if seq:
            self._handled(entry, seq)
        # the last answer awaited goes at once, with those ready before it
        self._after(session, now=not entry.handling)

    def _on_timer(self, session: ServerSession) -> None:
        if session not in self._entries:
            return
        session.handle_timer(self._clock())
        self._after(session)

    def _count(self, address: str | None, change: int) -> None:
        self.connections += change
        if address is not None:
            count = self._per_address.get(address, 0) + change
            if count:
                self._per_address[address] = count
            else:
                del self._per_address[address]

    def _release(self, entry: _Entry, *, close: bool, flush: bool = True) -> None:
        """Let go of the entry's connection, closing it if asked after
        writing what waits for it (unless told not to)."""
        if entry.link is None:
            return
        if close and flush:
            self._flush(entry)
        link, entry.link = entry.link, None
        assert link is not None
        self._count(entry.address, -1)
        self.metrics.connections.labels(entry.transport).dec()
        entry.address = None
        if close:
            link.close()

    def _take_token(self, entry: _Entry) -> bool:
        limits = self.limits
        now = self._clock()
        elapsed = now - entry.refilled_at
        entry.refilled_at = now
        entry.tokens = min(
            float(limits.burst), entry.tokens + elapsed * limits.messages_per_second
        )
        if entry.tokens < 1.0:
            return False
        entry.tokens -= 1.0
        return True

    def _forget(self, entry: _Entry) -> None:
        session = entry.session
        entry.alarm.cancel()
        for task in entry.tasks:
            task.cancel()
        self._release(entry, close=True)
        del self._entries[session]
        if self._by_key.get(session.key) is session:
            del self._by_key[session.key]
            self._expired[session.key] = None
            while len(self._expired) > TOMBSTONES:
                self._expired.popitem(last=False)
