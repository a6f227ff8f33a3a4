"""E-mail: the messages as built, and real SMTP exchanges with a local
aiosmtpd server, in plain text, with STARTTLS and a login, and with TLS
from the first byte; refusals, unreachable and silent servers, header
injection and the rate limit."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import logging
import re
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from hypothesis import given, settings
from hypothesis import strategies as st

import lgserver.mail
from lgserver.config import SMTPSettings
from lgserver.mail import (
    InvalidAddress,
    LeftMessage,
    Line,
    MailDisabled,
    Mailer,
    MailError,
    MailText,
    RateLimited,
    Transcript,
    check_address,
    message_left_message,
    transcript_message,
)

from .conftest import Certificate

pytestmark = pytest.mark.timeout(60)

T0 = dt.datetime(2026, 1, 5, 14, 3, 9, tzinfo=dt.UTC)
HOSTILE = "<script>alert('x')</script> & \"quotes\""
PASSWORD = "s3cret-Pa55"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it is sent and refuses the
    recipients it is told to."""

    refuse: set[str] = field(default_factory=set)
    received: list[Envelope] = field(default_factory=list)
    sessions: list[tuple[bool, bool]] = field(default_factory=list)
    delay: float = 0.0
    active: int = 0
    peak: int = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's name
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's name
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((tls, bool(session.authenticated)))
        self.received.append(envelope)
        return "250 accepted"

    def message(self, index: int = -1) -> EmailMessage:
        content = self.received[index].original_content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"chat",
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd then answers a failure with 535 itself
    return AuthResult(success=ok, handled=ok)


@dataclass
class SMTPServer:
    recorder: Recorder
    port: int
    settings: SMTPSettings


def run(recorder: Recorder, **options: Any) -> Iterator[SMTPServer]:
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        server_hostname="mail.test",
        **options,
    )
    controller.start()
    settings = SMTPSettings(
        host="127.0.0.1",
        port=port,
        from_address="chat@shop.example",
        starttls=False,
        connect_timeout=5,
        send_timeout=20,
    )
    try:
        yield SMTPServer(recorder, port, settings)
    finally:
        controller.stop()


@pytest.fixture
def plain() -> Iterator[SMTPServer]:
    """A server that speaks plain SMTP and needs no login."""
    yield from run(Recorder())


@pytest.fixture
def secure(certificate: Certificate) -> Iterator[SMTPServer]:
    """A server that requires STARTTLS and a login."""
    yield from run(
        Recorder(),
        tls_context=certificate.server_context([]),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    )


def transcript() -> Transcript:
    return Transcript(
        department="Sales & Support",
        operators=("Anna Müller", "Bob"),
        lines=(
            Line(T0, "customer", "Chris", "Hello, is the <b>blue</b> one in stock?"),
            Line(T0 + dt.timedelta(minutes=1), "operator", "Anna Müller", HOSTILE),
            Line(
                T0 + dt.timedelta(minutes=2),
                "customer",
                "Chris",
                "Thanks!\r\nSecond line\n\tindented",
            ),
            Line(T0 + dt.timedelta(minutes=3), "system", "", "Anna left the chat"),
        ),
    )


def left() -> LeftMessage:
    return LeftMessage(
        department="Sales",
        name="Zoë Ünal",
        email="zoe@example.org",
        text="Please call me back.\n" + HOSTILE,
        page_url="https://shop.example/cart?item=1&x=<y>",
        time=T0,
    )


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    page = message.get_body(("html",))
    assert plain is not None and page is not None
    return plain.get_content(), page.get_content()  # type: ignore[attr-defined]


# -- the messages


def test_a_transcript_holds_the_chat_in_order() -> None:
    message = transcript_message(
        transcript(),
        sender=check_address("chat@shop.example"),
        recipient=check_address("chris@example.com", "Chris Ünal"),
        now=T0,
    )
    assert message["Subject"] == "Your chat with Sales & Support"
    assert message["From"] == "chat@shop.example"
    assert message["To"].addresses[0].display_name == "Chris Ünal"
    assert message["Auto-Submitted"] == "auto-generated"
    assert email.utils.parsedate_to_datetime(message["Date"]) == T0
    assert message["Message-ID"].endswith("@shop.example>")
    text, page = parts(message)
    assert text.splitlines()[:3] == [
        "Your chat with Sales & Support, 2026-01-05 14:03 UTC.",
        "With: Anna Müller, Bob",
        "",
    ]
    assert text.splitlines()[3:8] == [
        "[14:03] Chris (you): Hello, is the <b>blue</b> one in stock?",
        f"[14:04] Anna Müller (operator): {HOSTILE}",
        "[14:05] Chris (you): Thanks!",
        "    Second line",
        "        indented",
    ]
    assert "[14:06]  (notice): Anna left the chat" in text
    # every piece of chat text is escaped in the page
    assert "<script>" not in page and "<b>blue" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;" in page
    assert "Sales &amp; Support" in page
    assert "&lt;b&gt;blue&lt;/b&gt;" in page
    assert "Thanks!<br>\nSecond line" in page


def test_transcript_words_and_times_can_be_changed() -> None:
    german = MailText(
        language="de",
        transcript_subject="Ihr Chat mit {department}",
        transcript_intro="Ihr Chat mit {department} am {date}.",
        transcript_operators="Mit: {names}",
        role_customer="Sie",
        date_format="%d.%m.%Y %H:%M",
    )
    berlin = dt.timezone(dt.timedelta(hours=1))
    message = transcript_message(
        transcript(),
        sender=check_address("chat@shop.example"),
        recipient=check_address("chris@example.com"),
        words=german,
        zone=berlin,
    )
    text, page = parts(message)
    assert message["Subject"] == "Ihr Chat mit Sales & Support"
    assert text.startswith("Ihr Chat mit Sales & Support am 05.01.2026 15:03.")
    assert "[15:03] Chris (Sie): Hello" in text
    assert '<html lang="de">' in page


def test_a_message_left_goes_to_the_department_with_a_reply_to() -> None:
    message = message_left_message(
        left(),
        sender=check_address("chat@shop.example"),
        recipient=check_address("sales@shop.example"),
    )
    assert message["Subject"] == "Message for Sales from Zoë Ünal"
    assert message["To"] == "sales@shop.example"
    (reply_to,) = message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == (
        "Zoë Ünal",
        "zoe@example.org",
    )
    text, page = parts(message)
    assert "E-mail: zoe@example.org" in text
    assert "Page: https://shop.example/cart?item=1&x=<y>" in text
    assert "Time: 2026-01-05 14:03 UTC" in text
    assert "Please call me back.\n" + HOSTILE in text
    assert "Reply to this e-mail to answer Zoë Ünal." in text
    assert "<script>" not in page and "<a " not in page
    assert "https://shop.example/cart?item=1&amp;x=&lt;y&gt;" in page


def test_a_message_left_without_a_name_or_a_usable_address() -> None:
    sender = check_address("chat@shop.example")
    recipient = check_address("sales@shop.example")
    message = message_left_message(
        replace(left(), name=" \r\n "), sender=sender, recipient=recipient
    )
    assert message["Subject"] == "Message for Sales from A customer"
    with pytest.raises(InvalidAddress, match=r"has no domain|not an e-mail"):
        message_left_message(
            replace(left(), email="zoe@"), sender=sender, recipient=recipient
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  ann@example.com ", "ann@example.com"),
        ("Ann.Lee+chat@Example.COM", "Ann.Lee+chat@example.com"),
        ("ann@bücher.example", "ann@xn--bcher-kva.example"),
        ("ann@localhost", "ann@localhost"),
    ],
)
def test_addresses_that_can_be_used(text: str, expected: str) -> None:
    assert check_address(text).addr_spec == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("ann@example.com\r\nBcc: victim@example.net", "line break"),
        ("ann@example.com\nBcc: victim@example.net", "line break"),
        ("ann\r@example.com", "line break"),
        ("ann@exam\x00ple.com", "line break or control"),
        ("ann@example.com, bob@example.com", "not an e-mail address"),
        ("Ann <ann@example.com>", "malformed domain"),
        ("<ann@example.com>", "malformed domain"),
        ("ann@example.com (Ann)", "malformed domain"),
        ("ann@[", "malformed domain"),
        ('"ann@example.com', "not an e-mail address"),
        ("ann", "no domain|not an e-mail"),
        ("ann@", "no domain"),
        ("@example.com", "no domain"),
        ("ann@@example.com", "not an e-mail address"),
        ("ann@-example-.com", "malformed domain"),
        ("ann@[127.0.0.1]", "malformed domain"),
        ("zoë@example.com", "non-ASCII"),
        ("", "not an e-mail address"),
        ("a" * 250 + "@example.com", "not an e-mail address"),
    ],
)
def test_addresses_that_cannot_be_used(text: str, why: str) -> None:
    with pytest.raises(InvalidAddress, match=why):
        check_address(text)


OUR_TAGS = {"!doctype", "html", "head", "meta", "title", "body", "p", "small"}
OUR_TAGS |= {"table", "tr", "td", "b", "br"}
OUR_TAGS |= {f"/{tag}" for tag in OUR_TAGS}

address_like = st.text(st.sampled_from(list('ab.@"\\()<>[],;: \r\n\x00é-')))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40) | address_like, st.text(max_size=20))
def test_only_invalid_addresses_escape(text: str, name: str) -> None:
    try:
        address = check_address(text, name)
    except InvalidAddress:
        return
    assert check_address(address.addr_spec).addr_spec == address.addr_spec
    assert not any(char in str(address) for char in "\r\n")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=200))
def test_any_chat_makes_a_well_formed_message(title: str, name: str, text: str) -> None:
    chat = Transcript(
        department=title,
        operators=(name,),
        lines=(Line(T0, "operator", name, text), Line(T0, "other", name, text)),
    )
    message = transcript_message(
        chat,
        sender=check_address("chat@shop.example"),
        recipient=check_address("chris@example.com", name),
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert sorted(parsed.keys()) == [
        "Auto-Submitted",
        "Content-Type",
        "Date",
        "From",
        "MIME-Version",
        "Message-ID",
        "Subject",
        "To",
    ]
    assert [a.addr_spec for a in parsed["To"].addresses] == ["chris@example.com"]
    _, page = parts(parsed)
    # every tag is one of the page's own: what was written is text
    tags = set(re.findall(r"<(/?[^\s>]*)", page))
    assert tags <= OUR_TAGS


def test_names_and_titles_cannot_add_headers() -> None:
    injected = "Eve\r\nBcc: victim@example.net\r\nX-Evil: 1"
    message = transcript_message(
        replace(transcript(), department=injected, operators=(injected,)),
        sender=check_address("chat@shop.example"),
        recipient=check_address("chris@example.com", 'Eve", <x@evil.example>\n'),
    )
    raw = message.as_bytes()
    assert b"\r\nBcc:" not in raw and b"\r\nX-Evil" not in raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert parsed["Subject"] == ("Your chat with Eve Bcc: victim@example.net X-Evil: 1")
    (to,) = parsed["To"].addresses
    assert to.addr_spec == "chris@example.com"
    assert to.display_name == 'Eve", <x@evil.example>'


# -- sending


async def test_a_transcript_is_sent(plain: SMTPServer) -> None:
    mailer = Mailer(plain.settings)
    assert mailer.enabled
    await mailer.send_transcript(transcript(), " chris@example.com", name="Chris Ünal")
    (envelope,) = plain.recorder.received
    assert envelope.mail_from == "chat@shop.example"
    assert envelope.rcpt_tos == ["chris@example.com"]
    message = plain.recorder.message()
    assert message["Subject"] == "Your chat with Sales & Support"
    assert message["To"].addresses[0].display_name == "Chris Ünal"
    assert message["Message-ID"].endswith("@shop.example>")
    text, page = parts(message)
    assert f"[14:04] Anna Müller (operator): {HOSTILE}" in text
    assert "<script>" not in page
    assert plain.recorder.sessions == [(False, False)]


async def test_a_message_left_is_sent(plain: SMTPServer) -> None:
    mailer = Mailer(plain.settings)
    await mailer.send_message_left(left(), "sales@shop.example")
    message = plain.recorder.message()
    assert plain.recorder.received[0].rcpt_tos == ["sales@shop.example"]
    assert message["Reply-To"].addresses[0].addr_spec == "zoe@example.org"
    assert "Please call me back." in parts(message)[0]


async def test_starttls_and_a_login(
    secure: SMTPServer, certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(
        secure.settings, starttls=True, username="chat", password=PASSWORD
    )
    mailer = Mailer(settings, tls_context=certificate.client_context())
    await mailer.send_transcript(transcript(), "chris@example.com")
    assert secure.recorder.sessions == [(True, True)]

    # a wrong password: refused, and the password is in no error or log
    wrong = replace(settings, password="not-" + PASSWORD)
    mailer = Mailer(wrong, tls_context=certificate.client_context())
    with (
        caplog.at_level(logging.DEBUG, "lgserver.mail"),
        pytest.raises(MailError) as caught,
    ):
        await mailer.send_transcript(transcript(), "chris@example.com")
    assert str(caught.value).startswith(
        f"the mail server 127.0.0.1 port {secure.port}: the login as 'chat' "
        "was refused: 535 "
    )
    assert PASSWORD not in str(caught.value) and PASSWORD not in caplog.text
    assert "chris@" not in caplog.text  # addresses are logged masked
    assert "***@example.com" in caplog.text
    assert len(secure.recorder.received) == 1


async def test_a_certificate_that_is_not_trusted_stops_the_e_mail(
    secure: SMTPServer,
) -> None:
    settings = replace(
        secure.settings, starttls=True, username="chat", password=PASSWORD
    )
    mailer = Mailer(settings, tls_context=ssl.create_default_context())
    with pytest.raises(MailError, match=r"(?i)certificate"):
        await mailer.send_transcript(transcript(), "chris@example.com")
    assert secure.recorder.received == []


async def test_no_login_without_starttls(secure: SMTPServer) -> None:
    # the server offers a login over TLS only: without it, nothing is sent
    settings = replace(secure.settings, username="chat", password=PASSWORD)
    with pytest.raises(MailError) as caught:
        await Mailer(settings).send_transcript(transcript(), "chris@example.com")
    assert str(caught.value) == (
        f"the mail server 127.0.0.1 port {secure.port}: the server offers no "
        "login (AUTH), but smtp.username is set"
    )
    # nor without a login
    settings = replace(secure.settings, starttls=False)
    with pytest.raises(MailError, match=r"was refused: 530 Must issue a STARTTLS"):
        await Mailer(settings).send_transcript(transcript(), "chris@example.com")
    assert secure.recorder.received == []


async def test_starttls_required_but_not_offered(plain: SMTPServer) -> None:
    settings = replace(plain.settings, starttls=True)
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        await Mailer(settings).send_transcript(transcript(), "chris@example.com")
    assert plain.recorder.received == []


async def test_tls_from_the_first_byte_on_port_465(
    certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    for server in run(recorder, ssl_context=certificate.server_context([])):
        # the test server cannot take port 465 itself
        monkeypatch.setattr(lgserver.mail, "IMPLICIT_TLS_PORT", server.port)
        settings = replace(server.settings, starttls=True)
        mailer = Mailer(settings, tls_context=certificate.client_context())
        await mailer.send_transcript(transcript(), "chris@example.com")
    assert recorder.sessions == [(True, False)]


async def test_a_refused_recipient_says_so(
    plain: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    plain.recorder.refuse.add("nobody@example.com")
    mailer = Mailer(plain.settings)
    with (
        caplog.at_level(logging.INFO, "lgserver.mail"),
        pytest.raises(MailError) as caught,
    ):
        await mailer.send_transcript(transcript(), "nobody@example.com")
    assert str(caught.value) == (
        f"the mail server 127.0.0.1 port {plain.port} refused the recipient "
        "nobody@example.com: 550 5.1.1 no such mailbox here"
    )
    assert [r.levelname for r in caplog.records] == ["INFO"]
    # and the next e-mail goes through
    await mailer.send_transcript(transcript(), "chris@example.com")
    assert len(plain.recorder.received) == 1


async def test_a_server_that_cannot_be_reached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there
    settings = SMTPSettings(
        host="127.0.0.1", port=port, from_address="chat@shop.example"
    )
    with (
        caplog.at_level(logging.WARNING, "lgserver.mail"),
        pytest.raises(MailError, match=f"127.0.0.1 port {port}"),
    ):
        await Mailer(settings).send_transcript(transcript(), "chris@example.com")
    assert [r.levelname for r in caplog.records] == ["WARNING"]


@pytest.fixture
async def silent() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_a_silent_server_times_out(silent: int) -> None:
    settings = SMTPSettings(
        host="127.0.0.1",
        port=silent,
        from_address="chat@shop.example",
        connect_timeout=0.3,
    )
    with pytest.raises(MailError) as caught:
        await Mailer(settings).send_transcript(transcript(), "chris@example.com")
    assert str(caught.value) == (
        f"the mail server 127.0.0.1 port {silent}: no answer within 0.3 seconds"
    )

    # the whole e-mail has its own bound
    settings = replace(settings, connect_timeout=30, send_timeout=0.3)
    with pytest.raises(MailError) as caught:
        await Mailer(settings).send_transcript(transcript(), "chris@example.com")
    assert str(caught.value) == (
        f"the mail server 127.0.0.1 port {silent} did not answer within 0.3 seconds"
    )


async def test_a_flood_of_e_mails_takes_few_connections(plain: SMTPServer) -> None:
    plain.recorder.delay = 0.05
    mailer = Mailer(replace(plain.settings, max_connections=2))
    await asyncio.gather(
        *(mailer.send_transcript(transcript(), f"c{n}@example.com") for n in range(8))
    )
    assert len(plain.recorder.received) == 8
    assert 1 <= plain.recorder.peak <= 2


async def test_transcripts_to_one_address_are_limited(plain: SMTPServer) -> None:
    now = [1000.0]
    settings = replace(plain.settings, per_recipient_per_hour=2)
    mailer = Mailer(settings, clock=lambda: now[0])
    await mailer.send_transcript(transcript(), "chris@example.com")
    now[0] += 600
    await mailer.send_transcript(transcript(), "CHRIS@Example.com")
    with pytest.raises(RateLimited) as caught:
        await mailer.send_transcript(transcript(), "chris@example.com")
    assert caught.value.retry_after == 3000.0
    assert str(caught.value) == (
        "chris@example.com got 2 e-mails in the last hour; try again in 50 minutes"
    )
    # others are not held back, nor the departments' messages
    await mailer.send_transcript(transcript(), "dana@example.com")
    for _ in range(3):
        await mailer.send_message_left(left(), "chris@example.com")
    assert len(plain.recorder.received) == 6

    # an hour after the first, one more may go
    now[0] = 1000.0 + 3600
    await mailer.send_transcript(transcript(), "chris@example.com")
    with pytest.raises(RateLimited):
        await mailer.send_transcript(transcript(), "chris@example.com")
    assert len(plain.recorder.received) == 7


async def test_a_refused_address_is_not_sent_and_not_counted(
    plain: SMTPServer,
) -> None:
    mailer = Mailer(replace(plain.settings, per_recipient_per_hour=1))
    with pytest.raises(InvalidAddress):
        await mailer.send_transcript(transcript(), "chris@example.com\r\nBcc: x@y.z")
    with pytest.raises(InvalidAddress):
        await mailer.send_message_left(replace(left(), email="a\nb@c.d"), "s@x.y")
    assert plain.recorder.received == []
    await mailer.send_transcript(transcript(), "chris@example.com")
    assert len(plain.recorder.received) == 1


async def test_without_a_server_there_is_no_e_mail() -> None:
    mailer = Mailer(SMTPSettings())
    assert not mailer.enabled
    with pytest.raises(MailDisabled) as caught:
        await mailer.send_transcript(transcript(), "chris@example.com")
    assert str(caught.value) == (
        "e-mail is not available: no SMTP server is configured (smtp.host)"
    )
    with pytest.raises(MailDisabled):
        await mailer.send_message_left(left(), "sales@shop.example")


def test_a_login_over_plain_text_is_warned_of(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = SMTPSettings(
        host="mail.example",
        from_address="chat@shop.example",
        username="chat",
        password=PASSWORD,
        starttls=False,
    )
    with caplog.at_level(logging.WARNING, "lgserver.mail"):
        Mailer(settings)
        Mailer(replace(settings, starttls=True))
        Mailer(replace(settings, port=465))
    assert [r.getMessage() for r in caplog.records] == [
        "smtp.username is set but smtp.starttls is off: the password would "
        "cross the network in clear text"
    ]
    assert PASSWORD not in caplog.text
