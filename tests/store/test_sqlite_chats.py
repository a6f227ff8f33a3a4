"""The SQLite store's live-chat records: departments and who serves them,
chats and their handovers, messages left, bans and predefined answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from lgserver.store import (
    CannedKind,
    Exists,
    NotFound,
    Role,
    Routing,
    SqliteStore,
    UserNotFound,
)
from lgserver.store._schema import MIGRATIONS

# -- departments and operators


async def test_departments(store: SqliteStore) -> None:
    sales = await store.create_department(
        "sales", "Sales", Routing.ASSIGN, accept_timeout=20, email="s@example.com"
    )
    assert (sales.name, sales.title, sales.routing) == ("sales", "Sales", "assign")
    assert (sales.accept_timeout, sales.wait_limit) == (20.0, 300.0)
    await store.create_department("support", "Support")
    with pytest.raises(Exists):
        await store.create_department("SALES", "Again")

    changed = await store.update_department("Sales", wait_limit=60, title="Shop")
    assert (changed.title, changed.wait_limit, changed.routing) == (
        "Shop",
        60.0,
        Routing.ASSIGN,
    )
    assert await store.get_department("SALES") == changed
    assert [d.name for d in await store.list_departments()] == ["sales", "support"]
    with pytest.raises(NotFound):
        await store.update_department("nowhere", title="x")


@pytest.mark.parametrize(
    "settings",
    [
        {"accept_timeout": 0},
        {"wait_limit": -1},
        {"wait_limit": float("nan")},
        {"title": ""},
        {"routing": "broadcast"},
    ],
)
async def test_bad_department_settings(
    store: SqliteStore, settings: dict[str, object]
) -> None:
    arguments: dict[str, object] = {"name": "d", "title": "D", **settings}
    with pytest.raises(ValueError):
        await store.create_department(**arguments)  # type: ignore[arg-type]
    assert await store.list_departments() == []


async def test_operators_serve_departments(store: SqliteStore) -> None:
    await store.create_user("ann", "hash", Role.OPERATOR, "Ann")
    for name in ("sales", "support"):
        await store.create_department(name, name.title())
    fresh = await store.get_user_by_name("ann")
    assert fresh is not None
    assert (fresh.departments, fresh.max_chats, fresh.priority) == ((), 3, 0)

    ann = await store.set_operator(
        "ann", departments=["support", "sales", "sales"], max_chats=5, priority=2
    )
    assert (ann.departments, ann.max_chats, ann.priority) == (
        ("sales", "support"),
        5,
        2,
    )
    ann = await store.set_operator("ann", departments=["support"])
    assert (ann.departments, ann.max_chats) == (("support",), 5)
    assert (await store.list_users())[0].departments == ("support",)

    with pytest.raises(NotFound) as missing:
        await store.set_operator("ann", departments=["support", "nowhere"])
    assert missing.value.key == "nowhere"
    still = await store.get_user_by_name("ann")
    assert still is not None and still.departments == ("support",)
    with pytest.raises(UserNotFound):
        await store.set_operator("bob", max_chats=2)
    for bad in ({"max_chats": 0}, {"max_chats": 101}, {"priority": 101}):
        with pytest.raises(ValueError):
            await store.set_operator("ann", **bad)  # type: ignore[arg-type]


# -- chats


async def test_a_chat_from_call_to_end(store: SqliteStore) -> None:
    chat = await store.create_chat(
        "sales",
        "visitor-1",
        customer_name="Zoë",
        address="192.0.2.7",
        country="FR",
        origin_url="https://shop.example/cart?x=1",
    )
    assert len(chat.id) == 16 and chat.accepted_at is None and chat.outcome == ""
    assert await store.get_chat(chat.id) == chat

    held = await store.hand_over(chat.id, "ann")
    assert held.operator == "ann" and held.accepted_at is not None
    moved = await store.hand_over(chat.id, "bob", "wants a refund")
    assert moved.operator == "bob" and moved.accepted_at == held.accepted_at
    assert [(o, n) for o, _, n in await store.list_handovers(chat.id)] == [
        ("ann", ""),
        ("bob", "wants a refund"),
    ]

    ended = await store.end_chat(chat.id, "served")
    assert ended.outcome == "served" and ended.ended_at is not None
    again = await store.end_chat(chat.id, "abandoned")
    assert again == ended
    with pytest.raises(NotFound):
        await store.hand_over(chat.id, "carl")
    with pytest.raises(NotFound):
        await store.end_chat("forged-id", "served")
    assert await store.get_chat("forged-id") is None


async def test_a_chat_moves_to_another_department(store: SqliteStore) -> None:
    chat = await store.create_chat("sales", "visitor-1")
    await store.hand_over(chat.id, "ann")
    moved = await store.move_chat(chat.id, "support")
    assert moved.department == "support" and moved.operator == "ann"
    assert await store.get_chat(chat.id) == moved
    with pytest.raises(ValueError):
        await store.move_chat(chat.id, "")
    await store.end_chat(chat.id, "served")
    with pytest.raises(NotFound):
        await store.move_chat(chat.id, "sales")
    with pytest.raises(NotFound):
        await store.move_chat("forged-id", "sales")


async def test_open_chats_are_ended_at_once(store: SqliteStore) -> None:
    waiting = await store.create_chat("sales", "visitor-1")
    served = await store.create_chat("sales", "visitor-2")
    await store.hand_over(served.id, "ann")
    done = await store.end_chat(
        (await store.create_chat("sales", "visitor-3")).id, "served"
    )
    closed = await store.end_open_chats("interrupted")
    assert closed == sorted([waiting.id, served.id])
    for chat in (waiting, served):
        record = await store.get_chat(chat.id)
        assert record is not None and record.outcome == "interrupted"
        assert record.ended_at is not None
    assert await store.get_chat(done.id) == done
    assert await store.end_open_chats("interrupted") == []
    with pytest.raises(ValueError):
        await store.end_open_chats("")


async def test_chat_ids_are_random(store: SqliteStore) -> None:
    chats = await asyncio.gather(*(store.create_chat("sales", "v") for _ in range(50)))
    assert len({chat.id for chat in chats}) == 50


async def test_a_visitors_history_is_newest_first(store: SqliteStore) -> None:
    first = await store.create_chat("sales", "visitor-1")
    await store.create_chat("sales", "visitor-2")
    second = await store.create_chat("support", "visitor-1")
    history = await store.list_visitor_chats("visitor-1")
    assert [chat.id for chat in history] == [second.id, first.id]
    assert len(await store.list_visitor_chats("visitor-1", limit=1)) == 1
    with pytest.raises(ValueError):
        await store.list_visitor_chats("visitor-1", limit=0)


async def test_bad_chats_are_refused(store: SqliteStore) -> None:
    with pytest.raises(ValueError):
        await store.create_chat("", "visitor-1")
    with pytest.raises(ValueError):
        await store.create_chat("sales", "visitor-1", origin_url="x" * 5000)
    assert await store.list_visitor_chats("visitor-1") == []


# -- messages left, bans, predefined answers


async def test_messages_left(store: SqliteStore) -> None:
    left = await store.leave_message(
        "sales", "visitor-1", "Zoë", "zoe@example.com", "Call me back", chat="c1"
    )
    assert (left.department, left.chat, left.text) == ("sales", "c1", "Call me back")
    other = await store.leave_message("support", "v2", "", "v2@example.com", "Hi")
    assert await store.list_left_messages() == [left, other]
    assert await store.list_left_messages(after_id=left.id) == [other]
    with pytest.raises(ValueError):
        await store.leave_message("sales", "v", "n", "e@example.com", "")
    with pytest.raises(ValueError):
        await store.leave_message("sales", "v", "n", "", "text")


async def test_bans(store: SqliteStore) -> None:
    by_visitor = await store.add_ban(
        visitor="visitor-1", reason="abuse", created_by="ann", seconds=3600
    )
    by_address = await store.add_ban(
        address="192.0.2.9", reason="spam", created_by="ann", seconds=0.2
    )
    assert by_visitor.expires_at - by_visitor.created_at == dt.timedelta(hours=1)
    assert await store.find_ban("visitor-1", "203.0.113.1") == by_visitor
    assert await store.find_ban("visitor-2", "192.0.2.9") == by_address
    assert await store.find_ban("visitor-2", "203.0.113.1") is None
    assert await store.find_ban("", "") is None  # empty never matches
    assert [b.id for b in await store.list_bans()] == [by_address.id, by_visitor.id]

    await asyncio.sleep(0.3)
    assert await store.find_ban("visitor-2", "192.0.2.9") is None
    lifted = await store.lift_ban(by_visitor.id)
    assert lifted.lifted_at is not None
    assert await store.find_ban("visitor-1", "") is None
    assert await store.list_bans() == []
    assert len(await store.list_bans(active_only=False)) == 2
    with pytest.raises(NotFound):
        await store.lift_ban(9999)
    with pytest.raises(ValueError):
        await store.add_ban(reason="none", created_by="ann", seconds=60)
    with pytest.raises(ValueError):
        await store.add_ban(visitor="v", reason="", created_by="ann", seconds=0)
    forever = await store.add_ban(
        visitor="v", reason="", created_by="ann", seconds=1e30
    )
    assert forever.expires_at.year > 2100


async def test_predefined_answers(store: SqliteStore) -> None:
    hello = await store.add_canned(CannedKind.TEXT, "hi", "Greeting", "Hello!")
    link = await store.add_canned(
        CannedKind.LINK, "Prices", "Price list", "https://shop.example/prices"
    )
    assert await store.list_canned() == [hello, link]
    with pytest.raises(Exists):
        await store.add_canned(CannedKind.TEXT, "HI", "Again", "Hello again")
    for bad in ("javascript:alert(1)", "ftp://x.example/", "https://"):
        with pytest.raises(ValueError):
            await store.add_canned(CannedKind.LINK, "bad", "Bad", bad)
    await store.remove_canned("prices")
    assert await store.list_canned() == [hello]
    with pytest.raises(NotFound):
        await store.remove_canned("prices")


# -- the migration from the first schema


async def test_a_database_of_the_first_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.execute(
        "INSERT INTO users (name, password_hash, role, display_name, created_at)"
        " VALUES ('ann', 'h', 'operator', 'Ann', 0)"
    )
    connection.close()

    store = await SqliteStore.open(path)
    try:
        ann = await store.get_user_by_name("ann")
        assert ann is not None
        assert (ann.departments, ann.max_chats, ann.priority) == ((), 3, 0)
        await store.create_department("sales", "Sales")
        ann = await store.set_operator("ann", departments=["sales"])
        assert ann.departments == ("sales",)
    finally:
        await store.close()
