"""E-mail from lgserver: chat transcripts for customers, and the messages
customers leave for a department while nobody is online.

Building. :func:`transcript_message` and :func:`message_left_message`
turn plain data (:class:`Transcript`, :class:`LeftMessage`) into an
:class:`~email.message.EmailMessage`: UTF-8 plain text with an HTML
alternative, and ``From``, ``To``, ``Subject``, ``Date``, ``Message-ID``
and ``Auto-Submitted: auto-generated`` (RFC 3834, so that autoresponders
stay quiet). Whatever customers and operators wrote is hostile input:
every piece of it is escaped in the HTML part, and the names and titles
that go into headers are made one line first (control characters, CR and
LF among them, become spaces), so no header can be added through them.
Addresses are checked by :func:`check_address`, which refuses any that
holds a line break or another control character, lacks a domain, or is
not exactly one address. The words of both messages are in one place,
:class:`MailText`, for translations.

Sending. :class:`Mailer` sends through the server of the ``[smtp]``
section with aiosmtplib: TLS from the first byte on port 465, otherwise
STARTTLS when ``smtp.starttls`` is set (required then: a server that does
not offer it is an error, never a silent fall back to plain text), and a
login when ``smtp.username`` is set. No more than ``smtp.max_connections``
connections are open at once, however many e-mails are asked for;
``smtp.send_timeout`` bounds one e-mail, from the wait for a connection to
the server's last answer, and ``smtp.connect_timeout`` the connection and
each answer. Transcripts to one address are limited to
``smtp.per_recipient_per_hour`` in any hour, so that nobody can use
lgserver to flood an inbox; every attempt counts, sent or not.

Errors. Every failure is a :class:`MailError` whose text says what went
wrong in words an operator can act on; :class:`MailDisabled`,
:class:`InvalidAddress` and :class:`RateLimited` are the failures the
chat tells customers about in its own words. A server that cannot be
reached or refuses lgserver is logged as a WARNING, a refused recipient
at INFO; neither log nor error ever holds the password, and addresses are
logged with their local part hidden.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import email.utils
import html
import logging
import re
import ssl
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

import aiosmtplib

from .config import SMTPSettings

__all__ = [
    "ENGLISH",
    "InvalidAddress",
    "LeftMessage",
    "Line",
    "MailDisabled",
    "MailError",
    "MailText",
    "Mailer",
    "RateLimited",
    "Transcript",
    "check_address",
    "message_left_message",
    "transcript_message",
]

logger = logging.getLogger("lgserver.mail")

#: The port where SMTP speaks TLS from the first byte (RFC 8314).
IMPLICIT_TLS_PORT = 465
# RFC 5321 section 4.5.3.1.3: a path holds at most 256 octets, brackets
# included.
MAX_ADDRESS = 254
MAX_NAME = 200
MAX_SUBJECT = 200
MAX_URL = 2048
RATE_WINDOW = 3600.0
# Recipients remembered by the rate limit before old entries are swept.
_SWEEP_AT = 10_000

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")


class MailError(Exception):
    """An e-mail was not sent; the text says why."""


class MailDisabled(MailError):
    """No SMTP server is configured, so lgserver sends no e-mail."""


class InvalidAddress(MailError):
    """An address cannot be used; the text says why."""


class RateLimited(MailError):
    """An address got as many e-mails as it may for now.

    Attributes:
        retry_after: Seconds until it may get one more.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# -- text that goes into headers and pages


def _one_line(text: str, limit: int = MAX_NAME) -> str:
    """``text`` fit for a header: control characters (CR and LF among
    them) and runs of blanks become one space, and it is cut at ``limit``
    characters."""
    cleaned = "".join(
        " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char
        for char in text
    )
    return " ".join(cleaned.split())[:limit]


def _body_text(text: str) -> str:
    """Chat text for a body: line breaks kept as ``\\n``, every other
    control character made a space."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(
        "".join(
            " " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char
            for char in line.replace("\t", "    ")
        ).rstrip()
        for line in lines
    )


def _html(text: str) -> str:
    """Text as HTML: escaped, line breaks kept."""
    return "<br>\n".join(html.escape(line, quote=True) for line in text.split("\n"))


def check_address(text: str, name: str = "") -> Address:
    """An e-mail address checked for use in a header and an envelope.

    Args:
        text: The address, such as ``ann@example.com``; blanks around it
            are ignored. A domain in Unicode is turned into its ASCII form.
        name: A display name, made one line.

    Raises:
        InvalidAddress: It holds a line break or another control
            character, is not exactly one address, has no domain or a
            malformed one, has a local part that is not ASCII, or is too
            long.
    """
    if not isinstance(text, str):
        raise InvalidAddress(f"expected an e-mail address, got {type(text).__name__}")
    text = text.strip()
    shown = repr(text[:60])
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise InvalidAddress(f"{shown} holds a line break or control character")
    if not text or len(text) > MAX_ADDRESS:
        raise InvalidAddress(f"{shown} is not an e-mail address")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(f"{shown} has no domain")
    if not local.isascii():
        raise InvalidAddress(f"{shown} has non-ASCII characters before the @")
    try:
        domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidAddress(f"{shown} has a malformed domain") from None
    if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
        raise InvalidAddress(f"{shown} has a malformed domain")
    try:
        parsed = Address(addr_spec=f"{local}@{domain}")
    except Exception:  # the parser raises more than ValueError on odd input
        raise InvalidAddress(f"{shown} is not an e-mail address") from None
    if parsed.domain != domain or not parsed.username:
        raise InvalidAddress(f"{shown} is not an e-mail address")
    local = parsed.username
    return Address(display_name=_one_line(name), username=local, domain=domain)


def _masked(address: Address) -> str:
    return f"***@{address.domain}"


# -- the words


@dataclass(frozen=True, slots=True)
class MailText:
    """The words of lgserver's e-mail, in one language.

    Each is a :meth:`str.format` template; the names in braces are filled
    in. :data:`ENGLISH` is the default; a translation is another instance.
    """

    language: str = "en"
    transcript_subject: str = "Your chat with {department}"
    transcript_intro: str = "Your chat with {department}, {date}."
    transcript_operators: str = "With: {names}"
    role_customer: str = "you"
    role_operator: str = "operator"
    role_system: str = "notice"
    message_left_subject: str = "Message for {department} from {name}"
    message_left_intro: str = (
        "{name} left a message for {department} while nobody was available."
    )
    label_name: str = "Name"
    label_email: str = "E-mail"
    label_page: str = "Page"
    label_time: str = "Time"
    reply_hint: str = "Reply to this e-mail to answer {name}."
    unnamed: str = "A customer"
    footer: str = "Sent by lgserver live chat."
    date_format: str = "%Y-%m-%d %H:%M %Z"
    time_format: str = "%H:%M"

    def role(self, role: str) -> str:
        """The word for a sender's role: customer, operator or system."""
        words = {
            "customer": self.role_customer,
            "operator": self.role_operator,
            "system": self.role_system,
        }
        return words.get(role, self.role_system)


#: The English words, the default.
ENGLISH = MailText()


# -- the messages


@dataclass(frozen=True, slots=True)
class Line:
    """One message of a chat.

    Attributes:
        time: When it was sent (aware).
        role: ``customer``, ``operator`` or ``system``.
        name: Who sent it, as shown in the chat.
        text: What was written, as plain text.
    """

    time: dt.datetime
    role: str
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    """A chat, as the customer saw it.

    Attributes:
        department: The department's title.
        operators: The display names of the operators who took part.
        lines: The messages, in the order the customer saw them.
        started: When the chat began; the first message's time if None.
    """

    department: str
    operators: tuple[str, ...]
    lines: tuple[Line, ...]
    started: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class LeftMessage:
    """A message a customer left for a department.

    Attributes:
        department: The department's title.
        name: The name the customer gave.
        email: The address the customer gave, for replies.
        text: What the customer wrote.
        page_url: The page the customer wrote from.
        time: When (aware).
    """

    department: str
    name: str
    email: str
    text: str
    page_url: str
    time: dt.datetime


def _new_message(
    subject: str,
    sender: Address,
    recipient: Address,
    now: dt.datetime | None,
) -> EmailMessage:
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = _one_line(subject, MAX_SUBJECT)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = email.utils.format_datetime(now or dt.datetime.now(dt.UTC))
    # a domain of our own, so that no host name lookup is made
    message["Message-ID"] = email.utils.make_msgid(domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    return message


def _fill(message: EmailMessage, text: str, page: str) -> None:
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(page, subtype="html", charset="utf-8")


def _page(words: MailText, title: str, body: Iterable[str]) -> str:
    lang = html.escape(words.language, quote=True)
    return "\n".join(
        [
            "<!doctype html>",
            f'<html lang="{lang}"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title></head><body>",
            *body,
            f"<p><small>{html.escape(words.footer)}</small></p>",
            "</body></html>",
            "",
        ]
    )


def transcript_message(
    transcript: Transcript,
    *,
    sender: Address,
    recipient: Address,
    words: MailText = ENGLISH,
    zone: dt.tzinfo = dt.UTC,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """The e-mail that gives a customer the transcript of a chat.

    Args:
        transcript: The chat.
        sender: The ``From`` address (:func:`check_address`).
        recipient: The customer's address (:func:`check_address`).
        words: The language of the e-mail.
        zone: The time zone times are shown in.
        now: The ``Date``; the current time if None.
    """
    department = _one_line(transcript.department)
    started = transcript.started
    if started is None and transcript.lines:
        started = transcript.lines[0].time
    date = (started or now or dt.datetime.now(dt.UTC)).astimezone(zone)
    subject = words.transcript_subject.format(department=department)
    intro = words.transcript_intro.format(
        department=department, date=date.strftime(words.date_format)
    )
    names = ", ".join(_one_line(name) for name in transcript.operators)
    with_whom = words.transcript_operators.format(names=names) if names else ""

    # the plain text: one paragraph a message, later lines indented
    text = [intro]
    if with_whom:
        text.append(with_whom)
    text.append("")
    rows = []
    for line in transcript.lines:
        at = line.time.astimezone(zone).strftime(words.time_format)
        who = f"{_one_line(line.name)} ({words.role(line.role)})"
        body = _body_text(line.text)
        text.append(f"[{at}] {who}: " + body.replace("\n", "\n    "))
        rows.append(
            f'<tr><td style="vertical-align:top">{html.escape(at)}</td>'
            f'<td style="vertical-align:top"><b>{html.escape(who)}</b></td>'
            f"<td>{_html(body)}</td></tr>"
        )
    text += ["", "-- ", words.footer, ""]

    page = [f"<p>{html.escape(intro)}</p>"]
    if with_whom:
        page.append(f"<p>{html.escape(with_whom)}</p>")
    page += ["<table>", *rows, "</table>"]

    message = _new_message(subject, sender, recipient, now)
    _fill(message, "\n".join(text), _page(words, subject, page))
    return message


def message_left_message(
    left: LeftMessage,
    *,
    sender: Address,
    recipient: Address,
    words: MailText = ENGLISH,
    zone: dt.tzinfo = dt.UTC,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """The e-mail that brings a department a message a customer left; a
    reply goes to the customer (``Reply-To``).

    Args:
        left: The message.
        sender: The ``From`` address (:func:`check_address`).
        recipient: The department's address (:func:`check_address`).
        words: The language of the e-mail.
        zone: The time zone the time is shown in.
        now: The ``Date``; the current time if None.

    Raises:
        InvalidAddress: The customer's address cannot be used.
    """
    name = _one_line(left.name) or words.unnamed
    customer = check_address(left.email, name)
    department = _one_line(left.department)
    subject = words.message_left_subject.format(department=department, name=name)
    intro = words.message_left_intro.format(department=department, name=name)
    url = _one_line(left.page_url, MAX_URL)
    at = left.time.astimezone(zone).strftime(words.date_format)
    body = _body_text(left.text)
    fields = [
        (words.label_name, name),
        (words.label_email, customer.addr_spec),
        (words.label_page, url),
        (words.label_time, at),
    ]
    hint = words.reply_hint.format(name=name)

    text = [intro, ""]
    text += [f"{label}: {value}" for label, value in fields]
    text += ["", body, "", hint, "", "-- ", words.footer, ""]

    # the page's address stays text: a link could lead anywhere
    page = [f"<p>{html.escape(intro)}</p>", "<table>"]
    page += [
        f"<tr><td>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>"
        for label, value in fields
    ]
    page += ["</table>", f"<p>{_html(body)}</p>", f"<p>{html.escape(hint)}</p>"]

    message = _new_message(subject, sender, recipient, now)
    message["Reply-To"] = customer
    _fill(message, "\n".join(text), _page(words, subject, page))
    return message


# -- sending


class Mailer:
    """Sends lgserver's e-mail through the configured SMTP server.

    Args:
        settings: The ``[smtp]`` section; an empty host sends nothing.
        tls_context: Verifies the server's certificate; the system's
            trusted authorities if None.
        clock: Seconds, for the rate limit; :func:`time.monotonic`.

    Raises:
        InvalidAddress: ``settings.from_address`` cannot be used.
    """

    def __init__(
        self,
        settings: SMTPSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._tls_context = tls_context
        self._clock = clock
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._sent: dict[str, deque[float]] = {}
        self.sender: Address | None = None
        if settings.enabled:
            self.sender = check_address(settings.from_address)
            if settings.username and not self._encrypted:
                logger.warning(
                    "smtp.username is set but smtp.starttls is off: the password "
                    "would cross the network in clear text"
                )

    @property
    def enabled(self) -> bool:
        """Whether e-mail can be sent at all."""
        return self.sender is not None

    @property
    def _implicit_tls(self) -> bool:
        return self.settings.port == IMPLICIT_TLS_PORT

    @property
    def _encrypted(self) -> bool:
        return self._implicit_tls or self.settings.starttls

    def _sender(self) -> Address:
        if self.sender is None:
            raise MailDisabled(
                "e-mail is not available: no SMTP server is configured (smtp.host)"
            )
        return self.sender

    async def send_transcript(
        self,
        transcript: Transcript,
        to: str,
        *,
        name: str = "",
        words: MailText = ENGLISH,
        zone: dt.tzinfo = dt.UTC,
    ) -> None:
        """E-mail a customer the transcript of a chat.

        Args:
            transcript: The chat.
            to: The customer's address.
            name: The customer's name, for the ``To`` header.
            words: The language of the e-mail.
            zone: The time zone times are shown in.

        Raises:
            MailDisabled: No SMTP server is configured.
            InvalidAddress: ``to`` cannot be used.
            RateLimited: ``to`` got its share of transcripts this hour.
            MailError: The server could not be reached, refused the
                e-mail, or took too long.
        """
        sender = self._sender()
        recipient = check_address(to, name)
        self._take_share(recipient)
        message = transcript_message(
            transcript, sender=sender, recipient=recipient, words=words, zone=zone
        )
        await self.send(message, recipient)

    async def send_message_left(
        self,
        left: LeftMessage,
        to: str,
        *,
        words: MailText = ENGLISH,
        zone: dt.tzinfo = dt.UTC,
    ) -> None:
        """E-mail a department a message a customer left.

        The department's address is set by its administrators, so these
        e-mails are not limited by recipient; the customer's address goes
        into ``Reply-To``.

        Args:
            left: The message.
            to: The department's address.
            words: The language of the e-mail.
            zone: The time zone the time is shown in.

        Raises:
            MailDisabled: No SMTP server is configured.
            InvalidAddress: ``to`` or the customer's address cannot be used.
            MailError: The server could not be reached, refused the
                e-mail, or took too long.
        """
        sender = self._sender()
        recipient = check_address(to)
        message = message_left_message(
            left, sender=sender, recipient=recipient, words=words, zone=zone
        )
        await self.send(message, recipient)

    def _take_share(self, recipient: Address) -> None:
        """Count one more e-mail to ``recipient``, or refuse it."""
        now = self._clock()
        if len(self._sent) > _SWEEP_AT:
            for key in [k for k, v in self._sent.items() if v[-1] <= now - RATE_WINDOW]:
                del self._sent[key]
        key = recipient.addr_spec.lower()
        times = self._sent.setdefault(key, deque())
        while times and times[0] <= now - RATE_WINDOW:
            times.popleft()
        limit = self.settings.per_recipient_per_hour
        if len(times) >= limit:
            retry_after = times[0] + RATE_WINDOW - now
            logger.info(
                "transcript to %s refused: %d sent in the last hour",
                _masked(recipient),
                len(times),
            )
            raise RateLimited(
                f"{recipient.addr_spec} got {limit} e-mails in the last hour; "
                f"try again in {max(1, round(retry_after / 60))} minutes",
                retry_after,
            )
        times.append(now)

    async def send(self, message: EmailMessage, recipient: Address) -> None:
        """Send a message built here to ``recipient``, within
        ``smtp.send_timeout`` and no more than ``smtp.max_connections``
        at once.

        Raises:
            MailDisabled: No SMTP server is configured.
            MailError: The server could not be reached, refused the
                e-mail, or took too long.
        """
        sender = self._sender()
        settings = self.settings
        where = f"the mail server {settings.host} port {settings.port}"
        try:
            async with asyncio.timeout(settings.send_timeout):
                async with self._slots:
                    await self._exchange(message, sender, recipient)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            reply = exc.recipients[0] if exc.recipients else None
            reason = f": {reply.code} {reply.message}" if reply else ""
            logger.info("%s refused %s%s", where, _masked(recipient), reason)
            raise MailError(
                f"{where} refused the recipient {recipient.addr_spec}{reason}"
            ) from None
        except _Unsuitable as exc:
            error = MailError(f"{where}: {exc}")
        except aiosmtplib.SMTPException as exc:
            # before TimeoutError: aiosmtplib's own timeouts are ones too
            error = MailError(f"{where}: {_explain(exc, settings)}")
        except TimeoutError:
            error = MailError(
                f"{where} did not answer within {settings.send_timeout:g} seconds"
            )
        except ssl.SSLCertVerificationError as exc:
            error = MailError(
                f"{where}: its certificate is not trusted: {exc.verify_message}"
            )
        except ssl.SSLError as exc:
            error = MailError(f"{where}: TLS failed: {exc.reason or exc}")
        except OSError as exc:
            error = MailError(f"cannot reach {where}: {exc.strerror or exc}")
        else:
            logger.debug("e-mail sent to %s", _masked(recipient))
            return
        logger.warning("e-mail to %s not sent: %s", _masked(recipient), error)
        raise error

    async def _exchange(
        self, message: EmailMessage, sender: Address, recipient: Address
    ) -> None:
        settings = self.settings
        implicit = self._implicit_tls
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            timeout=settings.connect_timeout,
            use_tls=implicit,
            start_tls=False,
            tls_context=self._tls_context,
        )
        async with client:
            await client.ehlo()
            if settings.starttls and not implicit:
                if not client.supports_extension("starttls"):
                    raise _Unsuitable(
                        "the server does not offer STARTTLS, which smtp.starttls "
                        "requires"
                    )
                await client.starttls()
                await client.ehlo()
            if settings.username:
                if not client.supports_extension("auth"):
                    raise _Unsuitable(
                        "the server offers no login (AUTH), but smtp.username is set"
                    )
                await client.login(settings.username, settings.password)
            await client.send_message(
                message, sender=sender.addr_spec, recipients=[recipient.addr_spec]
            )


class _Unsuitable(Exception):
    """The server lacks what the settings require."""


def _explain(exc: aiosmtplib.SMTPException, settings: SMTPSettings) -> str:
    """What went wrong with the server, in an operator's words."""
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return f"no answer within {settings.connect_timeout:g} seconds"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return (
            f"the login as {settings.username!r} was refused: {exc.code} {exc.message}"
        )
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return f"the sender {exc.sender} was refused: {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"refused: {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return f"cannot connect: {exc}"
    return str(exc)
