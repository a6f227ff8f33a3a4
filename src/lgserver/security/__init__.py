"""Security: password hashes today; login throttling, address rules, allowed
origins and encoded ids as they arrive (see the design's Security section).
"""

from .passwords import (
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password,
    verify_password_async,
)

__all__ = [
    "hash_password",
    "hash_password_async",
    "needs_rehash",
    "verify_password",
    "verify_password_async",
]
