"""Security: password hashes, login throttling and CAPTCHA challenges
(:mod:`lgserver.security.captcha`), the rule of visitor ids; address
rules, allowed origins and encoded ids as they arrive (see the design's
Security section).
"""

from .passwords import (
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password,
    verify_password_async,
)
from .throttle import Attempt, LoginThrottle
from .visitors import VISITOR_ID_MAX, VISITOR_ID_MIN, VISITOR_ID_RULE, is_visitor_id

__all__ = [
    "VISITOR_ID_MAX",
    "VISITOR_ID_MIN",
    "VISITOR_ID_RULE",
    "Attempt",
    "LoginThrottle",
    "hash_password",
    "hash_password_async",
    "is_visitor_id",
    "needs_rehash",
    "verify_password",
    "verify_password_async",
]
