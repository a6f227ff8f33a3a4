"""Persistence of lgserver behind one interface.

:class:`Store` is what the server uses; :class:`SqliteStore` implements it on
an SQLite file, with group commit (see :mod:`lgserver.store.sqlite`). The
errors live in :mod:`lgserver.store.errors`.
"""

from .errors import (
    SchemaTooNew,
    StoreClosed,
    StoreError,
    UserExists,
    UserNotFound,
    WriteFailed,
)
from .interface import (
    AuditRecord,
    CommitHook,
    CommitStats,
    Duplicate,
    LoginTokenRecord,
    MessageRecord,
    Role,
    Store,
    StoreLimits,
    UserRecord,
)
from .sqlite import SqliteStore

__all__ = [
    "AuditRecord",
    "CommitHook",
    "CommitStats",
    "Duplicate",
    "LoginTokenRecord",
    "MessageRecord",
    "Role",
    "SchemaTooNew",
    "SqliteStore",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreLimits",
    "UserExists",
    "UserNotFound",
    "UserRecord",
    "WriteFailed",
]
