"""Password hashing with scrypt.

A hash is stored as one self-describing string::

    scrypt$n=32768,r=8,p=1$<salt>$<key>

where salt and key are base64 (standard alphabet, padding removed). The cost
parameters travel with each hash, so they can be raised later: old hashes
still verify with the parameters they were made with, and
:func:`needs_rehash` tells the login path to store a new hash once the
password is known again.

Passwords are normalised to Unicode NFC before being encoded as UTF-8, so
the same password typed on systems that compose accents differently
verifies alike.

scrypt is slow on purpose (tens of milliseconds and 32 MiB of memory with
the default parameters). Async code calls :func:`hash_password_async` and
:func:`verify_password_async`, which run it in a worker thread; the
underlying library releases the GIL while it computes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import os
import re
import unicodedata
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = [
    "DEFAULT_PARAMS",
    "MAX_PASSWORD_LENGTH",
    "ScryptParams",
    "hash_password",
    "hash_password_async",
    "needs_rehash",
    "verify_password",
    "verify_password_async",
]

#: Longest password accepted, in characters. Far above any real passphrase;
#: it bounds the work an unauthenticated login attempt can ask for.
MAX_PASSWORD_LENGTH = 1024

_PREFIX = "scrypt"
_SALT_LENGTH = 16
_KEY_LENGTH = 32

# Bounds on what a stored string may ask of verify_password. A damaged or
# planted hash must not make a login allocate gigabytes: 128 * r * n bytes
# is the memory scrypt needs.
_MAX_MEMORY = 256 * 1024 * 1024
_MAX_R = 64
_MAX_P = 16
# A key is read at the length it was stored, so it may be lengthened later;
# below 16 bytes it would no longer be worth checking.
_MIN_SALT = 8
_MIN_KEY = 16
_MAX_BYTES = 64

_STORED = re.compile(
    r"scrypt\$n=([1-9][0-9]{0,9}),r=([1-9][0-9]{0,2}),p=([1-9][0-9]{0,2})"
    r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)"
)


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """Cost parameters of scrypt.

    Args:
        n: CPU and memory cost, a power of two greater than 1.
        r: Block size.
        p: Parallelism.

    Raises:
        ValueError: If a parameter is out of the range this module accepts.
    """

    n: int = 2**15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError("n must be a power of two greater than 1")
        if not 1 <= self.r <= _MAX_R or not 1 <= self.p <= _MAX_P:
            raise ValueError("r or p out of range")
        if 128 * self.r * self.n > _MAX_MEMORY:
            raise ValueError("parameters ask for too much memory")


#: The parameters of new hashes: 32 MiB and about 80 ms on a current core.
DEFAULT_PARAMS = ScryptParams()


def hash_password(password: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """Hash a password with a fresh random salt.

    Args:
        password: The password, at most :data:`MAX_PASSWORD_LENGTH`
            characters and not empty.
        params: The scrypt cost parameters to use.

    Returns:
        The self-describing string to store.

    Raises:
        ValueError: If the password is empty, too long or not encodable
            (a lone surrogate).
    """
    if not password:
        raise ValueError("empty password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError("password too long")
    secret = _encode(password)
    salt = os.urandom(_SALT_LENGTH)
    key = _derive(secret, salt, _KEY_LENGTH, params)
    return (
        f"{_PREFIX}$n={params.n},r={params.r},p={params.p}"
        f"${_b64encode(salt)}${_b64encode(key)}"
    )


def verify_password(password: str, stored: str) -> bool:
    """Tell whether a password matches a stored hash.

    The comparison takes the same time wherever the keys differ. The cost
    parameters are read from ``stored``.

    Args:
        password: The password offered.
        stored: A string made by :func:`hash_password`.

    Returns:
        True on a match. False on a mismatch, and also when ``stored`` is
        malformed or asks for parameters beyond this module's bounds, or
        when the password is too long or not encodable: none of these
        raise.
    """
    parsed = _parse(stored)
    if parsed is None or len(password) > MAX_PASSWORD_LENGTH:
        return False
    params, salt, key = parsed
    try:
        secret = _encode(password)
    except ValueError:
        return False
    candidate = _derive(secret, salt, len(key), params)
    return hmac.compare_digest(candidate, key)


def needs_rehash(stored: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """Tell whether a stored hash should be replaced by a new one.

    Args:
        stored: A string made by :func:`hash_password`.
        params: The parameters new hashes are made with.

    Returns:
        True if ``stored`` is malformed, or was made with other parameters
        or other salt or key lengths than new hashes get.
    """
    parsed = _parse(stored)
    if parsed is None:
        return True
    old, salt, key = parsed
    return old != params or len(salt) != _SALT_LENGTH or len(key) != _KEY_LENGTH


async def hash_password_async(
    password: str, params: ScryptParams = DEFAULT_PARAMS
) -> str:
    """Run :func:`hash_password` in a worker thread.

    Args:
        password: As for :func:`hash_password`.
        params: As for :func:`hash_password`.

    Raises:
        ValueError: As :func:`hash_password` does.
    """
    return await asyncio.to_thread(hash_password, password, params)


async def verify_password_async(password: str, stored: str) -> bool:
    """Run :func:`verify_password` in a worker thread.

    Args:
        password: As for :func:`verify_password`.
        stored: As for :func:`verify_password`.
    """
    return await asyncio.to_thread(verify_password, password, stored)


def _encode(password: str) -> bytes:
    # UnicodeEncodeError, for a lone surrogate, is a ValueError.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _derive(secret: bytes, salt: bytes, length: int, params: ScryptParams) -> bytes:
    kdf = Scrypt(salt=salt, length=length, n=params.n, r=params.r, p=params.p)
    return kdf.derive(secret)


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    match = _STORED.fullmatch(stored)
    if match is None:
        return None
    n, r, p, salt_text, key_text = match.groups()
    try:
        params = ScryptParams(int(n), int(r), int(p))
        salt = _b64decode(salt_text)
        key = _b64decode(key_text)
    except ValueError:
        return None
    if not _MIN_SALT <= len(salt) <= _MAX_BYTES:
        return None
    if not _MIN_KEY <= len(key) <= _MAX_BYTES:
        return None
    return params, salt, key


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    if len(text) % 4 == 1:
        raise ValueError("impossible base64 length")
    padded = text + "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
    except binascii.Error as exc:
        raise ValueError("bad base64") from exc
    # Only the canonical spelling of a value is accepted.
    if _b64encode(data) != text:
        raise ValueError("non-canonical base64")
    return data
