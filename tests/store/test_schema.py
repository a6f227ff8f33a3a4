"""Migrations: a new file, a reopened one, a newer one, a failing step."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from lgserver.store import MessageRecord, Role, SchemaTooNew, SqliteStore, StoreError
from lgserver.store._schema import MIGRATIONS, SCHEMA_VERSION, migrate


def _inspect(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_new_file_gets_the_newest_schema(db_path: Path) -> None:
    async with await SqliteStore.open(db_path):
        pass
    assert _inspect(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _inspect(db_path, "PRAGMA journal_mode") == [("wal",)]
    tables = _inspect(
        db_path, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"
    )
    assert {"users", "messages", "audit_log", "login_tokens"} <= {
        name for (name,) in tables
    }


async def test_connection_settings(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        writer, reader = store._writer, store._reader
        assert await writer.fetchall("PRAGMA synchronous") == [(1,)]
        assert await writer.fetchall("PRAGMA foreign_keys") == [(1,)]
        # commits run in the loop without waiting for a lock; the thread
        # they move to when one is taken waits for it
        assert await writer.fetchall("PRAGMA busy_timeout") == [(0,)]
        assert writer._busy(True) == 5000
        assert list(await reader.execute_fetchall("PRAGMA query_only")) == [(1,)]
    async with await SqliteStore.open(
        db_path, synchronous="FULL", busy_timeout=0.25
    ) as store:
        writer = store._writer
        assert await writer.fetchall("PRAGMA synchronous") == [(2,)]
        assert await writer.fetchall("PRAGMA busy_timeout") == [(250,)]


async def test_reopening_keeps_the_data(db_path: Path) -> None:
    async with await SqliteStore.open(db_path) as store:
        await store.create_user("ann", "hash", Role.ADMIN, "Ann")
        first = await store.append_message("chat-1", "ann", "m1", b"\x01\x02")
        await store.record_audit("ann", "user.create", {"name": "ann"})

    async with await SqliteStore.open(db_path) as store:
        user = await store.get_user_by_name("ann")
        assert user is not None
        assert user.role is Role.ADMIN
        assert await store.list_messages("chat-1") == [first]
        [entry] = await store.list_audit()
        assert entry.detail == {"name": "ann"}

        # new messages continue after the old ones
        second = await store.append_message("chat-1", "ann", "m2", b"")
        assert isinstance(second, MessageRecord)
        assert await store.list_messages("chat-1", after_id=0) == [first, second]
    assert _inspect(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_newer_schema_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(SchemaTooNew) as caught:
        await SqliteStore.open(db_path)
    assert caught.value.found == SCHEMA_VERSION + 1
    assert caught.value.supported == SCHEMA_VERSION
    assert "newer" in str(caught.value)

    # the file is left as it was
    assert _inspect(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]
    assert _inspect(db_path, "SELECT count(*) FROM sqlite_schema") == [(0,)]


async def test_each_step_is_applied_whole_or_not_at_all(db_path: Path) -> None:
    broken = [
        ("CREATE TABLE a (x)",),
        ("CREATE TABLE b (x)", "CREATE TABLE a (y)"),
    ]
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(conn, broken)
    assert _inspect(db_path, "PRAGMA user_version") == [(1,)]
    tables = _inspect(db_path, "SELECT name FROM sqlite_schema")
    assert tables == [("a",)]

    fixed = [broken[0], ("CREATE TABLE b (x)",)]
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        assert await migrate(conn, fixed) == (1, 2)
        assert await migrate(conn, fixed) == (2, 2)
        with pytest.raises(SchemaTooNew):
            await migrate(conn, fixed[:1])


async def test_a_file_that_is_no_database(db_path: Path) -> None:
    db_path.write_bytes(b"this is not an SQLite database, just text" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        await SqliteStore.open(db_path)


async def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        await SqliteStore.open(tmp_path / "absent" / "lgserver.db")


async def test_memory_database_is_refused() -> None:
    with pytest.raises(StoreError, match="write-ahead log"):
        await SqliteStore.open(":memory:")


@pytest.mark.parametrize(
    "options",
    [
        {"max_batch": 0},
        {"max_batch": 5000},
        {"max_queue": 0},
        {"busy_timeout": -1.0},
        {"synchronous": "OFF"},
    ],
)
async def test_bad_options(db_path: Path, options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        await SqliteStore.open(db_path, **options)  # type: ignore[arg-type]
    assert not db_path.exists()


async def test_a_first_version_database_gains_login_tokens(db_path: Path) -> None:
    # a file as the first release left it, with a user in it
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        assert await migrate(conn, MIGRATIONS[:1]) == (0, 1)
        await conn.execute(
            "INSERT INTO users (name, password_hash, role, display_name,"
            " created_at) VALUES ('ann', 'hash', 'operator', 'Ann', 0)"
        )

    async with await SqliteStore.open(db_path) as store:
        expires = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
        token = await store.create_login_token("ann", b"\x01" * 32, "", expires)
        assert await store.find_login_token(b"\x01" * 32) == token
    assert _inspect(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 3
    columns = _inspect(db_path, "SELECT name FROM pragma_table_info('login_tokens')")
    assert [name for (name,) in columns] == [
        "id",
        "user_id",
        "token_hash",
        "description",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
