"""The servers under load, each a child process: lgserver itself (the
daemon, ``python -m lgserver serve``) and the baselines.

lgserver runs as deployed: a data directory in a temporary folder, whose
database holds the departments and operators before the daemon starts,
the certificate of the run, and the limits a single machine's load test
needs raised through ``LGSERVER_LIMITS_*`` (every generator connects from
127.0.0.1, and an operator holding many chats sends more than a person
would). WebTransport is off: the generators speak ``lg/1`` and WebSocket.

Each department ``load-K`` belongs to generator K, with its own operators
``op-K-J``, so that both sides of every chat live in one generator process
and it alone can tell which messages were lost.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from lgserver.security import hash_password
from lgserver.store import SqliteStore
from lgserver.store.interface import Role, Routing

__all__ = [
    "HOST",
    "PASSWORD",
    "ServerChild",
    "department",
    "operator_names",
    "prepare_store",
    "start_bare",
    "start_lgserver",
    "start_socketio",
]

HOST = "127.0.0.1"
PASSWORD = "load test password"
# Seconds a server gets to listen, and to stop once asked.
STARTUP = 60.0
STOP = 10.0
# Far above what one machine can offer: the limits must not be what is
# measured.
RAISED_LIMITS = {
    "LGSERVER_LIMITS_MAX_CONNECTIONS": "1000000",
    "LGSERVER_LIMITS_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
    "LGSERVER_LIMITS_MESSAGES_PER_SECOND": "1000000",
    "LGSERVER_LIMITS_BURST": "1000000",
    # every operator logs in from 127.0.0.1: a slow login must not make
    # the address need CAPTCHAs
    "LGSERVER_SECURITY_CAPTCHA_AFTER": "1000",
}
# Seconds an operator has to accept a call pushed to them: the load
# test's operators accept at once, unless the server is overwhelmed.
ACCEPT_TIMEOUT = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# where ``python -m bench...`` finds the bench package
ROOT = Path(__file__).resolve().parents[2]


def department(generator: int) -> str:
    """The department whose calls generator ``generator`` places."""
    return f"load-{generator}"


def operator_names(generator: int, operators: int, generators: int) -> list[str]:
    """The operators of generator ``generator``: ``operators`` shared out
    as evenly as can be among ``generators``."""
    share = operators // generators + (generator < operators % generators)
    return [f"op-{generator}-{index}" for index in range(share)]


async def prepare_store(
    data_dir: Path,
    generators: int,
    operators: int,
    max_chats: int,
    routing: str = "assign",
) -> None:
    """Write the departments (``routing`` "assign" or "offer") and the
    operators into a new database."""
    password_hash = hash_password(PASSWORD)
    store = await SqliteStore.open(data_dir / "lgserver.db")
    try:
        for generator in range(generators):
            name = department(generator)
            await store.create_department(
                name,
                f"Load {generator}",
                Routing.OFFER if routing == "offer" else Routing.ASSIGN,
                accept_timeout=ACCEPT_TIMEOUT,
            )
            for user in operator_names(generator, operators, generators):
                await store.create_user(user, password_hash, Role.OPERATOR, user)
                await store.set_operator(user, departments=[name], max_chats=max_chats)
    finally:
        await store.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class ServerChild:
    """A server process, its port, and what it costs the machine.

    Args:
        name: What the server is, for the report.
        command: The command line.
        port: The TLS port it will listen on.
        log: Where its standard output and error go.
        env: Its environment.
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        log: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log = log
        with log.open("wb") as output:
            self._child = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        self.pid = self._child.pid

    def wait_listening(self) -> None:
        """Return once the server accepts connections.

        Raises:
            RuntimeError: It ended, or did not listen in time; the message
                holds the end of its log.
        """
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                self._fail(f"ended with status {self._child.returncode}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.05)
        self.close()
        self._fail(f"did not listen within {STARTUP:g} s")

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            # the command name, in parentheses, may hold spaces
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss(self) -> int:
        """The server's resident set size, in bytes."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for the {self.name} server")

    def close(self) -> None:
        """Stop the server (SIGTERM), killing it if it does not stop in time."""
        if self._child.poll() is None:
            self._child.terminate()
            try:
                self._child.wait(STOP)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()

    def _fail(self, what: str) -> None:
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the {self.name} server {what}:\n{tail}")


def start_lgserver(
    data_dir: Path, cert_file: Path, key_file: Path, log: Path
) -> ServerChild:
    """Start the lgserver daemon on a prepared data directory."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LGSERVER_")
    }
    env |= RAISED_LIMITS | {
        "LGSERVER_SERVER_HOST": HOST,
        "LGSERVER_SERVER_PORT": str(port),
        "LGSERVER_SERVER_WEBTRANSPORT": "false",
        "LGSERVER_TLS_CERT_FILE": str(cert_file),
        "LGSERVER_TLS_KEY_FILE": str(key_file),
        # a session's opening and end are INFO: too many lines under load
        "LGSERVER_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "lgserver", "serve", "--data-dir", str(data_dir)]
    server = ServerChild("lgserver", command, port, log, env)
    server.wait_listening()
    return server


def start_bare(cert_file: Path, key_file: Path, log: Path) -> ServerChild:
    """Start the bare fan-out baseline (:mod:`bench.loadtest.baseline_bare`)."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "bench.loadtest.baseline_bare",
        str(cert_file),
        str(key_file),
        str(port),
    ]
    server = ServerChild("bare", command, port, log)
    server.wait_listening()
    return server


def start_socketio(cert_file: Path, key_file: Path, log: Path) -> ServerChild:
    """Start the python-socketio baseline
    (:mod:`bench.loadtest.baseline_socketio`)."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "bench.loadtest.baseline_socketio",
        str(cert_file),
        str(key_file),
        str(port),
    ]
    server = ServerChild("socketio", command, port, log)
    server.wait_listening()
    return server
