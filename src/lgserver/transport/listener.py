"""The TLS port: one listener, two protocols chosen by ALPN
(``docs/protocol.md`` section 2.6): ``lg/1`` for raw frames, ``http/1.1``
(or none) for browsers."""

from __future__ import annotations

import asyncio
import ssl
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from ..server.hub import Hub
from .http import HttpConnection, Site
from .stream import StreamConnection

__all__ = ["ALPN_PROTOCOLS", "TlsConnection", "serve_plain", "serve_tls"]

ALPN_PROTOCOLS = ["lg/1", "http/1.1"]


class TlsConnection(asyncio.Protocol):
    """Picks the protocol of a connection once its TLS handshake is done,
    and hands everything to it."""

    def __init__(self, hub: Hub, site: Site) -> None:
        self._hub = hub
        self._site = site
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object else None
        if alpn == "lg/1":
            self._inner = StreamConnection(self._hub)
        else:
            self._inner = HttpConnection(self._hub, self._site)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)


async def serve_tls(
    hub: Hub,
    site: Site,
    context: ssl.SSLContext,
    host: str,
    port: int,
    **options: Any,
) -> asyncio.Server:
    """Listen for TLS connections on ``host``:``port``.

    Args:
        hub: The hub that owns the sessions.
        site: What HTTP requests are answered with.
        context: A server context; its ALPN protocols are set here.
        host: The address to bind.
        port: The port, or 0 for any free one.
        options: Passed on to ``loop.create_server``.
    """
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: TlsConnection(hub, site),
        host,
        port,
        ssl=context,
        ssl_handshake_timeout=hub.config.handshake_timeout,
        **options,
    )


async def serve_plain(
    hub: Hub,
    site: Site,
    host: str,
    port: int,
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = (),
    **options: Any,
) -> asyncio.Server:
    """Listen for plain HTTP/1.1 behind a proxy that terminates TLS.

    Args:
        hub: The hub that owns the sessions.
        site: What HTTP requests are answered with.
        host: The address to bind; keep it private to the proxy.
        port: The port, or 0 for any free one.
        trusted_proxies: The proxies whose X-Forwarded-For names the client.
        options: Passed on to ``loop.create_server``.
    """
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpConnection(hub, site, trusted_proxies), host, port, **options
    )
