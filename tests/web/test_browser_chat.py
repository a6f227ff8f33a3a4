"""The chat window (``clients/web/chat/``), the operator console
(``clients/web/console/``) and the call button (``clients/web/widget.js``)
in headless Chromium, served by the server's own HTTP side with its
Content-Security-Policy, over real TLS and WebSockets.

The chat service behind them is a small scripted one, which answers the
calls of docs/chat-api.md that these pages make and pushes the events a
test asks for; the pages are checked for what they show, what they send,
keyboard use, and that they log no error and break no policy.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, Route, async_playwright

from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.messages import Event, Hello
from lgserver.protocol.session import ServerSession
from lgserver.server.hub import CallContext, CallFailed, Hub, Principal
from lgserver.transport.http import Site
from lgserver.transport.listener import serve_tls

from ..conftest import Certificate, visitor_id
from .chromium import CHROMIUM, SITE_ARGS, gather_errors

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "clients" / "web"
MSGPACK = ROOT / "node_modules" / "@msgpack" / "msgpack" / "dist.esm"
SHOP = "https://shop.example"
VISITOR = visitor_id("abcdefgh12345678")
DEPARTMENTS = [
    {"name": "sales", "title": "Sales", "staffed": True},
    {"name": "support", "title": "Support", "staffed": False},
]


async def authenticate(
    hello: Hello, address: str | None
) -> Principal | tuple[int, str]:
    auth = hello.auth or {}
    if isinstance(auth.get("visitor"), str):
        return Principal("customer", auth["visitor"])
    if auth == {"name": "ann", "password": "secret"}:
        return Principal("operator", "ann", "Ann Operator")
    return CloseCode.AUTH_FAILED, "wrong name or password"


@dataclass
class Service:
    """The scripted chat service, and what it was asked."""

    hub: Hub
    url: str = ""
    calls: list[tuple[str, Any]] = field(default_factory=list)
    typing: list[Any] = field(default_factory=list)
    sessions: dict[str, ServerSession] = field(default_factory=dict)
    widget: list[tuple[Any, ...]] = field(default_factory=list)

    def push(self, who: str, name: str, data: Any) -> None:
        self.hub.send(self.sessions[who], Event(name, data))

    def called(self, method: str) -> list[Any]:
        return [params for name, params in self.calls if name == method]


@pytest.fixture
async def service(certificate: Certificate) -> AsyncIterator[Service]:
    hub = Hub(Registry(), authenticate)
    service = Service(hub)

    def answering(name: str, value: Any) -> None:
        @hub.method(name)
        async def method(context: CallContext, params: Any) -> Any:
            service.calls.append((name, params))
            service.sessions[context.principal.kind] = context.session
            if callable(value):
                return value(params)
            return value

    answering("session.whoami", {"display_name": "Ann Operator"})
    answering(
        "chat.status",
        {"available": True, "banned": False, "departments": DEPARTMENTS},
    )
    answering("chat.place", {"chat": "c1", "position": 2, "estimated_wait": 90})
    answering("chat.send", lambda params: {"id": params["id"], "at": 1.8e9})
    answering(
        "operator.state",
        {
            "status": "away",
            "departments": ["sales"],
            "max_chats": 3,
            "offers": [],
            "chats": [],
        },
    )
    answering("operator.status", None)
    answering(
        "canned.list",
        {
            "canned": [
                {"kind": "text", "keyword": "hi", "title": "Hi", "body": "Hello!"}
            ]
        },
    )
    answering("forms.list", {"forms": []})
    answering(
        "chat.accept",
        lambda params: {"chat": params["chat"], "customer": {"name": "Eve"}},
    )
    answering("chat.customer", {"visitor": "v", "name": "Eve", "history": []})

    @hub.method("chat.transcript")
    async def transcript(context: CallContext, params: Any) -> Any:
        raise CallFailed(1008, "e-mail is not configured")

    @hub.event("chat.typing")
    def typing(context: CallContext, data: Any) -> None:
        service.typing.append(data)

    async def widget_status(
        origin: str | None, department: str, visitor: str, address: str | None
    ) -> dict[str, Any]:
        service.widget.append((origin, department, visitor))
        return {"available": True, "banned": False, "departments": DEPARTMENTS}

    site = Site(
        mounts=[("/vendor/msgpack/", MSGPACK), ("/", WEB)],
        allowed_origins=frozenset({SHOP}),
        widget_status=widget_status,
    )
    listener = await serve_tls(
        hub, site, certificate.server_context([]), "127.0.0.1", 0
    )
    service.url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        yield service
    finally:
        hub.close_all()
        listener.close()
        await listener.wait_closed()


@dataclass
class Browser:
    context: BrowserContext
    errors: list[str]

    async def page(self) -> Page:
        page = await self.context.new_page()
        gather_errors(page, self.errors)
        return page


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=SITE_ARGS,
        )
        try:
            context = await chromium.new_context(ignore_https_errors=True)
            context.set_default_timeout(10_000)
            yield Browser(context, [])
        finally:
            await chromium.close()


async def focused_id(page: Page) -> str:
    return str(
        await page.evaluate("document.activeElement && document.activeElement.id")
    )


async def test_the_chat_window_places_a_call_and_chats(
    service: Service, browser: Browser
) -> None:
    page = await browser.page()
    await page.goto(
        f"{service.url}/chat/?visitor={VISITOR}&url="
        "https%3A%2F%2Fshop.example%2Fcart&lang=en"
    )

    # the first screen: a department and a name, reachable by keyboard
    await page.wait_for_selector("#choose:not([hidden])")
    assert await page.title() == "Chat with us"
    assert await focused_id(page) == "department"
    options = await page.eval_on_selector_all(
        "#department option", "(os) => os.map((o) => o.textContent)"
    )
    assert options == ["Sales", "Support (leave a message)"]
    await page.keyboard.press("Tab")
    assert await focused_id(page) == "name"
    await page.keyboard.type("Eve")
    await page.keyboard.press("Enter")

    # waiting: the position, then the operator
    await page.wait_for_selector("#queue:not([hidden])")
    await page.wait_for_function(
        "() => document.querySelector('#position').textContent.includes('number 2')"
    )
    assert service.called("chat.place") == [
        {
            "department": "sales",
            "language": "en",
            "name": "Eve",
            "url": "https://shop.example/cart",
        }
    ]
    service.push("customer", "chat.position", {"chat": "c1", "position": 1})
    await page.wait_for_function(
        "() => document.querySelector('#position').textContent.includes('next')"
    )
    service.push("customer", "chat.accepted", {"chat": "c1", "operator": "Ann"})
    await page.wait_for_function(
        "() => document.querySelector('#operator').textContent.includes('Ann')"
    )
    service.push("customer", "chat.typing", {"chat": "c1"})
    await page.wait_for_function(
        "() => document.querySelector('#typing').textContent.includes('typing')"
    )

    # the operator's message: markup stays text, http(s) links only
    hostile = (
        "<img src=x onerror=alert(1)> see https://shop.example/help and "
        "javascript:alert(1)"
    )
    message = {"id": "o1", "from": "operator", "name": "Ann", "text": hostile}
    service.push("customer", "chat.message", {"chat": "c1", "message": message})
    await page.wait_for_selector(".message.from-operator")
    text = await page.text_content(".message.from-operator .text")
    assert text == hostile
    assert await page.query_selector(".log img") is None
    links = await page.eval_on_selector_all(
        ".log a", "(as) => as.map((a) => [a.href, a.rel, a.target])"
    )
    assert links == [["https://shop.example/help", "noopener noreferrer", "_blank"]]
    assert await page.text_content("#typing") == ""

    # typing sends previews; Enter sends, Shift+Enter makes a new line
    await page.focus("#message")
    await page.keyboard.type("two")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("lines")
    assert await page.input_value("#message") == "two\nlines"
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".message.from-customer:not(.pending)")
    [sent] = service.called("chat.send")
    assert sent["chat"] == "c1" and sent["text"] == "two\nlines"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", sent["id"])
    assert await page.input_value("#message") == ""
    # previews went out while typing, each a start of what was sent
    assert service.typing
    assert all(t["chat"] == "c1" for t in service.typing)
    assert all("two\nlines".startswith(t["text"]) for t in service.typing)

    # a dialog takes the focus, keeps it, and gives it back on Escape
    await page.click("#transcript-open")
    assert await focused_id(page) == "transcript-email"
    await page.keyboard.type("eve@shop.example")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#transcript-status:text('cannot be sent')")
    await page.keyboard.press("Escape")
    assert await page.is_hidden("#transcript")
    assert await focused_id(page) == "transcript-open"

    # font size, remembered
    await page.click("#font-up")
    assert (
        await page.evaluate("localStorage.getItem('lgserver.chat.fontScale')") == "1.1"
    )

    # the end
    service.push("customer", "chat.ended", {"chat": "c1", "outcome": "ended"})
    await page.wait_for_selector("#ended-box:not([hidden])")
    assert await page.is_hidden("#composer")
    assert browser.errors == []


async def test_a_form_pushed_by_the_operator_is_answered(
    service: Service, browser: Browser
) -> None:
    answered: list[Any] = []

    @service.hub.method("chat.form_answer")
    async def form_answer(context: CallContext, params: Any) -> None:
        answered.append(params)

    page = await browser.page()
    await page.goto(f"{service.url}/chat/?department=sales&visitor={VISITOR}")
    await page.wait_for_selector("#choose:not([hidden])")
    assert await page.is_hidden("#department-field"), "the department is fixed"
    await page.click("#start")
    await page.wait_for_selector("#queue:not([hidden])")
    form = {
        "name": "contact",
        "title": "Contact",
        "fields": [
            {"name": "email", "label": "E-mail", "type": "email", "required": True},
            {"name": "size", "label": "Size", "type": "select", "options": ["S", "M"]},
        ],
    }
    service.push("customer", "chat.form", {"chat": "c1", "form": form})
    await page.wait_for_selector(".pushed-form form")
    await page.click(".pushed-form button[type=submit]")
    await page.wait_for_selector(".field-error:text('Please fill this in.')")
    assert answered == []
    await page.fill(".pushed-form input[type=email]", "eve@shop.example")
    await page.select_option(".pushed-form select", "M")
    await page.click(".pushed-form button[type=submit]")
    await page.wait_for_selector(".notice:text('Sent: Contact')")
    assert answered == [
        {
            "chat": "c1",
            "form": "contact",
            "answers": {"email": "eve@shop.example", "size": "M"},
        }
    ]
    assert browser.errors == []


async def test_the_console_logs_in_and_takes_a_call(
    service: Service, browser: Browser
) -> None:
    page = await browser.page()
    await page.goto(f"{service.url}/console/")
    await page.wait_for_selector("#login-form")
    assert await focused_id(page) == "login-name"

    # refused, then welcome; by keyboard only
    await page.keyboard.type("ann")
    await page.keyboard.press("Tab")
    assert await focused_id(page) == "login-password"
    await page.keyboard.type("wrong")
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "() => document.querySelector('#login-error').textContent.includes('Wrong')"
    )
    await page.fill("#login-password", "secret")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#desk:not([hidden])")
    assert await page.text_content("#me") == "Ann Operator"
    assert await page.input_value("#status") == "away"
    await page.wait_for_function("() => document.activeElement.id === 'status'")

    # the status switch
    await page.select_option("#status", "available")
    async with asyncio.timeout(5):
        while not service.called("operator.status"):
            await asyncio.sleep(0.02)
    assert service.called("operator.status") == [{"status": "available"}]

    # a call comes in, waits, and is accepted
    call = {
        "chat": "c7",
        "department": "sales",
        "name": "Eve",
        "url": "https://shop.example/cart",
        "country": "FR",
        "placed_at": 1.0,
    }
    service.push("operator", "queue.offer", {"call": call})
    await page.wait_for_selector(".offer[data-chat='c7']")
    assert "Eve" in (await page.text_content(".offer") or "")
    await page.click(".offer button.primary")
    await page.wait_for_selector("[role=tab][aria-selected=true]")
    assert service.called("chat.accept") == [{"chat": "c7"}]
    assert await page.query_selector(".offer") is None
    service.push(
        "operator",
        "chat.typing",
        {"chat": "c7", "text": "where is my <b>order"},
    )
    await page.wait_for_selector(".preview:text('where is my <b>order')")

    # /keyword + Tab inserts a predefined text; Enter sends
    box = page.locator(".chat-panel:not([hidden]) textarea")
    await box.focus()
    await page.keyboard.type("Dear Eve, /hi")
    await page.keyboard.press("Tab")
    assert await box.input_value() == "Dear Eve, Hello!"
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".message.from-operator")
    assert service.called("chat.send")[0]["text"] == "Dear Eve, Hello!"

    # a second chat: unread counts on the other tab
    service.push("operator", "chat.started", {"chat": "c8", "customer": {"name": "Bo"}})
    message = {"id": "x1", "from": "customer", "name": "Bo", "text": "hello?"}
    service.push("operator", "chat.message", {"chat": "c8", "message": message})
    await page.wait_for_selector(".tab .badge:text('1')")
    # the tab list follows the arrow keys
    await page.focus("[role=tab][aria-selected=true]")
    await page.keyboard.press("ArrowRight")
    await page.wait_for_function(
        "() => document.querySelector('[role=tab][aria-selected=true]').textContent"
        ".startsWith('Bo')"
    )
    assert await page.query_selector(".tab .badge") is None
    assert browser.errors == []


async def shadow(page: Page) -> dict[str, list[str]]:
    """The kinds of the page's shadow roots and the texts inside them,
    closed ones included (as the browser's DevTools see them)."""
    cdp = await page.context.new_cdp_session(page)
    document = await cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})
    await cdp.detach()
    found: dict[str, list[str]] = {"types": [], "texts": []}

    def walk(node: dict[str, Any], inside: bool) -> None:
        if inside and node.get("nodeType") == 3 and node["nodeValue"].strip():
            found["texts"].append(node["nodeValue"])
        for child in node.get("children", []):
            walk(child, inside)
        for root in node.get("shadowRoots", []):
            found["types"].append(root.get("shadowRootType", ""))
            walk(root, True)

    walk(document["root"], False)
    return found


async def host_page(route: Route, service: Service) -> None:
    """A customer's page on another origin, with a strict policy that
    allows lgserver as the widget's documentation asks."""
    body = (
        "<!doctype html><html lang='en'><head><title>Shop</title>"
        f"<script src='{service.url}/widget.js' data-department='sales' "
        "data-invite-after='0.2' async></script></head>"
        "<body><a href='#top' id='first'>first link</a></body></html>"
    )
    policy = (
        f"default-src 'none'; script-src {service.url}; "
        f"connect-src {service.url}; frame-src {service.url}; style-src 'none'"
    )
    await route.fulfill(
        status=200,
        body=body,
        headers={"content-type": "text/html", "content-security-policy": policy},
    )


async def test_the_call_button_on_an_allowed_site(
    service: Service, browser: Browser
) -> None:
    await browser.context.route(f"{SHOP}/**", lambda route: host_page(route, service))
    page = await browser.page()
    await page.goto(f"{SHOP}/cart")
    await page.wait_for_selector("[data-lgserver-widget]", state="attached")

    # a closed shadow root: nothing in the page's DOM, and no global
    host = await page.evaluate(
        """() => {
          const host = document.querySelector('[data-lgserver-widget]');
          const box = host.getBoundingClientRect();
          return {shadow: host.shadowRoot, children: host.childElementCount,
                  width: box.width, height: box.height,
                  globals: Object.keys(window).filter((k) => /lgserver/i.test(k))};
        }"""
    )
    assert host["shadow"] is None
    assert host["children"] == 0
    assert host["width"] > 20 and host["height"] > 20
    assert host["globals"] == []
    visitor = await page.evaluate("localStorage.getItem('lgserver.visitor')")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", visitor)
    assert service.widget == [(SHOP, "sales", visitor)]

    # the button and, after the time asked for, the invitation
    assert (await shadow(page))["types"] == ["closed"]
    async with asyncio.timeout(5):
        while "May I help you?" not in (await shadow(page))["texts"]:
            await asyncio.sleep(0.05)
    assert (await shadow(page))["texts"][:2] == ["Chat with us", "May I help you?"]

    # by keyboard: from the page's link to the call button, then through
    # the invitation, which is dismissed for the rest of the visit
    await page.focus("#first")
    await page.keyboard.press("Tab")
    active = await page.evaluate("document.activeElement.tagName")
    assert active == "DIV", "the focus went into the widget's shadow root"
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    assert "May I help you?" not in (await shadow(page))["texts"]
    dismissed = await page.evaluate(
        "sessionStorage.getItem('lgserver.invite.dismissed')"
    )
    assert dismissed == "1"

    # the focus is back on the call button, which opens the chat window
    # in a panel of the page
    await page.keyboard.press("Enter")
    frame = None
    async with asyncio.timeout(10):
        while frame is None:
            frame = next((f for f in page.frames if "/chat/" in f.url), None)
            await asyncio.sleep(0.05)
    assert frame.url.startswith(f"{service.url}/chat/?department=sales&visitor=")
    assert "url=https%3A%2F%2Fshop.example%2Fcart" in frame.url
    await frame.wait_for_selector("#choose:not([hidden])")
    assert service.called("chat.status") == [{"department": "sales"}]
    assert browser.errors == []


async def test_the_call_button_stays_away_from_other_sites(
    service: Service, browser: Browser
) -> None:
    evil = "https://evil.example"
    await browser.context.route(f"{evil}/**", lambda route: host_page(route, service))
    page = await browser.page()
    await page.goto(f"{evil}/")
    await page.wait_for_load_state("networkidle")
    await asyncio.sleep(0.3)
    assert await page.query_selector("[data-lgserver-widget]") is None
    assert service.widget == []
    # the page itself is untouched and works
    assert await page.evaluate("document.querySelector('#first').textContent") == (
        "first link"
    )
    assert not [
        e for e in browser.errors if "lgserver" in e.lower() and "CORS" not in e
    ]
