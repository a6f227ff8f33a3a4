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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "AuditRecord",
    "BanRecord",
    "CannedKind",
    "CannedRecord",
    "ChatRecord",
    "CommitHook",
    "CommitStats",
    "DepartmentRecord",
    "Duplicate",
    "LeftMessageRecord",
    "LoginTokenRecord",
    "MessageRecord",
    "Role",
    "Routing",
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
        departments: The departments whose calls the user serves, by name.
        max_chats: Most chats the user holds at once.
        priority: Among operators otherwise equal, the higher is chosen
            first.
    """

    id: int
    name: str
    password_hash: str = field(repr=False)
    role: Role
    display_name: str
    disabled: bool
    created_at: dt.datetime
    departments: tuple[str, ...] = ()
    max_chats: int = 3
    priority: int = 0


class Routing(StrEnum):
    """How a department gives its calls to operators."""

    #: Every eligible operator sees the call; the first to accept takes it.
    OFFER = "offer"
    #: The call goes to one operator; unaccepted in time, to the next.
    ASSIGN = "assign"


@dataclass(frozen=True, slots=True)
class DepartmentRecord:
    """A department: a queue of calls and the operators who serve it.

    Attributes:
        id: Stable numeric id.
        name: Short name, unique regardless of ASCII case; what the call
            button names.
        title: The name customers see.
        routing: How calls reach operators.
        accept_timeout: Seconds an assigned call waits for its operator
            before it goes to the next one (``ASSIGN`` only).
        wait_limit: Seconds of waiting after which the customer is offered
            to leave a message.
        email: Where messages left by customers are sent; empty for none.
        created_at: When the department was created.
    """

    id: int
    name: str
    title: str
    routing: Routing
    accept_timeout: float
    wait_limit: float
    email: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ChatRecord:
    """A customer's call and the chat it became.

    Attributes:
        id: Random, unguessable id, safe in URLs.
        department: The department whose queue it joined last.
        visitor: The customer's visitor id.
        customer_name: The name the customer gave, or empty.
        address: The customer's network address.
        country: ISO 3166 code of that address, or empty when unknown.
        origin_url: The page the call was placed from.
        placed_at: When the call was placed.
        accepted_at: When an operator first accepted it, or None.
        ended_at: When it ended, or None while it goes on.
        outcome: How it ended (``served``, ``abandoned``, ``left_message``,
            ``inactive``, ``interrupted``...), or empty while it goes on.
        operator: The operator holding it last, or empty.
    """

    id: str
    department: str
    visitor: str
    customer_name: str
    address: str
    country: str
    origin_url: str
    placed_at: dt.datetime
    accepted_at: dt.datetime | None
    ended_at: dt.datetime | None
    outcome: str
    operator: str


@dataclass(frozen=True, slots=True)
class LeftMessageRecord:
    """A message left by a customer whom nobody could serve.

    Attributes:
        id: Position in the store, increasing.
        department: The department it is for.
        chat: The call it came from, or empty.
        visitor: The customer's visitor id.
        name: The name the customer gave.
        email: The address to answer.
        text: What the customer wrote.
        created_at: When it was left.
    """

    id: int
    department: str
    chat: str
    visitor: str
    name: str
    email: str
    text: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class BanRecord:
    """A ban: a visitor id, a network address, or both, kept from calling.

    Attributes:
        id: Stable numeric id.
        visitor: The banned visitor id, or empty.
        address: The banned address, or empty.
        reason: Why, in the operator's words.
        created_by: Who banned.
        created_at: When.
        expires_at: When the ban ends by itself.
        lifted_at: When it was lifted before that, or None.
    """

    id: int
    visitor: str
    address: str
    reason: str
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    lifted_at: dt.datetime | None


class CannedKind(StrEnum):
    """What a predefined answer inserts."""

    TEXT = "text"
    LINK = "link"


@dataclass(frozen=True, slots=True)
class CannedRecord:
    """A predefined text or link an operator inserts with a click or a
    keyword.

    Attributes:
        id: Stable numeric id.
        kind: Text or link.
        keyword: Short word that inserts it, unique regardless of ASCII
            case.
        title: What the operator's list shows.
        body: The text, or the link's URL.
    """

    id: int
    kind: CannedKind
    keyword: str
    title: str
    body: str


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
        max_url: Longest URL a call comes from.
        max_note: Longest text of a message left, a handover note and a
            predefined answer.
        max_page: Most records one listing returns.
    """

    max_body: int = 1024 * 1024
    max_key: int = 256
    max_name: int = 64
    max_text: int = 256
    max_detail: int = 64 * 1024
    max_page: int = 1000
    max_url: int = 4096
    max_note: int = 16 * 1024


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
        """Create a department.

        Raises:
            Exists: If the name is taken (ignoring ASCII case).
            ValueError: If an argument is malformed or beyond the limits, or
                a time is not positive.
            WriteFailed: If the transaction failed.
        """
        ...

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
        """Change the given settings of a department; returns it changed.

        Raises:
            NotFound: If there is no such department.
            ValueError: As for :meth:`create_department`.
            WriteFailed: If the transaction failed.
        """
        ...

    async def get_department(self, name: str) -> DepartmentRecord | None:
        """The department of that name, regardless of ASCII case, or None."""
        ...

    async def list_departments(self) -> list[DepartmentRecord]:
        """Every department, by name."""
        ...

    async def set_operator(
        self,
        name: str,
        *,
        departments: Sequence[str] | None = None,
        max_chats: int | None = None,
        priority: int | None = None,
    ) -> UserRecord:
        """Change what a user serves: the departments (replacing the old
        set), the cap on chats (1 to 100) and the priority (-100 to 100).

        Raises:
            NotFound: If there is no such user, or no such department.
            ValueError: If a number is out of range.
            WriteFailed: If the transaction failed.
        """
        ...

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
        """Record a new call; the store chooses its random id.

        Raises:
            ValueError: If an argument is empty where it may not be, or
                beyond the limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def hand_over(self, chat: str, operator: str, note: str = "") -> ChatRecord:
        """Record that ``operator`` now holds the chat (accepted it, or took
        it over with the previous holder's ``note``).

        Raises:
            NotFound: If there is no such chat, or it has ended.
            ValueError: If an argument is beyond the limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def end_chat(self, chat: str, outcome: str) -> ChatRecord:
        """Record how a chat ended. Ending an ended chat changes nothing
        and returns it as it was.

        Raises:
            NotFound: If there is no such chat.
            ValueError: If ``outcome`` is empty or beyond the limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def move_chat(self, chat: str, department: str) -> ChatRecord:
        """Record that a chat was sent to another department's queue.

        Raises:
            NotFound: If there is no such chat, or it has ended.
            ValueError: If ``department`` is empty or beyond the limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def end_open_chats(self, outcome: str) -> list[str]:
        """End every chat that has not ended, with ``outcome``; returns
        their ids. Run at start, before any call is taken, for the chats
        a server stopped abruptly left open.

        Raises:
            ValueError: If ``outcome`` is empty or beyond the limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def get_chat(self, chat: str) -> ChatRecord | None:
        """The chat of that id, or None."""
        ...

    async def list_handovers(self, chat: str) -> list[tuple[str, dt.datetime, str]]:
        """Who held a chat, in order: operator, since when, and the note
        they were given."""
        ...

    async def list_visitor_chats(
        self, visitor: str, limit: int = 20
    ) -> list[ChatRecord]:
        """A customer's chats, the newest first.

        Raises:
            ValueError: If ``limit`` is below 1 or above the page limit.
        """
        ...

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
        """Store a message a customer left for a department.

        Raises:
            ValueError: If the text or address is empty, or an argument is
                beyond the limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def list_left_messages(
        self, after_id: int = 0, limit: int = 100
    ) -> list[LeftMessageRecord]:
        """Messages left, in the order they were left.

        Raises:
            ValueError: If ``limit`` is below 1 or above the page limit.
        """
        ...

    async def add_ban(
        self,
        *,
        visitor: str = "",
        address: str = "",
        reason: str,
        created_by: str,
        seconds: float,
    ) -> BanRecord:
        """Ban a visitor id, an address, or both, for ``seconds``.

        Raises:
            ValueError: If both ``visitor`` and ``address`` are empty,
                ``seconds`` is not positive, or an argument is beyond the
                limits.
            WriteFailed: If the transaction failed.
        """
        ...

    async def find_ban(self, visitor: str, address: str) -> BanRecord | None:
        """The ban in force now on that visitor id or that address, the
        one that ends last, or None."""
        ...

    async def lift_ban(self, ban_id: int) -> BanRecord:
        """End a ban now.

        Raises:
            NotFound: If there is no such ban.
            WriteFailed: If the transaction failed.
        """
        ...

    async def list_bans(self, *, active_only: bool = True) -> list[BanRecord]:
        """Bans, the newest first: those in force, or every one."""
        ...

    async def add_canned(
        self, kind: CannedKind, keyword: str, title: str, body: str
    ) -> CannedRecord:
        """Add a predefined text or link.

        Raises:
            Exists: If the keyword is taken (ignoring ASCII case).
            ValueError: If an argument is empty or beyond the limits, or a
                link is not an http or https URL.
            WriteFailed: If the transaction failed.
        """
        ...

    async def remove_canned(self, keyword: str) -> None:
        """Remove a predefined answer.

        Raises:
            NotFound: If no answer has that keyword.
            WriteFailed: If the transaction failed.
        """
        ...

    async def list_canned(self) -> list[CannedRecord]:
        """Every predefined answer, by keyword."""
        ...
