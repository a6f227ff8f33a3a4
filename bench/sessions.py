"""Idle sessions benchmark: the server memory one open session costs.

Run it from the repository root::

    PYTHONPATH=src python -m bench.sessions [--sessions N] [--quick] [--json]

Two servers are measured in the same run, each in a process of its own
so that its resident set holds nothing else (:mod:`bench._server`):

* ``lgserver``: the hub behind the TLS listener, on uvloop. Every
  connection negotiates ALPN ``lg/1`` and opens a session: HELLO with
  ``{"visitor": ...}``, then WELCOME.
* ``baseline``: a bare uvloop TLS server with the same certificate and
  context, whose connections stay open and discard what they read. Its
  figure is what the event loop, the socket and TLS cost by themselves.

For each, the benchmark (one process, uvloop, at most
:data:`CONCURRENCY` handshakes at a time) first opens a few warm-up
connections, reads the server's resident set, opens N more (10,000 by
default, 500 with ``--quick``), lets it settle for a second, and reads it
again. The cost of a session is the growth divided by N; the session's
own cost is lgserver's figure less the baseline's. The clients answer
the server's heartbeats, so the sessions stay open however long the run
takes. Each figure is the median of ``--rounds`` rounds (1 by default),
the two servers taking turns within a round.

A third server, lgserver with an hour's grace window, measures what a
session costs once its connection is gone and it waits in its grace
window for a resume: its sessions are opened :data:`CONCURRENCY` at a
time and each batch's connections are cut (no GOODBYE) before the next
is opened, so the growth is the N sessions in their grace window and not
their connections. The warm-up there is one batch, opened and cut the
same way.

The target (``docs/performance.md``): lgserver's server at most 40 KiB a
session. With ``--json`` the last line is one JSON object: ``sessions``,
``rounds``, ``lgserver_kib`` and ``baseline_kib`` (per session),
``session_kib`` (the difference), ``grace_kib`` (per session in its grace
window), ``rss`` (per server, the resident sets
before and after of every round, in bytes), ``open_s`` (seconds to open
the N connections, per server), ``targets`` and ``load``. The exit status
is 0 whatever the target says.
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
from lgserver.protocol.events import SessionEnded, SessionEstablished
from lgserver.protocol.session import ClientSession

from ._server import ServerProcess, client_context, raise_file_limit, write_certificate

DEFAULT_SESSIONS = 10_000
QUICK_SESSIONS = 500
WARM_UP = 50
CONCURRENCY = 100
SETTLE = 1.0
TARGET_KIB = 40.0
# No run may take longer than this, in seconds.
DEADLINE = 900.0
SERVERS = {"lgserver": "lgserver", "baseline": "idle"}
GRACE = "grace"
MEASURED = (*SERVERS, GRACE)


class _Visitor(asyncio.Protocol):
    """One connection; for lgserver, one session over it."""

    def __init__(self, registry: Registry | None, name: str) -> None:
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._session = None
        if registry is not None:
            auth = {"visitor": name}
            self._session = ClientSession(registry, build="bench", auth=auth)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._session is None:
            self.ready.set_result(None)
            return
        self._session.connection_made(time.monotonic())
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self._session is not None:
            self._session.receive_data(data, time.monotonic())
            self._flush()

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("connection lost"))

    def _flush(self) -> None:
        # answer what the server sent (heartbeats among it), then look
        # for the end of the handshake
        session = self._session
        assert session is not None and self.transport is not None
        data = session.data_to_send()
        if data:
            self.transport.write(data)
        while (event := session.next_event()) is not None:
            if self.ready.done():
                continue
            if isinstance(event, SessionEstablished):
                self.ready.set_result(None)
            elif isinstance(event, SessionEnded):
                error = ConnectionError(f"refused: {event.code} {event.reason}")
                self.ready.set_exception(error)


async def _open(
    port: int,
    context: ssl.SSLContext,
    registry: Registry | None,
    count: int,
    first: int,
) -> list[_Visitor]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> _Visitor:
        async with gate:
            _, visitor = await loop.create_connection(
                lambda: _Visitor(registry, f"visitor-{index:014}"),
                "127.0.0.1",
                port,
                ssl=context,
                server_hostname="localhost",
            )
            await visitor.ready
            return visitor

    return list(await asyncio.gather(*(one(first + i) for i in range(count))))


async def _measure_one(
    name: str, cert_file: Path, key_file: Path, sessions: int
) -> dict[str, float]:
    kind = SERVERS[name]
    registry = Registry() if kind == "lgserver" else None
    context = client_context(cert_file)
    server = ServerProcess(kind, cert_file, key_file, sessions + WARM_UP + 100)
    visitors: list[_Visitor] = []
    try:
        visitors += await _open(server.port, context, registry, WARM_UP, 0)
        await asyncio.sleep(SETTLE)
        before = server.rss()
        began = time.perf_counter()
        visitors += await _open(server.port, context, registry, sessions, WARM_UP)
        opened = time.perf_counter() - began
        await asyncio.sleep(SETTLE)
        after = server.rss()
    finally:
        for visitor in visitors:
            if visitor.transport is not None:
                visitor.transport.abort()
        await asyncio.sleep(0.1)
        server.close()
    return {"before": before, "after": after, "open_s": opened}


async def _cut(
    port: int, context: ssl.SSLContext, registry: Registry, count: int, first: int
) -> None:
    """Open ``count`` sessions a batch at a time, cutting each batch's
    connections before the next is opened."""
    for start in range(0, count, CONCURRENCY):
        size = min(CONCURRENCY, count - start)
        batch = await _open(port, context, registry, size, first + start)
        for visitor in batch:
            assert visitor.transport is not None
            visitor.transport.abort()
        await asyncio.sleep(0)


async def _measure_grace(
    cert_file: Path, key_file: Path, sessions: int
) -> dict[str, float]:
    context = client_context(cert_file)
    registry = Registry()
    server = ServerProcess("lgserver-grace", cert_file, key_file, sessions + 1024)
    try:
        await _cut(server.port, context, registry, CONCURRENCY, 0)
        await asyncio.sleep(SETTLE)
        before = server.rss()
        began = time.perf_counter()
        await _cut(server.port, context, registry, sessions, CONCURRENCY)
        opened = time.perf_counter() - began
        await asyncio.sleep(SETTLE)
        after = server.rss()
    finally:
        server.close()
    return {"before": before, "after": after, "open_s": opened}


async def _measure(sessions: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in MEASURED}
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = write_certificate(Path(directory))
        async with asyncio.timeout(DEADLINE):
            for _ in range(rounds):
                for name in SERVERS:
                    sample = await _measure_one(name, cert_file, key_file, sessions)
                    samples[name].append(sample)
                sample = await _measure_grace(cert_file, key_file, sessions)
                samples[GRACE].append(sample)
    return samples


def figures(
    samples: dict[str, list[dict[str, float]]], sessions: int, load: list[float]
) -> dict[str, Any]:
    """The figures of the ``--json`` line."""
    result: dict[str, Any] = {"sessions": sessions, "rounds": len(samples["lgserver"])}
    for name, runs in samples.items():
        per = [(run["after"] - run["before"]) / sessions / 1024 for run in runs]
        result[f"{name}_kib"] = round(statistics.median(per), 2)
    result["session_kib"] = round(result["lgserver_kib"] - result["baseline_kib"], 2)
    result["rss"] = {
        name: [[int(run["before"]), int(run["after"])] for run in runs]
        for name, runs in samples.items()
    }
    result["open_s"] = {
        name: round(statistics.median(run["open_s"] for run in runs), 2)
        for name, runs in samples.items()
    }
    result["targets"] = {
        f"lgserver <= {TARGET_KIB:.0f} KiB/session": result["lgserver_kib"]
        <= TARGET_KIB
    }
    result["load"] = load
    return result


def report(result: dict[str, Any]) -> list[str]:
    """The lines of the human-readable report."""
    lines = [
        f"Python {platform.python_version()}, uvloop {version('uvloop')}, "
        f"{os.cpu_count()} CPUs",
        "Load average over 1 min, at the start and the end: "
        f"{result['load'][0]:.2f}, {result['load'][1]:.2f}",
        f"{result['sessions']:,} idle connections per server, "
        f"median of {result['rounds']} round(s)",
        "",
        "server    KiB/session  RSS before  RSS after  open (s)",
    ]
    for name in SERVERS:
        before, after = result["rss"][name][-1]
        lines.append(
            f"{name:<8}  {result[name + '_kib']:>11.2f}  "
            f"{before / 2**20:>8.1f}Mi  {after / 2**20:>7.1f}Mi  "
            f"{result['open_s'][name]:>8.2f}"
        )
    before, after = result["rss"][GRACE][-1]
    lines.append(
        f"{'grace':<8}  {result['grace_kib']:>11.2f}  "
        f"{before / 2**20:>8.1f}Mi  {after / 2**20:>7.1f}Mi  "
        f"{result['open_s'][GRACE]:>8.2f}"
    )
    lines += [
        "",
        f"The session's own cost (lgserver less baseline): "
        f"{result['session_kib']:.2f} KiB",
        "",
        "Targets",
        f"  {'PASS' if result['targets'][next(iter(result['targets']))] else 'FAIL'}"
        f"  lgserver at most {TARGET_KIB:.0f} KiB a session: "
        f"{result['lgserver_kib']:.2f} KiB (baseline {result['baseline_kib']:.2f})",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the benchmark and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.sessions",
        description=(__doc__ or "").split("\n", 1)[0],
    )
    parser.add_argument("--sessions", type=int, help="idle sessions to open")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, median")
    parser.add_argument("--quick", action="store_true", help="500 sessions")
    parser.add_argument(
        "--json", action="store_true", help="end with one line of JSON figures"
    )
    args = parser.parse_args(argv)
    sessions = args.sessions or (QUICK_SESSIONS if args.quick else DEFAULT_SESSIONS)
    if sessions < 1 or args.rounds < 1:
        parser.error("--sessions and --rounds must be at least 1")
    raise_file_limit(sessions + WARM_UP + 1024)
    began = time.perf_counter()
    load = os.getloadavg()[0]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        samples = runner.run(_measure(sessions, args.rounds))
    result = figures(samples, sessions, [load, os.getloadavg()[0]])
    lines = report(result)
    lines += ["", f"Took {time.perf_counter() - began:.1f} s"]
    print("\n".join(lines))
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
