"""What a load generator's customer or operator holds: a *link* to the
server under test, speaking the live-chat API (``docs/chat-api.md``).

:class:`LgLink` is an :class:`lgserver.client.Client` session (``lg/1`` or
WebSocket, resuming by itself). :class:`BareLink` speaks the bare
baseline's frames (:mod:`bench.loadtest.baseline_bare`) and
:class:`SocketIOLink` the python-socketio baseline's events; both translate
the few calls and events the load test uses, so that the same customers
and operators drive both servers:

* calls ``operator.status``, ``chat.place``, ``chat.accept``,
  ``chat.send``, ``chat.leave`` and ``chat.end``;
* events ``queue.offer``, ``chat.accepted``, ``chat.message`` and
  ``chat.ended``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import struct
from typing import Any

import websockets.asyncio.client
import websockets.exceptions

from lgserver.client import Client, RemoteCallError, SessionClosed
from lgserver.protocol.codec import Registry
from lgserver.protocol.messages import Event

from . import baseline_bare as bare

__all__ = ["BareLink", "CallFailed", "LgLink", "Link", "LinkClosed", "SocketIOLink"]


#: The message classes of every session of a generator: one registry, as
#: in the server, so that what it derives from a trait table is derived once.
REGISTRY = Registry()


class CallFailed(Exception):
    """The server answered a call with an error ``code``."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(f"{code} {message}".strip())
        self.code = code


class LinkClosed(Exception):
    """The session ended, with close code ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class Link:
    """A session with the server under test."""

    async def connect(self) -> None:
        raise NotImplementedError

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Call a method; raises :class:`CallFailed` or :class:`LinkClosed`."""
        raise NotImplementedError

    async def receive(self) -> tuple[str, dict[str, Any]]:
        """The next event: its name and data; raises :class:`LinkClosed`."""
        raise NotImplementedError

    def drop(self) -> None:
        """Cut the connection as a network failure would."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    @property
    def reconnects(self) -> int:
        return 0


class LgLink(Link):
    """An lgserver session through :class:`lgserver.client.Client`."""

    def __init__(
        self,
        port: int,
        context: ssl.SSLContext,
        transport: str,
        auth: dict[str, Any],
    ) -> None:
        self.client = Client(
            "127.0.0.1",
            port,
            registry=REGISTRY,
            build="loadtest",
            auth=auth,
            ssl_context=context,
            server_hostname="localhost",
            transport=transport,
        )

    async def connect(self) -> None:
        try:
            await self.client.connect()
        except SessionClosed as exc:
            raise LinkClosed(exc.code) from None

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return await self.client.call(method, params)
        except RemoteCallError as exc:
            raise CallFailed(exc.code, exc.message) from None
        except SessionClosed as exc:
            raise LinkClosed(exc.code) from None

    async def receive(self) -> tuple[str, dict[str, Any]]:
        while True:
            try:
                received = await self.client.receive()
            except SessionClosed as exc:
                raise LinkClosed(exc.code) from None
            value = received.value
            if isinstance(value, Event) and isinstance(value.data, dict):
                return value.name, value.data

    def drop(self) -> None:
        self.client.drop_connection()

    async def close(self) -> None:
        await self.client.close()

    @property
    def reconnects(self) -> int:
        return self.client.reconnects


class _BareProtocol(asyncio.Protocol):
    def __init__(self, link: BareLink) -> None:
        self.link = link
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        while len(buffer) - start >= 4:
            size = int.from_bytes(buffer[start : start + 4])
            if len(buffer) - start - 4 < size:
                break
            self.link._frame(bytes(buffer[start + 4 : start + 4 + size]))
            start += 4 + size
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self.link._lost()


class _BaselineLink(Link):
    """What the links to both baselines share: calls waiting for their
    answer by number, and the events read, in a queue that ``None``
    closes once the connection is lost."""

    def __init__(self) -> None:
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

    async def receive(self) -> tuple[str, dict[str, Any]]:
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)
            raise LinkClosed(bare.CONNECTION_LOST)
        return event

    def _lost(self) -> None:
        failure = LinkClosed(bare.CONNECTION_LOST)
        for future in self._calls.values():
            if not future.done():
                future.set_exception(failure)
        self._events.put_nowait(None)


class BareLink(_BaselineLink):
    """A session with the bare baseline; ``max_chats`` is what an operator
    announces, ``queue`` the department it is in."""

    def __init__(
        self, port: int, context: ssl.SSLContext, queue: int, max_chats: int = 0
    ) -> None:
        super().__init__()
        self.port = port
        self.context = context
        self.queue = struct.pack("!I", queue)
        self.max_chats = max_chats
        self._protocol: _BareProtocol | None = None
        self._requests = 0
        self._closed = False

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self._protocol = await loop.create_connection(
            lambda: _BareProtocol(self),
            "127.0.0.1",
            self.port,
            ssl=self.context,
            server_hostname="localhost",
        )

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        chat = int(params.get("chat", 0))
        if method == "operator.status":
            if params.get("status") != "available":
                return None
            cap = struct.pack("!H", self.max_chats)
            await self._request(bare.OPERATOR, self.queue + cap)
            return None
        if method == "chat.place":
            placed = await self._request(bare.PLACE, self.queue)
            return {"chat": str(placed), "position": None}
        if method == "chat.accept":
            await self._request(bare.ACCEPT, struct.pack("!I", chat))
            return {"chat": str(chat)}
        if method == "chat.send":
            body = struct.pack("!I", chat) + str(params["text"]).encode()
            number = await self._request(bare.SEND, body)
            return {"id": number}
        if method in ("chat.leave", "chat.end"):
            await self._request(bare.LEAVE, struct.pack("!I", chat))
            return None
        raise CallFailed(400, f"the bare baseline has no {method}")

    def drop(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()

    async def close(self) -> None:
        self._closed = True
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    async def _request(self, kind: int, body: bytes) -> int:
        protocol = self._protocol
        if self._closed or protocol is None or protocol.transport is None:
            raise LinkClosed(bare.CONNECTION_LOST)
        self._requests += 1
        number = self._requests
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._calls[number] = future
        payload = bytes([kind]) + struct.pack("!I", number) + body
        protocol.transport.write(len(payload).to_bytes(4) + payload)
        try:
            return await future
        finally:
            self._calls.pop(number, None)

    def _frame(self, frame: bytes) -> None:
        kind = frame[0]
        if kind in (bare.RESULT, bare.ERROR):
            number, value = struct.unpack_from("!II", frame, 1)
            future = self._calls.get(number)
            if future is not None and not future.done():
                if kind == bare.RESULT:
                    future.set_result(value)
                else:
                    future.set_exception(CallFailed(value))
            return
        (chat,) = struct.unpack_from("!I", frame, 1)
        key = str(chat)
        if kind == bare.OFFER:
            self._events.put_nowait(("queue.offer", {"call": {"chat": key}}))
        elif kind == bare.ACCEPTED:
            self._events.put_nowait(("chat.accepted", {"chat": key}))
        elif kind == bare.ENDED:
            self._events.put_nowait(("chat.ended", {"chat": key}))
        elif kind == bare.MESSAGE:
            sender = "customer" if frame[5] == bare.FROM_CUSTOMER else "operator"
            message = {"from": sender, "text": frame[6:].decode()}
            self._events.put_nowait(("chat.message", {"chat": key, "message": message}))


class SocketIOLink(_BaselineLink):
    """A session with the python-socketio baseline
    (:mod:`bench.loadtest.baseline_socketio`): Socket.IO 5 over Engine.IO 4
    on a WebSocket, spoken directly over :mod:`websockets`: an event
    ``42<id>[name, data]`` is answered by ``43<id>[result]``, the server's
    ping ``2`` by the pong ``3``."""

    def __init__(
        self, port: int, context: ssl.SSLContext, queue: int, max_chats: int = 0
    ) -> None:
        super().__init__()
        self.url = f"wss://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        self.context = context
        self.queue = queue
        self.max_chats = max_chats
        self._socket: Any = None
        self._reading: asyncio.Task[None] | None = None
        self._acks = itertools.count(1)
        self._connected: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        self._socket = await websockets.asyncio.client.connect(
            self.url, ssl=self.context, server_hostname="localhost", max_size=None
        )
        opening = await self._socket.recv()
        if not isinstance(opening, str) or not opening.startswith("0"):
            raise LinkClosed(bare.CONNECTION_LOST)
        self._connected = asyncio.get_running_loop().create_future()
        await self._socket.send("40")
        self._reading = asyncio.create_task(self._read())
        await self._connected

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        chat = int(params.get("chat", 0))
        if method == "operator.status":
            if params.get("status") == "available":
                await self._emit("operator", [self.queue, self.max_chats])
            return None
        if method == "chat.place":
            placed = await self._emit("place", self.queue)
            return {"chat": str(placed), "position": None}
        if method == "chat.accept":
            await self._emit("accept", chat)
            return {"chat": str(chat)}
        if method == "chat.send":
            await self._emit("send", [chat, str(params["text"])])
            return {"id": 0}
        if method in ("chat.leave", "chat.end"):
            await self._emit("leave", chat)
            return None
        raise CallFailed(400, f"the Socket.IO baseline has no {method}")

    def drop(self) -> None:
        if self._socket is not None:
            self._socket.transport.abort()

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        if self._socket is not None:
            await self._socket.close()

    async def _emit(self, name: str, data: Any) -> Any:
        if self._socket is None:
            raise LinkClosed(bare.CONNECTION_LOST)
        number = next(self._acks)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[number] = future
        try:
            await self._socket.send(f"42{number}{json.dumps([name, data])}")
            answer = await future
        except websockets.exceptions.ConnectionClosed:
            raise LinkClosed(bare.CONNECTION_LOST) from None
        finally:
            self._calls.pop(number, None)
        if isinstance(answer, dict) and "error" in answer:
            raise CallFailed(int(answer["error"]))
        return answer

    async def _read(self) -> None:
        try:
            async for text in self._socket:
                if text == "2":
                    await self._socket.send("3")
                elif isinstance(text, str) and text.startswith("4"):
                    self._packet(text[1:])
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            self._lost()

    def _packet(self, packet: str) -> None:
        kind, rest = packet[0], packet[1:]
        if kind == "0" and self._connected is not None:
            if not self._connected.done():
                self._connected.set_result(None)
            return
        digits = len(rest) - len(rest.lstrip("0123456789"))
        number, payload = rest[:digits], json.loads(rest[digits:] or "null")
        if kind == "3":
            future = self._calls.get(int(number))
            if future is not None and not future.done():
                future.set_result(payload[0] if payload else None)
        elif kind == "2" and isinstance(payload, list) and len(payload) == 2:
            self._event(payload[0], payload[1])

    def _event(self, name: str, data: Any) -> None:
        if name == "message":
            chat, sender, text = data
            message = {"from": "customer" if sender == 0 else "operator"}
            message["text"] = text
            event = {"chat": str(chat), "message": message}
            self._events.put_nowait(("chat.message", event))
        elif name == "offer":
            self._events.put_nowait(("queue.offer", {"call": {"chat": str(data)}}))
        elif name == "accepted":
            self._events.put_nowait(("chat.accepted", {"chat": str(data)}))
        elif name == "ended":
            self._events.put_nowait(("chat.ended", {"chat": str(data)}))

    def _lost(self) -> None:
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(LinkClosed(bare.CONNECTION_LOST))
        super()._lost()
