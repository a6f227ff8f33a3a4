"""The commands that run and administer a server: ``serve``, ``init`` and
``user``, on the click group of :mod:`lgserver.cli`."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TypeVar

import click
import uvloop

from .chat.forms import FormsError
from .cli import FAILURE, cli, config_option, obtain_config
from .config import Config
from .daemon import DATABASE, serve
from .logs import configure
from .security import hash_password
from .store.errors import StoreError
from .store.interface import CannedKind, Role, Routing
from .store.sqlite import SqliteStore
from .tls import CertificateError

__all__ = ["init", "serve_command", "user_group"]

T = TypeVar("T")

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The data directory, instead of server.data_dir.",
)


def _config(config_path: Path | None, data_dir: Path | None) -> Config:
    config = obtain_config(config_path)
    if data_dir is not None:
        server = dataclasses.replace(config.server, data_dir=data_dir)
        config = dataclasses.replace(config, server=server)
    return config


def _run(work: Callable[[], Coroutine[object, object, T]]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work())


async def _with_store(
    config: Config, action: Callable[[SqliteStore], Awaitable[T]]
) -> T:
    data_dir = config.server.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    async with await SqliteStore.open(data_dir / DATABASE) as store:
        return await action(store)


def _read_password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.UsageError("a password needs at least 8 characters")
    return password


@cli.command("serve")
@_data_dir_option
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines for people or for machines, instead of log.format.",
)
@config_option
def serve_command(
    data_dir: Path | None, log_format: str | None, config_path: Path | None
) -> None:
    """Run the server in the foreground until SIGTERM or SIGINT."""
    config = _config(config_path, data_dir)
    configure(config.log.level_number, log_format or config.log.format)
    try:
        _run(lambda: serve(config, own_process=True))
    except (StoreError, CertificateError, FormsError, OSError) as exc:
        click.echo(f"lgserver: cannot start: {exc}", err=True)
        raise click.exceptions.Exit(FAILURE) from None


@cli.command("init")
@_data_dir_option
@click.option("--admin", default="admin", show_default=True, help="Its login name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option(
    "--generate-password",
    is_flag=True,
    help="Make a random password and print it once.",
)
@config_option
def init(
    data_dir: Path | None,
    admin: str,
    password_stdin: bool,
    generate_password: bool,
    config_path: Path | None,
) -> None:
    """Create the data directory, the database and the first administrator."""
    config = _config(config_path, data_dir)
    if generate_password:
        password = secrets.token_urlsafe(12)
    else:
        password = _read_password(password_stdin, "Password of the administrator")

    async def create(store: SqliteStore) -> bool:
        if any(user.role is Role.ADMIN for user in await store.list_users()):
            return False
        await store.create_user(admin, hash_password(password), Role.ADMIN, admin)
        return True

    try:
        created = _run(lambda: _with_store(config, create))
    except (StoreError, ValueError) as exc:
        click.echo(f"lgserver: {exc}", err=True)
        raise click.exceptions.Exit(FAILURE) from None
    if not created:
        click.echo("lgserver is initialised already: an administrator exists.")
        return
    click.echo(f"Created {config.server.data_dir / DATABASE}.")
    if generate_password:
        click.echo(f"Log in as {admin!r} with the password {password}")
        click.echo(f"and change it: lgserver user passwd {admin}")
    else:
        click.echo(f"Log in as {admin!r}.")


@cli.group("user")
def user_group() -> None:
    """Manage the operators and administrators."""


@user_group.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    default=Role.OPERATOR.value,
    show_default=True,
)
@click.option(
    "--display-name", default=None, help="Shown to others; the name by default."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@_data_dir_option
@config_option
def user_add(  # noqa: PLR0917 (click passes every option as an argument)
    name: str,
    role: str,
    display_name: str | None,
    password_stdin: bool,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Create a user."""
    config = _config(config_path, data_dir)
    password = _read_password(password_stdin, f"Password of {name}")

    async def add(store: SqliteStore) -> None:
        await store.create_user(
            name, hash_password(password), Role(role), display_name or name
        )

    _administer(config, add, f"Created {role} {name!r}.")


@user_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@_data_dir_option
@config_option
def user_passwd(
    name: str, password_stdin: bool, data_dir: Path | None, config_path: Path | None
) -> None:
    """Set a user's password, ending the user's login tokens."""
    config = _config(config_path, data_dir)
    password = _read_password(password_stdin, f"New password of {name}")

    async def change(store: SqliteStore) -> None:
        await store.set_password(name, hash_password(password))
        await store.record_audit("system", "user.passwd", {"name": name})

    _administer(
        config, change, f"Changed the password of {name!r}; its login tokens end."
    )


@user_group.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
@_data_dir_option
@config_option
def user_disable(
    name: str, enable: bool, data_dir: Path | None, config_path: Path | None
) -> None:
    """Stop a user from logging in, ending the user's login tokens (or, with
    --enable, allow it again)."""
    config = _config(config_path, data_dir)

    async def change(store: SqliteStore) -> None:
        await store.set_disabled(name, not enable)
        action = "user.enable" if enable else "user.disable"
        await store.record_audit("system", action, {"name": name})

    state = "Enabled" if enable else "Disabled"
    _administer(config, change, f"{state} {name!r}.")


@user_group.command("list")
@_data_dir_option
@config_option
def user_list(data_dir: Path | None, config_path: Path | None) -> None:
    """List the users."""
    config = _config(config_path, data_dir)

    async def show(store: SqliteStore) -> None:
        for user in await store.list_users():
            state = "disabled" if user.disabled else "enabled"
            click.echo(f"{user.name}\t{user.role}\t{state}\t{user.display_name}")

    _administer(config, show, None)


@user_group.command("set")
@click.argument("name")
@click.option(
    "--departments",
    default=None,
    help="The departments the user serves, comma-separated (replaces the old).",
)
@click.option("--max-chats", type=click.IntRange(1, 100), default=None)
@click.option("--priority", type=click.IntRange(-100, 100), default=None)
@_data_dir_option
@config_option
def user_set(  # noqa: PLR0917
    name: str,
    departments: str | None,
    max_chats: int | None,
    priority: int | None,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Set which departments a user serves, how many chats at once, and
    their priority among operators otherwise equal."""
    config = _config(config_path, data_dir)
    wanted = None if departments is None else _names(departments)

    async def change(store: SqliteStore) -> None:
        user = await store.set_operator(
            name, departments=wanted, max_chats=max_chats, priority=priority
        )
        click.echo(
            f"{user.name} serves {', '.join(user.departments) or 'no department'};"
            f" at most {user.max_chats} chats at once; priority {user.priority}."
        )

    _administer(config, change, None)


@cli.group("department")
def department_group() -> None:
    """Manage the departments: their queues and how calls are routed."""


_ROUTING = click.Choice([routing.value for routing in Routing])


@department_group.command("add")
@click.argument("name")
@click.option("--title", default=None, help="Shown to customers; the name by default.")
@click.option(
    "--routing", type=_ROUTING, default=Routing.OFFER.value, show_default=True
)
@click.option("--accept-timeout", type=float, default=30.0, show_default=True)
@click.option("--wait-limit", type=float, default=300.0, show_default=True)
@click.option("--email", default="", help="Where messages left are sent.")
@_data_dir_option
@config_option
def department_add(  # noqa: PLR0917
    name: str,
    title: str | None,
    routing: str,
    accept_timeout: float,
    wait_limit: float,
    email: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Create a department."""
    config = _config(config_path, data_dir)

    async def add(store: SqliteStore) -> None:
        await store.create_department(
            name,
            title or name,
            Routing(routing),
            accept_timeout=accept_timeout,
            wait_limit=wait_limit,
            email=email,
        )

    _administer(config, add, f"Created department {name!r}.")


@department_group.command("set")
@click.argument("name")
@click.option("--title", default=None)
@click.option("--routing", type=_ROUTING, default=None)
@click.option("--accept-timeout", type=float, default=None)
@click.option("--wait-limit", type=float, default=None)
@click.option("--email", default=None)
@_data_dir_option
@config_option
def department_set(  # noqa: PLR0917
    name: str,
    title: str | None,
    routing: str | None,
    accept_timeout: float | None,
    wait_limit: float | None,
    email: str | None,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Change the given settings of a department."""
    config = _config(config_path, data_dir)

    async def change(store: SqliteStore) -> None:
        await store.update_department(
            name,
            title=title,
            routing=None if routing is None else Routing(routing),
            accept_timeout=accept_timeout,
            wait_limit=wait_limit,
            email=email,
        )

    _administer(config, change, f"Changed department {name!r}.")


@department_group.command("list")
@_data_dir_option
@config_option
def department_list(data_dir: Path | None, config_path: Path | None) -> None:
    """List the departments."""
    config = _config(config_path, data_dir)

    async def show(store: SqliteStore) -> None:
        for d in await store.list_departments():
            click.echo(
                f"{d.name}\t{d.routing}\t{d.accept_timeout:g}\t{d.wait_limit:g}"
                f"\t{d.email or '-'}\t{d.title}"
            )

    _administer(config, show, None)


@cli.group("canned")
def canned_group() -> None:
    """Manage the predefined texts and links operators insert."""


@canned_group.command("add")
@click.argument("keyword")
@click.argument("body")
@click.option("--link", is_flag=True, help="BODY is a link (http or https).")
@click.option("--title", default=None, help="Shown in the list; BODY by default.")
@_data_dir_option
@config_option
def canned_add(  # noqa: PLR0917
    keyword: str,
    body: str,
    link: bool,
    title: str | None,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Add a predefined text (or link) inserted by KEYWORD."""
    config = _config(config_path, data_dir)
    kind = CannedKind.LINK if link else CannedKind.TEXT

    async def add(store: SqliteStore) -> None:
        await store.add_canned(kind, keyword, title or body[:80], body)

    _administer(config, add, f"Added {kind} {keyword!r}.")


@canned_group.command("remove")
@click.argument("keyword")
@_data_dir_option
@config_option
def canned_remove(
    keyword: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Remove a predefined text or link."""
    config = _config(config_path, data_dir)

    async def remove(store: SqliteStore) -> None:
        await store.remove_canned(keyword)

    _administer(config, remove, f"Removed {keyword!r}.")


@canned_group.command("list")
@_data_dir_option
@config_option
def canned_list(data_dir: Path | None, config_path: Path | None) -> None:
    """List the predefined texts and links."""
    config = _config(config_path, data_dir)

    async def show(store: SqliteStore) -> None:
        for canned in await store.list_canned():
            click.echo(
                f"{canned.keyword}\t{canned.kind}\t{canned.title}\t{canned.body}"
            )

    _administer(config, show, None)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _administer(
    config: Config, action: Callable[[SqliteStore], Awaitable[None]], done: str | None
) -> None:
    try:
        _run(lambda: _with_store(config, action))
    except (StoreError, ValueError) as exc:
        click.echo(f"lgserver: {exc}", err=True)
        raise click.exceptions.Exit(FAILURE) from None
    if done:
        click.echo(done)
