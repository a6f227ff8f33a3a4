"""Call round trips benchmark: calls per second through the hub.

Run it from the repository root::

    PYTHONPATH=src python -m bench.calls [--seconds S] [--quick] [--json]

Two servers are measured in the same run, each in a process of its own
(:mod:`bench._server`), both on uvloop behind the same TLS context:

* ``lgserver``: the hub behind the TLS listener. The client opens a
  session over ALPN ``lg/1`` and calls the method ``echo``, which returns
  its params (:data:`PARAMS`, a small map). One round trip is a Call and
  its Result, with the acknowledgements the sessions exchange.
* ``echo``: a bare TLS server that sends back each frame it reads (a
  4-byte length and a body). The client sends frames as long as the
  lgserver Call frame, and waits for them to come back.

Each client (:class:`~lgserver.protocol.session.ClientSession` for
lgserver, a frame counter for the bare echo) runs in this process on
uvloop, over one connection per server. It keeps a fixed number of round
trips in flight: 1 (strictly one after the other) or 32. Whenever answers
arrive it sends as many new requests, in one write. A measurement lasts
``--seconds`` (2 by default) and counts the answers; the rate is answers
over the time from the first request to the last answer. Each figure is
the median of ``--rounds`` rounds (5 by default); within a round the two
servers take turns at each depth. A short warm-up precedes the rounds.
``--quick`` takes 2 rounds of 0.3 s.

The target (``docs/performance.md``): lgserver at least 50% of the bare
echo's rate, at each depth. With ``--json`` the last line is one JSON
object: ``calls_per_s`` (per server, per depth), ``ratios`` (lgserver
over echo, per depth), ``frame_bytes``, ``seconds``, ``rounds``,
``targets`` and ``load``. The exit status is 0 whatever the targets say.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvloop

from lgserver.protocol.codec import Registry
from lgserver.protocol.events import MessageReceived, SessionEnded, SessionEstablished
from lgserver.protocol.frames import encode_message
from lgserver.protocol.messages import Call, Result
from lgserver.protocol.session import ClientSession, SessionConfig

from ._server import ServerProcess, client_context, write_certificate

PARAMS = {"room": "lobby", "text": "ok, thanks"}
DEPTHS = (1, 32)
SERVERS = {"lgserver": "lgserver", "echo": "echo"}
TARGET_RATIO = 0.5
WARM_UP = 0.3
# No run may take longer than this, in seconds.
DEADLINE = 900.0


class _Pump(asyncio.Protocol):
    """A client that keeps ``depth`` round trips in flight until told to
    stop; subclasses say how to send a request and count the answers."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self._done: asyncio.Future[None] | None = None
        self._in_flight = 0
        self._answers = 0
        self._until = 0.0

    async def run(self, depth: int, seconds: float) -> float:
        """Round trips per second over ``seconds``, ``depth`` at a time."""
        self._done = asyncio.get_running_loop().create_future()
        self._answers = 0
        began = time.perf_counter()
        self._until = began + seconds
        self._in_flight = depth
        for _ in range(depth):
            self._request()
        self._write()
        await self._done
        return self._answers / (time.perf_counter() - began)

    def _answered(self, count: int) -> None:
        if not count:
            return
        self._answers += count
        self._in_flight -= count
        if time.perf_counter() < self._until:
            self._in_flight += count
            for _ in range(count):
                self._request()
            self._write()
        elif not self._in_flight and self._done is not None:
            self._done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        failure = ConnectionError("connection lost")
        for future in (self.ready, self._done):
            if future is not None and not future.done():
                future.set_exception(failure)

    def eof_received(self) -> bool | None:
        return False

    def _request(self) -> None:
        raise NotImplementedError

    def _write(self) -> None:
        raise NotImplementedError


class _Caller(_Pump):
    """Calls ``echo`` through an lgserver session."""

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        # acknowledgements ride along with the next call, as in lgserver.client
        self._session = ClientSession(
            registry,
            build="bench",
            auth={"visitor": "calls-visitor-00000001"},
            config=SessionConfig(ack_delay=0.02),
        )
        self._ids = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._session.connection_made(time.monotonic())
        self._write()

    def data_received(self, data: bytes) -> None:
        session = self._session
        session.receive_data(data, time.monotonic())
        answers = 0
        while (event := session.next_event()) is not None:
            if isinstance(event, MessageReceived):
                if isinstance(event.value, Result):
                    answers += 1
                else:
                    raise RuntimeError(f"unexpected answer {event.value!r}")
            elif isinstance(event, SessionEstablished):
                self.ready.set_result(None)
            elif isinstance(event, SessionEnded):
                self.connection_lost(None)
        self._write()
        self._answered(answers)

    def _request(self) -> None:
        self._ids += 1
        self._session.send(Call(self._ids, "echo", PARAMS))

    def _write(self) -> None:
        data = self._session.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


class _Echoer(_Pump):
    """Sends frames of ``size`` bytes to the bare echo server."""

    def __init__(self, size: int) -> None:
        super().__init__()
        body = bytes(size - 4)
        self._frame = len(body).to_bytes(4) + body
        self._pending: list[bytes] = []
        self._received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        # every frame has the same size: count whole ones
        self._received += len(data)
        answers, self._received = divmod(self._received, len(self._frame))
        self._answered(answers)

    def _request(self) -> None:
        self._pending.append(self._frame)

    def _write(self) -> None:
        if self._pending and self.transport is not None:
            self.transport.write(b"".join(self._pending))
            self._pending.clear()


def call_frame_size(registry: Registry) -> int:
    """The size of the MESSAGE frame of a typical ``echo`` call."""
    return len(
        encode_message(1000, registry.encoder.encode(Call(1000, "echo", PARAMS)))
    )


async def _connect(
    pump: _Pump, port: int, context: ssl.SSLContext
) -> asyncio.Transport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(
        lambda: pump, "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    await pump.ready
    return transport


async def _measure(seconds: float, rounds: int) -> dict[str, Any]:
    registry = Registry()
    size = call_frame_size(registry)
    rates: dict[tuple[str, int], list[float]] = {
        (name, depth): [] for name in SERVERS for depth in DEPTHS
    }
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = write_certificate(Path(directory))
        context = client_context(cert_file)
        servers = [
            ServerProcess(kind, cert_file, key_file) for kind in SERVERS.values()
        ]
        transports: list[asyncio.Transport] = []
        try:
            pumps: dict[str, _Pump] = {
                "lgserver": _Caller(registry),
                "echo": _Echoer(size),
            }
            for server, pump in zip(servers, pumps.values(), strict=True):
                transports.append(await _connect(pump, server.port, context))
            async with asyncio.timeout(DEADLINE):
                for depth in DEPTHS:
                    for pump in pumps.values():
                        await pump.run(depth, WARM_UP)
                for _ in range(rounds):
                    for depth in DEPTHS:
                        for name, pump in pumps.items():
                            rate = await pump.run(depth, seconds)
                            rates[name, depth].append(rate)
        finally:
            for transport in transports:
                transport.abort()
            await asyncio.sleep(0.1)
            for server in servers:
                server.close()
    return {"rates": rates, "frame_bytes": size}


def figures(
    measured: dict[str, Any], seconds: float, rounds: int, load: list[float]
) -> dict[str, Any]:
    """The figures of the ``--json`` line."""
    rates = measured["rates"]
    per_s = {
        name: {
            str(depth): round(statistics.median(rates[name, depth])) for depth in DEPTHS
        }
        for name in SERVERS
    }
    ratios = {
        str(depth): round(
            statistics.median(rates["lgserver", depth])
            / statistics.median(rates["echo", depth]),
            3,
        )
        for depth in DEPTHS
    }
    return {
        "calls_per_s": per_s,
        "ratios": ratios,
        "frame_bytes": measured["frame_bytes"],
        "seconds": seconds,
        "rounds": rounds,
        "targets": {
            f"depth {depth}: lgserver >= 50% of echo": ratios[str(depth)]
            >= TARGET_RATIO
            for depth in DEPTHS
        },
        "load": load,
    }


def report(result: dict[str, Any]) -> list[str]:
    """The lines of the human-readable report."""
    per_s, ratios = result["calls_per_s"], result["ratios"]
    lines = [
        f"Python {platform.python_version()}, uvloop {version('uvloop')}, "
        f"{os.cpu_count()} CPUs",
        "Load average over 1 min, at the start and the end: "
        f"{result['load'][0]:.2f}, {result['load'][1]:.2f}",
        f"Round trips per second, one connection each, frames of "
        f"{result['frame_bytes']} bytes; medians of {result['rounds']} rounds "
        f"of {result['seconds']:g} s",
        "",
        "depth  lgserver/s     echo/s  lgserver/echo",
    ]
    for depth in DEPTHS:
        key = str(depth)
        lines.append(
            f"{depth:>5}  {per_s['lgserver'][key]:>10,}  {per_s['echo'][key]:>9,}"
            f"  {ratios[key]:>13.2f}"
        )
    lines += ["", "Targets"]
    for name, passed in result["targets"].items():
        depth = name.split(":")[0].split()[1]
        lines.append(f"  {'PASS' if passed else 'FAIL'}  {name}: {ratios[depth]:.2f}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the benchmark and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.calls", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--seconds", type=float, help="length of a measurement")
    parser.add_argument("--rounds", type=int, help="rounds to take the median of")
    parser.add_argument(
        "--quick", action="store_true", help="2 rounds of 0.3 s, a smoke run"
    )
    parser.add_argument(
        "--json", action="store_true", help="end with one line of JSON figures"
    )
    args = parser.parse_args(argv)
    seconds = args.seconds or (0.3 if args.quick else 2.0)
    rounds = args.rounds or (2 if args.quick else 5)
    if not 0 < seconds <= 60 or rounds < 1:
        parser.error("--seconds must be in (0, 60] and --rounds at least 1")
    began = time.perf_counter()
    load = os.getloadavg()[0]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        measured = runner.run(_measure(seconds, rounds))
    result = figures(measured, seconds, rounds, [load, os.getloadavg()[0]])
    lines = report(result)
    lines += ["", f"Took {time.perf_counter() - began:.1f} s"]
    print("\n".join(lines))
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
