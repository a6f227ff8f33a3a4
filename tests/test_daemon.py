"""The daemon as a user runs it: ``lgserver serve`` in a process of its own,
reached over real TLS, stopped by a signal."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lgserver.client import Client, SessionClosed
from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode

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
