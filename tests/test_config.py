"""Configuration: defaults, the file, environment overrides, and problems
reported by key."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lgserver.config import (
    Config,
    ConfigError,
    ConfigProblem,
    LimitsSettings,
    SessionSettings,
    load_config,
    parse_config,
    render_config,
)
from lgserver.protocol.codec import Limits
from lgserver.protocol.session import SessionConfig

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "conf" / "lgserver.toml"
OPERATIONS = ROOT / "docs" / "operations.md"


def problems(
    document: dict[str, Any], environ: dict[str, str] | None = None
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, environ or {})
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(problem) for problem in caught.value.problems]


def every_setting() -> list[tuple[str, str]]:
    return [
        (section.name, setting.name)
        for section in dataclasses.fields(Config)
        for setting in dataclasses.fields(getattr(Config(), section.name))
    ]


# -- defaults and the shipped file


def test_no_file_gives_the_defaults() -> None:
    config = load_config(None, {})
    assert config == Config()
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8443
    assert config.server.plain_port == 0
    assert config.server.trusted_proxies == ()
    assert config.server.data_dir == Path("data")
    assert config.tls.development
    assert config.tls.dev_cert_days == 10
    assert config.session.grace == 15.0
    assert config.limits.max_connections == 10000
    assert config.limits.messages_per_second == 50.0
    assert config.log.level_number == 20
    assert not config.smtp.enabled
    assert config.web.allowed_origins == ()
    assert config.geo.enabled and config.geo.database is None


def test_shipped_file_holds_every_default() -> None:
    assert load_config(SHIPPED, {}) == Config()
    document = tomllib.loads(SHIPPED.read_text())
    shipped = [(s, key) for s, table in document.items() for key in table]
    assert shipped == every_setting()


def test_every_setting_is_documented() -> None:
    text = OPERATIONS.read_text()
    assert "## Configuration" in text
    for section, key in every_setting():
        assert f"#### `[{section}]`" in text
        pattern = rf"^#### `\[{section}\]`$(?:(?!^#### ).)*^\| `{key}` "
        assert re.search(pattern, text, re.MULTILINE | re.DOTALL), (section, key)
    assert "LGSERVER_<SECTION>_<KEY>" in text


def test_file_settings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "lgserver.toml"
    path.write_text(
        """
        [server]
        host = "::"
        port = 443
        trusted_proxies = ["10.0.0.0/8", "fd00::/8"]
        data_dir = "/var/lib/lgserver"

        [tls]
        cert_file = "/etc/lgserver/cert.pem"
        key_file = "/etc/lgserver/key.pem"

        [session]
        grace = 30
        heartbeat = 2.5

        [log]
        level = "DEBUG"
        format = "json"

        [smtp]
        host = "mail.example.com"
        from_address = "chat@example.com"
        starttls = false
        """
    )
    config = load_config(path, {})
    assert config.server.host == "::"
    assert config.server.port == 443
    assert config.server.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert config.server.data_dir == Path("/var/lib/lgserver")
    assert config.tls.cert_file == Path("/etc/lgserver/cert.pem")
    assert not config.tls.development
    assert config.session.grace == 30.0
    assert isinstance(config.session.grace, float)
    assert config.session.heartbeat == 2.5
    assert config.log.level == "debug"
    assert config.log.format == "json"
    assert config.smtp.enabled and not config.smtp.starttls
    assert config.limits == LimitsSettings()


def test_settings_are_frozen() -> None:
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.port = 1  # type: ignore[misc]


# -- the protocol core's settings


def test_session_settings_map_to_the_protocol() -> None:
    config = parse_config(
        {
            "session": {"max_frame_size": 65536, "grace": 20, "heartbeat": 3},
            "limits": {"max_depth": 8, "max_str_len": 1000, "max_map_len": 10},
        },
        {},
    )
    assert config.session_config(auto_ack=False) == SessionConfig(
        max_frame_size=65536,
        heartbeat=3.0,
        grace=20.0,
        handshake_timeout=10.0,
        replay_max_messages=4096,
        replay_max_bytes=4 << 20,
        auto_ack=False,
        ack_delay=0.02,
        limits=Limits(
            max_depth=8,
            max_str_len=1000,
            max_bin_len=1 << 20,
            max_array_len=65536,
            max_map_len=10,
            max_size=65536,
        ),
    )
    assert config.session.to_protocol(config.limits).auto_ack


def test_default_session_settings_are_the_protocol_defaults() -> None:
    # but for the server's acknowledgements, which wait for its answers
    server = SessionConfig(ack_delay=0.02)
    assert SessionSettings().to_protocol() == server
    assert Config().session_config() == server


# -- the environment


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lgserver.toml"
    path.write_text("[server]\nport = 9000\n[session]\ngrace = 5\n")
    config = load_config(
        path,
        {
            "LGSERVER_SERVER_PORT": "9443",
            "LGSERVER_SESSION_GRACE": "20",
            "LGSERVER_SERVER_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.0/16",
            "LGSERVER_SMTP_STARTTLS": "off",
            "LGSERVER_LOG_FORMAT": "json",
            "LGSERVER_CONFIG": "/elsewhere.toml",
            "HOME": "/root",
        },
    )
    assert config.server.port == 9443
    assert config.session.grace == 20.0
    assert config.server.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.0.0/16"),
    )
    assert not config.smtp.starttls
    assert config.log.format == "json"


@pytest.mark.parametrize(
    ("variable", "text", "section", "key", "value"),
    [
        ("LGSERVER_SERVER_TRUSTED_PROXIES", "", "server", "trusted_proxies", ()),
        (
            "LGSERVER_TLS_HOSTNAMES",
            "a.test,10.0.0.1",
            "tls",
            "hostnames",
            ("a.test", "10.0.0.1"),
        ),
        ("LGSERVER_SERVER_DATA_DIR", "/srv/lg", "server", "data_dir", Path("/srv/lg")),
        ("LGSERVER_SMTP_STARTTLS", "YES", "smtp", "starttls", True),
        ("LGSERVER_SMTP_STARTTLS", "0", "smtp", "starttls", False),
        ("LGSERVER_LIMITS_BURST", " 7 ", "limits", "burst", 7),
        ("LGSERVER_TLS_ROTATE_BEFORE_HOURS", "1.5", "tls", "rotate_before_hours", 1.5),
        ("LGSERVER_SMTP_PASSWORD", " spaced ", "smtp", "password", " spaced "),
        (
            "LGSERVER_SMTP_FROM_ADDRESS",
            " Chat@Example.COM ",
            "smtp",
            "from_address",
            "Chat@example.com",
        ),
        ("LGSERVER_SMTP_MAX_CONNECTIONS", "8", "smtp", "max_connections", 8),
        ("LGSERVER_SMTP_CONNECT_TIMEOUT", "2.5", "smtp", "connect_timeout", 2.5),
        ("LGSERVER_GEO_ENABLED", "no", "geo", "enabled", False),
        (
            "LGSERVER_GEO_DATABASE",
            "/var/lib/geo/c.mmdb",
            "geo",
            "database",
            Path("/var/lib/geo/c.mmdb"),
        ),
        ("LGSERVER_GEO_DATABASE", "", "geo", "database", None),
        (
            "LGSERVER_WEB_ALLOWED_ORIGINS",
            "https://shop.example, http://Shop.Example:8080",
            "web",
            "allowed_origins",
            ("https://shop.example", "http://shop.example:8080"),
        ),
    ],
)
def test_environment_text_is_read_as_the_setting_type(
    variable: str, text: str, section: str, key: str, value: object
) -> None:
    config = parse_config({}, {variable: text})
    assert getattr(getattr(config, section), key) == value


def test_empty_variables_clear_file_paths() -> None:
    document = {"tls": {"cert_file": "c.pem", "key_file": "k.pem"}}
    environ = {"LGSERVER_TLS_CERT_FILE": "", "LGSERVER_TLS_KEY_FILE": ""}
    assert parse_config(document, {}).tls.cert_file == Path("c.pem")
    config = parse_config(document, environ)
    assert config.tls.cert_file is None and config.tls.key_file is None
    assert config.tls.development


# -- problems


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"session": {"grace": "abc"}}, "session.grace: expected a number, got 'abc'"),
        ({"session": {"grace": True}}, "session.grace: expected a number, got true"),
        ({"server": {"port": "8443"}}, "server.port: expected an integer, got '8443'"),
        ({"server": {"port": 1.5}}, "server.port: expected an integer, got 1.5"),
        (
            {"server": {"port": 70000}},
            "server.port: must be between 1 and 65535, got 70000",
        ),
        ({"server": {"port": 0}}, "server.port: must be between 1 and 65535, got 0"),
        (
            {"server": {"plain_port": -1}},
            "server.plain_port: must be between 0 and 65535, got -1",
        ),
        (
            {"server": {"host": "a b"}},
            "server.host: 'a b' is not a host name or IP address",
        ),
        ({"server": {"data_dir": ""}}, "server.data_dir: must not be empty"),
        ({"server": {"data_dir": 5}}, "server.data_dir: expected a path, got 5"),
        (
            {"server": {"trusted_proxies": "10.0.0.0/8"}},
            "server.trusted_proxies: expected a list of networks in CIDR notation, "
            "got '10.0.0.0/8'",
        ),
        (
            {"server": {"trusted_proxies": ["10.0.0.1/8"]}},
            "server.trusted_proxies: '10.0.0.1/8' has host bits set; did you mean "
            "'10.0.0.0/8'?",
        ),
        (
            {"server": {"trusted_proxies": ["nowhere"]}},
            "server.trusted_proxies: 'nowhere' is not a network in CIDR notation, "
            "such as '10.0.0.0/8'",
        ),
        (
            {"session": {"heartbeat": 0}},
            "session.heartbeat: must be greater than 0, got 0",
        ),
        ({"session": {"grace": -1}}, "session.grace: must be at least 0, got -1"),
        (
            {"session": {"grace": float("inf")}},
            "session.grace: expected a finite number, got inf",
        ),
        (
            {"session": {"max_frame_size": 100}},
            "session.max_frame_size: must be between 4096 and 4294967295, got 100",
        ),
        (
            {"session": {"replay_max_messages": 0}},
            "session.replay_max_messages: must be at least 1, got 0",
        ),
        (
            {"tls": {"dev_cert_days": 14}},
            "tls.dev_cert_days: must be between 1 and 13, got 14",
        ),
        (
            {"tls": {"dev_cert_days": 0}},
            "tls.dev_cert_days: must be between 1 and 13, got 0",
        ),
        (
            {"tls": {"hostnames": ["-bad-"]}},
            "tls.hostnames: '-bad-' is not a host name or IP address",
        ),
        (
            {"limits": {"max_depth": 5000}},
            "limits.max_depth: must be between 1 and 1000, got 5000",
        ),
        (
            {"limits": {"messages_per_second": 0}},
            "limits.messages_per_second: must be greater than 0, got 0",
        ),
        (
            {"log": {"level": "loud"}},
            "log.level: must be one of 'debug', 'info', 'warning', 'error', got 'loud'",
        ),
        (
            {"log": {"format": ["json"]}},
            "log.format: expected a string, got a list ['json']",
        ),
        (
            {"smtp": {"starttls": "yes"}},
            "smtp.starttls: expected true or false, got 'yes'",
        ),
        (
            {"smtp": {"from_address": "nobody"}},
            "smtp.from_address: expected an e-mail address, got 'nobody'",
        ),
        (
            {"smtp": {"from_address": "chat@example.com\r\nBcc: x@y.z"}},
            "smtp.from_address: expected an e-mail address, got "
            "'chat@example.com\\r\\nBcc: x@y.z'",
        ),
        (
            {"smtp": {"from_address": "chat, x@example.com"}},
            "smtp.from_address: expected an e-mail address, got 'chat, x@example.com'",
        ),
        (
            {"smtp": {"max_connections": 0}},
            "smtp.max_connections: must be between 1 and 100, got 0",
        ),
        (
            {"smtp": {"per_recipient_per_hour": 0}},
            "smtp.per_recipient_per_hour: must be at least 1, got 0",
        ),
        (
            {"smtp": {"send_timeout": 0}},
            "smtp.send_timeout: must be greater than 0, got 0",
        ),
        ({"geo": {"enabled": 1}}, "geo.enabled: expected true or false, got 1"),
        ({"geo": {"database": 5}}, "geo.database: expected a path, got 5"),
        (
            {"session": {"gracee": 1}},
            "session.gracee: unknown key; did you mean session.grace?",
        ),
        (
            {"session": {"max_depth": 1}},
            "session.max_depth: unknown key; did you mean limits.max_depth?",
        ),
        ({"session": {"colour": 1}}, "session.colour: unknown key"),
        ({"sesion": {}}, "sesion: unknown section; did you mean session?"),
        (
            {"port": 8443},
            "port: settings belong in a section; did you mean server.port?",
        ),
        ({"session": 5}, "session: expected a table, got 5"),
        (
            {"tls": {"cert_file": "c.pem"}},
            "tls.cert_file: set without tls.key_file; set both, or neither for a "
            "development certificate",
        ),
        (
            {"tls": {"key_file": "k.pem"}},
            "tls.key_file: set without tls.cert_file; set both, or neither for a "
            "development certificate",
        ),
        (
            {"tls": {"dev_cert_days": 2, "rotate_before_hours": 48}},
            "tls.rotate_before_hours: must be less than the development "
            "certificate's validity (tls.dev_cert_days = 2, 48 hours), got 48",
        ),
        (
            {"server": {"plain_port": 8443}},
            "server.plain_port: must differ from server.port (8443), or be 0 for none",
        ),
        (
            {"smtp": {"host": "mail.example.com"}},
            "smtp.from_address: required when smtp.host is set",
        ),
        (
            {"smtp": {"host": "mail server"}},
            "smtp.host: 'mail server' is not a host name or IP address",
        ),
        (
            {"security": {"captcha_after": 0}},
            "security.captcha_after: must be between 1 and 1000, got 0",
        ),
        (
            {"security": {"token_lifetime": 0}},
            "security.token_lifetime: must be greater than 0, got 0",
        ),
        (
            {"security": {"failure_delay": 5.0, "failure_delay_max": 2.0}},
            "security.failure_delay: must not exceed security.failure_delay_max "
            "(2), got 5",
        ),
        (
            {"security": {"failure_delay_max": 30.0}},
            "security.failure_delay_max: must be less than "
            "session.handshake_timeout (10): a client waits no longer for its "
            "answer, got 30",
        ),
    ],
)
def test_problems_name_the_key(document: dict[str, Any], expected: str) -> None:
    assert problems(document) == [expected]


@pytest.mark.parametrize(
    ("written", "origin"),
    [
        ("https://shop.example", "https://shop.example"),
        ("HTTPS://Shop.Example", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:80", "http://shop.example"),
        ("http://shop.example:443", "http://shop.example:443"),
        ("https://shop.example:8443", "https://shop.example:8443"),
        (" https://shop.example ", "https://shop.example"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("https://[::1]", "https://[::1]"),
        ("https://[2001:DB8:0::1]:9000", "https://[2001:db8::1]:9000"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_allowed_origins_are_written_as_browsers_send_them(
    written: str, origin: str
) -> None:
    config = parse_config({"web": {"allowed_origins": [written]}}, {})
    assert config.web.allowed_origins == (origin,)


@pytest.mark.parametrize(
    ("written", "why"),
    [
        (
            "*",
            "'*' would let every site embed the chat; list the sites' origins, "
            "such as 'https://shop.example'",
        ),
        (
            "https://shop.example/",
            "'https://shop.example/' is not an origin: it has a path; did you "
            "mean 'https://shop.example'?",
        ),
        (
            "https://shop.example:8443/chat?x=1",
            "'https://shop.example:8443/chat?x=1' is not an origin: it has a "
            "path; did you mean 'https://shop.example:8443'?",
        ),
        (
            "https://shop.example#top",
            "'https://shop.example#top' is not an origin: it has a path; did you "
            "mean 'https://shop.example'?",
        ),
        (
            "shop.example",
            "'shop.example' is not an origin: expected https:// or http://, a "
            "host and an optional port, such as 'https://shop.example'",
        ),
        (
            "ftp://shop.example",
            "'ftp://shop.example' is not an origin: expected https:// or http://, "
            "a host and an optional port, such as 'https://shop.example'",
        ),
        (
            "null",
            "'null' is not an origin: expected https:// or http://, a host and "
            "an optional port, such as 'https://shop.example'",
        ),
        (
            "https://",
            "'https://' is not an origin: expected https:// or http://, a host "
            "and an optional port, such as 'https://shop.example'",
        ),
        (
            "https://me:pw@shop.example",
            "'https://me:pw@shop.example' is not an origin: it holds a user name",
        ),
        (
            "https://shop.example:0x1",
            "'https://shop.example:0x1' is not an origin: bad port",
        ),
        (
            "https://shop.example:70000",
            "'https://shop.example:70000' is not an origin: bad port",
        ),
        (
            "https://-shop-.example",
            "'https://-shop-.example' is not an origin: bad host name",
        ),
        (
            "https://shop..example",
            "'https://shop..example' is not an origin: bad host name",
        ),
        ("https://[::1", "'https://[::1' is not an origin"),
    ],
)
def test_origins_that_are_not_origins_are_refused(written: str, why: str) -> None:
    found = problems({"web": {"allowed_origins": ["https://ok.example", written]}})
    assert found == [f"web.allowed_origins: {why}"]
    variable = "LGSERVER_WEB_ALLOWED_ORIGINS"
    if "," not in written:
        assert problems({}, {variable: written}) == [f"{variable}: {why}"]


def test_allowed_origins_are_a_list() -> None:
    assert problems({"web": {"allowed_origins": "https://shop.example"}}) == [
        "web.allowed_origins: expected a list of origins, got 'https://shop.example'"
    ]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"LGSERVER_SESSION_GRACE": "abc"},
            "LGSERVER_SESSION_GRACE: expected a number, got 'abc'",
        ),
        (
            {"LGSERVER_SESSION_GRACE": "nan"},
            "LGSERVER_SESSION_GRACE: expected a finite number, got nan",
        ),
        (
            {"LGSERVER_SERVER_PORT": "0x20fb"},
            "LGSERVER_SERVER_PORT: expected an integer, got '0x20fb'",
        ),
        (
            {"LGSERVER_SERVER_PORT": "99999"},
            "LGSERVER_SERVER_PORT: must be between 1 and 65535, got 99999",
        ),
        (
            {"LGSERVER_SMTP_STARTTLS": "maybe"},
            "LGSERVER_SMTP_STARTTLS: expected true or false (or 1, 0, yes, no), got "
            "'maybe'",
        ),
        (
            {"LGSERVER_SERVER_TRUSTED_PROXIES": "10.0.0.0/8,x"},
            "LGSERVER_SERVER_TRUSTED_PROXIES: 'x' is not a network in CIDR notation, "
            "such as '10.0.0.0/8'",
        ),
        (
            {"LGSERVER_SERVR_PORT": "1"},
            "LGSERVER_SERVR_PORT: no such setting; did you mean LGSERVER_SERVER_PORT?",
        ),
        ({"LGSERVER_SPEED": "1"}, "LGSERVER_SPEED: no such setting"),
        (
            {"LGSERVER_TLS_CERT_FILE": "c.pem"},
            "LGSERVER_TLS_CERT_FILE: set without tls.key_file; set both, or neither "
            "for a development certificate",
        ),
        (
            {"LGSERVER_SERVER_PLAIN_PORT": "8443"},
            "LGSERVER_SERVER_PLAIN_PORT: must differ from server.port (8443), or be "
            "0 for none",
        ),
    ],
)
def test_problems_name_the_variable(environ: dict[str, str], expected: str) -> None:
    assert problems({}, environ) == [expected]


def test_security_settings() -> None:
    security = Config().security
    assert security.token_lifetime == 12 * 3600
    assert security.captcha_after == 5
    assert (security.failure_delay, security.failure_delay_max) == (1.0, 8.0)
    environ = {
        "LGSERVER_SECURITY_CAPTCHA_AFTER": "3",
        "LGSERVER_SECURITY_FAILURE_DELAY_MAX": "25",
        "LGSERVER_SESSION_HANDSHAKE_TIMEOUT": "30",
        "LGSERVER_SECURITY_TOKEN_LIFETIME": "3600",
    }
    config = parse_config({}, environ)
    assert config.security.captcha_after == 3
    assert config.security.failure_delay_max == 25.0
    assert config.security.token_lifetime == 3600.0
    assert problems({}, {"LGSERVER_SECURITY_FAILURE_DELAY_MAX": "10"}) == [
        "LGSERVER_SECURITY_FAILURE_DELAY_MAX: must be less than "
        "session.handshake_timeout (10): a client waits no longer for its answer, "
        "got 10"
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        {
            "server": {"port": "x", "hots": "a"},
            "session": {"grace": -1, "heartbeat": 0},
            "tls": {"cert_file": "c.pem"},
            "extra": {},
        },
        {"LGSERVER_LOG_LEVEL": "loud", "LGSERVER_LIMITS_BURST": "0"},
    )
    assert [problem.split(":")[0] for problem in found] == [
        "server.port",
        "server.hots",
        "session.grace",
        "session.heartbeat",
        "extra",
        "LGSERVER_LIMITS_BURST",
        "LGSERVER_LOG_LEVEL",
        "tls.cert_file",
    ]


def test_a_rule_between_settings_waits_for_valid_settings() -> None:
    # a bad dev_cert_days says so, rather than confusing the rotation rule
    found = problems({"tls": {"dev_cert_days": 30, "rotate_before_hours": 300}})
    assert found == ["tls.dev_cert_days: must be between 1 and 13, got 30"]


def test_problems_are_values() -> None:
    problem = ConfigProblem("session.grace", "must be at least 0, got -1")
    assert problem == ConfigProblem("session.grace", "must be at least 0, got -1")
    assert str(problem) == "session.grace: must be at least 0, got -1"
    assert ConfigError([problem]).problems == (problem,)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: cannot read: No such file or directory"
    ]


def test_file_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[session]\ngrace = \n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"LGSERVER_SERVER_PORT": "x"})
    found = [str(p) for p in caught.value.problems]
    assert len(found) == 2
    assert found[0].startswith(f"{path}: not valid TOML: ")
    assert "line 2" in found[0]
    assert found[1] == "LGSERVER_SERVER_PORT: expected an integer, got 'x'"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[smtp]\nusername = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, {})


# -- showing the configuration


def test_rendered_configuration_reads_back() -> None:
    config = parse_config(
        {
            "server": {"trusted_proxies": ["10.0.0.0/8", "::1/128"], "port": 1},
            "tls": {"hostnames": ["chat.test"], "rotate_before_hours": 1},
            "smtp": {"username": 'odd "name"\\\n', "password": "pw"},
        },
        {},
    )
    text = render_config(config, mask_secrets=False)
    assert parse_config(tomllib.loads(text), {}) == config
    assert render_config(Config()) == render_config(load_config(SHIPPED, {}))


def test_rendered_passwords_are_masked() -> None:
    config = parse_config({"smtp": {"password": "hunter2"}}, {})
    text = render_config(config)
    assert "hunter2" not in text
    assert tomllib.loads(text)["smtp"]["password"] == "********"
    assert tomllib.loads(render_config(Config()))["smtp"]["password"] == ""


# -- properties


toml_values = st.recursive(
    st.none().map(lambda _: "")
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
section_names = st.sampled_from(
    [f.name for f in dataclasses.fields(Config)] + ["other"]
)
key_names = st.sampled_from([key for _, key in every_setting()] + ["other"])
documents = st.dictionaries(
    section_names,
    st.dictionaries(key_names, toml_values, max_size=4) | toml_values,
    max_size=4,
)
environments = st.dictionaries(
    st.sampled_from(
        [f"LGSERVER_{s.upper()}_{k.upper()}" for s, k in every_setting()]
        + ["LGSERVER_OTHER", "PATH"]
    ),
    st.text(max_size=12),
    max_size=3,
)


@given(documents, environments)
def test_only_config_errors_escape(
    document: dict[str, Any], environ: dict[str, str]
) -> None:
    try:
        config = parse_config(document, environ)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.where and problem.message
    else:
        assert (
            parse_config(tomllib.loads(render_config(config, mask_secrets=False)), {})
            == config
        )


@given(st.integers(-(2**40), 2**40))
def test_file_and_environment_agree_on_integers(value: int) -> None:
    def outcome(document: dict[str, Any], environ: dict[str, str]) -> object:
        try:
            return parse_config(document, environ).limits.burst
        except ConfigError as exc:
            return exc.problems[0].message

    from_file = outcome({"limits": {"burst": value}}, {})
    from_environment = outcome({}, {"LGSERVER_LIMITS_BURST": str(value)})
    assert from_file == from_environment


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_file_and_environment_agree_on_numbers(value: float) -> None:
    def outcome(document: dict[str, Any], environ: dict[str, str]) -> object:
        try:
            return parse_config(document, environ).session.grace
        except ConfigError as exc:
            return exc.problems[0].message

    from_file = outcome({"session": {"grace": value}}, {})
    from_environment = outcome({}, {"LGSERVER_SESSION_GRACE": repr(value)})
    assert from_file == from_environment
