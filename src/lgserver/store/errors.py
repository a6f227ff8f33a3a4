"""Errors of the store.

Every exception raised on purpose by :mod:`lgserver.store` derives from
:class:`StoreError`::

    StoreError
    +-- SchemaTooNew     the database was written by a newer lgserver
    +-- StoreClosed      the store is closed or closing
    +-- WriteFailed      the transaction carrying a write failed
    +-- Exists           a record with that key exists already
    |   +-- UserExists   a user of that name
    +-- NotFound         no record has that key
        +-- UserNotFound no user of that name

Arguments that break a documented limit (a message body too large, a user
name too long) raise :class:`ValueError`: the calling code is at fault and
nothing was queued.

A :class:`WriteFailed` means the write was not applied: the database error
that caused it is its ``__cause__``. A write that was deduplicated, or a
name that already exists, is not a failure of the database and has its own
outcome.
"""

from __future__ import annotations

__all__ = [
    "Exists",
    "NotFound",
    "SchemaTooNew",
    "StoreClosed",
    "StoreError",
    "UserExists",
    "UserNotFound",
    "WriteFailed",
]


class StoreError(Exception):
    """Root of every error raised by the store."""


class SchemaTooNew(StoreError):
    """The database's schema is newer than this code knows.

    A newer lgserver migrated the file; running older code on it could
    corrupt it, so the store refuses to open it.

    Args:
        found: The schema version of the database.
        supported: The newest schema version this code knows.
    """

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than the newest "
            f"this lgserver knows ({supported}); run a newer lgserver"
        )
        self.found = found
        self.supported = supported


class StoreClosed(StoreError):
    """The store is closed, or closing, and takes no new work."""


class WriteFailed(StoreError):
    """The transaction that carried a write failed; nothing was applied.

    The database error is the exception's ``__cause__``. Every write of the
    same batch fails alike; later writes go into new transactions.
    """


class Exists(StoreError):
    """A record with that key exists already.

    Args:
        kind: What kind of record: ``"user"``, ``"department"``,
            ``"keyword"``.
        key: The key asked for.
    """

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} exists already")
        self.kind = kind
        self.key = key


class NotFound(StoreError):
    """No record has that key.

    Args:
        kind: What kind of record: ``"user"``, ``"department"``, ``"chat"``,
            ``"keyword"``, ``"ban"``.
        key: The key asked for.
    """

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"no {kind} {key!r}")
        self.kind = kind
        self.key = key


class UserExists(Exists):
    """A user of that name exists already (names ignore ASCII case).

    Args:
        name: The name asked for.
    """

    def __init__(self, name: str) -> None:
        super().__init__("user", name)
        self.name = name


class UserNotFound(NotFound):
    """No user has that name.

    Args:
        name: The name asked for.
    """

    def __init__(self, name: str) -> None:
        super().__init__("user", name)
        self.name = name
