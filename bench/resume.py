"""How long a resume takes: from the moment a client starts to reconnect
to the moment the first message the server kept for it arrives.

Run as ``python -m bench.resume [--samples N] [--quick] [--json]``.

Each sample: the client (``lgserver.client.Client``, which resumes by
itself) calls a method that answers 20 ms later and cuts its connection
5 ms after the call, so that the server, holding the call, answers into
the grace window and keeps the answer for replay. The client waits 50 ms
before it reconnects, so that the answer is waiting, then measures from
the start of its reconnection (TCP and TLS handshakes, RESUME, WELCOME)
to the arrival of the answer. The server runs in a process of its own on
uvloop.

With ``--json`` the last line is one JSON object: ``samples``, and
``p50_ms``, ``p90_ms``, ``p99_ms``, ``max_ms`` of the resume time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvloop

from lgserver.client import Client
from lgserver.protocol.codec import Registry

from ._server import ServerProcess, client_context, write_certificate


class _TimedClient(Client):
    """A client that notes when it starts each reconnection."""

    reconnect_started = 0.0

    async def _open_connection(self) -> None:
        if self.session.welcome is not None:
            await asyncio.sleep(0.05)  # the server's answer is kept by now
            self.reconnect_started = time.perf_counter()
        await super()._open_connection()


async def _samples(port: int, cert_file: Path, count: int) -> list[float]:
    client = _TimedClient(
        "127.0.0.1",
        port,
        registry=Registry(),
        build="bench",
        auth={"visitor": "resume-visitor-0000001"},
        ssl_context=client_context(cert_file),
        server_hostname="localhost",
    )
    await client.connect()
    durations = []
    for _ in range(count):
        answer = asyncio.ensure_future(client.call("later", 0.02))
        await asyncio.sleep(0.005)
        client.drop_connection()
        await answer
        durations.append(time.perf_counter() - client.reconnect_started)
    await client.close()
    return durations


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print a report, and JSON with ``--json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.resume")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="50 samples")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    count = 50 if args.quick else args.samples

    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = write_certificate(Path(folder))
        server = ServerProcess("lgserver", cert_file, key_file)
        try:
            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
            with runner:
                durations = runner.run(_samples(server.port, cert_file, count))
        finally:
            server.close()

    result: dict[str, Any] = {
        "samples": len(durations),
        "p50_ms": round(statistics.median(durations) * 1000, 3),
        "p90_ms": round(percentile(durations, 0.90) * 1000, 3),
        "p99_ms": round(percentile(durations, 0.99) * 1000, 3),
        "max_ms": round(max(durations) * 1000, 3),
        "load": list(os.getloadavg()[:1]),
    }
    print(f"Resume, {result['samples']} samples: reconnect to first replayed message")
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        print(f"  {key[:-3]:>4}  {result[key]:8.2f} ms")
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
