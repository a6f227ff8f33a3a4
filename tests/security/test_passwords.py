"""Password hashes: round trips, mismatches, malformed strings, Unicode and
the length limit."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lgserver.security.passwords import (
    DEFAULT_PARAMS,
    MAX_PASSWORD_LENGTH,
    ScryptParams,
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password,
    verify_password_async,
)

# Most tests use cheap parameters: what is checked is the format and the
# comparison, not the cost.
CHEAP = ScryptParams(n=2**8, r=4, p=1)


def test_round_trip_with_default_parameters() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("scrypt$n=32768,r=8,p=1$")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    assert not needs_rehash(stored)


def test_format() -> None:
    stored = hash_password("secret", CHEAP)
    match = re.fullmatch(
        r"scrypt\$n=256,r=4,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})", stored
    )
    assert match is not None


def test_salt_is_random() -> None:
    first = hash_password("secret", CHEAP)
    second = hash_password("secret", CHEAP)
    assert first != second
    assert verify_password("secret", first)
    assert verify_password("secret", second)


@pytest.mark.parametrize("wrong", ["Secret", "secret ", "", "secre", "x" * 1024])
def test_wrong_password(wrong: str) -> None:
    assert not verify_password(wrong, hash_password("secret", CHEAP))


def test_parameters_are_read_from_the_stored_string() -> None:
    stronger = ScryptParams(n=2**9, r=8, p=2)
    stored = hash_password("secret", stronger)
    assert stored.startswith("scrypt$n=512,r=8,p=2$")
    assert verify_password("secret", stored)
    assert not needs_rehash(stored, stronger)
    assert needs_rehash(stored, CHEAP)
    assert needs_rehash(stored)


def test_key_length_is_read_from_the_stored_string() -> None:
    prefix, params, salt, key = hash_password("secret", CHEAP).split("$")
    shorter = f"{prefix}${params}${salt}${key[:32]}"
    assert verify_password("secret", shorter)
    assert not verify_password("secret!", shorter)
    assert needs_rehash(shorter, CHEAP)


def _parts(stored: str) -> list[str]:
    return stored.split("$")


def _malformed(stored: str) -> list[str]:
    prefix, params, salt, key = _parts(stored)
    return [
        "",
        "scrypt",
        "plain-text-password",
        f"bcrypt${params}${salt}${key}",
        f"{params}${salt}${key}",
        f"{prefix}${params}${salt}",
        f"{prefix}${params}${salt}${key}$",
        f"{prefix}${params}${salt}${key}$extra",
        f"{prefix}$n=256,r=4${salt}${key}",
        f"{prefix}$r=4,n=256,p=1${salt}${key}",
        f"{prefix}$n=255,r=4,p=1${salt}${key}",
        f"{prefix}$n=0256,r=4,p=1${salt}${key}",
        f"{prefix}$n=-256,r=4,p=1${salt}${key}",
        f"{prefix}$n=1,r=4,p=1${salt}${key}",
        f"{prefix}$n=256,r=0,p=1${salt}${key}",
        f"{prefix}$n=256,r=4,p=0${salt}${key}",
        # Parameters that would make a verification allocate far too much.
        f"{prefix}$n=1073741824,r=8,p=1${salt}${key}",
        f"{prefix}$n=256,r=999,p=1${salt}${key}",
        f"{prefix}$n=256,r=4,p=999${salt}${key}",
        f"{prefix}${params}${salt}==${key}",
        f"{prefix}${params}${salt}${key}=",
        f"{prefix}${params}${salt}${key[:-2]}",
        f"{prefix}${params}${salt}${key[:20]}",
        f"{prefix}${params}${salt}${key[:-1]}!",
        f"{prefix}${params}$${key}",
        f"{prefix}${params}${salt}$",
        f"{prefix}${params}$AAAA${key}",
        f"{prefix}${params}${salt}$AAAA",
        f"{prefix}${params}${'A' * 100}${key}",
        f"{prefix} ${params}${salt}${key}",
        f"{prefix}${params}${salt}${key}\n",
        f"{prefix}${params}${salt}${key}".upper(),
    ]


def test_malformed_stored_strings_never_verify() -> None:
    stored = hash_password("secret", CHEAP)
    for bad in _malformed(stored):
        assert not verify_password("secret", bad), bad
        assert needs_rehash(bad), bad


@settings(max_examples=20, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_round_trip_property(password: str) -> None:
    stored = hash_password(password, CHEAP)
    assert verify_password(password, stored)
    assert not verify_password(password + "x", stored)


def test_unicode() -> None:
    password = "pässwörd-密码-🔑"
    stored = hash_password(password, CHEAP)
    assert verify_password(password, stored)
    assert not verify_password("passwörd-密码-🔑", stored)


def test_composed_and_decomposed_forms_verify_alike() -> None:
    composed = "caf\u00e9"
    decomposed = "cafe\u0301"
    stored = hash_password(composed, CHEAP)
    assert verify_password(decomposed, stored)
    assert verify_password(composed, hash_password(decomposed, CHEAP))


def test_lone_surrogate() -> None:
    with pytest.raises(ValueError):
        hash_password("ab\ud800", CHEAP)
    assert not verify_password("ab\ud800", hash_password("ab", CHEAP))


def test_empty_password_is_refused() -> None:
    with pytest.raises(ValueError):
        hash_password("", CHEAP)


def test_length_limit() -> None:
    longest = "p" * MAX_PASSWORD_LENGTH
    stored = hash_password(longest, CHEAP)
    assert verify_password(longest, stored)
    with pytest.raises(ValueError):
        hash_password(longest + "p", CHEAP)
    assert not verify_password(longest + "p", stored)
    assert not verify_password("p" * 1_000_000, stored)


def test_needs_rehash() -> None:
    assert not needs_rehash(hash_password("secret", CHEAP), CHEAP)
    assert needs_rehash(hash_password("secret", CHEAP))
    assert needs_rehash("garbage")


def test_parameter_bounds() -> None:
    for n, r, p in [(0, 8, 1), (1, 8, 1), (3, 8, 1), (2**8, 0, 1), (2**8, 8, 0)]:
        with pytest.raises(ValueError):
            ScryptParams(n, r, p)
    with pytest.raises(ValueError):
        ScryptParams(n=2**20, r=8, p=1)
    assert (DEFAULT_PARAMS.n, DEFAULT_PARAMS.r, DEFAULT_PARAMS.p) == (2**15, 8, 1)


async def test_async_variants_run_concurrently() -> None:
    stored = await hash_password_async("secret", CHEAP)
    results = await asyncio.gather(
        verify_password_async("secret", stored),
        verify_password_async("wrong", stored),
        verify_password_async("secret", "malformed"),
    )
    assert list(results) == [True, False, False]
    with pytest.raises(ValueError):
        await hash_password_async("", CHEAP)
