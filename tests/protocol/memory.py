"""Sessions wired together in memory, with a clock the tests move by hand.

:class:`Hub` plays the server's part that the protocol core leaves to the
application: it accepts every HELLO, finds sessions by their resume token,
and remembers sessions that expired. :class:`Link` carries bytes between a
client and the hub, may deliver them in pieces, and may be cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.events import (
    HelloReceived,
    MessageReceived,
    ResumeRequested,
    SessionEnded,
    SessionEvent,
)
from lgserver.protocol.session import (
    ClientSession,
    ServerSession,
    SessionConfig,
    token_key,
)


def drain(session: ClientSession | ServerSession) -> list[SessionEvent]:
    """Every event the session has not reported yet."""
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


@dataclass
class Hub:
    """The server side: sessions by token key, and what they delivered."""

    registry: Registry
    config: SessionConfig = field(default_factory=SessionConfig)
    sessions: dict[bytes, ServerSession] = field(default_factory=dict)
    expired: dict[bytes, ServerSession] = field(default_factory=dict)
    received: dict[bytes, list[Any]] = field(default_factory=dict)
    ended: dict[bytes, list[SessionEnded]] = field(default_factory=dict)

    def connect(self, now: float) -> ServerSession:
        """A new connection arrives."""
        return ServerSession(self.registry, self.config, now=now)

    def process(self, session: ServerSession, now: float) -> ServerSession:
        """Handle the session's events; return the session that now owns
        its connection (another one after a resume)."""
        for event in drain(session):
            if isinstance(event, HelloReceived):
                session.accept(now)
                self.sessions[session.key] = session
                self.received[session.key] = []
                self.ended[session.key] = []
            elif isinstance(event, ResumeRequested):
                key = token_key(event.resume.token)
                old = None if key is None else self.sessions.get(key)
                old = old or (None if key is None else self.expired.get(key))
                if old is None:
                    session.reject(CloseCode.RESUME_REJECTED, "unknown token")
                    continue
                accepted, _ = old.take_over(session, now)
                if accepted:
                    session = old
                    self.collect(old)
            else:
                self.record(session, event)
        return session

    def collect(self, session: ServerSession) -> None:
        """Record the events of a session that has no connection."""
        for event in drain(session):
            self.record(session, event)

    def record(self, session: ServerSession, event: SessionEvent) -> None:
        if session.key not in self.received:
            return
        if isinstance(event, MessageReceived):
            self.received[session.key].append(event.value)
        elif isinstance(event, SessionEnded):
            self.ended[session.key].append(event)
            if event.code == CloseCode.SESSION_EXPIRED:
                self.expired[session.key] = self.sessions.pop(session.key)
            else:
                self.sessions.pop(session.key, None)


@dataclass
class Link:
    """One connection between a client session and the hub."""

    hub: Hub
    client: ClientSession
    server: ServerSession
    up: bytearray = field(default_factory=bytearray)
    down: bytearray = field(default_factory=bytearray)
    client_events: list[SessionEvent] = field(default_factory=list)

    @classmethod
    def open(cls, hub: Hub, client: ClientSession, now: float) -> Link:
        server = hub.connect(now)
        client.connection_made(now)
        return cls(hub, client, server)

    def collect(self) -> None:
        self.up += self.client.data_to_send()
        self.down += self.server.data_to_send()

    def step(self, now: float, size: int | None = None) -> bool:
        """Deliver up to ``size`` bytes each way; tell whether any moved."""
        self.collect()
        moved = False
        if self.up:
            chunk = bytes(self.up[:size] if size else self.up)
            del self.up[: len(chunk)]
            self.server.receive_data(chunk, now)
            self.server = self.hub.process(self.server, now)
            moved = True
        if self.down:
            chunk = bytes(self.down[:size] if size else self.down)
            del self.down[: len(chunk)]
            self.client.receive_data(chunk, now)
            moved = True
        self.client_events.extend(drain(self.client))
        self.collect()
        return moved

    def settle(self, now: float, size: int | None = None) -> None:
        """Deliver everything in flight, in pieces of ``size`` bytes."""
        for _ in range(100_000):
            if not self.step(now, size):
                return
        raise AssertionError("the link never settled")

    def cut(self, client_notices: float, server_notices: float) -> None:
        """Drop the connection with the bytes in flight; each side notices
        at its own time."""
        self.up.clear()
        self.down.clear()
        self.client.connection_lost(client_notices)
        self.server.connection_lost(server_notices)
        self.client_events.extend(drain(self.client))
        self.hub.collect(self.server)
