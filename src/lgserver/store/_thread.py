"""The writer's SQLite connection, and where its transactions run.

A batch's transaction is one function, run from BEGIN to COMMIT without a
trip through the event loop between its statements. Where it runs:

* With ``synchronous=NORMAL`` a commit in WAL mode writes the log and does
  not wait for the disk: a transaction of a batch of chat messages takes
  tens of microseconds, less than handing it to a thread and being woken
  up again would cost (and a busy loop takes a while to come round, each
  time). Such transactions run right in the event loop, with a busy
  timeout of zero.
* If another process holds the database's write lock (an administrator's
  command), BEGIN fails at once with ``SQLITE_BUSY`` and the transaction
  runs again in the writer's thread, where it may wait for the lock for the
  configured busy timeout without holding up the loop.
* With ``synchronous=FULL`` every commit waits for a disk flush: those run
  in the thread always.

The connection never checkpoints the log itself (``wal_autocheckpoint``
is off): after every :data:`CHECKPOINT_EVERY` commits, a second connection
in another thread runs a passive checkpoint, which copies what it can into
the database without blocking the writer, so no commit in the loop ever
pays for one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

__all__ = ["CHECKPOINT_EVERY", "WriterThread"]

_T = TypeVar("_T")
_log = logging.getLogger("lgserver.store")

#: Commits between two passive checkpoints of the write-ahead log.
CHECKPOINT_EVERY = 200


class WriterThread:
    """The one connection that writes, with a thread for what must wait.

    Args:
        path: The database file.
        busy_timeout: Seconds a transaction may wait, in the thread, for
            another process's lock.
        synchronous: The ``synchronous`` pragma: ``NORMAL`` or ``FULL``.
    """

    def __init__(self, path: str, busy_timeout: float, synchronous: str) -> None:
        self._path = path
        self._busy_ms = int(busy_timeout * 1000)
        self._synchronous = synchronous
        self._inline = synchronous == "NORMAL"
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="lgserver-store-writer"
        )
        self._checkpoints = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="lgserver-store-checkpoint"
        )
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing: concurrent.futures.Future[None] | None = None
        self._since_checkpoint = 0
        #: Transactions that found the lock taken and ran in the thread.
        self.waited = 0
        #: What the last passive checkpoint said: busy, pages in the log,
        #: pages copied into the database.
        self.last_checkpoint: tuple[int, int, int] | None = None

    async def open(self) -> None:
        """Connect both connections.

        Raises:
            sqlite3.Error: The file cannot be opened.
        """
        self._conn = self._connect()
        loop = asyncio.get_running_loop()
        self._checkpointer = await loop.run_in_executor(
            self._checkpoints, self._connect
        )

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the store begins and ends its transactions
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy(not self._inline)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            conn.close()
            raise
        return conn

    def _busy(self, waiting: bool) -> int:
        return self._busy_ms if waiting else 0

    async def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run one transaction, ``work``, with the connection; its result.

        ``work`` begins and ends its transaction itself and may be run a
        second time after a first attempt that found the lock taken (and
        rolled back).

        Raises:
            ValueError: The connection is closed.
            Exception: What ``work`` raised.
        """
        conn = self._conn
        if conn is None:
            raise ValueError("the writer's connection is closed")
        if self._inline:
            try:
                result = work(conn)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
                self.waited += 1
                result = await self._in_thread(conn, work)
        else:
            result = await self._in_thread(conn, work)
        self._committed()
        return result

    async def _in_thread(
        self, conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]
    ) -> _T:
        def waiting() -> _T:
            if not self._inline:
                return work(conn)
            conn.execute(f"PRAGMA busy_timeout = {self._busy(True)}")
            try:
                return work(conn)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {self._busy(False)}")

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, waiting)

    def _committed(self) -> None:
        self._since_checkpoint += 1
        if self._since_checkpoint < CHECKPOINT_EVERY:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._since_checkpoint = 0
        self._checkpointing = self._checkpoints.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        conn = self._checkpointer
        if conn is None:
            return
        try:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.last_checkpoint = (int(row[0]), int(row[1]), int(row[2]))
        except sqlite3.Error as exc:
            _log.warning("a checkpoint of the write-ahead log failed: %s", exc)

    async def fetchall(
        self, sql: str, parameters: tuple[object, ...] = ()
    ) -> list[tuple[object, ...]]:
        """The rows of one statement on the writer's connection."""
        return await self.run(lambda conn: conn.execute(sql, parameters).fetchall())

    async def close(self) -> None:
        """Checkpoint what is left and close both connections."""
        loop = asyncio.get_running_loop()
        conn, self._conn = self._conn, None
        checkpointer, self._checkpointer = self._checkpointer, None
        try:
            if conn is not None:
                await loop.run_in_executor(self._executor, conn.close)
            if checkpointer is not None:
                await loop.run_in_executor(
                    self._checkpoints, self._final_checkpoint, checkpointer
                )
        finally:
            self._executor.shutdown(wait=False)
            self._checkpoints.shutdown(wait=False)

    @staticmethod
    def _final_checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            _log.warning("the last checkpoint of the write-ahead log failed: %s", exc)
        finally:
            conn.close()
