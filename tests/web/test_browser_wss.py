"""The web client's Connection (``clients/web/lib/connection.js``) in
headless Chromium, over a real WebSocket on the TLS port: the page, the
library and MessagePack are served by the server's own HTTP side, and the
page (``clients/web/testing/wss.html``) is driven through ``window.lg``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.messages import Event, Hello
from lgserver.protocol.session import ServerSession
from lgserver.server.hub import CallContext, Hub, Link, Principal
from lgserver.transport.http import Site
from lgserver.transport.listener import serve_tls

from ..conftest import Certificate
from .chromium import ARGS, CHROMIUM, gather_errors

pytestmark = pytest.mark.timeout(20)

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "clients" / "web"
MSGPACK = ROOT / "node_modules" / "@msgpack" / "msgpack" / "dist.esm"
PAGE = WEB / "testing" / "wss.html"


class RecordingHub(Hub):
    """A hub that keeps every connection it was given, so that a test can
    cut one as the network would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.links: list[Link] = []

    def connection_made(self, link: Link, *args: Any, **kwargs: Any) -> ServerSession:
        self.links.append(link)
        return super().connection_made(link, *args, **kwargs)


async def authenticate(
    hello: Hello, address: str | None
) -> Principal | tuple[int, str]:
    visitor = (hello.auth or {}).get("visitor")
    if isinstance(visitor, str):
        return Principal("customer", visitor)
    return CloseCode.AUTH_FAILED, "unknown visitor"


@dataclass
class App:
    hub: RecordingHub
    url: str = ""
    counted: list[Any] = field(default_factory=list)
    ticks: int = 0
    session: ServerSession | None = None

    def tick(self, session: ServerSession, count: int) -> None:
        """Push ``count`` numbered ``tick`` events to ``session``."""
        for _ in range(count):
            self.hub.send(session, Event("tick", self.ticks))
            self.ticks += 1


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    errors: list[str]


@pytest.fixture
async def app(certificate: Certificate) -> AsyncIterator[App]:
    hub = RecordingHub(Registry(), authenticate)
    app = App(hub)

    @hub.method("echo")
    async def echo(context: CallContext, params: Any) -> Any:
        return params

    @hub.method("count")
    async def count(context: CallContext, params: Any) -> int:
        app.session = context.session
        app.counted.append(params)
        return len(app.counted)

    @hub.method("push")
    async def push(context: CallContext, params: Any) -> Any:
        app.tick(context.session, params)
        return params

    site = Site(mounts=[("/vendor/msgpack/", MSGPACK), ("/", WEB)])
    listener = await serve_tls(
        hub, site, certificate.server_context([]), "127.0.0.1", 0
    )
    app.url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        yield app
    finally:
        hub.close_all()
        listener.close()
        await listener.wait_closed()


@pytest.fixture
async def tab(app: App) -> AsyncIterator[Tab]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=ARGS,
        )
        try:
            context = await browser.new_context(ignore_https_errors=True)
            context.set_default_timeout(10_000)
            page = await context.new_page()
            errors: list[str] = []
            gather_errors(page, errors)
            await page.goto(f"{app.url}/testing/wss.html")
            await page.wait_for_function("() => window.lg !== undefined")
            yield Tab(context, page, errors)
        finally:
            await browser.close()


async def test_a_call_echoes_a_nested_value(app: App, tab: Tab) -> None:
    opened = await tab.page.evaluate("lg.connect()")
    assert opened["session"]
    assert app.hub.sessions == 1

    echo = await tab.page.evaluate("lg.echoNested()")
    assert echo["got"] == echo["sent"]
    # a map, bytes, an integer beyond 2^53 and a timestamp come back as such
    assert echo["kinds"] == [True, True, "bigint", True]
    assert tab.errors == []


async def test_calls_in_flight_survive_a_network_drop(app: App, tab: Tab) -> None:
    page = tab.page
    assert (await page.evaluate("lg.connect()"))["session"]
    # 20 ms apart: two seconds of calls, most of them still to come when
    # the network goes, however slow a busy machine is to cut it
    await page.evaluate("lg.startCounting(100, 20)")
    async with asyncio.timeout(10):
        while len(app.counted) < 30:
            await asyncio.sleep(0.002)

    # the network goes; Chromium's offline mode keeps an open WebSocket
    # open, so the server's side of it is cut as a failing network would
    await tab.context.set_offline(True)
    link = app.hub.links[-1]
    link._transport.abort()  # type: ignore[attr-defined]
    await page.wait_for_function("() => lg.status().state === 'detached'")
    await page.wait_for_function("() => lg.issued() === 100")
    await asyncio.sleep(0.3)
    assert app.hub.detached == 1
    assert len(app.hub.links) == 1, "no socket tried while offline"
    assert len(app.counted) < 100

    # what the server sends meanwhile waits for the resume
    assert app.session is not None
    app.tick(app.session, 5)

    # back online: the page resumes at once, and everything arrives
    await tab.context.set_offline(False)
    outcome = await page.evaluate("lg.settled()")
    status = await page.evaluate("lg.status()")
    assert outcome["counted"] == [[{"value": i}] for i in range(1, 101)]
    assert outcome["pushed"] == [[{"value": 5}]] * 10
    assert app.counted == list(range(1, 101))
    assert status["ticks"] == list(range(55))
    assert status["others"] == []
    assert status["resumes"] == 1
    assert status["state"] == "open"
    assert status["ended"] is None
    assert len(app.hub.links) == 2
    assert tab.errors == []


async def test_a_whole_visit_logs_no_error(app: App, tab: Tab) -> None:
    page = tab.page
    refused = await page.evaluate("lg.connect({})")
    assert refused["error"]["name"] == "SessionClosed"
    assert refused["error"]["code"] == CloseCode.AUTH_FAILED

    assert (await page.evaluate("lg.connect()"))["session"]
    assert await page.evaluate("lg.call('echo', 'hi')") == {"value": "hi"}
    missing = await page.evaluate("lg.call('missing', 1)")
    assert missing["error"]["name"] == "RemoteCallError"
    assert missing["error"]["code"] == 404
    assert await page.evaluate("lg.call('push', 3)") == {"value": 3}
    await page.wait_for_function("() => lg.status().ticks.length === 3")

    await page.evaluate("lg.close(1000, 'bye')")
    status = await page.evaluate("lg.status()")
    assert status["ended"] == {"code": CloseCode.NORMAL}
    assert status["state"] == "closed"
    closed = await page.evaluate("lg.call('echo', 1)")
    assert closed["error"]["name"] == "SessionClosed"
    async with asyncio.timeout(5):
        while app.hub.sessions:
            await asyncio.sleep(0.01)
    assert tab.errors == []
