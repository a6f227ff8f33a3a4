"""Security: password hashes, login throttling and CAPTCHA challenges
(:mod:`lgserver.security.captcha`); address rules, allowed origins and
encoded ids as they arrive (see the design's Security section).
"""

from .passwords import (
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password,
    verify_password_async,
)
from .throttle import Attempt, LoginThrottle

__all__ = [
    "Attempt",
    "LoginThrottle",
    "hash_password",
    "hash_password_async",
    "needs_rehash",
    "verify_password",
    "verify_password_async",
]
