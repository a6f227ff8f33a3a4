"""Schema of the SQLite store and its migrations.

The schema version lives in the database header (``PRAGMA user_version``):
0 for a new file, then the number of migration steps applied. Step *k* of
:data:`MIGRATIONS` takes a database from version *k* to *k + 1*. Each step
runs in its own ``BEGIN IMMEDIATE`` transaction together with the version
bump, so a step is applied whole or not at all, and two processes opening
the same new file cannot both apply it: the second one waits for the write
lock, then reads the version the first one left.

A step, once released, is never edited: a change to the schema is a new
step at the end.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Final

import aiosqlite

from .errors import SchemaTooNew

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

_log = logging.getLogger("lgserver.store")

# Tables are STRICT (SQLite 3.37), so a value of the wrong type is refused
# rather than stored as whatever it happens to be. Times are microseconds
# since the Unix epoch, UTC.
_V1: Final = (
    # Names are unique regardless of ASCII case: NOCASE folds A-Z only.
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
        display_name TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created_at INTEGER NOT NULL
    ) STRICT
    """,
    # AUTOINCREMENT: a message id is never reused, even once the newest
    # messages are deleted, so a reader's after_id never skips a message.
    # The unique pair is what deduplicates a message resent after a resume.
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chat TEXT NOT NULL,
        sender TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (sender, client_msg_id)
    ) STRICT
    """,
    "CREATE INDEX messages_by_chat ON messages (chat, id)",
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    ) STRICT
    """,
)

# Login tokens are kept as SHA-256 digests of the secret the client holds:
# the secret is random, so a digest is as good as a slow hash, and a copy
# of the database lets nobody log in. A user's tokens go with the user.
_V2: Final = (
    """
    CREATE TABLE login_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        token_hash BLOB NOT NULL UNIQUE,
        description TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        last_used_at INTEGER
    ) STRICT
    """,
    "CREATE INDEX login_tokens_by_user ON login_tokens (user_id, expires_at)",
)

#: The migration steps, oldest first; each is a sequence of statements.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (_V1, _V2)

#: The schema version this code writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)


async def migrate(
    conn: aiosqlite.Connection, steps: Sequence[Sequence[str]] = MIGRATIONS
) -> tuple[int, int]:
    """Bring a database to the newest schema, one step at a time.

    Args:
        conn: A connection in autocommit mode (``isolation_level=None``).
        steps: The migration steps; the default is the store's.

    Returns:
        The schema versions found and reached.

    Raises:
        SchemaTooNew: If the database is newer than ``steps`` know.
        sqlite3.Error: If a step fails; it is rolled back and the versions
            before it stay applied.
    """
    latest = len(steps)
    found: int | None = None
    while True:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            version = await _user_version(conn)
            if found is None:
                found = version
            if version > latest:
                raise SchemaTooNew(version, latest)
            if version == latest:
                await conn.execute("COMMIT")
                return found, version

            # apply one step and record it in the same transaction
            for statement in steps[version]:
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version + 1:d}")
            await conn.execute("COMMIT")
        except BaseException:
            await _rollback(conn)
            raise
        _log.info("database schema migrated to version %d", version + 1)


async def _user_version(conn: aiosqlite.Connection) -> int:
    rows = list(await conn.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0])


async def _rollback(conn: aiosqlite.Connection) -> None:
    try:
        await conn.execute("ROLLBACK")
    except sqlite3.Error:
        # SQLite may have rolled back already (after some I/O errors);
        # the error that got us here is the one worth reporting.
        _log.debug("rollback after a failed migration step failed", exc_info=True)
