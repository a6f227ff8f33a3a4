"""Servers for the network benchmarks, each run in a process of its own.

A benchmark starts a server with :class:`ServerProcess`; the child runs
``python -m bench._server KIND CERT KEY`` on uvloop, listens for TLS on
127.0.0.1 at a free port and prints ``port N``. After that it reads
commands on its standard input, one a line: ``rss`` answers ``rss N``,
its resident set in bytes (``VmRSS`` of ``/proc/self/status``, taken
after a full garbage collection). The end of its input stops it.

The kinds are

* ``lgserver``: a :class:`~lgserver.server.hub.Hub` behind
  :func:`~lgserver.transport.listener.serve_tls`, accepting every HELLO
  whose credentials hold ``visitor``, with a method ``echo`` that returns
  its params, a method ``later`` that does so after that many seconds,
  and limits raised out of the way;
* ``lgserver-grace``: the same, with a grace window of an hour, so that
  sessions whose connections were cut stay in it for the whole run;
* ``idle``: a bare TLS server whose connections stay open and discard
  what they read;
* ``echo``: a bare TLS server that sends back every frame it reads, a
  frame being a 4-byte big-endian length and that many bytes.

All of them use the same certificate and the context of
:func:`~lgserver.tls.server_ssl_context`, ALPN included, so that what
differs between them is what runs above TLS.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import resource
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import uvloop

from lgserver.config import Config
from lgserver.protocol.codec import Registry
from lgserver.protocol.messages import Hello
from lgserver.server.hub import CallContext, Hub, HubLimits, Principal
from lgserver.tls import generate_dev_certificate, server_ssl_context
from lgserver.transport.http import Site
from lgserver.transport.listener import serve_tls

__all__ = [
    "KINDS",
    "ServerProcess",
    "client_context",
    "raise_file_limit",
    "resident_bytes",
    "write_certificate",
]

KINDS = ("lgserver", "lgserver-grace", "idle", "echo")
# The grace window of ``lgserver-grace``, in seconds.
LONG_GRACE = 3600.0
HOST = "127.0.0.1"
BACKLOG = 4096
# Seconds a server process gets to start, to answer and to stop.
STARTUP = 30.0
STOP = 10.0


def resident_bytes() -> int:
    """This process's resident set size, in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def raise_file_limit(needed: int) -> None:
    """Let this process hold ``needed`` file descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY:
            hard = max(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def write_certificate(directory: Path) -> tuple[Path, Path]:
    """A new development certificate and key, written in ``directory``."""
    cert_pem, key_pem = generate_dev_certificate(2)
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    return cert_file, key_file


def client_context(cert_file: Path) -> ssl.SSLContext:
    """A client context that trusts ``cert_file`` and offers ALPN lg/1."""
    context = ssl.create_default_context(cafile=str(cert_file))
    context.set_alpn_protocols(["lg/1"])
    return context


class ServerProcess:
    """A benchmark server in a child process.

    Args:
        kind: One of :data:`KINDS`.
        cert_file: The certificate the server presents.
        key_file: Its key.
        connections: How many connections the server must hold at once.
    """

    def __init__(
        self, kind: str, cert_file: Path, key_file: Path, connections: int = 1000
    ) -> None:
        self.kind = kind
        self._child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench._server",
                kind,
                str(cert_file),
                str(key_file),
                str(connections),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.port = int(self._answer("port"))

    def rss(self) -> int:
        """The server's resident set size now, in bytes."""
        assert self._child.stdin is not None
        self._child.stdin.write("rss\n")
        self._child.stdin.flush()
        return int(self._answer("rss"))

    def close(self) -> None:
        """Stop the server, killing it if it does not stop in time."""
        if self._child.stdin is not None:
            self._child.stdin.close()
        try:
            self._child.wait(STOP)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()

    def _answer(self, word: str) -> str:
        assert self._child.stdout is not None
        line = self._child.stdout.readline().split()
        if len(line) != 2 or line[0] != word:
            self.close()
            raise RuntimeError(f"the {self.kind} server did not answer {word!r}")
        return line[1]


# -- what runs in the child


class _Idle(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool | None:
        return False


class _Echo(asyncio.Protocol):
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        # send back every whole frame at once, keep the rest for later
        buffer = self._buffer
        buffer += data
        end = 0
        while len(buffer) - end >= 4:
            size = int.from_bytes(buffer[end : end + 4])
            if len(buffer) - end - 4 < size:
                break
            end += 4 + size
        if end and self._transport is not None:
            self._transport.write(bytes(buffer[:end]))
            del buffer[:end]

    def eof_received(self) -> bool | None:
        return False


async def _admit(hello: Hello, address: str | None) -> Principal | tuple[int, str]:
    auth = hello.auth or {}
    visitor = auth.get("visitor")
    if isinstance(visitor, str):
        return Principal("customer", visitor)
    return (4001, "no visitor")


async def _echo(context: CallContext, params: Any) -> Any:
    return params


async def _later(context: CallContext, params: Any) -> Any:
    """Answer after ``params`` seconds: long enough to cut the connection
    between the call and its answer."""
    await asyncio.sleep(float(params))
    return params


async def _listen(kind: str, context: ssl.SSLContext, connections: int) -> Any:
    loop = asyncio.get_running_loop()
    if kind.startswith("lgserver"):
        limits = HubLimits(
            max_connections=connections,
            max_connections_per_address=connections,
            messages_per_second=1e9,
            burst=1_000_000_000,
        )
        # the session settings a deployed server has by default
        settings = Config().session_config()
        if kind == "lgserver-grace":
            settings = dataclasses.replace(settings, grace=LONG_GRACE)
        hub = Hub(Registry(), _admit, settings, limits=limits)
        hub.method("echo")(_echo)
        hub.method("later")(_later)
        return await serve_tls(hub, Site(), context, HOST, 0, backlog=BACKLOG)
    protocol = _Idle if kind == "idle" else _Echo
    return await loop.create_server(
        protocol, HOST, 0, ssl=context, ssl_handshake_timeout=10.0, backlog=BACKLOG
    )


async def _serve(kind: str, cert_file: Path, key_file: Path, connections: int) -> None:
    loop = asyncio.get_running_loop()
    server = await _listen(kind, server_ssl_context(cert_file, key_file), connections)
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)

    # answer commands until the input ends
    done = loop.create_future()
    pending = bytearray()
    stdin = sys.stdin.fileno()

    def command() -> None:
        chunk = os.read(stdin, 4096)
        if not chunk:
            loop.remove_reader(stdin)
            done.set_result(None)
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip() == b"rss":
                gc.collect()
                print(f"rss {resident_bytes()}", flush=True)

    loop.add_reader(stdin, command)
    await done
    server.close()


def main(argv: list[str]) -> int:
    """Run one server: ``KIND CERT KEY CONNECTIONS``."""
    kind, cert_file, key_file, connections = argv
    if kind not in KINDS:
        raise SystemExit(f"unknown server kind {kind!r}")
    raise_file_limit(int(connections) + 1024)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(kind, Path(cert_file), Path(key_file), int(connections)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
