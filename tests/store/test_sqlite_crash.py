"""Durability: a process killed with SIGKILL loses no acknowledged message.

A child process appends messages as fast as it can and prints each one's
id once acknowledged; the test kills it in the middle of its work, reopens
the file and looks for every message it saw acknowledged.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from lgserver.store import SqliteStore

WRITER = Path(__file__).with_name("crash_writer.py")
ACKNOWLEDGED_BEFORE_KILL = 400
ROUNDS = 2


def _parse(lines: bytes, acked: dict[int, str]) -> None:
    for line in lines.splitlines(keepends=True):
        # Each line is written whole; a last line without its newline would
        # be one the child did not finish writing.
        if line.endswith(b"\n"):
            message_id, client_msg_id = line.decode().split()
            acked[int(message_id)] = client_msg_id


async def _run_and_kill(path: Path, round_label: str) -> dict[int, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WRITER),
        str(path),
        round_label,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    acked: dict[int, str] = {}
    try:
        async with asyncio.timeout(20):
            while len(acked) < ACKNOWLEDGED_BEFORE_KILL:
                line = await child.stdout.readline()
                if not line:
                    error = await child.stderr.read()
                    raise AssertionError(f"the writer stopped: {error.decode()}")
                _parse(line, acked)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    # what the child printed before it died was acknowledged as well
    _parse(await child.stdout.read(), acked)
    assert child.returncode == -signal.SIGKILL
    return acked


async def test_acknowledged_messages_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    acked: dict[int, str] = {}
    for round_number in range(ROUNDS):
        acked_now = await _run_and_kill(path, f"r{round_number}")
        assert len(acked_now) >= ACKNOWLEDGED_BEFORE_KILL
        acked.update(acked_now)

        # the kill left the write-ahead log for the next opening to recover
        assert path.with_name("crash.db-wal").stat().st_size > 0

        async with await SqliteStore.open(path) as store:
            stored: dict[int, str] = {}
            after_id = 0
            while page := await store.list_messages("crash", after_id, 1000):
                stored.update((m.id, m.client_msg_id) for m in page)
                after_id = page[-1].id

        lost = {i: c for i, c in acked.items() if stored.get(i) != c}
        assert not lost, f"{len(lost)} acknowledged messages lost"
        assert len(stored) >= len(acked)
