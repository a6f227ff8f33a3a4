"""The bare baseline: the least a live-chat server must do, on uvloop.

``python -m bench.loadtest.baseline_bare CERT KEY PORT`` listens for TLS
on 127.0.0.1 at PORT with the context of :func:`lgserver.tls.
server_ssl_context`, so that what differs from lgserver is what runs
above TLS: no codec, no sessions, no resume, no storage.

A frame is a 4-byte big-endian length and a body: a kind byte, then
big-endian fields. Requests carry a number the answer repeats:

====================  =====================  ==============================
request (kind)        fields                 answer
====================  =====================  ==============================
``OPERATOR`` (1)      number, queue, cap     ``RESULT`` (value 0)
``PLACE`` (2)         number, queue          ``RESULT`` (value: the chat)
``ACCEPT`` (3)        number, chat           ``RESULT`` or ``ERROR``
``SEND`` (4)          number, chat, text     ``RESULT`` (value: a count)
``LEAVE`` (5)         number, chat           ``RESULT``
====================  =====================  ==============================

``RESULT`` (10) and ``ERROR`` (11) hold the number and a u32 (the value,
or an error code). A queue (u32) is a department: its operators serve
its customers only; ``cap`` (u16) is the chats an operator holds at
once. Unasked, the server sends ``OFFER`` (12, chat) to the
operator a placed chat is given to (the least loaded with room, or the
first to have room), ``ACCEPTED`` (13, chat) to the customer once the
operator accepted, ``MESSAGE`` (14, chat, sender byte, text) to the other
side of a chat, and ``ENDED`` (15, chat) to the other side when one side
leaves or its connection ends. A malformed frame closes the connection.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import struct
import sys
from collections import deque
from pathlib import Path

import uvloop

from lgserver import collector
from lgserver.tls import server_ssl_context

__all__ = ["main"]

OPERATOR, PLACE, ACCEPT, SEND, LEAVE = 1, 2, 3, 4, 5
RESULT, ERROR, OFFER, ACCEPTED, MESSAGE, ENDED = 10, 11, 12, 13, 14, 15
FROM_CUSTOMER, FROM_OPERATOR = 0, 1
#: The close code a bare link reports: its connection ended.
CONNECTION_LOST = 1006
#: Error codes, as the chat API's: not offered to you, the chat ended.
NOT_OFFERED = 1004
CHAT_ENDED = 1007
MAX_FRAME = 1 << 20
_HEAD = struct.Struct("!BI")
_CHAT = struct.Struct("!I")


class _Chat:
    __slots__ = ("accepted", "customer", "operator")

    def __init__(self, customer: _Peer) -> None:
        self.customer = customer
        self.operator: _Peer | None = None
        self.accepted = False


class _Hub:
    """Who waits, who serves whom."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.chats: dict[int, _Chat] = {}
        self.waiting: deque[int] = deque()
        # operators with room, least loaded first: (load, order, peer)
        self.free: list[tuple[int, int, _Peer]] = []
        self.order = itertools.count()

    def offer(self) -> None:
        while self.waiting and self.free:
            load, _, peer = heapq.heappop(self.free)
            if peer.gone or load != len(peer.chats):
                continue
            chat_id = self.waiting.popleft()
            chat = self.chats.get(chat_id)
            if chat is None:
                continue
            chat.operator = peer
            peer.chats.add(chat_id)
            peer.push(OFFER, _CHAT.pack(chat_id))
            self.make_free(peer)

    def make_free(self, peer: _Peer) -> None:
        if not peer.gone and len(peer.chats) < peer.cap:
            heapq.heappush(self.free, (len(peer.chats), next(self.order), peer))

    def end(self, chat_id: int, by: _Peer | None) -> None:
        chat = self.chats.pop(chat_id, None)
        if chat is None:
            return
        for side in (chat.customer, chat.operator):
            if side is None:
                continue
            side.chats.discard(chat_id)
            if side is not by:
                side.push(ENDED, _CHAT.pack(chat_id))
        if chat.operator is not None:
            self.make_free(chat.operator)
            self.offer()


class _Peer(asyncio.Protocol):
    def __init__(self, hubs: dict[int, _Hub]) -> None:
        self.hubs = hubs
        self.hub: _Hub | None = None
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.chats: set[int] = set()
        self.cap = 0
        self.gone = False

    def __lt__(self, other: _Peer) -> bool:
        return id(self) < id(other)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        while len(buffer) - start >= 4:
            size = int.from_bytes(buffer[start : start + 4])
            if size < _HEAD.size or size > MAX_FRAME:
                self._abort()
                return
            if len(buffer) - start - 4 < size:
                break
            body = memoryview(buffer)[start + 4 : start + 4 + size]
            try:
                self._handle(bytes(body))
            except (struct.error, ValueError):
                self._abort()
                return
            finally:
                body.release()
            start += 4 + size
        del buffer[:start]

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        if self.hub is not None:
            for chat_id in list(self.chats):
                self.hub.end(chat_id, self)

    def push(self, kind: int, body: bytes) -> None:
        if self.transport is not None and not self.gone:
            self.transport.write((len(body) + 1).to_bytes(4) + bytes([kind]) + body)

    def _answer(self, kind: int, number: int, value: int) -> None:
        self.push(kind, struct.pack("!II", number, value))

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _handle(self, frame: bytes) -> None:
        kind, number = _HEAD.unpack_from(frame)
        if kind in (OPERATOR, PLACE) and self.hub is None:
            (queue,) = _CHAT.unpack_from(frame, _HEAD.size)
            self.hub = self.hubs.setdefault(queue, _Hub())
        hub = self.hub
        if hub is None:
            # a chat's request before the peer said which queue it is in
            self._abort()
            return
        if kind == OPERATOR:
            (self.cap,) = struct.unpack_from("!H", frame, _HEAD.size + _CHAT.size)
            self._answer(RESULT, number, 0)
            hub.make_free(self)
            hub.offer()
            return
        if kind == PLACE:
            chat_id = next(hub.ids)
            hub.chats[chat_id] = _Chat(self)
            self.chats.add(chat_id)
            hub.waiting.append(chat_id)
            self._answer(RESULT, number, chat_id)
            hub.offer()
            return
        (chat_id,) = _CHAT.unpack_from(frame, _HEAD.size)
        chat = hub.chats.get(chat_id)
        if kind == ACCEPT:
            if chat is None or chat.operator is not self:
                self._answer(ERROR, number, NOT_OFFERED)
                return
            chat.accepted = True
            self._answer(RESULT, number, chat_id)
            chat.customer.push(ACCEPTED, _CHAT.pack(chat_id))
        elif kind == SEND:
            if chat is None or not chat.accepted:
                self._answer(ERROR, number, CHAT_ENDED)
                return
            if self is chat.customer:
                peer, sender = chat.operator, FROM_CUSTOMER
            elif self is chat.operator:
                peer, sender = chat.customer, FROM_OPERATOR
            else:
                self._answer(ERROR, number, CHAT_ENDED)
                return
            if peer is not None:
                text = frame[_HEAD.size + _CHAT.size :]
                peer.push(MESSAGE, _CHAT.pack(chat_id) + bytes([sender]) + text)
            self._answer(RESULT, number, 0)
        elif kind == LEAVE:
            if chat is not None and self in (chat.customer, chat.operator):
                hub.end(chat_id, self)
            self._answer(RESULT, number, 0)
        else:
            self._abort()


async def _serve(cert_file: Path, key_file: Path, port: int) -> None:
    loop = asyncio.get_running_loop()
    hubs: dict[int, _Hub] = {}
    context = server_ssl_context(cert_file, key_file)
    server = await loop.create_server(
        lambda: _Peer(hubs),
        "127.0.0.1",
        port,
        ssl=context,
        ssl_handshake_timeout=10.0,
        backlog=4096,
    )
    # the collector set as lgserver's daemon sets it, for a fair comparison
    collector.tune()
    collector.freeze()
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    """Serve until killed: ``CERT KEY PORT``."""
    cert_file, key_file, port = argv
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(Path(cert_file), Path(key_file), int(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
