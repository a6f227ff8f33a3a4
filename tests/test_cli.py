"""The command line: check-config, config show, cert show and the version,
through click's runner and once as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lgserver import __version__
from lgserver.__main__ import main
from lgserver.cli import cli
from lgserver.protocol.messages import PROTOCOL_VERSION
from lgserver.tls import (
    certificate_sha256,
    fingerprint_base64,
    fingerprint_hex,
    generate_dev_certificate,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "conf" / "lgserver.toml"
BAD = """\
[session]
grace = "abc"
gracee = 1

[server]
port = 70000
"""
BAD_PROBLEMS = [
    "session.grace: expected a number, got 'abc'",
    "session.gracee: unknown key; did you mean session.grace?",
    "server.port: must be between 1 and 65535, got 70000",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LGSERVER_* variable of the machine, and a scratch directory."""
    for name in list(os.environ):
        if name.startswith("LGSERVER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, prog_name="lgserver")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- the group


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert (
        result.stdout
        == f"lgserver {__version__}, protocol version {PROTOCOL_VERSION}\n"
    )


def test_bare_command_shows_the_version_and_the_commands() -> None:
    result = run()
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"lgserver {__version__}, protocol version {PROTOCOL_VERSION}"
    for command in ("check-config", "config", "cert"):
        assert f"  {command} " in result.stdout


def test_main_returns_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("lgserver ")
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


# -- check-config


def test_check_config_ok() -> None:
    result = run("check-config", str(SHIPPED))
    assert result.exit_code == 0
    assert result.stdout == "ok\n"
    assert result.stderr == ""


def test_check_config_lists_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", BAD)
    result = run("check-config", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == BAD_PROBLEMS


def test_check_config_reads_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path / "good.toml", "[server]\nport = 9000\n")
    environ = {"LGSERVER_SERVER_PLAIN_PORT": "9000"}
    result = run("check-config", str(path), env=environ)
    assert result.exit_code == 2
    assert result.stderr == (
        "LGSERVER_SERVER_PLAIN_PORT: must differ from server.port (9000), "
        "or be 0 for none\n"
    )
    alone = run("check-config", "--ignore-environment", str(path), env=environ)
    assert alone.exit_code == 0 and alone.stdout == "ok\n"


def test_check_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    result = run("check-config", str(path))
    assert result.exit_code == 2
    assert result.stderr == f"{path}: cannot read: No such file or directory\n"


def test_check_config_loads_configured_certificates(tmp_path: Path) -> None:
    cert_pem, _ = generate_dev_certificate()
    _, other_key = generate_dev_certificate()
    cert_file = write(tmp_path / "c.pem", cert_pem.decode())
    key_file = write(tmp_path / "k.pem", other_key.decode())
    path = write(
        tmp_path / "prod.toml",
        f'[tls]\ncert_file = "{cert_file}"\nkey_file = "{key_file}"\n',
    )
    result = run("check-config", str(path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"the key in {key_file} is not the key of the certificate in {cert_file}\n"
    )


def test_check_config_as_a_process(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", BAD)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LGSERVER_")}
    finished = subprocess.run(
        [sys.executable, "-m", "lgserver", "check-config", str(path)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == BAD_PROBLEMS


# -- config show


def test_config_show_defaults() -> None:
    result = run("config", "show")
    assert result.exit_code == 0
    assert "(no configuration file)" in result.stdout
    shown = tomllib.loads(result.stdout)
    assert shown["server"]["port"] == 8443
    assert shown["session"]["grace"] == 15.0
    assert shown["tls"]["cert_file"] == ""


def test_config_show_applies_file_and_environment(tmp_path: Path) -> None:
    path = write(tmp_path / "lg.toml", "[server]\nport = 9000\n[session]\ngrace = 3\n")
    environ = {"LGSERVER_SERVER_PORT": "9443", "LGSERVER_SMTP_PASSWORD": "hunter2"}
    result = run("config", "show", "--config", str(path), env=environ)
    assert result.exit_code == 0
    assert "hunter2" not in result.stdout
    assert f"# then {path}, then the environment." in result.stdout
    assert "# set by the environment: LGSERVER_SERVER_PORT\n" in result.stdout
    shown = tomllib.loads(result.stdout)
    assert shown["server"]["port"] == 9443
    assert shown["session"]["grace"] == 3.0
    assert shown["smtp"]["password"] == "********"


def test_config_show_finds_the_file_by_variable(tmp_path: Path) -> None:
    path = write(tmp_path / "lg.toml", "[log]\nlevel = 'debug'\n")
    result = run("config", "show", env={"LGSERVER_CONFIG": str(path)})
    assert result.exit_code == 0
    assert tomllib.loads(result.stdout)["log"]["level"] == "debug"


def test_config_show_refuses_a_bad_configuration(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", BAD)
    result = run("config", "show", "--config", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == BAD_PROBLEMS


# -- cert show


def shown_fields(result: Result) -> dict[str, str]:
    fields = {}
    for line in result.stdout.splitlines():
        label, _, value = line.partition(":")
        fields[label] = value.strip()
    return fields


def test_cert_show_makes_the_development_certificate(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    result = run("cert", "show", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    fields = shown_fields(result)
    cert_file = data_dir / "cert.pem"
    assert fields["certificate"] == f"{cert_file} (development, made now)"
    assert fields["subject"] == "CN=lgserver development certificate,O=lgserver"
    assert fields["names"] == "localhost, 127.0.0.1, ::1"
    digest = certificate_sha256(cert_file.read_bytes())
    assert fields["sha256 (hex)"] == fingerprint_hex(digest)
    assert fields["sha256 (base64)"] == fingerprint_base64(digest)
    for label in ("valid from", "valid until", "replaced after"):
        assert fields[label].endswith(" UTC")

    again = shown_fields(run("cert", "show", "--data-dir", str(data_dir)))
    assert again["certificate"] == f"{cert_file} (development)"
    assert again["sha256 (hex)"] == fields["sha256 (hex)"]


def test_cert_show_uses_the_configured_data_dir_and_names(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lg.toml",
        '[server]\ndata_dir = "here"\n[tls]\nhostnames = ["chat.test"]\n',
    )
    result = run("cert", "show", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "here" / "cert.pem").is_file()
    assert shown_fields(result)["names"] == "localhost, 127.0.0.1, ::1, chat.test"


def test_cert_show_configured_certificate(tmp_path: Path) -> None:
    cert_pem, key_pem = generate_dev_certificate()
    cert_file = write(tmp_path / "c.pem", cert_pem.decode())
    key_file = write(tmp_path / "k.pem", key_pem.decode())
    environ = {
        "LGSERVER_TLS_CERT_FILE": str(cert_file),
        "LGSERVER_TLS_KEY_FILE": str(key_file),
    }
    result = run("cert", "show", env=environ)
    assert result.exit_code == 0, result.output
    fields = shown_fields(result)
    assert fields["certificate"] == f"{cert_file} (configured)"
    assert "replaced after" not in fields
    certificate = x509.load_pem_x509_certificate(cert_pem)
    digest = certificate.fingerprint(hashes.SHA256())
    assert fields["sha256 (hex)"] == fingerprint_hex(digest)
    assert not (tmp_path / "data").exists()


def test_cert_show_unusable_certificate(tmp_path: Path) -> None:
    environ = {
        "LGSERVER_TLS_CERT_FILE": str(tmp_path / "absent.pem"),
        "LGSERVER_TLS_KEY_FILE": str(tmp_path / "absent.key"),
    }
    result = run("cert", "show", env=environ)
    assert result.exit_code == 1
    assert result.stderr.startswith("tls.cert_file ")
    assert "cannot read" in result.stderr


def test_cert_show_bad_configuration() -> None:
    result = run("cert", "show", env={"LGSERVER_TLS_DEV_CERT_DAYS": "30"})
    assert result.exit_code == 2
    assert result.stderr == (
        "LGSERVER_TLS_DEV_CERT_DAYS: must be between 1 and 13, got 30\n"
    )
