"""HTTP/1.1 on the TLS port (ALPN ``http/1.1``): the web clients' files,
the health check, and the WebSocket upgrade that carries frames.

:class:`HttpConnection` parses requests with h11. A request for ``/ws``
that asks for a WebSocket is handed to the sans-I/O protocol of
``websockets`` (chosen over wsproto by ``bench/websocket.py``: two to four
times faster in both directions); from then on each binary
message holds exactly one frame (``docs/protocol.md`` section 2.6) and the
connection feeds a session of the hub, like a raw-frame connection does.
Every other request is answered by :class:`Site`: static files with their
content type, an ETag and the security headers, the call button's status
(``/widget/status``, for pages of allowed origins), or an error page.

Which sites may use lgserver is decided in two places, both from
:attr:`Site.allowed_origins`. A page may open a WebSocket (or, in
:mod:`.webtransport`, a WebTransport session) only if its Origin is
lgserver's own or an allowed one; any other gets 403. And a page may be
framed only where it is meant to be embedded: the files under
:attr:`Site.embeddable` (the customer's chat window) carry
``frame-ancestors 'self'`` and the allowed origins in their
Content-Security-Policy, every other page (the operators' and the
administrators' consoles) ``frame-ancestors 'none'``.

``GET /captcha`` hands out a CAPTCHA challenge for a login
(``docs/protocol.md`` section 6.8) as JSON: ``{"id": ..., "image":
"data:image/png;base64,..."}``. Its image is drawn in a worker thread, a
few at a time, while the connection reads no further request; when too
many requests wait for a drawing, the answer is 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import h11
from websockets.datastructures import Headers
from websockets.exceptions import PayloadTooBig
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WebSocketRequest
from websockets.protocol import State
from websockets.server import ServerProtocol

from ..protocol.errors import CloseCode
from ..protocol.frames import split_frames
from ..protocol.session import ServerSession
from ..security.captcha import CaptchaChallenges, render_png
from ..security.visitors import VISITOR_ID_RULE, is_visitor_id
from ..server.hub import Hub

__all__ = ["HttpConnection", "Response", "Site", "WidgetStatus"]

logger = logging.getLogger("lgserver.transport")

MAX_REQUEST_HEAD = 16 * 1024
MAX_FILE_SIZE = 16 << 20
# CAPTCHA images drawn at once, and requests that may wait for a drawing;
# one takes a few milliseconds of CPU.
CAPTCHA_DRAWING = 2
CAPTCHA_WAITING = 64
# WebSocket close codes (RFC 6455 section 7.4.1).
WS_POLICY = 1008
WS_TOO_BIG = 1009
WS_NORMAL = 1000

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
    ".wasm": "application/wasm",
}


@dataclass(frozen=True, slots=True)
class Response:
    """A whole HTTP response; ``scripts`` are extra CSP script sources, and
    an ``embeddable`` one may be framed by the allowed origins' pages."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    scripts: tuple[str, ...] = ()
    embeddable: bool = False


#: Answers ``GET /widget/status`` for the call button: called with the
#: page's origin (None when the request carries none), the department
#: asked for ("" for none), the visitor id and the client's address; returns
#: the JSON object to send (``docs/chat-api.md``, "HTTP endpoints for the
#: widget"), or None to refuse the page (403).
WidgetStatus = Callable[
    [str | None, str, str, str | None], Awaitable[Mapping[str, Any] | None]
]

_DEPARTMENT = re.compile(r"[^\x00-\x1f\x7f]{1,64}")


@dataclass(slots=True)
class _File:
    stamp: tuple[int, int]
    body: bytes
    etag: str
    content_type: str
    scripts: tuple[str, ...]


# A page's import map must be inline; the policy allows it by its hash
# (and no other inline script).
_IMPORT_MAP = re.compile(
    rb'<script type="importmap">(.*?)</script>', re.DOTALL | re.IGNORECASE
)


def _import_map_hashes(body: bytes) -> tuple[str, ...]:
    return tuple(
        "'sha256-"
        + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()
        + "'"
        for m in _IMPORT_MAP.finditer(body)
    )


@dataclass
class Site:
    """What the HTTP side serves.

    Args:
        mounts: URL prefixes and the folders they serve, longest first.
        allowed_origins: Origins whose pages may open a WebSocket or a
            WebTransport session and frame the embeddable pages, such as
            ``https://shop.example`` (as browsers send them: no path, no
            default port); empty means only pages of this server.
        embeddable: URL prefixes of the pages other sites may frame (the
            customer's chat window); a prefix ``/chat/`` covers ``/chat``
            too. Every other page may be framed by no page at all.
        metrics: Renders ``/metrics``; None serves no metrics.
        metrics_networks: The addresses that may read ``/metrics``.
        webtransport: The SHA-256 of the certificate the WebTransport
            listener presents and its UDP port, served at ``/wt-cert`` for
            pages to pin; None when WebTransport is off.
        captcha: The CAPTCHA challenges ``/captcha`` hands out; None
            serves no ``/captcha``.
        widget_status: Answers the call button's ``/widget/status``; None
            serves no such path (404).
    """

    mounts: list[tuple[str, Path]] = field(default_factory=list)
    allowed_origins: frozenset[str] = frozenset()
    embeddable: tuple[str, ...] = ("/chat/",)
    metrics: Callable[[], bytes] | None = None
    metrics_networks: tuple[IPv4Network | IPv6Network, ...] = (
        ip_network("127.0.0.0/8"),
        ip_network("::1/128"),
    )
    webtransport: Callable[[], tuple[bytes, int]] | None = None
    captcha: CaptchaChallenges | None = None
    widget_status: WidgetStatus | None = None
    _cache: dict[Path, _File] = field(default_factory=dict)
    _drawing: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(CAPTCHA_DRAWING)
    )
    _waiting: int = 0

    def security_headers(self, response: Response) -> list[tuple[str, str]]:
        """Headers every response carries: the scripts ``response`` may run
        besides its server's (the hashes of its import maps) and the pages
        that may frame it."""
        script_src = " ".join(["'self'", *response.scripts])
        if response.embeddable:
            ancestors = " ".join(["'self'", *sorted(self.allowed_origins)])
        else:
            ancestors = "'none'"
        policy = (
            f"default-src 'self'; script-src {script_src}; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self' wss:; object-src 'none'; "
            f"base-uri 'none'; frame-ancestors {ancestors}"
        )
        return [
            ("Content-Security-Policy", policy),
            ("Strict-Transport-Security", "max-age=31536000"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ]

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Whether a page of ``origin`` may connect to this server."""
        if origin is None:
            return True  # not a browser: native clients send no Origin
        if origin in self.allowed_origins:
            return True
        return host is not None and origin == f"https://{host}"

    def respond(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        address: str | None = None,
    ) -> Response:
        """Answer a request from ``address`` that is not a WebSocket upgrade."""
        if method not in ("GET", "HEAD"):
            return self._error(405, "method not allowed", [("Allow", "GET, HEAD")])
        path = unquote(urlsplit(target).path)
        if path == "/healthz":
            return Response(200, (("Content-Type", "text/plain"),), b"ok\n")
        if path == "/wt-cert" and self.webtransport is not None:
            digest, port = self.webtransport()
            body = json.dumps({"sha256": digest.hex(), "port": port}).encode()
            kind = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))
            return Response(200, kind, body)
        if path == "/metrics" and self.metrics and self._may_read_metrics(address):
            content_type = "text/plain; version=0.0.4; charset=utf-8"
            return Response(200, (("Content-Type", content_type),), self.metrics())
        found = self._find(path)
        if found is None:
            return self._error(404, "not found")
        file = self._load(found)
        if file is None:
            return self._error(404, "not found")
        common = [
            ("ETag", file.etag),
            ("Cache-Control", "no-cache"),
        ]
        embeddable = self.is_embeddable(path)
        if headers.get("if-none-match") == file.etag:
            return Response(304, tuple(common), embeddable=embeddable)
        body = b"" if method == "HEAD" else file.body
        return Response(
            200,
            (
                ("Content-Type", file.content_type),
                ("Content-Length", str(len(file.body))),
                *common,
            ),
            body,
            file.scripts,
            embeddable,
        )

    async def _widget_status(
        self, method: str, target: str, headers: dict[str, str], address: str | None
    ) -> Response:
        """The call button's question: may this page show it, and how.

        Only pages of allowed origins get an answer they can read: the
        CORS header names their origin, and any other origin gets 403
        without it. A request with no Origin (same-origin, or not a
        browser) is answered without CORS headers.
        """
        origin = headers.get("origin")
        if not self.origin_allowed(origin, headers.get("host")):
            return self._json(403, {"allowed": False})
        cors: list[tuple[str, str]] = [("Vary", "Origin")]
        if origin is not None:
            cors.append(("Access-Control-Allow-Origin", origin))
        query = parse_qs(
            urlsplit(target).query, keep_blank_values=True, max_num_fields=8
        )
        department = query.get("department", [""])[0]
        visitor = query.get("visitor", [""])[0]
        if not is_visitor_id(visitor):
            return self._json(400, {"error": VISITOR_ID_RULE}, cors)
        if department and not _DEPARTMENT.fullmatch(department):
            return self._json(400, {"error": "bad department"}, cors)
        assert self.widget_status is not None
        try:
            answer = await self.widget_status(origin, department, visitor, address)
        except Exception:
            logger.exception("widget status failed")
            return self._json(500, {"error": "internal error"}, cors)
        if answer is None:
            return self._json(403, {"allowed": False}, cors)
        body = {"allowed": True, **answer}
        return self._json(200, body, cors, head=method == "HEAD")

    def _json(
        self,
        status: int,
        value: Mapping[str, Any],
        extra: Iterable[tuple[str, str]] = (),
        head: bool = False,
    ) -> Response:
        body = json.dumps(value, separators=(",", ":")).encode()
        return Response(
            status,
            (
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Content-Length", str(len(body))),
                *extra,
            ),
            b"" if head else body,
        )

    def is_embeddable(self, path: str) -> bool:
        """Whether the page at ``path`` (decoded) may be framed by the
        allowed origins' pages."""
        return any(
            path.startswith(prefix) or path == prefix.rstrip("/")
            for prefix in self.embeddable
        )

    def answers_later(self, target: str) -> bool:
        """Whether a request for ``target`` is answered by
        :meth:`respond_later` rather than :meth:`respond`: those that wait
        for work elsewhere (a drawing, the chat service)."""
        path = urlsplit(target).path
        return (path == "/captcha" and self.captcha is not None) or (
            path == "/widget/status" and self.widget_status is not None
        )

    async def respond_later(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        address: str | None = None,
    ) -> Response:
        """Answer a request :meth:`answers_later` took."""
        if urlsplit(target).path == "/widget/status":
            return await self._widget_status(method, target, headers, address)
        return await self._captcha(method, address)

    async def _captcha(self, method: str, address: str | None) -> Response:
        """A new challenge for ``address``, or 503 when too many requests
        wait for one."""
        captchas = self.captcha
        if captchas is None:
            return self._error(404, "not found")
        if method != "GET":
            return self._error(405, "method not allowed", [("Allow", "GET")])
        if self._waiting >= CAPTCHA_WAITING:
            return self._error(503, "busy, try again", [("Retry-After", "1")])
        self._waiting += 1
        try:
            async with self._drawing:
                challenge = captchas.issue(address)
                image = await asyncio.to_thread(render_png, challenge.text)
        finally:
            self._waiting -= 1
        body = json.dumps(
            {
                "id": challenge.id,
                "image": "data:image/png;base64," + base64.b64encode(image).decode(),
            }
        ).encode()
        headers = (
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
        )
        return Response(200, headers, body)

    def _may_read_metrics(self, address: str | None) -> bool:
        if address is None:
            return False
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.metrics_networks)

    def _find(self, path: str) -> Path | None:
        for prefix, folder in self.mounts:
            if not path.startswith(prefix):
                continue
            rest = PurePosixPath(path[len(prefix) :].lstrip("/"))
            if any(part in ("..", "") or part.startswith(".") for part in rest.parts):
                return None
            candidate = folder.joinpath(*rest.parts)
            if candidate.is_dir():
                candidate = candidate / "index.html"
            try:
                resolved = candidate.resolve(strict=True)
            except OSError:
                continue
            if resolved.is_relative_to(folder.resolve()) and resolved.is_file():
                return resolved
        return None

    def _load(self, path: Path) -> _File | None:
        try:
            status = path.stat()
        except OSError:
            return None
        if status.st_size > MAX_FILE_SIZE:
            return None
        stamp = (status.st_mtime_ns, status.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        content_type = _TYPES.get(path.suffix) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        scripts = _import_map_hashes(body) if path.suffix == ".html" else ()
        file = _File(stamp, body, etag, content_type, scripts)
        self._cache[path] = file
        return file

    def _error(
        self, status: int, text: str, extra: Iterable[tuple[str, str]] = ()
    ) -> Response:
        body = f"{status} {text}\n".encode()
        return Response(
            status,
            (("Content-Type", "text/plain; charset=utf-8"), *extra),
            body,
        )


class _Stop(Exception):
    """The connection is closing: stop reading requests."""


class HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 connection, which may become a WebSocket.

    Args:
        hub: The hub whose sessions WebSocket connections feed.
        site: What plain requests are answered with.
    """

    def __init__(
        self,
        hub: Hub,
        site: Site,
        trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = (),
    ) -> None:
        self._hub = hub
        self._site = site
        self._trusted = trusted_proxies
        self._client: str | None = None
        self._transport: asyncio.Transport | None = None
        self._http = h11.Connection(
            h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD
        )
        self._ws: ServerProtocol | None = None
        self._binary = False  # a binary message is being received
        self._session: ServerSession | None = None
        self._message = bytearray()
        self._ws_close_code = WS_NORMAL
        self._max_message = hub.config.max_frame_size + 4
        self._head = False
        # a request answered later; no other is read until it is answered
        self._later: asyncio.Task[Response] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses
        self._transport = cast(asyncio.Transport, transport)
        transport = self._transport

    def data_received(self, data: bytes) -> None:
        if self._ws is not None:
            self._websocket_data(data)
        else:
            self._http_data(data)

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        session, self._session = self._session, None
        if session is not None:
            self._hub.connection_lost(session)

    # -- HTTP

    def _http_data(self, data: bytes) -> None:
        self._http.receive_data(data)
        try:
            self._http_events()
        except _Stop:
            return

    def _http_events(self) -> None:
        while self._transport is not None and self._ws is None and self._later is None:
            try:
                event = self._http.next_event()
            except h11.RemoteProtocolError:
                self._send_response(Response(400, body=b"400 bad request\n"))
                self._close()
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:
                # the request and its answer are complete: keep alive
                self._next_cycle()
                continue
            if isinstance(event, h11.Request):
                self._request(event)
            elif isinstance(event, h11.ConnectionClosed):
                self._close()
                return

    def _request(self, request: h11.Request) -> None:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in request.headers
        }
        target = request.target.decode("latin-1")
        method = request.method.decode("latin-1")
        self._head = method == "HEAD"
        if headers.get("upgrade", "").lower() == "websocket":
            self._upgrade(request, target, headers)
            return
        self._client = self._client_address(headers)
        if self._site.answers_later(target):
            self._answer_later(
                self._site.respond_later(method, target, headers, self._client)
            )
            return
        response = self._site.respond(method, target, headers, self._client)
        self._send_response(response)
        if self._http.our_state is h11.MUST_CLOSE:
            self._close()

    def _answer_later(self, work: Coroutine[object, object, Response]) -> None:
        if self._transport is not None:
            self._transport.pause_reading()
        self._later = asyncio.ensure_future(work)
        self._later.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[Response]) -> None:
        self._later = None
        if self._transport is None:
            return
        if task.cancelled():
            self._close()
            return
        error = task.exception()
        if error is not None:
            logger.error("answering a request failed", exc_info=error)
            response = Response(500, body=b"500 internal error\n")
        else:
            response = task.result()
        self._send_response(response)
        if self._transport is None:
            return
        if self._http.our_state is h11.MUST_CLOSE:
            self._close()
            return
        self._transport.resume_reading()
        try:
            self._http_events()
        except _Stop:
            return

    def _send_response(self, response: Response) -> None:
        headers = [*response.headers, *self._site.security_headers(response)]
        if not any(name == "Content-Length" for name, _ in headers) and (
            response.status >= 200 and response.status not in (204, 304)
        ):
            headers.append(("Content-Length", str(len(response.body))))
        try:
            out = self._http.send(
                h11.Response(status_code=response.status, headers=headers)
            )
            # a HEAD answer says how long the body is but carries none
            if response.body and not self._head:
                out = (out or b"") + (
                    self._http.send(h11.Data(data=response.body)) or b""
                )
            out = (out or b"") + (self._http.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            self._close()
            return
        self._write(out)

    def _next_cycle(self) -> None:
        try:
            self._http.start_next_cycle()
        except h11.LocalProtocolError:
            self._close()
            raise _Stop from None

    # -- WebSocket

    def _upgrade(
        self, request: h11.Request, target: str, headers: dict[str, str]
    ) -> None:
        self._client = self._client_address(headers)
        path = urlsplit(target).path
        if path != "/ws" or request.method != b"GET":
            self._send_response(self._site._error(404, "not found"))
            self._close()
            return
        if not self._site.origin_allowed(headers.get("origin"), headers.get("host")):
            self._send_response(self._site._error(403, "origin not allowed"))
            self._close()
            return
        ws = ServerProtocol(max_size=self._max_message)
        handshake = WebSocketRequest(
            target,
            Headers(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in request.headers
            ),
        )
        response = ws.accept(handshake)
        ws.send_response(response)
        if response.status_code == 101:
            # h11 read the request: the protocol's parser, which waits for
            # one, starts again where an open connection's frames begin
            ws.parser = ws.parse()
            next(ws.parser)
        trailing, _ = self._http.trailing_data
        self._ws = ws
        self._flush_websocket()
        if response.status_code != 101:
            self._close()
            return
        self._session = self._hub.connection_made(self, self._client, "websocket")
        if trailing:
            self._websocket_data(bytes(trailing))

    def _websocket_data(self, data: bytes) -> None:
        ws = self._ws
        assert ws is not None
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Frame) and not self._websocket_frame(event):
                return
        if isinstance(ws.parser_exc, PayloadTooBig):
            # the protocol closes with its own code (1009); the session ends
            session, self._session = self._session, None
            self._flush_websocket()
            if session is not None:
                self._hub.refuse(session, CloseCode.FRAME_TOO_LARGE, "too large")
            return
        self._flush_websocket()

    def _websocket_frame(self, frame: Frame) -> bool:
        """Take one frame; False once the connection is closing."""
        opcode = frame.opcode
        if opcode is Opcode.BINARY or (opcode is Opcode.CONT and self._binary):
            self._binary = not frame.fin
            self._message += frame.data
            if frame.fin:
                message = bytes(self._message)
                self._message.clear()
                if self._session is not None:
                    self._session = self._hub.message_received(self._session, message)
        elif opcode is Opcode.TEXT:
            self._ws_close(WS_POLICY, CloseCode.PROTOCOL_ERROR)
            return False
        # pings are answered, and closes acknowledged, by the protocol itself
        return True

    def _flush_websocket(self) -> None:
        """Write what the WebSocket protocol has to send; close the
        connection once it says so."""
        ws = self._ws
        if ws is None:
            return
        for data in ws.data_to_send():
            if data:
                self._write(data)
            else:  # the protocol is done with the connection
                self._close()
                return
        if ws.state is State.CLOSED:
            self._close()

    def _ws_close(self, ws_code: int, code: CloseCode) -> None:
        # the session says why in its CLOSE frame, then the WebSocket closes
        # with its own code for the same reason
        self._ws_close_code = ws_code
        session = self._session
        if session is not None:
            self._hub.refuse(session, code, "message refused")
        self.close()

    # -- the Link interface the hub writes through

    def write(self, data: bytes) -> None:
        """Send frames, one WebSocket message each."""
        ws = self._ws
        if ws is None or self._transport is None or ws.state is not State.OPEN:
            return
        for frame in split_frames(data):
            ws.send_binary(frame)
        self._write(b"".join(ws.data_to_send()))

    def close(self) -> None:
        """Close the WebSocket, then the connection."""
        self._session = None
        ws = self._ws
        if ws is not None and self._transport is not None and ws.state is State.OPEN:
            ws.send_close(self._ws_close_code)
            self._write(b"".join(ws.data_to_send()))
        self._close()

    def _address(self) -> str | None:
        if self._transport is None:
            return None
        peer = self._transport.get_extra_info("peername")
        return str(peer[0]) if peer else None

    def _client_address(self, headers: dict[str, str]) -> str | None:
        """The client's address: the peer's, unless the peer is a trusted
        proxy, whose X-Forwarded-For then names it (the last address in it
        that is not a trusted proxy too)."""
        address = self._address()
        forwarded = headers.get("x-forwarded-for")
        if not self._trusted or forwarded is None:
            return address
        hops = [address or "", *reversed(forwarded.split(","))]
        for hop in (text.strip() for text in hops):
            try:
                ip = ip_address(hop)
            except ValueError:
                return address  # a malformed header proves nothing
            if not any(ip in network for network in self._trusted):
                return hop
        return address

    def _write(self, data: bytes) -> None:
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        session, self._session = self._session, None
        if session is not None:
            self._hub.connection_lost(session)
