"""Persistence of lgserver behind one interface.

:class:`Store` is what the server uses; :class:`SqliteStore` implements it on
an SQLite file, with group commit (see :mod:`lgserver.store.sqlite`). The
errors live in :mod:`lgserver.store.errors`.
"""

from .errors import (
    Exists,
    NotFound,
    SchemaTooNew,
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
from .sqlite import SqliteStore

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
    "Exists",
    "LeftMessageRecord",
    "LoginTokenRecord",
    "MessageRecord",
    "NotFound",
    "Role",
    "Routing",
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
