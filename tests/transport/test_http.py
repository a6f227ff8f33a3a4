"""The HTTP side of the TLS port: files, headers, errors, and the WebSocket
upgrade that carries frames, over real TLS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    Request,
    TextMessage,
)

from lgserver.client import Client
from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.events import MessageReceived, SessionEnded, SessionEstablished
from lgserver.protocol.messages import Call, Hello, Result
from lgserver.protocol.session import ClientSession, SessionConfig
from lgserver.security.captcha import CaptchaChallenges
from lgserver.security.visitors import VISITOR_ID_RULE
from lgserver.server.hub import CallContext, Hub, Principal
from lgserver.transport import http as http_module
from lgserver.transport.http import Site
from lgserver.transport.listener import serve_tls

from ..conftest import Certificate, visitor_id

VISITOR = visitor_id("shopper")

registry = Registry()


async def authenticate(
    hello: Hello, address: str | None
) -> Principal | tuple[int, str]:
    return Principal("customer", "visitor")


@dataclass
class Server:
    hub: Hub
    port: int
    certificate: Certificate
    site: Site

    def native(self, transport: str = "lg/1") -> Client:
        """A Python client of this server, over ``transport``."""
        return Client(
            "127.0.0.1",
            self.port,
            registry=registry,
            build="test",
            ssl_context=self.context(),
            server_hostname="localhost",
            transport=transport,
        )

    def context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        context = self.certificate.client_context()
        if alpn:
            context.set_alpn_protocols(alpn)
        return context


@pytest.fixture
async def server(certificate: Certificate, tmp_path: Path) -> AsyncIterator[Server]:
    site_root = tmp_path / "site"
    site_root.mkdir()
    (site_root / "index.html").write_text("<!doctype html><p>hello</p>")
    (site_root / "app.js").write_text("export const x = 1;\n")
    (site_root / "page.html").write_text(
        '<!doctype html><script type="importmap">{"imports": {}}</script>'
    )
    (site_root / ".secret").write_text("hidden")
    (site_root / "chat").mkdir()
    (site_root / "chat" / "index.html").write_text("<!doctype html><p>chat</p>")
    (site_root / "chat" / "chat.js").write_text("export const y = 2;\n")
    (site_root / "console").mkdir()
    (site_root / "console" / "index.html").write_text("<!doctype html><p>ops</p>")
    (tmp_path / "outside.txt").write_text("outside")

    hub = Hub(registry, authenticate, SessionConfig(max_frame_size=64 * 1024))

    @hub.method("echo")
    async def echo(context: CallContext, params: Any) -> Any:
        return params

    site = Site(
        mounts=[("/", site_root)],
        allowed_origins=frozenset({"https://shop.example", "http://a.example:81"}),
        metrics=hub.metrics.render,
        captcha=CaptchaChallenges(),
    )
    listener = await serve_tls(
        hub, site, certificate.server_context([]), "127.0.0.1", 0
    )
    port = listener.sockets[0].getsockname()[1]
    try:
        yield Server(hub, port, certificate, site)
    finally:
        hub.close_all()
        listener.close()
        await listener.wait_closed()


async def http(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one raw request; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        server.port,
        ssl=server.context(["http/1.1"]),
        server_hostname="localhost",
    )
    writer.write(request)
    answer = await read_response(reader)
    writer.close()
    return answer


async def read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the next answer on a connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 5) if length else b""
    return status, headers, body


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", *extra, "", ""]
    return "\r\n".join(lines).encode()


async def test_health_and_files(server: Server) -> None:
    status, _, body = await http(server, get("/healthz"))
    assert (status, body) == (200, b"ok\n")

    status, headers, body = await http(server, get("/app.js"))
    assert status == 200
    assert body == b"export const x = 1;\n"
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].endswith("; frame-ancestors 'none'")
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"

    status, _, _ = await http(
        server, get("/app.js", f"If-None-Match: {headers['etag']}")
    )
    assert status == 304

    status, headers, body = await http(server, get("/"))
    assert status == 200 and b"hello" in body
    assert headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get("/../outside.txt"), 404),
        (get("/%2e%2e/outside.txt"), 404),
        (get("/.secret"), 404),
        (get("/missing.js"), 404),
        (b"POST /app.js HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 20_000 + b"\r\n\r\n", 400),
    ],
    ids=["dot-dot", "encoded dot-dot", "hidden", "missing", "post", "bad", "huge"],
)
async def test_bad_requests_get_clear_errors(
    server: Server, request_bytes: bytes, status: int
) -> None:
    got, _, body = await http(server, request_bytes)
    assert got == status
    assert str(status).encode() in body or status == 400
    status_ok, _, _ = await http(server, get("/healthz"))
    assert status_ok == 200


class WebSocketClient:
    """A client session over a WebSocket, driven by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.session = ClientSession(registry, build="test")
        self.events: list[Any] = []

    @classmethod
    async def open(cls, server: Server, origin: str | None = None) -> WebSocketClient:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=server.context(), server_hostname="localhost"
        )
        client = cls(reader, writer)
        extra = [("Origin", origin)] if origin else []
        writer.write(
            client.ws.send(Request(host="localhost", target="/ws", extra_headers=extra))
        )
        return client

    async def pump(self, until: type, timeout: float = 5) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.ws.events():
                    self.events.append(event)
                    if isinstance(event, BytesMessage):
                        self.session.receive_message(event.data, 0.0)
                        self.flush()
                    if isinstance(event, until):
                        return event
                while (event := self.session.next_event()) is not None:
                    self.events.append(event)
                    if isinstance(event, until):
                        return event
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed")
                self.ws.receive_data(data)

    def flush(self) -> None:
        data = self.session.data_to_send()
        position = 0
        while position < len(data):
            length = int.from_bytes(data[position : position + 4], "big")
            frame = data[position : position + 4 + length]
            self.writer.write(self.ws.send(BytesMessage(data=frame)))
            position += 4 + length


async def test_frames_over_a_websocket(server: Server) -> None:
    client = await WebSocketClient.open(server)
    await client.pump(AcceptConnection)
    client.session.connection_made(0.0)
    client.flush()
    await client.pump(SessionEstablished)
    client.session.send(Call(1, "echo", ["over", "websocket"]))
    client.flush()
    answer = await client.pump(MessageReceived)
    assert answer.value == Result(1, ["over", "websocket"])
    assert server.hub.sessions == 1


async def test_an_origin_not_allowed_is_refused(server: Server) -> None:
    client = await WebSocketClient.open(server, origin="https://evil.example")
    refused = await client.pump(RejectConnection)
    assert refused.status_code == 403
    allowed = await WebSocketClient.open(server, origin="https://shop.example")
    await allowed.pump(AcceptConnection)


def frame_ancestors(headers: dict[str, str]) -> str:
    policy = headers["content-security-policy"]
    found = [part for part in policy.split("; ") if part.startswith("frame-")]
    assert len(found) == 1, policy
    return found[0].removeprefix("frame-ancestors ")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/chat/", 200),
        ("/chat", 200),
        ("/chat/index.html", 200),
        ("/chat/chat.js", 200),
        ("/chat/missing.js", 404),
    ],
)
async def test_the_chat_window_may_be_framed_by_allowed_origins(
    server: Server, path: str, status: int
) -> None:
    got, headers, _ = await http(server, get(path))
    assert got == status
    if status == 200:
        assert frame_ancestors(headers) == (
            "'self' http://a.example:81 https://shop.example"
        )
        # a revalidated copy keeps the same rule
        got, headers, _ = await http(
            server, get(path, f"If-None-Match: {headers['etag']}")
        )
        assert got == 304
        assert frame_ancestors(headers).startswith("'self' http://a.example:81")
    else:
        assert frame_ancestors(headers) == "'none'"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/console/",
        "/console/index.html",
        "/chatroom",
        "/app.js",
        "/chat/%2e%2e/console/index.html",
        "/healthz",
    ],
)
async def test_other_pages_may_be_framed_by_no_page(server: Server, path: str) -> None:
    _, headers, _ = await http(server, get(path))
    assert frame_ancestors(headers) == "'none'"


async def test_the_embeddable_pages_are_the_sites_choice(server: Server) -> None:
    server.site.embeddable = ("/console/",)
    _, headers, _ = await http(server, get("/console/"))
    assert frame_ancestors(headers).startswith("'self' ")
    _, headers, _ = await http(server, get("/chat/"))
    assert frame_ancestors(headers) == "'none'"
    server.site.allowed_origins = frozenset()
    _, headers, _ = await http(server, get("/console/"))
    assert frame_ancestors(headers) == "'self'"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://shop.example", True),
        ("http://a.example:81", True),
        ("https://localhost", True),  # the server's own pages
        ("https://evil.example", False),
        ("http://shop.example", False),
        ("https://shop.example:8443", False),
        ("https://shop.example.evil.example", False),
        ("null", False),
    ],
)
async def test_the_websocket_is_for_allowed_origins(
    server: Server, origin: str, allowed: bool
) -> None:
    client = await WebSocketClient.open(server, origin=origin)
    if allowed:
        await client.pump(AcceptConnection)
    else:
        refused = await client.pump(RejectConnection)
        assert refused.status_code == 403
    client.writer.close()


async def test_text_and_oversized_messages_end_the_session(server: Server) -> None:
    client = await WebSocketClient.open(server)
    await client.pump(AcceptConnection)
    client.session.connection_made(0.0)
    client.flush()
    await client.pump(SessionEstablished)
    client.writer.write(client.ws.send(TextMessage(data="hello")))
    closed = await client.pump(CloseConnection)
    assert closed.code == 1008

    big = await WebSocketClient.open(server)
    await big.pump(AcceptConnection)
    big.session.connection_made(0.0)
    big.flush()
    await big.pump(SessionEstablished)
    big.writer.write(big.ws.send(BytesMessage(data=b"\0" * 70_000)))
    closed = await big.pump(CloseConnection)
    assert closed.code == 1009


async def test_a_native_client_shares_the_port(server: Server) -> None:
    client = server.native()
    await client.connect()
    assert await client.call("echo", 7) == 7
    await client.close()
    assert isinstance(client.ended, SessionEnded)
    assert client.ended.code == CloseCode.NORMAL


async def test_metrics_for_the_local_network_only(server: Server) -> None:
    native = server.native()
    await native.connect()
    assert await native.call("echo", "x") == "x"
    status, headers, body = await http(server, get("/metrics"))
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert 'lgserver_connections{transport="lg/1"} 1.0' in text
    assert 'lgserver_sessions{state="connected"} 1.0' in text
    counted = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(("lgserver_received_", "lgserver_sent_"))
    }
    # HELLO, a call, an ACK at least in; WELCOME and the result at least out
    assert counted["lgserver_received_frames_total"] >= 2
    assert counted["lgserver_sent_frames_total"] >= 2
    assert counted["lgserver_received_bytes_total"] > 8 * 2
    assert counted["lgserver_sent_bytes_total"] > 8 * 2
    await native.close()

    server.site.metrics_networks = ()
    status, _, _ = await http(server, get("/metrics"))
    assert status == 404


async def test_a_page_may_run_its_import_map_and_no_other_inline_script(
    server: Server,
) -> None:
    digest = hashlib.sha256(b'{"imports": {}}').digest()
    allowed = f"'sha256-{base64.b64encode(digest).decode()}'"
    _, headers, _ = await http(server, get("/page.html"))
    policy = headers["content-security-policy"]
    assert f"script-src 'self' {allowed};" in policy
    _, headers, _ = await http(server, get("/app.js"))
    assert "script-src 'self';" in headers["content-security-policy"]


async def test_junk_before_the_tls_handshake_is_dropped(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: plain\r\n\r\n" + bytes(range(256)))
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no answer
    writer.close()
    status, _, _ = await http(server, get("/healthz"))
    assert status == 200


async def test_a_foreign_alpn_gets_http_and_a_clear_error(server: Server) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        server.port,
        ssl=server.context(["h2"]),
        server_hostname="localhost",
    )
    ssl_object = writer.get_extra_info("ssl_object")
    assert ssl_object.selected_alpn_protocol() is None
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 405 ")  # PRI is no HTTP/1.1 method
    writer.close()


async def test_the_python_client_over_a_websocket_resumes(server: Server) -> None:
    client = server.native("websocket")
    await client.connect()
    assert await client.call("echo", "over /ws") == "over /ws"
    calls = [asyncio.ensure_future(client.call("echo", n)) for n in range(50)]
    await asyncio.sleep(0)
    client.drop_connection()
    assert await asyncio.gather(*calls) == list(range(50))
    assert client.reconnects == 1
    await client.close()


async def test_a_native_websocket_needs_no_origin(server: Server) -> None:
    server.site.allowed_origins = frozenset()
    client = server.native("websocket")
    await client.connect()  # no Origin: not a browser, so accepted
    await client.close()
    with pytest.raises(ValueError):
        Client(
            "127.0.0.1",
            1,
            registry=registry,
            build="test",
            ssl_context=server.context(),
            transport="carrier pigeon",
        )


# -- CAPTCHA challenges


async def test_a_captcha_challenge_as_json(server: Server) -> None:
    status, headers, body = await http(server, get("/captcha"))
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    answer = json.loads(body)
    assert set(answer) == {"id", "image"}
    prefix = "data:image/png;base64,"
    assert answer["image"].startswith(prefix)
    png = base64.b64decode(answer["image"][len(prefix) :], validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    # the server holds its text, for the HELLO that brings the answer
    captchas = server.site.captcha
    assert captchas is not None
    text = captchas._challenges[answer["id"]].text
    assert captchas._challenges[answer["id"]].address == "127.0.0.1"
    assert captchas.solve(answer["id"], text.lower())
    assert not captchas.solve(answer["id"], text)


async def test_a_captcha_is_fetched_with_get_only(server: Server) -> None:
    for method in ("POST", "PUT"):
        request = f"{method} /captcha HTTP/1.1\r\nHost: localhost\r\n"
        request += "Content-Length: 0\r\n\r\n"
        status, headers, _ = await http(server, request.encode())
        assert status == 405
        assert headers["allow"] == "GET"

    # a HEAD answer has no body, and the connection goes on
    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        server.port,
        ssl=server.context(["http/1.1"]),
        server_hostname="localhost",
    )
    writer.write(get("/captcha").replace(b"GET", b"HEAD", 1) + get("/healthz"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 405 ")
    status, _, body = await read_response(reader)
    assert (status, body) == (200, b"ok\n")
    writer.close()
    captchas = server.site.captcha
    assert captchas is not None and len(captchas) == 0


async def test_requests_after_a_captcha_wait_their_turn(server: Server) -> None:
    # three requests at once on one connection: answered in order
    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        server.port,
        ssl=server.context(["http/1.1"]),
        server_hostname="localhost",
    )
    writer.write(get("/captcha") + get("/healthz") + get("/captcha"))
    first = await read_response(reader)
    second = await read_response(reader)
    third = await read_response(reader)
    writer.close()
    assert [first[0], second[0], third[0]] == [200, 200, 200]
    assert second[2] == b"ok\n"
    assert json.loads(first[2])["id"] != json.loads(third[2])["id"]


async def test_too_many_waiting_captchas_are_told_to_retry(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_module, "CAPTCHA_WAITING", 0)
    status, headers, _ = await http(server, get("/captcha"))
    assert status == 503
    assert headers["retry-after"] == "1"


async def test_a_failed_drawing_is_an_internal_error(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(text: str) -> bytes:
        raise OSError("no font")

    monkeypatch.setattr(http_module, "render_png", broken)
    status, _, body = await http(server, get("/captcha"))
    assert status == 500
    assert b"font" not in body
    # the server goes on serving
    status, _, _ = await http(server, get("/healthz"))
    assert status == 200


async def test_without_challenges_there_is_no_captcha(
    certificate: Certificate,
) -> None:
    site = Site()
    assert not site.answers_later("/captcha")
    answer = await site.respond_later("GET", "/captcha", {}, None)
    assert answer.status == 404


@pytest.fixture
def asked(server: Server) -> list[tuple[Any, ...]]:
    """Serve ``/widget/status``; what the server was asked."""
    calls: list[tuple[Any, ...]] = []

    async def widget_status(
        origin: str | None, department: str, visitor: str, address: str | None
    ) -> dict[str, Any] | None:
        calls.append((origin, department, visitor, address))
        if department == "closed":
            return None
        if department == "broken":
            raise RuntimeError("the chat service failed")
        return {
            "available": True,
            "banned": False,
            "departments": [{"name": "sales", "title": "Sales", "staffed": True}],
        }

    server.site.widget_status = widget_status
    return calls


async def test_the_widget_status_answers_allowed_origins_only(
    server: Server, asked: list[tuple[Any, ...]]
) -> None:
    path = f"/widget/status?department=sales&visitor={VISITOR}"
    status, headers, body = await http(
        server, get(path, "Origin: https://shop.example")
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://shop.example"
    assert headers["vary"] == "Origin"
    assert headers["cache-control"] == "no-store"
    answer = json.loads(body)
    assert answer["allowed"] is True
    assert answer["departments"][0]["staffed"] is True
    assert asked == [("https://shop.example", "sales", VISITOR, "127.0.0.1")]

    # another origin learns nothing, and its browser may not read the answer
    status, headers, body = await http(
        server, get(path, "Origin: https://evil.example")
    )
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert json.loads(body) == {"allowed": False}
    assert len(asked) == 1

    # the server's own pages send no Origin on a same-origin GET
    status, headers, _ = await http(server, get(path))
    assert status == 200
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("visitor=" + VISITOR[:-1], 400, VISITOR_ID_RULE),
        (f"visitor={VISITOR}%3Cscript", 400, VISITOR_ID_RULE),
        ("visitor=" + "v" * 65, 400, VISITOR_ID_RULE),
        ("department=sales", 400, VISITOR_ID_RULE),
        (f"department=a%0Ab&visitor={VISITOR}", 400, "bad department"),
        ("department=" + "d" * 65 + f"&visitor={VISITOR}", 400, "bad department"),
        (f"department=closed&visitor={VISITOR}", 403, None),
        (f"department=broken&visitor={VISITOR}", 500, "internal error"),
    ],
    ids=[
        "short",
        "markup",
        "long visitor",
        "no visitor",
        "control",
        "long department",
        "refused",
        "failing",
    ],
)
async def test_a_bad_widget_status_request_gets_a_clear_error(
    server: Server,
    asked: list[tuple[Any, ...]],
    query: str,
    status: int,
    error: str | None,
) -> None:
    got, headers, body = await http(
        server, get(f"/widget/status?{query}", "Origin: https://shop.example")
    )
    assert got == status
    assert headers["content-type"] == "application/json"
    assert headers["access-control-allow-origin"] == "https://shop.example"
    assert json.loads(body).get("error") == error
    # and the server serves on
    assert (await http(server, get("/healthz")))[0] == 200


async def test_without_a_chat_service_there_is_no_widget_status(
    server: Server,
) -> None:
    path = f"/widget/status?visitor={VISITOR}"
    status, _, _ = await http(server, get(path, "Origin: https://shop.example"))
    assert status == 404
