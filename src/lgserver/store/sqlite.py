"""The store on SQLite.

Group commit. Every write (a message, a change to a user, an audit entry)
goes into one queue, served by one writer task that owns the only
connection that writes. The writer takes the oldest write, then every write
already waiting behind it, up to ``max_batch``, and applies them all in one
transaction; once that transaction has committed it answers each caller. It
never waits for more work to arrive: on an idle store a lone write commits
at once, and under load the writes that queue up during one commit form the
next batch, so batches grow with the load and a commit's cost is shared by
all the writes it carries.

The messages of a batch are inserted by one statement run over all of them;
a message whose sender and client id are stored already is skipped by the
insert and answered with :class:`~lgserver.store.interface.Duplicate`. Any
other write runs inside a savepoint of the batch's transaction, so its own
failure (a user name that is taken) undoes that write alone. If the
transaction itself fails, every caller of the batch gets
:class:`~lgserver.store.errors.WriteFailed` and the writer goes on with the
next batch.

Durability. The database uses a write-ahead log with ``synchronous=NORMAL``.
A commit appends its pages to the log with ``write()`` and does not wait for
the disk: once ``write()`` has returned, the pages are in the operating
system's cache, which outlives the process. So a process that is killed at
any moment, even by SIGKILL, loses no committed transaction, and a message
acknowledged after its commit is never lost with it. What NORMAL gives up
is the last few transactions on a power loss or a crash of the operating
system (the database stays intact). ``synchronous="FULL"`` closes that gap
at the price of a disk flush for every batch.

Connections. A batch's transaction runs from BEGIN to COMMIT as one piece
of work, in the loop or in the writer's thread when it must wait for a
lock (:mod:`lgserver.store._thread`). Reads use a second, read-only
connection (aiosqlite). In WAL mode a reader sees the last committed state
while the writer works, so a read neither queues behind a batch nor sees
a batch that has not committed yet (a message that could still be rolled
back, and that nobody acknowledged).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import os
import secrets
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Generic, Literal, TypeAlias, TypeVar

import aiosqlite

from ._schema import migrate
from ._thread import WriterThread
from .errors import (
    Exists,
    NotFound,
    StoreClosed,
    StoreError,
    UserExists,
    UserNotFound,
    WriteFailed,
)
from .interface import (
    AuditRecord,
    BanRecord,
    CannedKind,
    CannedRecord,
    ChatRecord,
    CommitHook,
    CommitStats,
    DepartmentRecord,
    Duplicate,
    LeftMessageRecord,
    LoginTokenRecord,
    MessageRecord,
    Role,
    Routing,
    Store,
    StoreLimits,
    UserRecord,
)

__all__ = ["SqliteStore", "Synchronous"]

_log = logging.getLogger("lgserver.store")

_T = TypeVar("_T")

#: How a commit waits for the disk; see the module's documentation.
Synchronous: TypeAlias = Literal["NORMAL", "FULL"]

# STRICT tables appeared in SQLite 3.37.
_MIN_SQLITE: Final = (3, 37, 0)

# A batch's duplicate lookup binds two values a message; SQLite accepts
# 32766 bound values a statement since 3.32.
_MAX_BATCH_LIMIT: Final = 4096

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_INSERT_MESSAGE: Final = """
    INSERT INTO messages (chat, sender, client_msg_id, body, created_at)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (sender, client_msg_id) DO NOTHING
"""
_MESSAGE_COLUMNS: Final = "id, chat, sender, client_msg_id, body, created_at"
_USER_COLUMNS: Final = (
    "id, name, password_hash, role, display_name, disabled, created_at,"
    " max_chats, priority,"
    " (SELECT group_concat(d.name, char(31)) FROM operator_departments AS o"
    "  JOIN departments AS d ON d.id = o.department_id WHERE o.user_id = users.id)"
)
_DEPARTMENT_COLUMNS: Final = (
    "id, name, title, routing, accept_timeout, wait_limit, email, created_at"
)
_CHAT_COLUMNS: Final = (
    "id, department, visitor, customer_name, address, country, origin_url,"
    " placed_at, accepted_at, ended_at, outcome, operator"
)
_LEFT_COLUMNS: Final = "id, department, chat, visitor, name, email, text, created_at"
_BAN_COLUMNS: Final = (
    "id, visitor, address, reason, created_by, created_at, expires_at, lifted_at"
)
_CANNED_COLUMNS: Final = "id, kind, keyword, title, body"
# Bounds of an operator's settings.
_MAX_CHATS: Final = 100
_PRIORITY: Final = 100
# The longest ban, in microseconds: a hundred years.
_LONGEST_BAN: Final = 100 * 365 * 86400 * 10**6
_AUDIT_COLUMNS: Final = "id, at, actor, action, detail"
_TOKEN_COLUMNS: Final = (
    "login_tokens.id, users.name, description, login_tokens.created_at,"
    " expires_at, last_used_at"
)
_TOKEN_HASH_SIZE: Final = 32


@dataclass(eq=False, slots=True)
class _Append:
    chat: str
    sender: str
    client_msg_id: str
    body: bytes
    created_at: int
    future: asyncio.Future[MessageRecord | Duplicate]


@dataclass(eq=False, slots=True)
class _Call(Generic[_T]):
    run: Callable[[sqlite3.Connection], _T]
    future: asyncio.Future[_T]


_Write: TypeAlias = _Append | _Call[Any]
_Outcome: TypeAlias = tuple[object, BaseException | None]


class SqliteStore(Store):
    """The :class:`~lgserver.store.interface.Store` on an SQLite file.

    Create it with :meth:`open`; close it with :meth:`close` or use it as an
    async context manager. It belongs to the event loop it was opened in.

    Attributes:
        on_commit: Called after each committed batch with the number of
            writes it carried and its duration in seconds; an exception it
            raises is logged and ignored.
    """

    def __init__(
        self,
        path: str,
        writer: WriterThread,
        reader: aiosqlite.Connection,
        *,
        limits: StoreLimits,
        max_batch: int,
        max_queue: int,
        on_commit: CommitHook | None,
    ) -> None:
        # Private: open() prepares the connections this takes over.
        self.on_commit = on_commit
        self._path = path
        self._writer = writer
        self._reader = reader
        self._limits = limits
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue(max_queue)
        self._closing = False
        self._closed = asyncio.Event()

        # counters behind the stats property
        self._commits = 0
        self._writes = 0
        self._duplicates = 0
        self._failed_batches = 0
        self._seconds_total = 0.0
        self._seconds_max = 0.0

        self._task = asyncio.get_running_loop().create_task(
            self._write_loop(), name=f"lgserver.store writer {path}"
        )

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        limits: StoreLimits | None = None,
        max_batch: int = 256,
        max_queue: int = 10_000,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "NORMAL",
        on_commit: CommitHook | None = None,
    ) -> SqliteStore:
        """Open a database file, creating or migrating it as needed.

        Args:
            path: The database file. Its directory must exist.
            limits: Bounds on what the store accepts; safe defaults if None.
            max_batch: Most writes one transaction carries (1 to 4096).
            max_queue: Most writes waiting for the writer; a caller beyond
                that waits for room.
            busy_timeout: Seconds to wait for a lock held by another
                process on the same file before a transaction fails.
            synchronous: ``"NORMAL"`` survives the death of the process,
                ``"FULL"`` also a power loss, at a disk flush a batch.
            on_commit: Called after each committed batch; see the class.

        Returns:
            The open store, its writer running.

        Raises:
            SchemaTooNew: If the file was migrated by a newer lgserver.
            StoreError: If the file cannot be opened or is no database, or
                this SQLite is too old.
            ValueError: If a numeric argument is out of range.
        """
        if not 1 <= max_batch <= _MAX_BATCH_LIMIT:
            raise ValueError(f"max_batch must be from 1 to {_MAX_BATCH_LIMIT}")
        if max_queue < 1 or busy_timeout < 0:
            raise ValueError("max_queue and busy_timeout out of range")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old; "
                f"the store needs {'.'.join(map(str, _MIN_SQLITE))}"
            )

        name = os.fspath(path)
        try:
            writer, reader = await _connect_both(name, busy_timeout, synchronous)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {name}: {exc}") from exc
        store = cls(
            name,
            writer,
            reader,
            limits=limits or StoreLimits(),
            max_batch=max_batch,
            max_queue=max_queue,
            on_commit=on_commit,
        )
        _log.info("store opened: %s", name)
        return store

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def stats(self) -> CommitStats:
        """A snapshot of the write counters."""
        return CommitStats(
            commits=self._commits,
            writes=self._writes,
            duplicates=self._duplicates,
            failed_batches=self._failed_batches,
            commit_seconds_total=self._seconds_total,
            commit_seconds_max=self._seconds_max,
        )

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Commit every write queued so far, stop the writer and close the
        database. Writes submitted after this call raise
        :class:`~lgserver.store.errors.StoreClosed`. Calling it again waits
        for the first call to finish.
        """
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            if not self._task.done():
                await self._queue.put(None)
            await asyncio.wait([self._task])
            if not self._task.cancelled() and self._task.exception() is not None:
                _log.error("the store's writer failed", exc_info=self._task.exception())
        finally:
            try:
                await self._writer.close()
            finally:
                await self._reader.close()
                self._closed.set()
                _log.info("store closed: %s", self._path)

    # -- messages

    async def append_message(
        self, chat: str, sender: str, client_msg_id: str, body: bytes
    ) -> MessageRecord | Duplicate:
        """Store a chat message once it is durable, once per sender and
        client id.

        Args:
            chat: Key of the chat or channel; not empty.
            sender: The sending principal; not empty.
            client_msg_id: The sender's id of this message; not empty.
            body: The encoded message.

        Returns:
            The new record, or :class:`Duplicate` with the record stored
            earlier under the same sender and client id.

        Raises:
            ValueError: If an argument is empty or beyond the limits.
            WriteFailed: If the transaction failed; nothing was stored.
            StoreClosed: If the store is closed.
        """
        limits = self._limits
        _check_text("chat", chat, limits.max_key)
        _check_text("sender", sender, limits.max_key)
        _check_text("client_msg_id", client_msg_id, limits.max_key)
        if len(body) > limits.max_body:
            raise ValueError(f"message body longer than {limits.max_body} bytes")
        future: asyncio.Future[MessageRecord | Duplicate]
        future = asyncio.get_running_loop().create_future()
        write = _Append(chat, sender, client_msg_id, bytes(body), _now(), future)
        await self._enqueue(write)
        return await future

    async def list_messages(
        self, chat: str, after_id: int = 0, limit: int = 100
    ) -> list[MessageRecord]:
        """The messages of a chat in the order they were stored.

        Args:
            chat: Key of the chat or channel.
            after_id: Return only messages with a greater id.
            limit: Return at most this many.

        Raises:
            ValueError: If ``limit`` is below 1 or above the page limit.
            StoreClosed: If the store is closed.
        """
        self._check_page(limit)
        rows = await self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages"
            " WHERE chat = ? AND id > ? ORDER BY id LIMIT ?",
            (chat, after_id, limit),
        )
        return [_message(row) for row in rows]

    # -- users

    async def create_user(
        self, name: str, password_hash: str, role: Role, display_name: str
    ) -> UserRecord:
        """Create a user, enabled.

        Args:
            name: Login name: printable, no surrounding spaces, unique
                regardless of ASCII case.
            password_hash: The hash of the user's password.
            role: What the user may do.
            display_name: Name shown to others.

        Raises:
            UserExists: If the name is taken.
            ValueError: If an argument is malformed or beyond the limits.
            WriteFailed: If the transaction failed.
            StoreClosed: If the store is closed.
        """
        role = Role(role)
        self._check_name(name)
        _check_text("password_hash", password_hash, self._limits.max_text)
        _check_text("display_name", display_name, self._limits.max_text)
        created_at = _now()

        def run(conn: sqlite3.Connection) -> UserRecord:
            rows = _fetch_now(
                conn,
                "INSERT INTO users"
                " (name, password_hash, role, display_name, created_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO NOTHING RETURNING id",
                (name, password_hash, role.value, display_name, created_at),
            )
            if not rows:
                raise UserExists(name)
            return UserRecord(
                id=rows[0][0],
                name=name,
                password_hash=password_hash,
                role=role,
                display_name=display_name,
                disabled=False,
                created_at=_time(created_at),
            )

        return await self._call(run)

    async def get_user_by_name(self, name: str) -> UserRecord | None:
        """The user of that name, regardless of ASCII case, or None.

        Raises:
            StoreClosed: If the store is closed.
        """
        rows = await self._read(
            f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,)
        )
        return _user(rows[0]) if rows else None

    async def list_users(self) -> list[UserRecord]:
        """Every user, by name.

        Raises:
            StoreClosed: If the store is closed.
        """
        rows = await self._read(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
        return [_user(row) for row in rows]

    async def set_password(self, name: str, password_hash: str) -> None:
        """Replace a user's password hash.

        Args:
            name: The user's name, regardless of ASCII case.
            password_hash: The new hash.

        Raises:
            UserNotFound: If no user has that name.
            ValueError: If the hash is empty or beyond the limits.
            WriteFailed: If the transaction failed.
            StoreClosed: If the store is closed.
        """
        _check_text("password_hash", password_hash, self._limits.max_text)
        await self._update_user(
            name, "password_hash = ?", password_hash, drop_tokens=True
        )

    async def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable or enable a user.

        Args:
            name: The user's name, regardless of ASCII case.
            disabled: True to disable, False to enable.

        Raises:
            UserNotFound: If no user has that name.
            WriteFailed: If the transaction failed.
            StoreClosed: If the store is closed.
        """
        await self._update_user(
            name, "disabled = ?", int(bool(disabled)), drop_tokens=bool(disabled)
        )

    # -- login tokens

    async def create_login_token(
        self,
        name: str,
        token_hash: bytes,
        description: str,
        expires_at: dt.datetime,
        *,
        keep: int = 20,
    ) -> LoginTokenRecord:
        """Store a new login token of a user, deleting in the same
        transaction the user's expired tokens and the oldest beyond
        ``keep`` (counting the new one).

        Args:
            name: The user's name, regardless of ASCII case.
            token_hash: The SHA-256 digest of the token (32 bytes).
            description: What the client said of itself; may be empty.
            expires_at: When the token stops working (aware).
            keep: Most tokens the user may hold.

        Raises:
            UserNotFound: If no user has that name.
            ValueError: If an argument is malformed or beyond the limits.
            WriteFailed: If the transaction failed.
            StoreClosed: If the store is closed.
        """
        if not isinstance(token_hash, bytes) or len(token_hash) != _TOKEN_HASH_SIZE:
            raise ValueError(f"token_hash must be {_TOKEN_HASH_SIZE} bytes")
        if description:
            _check_text("description", description, self._limits.max_text)
        if keep < 1:
            raise ValueError("keep must be at least 1")
        expires = _microseconds(expires_at)
        created_at = _now()

        def run(conn: sqlite3.Connection) -> LoginTokenRecord:
            users = _fetch_now(
                conn, "SELECT id, name FROM users WHERE name = ?", (name,)
            )
            if not users:
                raise UserNotFound(name)
            user_id, user_name = users[0]
            conn.execute(
                "DELETE FROM login_tokens WHERE user_id = ? AND expires_at <= ?",
                (user_id, created_at),
            )
            rows = _fetch_now(
                conn,
                "INSERT INTO login_tokens (user_id, token_hash, description,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (user_id, token_hash, description, created_at, expires),
            )
            conn.execute(
                "DELETE FROM login_tokens WHERE user_id = ? AND id NOT IN"
                " (SELECT id FROM login_tokens WHERE user_id = ?"
                " ORDER BY id DESC LIMIT ?)",
                (user_id, user_id, keep),
            )
            return LoginTokenRecord(
                id=rows[0][0],
                user=user_name,
                description=description,
                created_at=_time(created_at),
                expires_at=_time(expires),
                last_used_at=None,
            )

        return await self._call(run)

    async def find_login_token(self, token_hash: bytes) -> LoginTokenRecord | None:
        """The login token of that digest, expired or not, or None.

        Raises:
            StoreClosed: If the store is closed.
        """
        rows = await self._read(
            f"SELECT {_TOKEN_COLUMNS} FROM login_tokens"
            " JOIN users ON users.id = login_tokens.user_id"
            " WHERE token_hash = ?",
            (bytes(token_hash),),
        )
        return _token(rows[0]) if rows else None

    async def touch_login_token(self, token_id: int) -> None:
        """Record that a login token was just used; nothing if it is gone.

        Raises:
            WriteFailed: If the transaction failed.
            StoreClosed: If the store is closed.
        """
        used_at = _now()

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE login_tokens SET last_used_at = ? WHERE id = ?",
                (used_at, token_id),
            )

        await self._call(run)

    async def delete_login_token(self, token_id: int) -> bool:
        """Delete a login token; whether there was one to delete.

        Raises:
            WriteFailed: If the transaction failed.
            StoreClosed: If the store is closed.
        """

        def run(conn: sqlite3.Connection) -> bool:
            rows = _fetch_now(
                conn, "DELETE FROM login_tokens WHERE id = ? RETURNING id", (token_id,)
            )
            return bool(rows)

        return await self._call(run)

    async def list_login_tokens(self, name: str) -> list[LoginTokenRecord]:
        """A user's login tokens, oldest first; none for an unknown name.

        Raises:
            StoreClosed: If the store is closed.
        """
        rows = await self._read(
            f"SELECT {_TOKEN_COLUMNS} FROM login_tokens"
            " JOIN users ON users.id = login_tokens.user_id"
            " WHERE users.name = ? ORDER BY login_tokens.id",
            (name,),
        )
        return [_token(row) for row in rows]

    # -- audit log

    async def record_audit(
        self, actor: str, action: str, detail: Mapping[str, Any]
    ) -> AuditRecord:
        """Add an entry to the audit log.

        Args:
            actor: Who acted; not empty.
            action: What was done; not empty.
            detail: The particulars; JSON-serialisable, without NaN or
                infinities.

        Returns:
            The entry as stored, its detail decoded back from JSON.

        Raises:
            TypeError: If ``detail`` holds a value JSON cannot carry.
            ValueError: If an argument is empty or beyond the limits, or
                ``detail`` holds NaN, an infinity or a cycle.
            WriteFailed: If the transaction failed.
            StoreClosed: If the store is closed.
        """
        limits = self._limits
        _check_text("actor", actor, limits.max_key)
        _check_text("action", action, limits.max_key)
        text = json.dumps(
            dict(detail),
            ensure_ascii=False,
            allow_nan=False,
            sort_keys=True,
            separators=(",", ":"),
        )
        _check_text("detail", text, limits.max_detail)
        at = _now()

        def run(conn: sqlite3.Connection) -> AuditRecord:
            rows = _fetch_now(
                conn,
                "INSERT INTO audit_log (at, actor, action, detail)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (at, actor, action, text),
            )
            return AuditRecord(rows[0][0], _time(at), actor, action, json.loads(text))

        return await self._call(run)

    async def list_audit(
        self, after_id: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Audit entries in the order they were recorded.

        Args:
            after_id: Return only entries with a greater id.
            limit: Return at most this many.

        Raises:
            ValueError: If ``limit`` is below 1 or above the page limit.
            StoreClosed: If the store is closed.
        """
        self._check_page(limit)
        rows = await self._read(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [_audit(row) for row in rows]

    # -- departments and operators

    async def create_department(
        self,
        name: str,
        title: str,
        routing: Routing = Routing.OFFER,
        *,
        accept_timeout: float = 30.0,
        wait_limit: float = 300.0,
        email: str = "",
    ) -> DepartmentRecord:
        """Create a department; see :class:`.interface.Store`."""
        self._check_name(name)
        fields = self._department_fields(
            title=title,
            routing=routing,
            accept_timeout=accept_timeout,
            wait_limit=wait_limit,
            email=email,
        )
        created_at = _now()

        def run(conn: sqlite3.Connection) -> DepartmentRecord:
            rows = _fetch_now(
                conn,
                "INSERT INTO departments (name, title, routing, accept_timeout,"
                " wait_limit, email, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                f" ON CONFLICT (name) DO NOTHING RETURNING {_DEPARTMENT_COLUMNS}",
                (name, *fields.values(), created_at),
            )
            if not rows:
                raise Exists("department", name)
            return _department(rows[0])

        return await self._call(run)

    async def update_department(
        self,
        name: str,
        *,
        title: str | None = None,
        routing: Routing | None = None,
        accept_timeout: float | None = None,
        wait_limit: float | None = None,
        email: str | None = None,
    ) -> DepartmentRecord:
        """Change a department's settings; see :class:`.interface.Store`."""
        fields = self._department_fields(
            title=title,
            routing=routing,
            accept_timeout=accept_timeout,
            wait_limit=wait_limit,
            email=email,
        )
        changes = {key: value for key, value in fields.items() if value is not None}
        assignments = ", ".join(f"{key} = ?" for key in changes) or "name = name"

        def run(conn: sqlite3.Connection) -> DepartmentRecord:
            rows = _fetch_now(
                conn,
                f"UPDATE departments SET {assignments} WHERE name = ?"
                f" RETURNING {_DEPARTMENT_COLUMNS}",
                (*changes.values(), name),
            )
            if not rows:
                raise NotFound("department", name)
            return _department(rows[0])

        return await self._call(run)

    async def get_department(self, name: str) -> DepartmentRecord | None:
        """The department of that name, regardless of ASCII case, or None."""
        rows = await self._read(
            f"SELECT {_DEPARTMENT_COLUMNS} FROM departments WHERE name = ?", (name,)
        )
        return _department(rows[0]) if rows else None

    async def list_departments(self) -> list[DepartmentRecord]:
        """Every department, by name."""
        rows = await self._read(
            f"SELECT {_DEPARTMENT_COLUMNS} FROM departments ORDER BY name"
        )
        return [_department(row) for row in rows]

    async def set_operator(
        self,
        name: str,
        *,
        departments: Sequence[str] | None = None,
        max_chats: int | None = None,
        priority: int | None = None,
    ) -> UserRecord:
        """Change what a user serves; see :class:`.interface.Store`."""
        if max_chats is not None and not 1 <= max_chats <= _MAX_CHATS:
            raise ValueError(f"max_chats must be from 1 to {_MAX_CHATS}")
        if priority is not None and not -_PRIORITY <= priority <= _PRIORITY:
            raise ValueError(f"priority must be from -{_PRIORITY} to {_PRIORITY}")
        wanted = None if departments is None else sorted(set(departments))

        def run(conn: sqlite3.Connection) -> UserRecord:
            rows = _fetch_now(
                conn,
                "UPDATE users SET max_chats = coalesce(?, max_chats),"
                " priority = coalesce(?, priority) WHERE name = ? RETURNING id",
                (max_chats, priority, name),
            )
            if not rows:
                raise UserNotFound(name)
            user_id = rows[0][0]
            if wanted is not None:
                found: list[int] = []
                for department in wanted:
                    ids = _fetch_now(
                        conn, "SELECT id FROM departments WHERE name = ?", (department,)
                    )
                    if not ids:
                        raise NotFound("department", department)
                    found.append(ids[0][0])
                conn.execute(
                    "DELETE FROM operator_departments WHERE user_id = ?", (user_id,)
                )
                conn.executemany(
                    "INSERT INTO operator_departments VALUES (?, ?)",
                    [(user_id, department_id) for department_id in found],
                )
            users = _fetch_now(
                conn, f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)
            )
            return _user(users[0])

        return await self._call(run)

    # -- chats

    async def create_chat(
        self,
        department: str,
        visitor: str,
        *,
        customer_name: str = "",
        address: str = "",
        country: str = "",
        origin_url: str = "",
    ) -> ChatRecord:
        """Record a new call; see :class:`.interface.Store`."""
        limits = self._limits
        _check_text("department", department, limits.max_key)
        _check_text("visitor", visitor, limits.max_key)
        _check_optional("customer_name", customer_name, limits.max_text)
        _check_optional("address", address, limits.max_key)
        _check_optional("country", country, 8)
        _check_optional("origin_url", origin_url, limits.max_url)
        placed_at = _now()
        record = ChatRecord(
            id=secrets.token_urlsafe(12),
            department=department,
            visitor=visitor,
            customer_name=customer_name,
            address=address,
            country=country,
            origin_url=origin_url,
            placed_at=_time(placed_at),
            accepted_at=None,
            ended_at=None,
            outcome="",
            operator="",
        )

        def run(conn: sqlite3.Connection) -> ChatRecord:
            conn.execute(
                f"INSERT INTO chats ({_CHAT_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, '', '')",
                (
                    record.id,
                    department,
                    visitor,
                    customer_name,
                    address,
                    country,
                    origin_url,
                    placed_at,
                ),
            )
            return record

        return await self._call(run)

    async def hand_over(self, chat: str, operator: str, note: str = "") -> ChatRecord:
        """Record who holds a chat now; see :class:`.interface.Store`."""
        _check_text("operator", operator, self._limits.max_key)
        _check_optional("note", note, self._limits.max_note)
        at = _now()

        def run(conn: sqlite3.Connection) -> ChatRecord:
            rows = _fetch_now(
                conn,
                "UPDATE chats SET operator = ?, accepted_at = coalesce(accepted_at, ?)"
                f" WHERE id = ? AND ended_at IS NULL RETURNING {_CHAT_COLUMNS}",
                (operator, at, chat),
            )
            if not rows:
                raise NotFound("chat", chat)
            conn.execute(
                "INSERT INTO handovers (chat, operator, at, note) VALUES (?, ?, ?, ?)",
                (chat, operator, at, note),
            )
            return _chat(rows[0])

        return await self._call(run)

    async def end_chat(self, chat: str, outcome: str) -> ChatRecord:
        """Record how a chat ended; see :class:`.interface.Store`."""
        _check_text("outcome", outcome, self._limits.max_key)
        at = _now()

        def run(conn: sqlite3.Connection) -> ChatRecord:
            rows = _fetch_now(
                conn,
                "UPDATE chats SET ended_at = coalesce(ended_at, ?),"
                " outcome = CASE WHEN ended_at IS NULL THEN ? ELSE outcome END"
                f" WHERE id = ? RETURNING {_CHAT_COLUMNS}",
                (at, outcome, chat),
            )
            if not rows:
                raise NotFound("chat", chat)
            return _chat(rows[0])

        return await self._call(run)

    async def move_chat(self, chat: str, department: str) -> ChatRecord:
        """Record a chat's new department; see :class:`.interface.Store`."""
        _check_text("department", department, self._limits.max_key)

        def run(conn: sqlite3.Connection) -> ChatRecord:
            rows = _fetch_now(
                conn,
                "UPDATE chats SET department = ?"
                f" WHERE id = ? AND ended_at IS NULL RETURNING {_CHAT_COLUMNS}",
                (department, chat),
            )
            if not rows:
                raise NotFound("chat", chat)
            return _chat(rows[0])

        return await self._call(run)

    async def end_open_chats(self, outcome: str) -> list[str]:
        """End every open chat; see :class:`.interface.Store`."""
        _check_text("outcome", outcome, self._limits.max_key)
        at = _now()

        def run(conn: sqlite3.Connection) -> list[str]:
            rows = _fetch_now(
                conn,
                "UPDATE chats SET ended_at = ?, outcome = ?"
                " WHERE ended_at IS NULL RETURNING id",
                (at, outcome),
            )
            return sorted(row[0] for row in rows)

        return await self._call(run)

    async def get_chat(self, chat: str) -> ChatRecord | None:
        """The chat of that id, or None."""
        rows = await self._read(
            f"SELECT {_CHAT_COLUMNS} FROM chats WHERE id = ?", (chat,)
        )
        return _chat(rows[0]) if rows else None

    async def list_handovers(self, chat: str) -> list[tuple[str, dt.datetime, str]]:
        """Who held a chat, in order: operator, since when, and the note."""
        rows = await self._read(
            "SELECT operator, at, note FROM handovers WHERE chat = ? ORDER BY id",
            (chat,),
        )
        return [(operator, _time(at), note) for operator, at, note in rows]

    async def list_visitor_chats(
        self, visitor: str, limit: int = 20
    ) -> list[ChatRecord]:
        """A customer's chats, the newest first."""
        self._check_page(limit)
        rows = await self._read(
            f"SELECT {_CHAT_COLUMNS} FROM chats WHERE visitor = ?"
            " ORDER BY placed_at DESC, id LIMIT ?",
            (visitor, limit),
        )
        return [_chat(row) for row in rows]

    # -- messages left, bans, predefined answers

    async def leave_message(
        self,
        department: str,
        visitor: str,
        name: str,
        email: str,
        text: str,
        *,
        chat: str = "",
    ) -> LeftMessageRecord:
        """Store a message left for a department; see :class:`.interface.Store`."""
        limits = self._limits
        _check_text("department", department, limits.max_key)
        _check_text("visitor", visitor, limits.max_key)
        _check_optional("name", name, limits.max_text)
        _check_text("email", email, limits.max_text)
        _check_text("text", text, limits.max_note)
        _check_optional("chat", chat, limits.max_key)
        created_at = _now()

        def run(conn: sqlite3.Connection) -> LeftMessageRecord:
            rows = _fetch_now(
                conn,
                "INSERT INTO left_messages (department, chat, visitor, name, email,"
                " text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                f" RETURNING {_LEFT_COLUMNS}",
                (department, chat, visitor, name, email, text, created_at),
            )
            return _left_message(rows[0])

        return await self._call(run)

    async def list_left_messages(
        self, after_id: int = 0, limit: int = 100
    ) -> list[LeftMessageRecord]:
        """Messages left, in the order they were left."""
        self._check_page(limit)
        rows = await self._read(
            f"SELECT {_LEFT_COLUMNS} FROM left_messages WHERE id > ?"
            " ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [_left_message(row) for row in rows]

    async def add_ban(
        self,
        *,
        visitor: str = "",
        address: str = "",
        reason: str,
        created_by: str,
        seconds: float,
    ) -> BanRecord:
        """Ban a visitor id or an address; see :class:`.interface.Store`."""
        limits = self._limits
        if not visitor and not address:
            raise ValueError("a ban needs a visitor id or an address")
        _check_optional("visitor", visitor, limits.max_key)
        _check_optional("address", address, limits.max_key)
        _check_optional("reason", reason, limits.max_text)
        _check_text("created_by", created_by, limits.max_key)
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError("a ban lasts a positive number of seconds")
        created_at = _now()
        expires_at = created_at + min(math.ceil(seconds * 1e6), _LONGEST_BAN)

        def run(conn: sqlite3.Connection) -> BanRecord:
            rows = _fetch_now(
                conn,
                "INSERT INTO bans (visitor, address, reason, created_by,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
                f" RETURNING {_BAN_COLUMNS}",
                (visitor, address, reason, created_by, created_at, expires_at),
            )
            return _ban(rows[0])

        return await self._call(run)

    async def find_ban(self, visitor: str, address: str) -> BanRecord | None:
        """The ban in force on that visitor id or address, or None."""
        rows = await self._read(
            f"SELECT {_BAN_COLUMNS} FROM bans"
            " WHERE ((visitor = ?1 AND ?1 != '') OR (address = ?2 AND ?2 != ''))"
            " AND expires_at > ?3 AND lifted_at IS NULL"
            " ORDER BY expires_at DESC LIMIT 1",
            (visitor, address, _now()),
        )
        return _ban(rows[0]) if rows else None

    async def lift_ban(self, ban_id: int) -> BanRecord:
        """End a ban now; see :class:`.interface.Store`."""
        at = _now()

        def run(conn: sqlite3.Connection) -> BanRecord:
            rows = _fetch_now(
                conn,
                "UPDATE bans SET lifted_at = coalesce(lifted_at, ?)"
                f" WHERE id = ? RETURNING {_BAN_COLUMNS}",
                (at, ban_id),
            )
            if not rows:
                raise NotFound("ban", str(ban_id))
            return _ban(rows[0])

        return await self._call(run)

    async def list_bans(self, *, active_only: bool = True) -> list[BanRecord]:
        """Bans, the newest first: those in force, or every one."""
        where = " WHERE lifted_at IS NULL AND expires_at > ?" if active_only else ""
        rows = await self._read(
            f"SELECT {_BAN_COLUMNS} FROM bans{where} ORDER BY id DESC",
            (_now(),) if active_only else (),
        )
        return [_ban(row) for row in rows]

    async def add_canned(
        self, kind: CannedKind, keyword: str, title: str, body: str
    ) -> CannedRecord:
        """Add a predefined text or link; see :class:`.interface.Store`."""
        kind = CannedKind(kind)
        limits = self._limits
        self._check_name(keyword)
        _check_text("title", title, limits.max_text)
        _check_text("body", body, limits.max_note)
        if kind is CannedKind.LINK:
            _check_link(body)

        def run(conn: sqlite3.Connection) -> CannedRecord:
            rows = _fetch_now(
                conn,
                "INSERT INTO canned (kind, keyword, title, body) VALUES (?, ?, ?, ?)"
                f" ON CONFLICT (keyword) DO NOTHING RETURNING {_CANNED_COLUMNS}",
                (kind.value, keyword, title, body),
            )
            if not rows:
                raise Exists("keyword", keyword)
            return _canned(rows[0])

        return await self._call(run)

    async def remove_canned(self, keyword: str) -> None:
        """Remove a predefined answer; see :class:`.interface.Store`."""

        def run(conn: sqlite3.Connection) -> None:
            rows = _fetch_now(
                conn, "DELETE FROM canned WHERE keyword = ? RETURNING id", (keyword,)
            )
            if not rows:
                raise NotFound("keyword", keyword)

        await self._call(run)

    async def list_canned(self) -> list[CannedRecord]:
        """Every predefined answer, by keyword."""
        rows = await self._read(
            f"SELECT {_CANNED_COLUMNS} FROM canned ORDER BY keyword COLLATE NOCASE"
        )
        return [_canned(row) for row in rows]

    def _department_fields(
        self,
        *,
        title: str | None,
        routing: Routing | None,
        accept_timeout: float | None,
        wait_limit: float | None,
        email: str | None,
    ) -> dict[str, Any]:
        """A department's columns, checked, in table order; None where not
        given."""
        limits = self._limits
        if title is not None:
            _check_text("title", title, limits.max_text)
        if email is not None:
            _check_optional("email", email, limits.max_text)
        for what, seconds in (
            ("accept_timeout", accept_timeout),
            ("wait_limit", wait_limit),
        ):
            if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"{what} must be a positive number of seconds")
        return {
            "title": title,
            "routing": None if routing is None else Routing(routing).value,
            "accept_timeout": accept_timeout,
            "wait_limit": wait_limit,
            "email": email,
        }

    # -- submitting work

    async def _enqueue(self, write: _Write) -> None:
        if self._closing or self._task.done():
            raise StoreClosed("the store is closed")
        await self._queue.put(write)
        if self._task.done():
            # The writer stopped while this call waited for room in the
            # queue: nobody will take the write any more.
            self._fail_queued()

    async def _call(self, run: Callable[[sqlite3.Connection], _T]) -> _T:
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        await self._enqueue(_Call(run, future))
        return await future

    async def _update_user(
        self, name: str, assignment: str, value: object, *, drop_tokens: bool
    ) -> None:
        def run(conn: sqlite3.Connection) -> None:
            rows = _fetch_now(
                conn,
                f"UPDATE users SET {assignment} WHERE name = ? RETURNING id",
                (value, name),
            )
            if not rows:
                raise UserNotFound(name)
            if drop_tokens:
                conn.execute(
                    "DELETE FROM login_tokens WHERE user_id = ?", (rows[0][0],)
                )

        await self._call(run)

    async def _read(
        self, sql: str, parameters: Iterable[object] = ()
    ) -> list[sqlite3.Row]:
        if self._closing:
            raise StoreClosed("the store is closed")
        return list(await self._reader.execute_fetchall(sql, parameters))

    def _check_name(self, name: str) -> None:
        _check_text("name", name, self._limits.max_name)
        if name != name.strip() or not name.isprintable():
            raise ValueError("a user name must be printable, without outer spaces")

    def _check_page(self, limit: int) -> None:
        if not 1 <= limit <= self._limits.max_page:
            raise ValueError(f"limit must be from 1 to {self._limits.max_page}")

    # -- the writer

    async def _write_loop(self) -> None:
        try:
            running = True
            while running:
                batch, running = await self._next_batch()

                # a caller cancelled before its batch began is not written
                live = [write for write in batch if not write.future.done()]
                if live:
                    await self._commit(live)
        finally:
            self._fail_queued()

    async def _next_batch(self) -> tuple[list[_Write], bool]:
        batch: list[_Write] = []
        item = await self._queue.get()
        while item is not None:
            batch.append(item)
            if len(batch) >= self._max_batch:
                return batch, True
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return batch, True
        # None is close()'s mark: everything queued before it is in batch.
        return batch, False

    async def _commit(self, batch: list[_Write]) -> None:
        start = time.perf_counter()
        try:
            outcomes = await self._writer.run(
                lambda conn: self._transaction(conn, batch)
            )
        except Exception as exc:
            self._failed_batches += 1
            _log.warning(
                "a transaction of %d writes failed and was rolled back: %s",
                len(batch),
                exc,
            )
            for write in batch:
                _settle(write.future, None, _write_failed(exc))
            return
        except BaseException:
            for write in batch:
                _settle(write.future, None, StoreClosed("the writer was stopped"))
            raise
        seconds = time.perf_counter() - start

        # answer the callers first: the counters can wait, they cannot
        for write, (value, error) in zip(batch, outcomes, strict=True):
            _settle(write.future, value, error)

        self._commits += 1
        self._writes += len(batch)
        self._duplicates += sum(isinstance(value, Duplicate) for value, _ in outcomes)
        self._seconds_total += seconds
        self._seconds_max = max(self._seconds_max, seconds)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("committed %d writes in %.6f s", len(batch), seconds)
        hook = self.on_commit
        if hook is not None:
            try:
                hook(len(batch), seconds)
            except Exception:
                _log.exception("the on_commit hook failed")

    # What follows runs in the writer's thread, one batch a call.

    def _transaction(
        self, conn: sqlite3.Connection, batch: list[_Write]
    ) -> list[_Outcome]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            appends = [write for write in batch if isinstance(write, _Append)]
            stored = iter(self._insert_messages(conn, appends) if appends else [])
            outcomes: list[_Outcome] = []
            for write in batch:
                if isinstance(write, _Append):
                    outcomes.append((next(stored), None))
                else:
                    outcomes.append(_run_call(conn, write))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return outcomes

    def _insert_messages(
        self, conn: sqlite3.Connection, appends: list[_Append]
    ) -> list[MessageRecord | Duplicate]:
        # insert all; rows with a known sender and client id are skipped
        rows = _fetch_now(conn, "SELECT coalesce(max(id), 0) FROM messages")
        before = rows[0][0]
        conn.executemany(
            _INSERT_MESSAGE,
            [
                (a.chat, a.sender, a.client_msg_id, a.body, a.created_at)
                for a in appends
            ],
        )

        # The writer is alone in its transaction and ids only grow, so the
        # rows past the old maximum are exactly those just inserted.
        inserted = {
            (sender, client_msg_id): message_id
            for message_id, sender, client_msg_id in _fetch_now(
                conn,
                "SELECT id, sender, client_msg_id FROM messages WHERE id > ?",
                (before,),
            )
        }
        missing = {
            (a.sender, a.client_msg_id)
            for a in appends
            if (a.sender, a.client_msg_id) not in inserted
        }
        known = _find_messages(conn, missing) if missing else {}

        # the first append of a key owns the record; the others duplicate it
        results: list[MessageRecord | Duplicate] = []
        owners: dict[tuple[str, str], MessageRecord] = {}
        for a in appends:
            key = (a.sender, a.client_msg_id)
            owner = owners.get(key)
            if owner is not None:
                results.append(Duplicate(owner))
            elif key in inserted:
                owner = MessageRecord(
                    inserted[key],
                    a.chat,
                    a.sender,
                    a.client_msg_id,
                    a.body,
                    _time(a.created_at),
                )
                owners[key] = owner
                results.append(owner)
            else:
                owners[key] = known[key]
                results.append(Duplicate(known[key]))
        return results

    def _fail_queued(self) -> None:
        while True:
            try:
                write = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if write is not None:
                _settle(write.future, None, StoreClosed("the store is closed"))


async def _connect_both(
    path: str, busy_timeout: float, synchronous: Synchronous
) -> tuple[WriterThread, aiosqlite.Connection]:
    # the migrations run on a connection of their own, closed before the
    # writer's thread opens the one that writes from then on
    conn = await _connect(path, busy_timeout)
    try:
        rows = await _fetch(conn, "PRAGMA journal_mode = WAL")
        if rows[0][0] != "wal":
            raise StoreError(f"{path} cannot use a write-ahead log; give a file")
        found, reached = await migrate(conn)
        if found != reached:
            _log.info("database %s migrated from version %d", path, found)
    finally:
        await conn.close()

    writer = WriterThread(path, busy_timeout, synchronous)
    try:
        await writer.open()
        reader = await _connect(path, busy_timeout)
        try:
            await reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await reader.close()
            raise
    except BaseException:
        await writer.close()
        raise
    return writer, reader


async def _connect(path: str, busy_timeout: float) -> aiosqlite.Connection:
    # When opening fails, aiosqlite stops its worker thread without waiting
    # for it, and the thread may then report to an event loop that is gone.
    # Opening the file once beforehand, in a thread that is waited for,
    # raises a missing folder or a denied permission cleanly.
    await asyncio.to_thread(_probe, path)

    # isolation_level=None: the store begins and ends every transaction
    # itself, instead of the sqlite3 module's implicit ones.
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000):d}")
        await conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


def _probe(path: str) -> None:
    sqlite3.connect(path).close()


async def _fetch(
    conn: aiosqlite.Connection, sql: str, parameters: Iterable[object] = ()
) -> list[sqlite3.Row]:
    return list(await conn.execute_fetchall(sql, parameters))


def _fetch_now(
    conn: sqlite3.Connection, sql: str, parameters: Iterable[object] = ()
) -> list[Any]:
    return conn.execute(sql, tuple(parameters)).fetchall()


# -- in the writer's thread


def _find_messages(
    conn: sqlite3.Connection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], MessageRecord]:
    pairs = ", ".join(["(?, ?)"] * len(keys))
    rows = _fetch_now(
        conn,
        f"SELECT {_MESSAGE_COLUMNS} FROM messages"
        f" WHERE (sender, client_msg_id) IN (VALUES {pairs})",
        [value for key in keys for value in key],
    )
    records = (_message(row) for row in rows)
    return {(r.sender, r.client_msg_id): r for r in records}


def _run_call(conn: sqlite3.Connection, call: _Call[Any]) -> _Outcome:
    conn.execute("SAVEPOINT write")
    try:
        value = call.run(conn)
    except Exception as exc:
        # Undo this write alone. Should SQLite have ended the whole
        # transaction, this fails and so does the batch.
        conn.execute("ROLLBACK TO write")
        conn.execute("RELEASE write")
        if isinstance(exc, sqlite3.Error):
            return None, _write_failed(exc)
        return None, exc
    conn.execute("RELEASE write")
    return value, None


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        # SQLite may have rolled back by itself (after some I/O errors);
        # the error that got us here is the one worth reporting.
        _log.debug("rollback failed", exc_info=True)


def _settle(
    future: asyncio.Future[Any], value: object, error: BaseException | None
) -> None:
    # A caller that was cancelled has left its future done already.
    if future.done():
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


def _write_failed(cause: BaseException) -> WriteFailed:
    # One instance a caller: an exception raised in several tasks would
    # gather all their tracebacks.
    error = WriteFailed(f"the transaction failed: {cause}")
    error.__cause__ = cause
    return error


def _check_text(what: str, value: str, limit: int) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str")
    if not value:
        raise ValueError(f"{what} is empty")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid Unicode") from exc
    if size > limit:
        raise ValueError(f"{what} is longer than {limit} bytes")


def _check_optional(what: str, value: str, limit: int) -> None:
    if value:
        _check_text(what, value, limit)
    elif not isinstance(value, str):
        raise TypeError(f"{what} must be a str")


def _check_link(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("a link must be an http or https URL")


def _optional_time(microseconds: int | None) -> dt.datetime | None:
    return None if microseconds is None else _time(microseconds)


def _now() -> int:
    return time.time_ns() // 1000


def _microseconds(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a time must be aware (with a time zone)")
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _time(microseconds: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=microseconds)


def _message(row: sqlite3.Row) -> MessageRecord:
    message_id, chat, sender, client_msg_id, body, created_at = row
    return MessageRecord(
        message_id, chat, sender, client_msg_id, body, _time(created_at)
    )


def _user(row: sqlite3.Row) -> UserRecord:
    (user_id, name, password_hash, role, display_name, disabled, created_at) = row[:7]
    max_chats, priority, departments = row[7:]
    return UserRecord(
        id=user_id,
        name=name,
        password_hash=password_hash,
        role=Role(role),
        display_name=display_name,
        disabled=bool(disabled),
        created_at=_time(created_at),
        departments=tuple(sorted(departments.split("\x1f"))) if departments else (),
        max_chats=max_chats,
        priority=priority,
    )


def _department(row: sqlite3.Row) -> DepartmentRecord:
    department_id, name, title, routing, accept_timeout, wait_limit, email, at = row
    return DepartmentRecord(
        department_id,
        name,
        title,
        Routing(routing),
        accept_timeout,
        wait_limit,
        email,
        _time(at),
    )


def _chat(row: sqlite3.Row) -> ChatRecord:
    chat_id, department, visitor, customer_name, address, country, url = row[:7]
    placed_at, accepted_at, ended_at, outcome, operator = row[7:]
    return ChatRecord(
        chat_id,
        department,
        visitor,
        customer_name,
        address,
        country,
        url,
        _time(placed_at),
        _optional_time(accepted_at),
        _optional_time(ended_at),
        outcome,
        operator,
    )


def _left_message(row: sqlite3.Row) -> LeftMessageRecord:
    left_id, department, chat, visitor, name, email, text, created_at = row
    return LeftMessageRecord(
        left_id, department, chat, visitor, name, email, text, _time(created_at)
    )


def _ban(row: sqlite3.Row) -> BanRecord:
    ban_id, visitor, address, reason, created_by, created_at, expires_at = row[:7]
    return BanRecord(
        ban_id,
        visitor,
        address,
        reason,
        created_by,
        _time(created_at),
        _time(expires_at),
        _optional_time(row[7]),
    )


def _canned(row: sqlite3.Row) -> CannedRecord:
    canned_id, kind, keyword, title, body = row
    return CannedRecord(canned_id, CannedKind(kind), keyword, title, body)


def _token(row: sqlite3.Row) -> LoginTokenRecord:
    token_id, user, description, created_at, expires_at, last_used_at = row
    return LoginTokenRecord(
        id=token_id,
        user=user,
        description=description,
        created_at=_time(created_at),
        expires_at=_time(expires_at),
        last_used_at=_optional_time(last_used_at),
    )


def _audit(row: sqlite3.Row) -> AuditRecord:
    audit_id, at, actor, action, detail = row
    return AuditRecord(audit_id, _time(at), actor, action, json.loads(detail))
