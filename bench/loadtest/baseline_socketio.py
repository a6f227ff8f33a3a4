"""The python-socketio baseline: what many live-chat servers in Python are
built on, an ``AsyncServer`` under uvicorn on uvloop, over TLS.

``python -m bench.loadtest.baseline_socketio CERT KEY PORT`` serves the
same pairing as the bare baseline (:mod:`bench.loadtest.baseline_bare`),
as Socket.IO events, each answered through the event's acknowledgement:

=============  ===================  =========================================
event          data                 answer
=============  ===================  =========================================
``operator``   ``[queue, cap]``     ``0``
``place``      ``queue``            the chat's number
``accept``     ``chat``             the chat, or ``{"error": 1004}``
``send``       ``[chat, text]``     ``0``, or ``{"error": 1007}``
``leave``      ``chat``             ``0``
=============  ===================  =========================================

The server emits ``offer`` (chat) to the operator a placed chat is given
to, ``accepted`` (chat) to the customer, ``message`` (``[chat, sender,
text]``, sender 0 for the customer, 1 for the operator) to the other side
and ``ended`` (chat) to the other side of a chat one side left.
"""

from __future__ import annotations

import heapq
import itertools
import sys
from collections import deque
from typing import Any

import socketio
import uvicorn

from lgserver import collector

__all__ = ["main"]

NOT_OFFERED = 1004
CHAT_ENDED = 1007


class _Chat:
    __slots__ = ("accepted", "customer", "operator")

    def __init__(self, customer: str) -> None:
        self.customer = customer
        self.operator: str | None = None
        self.accepted = False


class _Queue:
    def __init__(self) -> None:
        self.waiting: deque[int] = deque()
        # operators with room, least loaded first: (load, order, sid)
        self.free: list[tuple[int, int, str]] = []


class _Pairing:
    """The same pairing as the bare baseline's, keyed by Socket.IO sids."""

    def __init__(self, server: socketio.AsyncServer) -> None:
        self.server = server
        self.ids = itertools.count(1)
        self.order = itertools.count()
        self.chats: dict[int, _Chat] = {}
        self.queues: dict[int, _Queue] = {}
        self.queue_of: dict[str, int] = {}
        self.held: dict[str, set[int]] = {}
        self.caps: dict[str, int] = {}

    def register(self) -> None:
        server = self.server
        server.on("operator", self.operator)
        server.on("place", self.place)
        server.on("accept", self.accept)
        server.on("send", self.send)
        server.on("leave", self.leave)
        server.on("disconnect", self.disconnect)

    async def operator(self, sid: str, data: Any) -> int:
        queue, cap = int(data[0]), int(data[1])
        self.queue_of[sid] = queue
        self.caps[sid] = cap
        self.held.setdefault(sid, set())
        self._make_free(sid)
        await self._offer(queue)
        return 0

    async def place(self, sid: str, data: Any) -> int:
        queue = int(data)
        self.queue_of[sid] = queue
        chat_id = next(self.ids)
        self.chats[chat_id] = _Chat(sid)
        self.held.setdefault(sid, set()).add(chat_id)
        self.queues.setdefault(queue, _Queue()).waiting.append(chat_id)
        await self._offer(queue)
        return chat_id

    async def accept(self, sid: str, data: Any) -> Any:
        chat_id = int(data)
        chat = self.chats.get(chat_id)
        if chat is None or chat.operator != sid:
            return {"error": NOT_OFFERED}
        chat.accepted = True
        await self.server.emit("accepted", chat_id, to=chat.customer)
        return chat_id

    async def send(self, sid: str, data: Any) -> Any:
        chat_id, text = int(data[0]), str(data[1])
        chat = self.chats.get(chat_id)
        if (
            chat is None
            or not chat.accepted
            or sid
            not in (
                chat.customer,
                chat.operator,
            )
        ):
            return {"error": CHAT_ENDED}
        sender = 0 if sid == chat.customer else 1
        peer = chat.operator if sender == 0 else chat.customer
        await self.server.emit("message", [chat_id, sender, text], to=peer)
        return 0

    async def leave(self, sid: str, data: Any) -> int:
        chat = self.chats.get(int(data))
        if chat is not None and sid in (chat.customer, chat.operator):
            await self._end(int(data), sid)
        return 0

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        for chat_id in list(self.held.get(sid, ())):
            await self._end(chat_id, sid)
        self.held.pop(sid, None)
        self.caps.pop(sid, None)
        self.queue_of.pop(sid, None)

    def _make_free(self, sid: str) -> None:
        held = self.held.get(sid)
        queue = self.queue_of.get(sid)
        if held is None or queue is None or len(held) >= self.caps.get(sid, 0):
            return
        entry = (len(held), next(self.order), sid)
        heapq.heappush(self.queues.setdefault(queue, _Queue()).free, entry)

    async def _offer(self, queue_id: int) -> None:
        queue = self.queues.setdefault(queue_id, _Queue())
        while queue.waiting and queue.free:
            load, _, sid = heapq.heappop(queue.free)
            held = self.held.get(sid)
            if held is None or load != len(held) or sid not in self.caps:
                continue
            chat_id = queue.waiting.popleft()
            chat = self.chats.get(chat_id)
            if chat is None:
                continue
            chat.operator = sid
            held.add(chat_id)
            await self.server.emit("offer", chat_id, to=sid)
            self._make_free(sid)

    async def _end(self, chat_id: int, by: str) -> None:
        chat = self.chats.pop(chat_id, None)
        if chat is None:
            return
        for side in (chat.customer, chat.operator):
            if side is None:
                continue
            self.held.get(side, set()).discard(chat_id)
            if side != by:
                await self.server.emit("ended", chat_id, to=side)
        if chat.operator is not None:
            self._make_free(chat.operator)
            queue = self.queue_of.get(chat.operator)
            if queue is not None:
                await self._offer(queue)


def main(argv: list[str]) -> int:
    """Serve until stopped: ``CERT KEY PORT``."""
    cert_file, key_file, port = argv
    server = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[])
    _Pairing(server).register()
    config = uvicorn.Config(
        socketio.ASGIApp(server),
        host="127.0.0.1",
        port=int(port),
        ssl_certfile=cert_file,
        ssl_keyfile=key_file,
        loop="uvloop",
        log_level="warning",
        lifespan="off",
        backlog=4096,
    )
    # the collector set as lgserver's daemon sets it, for a fair comparison
    collector.tune()
    collector.freeze()
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
