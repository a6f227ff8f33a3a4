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

# Live chat: departments and who serves them, calls and their chats, the
# messages customers leave, bans and predefined answers. Chat ids are random
# text: they appear in URLs and must not be guessable.
_V2: Final = (
    """
    CREATE TABLE departments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        title TEXT NOT NULL,
        routing TEXT NOT NULL CHECK (routing IN ('offer', 'assign')),
        accept_timeout REAL NOT NULL CHECK (accept_timeout > 0),
        wait_limit REAL NOT NULL CHECK (wait_limit > 0),
        email TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT
    """,
    "ALTER TABLE users ADD COLUMN max_chats INTEGER NOT NULL DEFAULT 3",
    "ALTER TABLE users ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
    """
    CREATE TABLE operator_departments (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        department_id INTEGER NOT NULL
            REFERENCES departments (id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, department_id)
    ) STRICT, WITHOUT ROWID
    """,
    """
    CREATE TABLE chats (
        id TEXT PRIMARY KEY,
        department TEXT NOT NULL,
        visitor TEXT NOT NULL,
        customer_name TEXT NOT NULL,
        address TEXT NOT NULL,
        country TEXT NOT NULL,
        origin_url TEXT NOT NULL,
        placed_at INTEGER NOT NULL,
        accepted_at INTEGER,
        ended_at INTEGER,
        outcome TEXT NOT NULL DEFAULT '',
        operator TEXT NOT NULL DEFAULT ''
    ) STRICT, WITHOUT ROWID
    """,
    "CREATE INDEX chats_by_visitor ON chats (visitor, placed_at)",
    """
    CREATE TABLE handovers (
        id INTEGER PRIMARY KEY,
        chat TEXT NOT NULL REFERENCES chats (id),
        operator TEXT NOT NULL,
        at INTEGER NOT NULL,
        note TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX handovers_by_chat ON handovers (chat, id)",
    """
    CREATE TABLE left_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        department TEXT NOT NULL,
        chat TEXT NOT NULL,
        visitor TEXT NOT NULL,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT
    """,
    """
    CREATE TABLE bans (
        id INTEGER PRIMARY KEY,
        visitor TEXT NOT NULL,
        address TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        lifted_at INTEGER,
        CHECK (visitor != '' OR address != '')
    ) STRICT
    """,
    "CREATE INDEX bans_by_visitor ON bans (visitor, expires_at)",
    "CREATE INDEX bans_by_address ON bans (address, expires_at)",
    """
    CREATE TABLE canned (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('text', 'link')),
        keyword TEXT NOT NULL UNIQUE COLLATE NOCASE,
        title TEXT NOT NULL,
        body TEXT NOT NULL
    ) STRICT
    """,
)

# Login tokens are kept as SHA-256 digests of the secret the client holds:
# the secret is random, so a digest is as good as a slow hash, and a copy
# of the database lets nobody log in. A user's tokens go with the user.
_V3: Final = (
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
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (_V1, _V2, _V3)

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
