"""The daemon as a user runs it: ``lgserver serve`` in a process of its own,
reached over real TLS, stopped by a signal."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lgserver import collector
from lgserver.client import Client, RemoteCallError, SessionClosed
from lgserver.config import (
    Config,
    GeoSettings,
    ServerSettings,
    WebSettings,
    parse_config,
)
from lgserver.daemon import Daemon
from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.messages import ErrorCode

from .conftest import visitor_id
from .transport.test_webtransport import RawSession

LGSERVER = [sys.executable, "-m", "lgserver"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Running:
    def __init__(self, data_dir: Path, port: int, process: subprocess.Popen[str]):
        self.data_dir = data_dir
        self.port = port
        self.process = process

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.data_dir / "cert.pem"))

    def client(self, **auth: str) -> Client:
        return Client(
            "127.0.0.1",
            self.port,
            registry=Registry(),
            build="test",
            auth=auth,
            ssl_context=self.context(),
            server_hostname="localhost",
        )


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    data_dir = tmp_path / "data"
    setup = subprocess.run(
        [
            *LGSERVER,
            "user",
            "add",
            "ann",
            "--data-dir",
            str(data_dir),
            "--password-stdin",
            "--display-name",
            "Ann",
        ],
        input="a long password\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert setup.returncode == 0, setup.stderr
    port = free_port()
    environ = {**os.environ, "LGSERVER_SERVER_PORT": str(port)}
    process = subprocess.Popen(
        [*LGSERVER, "serve", "--data-dir", str(data_dir), "--log-format", "json"],
        env=environ,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "listening on" in line:
            break
    else:
        raise AssertionError("".join(lines))
    try:
        yield Running(data_dir, port, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_serve_answers_then_stops_on_sigterm(running: Running) -> None:
    operator = running.client(name="ann", password="a long password")
    await operator.connect()
    answer = await operator.call("session.whoami")
    assert answer["kind"] == "operator" and answer["display_name"] == "Ann"

    refused = running.client(name="ann", password="wrong password")
    with pytest.raises(SessionClosed) as closed:
        await refused.connect()
    assert closed.value.code == CloseCode.AUTH_FAILED

    running.process.send_signal(signal.SIGTERM)
    with pytest.raises(SessionClosed) as going:
        await asyncio.wait_for(operator.receive(), 10)
    assert going.value.code == CloseCode.GOING_AWAY
    assert await asyncio.to_thread(running.process.wait, 10) == 0


COLLECTING_SERVER = """
import asyncio, dataclasses, gc, os, sys
from pathlib import Path
import uvloop
from lgserver.config import load_config
from lgserver.daemon import serve

config = load_config(None, os.environ)
server = dataclasses.replace(config.server, data_dir=Path(sys.argv[1]), port=0)
config = dataclasses.replace(config, server=server)

def ready(daemon):
    print(*gc.get_threshold(), gc.get_freeze_count(), flush=True)

    def loaded(_):
        print(gc.get_freeze_count(), flush=True)

    # after serve's own callback, which froze the database
    asyncio.get_running_loop().call_soon(daemon.loading.add_done_callback, loaded)

with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(serve(config, on_ready=ready, own_process=True))
"""


async def test_a_daemon_in_its_own_process_sets_the_collector(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        COLLECTING_SERVER,
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        started = (await asyncio.wait_for(process.stdout.readline(), 30)).split()
        *thresholds, frozen = (int(number) for number in started)
        assert tuple(thresholds) == collector.THRESHOLDS
        assert frozen > 10_000  # the modules, the configuration, the hub
        # the geolocation database joins what was frozen once it is loaded
        loaded = int(await asyncio.wait_for(process.stdout.readline(), 60))
        assert loaded > frozen
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0


async def test_sighup_applies_what_the_cli_changed(running: Running) -> None:
    def cli(*args: str) -> None:
        done = subprocess.run(
            [*LGSERVER, *args, "--data-dir", str(running.data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    await asyncio.to_thread(cli, "department", "add", "sales")
    await asyncio.to_thread(cli, "user", "set", "ann", "--departments", "sales")
    operator = running.client(name="ann", password="a long password")
    await operator.connect()
    await operator.call("operator.status", {"status": "available"})
    state = await operator.call("operator.state")
    assert state["departments"] == ["sales"]

    # the running server takes the change in on SIGHUP, not before
    await asyncio.to_thread(cli, "user", "set", "ann", "--max-chats", "7")
    assert (await operator.call("operator.state"))["max_chats"] == 3
    running.process.send_signal(signal.SIGHUP)
    for _ in range(100):
        if (await operator.call("operator.state"))["max_chats"] == 7:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the new cap was not taken in")

    # a disabled account's console is closed
    await asyncio.to_thread(cli, "user", "disable", "ann")
    running.process.send_signal(signal.SIGHUP)
    with pytest.raises(SessionClosed) as closed:
        await asyncio.wait_for(operator.receive(), 10)
    assert closed.value.code == CloseCode.AUTH_FAILED
    assert running.process.poll() is None


def test_serve_reports_a_port_it_cannot_bind(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*LGSERVER, "serve", "--data-dir", str(tmp_path / "d")],
            env={**os.environ, "LGSERVER_SERVER_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "cannot start" in result.stderr


# The daemon with one more method, which stores what it is given and
# answers once the store has committed it: what a chat message goes through.
STORING_SERVER = """
import asyncio, dataclasses, os, sys
from pathlib import Path
import uvloop
from lgserver.config import load_config
from lgserver.daemon import serve
from lgserver.store.interface import Duplicate

config = load_config(None, os.environ)
server = dataclasses.replace(
    config.server, data_dir=Path(sys.argv[1]), port=int(sys.argv[2])
)
config = dataclasses.replace(config, server=server)

def ready(daemon):
    @daemon.hub.method("test.store")
    async def store(context, params):
        record = await daemon.store.append_message(
            "load", context.principal.name, params["id"], params["body"]
        )
        return isinstance(record, Duplicate)
    print("ready", flush=True)

with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(serve(config, on_ready=ready))
"""


def start_storing_server(data_dir: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", STORING_SERVER, str(data_dir), str(port)],
        # a load test: the rate limit for people is far too low
        env={**os.environ, "LGSERVER_LIMITS_MESSAGES_PER_SECOND": "1000000"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


class Sender:
    """A customer sending messages as fast as the server acknowledges
    them, a few in flight at once."""

    def __init__(self, running: Running, visitor: str) -> None:
        self.visitor = visitor
        self.client = running.client(visitor=visitor)
        self.sent = 0  # each message is one call: its seq is its number
        self.answered: set[int] = set()

    def acknowledged(self) -> set[int]:
        """The messages the server has acknowledged in the protocol."""
        through = self.sent - self.client.session.unacknowledged
        return set(range(1, through + 1))

    async def send_one(self, number: int) -> bool:
        message = {"id": f"{self.visitor}-{number}", "body": b"x" * 200}
        duplicate: bool = await self.client.call("test.store", message)
        self.answered.add(number)
        return duplicate

    async def run(self) -> None:
        await self.client.connect()

        async def lane() -> None:
            while True:
                self.sent += 1
                await self.send_one(self.sent)

        await asyncio.gather(*(lane() for _ in range(8)))


async def test_no_acknowledged_message_is_lost_to_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    process = start_storing_server(data_dir, port)
    running = Running(data_dir, port, process)
    try:
        senders = [Sender(running, visitor_id(f"visitor-{n:02}")) for n in range(6)]
        tasks = [asyncio.create_task(s.run()) for s in senders]
        while sum(len(s.answered) for s in senders) < 3000:
            await asyncio.sleep(0.01)
            assert not any(t.done() for t in tasks)
        process.kill()
        process.wait()
        await asyncio.sleep(0.3)  # read what the server sent before it died
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        # every message answered was acknowledged, and the other way round
        acknowledged = {s.visitor: s.acknowledged() for s in senders}
        for sender in senders:
            assert acknowledged[sender.visitor] <= sender.answered

        # restarted: every acknowledged message is there; resending
        # everything finds the stored ones duplicates and stores the rest
        process = start_storing_server(data_dir, port)
        for sender in senders:
            await sender.client.close()
            sender.client = running.client(visitor=sender.visitor)
            await sender.client.connect()
            duplicates = await asyncio.gather(
                *(sender.send_one(n) for n in range(1, sender.sent + 1))
            )
            stored_before = {n for n, dup in enumerate(duplicates, 1) if dup}
            assert acknowledged[sender.visitor] <= stored_before
            await sender.client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    database = sqlite3.connect(data_dir / "lgserver.db")
    rows = database.execute("SELECT client_msg_id FROM messages").fetchall()
    database.close()
    expected = {f"{s.visitor}-{n}" for s in senders for n in range(1, s.sent + 1)}
    assert sorted(row[0] for row in rows) == sorted(expected)
    assert sum(len(a) for a in acknowledged.values()) >= 2500


@dataclass
class _QuicTarget:
    """Where RawSession connects: the daemon's UDP port and certificate."""

    port: int
    certificate: Any


async def test_the_allowed_sites_pages_connect_and_others_get_403(
    tmp_path: Path,
) -> None:
    config = Config(
        server=ServerSettings(port=0, data_dir=tmp_path),
        web=WebSettings(allowed_origins=("https://shop.example",)),
    )
    daemon = Daemon(config)
    await daemon.start()
    try:
        assert daemon.certificate is not None
        cafile = str(daemon.certificate.cert_file)

        async def upgrade(origin: str) -> bytes:
            context = ssl.create_default_context(cafile=cafile)
            context.set_alpn_protocols(["http/1.1"])
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", daemon.port, ssl=context, server_hostname="localhost"
            )
            writer.write(
                "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Origin: {origin}\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.close()
            return head.split(b"\r\n", 1)[0]

        assert await upgrade("https://shop.example") == (
            b"HTTP/1.1 101 Switching Protocols"
        )
        assert await upgrade("https://evil.example") == b"HTTP/1.1 403 "

        # the same rule on the WebTransport CONNECT
        target = _QuicTarget(daemon.port, daemon.certificate)
        for origin, status in (
            ("https://shop.example", 200),
            ("https://evil.example", 403),
        ):
            raw, got = await RawSession.open(target, origin=origin)
            raw.end()
            assert got == status, origin
    finally:
        await daemon.stop()


async def test_the_daemon_locates_addresses_once_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = Daemon(Config(server=ServerSettings(port=0, data_dir=tmp_path)))
    await daemon.start()
    try:
        assert await daemon.locator.country("8.8.8.8") == "US"
        assert not daemon.mailer.enabled  # no smtp.host
    finally:
        await daemon.stop()
    assert await daemon.locator.country("8.8.8.8") == ""

    # a database that cannot be used: the daemon serves all the same
    missing = tmp_path / "absent.mmdb"
    config = Config(
        server=ServerSettings(port=0, data_dir=tmp_path),
        geo=GeoSettings(database=missing),
    )
    daemon = Daemon(config)
    with caplog.at_level(logging.WARNING, "lgserver.geo"):
        await daemon.start()
        try:
            assert await daemon.locator.country("8.8.8.8") == ""
            context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", daemon.port, ssl=context, server_hostname="localhost"
            )
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(4096), 5)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200 ")
        finally:
            await daemon.stop()
    assert f"geolocation is off: geo.database {str(missing)!r}" in caplog.text


def add_ann(data_dir: Path) -> None:
    result = subprocess.run(
        [*LGSERVER, "user", "add", "ann", "--password-stdin", "--data-dir", data_dir],
        input="a long password\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


async def fetch_captcha(port: int, context: ssl.SSLContext) -> dict[str, str]:
    context.set_alpn_protocols(["http/1.1"])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    writer.write(b"GET /captcha HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200 ")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    body = await asyncio.wait_for(reader.readexactly(length), 10)
    writer.close()
    answer: dict[str, str] = json.loads(body)
    return answer


async def test_tokens_and_captchas_over_tls(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    await asyncio.to_thread(add_ann, data_dir)
    document = {
        "server": {"port": free_port(), "data_dir": str(data_dir)},
        "security": {"failure_delay": 0.01, "failure_delay_max": 0.05},
    }
    daemon = Daemon(parse_config(document, {}))
    await daemon.start()
    cafile = str(data_dir / "cert.pem")
    open_clients: list[Client] = []

    def client(**auth: object) -> Client:
        made = Client(
            "127.0.0.1",
            daemon.port,
            registry=Registry(),
            build="test",
            auth=auth,
            ssl_context=ssl.create_default_context(cafile=cafile),
            server_hostname="localhost",
        )
        open_clients.append(made)
        return made

    async def refused(**auth: object) -> int:
        with pytest.raises(SessionClosed) as closed:
            await client(**auth).connect()
        return closed.value.code

    try:
        # a password login gets a token; the token logs in
        operator = client(name="ann", password="a long password")
        await operator.connect()
        issued = await operator.call("auth.token.issue", {"description": "test"})
        by_token = client(token=issued["token"])
        await by_token.connect()
        whoami = await by_token.call("session.whoami")
        assert (whoami["kind"], whoami["name"]) == ("operator", "ann")
        with pytest.raises(RemoteCallError) as forbidden:
            await by_token.call("auth.token.issue")
        assert forbidden.value.code == ErrorCode.FORBIDDEN
        assert await refused(token="forged" + issued["token"][6:]) == (
            CloseCode.AUTH_FAILED
        )

        # revoked, it is refused like a wrong password
        assert await by_token.call("auth.token.revoke") is None
        assert await refused(token=issued["token"]) == CloseCode.AUTH_FAILED

        # five wrong passwords, and then a CAPTCHA is needed
        wrong = {"name": "ann", "password": "wrong password"}
        for _ in range(3):  # the forged and the revoked token count too
            assert await refused(**wrong) == CloseCode.AUTH_FAILED
        assert await refused(name="ann", password="a long password") == (
            CloseCode.CAPTCHA_REQUIRED
        )

        # fetched over HTTPS and solved, it lets the password in
        challenge = await fetch_captcha(
            daemon.port, ssl.create_default_context(cafile=cafile)
        )
        assert challenge["image"].startswith("data:image/png;base64,")
        base64.b64decode(challenge["image"].partition(",")[2], validate=True)
        assert daemon.site is not None and daemon.site.captcha is not None
        text = daemon.site.captcha._challenges[challenge["id"]].text
        solved = {"id": challenge["id"], "answer": text.lower()}
        again = client(name="ann", password="a long password", captcha=solved)
        await again.connect()
        assert (await again.call("session.whoami"))["name"] == "ann"
        # and the count starts afresh
        assert await refused(**wrong) == CloseCode.AUTH_FAILED

        # a new password, set from the command line, ends the tokens
        second = await again.call("auth.token.issue")
        passwd = [*LGSERVER, "user", "passwd", "ann", "--password-stdin"]
        changed = await asyncio.to_thread(
            subprocess.run,
            [*passwd, "--data-dir", str(data_dir)],
            input="another long password\n",
            capture_output=True,
            text=True,
            check=False,
        )
        assert changed.returncode == 0, changed.stderr
        assert await refused(token=second["token"]) == CloseCode.AUTH_FAILED

        # everything is in the audit log
        assert daemon.store is not None
        actions = [entry.action for entry in await daemon.store.list_audit()]
        assert actions.count("auth.token.issue") == 2
        assert actions.count("auth.token.revoke") == 1
        assert actions.count("login") == 3
        assert actions.count("login.failed") == 8
        assert "user.passwd" in actions
    finally:
        for made in open_clients:
            await made.close()
        await daemon.stop()
