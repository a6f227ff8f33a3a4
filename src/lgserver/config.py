"""The daemon's configuration: typed settings from TOML and the environment.

Every setting has a default embedded here, so lgserver runs with no file
at all. Settings come in three layers, each overriding the one before:

1. the defaults of the dataclasses below;
2. the TOML file, when one is given (``conf/lgserver.toml`` documents
   every setting);
3. environment variables named ``LGSERVER_<SECTION>_<KEY>``, such as
   ``LGSERVER_SERVER_PORT=9443``. A variable's text is read as the type of
   the setting it names: lists are written comma-separated.

Each section is a frozen dataclass and each field carries a *kind* in its
metadata: how to read it from TOML and from the environment, and which
values are allowed. Reading never stops at the first mistake: every
problem is collected, each naming the key or variable at fault and saying
why, and :class:`ConfigError` carries them all.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import logging
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .chat.forms import FormsError, load_forms
from .protocol.codec import Limits
from .protocol.frames import MAX_FRAME_SIZE_LIMIT
from .protocol.session import MIN_FRAME_SIZE, SessionConfig

__all__ = [
    "CONFIG_VARIABLE",
    "ENV_PREFIX",
    "ChatSettings",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "GeoSettings",
    "LimitsSettings",
    "LogSettings",
    "SMTPSettings",
    "SecuritySettings",
    "ServerSettings",
    "SessionSettings",
    "TLSSettings",
    "WebSettings",
    "environment_variable",
    "load_config",
    "parse_config",
    "render_config",
]

#: The prefix of the variables that override settings.
ENV_PREFIX = "LGSERVER_"
#: The variable that names the configuration file; it sets no setting.
CONFIG_VARIABLE = "LGSERVER_CONFIG"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")

# A DNS name: dot-separated labels of letters, digits and inner hyphens.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
_MASK = "********"


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the configuration.

    Attributes:
        where: What is at fault: a key (``session.grace``), an environment
            variable (``LGSERVER_SESSION_GRACE``), a section or a file.
        message: Why, in words an operator can act on.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; :attr:`problems` says why.

    Its text lists every problem, one a line.

    Args:
        problems: Everything found wrong, in the order it was found.
    """

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# -- kinds of settings


class _Invalid(Exception):
    """A value that does not fit its setting; the text says why."""


def _show(raw: object) -> str:
    """A value as an operator wrote it, for messages."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, dict):
        return "a table"
    if isinstance(raw, list):
        return f"a list {raw!r}"
    if isinstance(raw, int | float | str):
        return repr(raw)
    return f"a {type(raw).__name__}"


def _render(value: object) -> str:
    """A value as TOML text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '""'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    # JSON string escapes are all valid in a TOML basic string.
    return json.dumps(str(value), ensure_ascii=False)


def _split(text: str) -> list[str]:
    """The items of a comma-separated environment variable."""
    return [item.strip() for item in text.split(",") if item.strip()]


class _Kind:
    """How one setting is read from TOML and from the environment."""

    def from_toml(self, raw: object) -> object:
        raise NotImplementedError

    def from_env(self, text: str) -> object:
        return self.from_toml(text)


class _Integer(_Kind):
    def __init__(self, low: int, high: int | None = None) -> None:
        self.low = low
        self.high = high

    def from_toml(self, raw: object) -> object:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise _Invalid(f"expected an integer, got {_show(raw)}")
        return self._check(raw)

    def from_env(self, text: str) -> object:
        try:
            value = int(text.strip())
        except ValueError:
            raise _Invalid(f"expected an integer, got {text!r}") from None
        return self._check(value)

    def _check(self, value: int) -> int:
        if self.high is None:
            if value < self.low:
                raise _Invalid(f"must be at least {self.low}, got {value}")
        elif not self.low <= value <= self.high:
            raise _Invalid(f"must be between {self.low} and {self.high}, got {value}")
        return value


class _Number(_Kind):
    """A float; ``low`` is excluded from the range unless ``inclusive``."""

    def __init__(self, low: float, *, inclusive: bool) -> None:
        self.low = low
        self.inclusive = inclusive

    def from_toml(self, raw: object) -> object:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _Invalid(f"expected a number, got {_show(raw)}")
        return self._check(float(raw))

    def from_env(self, text: str) -> object:
        try:
            value = float(text.strip())
        except ValueError:
            raise _Invalid(f"expected a number, got {text!r}") from None
        return self._check(value)

    def _check(self, value: float) -> float:
        if not math.isfinite(value):
            raise _Invalid(f"expected a finite number, got {value!r}")
        if self.inclusive and value < self.low:
            raise _Invalid(f"must be at least {self.low:g}, got {value:g}")
        if not self.inclusive and value <= self.low:
            raise _Invalid(f"must be greater than {self.low:g}, got {value:g}")
        return value


_BOOLEAN_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


class _Boolean(_Kind):
    def from_toml(self, raw: object) -> object:
        if not isinstance(raw, bool):
            raise _Invalid(f"expected true or false, got {_show(raw)}")
        return raw

    def from_env(self, text: str) -> object:
        value = _BOOLEAN_WORDS.get(text.strip().lower())
        if value is None:
            raise _Invalid(f"expected true or false (or 1, 0, yes, no), got {text!r}")
        return value


class _Text(_Kind):
    """A string, checked by ``check`` when one is given."""

    def __init__(self, check: Callable[[str], str] | None = None) -> None:
        self.check = check

    def from_toml(self, raw: object) -> object:
        if not isinstance(raw, str):
            raise _Invalid(f"expected a string, got {_show(raw)}")
        return raw if self.check is None else self.check(raw)


class _Choice(_Kind):
    def __init__(self, *options: str) -> None:
        self.options = options

    def from_toml(self, raw: object) -> object:
        if not isinstance(raw, str):
            raise _Invalid(f"expected a string, got {_show(raw)}")
        value = raw.strip().lower()
        if value not in self.options:
            listed = ", ".join(repr(option) for option in self.options)
            raise _Invalid(f"must be one of {listed}, got {raw!r}")
        return value


class _Path(_Kind):
    """A file or directory; the empty string is None when ``optional``."""

    def __init__(self, *, optional: bool) -> None:
        self.optional = optional

    def from_toml(self, raw: object) -> object:
        if not isinstance(raw, str):
            raise _Invalid(f"expected a path, got {_show(raw)}")
        if not raw:
            if self.optional:
                return None
            raise _Invalid("must not be empty")
        if "\0" in raw:
            raise _Invalid("a path cannot hold a NUL character")
        return Path(raw)


class _List(_Kind):
    """A list of strings, each checked and converted by ``item``."""

    def __init__(self, item: Callable[[str], object], what: str) -> None:
        self.item = item
        self.what = what

    def from_toml(self, raw: object) -> object:
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise _Invalid(f"expected a list of {self.what}, got {_show(raw)}")
        return tuple(self.item(text) for text in raw)

    def from_env(self, text: str) -> object:
        return tuple(self.item(item) for item in _split(text))


def _network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip())
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise _Invalid(
            f"{text!r} is not a network in CIDR notation, such as '10.0.0.0/8'"
        ) from None
    raise _Invalid(f"{text!r} has host bits set; did you mean '{loose}'?")


def _host(text: str) -> str:
    text = text.strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if len(text) > 253 or not _HOSTNAME.fullmatch(text):
            raise _Invalid(f"{text!r} is not a host name or IP address") from None
    return text


def _build(text: str) -> str:
    text = text.strip()
    if not text or len(text) > 128 or not text.isprintable():
        raise _Invalid(f"{text!r} is not a client build")
    return text


def _optional_host(text: str) -> str:
    return _host(text) if text.strip() else ""


def _address(text: str) -> str:
    # the rules lgserver's e-mail is held to; mail imports this module
    from .mail import InvalidAddress, check_address

    if not text.strip():
        return ""
    try:
        return check_address(text).addr_spec
    except InvalidAddress:
        raise _Invalid(f"expected an e-mail address, got {text!r}") from None


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(text: str) -> str:
    """An origin as browsers send it: ``scheme://host[:port]``, the scheme
    and host in lower case and a default port left out."""
    text = text.strip()
    if text == "*":
        raise _Invalid(
            "'*' would let every site embed the chat; list the sites' origins, "
            "such as 'https://shop.example'"
        )
    try:
        parts = urlsplit(text)
    except ValueError:
        raise _Invalid(f"{text!r} is not an origin") from None
    try:
        port = parts.port
    except ValueError:
        raise _Invalid(f"{text!r} is not an origin: bad port") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise _Invalid(
            f"{text!r} is not an origin: expected https:// or http://, a host and "
            "an optional port, such as 'https://shop.example'"
        )
    if parts.username is not None or parts.password is not None:
        raise _Invalid(f"{text!r} is not an origin: it holds a user name")
    host = parts.hostname or ""
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _Invalid(f"{text!r} is not an origin: bad host name") from None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        if len(host) > 253 or not _HOSTNAME.fullmatch(host) or host.endswith("."):
            raise _Invalid(f"{text!r} is not an origin: bad host name") from None
    if literal is not None and literal.version == 6:
        host = f"[{literal.compressed}]"
    suffix = "" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}"
    origin = f"{scheme}://{host}{suffix}"
    if parts.path or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise _Invalid(
            f"{text!r} is not an origin: it has a path; did you mean {origin!r}?"
        )
    return origin


def _kind(kind: _Kind, *, secret: bool = False) -> dict[str, object]:
    """A setting's field metadata; ``secret`` ones are masked on show."""
    return {"kind": kind, "secret": secret}


# The C unpacker's own stack holds 1024 containers; a deeper limit would
# never be reached.
_MAX_DEPTH = 1000
_MAX_LENGTH = (1 << 32) - 1

_PORT = _kind(_Integer(1, 65535))
_COUNT = _kind(_Integer(1))
_LENGTH = _kind(_Integer(1, _MAX_LENGTH))
_POSITIVE = _kind(_Number(0, inclusive=False))
_TEXT = _kind(_Text())


# -- the sections


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The ``[server]`` section: where lgserver listens and keeps its data.

    Attributes:
        host: The address the listeners bind. The default, loopback, keeps
            a development server private; ``0.0.0.0`` or ``::`` serves
            every interface.
        port: The TLS port (TCP), and the HTTP/3 port (UDP).
        webtransport: Listen on UDP at ``port`` too, for WebTransport over
            HTTP/3 (browsers; the path ``/wt``).
        plain_port: A plain-TCP port for a TLS-terminating proxy in front,
            or 0 for none.
        trusted_proxies: Networks whose connections may name the client's
            address on their behalf.
        data_dir: Where the database and the development certificate live.
        accepted_builds: Client builds accepted in HELLO, by prefix (a build
            is accepted if it starts with one of them); empty accepts any.
    """

    host: str = field(default="127.0.0.1", metadata=_kind(_Text(_host)))
    port: int = field(default=8443, metadata=_PORT)
    webtransport: bool = field(default=True, metadata=_kind(_Boolean()))
    plain_port: int = field(default=0, metadata=_kind(_Integer(0, 65535)))
    trusted_proxies: tuple[Network, ...] = field(
        default=(), metadata=_kind(_List(_network, "networks in CIDR notation"))
    )
    data_dir: Path = field(default=Path("data"), metadata=_kind(_Path(optional=False)))
    accepted_builds: tuple[str, ...] = field(
        default=(), metadata=_kind(_List(_build, "client builds"))
    )


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """The ``[tls]`` section: the certificate lgserver presents.

    With neither file set, lgserver makes a development certificate in
    ``server.data_dir`` and renews it before it expires.

    Attributes:
        cert_file: The certificate (PEM, the chain after it), or None.
        key_file: Its private key (PEM, unencrypted), or None.
        dev_cert_days: The development certificate's validity in days.
            WebTransport pins a certificate by hash only when it is valid
            for less than 14 days.
        rotate_before_hours: A development certificate is replaced when it
            has no more than this many hours left.
        hostnames: Names and addresses the development certificate holds
            besides localhost, 127.0.0.1 and ::1.
    """

    cert_file: Path | None = field(default=None, metadata=_kind(_Path(optional=True)))
    key_file: Path | None = field(default=None, metadata=_kind(_Path(optional=True)))
    dev_cert_days: int = field(default=10, metadata=_kind(_Integer(1, 13)))
    rotate_before_hours: float = field(
        default=24.0, metadata=_kind(_Number(0, inclusive=True))
    )
    hostnames: tuple[str, ...] = field(
        default=(), metadata=_kind(_List(_host, "host names"))
    )

    @property
    def development(self) -> bool:
        """Whether lgserver makes its own certificate."""
        return self.cert_file is None and self.key_file is None

    @property
    def rotate_before(self) -> timedelta:
        """:attr:`rotate_before_hours` as a duration."""
        return timedelta(hours=self.rotate_before_hours)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The ``[session]`` section: reliable sessions (``docs/protocol.md`` 6).

    Attributes:
        max_frame_size: The largest frame accepted, in bytes (section 2.5).
        heartbeat: Seconds between heartbeats.
        grace: Seconds a session outlives its connection.
        handshake_timeout: Seconds a new connection has to send HELLO or
            RESUME.
        replay_max_messages: Unacknowledged messages kept for replay.
        replay_max_bytes: Bytes of unacknowledged messages kept.
        ack_delay: Seconds an acknowledgement may wait to go out with the
            answer that usually follows, instead of in a write of its own.
    """

    max_frame_size: int = field(
        default=1 << 20, metadata=_kind(_Integer(MIN_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT))
    )
    heartbeat: float = field(default=5.0, metadata=_POSITIVE)
    grace: float = field(default=15.0, metadata=_kind(_Number(0, inclusive=True)))
    handshake_timeout: float = field(default=10.0, metadata=_POSITIVE)
    replay_max_messages: int = field(default=4096, metadata=_COUNT)
    replay_max_bytes: int = field(default=4 << 20, metadata=_COUNT)
    ack_delay: float = field(default=0.02, metadata=_kind(_Number(0, inclusive=True)))

    def to_protocol(
        self, limits: LimitsSettings | None = None, *, auto_ack: bool = True
    ) -> SessionConfig:
        """The protocol core's settings for a session.

        Args:
            limits: The ``[limits]`` section, whose value limits apply; the
                codec's defaults without it. :meth:`Config.session_config`
                passes the configured one.
            auto_ack: Acknowledge received messages at once; a server that
                acknowledges what it has stored passes False.
        """
        limits = limits if limits is not None else LimitsSettings()
        return SessionConfig(
            max_frame_size=self.max_frame_size,
            heartbeat=self.heartbeat,
            grace=self.grace,
            handshake_timeout=self.handshake_timeout,
            replay_max_messages=self.replay_max_messages,
            replay_max_bytes=self.replay_max_bytes,
            auto_ack=auto_ack,
            ack_delay=self.ack_delay,
            limits=limits.codec_limits(self.max_frame_size),
        )


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    """The ``[limits]`` section: bounds on what clients may send and hold.

    Attributes:
        max_depth: Containers that may enclose a value (section 3.6).
        max_str_len: Bytes in one string.
        max_bin_len: Bytes in one bytes value.
        max_array_len: Elements in one list.
        max_map_len: Entries in one map.
        max_connections: Connections open at once, over all listeners.
        max_connections_per_address: Connections open at once from one
            client address.
        handshake_timeout: Seconds a new connection has to finish its TLS
            handshake and, over HTTP, its WebSocket upgrade.
        messages_per_second: The sustained rate of messages a connection
            may send.
        burst: Messages a connection may send at once above that rate.
    """

    max_depth: int = field(default=32, metadata=_kind(_Integer(1, _MAX_DEPTH)))
    max_str_len: int = field(default=256 * 1024, metadata=_LENGTH)
    max_bin_len: int = field(default=1 << 20, metadata=_LENGTH)
    max_array_len: int = field(default=64 * 1024, metadata=_LENGTH)
    max_map_len: int = field(default=4096, metadata=_LENGTH)
    max_connections: int = field(default=10000, metadata=_COUNT)
    max_connections_per_address: int = field(default=100, metadata=_COUNT)
    handshake_timeout: float = field(default=10.0, metadata=_POSITIVE)
    messages_per_second: float = field(default=50.0, metadata=_POSITIVE)
    burst: int = field(default=100, metadata=_COUNT)

    def codec_limits(self, max_size: int) -> Limits:
        """The codec's limits on decoded values.

        Args:
            max_size: Bytes in one encoded value: the frame size limit.
        """
        return Limits(
            max_depth=self.max_depth,
            max_str_len=self.max_str_len,
            max_bin_len=self.max_bin_len,
            max_array_len=self.max_array_len,
            max_map_len=self.max_map_len,
            max_size=max_size,
        )


_NON_NEGATIVE = _kind(_Number(0, inclusive=True))


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """The ``[security]`` section: login tokens, login throttling, CAPTCHAs.

    Attributes:
        token_lifetime: Seconds a login token works after it was issued;
            using it does not extend it.
        max_tokens_per_user: Login tokens one user may hold; issuing one
            more drops the oldest.
        captcha_after: Consecutive failed logins of an account, or from an
            address, after which a login needs a CAPTCHA.
        failure_delay: Seconds the first login past that threshold waits
            before it is checked; each further failure doubles it.
        failure_delay_max: The longest wait; less than
            ``session.handshake_timeout``, within which a client expects
            its answer.
        throttle_max_entries: Accounts and addresses whose failures are
            counted at once; the least recently failed are forgotten first.
        throttle_forget_after: Seconds after its last failure that an
            account or address starts afresh.
        captcha_lifetime: Seconds a CAPTCHA challenge may be answered.
        captcha_max_challenges: CAPTCHA challenges held at once.
        captcha_per_address: CAPTCHA challenges held at once for one
            client address.
    """

    token_lifetime: float = field(default=12 * 3600.0, metadata=_POSITIVE)
    max_tokens_per_user: int = field(default=20, metadata=_kind(_Integer(1, 1000)))
    captcha_after: int = field(default=5, metadata=_kind(_Integer(1, 1000)))
    failure_delay: float = field(default=1.0, metadata=_NON_NEGATIVE)
    failure_delay_max: float = field(default=8.0, metadata=_NON_NEGATIVE)
    throttle_max_entries: int = field(default=100_000, metadata=_COUNT)
    throttle_forget_after: float = field(default=86_400.0, metadata=_POSITIVE)
    captcha_lifetime: float = field(default=300.0, metadata=_POSITIVE)
    captcha_max_challenges: int = field(default=10_000, metadata=_COUNT)
    captcha_per_address: int = field(default=5, metadata=_COUNT)


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


@dataclass(frozen=True, slots=True)
class LogSettings:
    """The ``[log]`` section.

    Attributes:
        level: ``debug``, ``info``, ``warning`` or ``error``.
        format: ``text`` for people, ``json`` (one object a line) for log
            collectors.
    """

    level: str = field(default="info", metadata=_kind(_Choice(*_LEVELS)))
    format: str = field(default="text", metadata=_kind(_Choice("text", "json")))

    @property
    def level_number(self) -> int:
        """:attr:`level` as a :mod:`logging` level."""
        return _LEVELS[self.level]


@dataclass(frozen=True, slots=True)
class SMTPSettings:
    """The ``[smtp]`` section: the server lgserver sends e-mail through.

    Attributes:
        host: The SMTP server, or empty to send no e-mail.
        port: Its port.
        username: The login, or empty to send without one.
        password: The password for ``username``.
        from_address: The sender of lgserver's e-mail.
        starttls: Upgrade the connection with STARTTLS before logging in
            (on port 465, TLS starts with the connection instead).
        connect_timeout: Seconds to connect, and to wait for each answer of
            the server.
        send_timeout: Seconds one e-mail may take in all, from waiting for
            a free connection to the server's last answer.
        max_connections: Connections to the server open at once; more
            e-mails wait for one.
        per_recipient_per_hour: Transcripts sent to one address in an hour,
            so that nobody can use lgserver to flood an inbox.
    """

    host: str = field(default="", metadata=_kind(_Text(_optional_host)))
    port: int = field(default=587, metadata=_PORT)
    username: str = field(default="", metadata=_TEXT)
    password: str = field(default="", metadata=_kind(_Text(), secret=True))
    from_address: str = field(default="", metadata=_kind(_Text(_address)))
    starttls: bool = field(default=True, metadata=_kind(_Boolean()))
    connect_timeout: float = field(default=10.0, metadata=_POSITIVE)
    send_timeout: float = field(default=60.0, metadata=_POSITIVE)
    max_connections: int = field(default=4, metadata=_kind(_Integer(1, 100)))
    per_recipient_per_hour: int = field(default=5, metadata=_COUNT)

    @property
    def enabled(self) -> bool:
        """Whether lgserver sends e-mail."""
        return bool(self.host)


@dataclass(frozen=True, slots=True)
class GeoSettings:
    """The ``[geo]`` section: where customers' addresses are located.

    Attributes:
        enabled: Look up the country of customers' addresses.
        database: A MaxMind DB country (or city) file, or None for the
            database built into lgserver.
    """

    enabled: bool = field(default=True, metadata=_kind(_Boolean()))
    database: Path | None = field(default=None, metadata=_kind(_Path(optional=True)))


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The ``[web]`` section: the sites that may embed the chat.

    Attributes:
        allowed_origins: Origins (``https://shop.example``) whose pages may
            connect to lgserver and frame its chat window, besides
            lgserver's own.
    """

    allowed_origins: tuple[str, ...] = field(
        default=(), metadata=_kind(_List(_origin, "origins"))
    )


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """The ``[chat]`` section: live chat (``docs/chat.md``,
    ``docs/chat-api.md``).

    Departments, operators and their caps are kept in the database
    (``lgserver department``, ``lgserver user set``); these settings hold
    for every department.

    Attributes:
        inactivity_timeout: Seconds of silence after which a chat is
            closed; 0 keeps silent chats open.
        typing_preview: Operators see what customers type before they
            send it; when off, only that they are typing.
        typing_interval: Seconds between two typing notices forwarded for
            one chat; the latest preview is forwarded at the end of it.
        max_message_length: Characters in one chat message.
        max_left_message_length: Characters in a message left for a
            department.
        left_messages_per_hour: Messages one visitor may leave in an hour.
        transcript_max_messages: Messages a transcript e-mail holds at
            most, the first ones of the chat.
        max_queue: Calls one department's queue may hold.
        forms_file: A TOML file of the forms operators may push to
            customers, or None for none.
        reload_interval: Seconds between two readings of the departments
            and operators in the database, which the running server
            takes in; 0 reads them only on SIGHUP.
    """

    inactivity_timeout: float = field(
        default=900.0, metadata=_kind(_Number(0, inclusive=True))
    )
    typing_preview: bool = field(default=True, metadata=_kind(_Boolean()))
    typing_interval: float = field(
        default=0.3, metadata=_kind(_Number(0, inclusive=True))
    )
    max_message_length: int = field(default=4000, metadata=_kind(_Integer(1, 65536)))
    max_left_message_length: int = field(
        default=4000, metadata=_kind(_Integer(1, 4000))
    )
    left_messages_per_hour: int = field(default=5, metadata=_COUNT)
    transcript_max_messages: int = field(
        default=1000, metadata=_kind(_Integer(1, 100_000))
    )
    max_queue: int = field(default=10000, metadata=_COUNT)
    forms_file: Path | None = field(default=None, metadata=_kind(_Path(optional=True)))
    reload_interval: float = field(
        default=60.0, metadata=_kind(_Number(0, inclusive=True))
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration, one attribute a section.

    ``Config()`` is the embedded defaults.
    """

    server: ServerSettings = field(default_factory=ServerSettings)
    tls: TLSSettings = field(default_factory=TLSSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    log: LogSettings = field(default_factory=LogSettings)
    smtp: SMTPSettings = field(default_factory=SMTPSettings)
    geo: GeoSettings = field(default_factory=GeoSettings)
    web: WebSettings = field(default_factory=WebSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)

    def session_config(self, *, auto_ack: bool = True) -> SessionConfig:
        """The protocol core's session settings, with the configured limits.

        Args:
            auto_ack: As for :meth:`SessionSettings.to_protocol`.
        """
        return self.session.to_protocol(self.limits, auto_ack=auto_ack)


# -- reading


@dataclass(frozen=True, slots=True)
class _Section:
    name: str
    cls: type[Any]
    kinds: dict[str, _Kind]


def _sections() -> dict[str, _Section]:
    found = {}
    for section in dataclasses.fields(Config):
        cls: type[Any] = section.default_factory  # type: ignore[assignment]
        kinds = {f.name: f.metadata["kind"] for f in dataclasses.fields(cls)}
        found[section.name] = _Section(section.name, cls, kinds)
    return found


_SECTIONS = _sections()


def environment_variable(section: str, key: str) -> str:
    """The name of the variable that overrides a setting.

    Args:
        section: The section, such as ``server``.
        key: The key in it, such as ``trusted_proxies``.
    """
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


_VARIABLES = {
    environment_variable(section.name, key): (section.name, key)
    for section in _SECTIONS.values()
    for key in section.kinds
}
_KEYS = [f"{s.name}.{key}" for s in _SECTIONS.values() for key in s.kinds]


def _suggest(word: str, candidates: Iterable[str]) -> str:
    """A "did you mean" clause for a name not found among ``candidates``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _suggest_key(section: str, key: str) -> str:
    clause = _suggest(key, _SECTIONS[section].kinds)
    if clause:
        return clause.replace("mean ", f"mean {section}.", 1)
    # the right key in the wrong section
    for other in _SECTIONS.values():
        if key in other.kinds:
            return f"; did you mean {other.name}.{key}?"
    return ""


def _suggest_anywhere(key: str) -> str:
    """A "did you mean" clause naming the section of a key found outside one."""
    bare = {}
    for qualified in reversed(_KEYS):
        bare[qualified.partition(".")[2]] = qualified
    close = difflib.get_close_matches(key, list(bare), n=1, cutoff=0.6)
    return f"; did you mean {bare[close[0]]}?" if close else ""


class _Reader:
    """Collects values, where each came from, and every problem."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, object]] = {s: {} for s in _SECTIONS}
        self.origins: dict[tuple[str, str], str] = {}
        self.invalid: set[tuple[str, str]] = set()
        self.problems: list[ConfigProblem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(ConfigProblem(where, message))

    def set(
        self, section: str, key: str, where: str, read: Callable[[T], object], raw: T
    ) -> None:
        self.origins[(section, key)] = where
        try:
            self.values[section][key] = read(raw)
        except _Invalid as exc:
            self.invalid.add((section, key))
            self.values[section].pop(key, None)
            self.problem(where, str(exc))
        else:
            self.invalid.discard((section, key))

    def read_document(self, document: Mapping[str, object]) -> None:
        for name, table in document.items():
            section = _SECTIONS.get(name)
            if section is None and not isinstance(table, dict):
                clause = _suggest_anywhere(name)
                self.problem(name, f"settings belong in a section{clause}")
                continue
            if section is None:
                self.problem(name, f"unknown section{_suggest(name, _SECTIONS)}")
                continue
            if not isinstance(table, dict):
                self.problem(name, f"expected a table, got {_show(table)}")
                continue
            for key, raw in table.items():
                kind = section.kinds.get(key)
                where = f"{name}.{key}"
                if kind is None:
                    self.problem(where, f"unknown key{_suggest_key(name, key)}")
                else:
                    self.set(name, key, where, kind.from_toml, raw)

    def read_environment(self, environ: Mapping[str, str]) -> None:
        for variable in sorted(environ):
            if not variable.startswith(ENV_PREFIX) or variable == CONFIG_VARIABLE:
                continue
            target = _VARIABLES.get(variable)
            if target is None:
                # the shared prefix would make every name look close
                names = [name.removeprefix(ENV_PREFIX) for name in _VARIABLES]
                clause = _suggest(variable.removeprefix(ENV_PREFIX), names)
                clause = clause.replace("mean ", f"mean {ENV_PREFIX}", 1)
                self.problem(variable, f"no such setting{clause}")
                continue
            section, key = target
            kind = _SECTIONS[section].kinds[key]
            self.set(section, key, variable, kind.from_env, environ[variable])

    def build(self) -> Config:
        sections = {
            name: _SECTIONS[name].cls(**values) for name, values in self.values.items()
        }
        return Config(**sections)

    def name(self, section: str, key: str) -> str:
        return self.origins.get((section, key), f"{section}.{key}")

    def cross_check(self, config: Config) -> None:
        """Rules that tie settings together, for settings valid one by one."""

        def usable(*keys: tuple[str, str]) -> bool:
            return not self.invalid.intersection(keys)

        tls = config.tls
        if usable(("tls", "cert_file"), ("tls", "key_file")):
            if tls.cert_file is not None and tls.key_file is None:
                self.problem(
                    self.name("tls", "cert_file"),
                    "set without tls.key_file; set both, or neither for a "
                    "development certificate",
                )
            if tls.key_file is not None and tls.cert_file is None:
                self.problem(
                    self.name("tls", "key_file"),
                    "set without tls.cert_file; set both, or neither for a "
                    "development certificate",
                )

        hours = tls.dev_cert_days * 24
        rotate = ("tls", "rotate_before_hours")
        if (
            usable(rotate, ("tls", "dev_cert_days"))
            and tls.rotate_before_hours >= hours
        ):
            self.problem(
                self.name(*rotate),
                f"must be less than the development certificate's validity "
                f"(tls.dev_cert_days = {tls.dev_cert_days}, {hours} hours), "
                f"got {tls.rotate_before_hours:g}",
            )

        server = config.server
        ports = (("server", "port"), ("server", "plain_port"))
        if usable(*ports) and server.plain_port == server.port:
            self.problem(
                self.name("server", "plain_port"),
                f"must differ from server.port ({server.port}), or be 0 for none",
            )

        security = config.security
        delays = (("security", "failure_delay"), ("security", "failure_delay_max"))
        if usable(*delays) and security.failure_delay > security.failure_delay_max:
            self.problem(
                self.name("security", "failure_delay"),
                f"must not exceed security.failure_delay_max "
                f"({security.failure_delay_max:g}), got {security.failure_delay:g}",
            )
        longest = ("security", "failure_delay_max")
        timeout = config.session.handshake_timeout
        if (
            usable(longest, ("session", "handshake_timeout"))
            and security.failure_delay_max >= timeout
        ):
            self.problem(
                self.name(*longest),
                f"must be less than session.handshake_timeout ({timeout:g}): a "
                f"client waits no longer for its answer, got "
                f"{security.failure_delay_max:g}",
            )

        smtp = config.smtp
        mail = (("smtp", "host"), ("smtp", "from_address"))
        if usable(*mail) and smtp.host and not smtp.from_address:
            self.problem(
                self.name("smtp", "from_address"), "required when smtp.host is set"
            )

        forms = ("chat", "forms_file")
        if usable(forms) and config.chat.forms_file is not None:
            try:
                load_forms(config.chat.forms_file)
            except FormsError as exc:
                for problem in exc.problems:
                    self.problem(self.name(*forms), problem)


def parse_config(document: Mapping[str, object], environ: Mapping[str, str]) -> Config:
    """The configuration a parsed TOML document and the environment give.

    Args:
        document: The TOML document, as :func:`tomllib.loads` returns it.
        environ: Environment variables; those named ``LGSERVER_*`` override
            the document's settings.

    Raises:
        ConfigError: With every problem found in either.
    """
    reader = _Reader()
    reader.read_document(document)
    reader.read_environment(environ)
    config = reader.build()
    reader.cross_check(config)
    if reader.problems:
        raise ConfigError(reader.problems)
    return config


def load_config(path: Path | None, environ: Mapping[str, str]) -> Config:
    """Read the configuration: defaults, then the file, then the environment.

    Args:
        path: The TOML file, or None for the embedded defaults.
        environ: Environment variables, such as :data:`os.environ`.

    Raises:
        ConfigError: The file cannot be read or parsed, or the settings it
            and the environment hold have problems; all of them are listed.
    """
    document: dict[str, Any] = {}
    file_problems: list[ConfigProblem] = []
    if path is not None:
        try:
            document = tomllib.loads(path.read_bytes().decode("utf-8"))
        except OSError as exc:
            file_problems.append(
                ConfigProblem(str(path), f"cannot read: {exc.strerror}")
            )
        except UnicodeDecodeError:
            file_problems.append(ConfigProblem(str(path), "not UTF-8 text"))
        except tomllib.TOMLDecodeError as exc:
            file_problems.append(ConfigProblem(str(path), f"not valid TOML: {exc}"))
    try:
        config = parse_config(document, environ)
    except ConfigError as exc:
        raise ConfigError([*file_problems, *exc.problems]) from None
    if file_problems:
        raise ConfigError(file_problems)
    return config


def render_config(config: Config, *, mask_secrets: bool = True) -> str:
    """The configuration as TOML text, every setting in it.

    Args:
        config: The configuration to write.
        mask_secrets: Replace passwords that are set by asterisks.
    """
    lines: list[str] = []
    for section in dataclasses.fields(config):
        settings = getattr(config, section.name)
        if lines:
            lines.append("")
        lines.append(f"[{section.name}]")
        for setting in dataclasses.fields(settings):
            value = getattr(settings, setting.name)
            if mask_secrets and setting.metadata["secret"] and value:
                value = _MASK
            lines.append(f"{setting.name} = {_render(value)}")
    return "\n".join(lines) + "\n"
