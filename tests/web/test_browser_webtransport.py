"""The web client's Connection over WebTransport in headless Chromium: the
page (``clients/web/testing/wt.html``) comes from the server's HTTPS side,
reads the certificate's SHA-256 at ``/wt-cert`` and opens a WebTransport
session at ``/wt`` on the UDP port of the same number, pinning the
certificate by that hash (an ECDSA P-256 certificate valid for less than
14 days, as Chromium requires)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from playwright.async_api import async_playwright

from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.server.hub import CallContext
from lgserver.transport.http import Site
from lgserver.transport.listener import serve_tls
from lgserver.transport.webtransport import WebTransportSession, serve_webtransport

from ..conftest import Certificate
from .chromium import ARGS, CHROMIUM, gather_errors
from .test_browser_wss import MSGPACK, WEB, App, RecordingHub, Tab
from .test_browser_wss import authenticate as visitor_authenticate

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def app(certificate: Certificate) -> AsyncIterator[App]:
    hub = RecordingHub(Registry(), visitor_authenticate)
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

    pem = certificate.cert_file.read_bytes()
    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())
    site = Site(mounts=[("/vendor/msgpack/", MSGPACK), ("/", WEB)])
    listener = await serve_tls(
        hub, site, certificate.server_context([]), "127.0.0.1", 0
    )
    port = listener.sockets[0].getsockname()[1]
    quic = await serve_webtransport(
        hub,
        site,
        "127.0.0.1",
        port,
        cert_file=certificate.cert_file,
        key_file=certificate.key_file,
    )
    site.webtransport = lambda: (digest, port)
    app.url = f"https://127.0.0.1:{port}"
    try:
        yield app
    finally:
        hub.close_all()
        quic.close()
        listener.close()
        await listener.wait_closed()


@pytest.fixture
async def tab(app: App) -> AsyncIterator[Tab]:
    async with async_playwright() as playwright:
        # QUIC stays on: WebTransport needs it
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
            await page.goto(f"{app.url}/testing/wt.html")
            await page.wait_for_function("() => window.lg !== undefined")
            yield Tab(context, page, errors)
        finally:
            await browser.close()


def webtransport_links(app: App) -> list[WebTransportSession]:
    return [link for link in app.hub.links if isinstance(link, WebTransportSession)]


async def test_a_session_over_webtransport(app: App, tab: Tab) -> None:
    opened = await tab.page.evaluate("lg.connect()")
    assert opened["session"]
    assert len(webtransport_links(app)) == 1
    metrics = app.hub.metrics.render().decode()
    assert 'lgserver_connections{transport="webtransport"} 1.0' in metrics

    echo = await tab.page.evaluate("lg.echoNested()")
    assert echo["got"] == echo["sent"]
    assert echo["kinds"] == [True, True, "bigint", True]
    assert await tab.page.evaluate("lg.call('push', 3)") == {"value": 3}
    await tab.page.wait_for_function("() => lg.status().ticks.length === 3")

    await tab.page.evaluate("lg.close(1000, 'bye')")
    status = await tab.page.evaluate("lg.status()")
    assert status["ended"] == {"code": CloseCode.NORMAL}
    async with asyncio.timeout(5):
        while app.hub.sessions:
            await asyncio.sleep(0.01)
    assert tab.errors == []


async def test_calls_in_flight_survive_a_cut(app: App, tab: Tab) -> None:
    page = tab.page
    assert (await page.evaluate("lg.connect()"))["session"]
    # 20 ms apart: two seconds of calls, most of them still to come when
    # the network goes, however slow a busy machine is to cut it
    await page.evaluate("lg.startCounting(100, 20)")
    async with asyncio.timeout(10):
        while len(app.counted) < 30:
            await asyncio.sleep(0.002)

    # the server's side of the QUIC connection goes, at once
    link = webtransport_links(app)[-1]
    link.protocol.close_now()
    assert app.session is not None
    app.tick(app.session, 5)

    # the page reconnects and resumes by itself; every call is answered once
    await page.wait_for_function("() => lg.issued() === 100")
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
    assert len(webtransport_links(app)) == 2
    assert tab.errors == []
