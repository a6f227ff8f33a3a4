"""The writer's connection: commits in the loop, waits in its thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from lgserver.store import MessageRecord, SqliteStore
from lgserver.store._thread import CHECKPOINT_EVERY


async def test_a_lock_held_elsewhere_is_waited_for_without_stopping_the_loop(
    db_path: Path,
) -> None:
    async with await SqliteStore.open(db_path, busy_timeout=5.0) as store:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held = time.monotonic()
        append = asyncio.create_task(store.append_message("c", "s", "m1", b"x"))

        # the loop keeps turning while the write waits for the lock
        ticks = 0
        while time.monotonic() - held < 0.3:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not append.done()
        assert ticks >= 10
        other.execute("COMMIT")
        other.close()

        record = await asyncio.wait_for(append, 5.0)
        assert isinstance(record, MessageRecord)
        assert store._writer.waited == 1
        # and the next write commits in the loop again
        await store.append_message("c", "s", "m2", b"y")
        assert store._writer.waited == 1
        assert [m.client_msg_id for m in await store.list_messages("c")] == [
            "m1",
            "m2",
        ]


async def test_a_lock_never_released_fails_the_batch_only(db_path: Path) -> None:
    async with await SqliteStore.open(db_path, busy_timeout=0.2) as store:
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            failed = await asyncio.gather(
                store.append_message("c", "s", "m1", b"x"), return_exceptions=True
            )
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert "locked" in str(failed[0])
        assert isinstance(
            await store.append_message("c", "s", "m2", b"y"), MessageRecord
        )


async def test_the_log_is_checkpointed_by_another_connection(db_path: Path) -> None:
    wal = Path(f"{db_path}-wal")
    async with await SqliteStore.open(db_path) as store:
        for i in range(CHECKPOINT_EVERY * 2 + 1):
            await store.append_message("c", "s", f"m{i}", b"x" * 200)
        checkpointing = store._writer._checkpointing
        assert checkpointing is not None
        await asyncio.wrap_future(checkpointing)
        assert store._writer.last_checkpoint is not None
        busy, pages, copied = store._writer.last_checkpoint
        assert busy == 0 and pages > 0 and copied == pages
    # closing copies the rest and empties the log
    assert not wal.exists() or wal.stat().st_size == 0
