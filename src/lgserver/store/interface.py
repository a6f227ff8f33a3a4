"""What the rest of lgserver sees of persistence: the :class:`Store`
interface and the records it returns.

The server depends on this module only; an implementation (today
:class:`lgserver.store.sqlite.SqliteStore`) is chosen where the daemon
starts.

Timestamps are aware :class:`~datetime.datetime` objects in UTC, with
microsecond precision, as the wire codec carries them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "AuditRecord",
    "CommitHook",
    "CommitStats",
    "Duplicate",
    "LoginTokenRecord",
    "MessageRecord",
    "Role",
    "Store",
    "StoreLimits",
    "UserRecord",
]

#: Called after every committed batch with the number of writes it carried
#: and the seconds from the start of its transaction to the end of its
#: commit. It runs on the event loop, so it must be quick.
CommitHook = Callable[[int, float], None]


class Role(StrEnum):
    """What a user of the consoles may do."""

    ADMIN = "admin"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A stored chat message.

    Attributes:
        id: Position in the store, increasing with every message and never
            reused; a reader pages with it (``after_id``).
        chat: Key of the chat or channel the message belongs to.
        sender: The sending principal.
        client_msg_id: The sender's own id of the message, which makes a
            resent message recognisable.
        body: The encoded message, as the codec produced it.
        created_at: When the store accepted the message.
    """

    id: int
    chat: str
    sender: str
    client_msg_id: str
    body: bytes
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Outcome of an append whose sender and client id were stored before.

    Nothing new was written. A client resends unacknowledged messages after
    a resume, so this is a normal outcome: acknowledge it as stored.

    Attributes:
        record: The message stored first under that sender and client id.
            Its chat and body may differ from the resent ones; the first
            one wins.
    """

    record: MessageRecord


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A console user: an administrator or an operator.

    Attributes:
        id: Stable numeric id.
        name: Login name, unique regardless of ASCII case.
        password_hash: As made by :func:`lgserver.security.hash_password`.
        role: What the user may do.
        display_name: Name shown to customers and colleagues.
        disabled: A disabled user may not log in.
        created_at: When the user was created.
    """

    id: int
    name: str
    password_hash: str = field(repr=False)
    role: Role
    display_name: str
    disabled: bool
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class LoginTokenRecord:
    """A login token of a console user: a secret the client keeps to log
    in again without the password. The store holds its SHA-256 digest
    only.

    Attributes:
        id: Stable numeric id.
        user: The name of the user it logs in as.
        description: What the client said of itself when it got the token.
        created_at: When it was issued.
        expires_at: When it stops working.
        last_used_at: When it last logged in, or None if never.
    """

    id: int
    user: str
    description: str
    created_at: dt.datetime
    expires_at: dt.datetime
    last_used_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An entry of the audit log of administrative actions.

    Attributes:
        id: Position in the log, increasing and never reused.
        at: When the entry was recorded.
        actor: Who acted (a user name, or ``"system"``).
        action: What was done, a short dotted word such as ``"user.create"``.
        detail: The particulars, a JSON object.
    """

    id: int
    at: dt.datetime
    actor: str
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommitStats:
    """Counters of the store's writes since it was opened.

    Attributes:
        commits: Transactions committed.
        writes: Writes those transactions carried.
        duplicates: Appends answered with :class:`Duplicate`.
        failed_batches: Transactions that failed and were rolled back.
        commit_seconds_total: Time spent in committed transactions.
        commit_seconds_max: The longest committed transaction.
    """

    commits: int = 0
    writes: int = 0
    duplicates: int = 0
    failed_batches: int = 0
    commit_seconds_total: float = 0.0
    commit_seconds_max: float = 0.0


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """Bounds on what the store accepts; a call beyond one raises
    :class:`ValueError` and writes nothing.

    Lengths of text are counted in UTF-8 bytes.

    Attributes:
        max_body: Largest message body. The protocol's frame limit is
            normally lower; this one keeps a stray caller from filling the
            disk.
        max_key: Longest chat key, sender, client message id, audit actor
            and action.
        max_name: Longest user name.
        max_text: Longest display name and password hash.
        max_detail: Longest audit detail, once encoded as JSON.
        max_page: Most records one listing returns.
    """

    max_body: int = 1024 * 1024
    max_key: int = 256
    max_name: int = 64
    max_text: int = 256
    max_detail: int = 64 * 1024
    max_page: int = 1000


class Store(Protocol):
    """Persistence of lgserver.

    Writes return once durable: the transaction carrying them has
    committed, so a caller may acknowledge them to a client. Reads see
    every write that has returned.

    Every method may raise :class:`~lgserver.store.errors.StoreClosed` once
    :meth:`close` has been called.
    """

    on_commit: CommitHook | None

    @property
    def stats(self) -> CommitStats:
        """A snapshot of the write counters."""
        ...

    async def close(self) -> None:
        """Write everything queued, then release the database.

        Calling it again does nothing more.
        """
        ...

    async def append_message(
        self, chat: str, sender: str, client_msg_id: str, body: bytes
    ) -> MessageRecord | Duplicate:
        """Store a chat message, once per sender and client id.

        Args:
            chat: Key of the chat or channel.
            sender: The sending principal.
            client_msg_id: The sender's id of this message.
            body: The encoded message.

        Returns:
            The new record once it is durable, or :class:`Duplicate` with
            the record stored earlier under the same sender and client id.

        Raises:
            ValueError: If an argument is beyond :class:`StoreLimits`.
            WriteFailed: If the transaction failed; the message was not
                stored.
        """
        ...

    async def list_messages(
        self, chat: str, after_id: int = 0, limit: int = 100
    ) -> list[MessageRecord]:
        """The messages of a chat in the order they were stored.

        Args:
            chat: Key of the chat or channel.
            after_id: Return only messages with a greater id.
            limit: Return at most this many.

        Raises:
            ValueError: If ``limit`` is below 1 or above the store's page
                limit.
        """
        ...

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
        """
        ...

    async def get_user_by_name(self, name: str) -> UserRecord | None:
        """The user of that name, regardless of ASCII case, or None."""
        ...

    async def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        ...

    async def set_password(self, name: str, password_hash: str) -> None:
        """Replace a user's password hash and delete the user's login
        tokens, in one transaction.

        Args:
            name: The user's name.
            password_hash: The new hash.

        Raises:
            UserNotFound: If no user has that name.
            ValueError: If the hash is beyond the limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable or enable a user; disabling also deletes the user's login
        tokens, in the same transaction.

        Args:
            name: The user's name.
            disabled: True to disable, False to enable.

        Raises:
            UserNotFound: If no user has that name.
            WriteFailed: If the transaction failed.
        """
        ...

    async def create_login_token(
        self,
        name: str,
        token_hash: bytes,
        description: str,
        expires_at: dt.datetime,
        *,
        keep: int = 20,
    ) -> LoginTokenRecord:
        """Store a new login token of a user.

        In the same transaction the user's expired tokens are deleted, and
        the oldest ones beyond ``keep`` (counting the new one).

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
        """
        ...

    async def find_login_token(self, token_hash: bytes) -> LoginTokenRecord | None:
        """The login token of that digest, expired or not, or None."""
        ...

    async def touch_login_token(self, token_id: int) -> None:
        """Record that a login token was just used; nothing if it is gone.

        Raises:
            WriteFailed: If the transaction failed.
        """
        ...

    async def delete_login_token(self, token_id: int) -> bool:
        """Delete a login token; whether there was one to delete.

        Raises:
            WriteFailed: If the transaction failed.
        """
        ...

    async def list_login_tokens(self, name: str) -> list[LoginTokenRecord]:
        """A user's login tokens, oldest first; none for an unknown name."""
        ...

    async def record_audit(
        self, actor: str, action: str, detail: Mapping[str, Any]
    ) -> AuditRecord:
        """Add an entry to the audit log.

        Args:
            actor: Who acted.
            action: What was done.
            detail: The particulars; JSON-serialisable.

        Raises:
            TypeError: If ``detail`` cannot be encoded as JSON.
            ValueError: If an argument is beyond the limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def list_audit(
        self, after_id: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Audit entries in the order they were recorded.

        Args:
            after_id: Return only entries with a greater id.
            limit: Return at most this many.

        Raises:
            ValueError: If ``limit`` is below 1 or above the store's page
                limit.
        """
        ...
