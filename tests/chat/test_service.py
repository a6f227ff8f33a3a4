"""Live chat end to end: customers and operators as ``lgserver.client``
clients over real TLS, a hub with the chat service, a store on a real
file and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from lgserver.chat.forms import parse_forms
from lgserver.chat.service import ChatService
from lgserver.client import Client, RemoteCallError, SessionClosed
from lgserver.config import (
    ChatSettings,
    Config,
    ServerSettings,
    SMTPSettings,
    WebSettings,
)
from lgserver.daemon import Daemon
from lgserver.geo import Locator
from lgserver.mail import Mailer
from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.messages import Event
from lgserver.protocol.session import SessionConfig
from lgserver.security import VISITOR_ID_RULE, hash_password
from lgserver.server.auth import StoreAuthenticator
from lgserver.server.hub import Hub, HubLimits
from lgserver.store import SqliteStore
from lgserver.store.interface import CannedKind, Role, Routing
from lgserver.transport.stream import StreamConnection

from ..conftest import Certificate, visitor_id

pytestmark = pytest.mark.timeout(60)

PASSWORD = "a long password"
GRACE = 1.0
FORMS = parse_forms(
    {
        "form": [
            {
                "name": "contact",
                "title": "How can we reach you?",
                "field": [
                    {"name": "email", "label": "E-mail", "type": "email"},
                    {
                        "name": "plan",
                        "label": "Plan",
                        "type": "select",
                        "options": ["Basic", "Pro"],
                        "required": True,
                    },
                    {"name": "call", "label": "Call me", "type": "checkbox"},
                ],
            }
        ]
    }
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Recorder:
    """An aiosmtpd handler that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's name
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(envelope)
        return "250 accepted"

    def message(self, index: int) -> EmailMessage:
        content = self.received[index].original_content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    async def wait(self, count: int) -> None:
        for _ in range(500):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.received)} e-mails, expected {count}")


class France(Locator):
    """Places every address in France, loopback included."""

    async def country(self, address: str) -> str:
        return "FR" if address else ""


class Proxy:
    """A TCP relay in front of the server whose connections can be cut,
    and new ones refused, as a network failure would."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.blocked = False
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.blocked:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def cut(self) -> None:
        self.blocked = True
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


@dataclass
class Peer:
    """A client and the events it got, read in any order."""

    client: Client
    backlog: list[Event] = field(default_factory=list)

    async def call(self, method: str, params: Any = None) -> Any:
        return await self.client.call(method, params)

    async def fails(self, code: int, method: str, params: Any = None) -> str:
        with pytest.raises(RemoteCallError) as failed:
            await self.client.call(method, params)
        assert failed.value.code == code, failed.value
        return failed.value.message

    def emit(self, name: str, data: Any) -> None:
        self.client.send(Event(name, data), volatile=True)

    async def event(self, name: str, timeout: float = 5.0, **match: Any) -> Any:
        """The first event ``name`` whose data holds ``match``; the
        events before it stay in the backlog."""

        def fits(event: Event) -> bool:
            return event.name == name and all(
                event.data.get(key) == value for key, value in match.items()
            )

        for index, event in enumerate(self.backlog):
            if fits(event):
                del self.backlog[index]
                return event.data
        async with asyncio.timeout(timeout):
            while True:
                received = await self.client.receive()
                value = received.value
                assert isinstance(value, Event), value
                if fits(value):
                    return value.data
                self.backlog.append(value)

    async def settle(self, seconds: float = 0.2) -> list[Event]:
        """Every event received within ``seconds``, backlog included."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    received = await self.client.receive()
                    assert isinstance(received.value, Event)
                    self.backlog.append(received.value)
        except TimeoutError:
            pass
        events, self.backlog = self.backlog, []
        return events

    async def close(self) -> None:
        await self.client.close()


@dataclass
class Server:
    store: SqliteStore
    hub: Hub
    service: ChatService
    smtp: Recorder
    port: int
    certificate: Certificate
    peers: list[Peer] = field(default_factory=list)

    async def connect(self, port: int | None = None, **auth: str) -> Peer:
        client = Client(
            "127.0.0.1",
            port or self.port,
            registry=Registry(),
            build="test",
            auth=auth,
            ssl_context=self.certificate.client_context(),
            server_hostname="localhost",
        )
        await client.connect()
        peer = Peer(client)
        self.peers.append(peer)
        return peer

    async def customer(self, visitor: str = visitor_id("visitor-1")) -> Peer:
        return await self.connect(visitor=visitor)

    async def operator(
        self, name: str = "ann", *, available: bool = True, port: int | None = None
    ) -> Peer:
        peer = await self.connect(port, name=name, password=PASSWORD)
        if available:
            await peer.call("operator.status", {"status": "available"})
        return peer


Factory = Callable[..., Awaitable[Server]]


@pytest.fixture
async def make_server(
    tmp_path: Path, certificate: Certificate
) -> AsyncIterator[Factory]:
    """Starts a server: hub, store, chat service and SMTP server, with
    ann and bob (operators of sales and support), carl (support only) and
    root (an administrator); sales offers its calls and e-mails its
    messages, support assigns them with a short accept timeout."""
    cleanups: list[Callable[[], Awaitable[None]]] = []
    password_hash = hash_password(PASSWORD)

    async def make(
        prepare: Callable[[SqliteStore], Awaitable[None]] | None = None, **chat: Any
    ) -> Server:
        store = await SqliteStore.open(tmp_path / f"lg-{len(cleanups)}.db")
        if prepare is not None:
            await prepare(store)
        await store.create_department(
            "sales", "Sales & Co", Routing.OFFER, email="sales@shop.example"
        )
        await store.create_department(
            "support", "Support", Routing.ASSIGN, accept_timeout=0.5
        )
        for name, shown in (("ann", "Ann"), ("bob", "Bob"), ("carl", "Carl")):
            await store.create_user(name, password_hash, Role.OPERATOR, shown)
        await store.create_user("root", password_hash, Role.ADMIN, "Root")
        await store.set_operator("ann", departments=["sales", "support"], max_chats=2)
        await store.set_operator("bob", departments=["sales", "support"], max_chats=2)
        await store.set_operator("carl", departments=["support"], max_chats=1)
        await store.add_canned(
            CannedKind.TEXT, "hi", "Greeting", "Hello! How can I help?"
        )
        await store.add_canned(
            CannedKind.LINK, "faq", "FAQ", "https://shop.example/faq"
        )

        recorder = Recorder()
        smtp_port = free_port()
        controller = Controller(
            recorder, hostname="127.0.0.1", port=smtp_port, server_hostname="mail.test"
        )
        controller.start()
        mailer = Mailer(
            SMTPSettings(
                host="127.0.0.1",
                port=smtp_port,
                from_address="chat@shop.example",
                starttls=False,
                connect_timeout=5,
                send_timeout=20,
            )
        )
        hub = Hub(
            Registry(),
            StoreAuthenticator(store),
            SessionConfig(grace=GRACE, heartbeat=0.3, handshake_timeout=2.0),
            limits=HubLimits(messages_per_second=500, burst=400),
        )
        settings = replace(ChatSettings(typing_interval=0.0), **chat)
        service = ChatService(
            hub, store, mailer, France(enabled=False), settings, forms=FORMS
        )
        await service.start()
        listener = await asyncio.get_running_loop().create_server(
            lambda: StreamConnection(hub),
            "127.0.0.1",
            0,
            ssl=certificate.server_context(["lg/1"]),
        )
        server = Server(
            store,
            hub,
            service,
            recorder,
            listener.sockets[0].getsockname()[1],
            certificate,
        )

        async def cleanup() -> None:
            for peer in server.peers:
                await peer.close()
            hub.close_all()
            listener.close()
            await service.stop()
            await store.close()
            controller.stop()

        cleanups.append(cleanup)
        return server

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
async def server(make_server: Factory) -> Server:
    return await make_server()


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a write the clients are told of before it is stored."""
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never came true")


async def ended(server: Server, chat: str) -> bool:
    stored = await server.store.get_chat(chat)
    return stored is not None and stored.ended_at is not None


async def accepted_chat(
    server: Server, department: str = "sales"
) -> tuple[Peer, Peer, str]:
    """A customer and ann, chatting."""
    ann = await server.operator("ann")
    customer = await server.customer()
    placed = await customer.call("chat.place", {"department": department})
    chat = placed["chat"]
    await ann.event("queue.offer")
    await ann.call("chat.accept", {"chat": chat})
    await customer.event("chat.accepted", chat=chat)
    return customer, ann, chat


# -- the whole chat


async def test_a_chat_from_its_placing_to_its_end(server: Server) -> None:
    store = server.store
    ann = await server.operator("ann")
    bob = await server.operator("bob")
    customer = await server.customer()

    # status, then the call joins the queue and is offered to both
    status = await customer.call("chat.status", {"department": "sales"})
    assert status == {
        "available": True,
        "banned": False,
        "departments": [
            {"name": "sales", "title": "Sales & Co", "staffed": True},
            {"name": "support", "title": "Support", "staffed": True},
        ],
    }
    placed = await customer.call(
        "chat.place",
        {
            "department": "sales",
            "name": "Zoé",
            "url": "https://shop.example/cart",
            "language": "fr",
        },
    )
    chat = placed["chat"]
    assert placed["position"] == 1 and placed["estimated_wait"] == 45
    offer = (await ann.event("queue.offer"))["call"]
    assert offer["chat"] == chat and offer["name"] == "Zoé"
    assert offer["url"] == "https://shop.example/cart" and offer["country"] == "FR"
    assert "deadline" not in offer
    await bob.event("queue.offer")
    state = await ann.call("operator.state")
    assert state["status"] == "available" and state["max_chats"] == 2
    assert [o["chat"] for o in state["offers"]] == [chat]
    stored = await store.get_chat(chat)
    assert stored is not None and stored.customer_name == "Zoé"
    assert stored.country == "FR" and stored.address == "127.0.0.1"

    # ann takes it: it leaves bob's queue, the customer is told
    accepted = await ann.call("chat.accept", {"chat": chat})
    assert accepted["customer"]["name"] == "Zoé"
    assert (await bob.event("queue.withdrawn")) == {"chat": chat, "reason": "taken"}
    assert (await customer.event("chat.accepted")) == {"chat": chat, "operator": "Ann"}
    assert (await ann.event("chat.started"))["chat"] == chat
    assert [h[0] for h in await store.list_handovers(chat)] == ["ann"]
    await bob.fails(1004, "chat.accept", {"chat": chat})

    # messages both ways, each stored before its result comes back
    sent = await customer.call("chat.send", {"chat": chat, "id": "c1", "text": "Hi"})
    stored_ids = [m.id for m in await store.list_messages(chat)]
    assert sent["id"] in stored_ids
    got = await ann.event("chat.message", chat=chat, timeout=5)
    while got["message"]["from"] == "system":
        got = await ann.event("chat.message", chat=chat)
    assert got["message"] == {
        "id": sent["id"],
        "client_id": "c1",
        "from": "customer",
        "name": "Zoé",
        "text": "Hi",
        "at": sent["at"],
    }
    answer = await ann.call("chat.send", {"chat": chat, "id": "a1", "text": "Hello"})
    assert answer["id"] > sent["id"]
    seen = await customer.event("chat.message", chat=chat, timeout=5)
    while seen["message"]["from"] != "operator":
        seen = await customer.event("chat.message", chat=chat)
    assert seen["message"]["name"] == "Ann" and seen["message"]["text"] == "Hello"

    # typing: the customer's preview reaches ann, ann's notice the customer
    customer.emit("chat.typing", {"chat": chat, "text": "I would like"})
    assert (await ann.event("chat.typing")) == {"chat": chat, "text": "I would like"}
    ann.emit("chat.typing", {"chat": chat})
    assert (await customer.event("chat.typing")) == {"chat": chat}

    # tools: canned answers, a form and its answers, a redirect
    canned = await ann.call("canned.list")
    assert [c["keyword"] for c in canned["canned"]] == ["faq", "hi"]
    forms = await ann.call("forms.list")
    assert [f["name"] for f in forms["forms"]] == ["contact"]
    await customer.fails(
        409, "chat.form_answer", {"chat": chat, "form": "contact", "answers": {}}
    )
    await ann.call("chat.push_form", {"chat": chat, "form": "contact"})
    form = await customer.event("chat.form")
    assert form["form"]["title"] == "How can we reach you?"
    assert form["form"]["fields"][1]["options"] == ["Basic", "Pro"]
    await customer.fails(
        400,
        "chat.form_answer",
        {"chat": chat, "form": "contact", "answers": {"plan": "Gold"}},
    )
    await customer.call(
        "chat.form_answer",
        {
            "chat": chat,
            "form": "contact",
            "answers": {"email": " zoe@example.org ", "plan": "Pro", "call": True},
        },
    )
    assert (await ann.event("chat.form_answer")) == {
        "chat": chat,
        "form": "contact",
        "answers": {"email": "zoe@example.org", "plan": "Pro", "call": True},
    }
    await ann.fails(400, "chat.redirect", {"chat": chat, "url": "javascript:alert(1)"})
    await ann.call("chat.redirect", {"chat": chat, "url": "https://shop.example/help"})
    assert (await customer.event("chat.redirect"))["url"] == "https://shop.example/help"
    customer_info = await ann.call("chat.customer", {"chat": chat})
    assert customer_info["visitor"] == visitor_id("visitor-1")
    assert customer_info["address"] == "127.0.0.1" and customer_info["history"] == []

    # transfer to bob with a note: the customer is told, history kept
    await ann.call("chat.transfer", {"chat": chat, "operator": "bob", "note": "VIP"})
    assert (await customer.event("chat.transferred")) == {
        "chat": chat,
        "department": "sales",
        "operator": "Bob",
    }
    started = await bob.event("chat.started")
    assert started["note"] == "VIP" and started["customer"]["name"] == "Zoé"
    await ann.event("chat.transferred", chat=chat)
    await ann.fails(404, "chat.send", {"chat": chat, "id": "a2", "text": "still?"})
    handovers = await store.list_handovers(chat)
    assert [(h[0], h[2]) for h in handovers] == [("ann", ""), ("bob", "VIP")]
    history = await bob.call("chat.history", {"chat": chat})
    texts = [(m["from"], m["text"]) for m in history["messages"]]
    assert ("customer", "Hi") in texts and ("operator", "Hello") in texts
    assert ("system", "Ann transferred the chat to Bob") in texts
    page = await bob.call("chat.history", {"chat": chat, "after": sent["id"]})
    assert all(m["id"] > sent["id"] for m in page["messages"])
    await bob.call("chat.send", {"chat": chat, "id": "b1", "text": "Bob here"})

    # the transcript, by e-mail, then the end
    await customer.call("chat.transcript", {"chat": chat, "email": "zoe@example.org"})
    await server.smtp.wait(1)
    assert server.smtp.received[0].rcpt_tos == ["zoe@example.org"]
    mail = server.smtp.message(0)
    assert mail["Subject"] == "Your chat with Sales & Co"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Hi" in text and "Hello" in text and "Bob here" in text
    assert "Ann" in text and "Bob" in text

    await bob.call("chat.end", {"chat": chat})
    assert (await customer.event("chat.ended")) == {"chat": chat, "outcome": "served"}
    assert (await bob.event("chat.ended"))["outcome"] == "served"
    ended = await store.get_chat(chat)
    assert ended is not None and ended.outcome == "served" and ended.operator == "bob"
    await customer.fails(1007, "chat.send", {"chat": chat, "id": "c9", "text": "?"})
    await bob.fails(1007, "chat.end", {"chat": chat})
    # the history stays readable by both
    assert (await customer.call("chat.history", {"chat": chat}))["messages"]


async def test_typing_without_preview_shows_only_that_they_type(
    make_server: Factory,
) -> None:
    server = await make_server(typing_preview=False)
    customer, ann, chat = await accepted_chat(server)
    customer.emit("chat.typing", {"chat": chat, "text": "secret draft"})
    assert (await ann.event("chat.typing")) == {"chat": chat}


async def test_typing_previews_are_throttled_to_the_latest(
    make_server: Factory,
) -> None:
    server = await make_server(typing_interval=0.3)
    customer, ann, chat = await accepted_chat(server)
    for text in ("a", "ab", "abc", "abcd"):
        customer.emit("chat.typing", {"chat": chat, "text": text})
    first = await ann.event("chat.typing")
    last = await ann.event("chat.typing")
    assert first["text"] == "a" and last["text"] == "abcd"
    events = await ann.settle(0.5)
    assert not [e for e in events if e.name == "chat.typing"]


# -- routing through the service


async def test_assign_mode_moves_on_when_the_accept_timeout_passes(
    server: Server,
) -> None:
    ann = await server.operator("ann")
    carl = await server.operator("carl")
    customer = await server.customer()
    chat = (await customer.call("chat.place", {"department": "support"}))["chat"]

    # pushed to ann first (idle longest), with a deadline, then to carl
    call = (await ann.event("queue.offer"))["call"]
    assert call["chat"] == chat and call["deadline"] > time.time() - 5
    assert (await ann.event("queue.withdrawn", timeout=3)) == {
        "chat": chat,
        "reason": "timed_out",
    }
    call = (await carl.event("queue.offer"))["call"]
    assert call["chat"] == chat and "deadline" in call
    await ann.fails(1004, "chat.accept", {"chat": chat})
    await carl.call("chat.accept", {"chat": chat})
    assert (await customer.event("chat.accepted"))["operator"] == "Carl"


async def test_a_message_is_left_when_nobody_is_available(server: Server) -> None:
    customer = await server.customer()
    status = await customer.call("chat.status")
    assert status["available"] is False
    chat = (await customer.call("chat.place", {"department": "sales"}))["chat"]
    assert (await customer.event("chat.leave_message")) == {
        "chat": chat,
        "reason": "no_operator",
    }
    params = {
        "department": "sales",
        "name": "Zoé",
        "email": "zoe@example.org",
        "text": "Please call me back.",
        "chat": chat,
    }
    await customer.fails(400, "chat.leave_message", {**params, "email": "zoe@"})
    await customer.call("chat.leave_message", params)
    assert (await customer.event("chat.ended")) == {
        "chat": chat,
        "outcome": "left_message",
    }
    left = await server.store.list_left_messages()
    assert [(m.department, m.chat, m.email, m.text) for m in left] == [
        ("sales", chat, "zoe@example.org", "Please call me back.")
    ]
    stored = await server.store.get_chat(chat)
    assert stored is not None and stored.outcome == "left_message"
    await server.smtp.wait(1)
    assert server.smtp.received[0].rcpt_tos == ["sales@shop.example"]
    assert server.smtp.message(0)["Reply-To"] == "Zoé <zoe@example.org>"

    # without a call, too; the department without an address is not mailed
    await customer.call("chat.leave_message", {**params, "chat": None})
    await customer.call(
        "chat.leave_message", {**params, "department": "support", "chat": None}
    )
    assert len(await server.store.list_left_messages()) == 3
    await server.smtp.wait(2)
    await asyncio.sleep(0.2)
    assert len(server.smtp.received) == 2
    # a visitor may leave a few only
    for _ in range(2):
        await customer.call("chat.leave_message", {**params, "chat": None})
    await customer.fails(429, "chat.leave_message", {**params, "chat": None})


async def test_an_operator_cut_within_the_grace_window_goes_unnoticed(
    server: Server,
) -> None:
    customer, ann, chat = await accepted_chat(server)
    await customer.settle(0.1)
    ann.client.drop_connection()
    sent = [
        await customer.call("chat.send", {"chat": chat, "id": f"m{n}", "text": f"{n}"})
        for n in range(5)
    ]
    got = []
    while len(got) < 5:
        message = (await ann.event("chat.message", chat=chat))["message"]
        if message["from"] == "customer":
            got.append(message["id"])
    assert got == [s["id"] for s in sent]
    assert ann.client.reconnects >= 1
    await ann.call("chat.send", {"chat": chat, "id": "back", "text": "sorry"})
    events = await customer.settle(GRACE + 0.5)
    names = {e.name for e in events}
    assert "chat.reconnecting" not in names and "chat.ended" not in names
    state = await ann.call("operator.state")
    assert [c["chat"] for c in state["chats"]] == [chat]


async def test_an_operator_lost_past_the_grace_window_is_replaced(
    server: Server,
) -> None:
    proxy = Proxy(server.port)
    await proxy.start()
    try:
        ann = await server.operator("ann", port=proxy.port)
        bob = await server.operator("bob")
        await bob.call("operator.status", {"status": "away"})
        customer = await server.customer()
        chat = (await customer.call("chat.place", {"department": "sales"}))["chat"]
        await ann.event("queue.offer")
        await ann.call("chat.accept", {"chat": chat})
        await customer.event("chat.accepted")

        proxy.cut()
        assert (await customer.event("chat.reconnecting", timeout=GRACE + 5)) == {
            "chat": chat
        }
        await bob.call("operator.status", {"status": "available"})
        assert (await bob.event("queue.offer"))["call"]["chat"] == chat
        await bob.call("chat.accept", {"chat": chat})
        assert (await customer.event("chat.accepted"))["operator"] == "Bob"
        handovers = await server.store.list_handovers(chat)
        assert [h[0] for h in handovers] == ["ann", "bob"]
    finally:
        await proxy.close()


async def test_the_operator_is_told_when_the_customer_leaves(server: Server) -> None:
    customer, ann, chat = await accepted_chat(server)
    await customer.call("chat.leave", {"chat": chat})
    assert (await ann.event("chat.customer_left")) == {"chat": chat}
    assert (await ann.event("chat.ended")) == {"chat": chat, "outcome": "served"}

    # a customer whose session ends: the same
    other = await server.customer(visitor_id("visitor-2"))
    second = (await other.call("chat.place", {"department": "sales"}))["chat"]
    await ann.event("queue.offer", timeout=5)
    await ann.call("chat.accept", {"chat": second})
    await other.close()
    assert (await ann.event("chat.customer_left")) == {"chat": second}
    await until(lambda: ended(server, second))


async def test_a_resent_message_is_stored_and_shown_once(server: Server) -> None:
    customer, ann, chat = await accepted_chat(server)
    first = await customer.call("chat.send", {"chat": chat, "id": "x1", "text": "one"})
    # the page reloads and sends its unacknowledged message again
    again = await server.customer()
    repeat = await again.call("chat.send", {"chat": chat, "id": "x1", "text": "one"})
    assert repeat == first
    events = await ann.settle(0.5)
    shown = [
        e.data["message"]["id"]
        for e in events
        if e.name == "chat.message" and e.data["message"]["from"] == "customer"
    ]
    assert shown == [first["id"]]
    stored = [m for m in await server.store.list_messages(chat) if m.sender != "system"]
    assert len(stored) == 1


async def test_a_message_goes_to_the_senders_other_windows_not_back(
    server: Server,
) -> None:
    customer, ann, chat = await accepted_chat(server)
    # a window counts once it has called the server
    other_tab = await server.customer()
    assert (await other_tab.call("chat.status"))["chat"]["chat"] == chat
    second_console = await server.operator()
    await customer.settle()
    await ann.settle()
    sent = await customer.call("chat.send", {"chat": chat, "id": "m1", "text": "hi"})
    answer = await ann.call("chat.send", {"chat": chat, "id": "a1", "text": "yes"})

    def said(events: list[Event]) -> list[tuple[str, int]]:
        return [
            (e.data["message"]["client_id"], e.data["message"]["id"])
            for e in events
            if e.name == "chat.message" and e.data["message"]["from"] != "system"
        ]

    # the sending window has its message from the answer to chat.send
    assert said(await customer.settle(0.5)) == [("a1", answer["id"])]
    assert said(await ann.settle()) == [("m1", sent["id"])]
    # every other window of either side shows both, in order
    both = [("m1", sent["id"]), ("a1", answer["id"])]
    assert said(await other_tab.settle()) == both
    assert said(await second_console.settle()) == both


# -- refusals


async def test_a_banned_customer_is_refused(server: Server) -> None:
    customer, ann, chat = await accepted_chat(server)
    await ann.fails(400, "chat.ban", {"chat": chat, "seconds": 0, "reason": "spam"})
    result = await ann.call(
        "chat.ban", {"chat": chat, "seconds": 3600, "reason": "spam"}
    )
    assert (await customer.event("chat.ended")) == {"chat": chat, "outcome": "banned"}
    stored = await server.store.get_chat(chat)
    assert stored is not None and stored.outcome == "banned"
    bans = await server.store.list_bans()
    assert [(b.id, b.visitor, b.address) for b in bans] == [
        (result["ban"], visitor_id("visitor-1"), "127.0.0.1")
    ]
    audit = await server.store.list_audit()
    assert audit[-1].action == "chat.ban" and audit[-1].actor == "ann"

    await customer.fails(1001, "chat.place", {"department": "sales"})
    status = await customer.call("chat.status")
    assert status == {"available": False, "banned": True, "departments": []}
    widget = await server.service.widget_status(
        "https://shop.example", "sales", visitor_id("visitor-1"), "10.1.1.1"
    )
    # the button shows the service as unavailable rather than nothing
    assert widget == {"available": False, "banned": True, "departments": []}
    # the address is banned too, whatever the visitor id
    stranger = await server.customer(visitor_id("visitor-9"))
    await stranger.fails(1001, "chat.place", {"department": "sales"})


async def test_forged_ids_wrong_principals_and_bad_params(server: Server) -> None:
    customer, ann, chat = await accepted_chat(server)
    bob = await server.operator("bob")
    other = await server.customer(visitor_id("visitor-2"))

    # another customer's chat, or an id that never was, looks the same
    for forged in (chat, "not-a-chat"):
        for method, params in (
            ("chat.send", {"chat": forged, "id": "1", "text": "x"}),
            ("chat.leave", {"chat": forged}),
            ("chat.history", {"chat": forged}),
            ("chat.transcript", {"chat": forged, "email": "a@b.example"}),
        ):
            await other.fails(404, method, params)
        for method, params in (
            ("chat.send", {"chat": forged, "id": "1", "text": "x"}),
            ("chat.end", {"chat": forged}),
            ("chat.transfer", {"chat": forged, "department": "support"}),
            ("chat.customer", {"chat": forged}),
            ("chat.history", {"chat": forged}),
            ("chat.push_form", {"chat": forged, "form": "contact"}),
        ):
            await bob.fails(404, method, params)
    await bob.fails(404, "chat.accept", {"chat": "not-a-chat"})

    # the wrong kind of principal
    await customer.fails(403, "chat.accept", {"chat": chat})
    await customer.fails(403, "operator.state")
    await customer.fails(403, "canned.list")
    await ann.fails(403, "chat.place", {"department": "sales"})
    await ann.fails(403, "chat.status")

    # bad params
    for params in (
        None,
        [],
        {"chat": chat, "id": "1"},
        {"chat": chat, "id": "", "text": "x"},
        {"chat": chat, "id": "x" * 65, "text": "x"},
        {"chat": chat, "id": "1", "text": ""},
        {"chat": chat, "id": "1", "text": "   "},
        {"chat": chat, "id": "1", "text": "x" * 4001},
        {"chat": chat, "id": "1", "text": 5},
        {"chat": chat, "id": "1", "text": "bell\x07"},
        {"chat": chat, "id": "1", "text": "x", "extra": 1},
    ):
        await customer.fails(400, "chat.send", params)
    await other.fails(400, "chat.place", {"department": "sales", "url": "ftp://x"})
    await other.fails(400, "chat.place", {"department": "sales", "language": "../"})
    await other.fails(400, "chat.place", {"department": "sales", "name": "a\nb"})
    await other.fails(404, "chat.place", {"department": "nowhere"})
    # the same customer again: the chat they have, not a second one
    again = await customer.call("chat.place", {"department": "sales"})
    assert again["chat"] == chat and again["rejoined"] is True
    await customer.fails(400, "chat.transcript", {"chat": chat, "email": "bad\r\n"})
    await ann.fails(400, "operator.status", {"status": "busy"})
    await ann.fails(400, "chat.transfer", {"chat": chat})
    await ann.fails(400, "chat.transfer", {"chat": chat, "operator": "ann"})
    await ann.fails(1006, "chat.transfer", {"chat": chat, "operator": "carl"})
    await ann.fails(404, "chat.transfer", {"chat": chat, "department": "nowhere"})
    await ann.fails(404, "chat.push_form", {"chat": chat, "form": "nope"})
    await ann.fails(1005, "operator.status", {"status": "offline"})

    # nothing of this hurt the chat
    await customer.call("chat.send", {"chat": chat, "id": "ok", "text": "still here"})


async def test_transcripts_are_limited_and_need_e_mail(
    server: Server, make_server: Factory
) -> None:
    customer, _, chat = await accepted_chat(server)
    params = {"chat": chat, "email": "zoe@example.org"}
    for _ in range(5):
        await customer.call("chat.transcript", params)
    await customer.fails(1009, "chat.transcript", params)

    # a server without e-mail
    quiet = await make_server()
    quiet.service.mailer = Mailer(SMTPSettings())
    customer, _, chat = await accepted_chat(quiet)
    await customer.fails(1008, "chat.transcript", {**params, "chat": chat})


async def test_operators_see_each_other_and_transfer_to_a_department(
    server: Server,
) -> None:
    customer, ann, chat = await accepted_chat(server)
    carl = await server.operator("carl")
    listing = await ann.call("operator.list")
    by_name = {o["name"]: o for o in listing["operators"]}
    assert by_name["ann"]["status"] == "available" and by_name["ann"]["load"] == 1
    assert by_name["carl"]["departments"] == ["support"]
    assert by_name["bob"]["status"] == "offline"
    assert "root" not in by_name
    assert [d["name"] for d in listing["departments"]] == ["sales", "support"]

    await ann.call(
        "chat.transfer", {"chat": chat, "department": "support", "note": "a refund"}
    )
    assert (await customer.event("chat.transferred")) == {
        "chat": chat,
        "department": "support",
    }
    call = (await carl.event("queue.offer"))["call"]
    assert call["chat"] == chat and call["department"] == "support"
    # reports and the customer's history name the department it went to
    moved = await server.store.get_chat(chat)
    assert moved is not None and moved.department == "support"
    started = await carl.call("chat.accept", {"chat": chat})
    assert started["chat"] == chat
    assert (await carl.event("chat.started"))["note"] == "a refund"
    await carl.call("chat.end", {"chat": chat})
    stored = await server.store.get_chat(chat)
    assert stored is not None and stored.operator == "carl"


async def test_widget_status(server: Server) -> None:
    status = await server.service.widget_status(
        "https://shop.example", None, visitor_id("visitor-1"), "10.1.1.1"
    )
    assert status == {
        "available": False,
        "banned": False,
        "departments": [
            {"name": "sales", "title": "Sales & Co", "staffed": False},
            {"name": "support", "title": "Support", "staffed": False},
        ],
    }
    await server.operator("carl")
    status = await server.service.widget_status(None, "support", None, None)
    assert status is not None and status["available"] is True
    status = await server.service.widget_status(None, "sales", None, None)
    assert status is not None and status["available"] is False
    # a department that does not exist refuses the page
    assert await server.service.widget_status(None, "nowhere", None, None) is None


async def widget_status(
    port: int, context: ssl.SSLContext, origin: str
) -> tuple[bytes, dict[str, Any]]:
    """The daemon's answer to the call button of a page of ``origin``."""
    context.set_alpn_protocols(["http/1.1"])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    writer.write(
        b"GET /widget/status?visitor="
        + visitor_id("visitor-0001").encode()
        + b" HTTP/1.1\r\n"
        b"Host: localhost\r\nOrigin: " + origin.encode() + b"\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, json.loads(body)


async def test_the_daemon_serves_live_chat(tmp_path: Path) -> None:
    config = Config(
        server=ServerSettings(port=0, data_dir=tmp_path),
        web=WebSettings(allowed_origins=("https://shop.example",)),
    )
    daemon = Daemon(config)
    await daemon.start()
    try:
        assert daemon.certificate is not None
        assert daemon.store is not None
        await daemon.store.create_department("sales", "Sales")
        context = Certificate(
            daemon.certificate.cert_file, daemon.certificate.key_file
        ).client_context()
        head, body = await widget_status(daemon.port, context, "https://shop.example")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"access-control-allow-origin: https://shop.example" in head.lower()
        assert body["allowed"] is True and body["banned"] is False
        assert [d["name"] for d in body["departments"]] == ["sales"]
        head, body = await widget_status(daemon.port, context, "https://evil.example")
        assert head.startswith(b"HTTP/1.1 403 ")
        assert b"access-control-allow-origin" not in head.lower()
        # a banned visitor's page is answered, for the button to say so
        await daemon.store.add_ban(
            visitor=visitor_id("visitor-0001"),
            reason="abuse",
            created_by="root",
            seconds=60,
        )
        head, body = await widget_status(daemon.port, context, "https://shop.example")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert body == {
            "allowed": True,
            "available": False,
            "banned": True,
            "departments": [],
        }
        client = Client(
            "127.0.0.1",
            daemon.port,
            registry=Registry(),
            build="test",
            auth={"visitor": visitor_id("visitor-1")},
            ssl_context=Certificate(
                daemon.certificate.cert_file, daemon.certificate.key_file
            ).client_context(),
            server_hostname="localhost",
        )
        await client.connect()
        status = await client.call("chat.status")
        assert status["available"] is False and status["banned"] is False
        with pytest.raises(RemoteCallError) as failed:
            await client.call("chat.place", {"department": "nowhere"})
        assert failed.value.code == 404
        await client.close()
    finally:
        await daemon.stop()


async def test_a_silent_chat_is_closed(make_server: Factory) -> None:
    server = await make_server(inactivity_timeout=0.6)
    customer, ann, chat = await accepted_chat(server)
    # typing counts as activity, then silence
    customer.emit("chat.typing", {"chat": chat, "text": "hm"})
    assert (await customer.event("chat.ended", timeout=5)) == {
        "chat": chat,
        "outcome": "inactive",
    }
    assert (await ann.event("chat.ended"))["outcome"] == "inactive"
    await until(lambda: ended(server, chat))


async def test_an_operators_settings_are_read_again_by_a_new_console(
    server: Server,
) -> None:
    ann = await server.operator("ann")
    assert (await ann.call("operator.state"))["max_chats"] == 2
    await server.store.create_department("billing", "Billing")
    await server.store.set_operator("ann", departments=["billing"], max_chats=1)
    second = await server.operator("ann", available=False)
    state = await second.call("operator.state")
    assert state["max_chats"] == 1 and state["departments"] == ["billing"]
    assert state["status"] == "available"

    # both consoles hear of a call, and the second tab closing loses nothing
    customer = await server.customer()
    chat = (await customer.call("chat.place", {"department": "billing"}))["chat"]
    assert (await ann.event("queue.offer"))["call"]["chat"] == chat
    assert (await second.event("queue.offer"))["call"]["chat"] == chat
    await second.close()
    await ann.call("chat.accept", {"chat": chat})
    assert (await customer.event("chat.accepted"))["operator"] == "Ann"


async def test_chats_a_crash_left_open_end_at_the_start(make_server: Factory) -> None:
    opened: list[str] = []

    async def crashed(store: SqliteStore) -> None:
        # what a server killed with SIGKILL leaves: a chat being served
        # and a call waiting, neither ended
        served = await store.create_chat(
            "sales", visitor_id("visitor-1"), customer_name="Zoé"
        )
        await store.hand_over(served.id, "ann")
        waiting = await store.create_chat("sales", visitor_id("visitor-2"))
        opened.extend([served.id, waiting.id])

    server = await make_server(prepare=crashed)
    for chat in opened:
        record = await server.store.get_chat(chat)
        assert record is not None and record.ended_at is not None
        assert record.outcome == "interrupted"

    # the customer's next call is a new one, and their history is right
    customer = await server.customer(visitor_id("visitor-1"))
    ann = await server.operator("ann")
    chat = (await customer.call("chat.place", {"department": "sales"}))["chat"]
    assert chat not in opened
    await ann.event("queue.offer")
    info = await ann.call("chat.customer", {"chat": chat})
    assert [(h["chat"], h["outcome"]) for h in info["history"]] == [
        (opened[0], "interrupted")
    ]
    await customer.fails(1007, "chat.send", {"chat": opened[0], "id": "c", "text": "?"})


async def test_what_a_waiting_customer_says_reaches_who_accepts(
    server: Server,
) -> None:
    customer = await server.customer()
    chat = (await customer.call("chat.place", {"department": "sales"}))["chat"]
    sent = await customer.call(
        "chat.send", {"chat": chat, "id": "w1", "text": "Is anyone there?"}
    )
    ann = await server.operator("ann")
    await ann.event("queue.offer")
    # an operator offered the call may read what was said before accepting
    before = await ann.call("chat.history", {"chat": chat})
    assert [m["text"] for m in before["messages"]] == ["Is anyone there?"]
    await ann.call("chat.accept", {"chat": chat})
    # the console reads the history of every chat that becomes theirs
    history = await ann.call("chat.history", {"chat": chat})
    said = [(m["id"], m["from"], m["text"]) for m in history["messages"]]
    assert said[0] == (sent["id"], "customer", "Is anyone there?")
    assert ("system", "Ann joined the chat") in [(f, t) for _, f, t in said]


# -- changes made in the database while the server runs


async def test_a_departments_new_routing_applies_to_the_calls_waiting(
    server: Server,
) -> None:
    ann = await server.operator("ann")
    bob = await server.operator("bob")
    customer = await server.customer()
    chat = (await customer.call("chat.place", {"department": "sales"}))["chat"]
    await ann.event("queue.offer")
    await bob.event("queue.offer")

    # lgserver department set sales --routing assign, then a reload
    await server.store.update_department(
        "sales", routing=Routing.ASSIGN, accept_timeout=30, title="Sales"
    )
    await server.service.reload()
    for peer in (ann, bob):
        withdrawn = await peer.event("queue.withdrawn", chat=chat)
        assert withdrawn["reason"] == "rerouted"
    # pushed to one of them now, with a deadline
    pushed = await ann.event("queue.offer", timeout=1)
    assert pushed["call"]["chat"] == chat and "deadline" in pushed["call"]
    assert [e.name for e in await bob.settle()] == []
    status = await customer.call("chat.status")
    assert status["departments"][0]["title"] == "Sales"
    await ann.call("chat.accept", {"chat": chat})
    assert (await customer.event("chat.accepted"))["operator"] == "Ann"


async def test_an_operators_new_settings_apply_to_the_console_open(
    server: Server,
) -> None:
    _, ann, chat = await accepted_chat(server)
    other = await server.customer(visitor_id("visitor-2"))
    waiting = (await other.call("chat.place", {"department": "sales"}))["chat"]
    await ann.event("queue.offer")

    # lgserver user set ann --departments support --max-chats 1
    await server.store.set_operator("ann", departments=["support"], max_chats=1)
    await server.service.reload()
    assert (await ann.event("queue.withdrawn")) == {
        "chat": waiting,
        "reason": "unavailable",
    }
    state = await ann.call("operator.state")
    assert state["departments"] == ["support"] and state["max_chats"] == 1
    # the chat she holds stays hers
    assert [c["chat"] for c in state["chats"]] == [chat]
    await ann.call("chat.send", {"chat": chat, "id": "a1", "text": "still here"})
    # at her cap now: a support call waits for someone else
    third = await server.customer(visitor_id("visitor-3"))
    await third.call("chat.place", {"department": "support"})
    assert "queue.offer" not in [e.name for e in await ann.settle()]


async def test_a_cap_below_the_chats_held_is_reached_as_they_end(
    server: Server,
) -> None:
    _, ann, chat = await accepted_chat(server)
    second = await server.customer(visitor_id("visitor-2"))
    other = (await second.call("chat.place", {"department": "sales"}))["chat"]
    await ann.event("queue.offer", timeout=5)
    await ann.call("chat.accept", {"chat": other})

    await server.store.set_operator("ann", max_chats=1)
    await server.service.reload()
    assert (await ann.call("operator.state"))["max_chats"] == 2
    await ann.call("chat.end", {"chat": chat})
    assert (await ann.call("operator.state"))["max_chats"] == 1
    # her one slot is taken: a new call is not offered to her
    third = await server.customer(visitor_id("visitor-3"))
    await third.call("chat.place", {"department": "sales"})
    names = [e.name for e in await ann.settle()]
    assert "queue.offer" not in names


async def test_a_disabled_operators_console_closes_and_chats_move_on(
    server: Server,
) -> None:
    customer, ann, chat = await accepted_chat(server)
    bob = await server.operator("bob")
    await server.store.set_disabled("ann", True)
    await server.service.reload()
    with pytest.raises(SessionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await ann.client.receive()
    assert closed.value.code == CloseCode.AUTH_FAILED
    await customer.event("chat.reconnecting", chat=chat)
    offer = await bob.event("queue.offer")
    assert offer["call"]["chat"] == chat
    await bob.call("chat.accept", {"chat": chat})
    assert (await customer.event("chat.accepted"))["operator"] == "Bob"
    listing = await bob.call("operator.list")
    assert "ann" not in [o["name"] for o in listing["operators"]]


async def test_changes_are_read_again_every_reload_interval(
    make_server: Factory,
) -> None:
    server = await make_server(reload_interval=0.2)
    customer = await server.customer()
    ann = await server.operator("ann")
    await server.store.create_department("billing", "Billing")
    await server.store.set_operator("ann", departments=["billing"])
    await asyncio.sleep(0.5)
    chat = (await customer.call("chat.place", {"department": "billing"}))["chat"]
    assert (await ann.event("queue.offer"))["call"]["chat"] == chat


# -- a customer's page reloaded

VISITOR = "Qx3_vT9kLm2-Zp8RwY5nAe"  # as the widget makes them: 22 of 64


async def test_a_reloaded_window_takes_its_chat_up_again(server: Server) -> None:
    proxy = Proxy(server.port)
    await proxy.start()
    try:
        ann = await server.operator("ann")
        old = await server.connect(proxy.port, visitor=VISITOR)
        chat = (await old.call("chat.place", {"department": "sales"}))["chat"]
        await old.call("chat.send", {"chat": chat, "id": "w1", "text": "hello?"})

        # the page reloads while the call waits: a new session, same id
        proxy.cut()
        new = await server.customer(VISITOR)
        status = await new.call("chat.status")
        assert status["chat"] == {
            "chat": chat,
            "department": "sales",
            "state": "waiting",
            "position": 1,
            "estimated_wait": 90,
        }
        again = await new.call("chat.place", {"department": "sales"})
        assert again["chat"] == chat and again["rejoined"] is True
        assert len(await server.store.list_visitor_chats(VISITOR)) == 1
        history = await new.call("chat.history", {"chat": chat})
        assert [m["text"] for m in history["messages"]] == ["hello?"]

        # the chat goes on in the new window, past the old one's grace
        await ann.event("queue.offer")
        await ann.call("chat.accept", {"chat": chat})
        assert (await new.event("chat.accepted"))["operator"] == "Ann"
        await asyncio.sleep(GRACE + 0.5)
        await ann.call("chat.send", {"chat": chat, "id": "a1", "text": "Hi!"})
        said = await new.event("chat.message", chat=chat)
        while said["message"]["from"] != "operator":
            said = await new.event("chat.message", chat=chat)
        assert said["message"]["text"] == "Hi!"
        assert "chat.customer_left" not in [e.name for e in await ann.settle()]

        # reloaded once more while chatting: told who serves it
        third = await server.customer(VISITOR)
        status = await third.call("chat.status")
        assert status["chat"]["state"] == "chatting"
        assert status["chat"]["operator"] == "Ann"
        assert status["chat"]["position"] is None
        await third.call("chat.send", {"chat": chat, "id": "c2", "text": "back"})
        got = await ann.event("chat.message", chat=chat)
        assert got["message"]["text"] == "back"
    finally:
        await proxy.close()


async def test_a_visitor_id_that_could_be_guessed_is_refused_at_hello(
    server: Server,
) -> None:
    first = await server.customer(VISITOR)
    chat = (await first.call("chat.place", {"department": "sales"}))["chat"]
    # short, not URL-safe, too long: the connection is closed before any
    # call, so no forged id comes near the chat
    for forged in (VISITOR[:-1], "visitor-1", VISITOR[:-1] + "+", VISITOR * 3):
        with pytest.raises(SessionClosed) as closed:
            await server.customer(forged)
        assert closed.value.code == CloseCode.AUTH_FAILED
        assert closed.value.reason == VISITOR_ID_RULE
    # nor does another visitor's id learn anything of it
    stranger = await server.customer(visitor_id("stranger"))
    assert "chat" not in await stranger.call("chat.status")
    placed = await stranger.call("chat.place", {"department": "sales"})
    assert placed["chat"] != chat and "rejoined" not in placed
    # while the id itself, in a new session, takes the chat up
    again = await server.customer(VISITOR)
    assert (await again.call("chat.status"))["chat"]["chat"] == chat


async def test_a_second_call_placed_while_one_is_placed_waits_for_none(
    server: Server,
) -> None:
    customer = await server.customer(VISITOR)
    answers = await asyncio.gather(
        customer.call("chat.place", {"department": "sales"}),
        customer.call("chat.place", {"department": "sales"}),
        return_exceptions=True,
    )
    placed = [a for a in answers if isinstance(a, dict)]
    refused = [a for a in answers if isinstance(a, RemoteCallError)]
    assert len(placed) == 1 and "rejoined" not in placed[0]
    assert [error.code for error in refused] == [1003]
    assert len(await server.store.list_visitor_chats(VISITOR)) == 1
