"""The SQLite store: messages and their deduplication, group commit, failing
transactions, closing, users and the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lgserver.store import (
    Duplicate,
    MessageRecord,
    Role,
    SqliteStore,
    StoreClosed,
    StoreLimits,
    UserExists,
    UserNotFound,
    UserRecord,
    WriteFailed,
)


async def _append(
    store: SqliteStore, chat: str, sender: str, client_msg_id: str, body: bytes
) -> MessageRecord:
    result = await store.append_message(chat, sender, client_msg_id, body)
    assert isinstance(result, MessageRecord)
    return result


class Commits:
    """An on_commit hook that remembers every batch."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.seconds: list[float] = []

    def __call__(self, size: int, seconds: float) -> None:
        self.sizes.append(size)
        self.seconds.append(seconds)


# -- messages


async def test_append_and_list(store: SqliteStore) -> None:
    before = dt.datetime.now(dt.UTC)
    first = await _append(store, "chat-a", "customer:1", "c1", b"\x93\x01\x02")
    other = await _append(store, "chat-b", "operator:7", "o1", b"")
    second = await _append(store, "chat-a", "operator:7", "o2", b"\x00" * 1000)
    after = dt.datetime.now(dt.UTC)

    assert first.id < other.id < second.id
    assert (first.chat, first.sender, first.client_msg_id, first.body) == (
        "chat-a",
        "customer:1",
        "c1",
        b"\x93\x01\x02",
    )
    assert first.created_at.tzinfo is dt.UTC
    assert before - dt.timedelta(seconds=1) <= first.created_at <= after

    assert await store.list_messages("chat-a") == [first, second]
    assert await store.list_messages("chat-b") == [other]
    assert await store.list_messages("chat-c") == []
    assert await store.list_messages("chat-a", after_id=first.id) == [second]
    assert await store.list_messages("chat-a", limit=1) == [first]


async def test_listing_pages_through_a_long_chat(store: SqliteStore) -> None:
    sent = await asyncio.gather(
        *(_append(store, "long", "s", f"m{i}", b"x") for i in range(250))
    )
    pages: list[list[MessageRecord]] = []
    after_id = 0
    while page := await store.list_messages("long", after_id=after_id, limit=100):
        pages.append(page)
        after_id = page[-1].id
    assert [len(page) for page in pages] == [100, 100, 50]
    assert [m for page in pages for m in page] == sent


async def test_a_resent_message_is_a_duplicate(store: SqliteStore) -> None:
    first = await _append(store, "chat", "customer:1", "c1", b"hello")
    again = await store.append_message("chat", "customer:1", "c1", b"hello")
    assert again == Duplicate(first)

    # the first one wins, whatever the resent one carries
    changed = await store.append_message("other", "customer:1", "c1", b"bye")
    assert changed == Duplicate(first)

    # the client id is the sender's own: another sender may use it too
    other = await _append(store, "chat", "customer:2", "c1", b"hi")
    assert other.id > first.id

    assert await store.list_messages("chat") == [first, other]
    assert await store.list_messages("other") == []
    assert store.stats.duplicates == 2


async def test_duplicates_within_one_batch(db_path: Path) -> None:
    commits = Commits()
    async with await SqliteStore.open(db_path, on_commit=commits) as store:
        old = await _append(store, "chat", "s", "old", b"0")
        results = await asyncio.gather(
            store.append_message("chat", "s", "new", b"1"),
            store.append_message("chat", "s", "old", b"2"),
            store.append_message("chat", "s", "new", b"3"),
            store.append_message("chat", "s", "old", b"4"),
            store.append_message("chat", "s", "newer", b"5"),
        )
        assert commits.sizes == [1, 5]

        new, newer = results[0], results[4]
        assert isinstance(new, MessageRecord)
        assert isinstance(newer, MessageRecord)
        expected = [new, Duplicate(old), Duplicate(new), Duplicate(old), newer]
        assert list(results) == expected
        assert new.body == b"1"
        assert await store.list_messages("chat") == [old, new, newer]
        assert store.stats.duplicates == 3


async def test_concurrent_appends_share_commits(db_path: Path) -> None:
    commits = Commits()
    async with await SqliteStore.open(db_path, on_commit=commits) as store:
        results = await asyncio.gather(
            *(
                _append(store, "busy", f"customer:{i % 7}", f"m{i}", i.to_bytes(2))
                for i in range(500)
            )
        )

        # far fewer commits than messages, none beyond the batch limit
        assert sum(commits.sizes) == 500
        assert len(commits.sizes) < 500 / 10
        assert max(commits.sizes) <= 256
        assert all(seconds > 0 for seconds in commits.seconds)

        # ids follow the order of the calls, and all are readable in it
        ids = [record.id for record in results]
        assert ids == sorted(ids)
        stored = await store.list_messages("busy", limit=1000)
        assert stored == results
        assert [int.from_bytes(m.body) for m in stored] == list(range(500))

        stats = store.stats
        assert stats.commits == len(commits.sizes)
        assert stats.writes == 500
        assert stats.failed_batches == 0
        assert stats.commit_seconds_total == pytest.approx(sum(commits.seconds))
        assert stats.commit_seconds_max == max(commits.seconds)


async def test_batch_limit(db_path: Path) -> None:
    commits = Commits()
    async with await SqliteStore.open(
        db_path, max_batch=10, on_commit=commits
    ) as store:
        await asyncio.gather(
            *(_append(store, "c", "s", f"m{i}", b"") for i in range(95))
        )
    assert sum(commits.sizes) == 95
    assert max(commits.sizes) == 10
    assert len(commits.sizes) >= 10


async def test_a_lone_write_is_committed_at_once(db_path: Path) -> None:
    commits = Commits()
    async with await SqliteStore.open(db_path, on_commit=commits) as store:
        for i in range(3):
            await _append(store, "quiet", "s", f"m{i}", b"")
    assert commits.sizes == [1, 1, 1]


# -- failures


def _refuse_body(path: Path, body_hex: str) -> None:
    # A trigger added from outside makes inserting one body fail, as a full
    # disk or a damaged file would make a real transaction fail.
    conn = sqlite3.connect(path)
    conn.execute(
        f"CREATE TRIGGER refuse BEFORE INSERT ON messages"
        f" WHEN NEW.body = x'{body_hex}'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    conn.commit()
    conn.close()


async def test_a_failing_batch_fails_all_its_writes(db_path: Path) -> None:
    commits = Commits()
    async with await SqliteStore.open(db_path, on_commit=commits) as store:
        before = await _append(store, "chat", "s", "before", b"ok")
        _refuse_body(db_path, "dead")

        results = await asyncio.gather(
            store.append_message("chat", "s", "a", b"ok"),
            store.create_user("ann", "hash", Role.OPERATOR, "Ann"),
            store.append_message("chat", "s", "b", b"\xde\xad"),
            store.append_message("chat", "s", "c", b"ok"),
            store.record_audit("system", "test", {}),
            return_exceptions=True,
        )
        assert commits.sizes == [1]
        for result in results:
            assert isinstance(result, WriteFailed)
            assert isinstance(result.__cause__, sqlite3.IntegrityError)
        assert len({id(r) for r in results}) == len(results)
        assert store.stats.failed_batches == 1

        # nothing of the batch was stored, and the writer goes on
        assert await store.list_messages("chat") == [before]
        assert await store.get_user_by_name("ann") is None
        assert await store.list_audit() == []
        after = await _append(store, "chat", "s", "a", b"ok")
        assert await store.create_user("ann", "hash", Role.OPERATOR, "Ann")
        assert await store.list_messages("chat") == [before, after]
        assert commits.sizes == [1, 1, 1]


async def test_a_locked_database_fails_the_batch_then_recovers(db_path: Path) -> None:
    async with await SqliteStore.open(db_path, busy_timeout=0.05) as store:
        # another process holds the write lock longer than the store waits
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        results = await asyncio.gather(
            *(store.append_message("c", "s", f"m{i}", b"") for i in range(3)),
            return_exceptions=True,
        )
        for result in results:
            assert isinstance(result, WriteFailed)
            assert isinstance(result.__cause__, sqlite3.OperationalError)
            assert "locked" in str(result)
        other.execute("ROLLBACK")
        other.close()

        stored = await asyncio.gather(
            *(_append(store, "c", "s", f"m{i}", b"") for i in range(3))
        )
        assert await store.list_messages("c") == stored
        assert store.stats.failed_batches >= 1


async def test_one_write_failing_alone_leaves_its_batch(db_path: Path) -> None:
    commits = Commits()
    async with await SqliteStore.open(db_path, on_commit=commits) as store:
        results = await asyncio.gather(
            store.append_message("c", "s", "m1", b""),
            store.create_user("ann", "h", Role.ADMIN, "Ann"),
            store.create_user("ANN", "h", Role.OPERATOR, "Other Ann"),
            store.set_password("nobody", "h"),
            store.append_message("c", "s", "m2", b""),
            return_exceptions=True,
        )
        assert commits.sizes == [5]
        m1, ann, taken, missing, m2 = results
        assert isinstance(m1, MessageRecord)
        assert isinstance(m2, MessageRecord)
        assert isinstance(ann, UserRecord)
        assert isinstance(taken, UserExists)
        assert isinstance(missing, UserNotFound)
        assert await store.list_messages("c") == [m1, m2]
        assert await store.list_users() == [ann]


async def test_a_failing_hook_is_logged_and_ignored(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(size: int, seconds: float) -> None:
        raise RuntimeError("broken hook")

    async with await SqliteStore.open(db_path, on_commit=hook) as store:
        with caplog.at_level(logging.ERROR, logger="lgserver.store"):
            await _append(store, "c", "s", "m", b"")
            await _append(store, "c", "s", "n", b"")
    failures = [r for r in caplog.records if r.name == "lgserver.store"]
    assert len(failures) == 2
    assert failures[0].exc_info is not None


async def test_a_cancelled_caller_does_not_stop_the_writer(store: SqliteStore) -> None:
    task = asyncio.create_task(store.append_message("c", "s", "cancelled", b""))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await _append(store, "c", "s", "next", b"")
    assert (await store.list_messages("c"))[-1] == record


# -- closing


async def test_close_commits_what_is_queued(db_path: Path) -> None:
    store = await SqliteStore.open(db_path, max_batch=16)
    tasks = [
        asyncio.create_task(store.append_message("c", "s", f"m{i}", b"x"))
        for i in range(200)
    ]
    await asyncio.sleep(0)
    await store.close()
    results = [task.result() for task in tasks]
    assert all(isinstance(r, MessageRecord) for r in results)

    async with await SqliteStore.open(db_path) as reopened:
        stored = await reopened.list_messages("c", limit=1000)
    assert [m.client_msg_id for m in stored] == [f"m{i}" for i in range(200)]


async def test_close_waits_for_callers_blocked_on_a_full_queue(db_path: Path) -> None:
    store = await SqliteStore.open(db_path, max_queue=5, max_batch=2)
    tasks = [
        asyncio.create_task(store.append_message("c", "s", f"m{i}", b""))
        for i in range(50)
    ]
    await asyncio.sleep(0)
    await store.close()
    assert all(isinstance(task.result(), MessageRecord) for task in tasks)


async def test_a_closed_store_refuses_work(db_path: Path) -> None:
    store = await SqliteStore.open(db_path)
    await store.close()
    await store.close()
    with pytest.raises(StoreClosed):
        await store.append_message("c", "s", "m", b"")
    with pytest.raises(StoreClosed):
        await store.list_messages("c")
    with pytest.raises(StoreClosed):
        await store.create_user("ann", "h", Role.ADMIN, "Ann")
    with pytest.raises(StoreClosed):
        await store.get_user_by_name("ann")


async def test_concurrent_closes(db_path: Path) -> None:
    store = await SqliteStore.open(db_path)
    pending = asyncio.create_task(store.append_message("c", "s", "m", b""))
    await asyncio.sleep(0)
    await asyncio.gather(store.close(), store.close(), store.close())
    assert isinstance(pending.result(), MessageRecord)


# -- limits


async def test_message_limits(db_path: Path) -> None:
    limits = StoreLimits(max_body=100, max_key=8, max_page=50)
    async with await SqliteStore.open(db_path, limits=limits) as store:
        await _append(store, "12345678", "s", "m", b"x" * 100)
        bad = [
            ("c", "s", "m2", b"x" * 101),
            ("123456789", "s", "m2", b""),
            ("c", "s" * 9, "m2", b""),
            ("c", "s", "é" * 5, b""),
            ("", "s", "m2", b""),
            ("c", "", "m2", b""),
            ("c", "s", "", b""),
            ("c", "s", "bad\ud800", b""),
        ]
        for chat, sender, client_msg_id, body in bad:
            with pytest.raises(ValueError):
                await store.append_message(chat, sender, client_msg_id, body)
        for limit in (0, -1, 51):
            with pytest.raises(ValueError):
                await store.list_messages("c", limit=limit)
        assert len(await store.list_messages("12345678", limit=50)) == 1
        assert store.stats.writes == 1


# -- users


async def test_users(store: SqliteStore) -> None:
    ann = await store.create_user("Ann", "scrypt$1", Role.ADMIN, "Ann A.")
    bob = await store.create_user("bob", "scrypt$2", Role.OPERATOR, "Bob")

    assert ann.name == "Ann"
    assert ann.role is Role.ADMIN
    assert not ann.disabled
    assert ann.created_at.tzinfo is dt.UTC
    assert "scrypt$1" not in repr(ann)

    # names are found regardless of ASCII case, and listed by name
    assert await store.get_user_by_name("ann") == ann
    assert await store.get_user_by_name("ANN") == ann
    assert await store.get_user_by_name("carol") is None
    assert await store.list_users() == [ann, bob]

    await store.set_password("ANN", "scrypt$3")
    await store.set_disabled("bob", True)
    ann2 = await store.get_user_by_name("Ann")
    bob2 = await store.get_user_by_name("bob")
    assert ann2 is not None
    assert bob2 is not None
    assert ann2.password_hash == "scrypt$3"
    assert bob2.disabled
    assert bob2.display_name == "Bob"

    await store.set_disabled("bob", False)
    bob3 = await store.get_user_by_name("bob")
    assert bob3 is not None
    assert not bob3.disabled


async def test_user_errors(store: SqliteStore) -> None:
    await store.create_user("ann", "h", Role.ADMIN, "Ann")
    for name in ("ann", "ANN", "aNn"):
        with pytest.raises(UserExists) as caught:
            await store.create_user(name, "h", Role.OPERATOR, "Another")
        assert caught.value.name == name
    with pytest.raises(UserNotFound) as missing:
        await store.set_password("bob", "h")
    assert missing.value.name == "bob"
    with pytest.raises(UserNotFound):
        await store.set_disabled("bob", True)
    assert [user.name for user in await store.list_users()] == ["ann"]


@pytest.mark.parametrize("name", ["", " ann", "ann ", "a\tb", "a\nb", "x" * 65])
async def test_malformed_user_names(store: SqliteStore, name: str) -> None:
    with pytest.raises(ValueError):
        await store.create_user(name, "h", Role.OPERATOR, "Someone")


async def test_roles(store: SqliteStore) -> None:
    role: Any = "operator"  # a plain string, as a caller might pass
    user = await store.create_user("op", "h", role, "Op")
    assert user.role is Role.OPERATOR
    with pytest.raises(ValueError):
        await store.create_user("root", "h", "root", "Root")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.set_password("op", "")


# -- login tokens

LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def digest(n: int) -> bytes:
    return bytes([n]) * 32


async def test_login_tokens(store: SqliteStore) -> None:
    await store.create_user("Ann", "h", Role.OPERATOR, "Ann")
    await store.create_user("bob", "h", Role.OPERATOR, "Bob")
    first = await store.create_login_token("ann", digest(1), "laptop", LATER)
    second = await store.create_login_token("ANN", digest(2), "", LATER)
    other = await store.create_login_token("bob", digest(3), "phone", LATER)

    # found by digest, named by the user's own spelling
    assert first.user == "Ann"
    assert first.expires_at == LATER
    assert first.created_at.tzinfo is dt.UTC
    assert first.last_used_at is None
    assert await store.find_login_token(digest(1)) == first
    assert await store.find_login_token(digest(9)) is None
    assert await store.list_login_tokens("ann") == [first, second]
    assert await store.list_login_tokens("nobody") == []

    await store.touch_login_token(first.id)
    touched = await store.find_login_token(digest(1))
    assert touched is not None and touched.last_used_at is not None
    assert touched.last_used_at >= first.created_at
    await store.touch_login_token(12345)  # gone: nothing happens

    assert await store.delete_login_token(second.id)
    assert not await store.delete_login_token(second.id)
    assert await store.list_login_tokens("ann") == [touched]
    assert await store.list_login_tokens("bob") == [other]


async def test_a_password_change_or_disabling_ends_the_tokens(
    store: SqliteStore,
) -> None:
    await store.create_user("ann", "h", Role.OPERATOR, "Ann")
    await store.create_user("bob", "h", Role.OPERATOR, "Bob")
    await store.create_login_token("ann", digest(1), "", LATER)
    bobs = await store.create_login_token("bob", digest(2), "", LATER)

    await store.set_password("ann", "h2")
    assert await store.list_login_tokens("ann") == []
    assert await store.list_login_tokens("bob") == [bobs]

    await store.set_disabled("bob", False)  # enabling keeps them
    assert await store.list_login_tokens("bob") == [bobs]
    await store.set_disabled("bob", True)
    assert await store.find_login_token(digest(2)) is None


async def test_issuing_drops_expired_and_surplus_tokens(store: SqliteStore) -> None:
    await store.create_user("ann", "h", Role.OPERATOR, "Ann")
    past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    await store.create_login_token("ann", digest(1), "old", past)
    kept = [await store.create_login_token("ann", digest(2), "", LATER)]
    assert [t.description for t in await store.list_login_tokens("ann")] == [""]

    for n in range(3, 8):
        kept.append(await store.create_login_token("ann", digest(n), "", LATER, keep=3))
    assert await store.list_login_tokens("ann") == kept[-3:]


async def test_login_token_errors(store: SqliteStore) -> None:
    await store.create_user("ann", "h", Role.OPERATOR, "Ann")
    with pytest.raises(UserNotFound):
        await store.create_login_token("bob", digest(1), "", LATER)
    with pytest.raises(ValueError):
        await store.create_login_token("ann", b"short", "", LATER)
    with pytest.raises(ValueError):
        await store.create_login_token("ann", digest(1), "x" * 300, LATER)
    with pytest.raises(ValueError):
        await store.create_login_token("ann", digest(1), "", dt.datetime(2100, 1, 1))
    with pytest.raises(ValueError):
        await store.create_login_token("ann", digest(1), "", LATER, keep=0)
    await store.create_login_token("ann", digest(1), "", LATER)
    with pytest.raises(WriteFailed):  # the digest is unique
        await store.create_login_token("ann", digest(1), "", LATER)
    assert len(await store.list_login_tokens("ann")) == 1


# -- audit log


async def test_audit_log(store: SqliteStore) -> None:
    first = await store.record_audit(
        "ann", "user.create", {"name": "bob", "roles": ["operator"], "n": 1}
    )
    second = await store.record_audit("system", "store.open", {"note": "héllo"})
    assert first.id < second.id
    assert first.detail == {"n": 1, "name": "bob", "roles": ["operator"]}
    assert first.at.tzinfo is dt.UTC

    assert await store.list_audit() == [first, second]
    assert await store.list_audit(after_id=first.id) == [second]
    assert await store.list_audit(limit=1) == [first]


async def test_audit_details_must_be_json(store: SqliteStore) -> None:
    with pytest.raises(TypeError):
        await store.record_audit("ann", "x", {"what": object()})
    with pytest.raises(ValueError):
        await store.record_audit("ann", "x", {"what": float("nan")})
    with pytest.raises(ValueError):
        await store.record_audit("ann", "x", {"what": "x" * 70_000})
    with pytest.raises(ValueError):
        await store.record_audit("", "x", {})
    assert await store.list_audit() == []
