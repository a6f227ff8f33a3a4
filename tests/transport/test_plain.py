"""The plain listener behind a TLS-terminating proxy: the client's address
comes from X-Forwarded-For only when a trusted proxy sends it."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from ipaddress import ip_network

import pytest

from lgserver.protocol.codec import Registry
from lgserver.protocol.messages import Hello
from lgserver.server.hub import Hub, HubLimits, Principal
from lgserver.transport.http import Site
from lgserver.transport.listener import serve_plain

registry = Registry()


async def anyone(hello: Hello, address: str | None) -> Principal | tuple[int, str]:
    return Principal("customer", "visitor")


@pytest.fixture
async def plain() -> AsyncIterator[tuple[Hub, Site, int]]:
    hub = Hub(registry, anyone, limits=HubLimits(max_connections_per_address=1))
    site = Site(metrics=hub.metrics.render)
    listener = await serve_plain(
        hub, site, "127.0.0.1", 0, (ip_network("127.0.0.0/8"),)
    )
    try:
        yield hub, site, listener.sockets[0].getsockname()[1]
    finally:
        hub.close_all()
        listener.close()
        await listener.wait_closed()


async def upgrade(port: int, forwarded: str | None) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /ws HTTP/1.1",
        "Host: chat.example",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if forwarded:
        lines.append(f"X-Forwarded-For: {forwarded}")
    writer.write(("\r\n".join([*lines, "", ""])).encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 ")
    return writer


async def test_the_proxy_names_the_client(plain: tuple[Hub, Site, int]) -> None:
    hub, _, port = plain
    first = await upgrade(port, "203.0.113.7")
    second = await upgrade(port, "198.51.100.1, 203.0.113.9")
    await asyncio.sleep(0.05)
    assert hub.connections == 2  # two clients, not one proxy address
    assert sorted(hub._per_address) == ["203.0.113.7", "203.0.113.9"]

    # a third connection of a client already connected is over its limit
    third = await upgrade(port, "203.0.113.7")
    await asyncio.sleep(0.05)
    assert hub.connections == 2
    for writer in (first, second, third):
        writer.close()


async def test_without_the_header_the_peer_is_the_client(
    plain: tuple[Hub, Site, int],
) -> None:
    hub, _, port = plain
    writer = await upgrade(port, None)
    await asyncio.sleep(0.05)
    assert hub._per_address == {"127.0.0.1": 1}
    # a header that names no address proves nothing: the proxy's own
    # address counts, and it has used its one connection
    malformed = await upgrade(port, "not an address")
    await asyncio.sleep(0.05)
    assert hub._per_address == {"127.0.0.1": 1}
    assert hub.connections == 1
    for open_writer in (writer, malformed):
        open_writer.close()
