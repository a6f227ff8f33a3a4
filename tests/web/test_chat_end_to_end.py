"""Live chat end to end in headless Chromium, against a real daemon: a
customer on a shop's page (its own origin) with the call button, and
operators in the console, each in a browser context of their own; the
daemon's store on a real file and a real SMTP server (aiosmtpd) for the
transcripts.

Nothing is scripted on the server side: what the pages show comes from the
chat service, so the pages and the service are checked against each other
(docs/chat-api.md)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from playwright.async_api import Browser, Frame, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from lgserver.config import (
    ChatSettings,
    Config,
    GeoSettings,
    ServerSettings,
    SessionSettings,
    SMTPSettings,
    WebSettings,
)
from lgserver.daemon import DATABASE, Daemon
from lgserver.security import hash_password
from lgserver.store import SqliteStore
from lgserver.store.interface import CannedKind, Role, Routing

from ..conftest import visitor_id
from .chromium import CHROMIUM, SITE_ARGS, gather_errors

pytestmark = pytest.mark.timeout(60)

PASSWORD = "a long password"
GRACE = 3.0
WAIT = 10_000  # milliseconds, for any one thing to show
PANEL = ".chat-panel:not([hidden])"  # the console's chat in view
FORMS = """
[[form]]
name = "contact"
title = "How can we reach you?"

[[form.field]]
name = "email"
label = "E-mail"
type = "email"
required = true

[[form.field]]
name = "callback"
label = "Call me back"
type = "checkbox"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_DATA(  # noqa: N802 - aiosmtpd's name
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(envelope)
        return "250 accepted"

    async def message(self, index: int) -> tuple[Envelope, EmailMessage]:
        async with asyncio.timeout(10):
            while len(self.received) <= index:
                await asyncio.sleep(0.02)
        envelope = self.received[index]
        assert isinstance(envelope.original_content, bytes)
        parsed = email.message_from_bytes(
            envelope.original_content, policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        return envelope, parsed


class Shop:
    """Two small HTTP sites on loopback that paste the call button: one
    allowed by the daemon's ``allowed_origins``, one not."""

    def __init__(self) -> None:
        self.allowed_port = free_port()
        self.other_port = free_port()
        self.lgserver = ""
        self.servers: list[asyncio.Server] = []

    @property
    def allowed(self) -> str:
        return f"http://127.0.0.1:{self.allowed_port}"

    @property
    def other(self) -> str:
        return f"http://127.0.0.1:{self.other_port}"

    async def start(self) -> None:
        for port in (self.allowed_port, self.other_port):
            self.servers.append(
                await asyncio.start_server(self._serve, "127.0.0.1", port)
            )

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1]
            if path == b"/favicon.ico":
                writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            else:
                body = (
                    "<!doctype html><html lang='en'><head><title>Shop</title>"
                    f"<script src='{self.lgserver}/widget.js' "
                    "data-department='sales' data-invite-after='0.3' async>"
                    "</script></head><body><h1>Shop</h1>"
                    "<a href='#top' id='first'>first link</a></body></html>"
                ).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                    b"Connection: close\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()


@dataclass
class Lg:
    daemon: Daemon
    store: SqliteStore
    mailbox: Mailbox
    shop: Shop
    url: str

    def cut(self, name: str) -> int:
        """Cut the server's side of every connection of ``name``, as a
        failing network would; the number cut."""
        hub = self.daemon.hub
        assert hub is not None
        cut = 0
        for entry in list(hub._entries.values()):
            principal = entry.principal
            if principal is not None and principal.name == name and entry.link:
                entry.link._transport.abort()  # type: ignore[attr-defined]
                cut += 1
        return cut

    async def available(self, department: str = "sales") -> None:
        """Wait until someone serves ``department``."""
        assert self.daemon.chat is not None
        async with asyncio.timeout(10):
            while True:
                status = await self.daemon.chat.widget_status(
                    None, department, None, None
                )
                if status["available"]:
                    return
                await asyncio.sleep(0.05)


@pytest.fixture
async def lg(tmp_path: Path) -> AsyncIterator[Lg]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    store = await SqliteStore.open(data_dir / DATABASE)
    password_hash = hash_password(PASSWORD)
    await store.create_department(
        "sales", "Sales", Routing.OFFER, email="sales@shop.example"
    )
    for name, shown in (("ann", "Ann"), ("bob", "Bob")):
        await store.create_user(name, password_hash, Role.OPERATOR, shown)
        await store.set_operator(name, departments=["sales"], max_chats=3)
    await store.add_canned(CannedKind.TEXT, "hi", "Greeting", "Hello! How can I help?")
    await store.add_canned(CannedKind.LINK, "faq", "FAQ", "https://shop.example/faq")
    await store.close()
    forms = tmp_path / "forms.toml"
    forms.write_text(FORMS)

    mailbox = Mailbox()
    smtp_port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=smtp_port, server_hostname="mail.test"
    )
    controller.start()
    shop = Shop()
    await shop.start()
    config = Config(
        server=ServerSettings(port=0, data_dir=data_dir, webtransport=False),
        session=SessionSettings(grace=GRACE, heartbeat=1.0),
        smtp=SMTPSettings(
            host="127.0.0.1",
            port=smtp_port,
            from_address="chat@shop.example",
            starttls=False,
            connect_timeout=5,
            send_timeout=10,
        ),
        geo=GeoSettings(enabled=False),
        web=WebSettings(allowed_origins=(shop.allowed,)),
        chat=ChatSettings(forms_file=forms),
    )
    daemon = Daemon(config)
    await daemon.start()
    assert daemon.store is not None
    url = f"https://127.0.0.1:{daemon.port}"
    shop.lgserver = url
    try:
        yield Lg(daemon, daemon.store, mailbox, shop, url)
    finally:
        await daemon.stop()
        await shop.close()
        controller.stop()


@dataclass
class Browsers:
    """One Chromium; a context per person, and every page's errors."""

    chromium: Browser
    errors: list[str] = field(default_factory=list)

    async def page(self, init_script: str = "") -> Page:
        context = await self.chromium.new_context(ignore_https_errors=True)
        context.set_default_timeout(WAIT)
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        gather_errors(page, self.errors)
        return page


@pytest.fixture
async def browsers() -> AsyncIterator[Browsers]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=SITE_ARGS,
        )
        try:
            yield Browsers(chromium)
        finally:
            await chromium.close()


async def widget_texts(page: Page) -> list[str]:
    """The texts inside the page's shadow roots, closed ones included (as
    the browser's DevTools see them)."""
    cdp = await page.context.new_cdp_session(page)
    document = await cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
    await cdp.detach()
    texts: list[str] = []

    def walk(node: dict[str, Any], inside: bool) -> None:
        if inside and node.get("nodeType") == 3 and node["nodeValue"].strip():
            texts.append(node["nodeValue"])
        for child in node.get("children", []):
            walk(child, inside)
        for root in node.get("shadowRoots", []):
            walk(root, True)

    walk(document["root"], False)
    return texts


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def console(browsers: Browsers, lg: Lg, name: str) -> Page:
    """An operator logged in to the console and available."""
    page = await browsers.page()
    await page.goto(f"{lg.url}/console/")
    await page.fill("#login-name", name)
    await page.fill("#login-password", PASSWORD)
    await page.press("#login-password", "Enter")
    await page.wait_for_selector("#desk:not([hidden])")
    await page.select_option("#status", "available")
    return page


async def shop_chat(browsers: Browsers, lg: Lg, name: str) -> tuple[Page, Frame]:
    """A customer on the shop's page who accepts the invitation and places
    a call in the chat window that opens in the page."""
    page = await browsers.page()
    await page.goto(f"{lg.shop.allowed}/cart")
    await page.wait_for_selector("[data-lgserver-widget]", state="attached")

    async def invited() -> bool:
        return "May I help you?" in await widget_texts(page)

    await until(invited)
    assert "Chat with us" in await widget_texts(page)
    # from the page's link into the closed shadow root: the call button,
    # then the invitation's "Chat now"
    await page.focus("#first")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    frame: Frame | None = None
    async with asyncio.timeout(10):
        while frame is None:
            frame = next((f for f in page.frames if "/chat/" in f.url), None)
            await asyncio.sleep(0.05)
    await frame.wait_for_selector("#choose:not([hidden])")
    await frame.fill("#name", name)
    await frame.click("#start")
    await frame.wait_for_selector("#queue:not([hidden])")
    return page, frame


async def accept(page: Page, customer: str) -> None:
    offer = page.locator(".offer", has_text=customer)
    await offer.locator("button.primary").click()
    await page.wait_for_selector(f"{PANEL} textarea")


async def say(page: Page | Frame, box: str, text: str) -> None:
    await page.fill(box, text)
    await page.press(box, "Enter")


async def visitor_chat(lg: Lg, page: Page) -> str:
    visitor = await page.evaluate("localStorage.getItem('lgserver.visitor')")
    chats = await lg.store.list_visitor_chats(visitor)
    assert chats, "the call was stored"
    return chats[0].id


async def test_a_chat_from_the_shop_to_its_end(lg: Lg, browsers: Browsers) -> None:
    ann = await console(browsers, lg, "ann")
    await lg.available()
    shop, chat = await shop_chat(browsers, lg, "Eve")
    await chat.wait_for_function(
        "() => document.querySelector('#position').textContent.includes('next')"
    )

    # ann is offered the call, and takes it
    await ann.wait_for_selector(".offer:has-text('Eve')")
    await accept(ann, "Eve")
    await chat.wait_for_function(
        "() => document.querySelector('#operator').textContent.includes('Ann')"
    )

    # messages both ways
    await say(chat, "#message", "Where is my parcel?")
    await ann.wait_for_selector(
        f"{PANEL} .message.from-customer:has-text('Where is my parcel?')"
    )
    box = f"{PANEL} textarea"
    await say(ann, box, "Let me look.")
    await chat.wait_for_selector(".message.from-operator:has-text('Let me look.')")

    # what the customer types shows to ann before it is sent
    await chat.focus("#message")
    await chat.page.keyboard.type("order 4711")
    await ann.wait_for_selector(f"{PANEL} .preview:has-text('order 4711')")
    await chat.press("#message", "Enter")
    await ann.wait_for_selector(
        f"{PANEL} .message.from-customer:has-text('order 4711')"
    )

    # predefined texts: a /keyword, and a link picked from the list
    await ann.focus(box)
    await ann.keyboard.type("/hi")
    await ann.keyboard.press("Tab")
    assert await ann.input_value(box) == "Hello! How can I help?"
    await ann.keyboard.press("Enter")
    await chat.wait_for_selector(
        ".message.from-operator:has-text('Hello! How can I help?')"
    )
    await ann.click(f"{PANEL} [data-tool=tool_canned]")
    await ann.click("#canned-list button:has-text('FAQ')")
    assert await ann.input_value(box) == "FAQ: https://shop.example/faq"
    await ann.press(box, "Enter")
    await chat.wait_for_selector(".log a[href='https://shop.example/faq']")

    # a form, answered
    await ann.click(f"{PANEL} [data-tool=tool_form]")
    await ann.click("#forms-list button:has-text('How can we reach you?')")
    await chat.wait_for_selector(".pushed-form form")
    await chat.fill(".pushed-form input[type=email]", "eve@example.org")
    await chat.check(".pushed-form input[type=checkbox]")
    await chat.click(".pushed-form button[type=submit]")
    await ann.wait_for_selector(f"{PANEL} .answer dd:has-text('eve@example.org')")

    # handed on to bob, with a note; bob sees what was said
    bob = await console(browsers, lg, "bob")
    await ann.click(f"{PANEL} [data-tool=tool_transfer]")
    await ann.wait_for_selector(
        "#transfer-target option[value='operator:bob']", state="attached"
    )
    await ann.select_option("#transfer-target", "operator:bob")
    await ann.fill("#transfer-note", "wants a refund")
    await ann.click("#transfer-form button[type=submit]")
    await bob.wait_for_selector(f"{PANEL} .notice:has-text('wants a refund')")
    for said in ("Where is my parcel?", "Let me look.", "order 4711"):
        await bob.wait_for_selector(f"{PANEL} .message:has-text('{said}')")
    await chat.wait_for_selector(".notice:has-text('transferred to Bob')")
    await say(bob, f"{PANEL} textarea", "Bob here.")
    await chat.wait_for_selector(".message.from-operator:has-text('Bob here.')")

    # the customer mails the conversation to themselves
    await chat.click("#transcript-open")
    await chat.fill("#transcript-email", "eve@example.org")
    await chat.press("#transcript-email", "Enter")
    await chat.wait_for_selector("#transcript-status:has-text('was sent to')")
    envelope, mail = await lg.mailbox.message(0)
    assert envelope.rcpt_tos == ["eve@example.org"]
    assert [a.addr_spec for a in mail["To"].addresses] == ["eve@example.org"]
    assert mail["Subject"] == "Your chat with Sales"
    body = mail.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    for said in ("Where is my parcel?", "Let me look.", "Bob here."):
        assert said in content
    await chat.press("#transcript-email", "Escape")

    chat_id = await visitor_chat(lg, shop)

    # bob suggests a page: the window is told, and moves the shop's page
    # or, where the browser refuses that, shows the link
    thanks = f"{lg.shop.allowed}/thanks"
    await bob.click(f"{PANEL} [data-tool=tool_redirect]")
    await bob.fill("#redirect-url", thanks)
    await bob.press("#redirect-url", "Enter")
    await bob.wait_for_selector(f"{PANEL} .notice:has-text('thanks')")

    async def redirected() -> bool:
        if shop.url == thanks:
            return True
        try:
            return bool(await chat.query_selector(f".notice a[href='{thanks}']"))
        except PlaywrightError:
            return False  # the frame goes with the page it was in

    await until(redirected)

    # bob ends the chat; the store has it whole
    await bob.click(f"{PANEL} [data-tool=tool_end]")

    async def stored() -> bool:
        record = await lg.store.get_chat(chat_id)
        return record is not None and record.ended_at is not None

    await until(stored)
    record = await lg.store.get_chat(chat_id)
    assert record is not None
    assert record.outcome == "served" and record.operator == "bob"
    assert record.customer_name == "Eve"
    messages = await lg.store.list_messages(chat_id)
    bodies = b"".join(m.body for m in messages)
    for said in ("Where is my parcel?", "Let me look.", "order 4711", "Bob here."):
        assert said.encode() in bodies
    handovers = await lg.store.list_handovers(chat_id)
    assert [h[0] for h in handovers][-2:] == ["ann", "bob"]
    assert browsers.errors == []


async def test_an_operator_lost_for_a_moment_or_for_good(
    lg: Lg, browsers: Browsers
) -> None:
    ann = await console(browsers, lg, "ann")
    await lg.available()
    shop, chat = await shop_chat(browsers, lg, "Eve")
    await accept(ann, "Eve")
    await chat.wait_for_function(
        "() => document.querySelector('#operator').textContent.includes('Ann')"
    )
    await say(chat, "#message", "first")
    await ann.wait_for_selector(f"{PANEL} .message:has-text('first')")

    # a short cut, within the grace window: nobody notices, nothing is lost
    await ann.context.set_offline(True)
    assert lg.cut("ann") == 1
    await say(chat, "#message", "during the cut")
    await chat.wait_for_selector(
        ".message.from-customer:not(.pending):has-text('during the cut')"
    )
    await say(ann, f"{PANEL} textarea", "sent while cut off")
    await asyncio.sleep(1.5)
    assert await chat.query_selector(".message:has-text('sent while cut off')") is None
    await ann.context.set_offline(False)
    await ann.wait_for_selector(f"{PANEL} .message:has-text('during the cut')")
    await chat.wait_for_selector(
        ".message.from-operator:has-text('sent while cut off')"
    )
    await say(ann, f"{PANEL} textarea", "back again")
    await chat.wait_for_selector(".message.from-operator:has-text('back again')")
    assert await chat.query_selector(".notice:has-text('disconnected')") is None
    assert await chat.is_hidden("#queue")

    # a cut longer than the grace window: the call waits for another
    # operator, and is offered to bob
    bob = await console(browsers, lg, "bob")
    await ann.context.set_offline(True)
    assert lg.cut("ann") == 1
    await chat.wait_for_selector(
        ".notice:has-text('The operator was disconnected')", timeout=GRACE * 1000 + WAIT
    )
    await chat.wait_for_selector("#queue:not([hidden])")
    await bob.wait_for_selector(".offer:has-text('Eve')")
    await ann.context.set_offline(False)
    chat_id = await visitor_chat(lg, shop)
    record = await lg.store.get_chat(chat_id)
    assert record is not None and record.ended_at is None
    # a message sent while the operator was lost is kept
    messages = await lg.store.list_messages(chat_id)
    assert b"during the cut" in b"".join(m.body for m in messages)
    assert browsers.errors == []


async def websocket_status(lg: Lg, origin: str) -> bytes:
    """The status line of the daemon's answer to a WebSocket opened on
    ``/ws`` by a page of ``origin``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", lg.daemon.port, ssl=context
    )
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Origin: " + origin.encode() + b"\r\n\r\n"
    )
    line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return line


async def test_a_site_not_allowed_gets_no_button_and_no_socket(
    lg: Lg, browsers: Browsers
) -> None:
    await console(browsers, lg, "ann")
    await lg.available()
    page = await browsers.page()
    await page.goto(f"{lg.shop.other}/")
    await page.wait_for_load_state("networkidle")
    await asyncio.sleep(0.5)
    assert await page.query_selector("[data-lgserver-widget]") is None
    assert await page.text_content("#first") == "first link"
    assert (await websocket_status(lg, lg.shop.other)).startswith(b"HTTP/1.1 403 ")
    assert (await websocket_status(lg, lg.shop.allowed)).startswith(b"HTTP/1.1 101 ")
    # the browser reports the refused cross-origin request itself, and
    # nothing else goes wrong
    assert [
        e for e in browsers.errors if "CORS" not in e and "net::ERR_FAILED" not in e
    ] == []


async def test_a_banned_customer_sees_the_service_unavailable(
    lg: Lg, browsers: Browsers
) -> None:
    await console(browsers, lg, "ann")
    await lg.available()
    visitor = visitor_id("banned-visitor-0001")
    await lg.store.add_ban(
        visitor=visitor, reason="abuse", created_by="ann", seconds=3600
    )
    page = await browsers.page(f"localStorage.setItem('lgserver.visitor', '{visitor}')")
    await page.goto(f"{lg.shop.allowed}/")
    await page.wait_for_selector("[data-lgserver-widget]", state="attached")

    async def unavailable() -> bool:
        return "Service unavailable" in await widget_texts(page)

    await until(unavailable)
    await asyncio.sleep(0.5)
    texts = await widget_texts(page)
    assert "May I help you?" not in texts, "no invitation"
    assert "Chat with us" not in texts
    # the button opens nothing
    await page.focus("#first")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await asyncio.sleep(0.3)
    assert not [f for f in page.frames if "/chat/" in f.url]
    assert browsers.errors == []


async def test_a_customer_banned_by_the_operator_cannot_call_again(
    lg: Lg, browsers: Browsers
) -> None:
    ann = await console(browsers, lg, "ann")
    await lg.available()
    shop, chat = await shop_chat(browsers, lg, "Mallory")
    await accept(ann, "Mallory")
    await say(chat, "#message", "rude words")
    await ann.wait_for_selector(f"{PANEL} .message:has-text('rude words')")

    # the ban tool needs a reason, then ends the chat
    await ann.click(f"{PANEL} [data-tool=tool_ban]")
    await ann.click("#ban-form button[type=submit]")
    await ann.wait_for_selector("#ban-status:has-text('reason')")
    await ann.fill("#ban-reason", "insults")
    await ann.click("#ban-form button[type=submit]")
    await chat.wait_for_selector("#ended-box:not([hidden])")
    assert await chat.is_hidden("#composer")
    chat_id = await visitor_chat(lg, shop)

    async def stored() -> bool:
        record = await lg.store.get_chat(chat_id)
        return record is not None and record.outcome == "banned"

    await until(stored)
    [ban] = await lg.store.list_bans()
    assert ban.reason == "insults" and ban.created_by == "ann"

    # the next page of the shop shows the service as unavailable
    await shop.reload()
    await shop.wait_for_selector("[data-lgserver-widget]", state="attached")

    async def unavailable() -> bool:
        return "Service unavailable" in await widget_texts(shop)

    await until(unavailable)
    assert "Chat with us" not in await widget_texts(shop)
    assert browsers.errors == []
