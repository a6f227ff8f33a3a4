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

from .cli import FAILURE, cli, config_option, obtain_config
from .config import Config
from .daemon import DATABASE, serve
from .logs import configure
from .security import hash_password
from .store.errors import StoreError, UserExists, UserNotFound
from .store.interface import Role
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
        _run(lambda: serve(config))
    except (StoreError, CertificateError, OSError) as exc:
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


def _administer(
    config: Config, action: Callable[[SqliteStore], Awaitable[None]], done: str | None
) -> None:
    try:
        _run(lambda: _with_store(config, action))
    except (UserExists, UserNotFound, StoreError, ValueError) as exc:
        click.echo(f"lgserver: {exc}", err=True)
        raise click.exceptions.Exit(FAILURE) from None
    if done:
        click.echo(done)
