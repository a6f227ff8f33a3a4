"""WebSocket benchmark: wsproto beside websockets' sans-I/O protocol.

Run it from the repository root::

    PYTHONPATH=src python -m bench.websocket [--quick] [--json] [--rounds N]

lgserver's WebSocket endpoint needs a sans-I/O WebSocket protocol for
the server's side. Two well-kept ones exist: ``wsproto`` and the protocol
objects of ``websockets`` (``websockets.server.ServerProtocol``). This
measures what the server does with each, for every message a browser
sends and every message the server sends back:

* ``receive``: parse a batch of masked client frames (binary messages of
  the given size, as a browser sends them) fed as one chunk, and take the
  messages out;
* ``send``: frame one binary message for the client (unmasked).

Both protocols are first brought to the open state by a real handshake
(the client side of the same library makes the request). Message sizes:
56 bytes (a chat call) and 4 KiB (a media packet). One op is one message;
each figure is the median of several rounds (5 by default), the two
libraries taking turns on each measurement within a round. ``--quick``
takes 2 short rounds. With ``--json`` the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import wsproto.events as wsevents
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol
from websockets.uri import parse_uri
from wsproto import ConnectionType, WSConnection

SIZES = (56, 4096)
BATCH = 32  # messages a read brings, as under load


def _wsproto_pair() -> tuple[WSConnection, WSConnection]:
    server = WSConnection(ConnectionType.SERVER)
    client = WSConnection(ConnectionType.CLIENT)
    server.receive_data(client.send(wsevents.Request(host="localhost", target="/ws")))
    for event in server.events():
        if isinstance(event, wsevents.Request):
            client.receive_data(server.send(wsevents.AcceptConnection()))
    list(client.events())
    return server, client


def _websockets_pair() -> tuple[ServerProtocol, ClientProtocol]:
    server = ServerProtocol()
    client = ClientProtocol(parse_uri("wss://localhost/ws"))
    request = client.connect()
    client.send_request(request)
    server.receive_data(b"".join(client.data_to_send()))
    (handshake,) = server.events_received()
    server.send_response(server.accept(handshake))  # type: ignore[arg-type]
    client.receive_data(b"".join(server.data_to_send()))
    client.events_received()
    return server, client


def _wsproto_ops(size: int) -> dict[str, Callable[[], int]]:
    server, client = _wsproto_pair()
    body = bytes(size)
    chunk = b"".join(
        client.send(wsevents.BytesMessage(data=body)) for _ in range(BATCH)
    )

    def receive() -> int:
        server.receive_data(chunk)
        count = 0
        for event in server.events():
            if isinstance(event, wsevents.BytesMessage):
                count += 1
        assert count == BATCH
        return BATCH

    def send() -> int:
        server.send(wsevents.BytesMessage(data=body))
        return 1

    return {"receive": receive, "send": send}


def _websockets_ops(size: int) -> dict[str, Callable[[], int]]:
    server, client = _websockets_pair()
    body = bytes(size)
    for _ in range(BATCH):
        client.send_binary(body)
    chunk = b"".join(client.data_to_send())

    def receive() -> int:
        server.receive_data(chunk)
        count = 0
        for event in server.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                count += 1
        assert count == BATCH
        return BATCH

    def send() -> int:
        server.send_binary(body)
        server.data_to_send()
        return 1

    return {"receive": receive, "send": send}


LIBRARIES: dict[str, Callable[[int], dict[str, Callable[[], int]]]] = {
    "wsproto": _wsproto_ops,
    "websockets": _websockets_ops,
}


def _rate(op: Callable[[], int], seconds: float) -> float:
    """Messages a second, over a loop that lasts about ``seconds``."""
    loops = 1
    while True:
        began = time.perf_counter()
        done = sum(op() for _ in range(loops))
        took = time.perf_counter() - began
        if took >= seconds:
            return done / took
        loops *= 2


def measure(rounds: int, seconds: float) -> dict[str, Any]:
    """Median messages a second, per library, direction and size."""
    samples: dict[tuple[str, str, int], list[float]] = {}
    ops = {
        (name, size): make(size) for name, make in LIBRARIES.items() for size in SIZES
    }
    for _ in range(rounds):
        for size in SIZES:
            for direction in ("receive", "send"):
                for name in LIBRARIES:
                    rate = _rate(ops[name, size][direction], seconds)
                    samples.setdefault((name, direction, size), []).append(rate)
    rates = {
        name: {
            f"{direction} {size}": round(
                statistics.median(samples[name, direction, size])
            )
            for size in SIZES
            for direction in ("receive", "send")
        }
        for name in LIBRARIES
    }
    ratios = {
        key: round(rates["wsproto"][key] / rates["websockets"][key], 2)
        for key in rates["wsproto"]
    }
    return {"messages_per_s": rates, "wsproto_over_websockets": ratios}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.websocket")
    parser.add_argument("--quick", action="store_true", help="2 short rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="end with JSON")
    args = parser.parse_args(argv)
    rounds, seconds = (2, 0.01) if args.quick else (args.rounds, 0.2)
    load = os.getloadavg()[0]
    result = measure(rounds, seconds)
    result.update(
        rounds=rounds,
        load=round(load, 2),
        versions={"wsproto": version("wsproto"), "websockets": version("websockets")},
    )
    print(
        f"Python {platform.python_version()}, wsproto {version('wsproto')}, "
        f"websockets {version('websockets')}; load {load:.2f}; "
        f"medians of {rounds} rounds"
    )
    print(f"{'messages/s':<16}{'wsproto':>12}{'websockets':>12}{'ratio':>8}")
    for key, ratio in result["wsproto_over_websockets"].items():
        ours = result["messages_per_s"]["wsproto"][key]
        theirs = result["messages_per_s"]["websockets"][key]
        print(f"{key:<16}{ours:>12,}{theirs:>12,}{ratio:>8.2f}")
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
