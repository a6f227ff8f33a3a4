"""The ``lgserver`` command line.

:data:`cli` is the command group; every subcommand is attached to it with
``@cli.command()`` or ``cli.add_command``. A command that reads the
configuration takes :func:`config_option` and calls :func:`obtain_config`,
so every command finds the file the same way (``--config``, else the
``LGSERVER_CONFIG`` variable, else the embedded defaults) and reports
problems the same way: one a line on standard error, exit status 2.

Exit statuses: 0 success, 1 a failure while running (a certificate that
cannot be used), 2 a mistake in the command line or the configuration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .config import (
    CONFIG_VARIABLE,
    ENV_PREFIX,
    Config,
    ConfigError,
    ConfigProblem,
    load_config,
    render_config,
)
from .protocol.messages import PROTOCOL_VERSION
from .tls import (
    CertificateError,
    ServerCertificate,
    certificate_names,
    fingerprint_base64,
    fingerprint_hex,
    load_certificate_files,
    next_rotation,
    server_certificate,
)

__all__ = [
    "CONFIG_ERROR",
    "FAILURE",
    "cli",
    "config_option",
    "obtain_config",
]

#: The exit status of a command that failed while running.
FAILURE = 1
#: The exit status of a configuration that cannot be used.
CONFIG_ERROR = 2

F = TypeVar("F", bound=Callable[..., Any])


def _version_line() -> str:
    return f"lgserver {__version__}, protocol version {PROTOCOL_VERSION}"


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    __version__,
    "--version",
    prog_name="lgserver",
    message=f"%(prog)s %(version)s, protocol version {PROTOCOL_VERSION}",
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """lgserver, a self-hosted live-chat server."""
    if ctx.invoked_subcommand is None:
        click.echo(_version_line())
        click.echo()
        click.echo(ctx.get_help())


def config_option(function: F) -> F:
    """Give a command the ``--config FILE`` option, as ``config_path``.

    Without the option, the ``LGSERVER_CONFIG`` variable names the file;
    without either, the command runs on the embedded defaults.
    """
    option = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_VARIABLE,
        default=None,
        help=f"The configuration file (default: ${CONFIG_VARIABLE}, "
        "else the embedded defaults).",
    )
    return option(function)


def obtain_config(
    path: Path | None, environ: Mapping[str, str] | None = None
) -> Config:
    """Load the configuration for a command, or end the command.

    Args:
        path: The file, or None for the embedded defaults.
        environ: The environment; the process's by default.

    Raises:
        click.exceptions.Exit: With status 2 after printing every problem
            to standard error, one a line.
    """
    try:
        return load_config(path, os.environ if environ is None else environ)
    except ConfigError as exc:
        _report(exc.problems)
        raise click.exceptions.Exit(CONFIG_ERROR) from None


def _report(problems: tuple[ConfigProblem, ...]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


@cli.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--ignore-environment",
    is_flag=True,
    help="Check the file alone, without the LGSERVER_* variables.",
)
def check_config(file: Path, ignore_environment: bool) -> None:
    """Check a configuration file; print "ok" or every problem.

    The LGSERVER_* variables are checked with the file, as lgserver
    would read them, and configured certificate files are loaded.
    Exit status 2 when anything is wrong.
    """
    environ: Mapping[str, str] = {} if ignore_environment else os.environ
    try:
        config = load_config(file, environ)
    except ConfigError as exc:
        _report(exc.problems)
        raise click.exceptions.Exit(CONFIG_ERROR) from None

    tls = config.tls
    if tls.cert_file is not None and tls.key_file is not None:
        try:
            load_certificate_files(tls.cert_file, tls.key_file)
        except CertificateError as exc:
            click.echo(str(exc), err=True)
            raise click.exceptions.Exit(CONFIG_ERROR) from None
    click.echo("ok")


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@config_option
def config_show(config_path: Path | None) -> None:
    """Print the effective configuration as TOML.

    That is the embedded defaults, then the file, then the LGSERVER_*
    variables. Passwords are masked.
    """
    config = obtain_config(config_path)
    variables = sorted(
        name
        for name in os.environ
        if name.startswith(ENV_PREFIX) and name != CONFIG_VARIABLE
    )
    click.echo("# lgserver's effective configuration: the embedded defaults,")
    if config_path is not None:
        click.echo(f"# then {config_path}, then the environment.")
    else:
        click.echo("# then the environment (no configuration file).")
    for name in variables:
        click.echo(f"# set by the environment: {name}")
    click.echo()
    click.echo(render_config(config), nl=False)


@cli.group("cert")
def cert_group() -> None:
    """Inspect the TLS certificate."""


@cert_group.command("show")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The data directory, instead of server.data_dir.",
)
@config_option
def cert_show(data_dir: Path | None, config_path: Path | None) -> None:
    """Print the certificate lgserver presents and its SHA-256.

    Without tls.cert_file and tls.key_file that is the development
    certificate, which is made if there is none yet, or renewed if it is
    due. Pages pin it by the SHA-256 shown.
    """
    config = obtain_config(config_path)
    if data_dir is not None:
        server = dataclasses.replace(config.server, data_dir=data_dir)
        config = dataclasses.replace(config, server=server)
    try:
        current = server_certificate(config)
    except CertificateError as exc:
        click.echo(str(exc), err=True)
        raise click.exceptions.Exit(FAILURE) from None
    for label, value in _describe(current, config):
        click.echo(f"{label + ':':<17}{value}")


def _describe(current: ServerCertificate, config: Config) -> list[tuple[str, str]]:
    certificate = current.certificate
    if current.development:
        kind = "development, made now" if current.generated else "development"
    else:
        kind = "configured"
    lines = [
        ("certificate", f"{current.cert_file} ({kind})"),
        ("key", str(current.key_file)),
        ("subject", certificate.subject.rfc4514_string()),
        ("names", ", ".join(certificate_names(certificate))),
        ("valid from", _when(certificate.not_valid_before_utc)),
        ("valid until", _when(certificate.not_valid_after_utc)),
    ]
    if current.development:
        rotation = next_rotation(certificate, config.tls.rotate_before)
        lines.append(("replaced after", _when(rotation)))
    digest = current.sha256
    lines.append(("sha256 (hex)", fingerprint_hex(digest)))
    lines.append(("sha256 (base64)", fingerprint_base64(digest)))
    return lines


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
