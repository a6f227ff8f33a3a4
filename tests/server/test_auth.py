"""Deciding on HELLOs with the users of a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lgserver.protocol.errors import CloseCode
from lgserver.protocol.messages import Hello
from lgserver.security import hash_password
from lgserver.server.auth import StoreAuthenticator
from lgserver.server.hub import Principal
from lgserver.store.interface import Role
from lgserver.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "lgserver.db")
    await store.create_user("ann", hash_password("s3cret pass"), Role.OPERATOR, "Ann")
    await store.create_user("bob", hash_password("another one"), Role.ADMIN, "Bob")
    await store.set_disabled("bob", True)
    try:
        yield store
    finally:
        await store.close()


def hello(auth: Any) -> Hello:
    return Hello(1, "test", auth, 1 << 20, [])


async def test_operators_and_customers_are_recognised(store: SqliteStore) -> None:
    decide = StoreAuthenticator(store)
    assert await decide(hello({"name": "ann", "password": "s3cret pass"})) == (
        Principal("operator", "ann", "Ann")
    )
    assert await decide(hello({"name": "ANN", "password": "s3cret pass"})) == (
        Principal("operator", "ann", "Ann")
    )
    assert await decide(hello({"visitor": "v-1234abcd"})) == (
        Principal("customer", "v-1234abcd")
    )


@pytest.mark.parametrize(
    "auth",
    [
        {"name": "ann", "password": "wrong"},
        {"name": "nobody", "password": "s3cret pass"},
        {"name": "bob", "password": "another one"},  # disabled
    ],
    ids=["wrong password", "unknown name", "disabled"],
)
async def test_refusals_say_the_same(store: SqliteStore, auth: Any) -> None:
    decide = StoreAuthenticator(store)
    assert await decide(hello(auth)) == (
        CloseCode.AUTH_FAILED,
        "wrong name or password",
    )


@pytest.mark.parametrize(
    "auth",
    [
        None,
        {},
        {"visitor": "short"},
        {"visitor": "<script>alert(1)</script>"},
        {"visitor": 12345678},
        {"name": "ann"},
        {"name": "ann", "password": 1},
        {"name": "ann", "password": "x", "extra": 1},
    ],
)
async def test_malformed_credentials_are_refused(store: SqliteStore, auth: Any) -> None:
    verdict = await StoreAuthenticator(store)(hello(auth))
    assert isinstance(verdict, tuple) and verdict[0] == CloseCode.AUTH_FAILED
