"""The commands that set lgserver up: init, users, departments and
predefined answers, each on a real database file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lgserver.__main__ import cli
from lgserver.security import verify_password
from lgserver.store import Role, SqliteStore, UserRecord


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LGSERVER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, prog_name="lgserver")


def users(tmp_path: Path) -> dict[str, UserRecord]:
    async def read() -> dict[str, UserRecord]:
        async with await SqliteStore.open(tmp_path / "data" / "lgserver.db") as store:
            return {user.name: user for user in await store.list_users()}

    return asyncio.run(read())


def test_init_makes_one_administrator(tmp_path: Path) -> None:
    made = run("init", "--generate-password")
    assert made.exit_code == 0, made.output
    password = made.output.split("with the password ")[1].split()[0]
    admin = users(tmp_path)["admin"]
    assert admin.role is Role.ADMIN
    assert verify_password(password, admin.password_hash)

    again = run("init", "--admin", "other", "--password-stdin", stdin="long enough\n")
    assert again.exit_code == 0 and "initialised already" in again.output
    assert set(users(tmp_path)) == {"admin"}


def test_users_are_added_changed_and_listed(tmp_path: Path) -> None:
    added = run("user", "add", "ann", "--password-stdin", stdin="a long password\n")
    assert added.exit_code == 0 and "Created operator 'ann'" in added.output
    taken = run("user", "add", "ANN", "--password-stdin", stdin="a long password\n")
    assert taken.exit_code == 1 and "exists already" in taken.output

    assert (
        run("user", "passwd", "ann", "--password-stdin", stdin="new secret\n").exit_code
        == 0
    )
    ann = users(tmp_path)["ann"]
    assert verify_password("new secret", ann.password_hash)
    assert run("user", "disable", "ann").exit_code == 0
    assert users(tmp_path)["ann"].disabled
    assert run("user", "disable", "ann", "--enable").exit_code == 0
    assert not users(tmp_path)["ann"].disabled
    missing = run("user", "passwd", "bob", "--password-stdin", stdin="whatever it is\n")
    assert missing.exit_code == 1 and "no user 'bob'" in missing.output
    listed = run("user", "list")
    assert listed.output.splitlines() == ["ann\toperator\tenabled\tann"]


def test_operators_are_given_departments(tmp_path: Path) -> None:
    run("user", "add", "ann", "--password-stdin", stdin="a long password\n")
    for name in ("sales", "support"):
        assert run("department", "add", name).exit_code == 0
    changed = run(
        "user", "set", "ann", "--departments", "support, sales", "--max-chats", "5"
    )
    assert changed.exit_code == 0, changed.output
    assert "ann serves sales, support; at most 5 chats at once" in changed.output
    ann = users(tmp_path)["ann"]
    assert (ann.departments, ann.max_chats, ann.priority) == (
        ("sales", "support"),
        5,
        0,
    )
    unknown = run("user", "set", "ann", "--departments", "nowhere")
    assert unknown.exit_code == 1 and "no department 'nowhere'" in unknown.output
    too_many = run("user", "set", "ann", "--max-chats", "1000")
    assert too_many.exit_code == 2
    assert users(tmp_path)["ann"].departments == ("sales", "support")


def test_departments(tmp_path: Path) -> None:
    added = run(
        "department",
        "add",
        "sales",
        "--title",
        "Sales team",
        "--routing",
        "assign",
        "--accept-timeout",
        "20",
        "--email",
        "sales@example.com",
    )
    assert added.exit_code == 0, added.output
    assert run("department", "add", "SALES").exit_code == 1
    assert run("department", "set", "sales", "--wait-limit", "90").exit_code == 0
    bad = run("department", "set", "sales", "--wait-limit", "0")
    assert bad.exit_code == 1 and "wait_limit" in bad.output
    assert run("department", "set", "nowhere", "--title", "x").exit_code == 1
    assert run("department", "add", "x", "--routing", "broadcast").exit_code == 2
    listed = run("department", "list")
    assert listed.output.splitlines() == [
        "sales\tassign\t20\t90\tsales@example.com\tSales team"
    ]


def test_predefined_answers() -> None:
    assert run("canned", "add", "hi", "Hello, how can I help?").exit_code == 0
    link = run(
        "canned", "add", "prices", "https://shop.example/p", "--link", "--title", "P"
    )
    assert link.exit_code == 0 and "Added link 'prices'" in link.output
    hostile = run("canned", "add", "x", "javascript:alert(1)", "--link")
    assert hostile.exit_code == 1 and "http or https" in hostile.output
    assert run("canned", "remove", "HI").exit_code == 0
    assert run("canned", "remove", "hi").exit_code == 1
    assert run("canned", "list").output.splitlines() == [
        "prices\tlink\tP\thttps://shop.example/p"
    ]
