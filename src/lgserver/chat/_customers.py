"""What customers' chat windows call (``docs/chat-api.md``, customer
calls), and the typing notices both sides send."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from typing import Any

from ..mail import (
    InvalidAddress,
    LeftMessage,
    Line,
    MailDisabled,
    MailError,
    RateLimited,
    Transcript,
)
from ..protocol.messages import ErrorCode
from ..server.hub import CallContext, CallFailed
from ..store.interface import Duplicate, MessageRecord
from . import _params as check
from ._core import ChatCode, Core, LiveChat, Person, failure
from .errors import RoutingError
from .forms import InvalidAnswer, check_answers
from .routing import CallState

__all__ = ["Customers"]

logger = logging.getLogger("lgserver.chat")

MAX_NAME = 100
HOUR = 3600.0
#: Messages a page of ``chat.history`` holds.
HISTORY_PAGE = 100


class Customers:
    """The customer calls, over the service's state."""

    def __init__(self, core: Core) -> None:
        self.core = core
        # visitor id -> when they left their last messages, for the limit
        self._left: dict[str, deque[float]] = {}

    async def banned(self, visitor: str, address: str | None) -> bool:
        """Whether a ban holds on the visitor id or the address."""
        ban = await self.core.store.find_ban(visitor, address or "")
        return ban is not None

    def departments(self) -> list[dict[str, Any]]:
        """Every department with whether someone serves it now."""
        core = self.core
        return [
            {"name": name, "title": record.title, "staffed": core.staffed(name)}
            for name, record in sorted(core.departments.items())
        ]

    async def status(
        self, visitor: str, address: str | None, department: str | None
    ) -> dict[str, Any]:
        """What ``chat.status`` and the widget's status page answer."""
        core = self.core
        if await self.banned(visitor, address):
            return {"available": False, "banned": True, "departments": []}
        await core.sync_departments()
        departments = self.departments()
        if department is None:
            available = any(d["staffed"] for d in departments)
        else:
            available = any(
                d["staffed"] for d in departments if d["name"] == department
            )
        return {"available": available, "banned": False, "departments": departments}

    # -- calls

    async def chat_status(
        self, context: CallContext, person: Person, raw: Any
    ) -> dict[str, Any]:
        p = check.params(raw, set(), {"department"})
        department = p.get("department")
        if department is not None:
            department = check.name(department, "department")
        address = context.hub.address(context.session)
        status = await self.status(person.name, address, department)
        live = self.live_chat(person)
        if live is not None and not status["banned"]:
            status["chat"] = self.rejoined(live)
        return status

    def live_chat(self, person: Person) -> LiveChat | None:
        """The chat of a customer still waiting or being served, which a
        new session of theirs takes up again (whoever holds the visitor id
        speaks as the customer: the authenticator admits none short enough
        to be guessed, :mod:`lgserver.security.visitors`)."""
        core = self.core
        for call_id in person.calls:
            chat = core.chats.get(call_id)
            if chat is not None:
                return chat
        return None

    def rejoined(self, chat: LiveChat) -> dict[str, Any]:
        """A live chat as the customer's window takes it up again."""
        core = self.core
        view = core.router.call(chat.id)
        serving = chat.operator is not None and view.state is CallState.ACTIVE
        wire: dict[str, Any] = {
            "chat": chat.id,
            "department": chat.department,
            "state": "chatting" if serving else "waiting",
            "position": view.position,
            "estimated_wait": view.estimated_wait,
        }
        if serving:
            wire["operator"] = core.display(chat.operator)
        elif view.leave_message_offered:
            wire["leave_message"] = True
        return wire

    async def place(self, context: CallContext, person: Person, raw: Any) -> Any:
        p = check.params(raw, {"department"}, {"name", "url", "language"})
        department = check.name(p["department"], "department")
        name = check.optional_text(p.get("name"), "name", MAX_NAME)
        url = check.url(p["url"], "url") if "url" in p else ""
        language = check.language(p["language"]) if "language" in p else ""
        live = None if person.placing else self.live_chat(person)
        if live is not None:
            # the same customer in a new window (a reloaded page): their
            # chat goes on there, and its events reach this session too
            return {**self.rejoined(live), "rejoined": True}
        if person.calls or person.placing:
            raise CallFailed(
                ChatCode.ALREADY_WAITING, "you have a call or a chat going on already"
            )
        person.placing = True
        try:
            # the call is placed whole even if the session ends meanwhile
            return await asyncio.shield(
                self._place(
                    context,
                    person,
                    department=department,
                    name=name,
                    url=url,
                    language=language,
                )
            )
        finally:
            person.placing = False
            if not person.sessions and not person.calls:
                core = self.core
                if core.customers.get(person.name) is person:
                    del core.customers[person.name]

    async def _place(
        self,
        context: CallContext,
        person: Person,
        *,
        department: str,
        name: str,
        url: str,
        language: str,
    ) -> dict[str, Any]:
        core = self.core
        address = context.hub.address(context.session) or ""
        if await self.banned(person.name, address):
            raise CallFailed(ChatCode.BANNED, "the service is not available to you")
        await core.department(department)
        if len(core.router.queue(department)) >= core.router.config.max_queue:
            raise CallFailed(ChatCode.UNAVAILABLE, "the queue is full; leave a message")
        country = await core.locator.country(address)
        record = await core.store.create_chat(
            department,
            person.name,
            customer_name=name,
            address=address,
            country=country,
            origin_url=url,
        )
        chat = LiveChat(
            id=record.id,
            visitor=person.name,
            department=department,
            name=name,
            url=url,
            country=country,
            address=address,
            language=language,
            placed_at=record.placed_at.timestamp(),
        )
        core.chats[chat.id] = chat
        person.calls[chat.id] = None
        try:
            core.router.place_call(chat.id, department, core.now())
        except RoutingError as error:
            del core.chats[chat.id]
            del person.calls[chat.id]
            core.persist(chat.id, lambda: core.store.end_chat(chat.id, "refused"))
            raise failure(error) from None
        finally:
            core.after()
        if chat.id not in core.chats:
            raise CallFailed(ChatCode.CHAT_ENDED, "the chat has ended")
        if not person.sessions:
            # every session of theirs ended while the call was placed
            core.router.customer_left(chat.id, core.now())
            core.after()
            raise CallFailed(ChatCode.CHAT_ENDED, "the chat has ended")
        view = core.router.call(chat.id)
        return {
            "chat": chat.id,
            "position": view.position,
            "estimated_wait": view.estimated_wait,
        }

    async def leave(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"chat"}, set())
        core = self.core
        chat = await core.customer_chat(person, check.name(p["chat"], "chat"))
        try:
            core.router.customer_left(chat.id, core.now())
        finally:
            core.after()
        await core.settled(chat.id)

    async def leave_message(
        self, context: CallContext, person: Person, raw: Any
    ) -> None:
        p = check.params(raw, {"department", "name", "email", "text"}, {"chat"})
        core = self.core
        department = check.name(p["department"], "department")
        name = check.plain_text(p["name"], "name", MAX_NAME)
        email = check.email(p["email"], "email")
        text = check.text(p["text"], "text", core.settings.max_left_message_length)
        chat: LiveChat | None = None
        if "chat" in p:
            chat = await core.customer_chat(person, check.name(p["chat"], "chat"))
            if chat.department != department:
                raise check.bad("the chat waits in another department")
            view = core.router.call(chat.id)
            if view.state is CallState.ACTIVE or not view.leave_message_offered:
                raise CallFailed(
                    ErrorCode.CONFLICT, "a message may not be left for this call now"
                )
        address = context.hub.address(context.session)
        if await self.banned(person.name, address):
            raise CallFailed(ChatCode.BANNED, "the service is not available to you")
        record = await core.department(department)
        self._count_left(person.name)

        left = await core.store.leave_message(
            department,
            person.name,
            name,
            email,
            text,
            chat=chat.id if chat is not None else "",
        )
        if chat is not None and chat.id in core.chats:
            try:
                core.router.leave_message(chat.id, core.now())
            except RoutingError as error:
                # an operator took the call meanwhile: the message stays
                logger.info("chat %s: message left, call not ended: %s", chat.id, error)
            finally:
                core.after()
            await core.settled(chat.id)
        if record.email and core.mailer.enabled:
            mail = LeftMessage(
                department=record.title,
                name=name,
                email=email,
                text=text,
                page_url=chat.url if chat is not None else "",
                time=left.created_at,
            )
            core.background(self._mail_left(mail, record.email, left.id))

    def _count_left(self, visitor: str) -> None:
        now = time.monotonic()
        times = self._left.setdefault(visitor, deque())
        while times and times[0] <= now - HOUR:
            times.popleft()
        if len(times) >= self.core.settings.left_messages_per_hour:
            raise CallFailed(
                ErrorCode.RATE_LIMITED, "too many messages left; try again later"
            )
        times.append(now)
        if len(self._left) > 10_000:
            for key in [k for k, v in self._left.items() if v[-1] <= now - HOUR]:
                del self._left[key]

    async def _mail_left(self, mail: LeftMessage, to: str, left_id: int) -> None:
        try:
            await self.core.mailer.send_message_left(mail, to)
        except MailError as error:
            logger.warning(
                "message left #%d is stored but was not e-mailed to %s: %s",
                left_id,
                mail.department,
                error,
            )

    async def transcript(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"chat", "email"}, set())
        core = self.core
        chat_id = check.name(p["chat"], "chat")
        email = check.email(p["email"], "email")
        record = await core.store.get_chat(chat_id)
        if record is None or record.visitor != person.name:
            raise CallFailed(ErrorCode.NOT_FOUND, "no such chat")
        await core.settled(chat_id)

        # the chat as the customer saw it, from the store
        lines: list[Line] = []
        after = 0
        limit = core.settings.transcript_max_messages
        while len(lines) < limit:
            page = await core.store.list_messages(
                chat_id, after, min(HISTORY_PAGE * 10, limit - len(lines))
            )
            for stored in page:
                message = core.message(stored)
                lines.append(
                    Line(
                        stored.created_at,
                        message["from"],
                        message["name"],
                        message["text"],
                    )
                )
            if not page:
                break
            after = page[-1].id
        operators: list[str] = []
        for operator, _, _ in await core.store.list_handovers(chat_id):
            shown = await self._display_name(operator)
            if shown not in operators:
                operators.append(shown)
        department = core.departments.get(record.department)
        transcript = Transcript(
            department=department.title if department else record.department,
            operators=tuple(operators),
            lines=tuple(lines),
            started=record.placed_at,
        )
        try:
            await core.mailer.send_transcript(
                transcript, email, name=record.customer_name
            )
        except (MailDisabled, InvalidAddress) as error:
            raise CallFailed(ChatCode.MAIL_UNAVAILABLE, str(error)) from None
        except RateLimited as error:
            raise CallFailed(ChatCode.TOO_MANY_MAILS, str(error)) from None
        except MailError as error:
            logger.info("transcript of chat %s not sent: %s", chat_id, error)
            raise CallFailed(
                ChatCode.MAIL_UNAVAILABLE, "the e-mail could not be sent"
            ) from None

    async def _display_name(self, operator: str) -> str:
        person = self.core.staff.get(operator)
        if person is not None and person.display_name:
            return person.display_name
        user = await self.core.store.get_user_by_name(operator)
        return user.display_name if user is not None else operator

    async def form_answer(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"chat", "form", "answers"}, set())
        core = self.core
        chat = await core.customer_chat(person, check.name(p["chat"], "chat"))
        name = check.name(p["form"], "form")
        form = core.forms.get(name)
        if form is None or name not in chat.forms:
            raise CallFailed(ErrorCode.CONFLICT, f"form {name!r} was not sent to you")
        try:
            answers = check_answers(form, p["answers"])
        except InvalidAnswer as error:
            raise check.bad(str(error)) from None
        chat.forms.discard(name)

        # kept in the history as the customer's words, shown to the
        # operator as answers
        labels = {field.name: field.label for field in form.fields}
        lines = [form.title] + [
            f"{labels[key]}: {_shown(value)}" for key, value in answers.items()
        ]
        body = core.body("customer", chat.name, "\n".join(lines))
        client_id = f"{chat.id}:form:{secrets.token_hex(8)}"
        sender = f"customer:{person.name}"
        await core.persist(
            chat.id,
            lambda: core.store.append_message(chat.id, sender, client_id, body),
        )
        core.to_staff(
            chat.operator,
            "chat.form_answer",
            {"chat": chat.id, "form": name, "answers": answers},
        )

    # -- typing, from both sides

    def typing(self, context: CallContext, data: Any) -> None:
        """A ``chat.typing`` event; bad ones are dropped, as events have
        no answer."""
        core = self.core
        if not isinstance(data, dict) or not isinstance(data.get("chat"), str):
            return
        chat = core.chats.get(data["chat"])
        principal = context.principal
        if chat is None or chat.operator is None:
            return
        now = core.now()
        if principal.kind == "customer":
            if chat.visitor != principal.name:
                return
            text = data.get("text")
            if not isinstance(text, str):
                text = ""
            core.router.activity(chat.id, now)
            self._customer_typing(chat, text[: core.settings.max_message_length])
        elif chat.operator == principal.name:
            core.router.activity(chat.id, now)
            if now - chat.staff_typing_at >= core.settings.typing_interval:
                chat.staff_typing_at = now
                core.to_customer(chat, "chat.typing", {"chat": chat.id}, volatile=True)

    def _customer_typing(self, chat: LiveChat, text: str) -> None:
        core = self.core
        now = core.now()
        interval = core.settings.typing_interval
        if now - chat.typing_at >= interval:
            chat.typing_text = None
            self._forward_typing(chat, text)
            return
        # too soon: the latest text goes at the end of the interval
        chat.typing_text = text
        if chat.typing_timer is None:
            loop = asyncio.get_running_loop()
            delay = interval - (now - chat.typing_at)
            chat.typing_timer = loop.call_later(delay, self._typing_due, chat)

    def _typing_due(self, chat: LiveChat) -> None:
        chat.typing_timer = None
        text, chat.typing_text = chat.typing_text, None
        if text is not None and chat.id in self.core.chats:
            self._forward_typing(chat, text)

    def _forward_typing(self, chat: LiveChat, text: str) -> None:
        core = self.core
        chat.typing_at = core.now()
        data: dict[str, Any] = {"chat": chat.id}
        if core.settings.typing_preview:
            data["text"] = text
        core.to_staff(chat.operator, "chat.typing", data, volatile=True)


def _shown(value: object) -> str:
    if value is True:
        return "yes"
    return str(value)


async def send(core: Core, context: CallContext, person: Person, raw: Any) -> Any:
    """``chat.send``, from a customer or the operator holding the chat:
    stored first, then shown to both sides; a message sent again under
    the same id is answered with the one stored and not shown again."""
    p = check.params(raw, {"chat", "id", "text"}, set())
    chat_id = check.name(p["chat"], "chat")
    message_id = check.name(p["id"], "id")
    text = check.text(p["text"], "text", core.settings.max_message_length)
    if person.staff:
        chat = await core.held_chat(person, chat_id)
        role, sender = "operator", f"operator:{person.name}"
        shown = person.display_name
    else:
        chat = await core.customer_chat(person, chat_id)
        role, sender = "customer", f"customer:{person.name}"
        shown = chat.name
    body = core.body(role, shown, text)
    client_id = f"{chat.id}:{message_id}"

    async def write() -> MessageRecord:
        stored = await core.store.append_message(chat.id, sender, client_id, body)
        if isinstance(stored, Duplicate):
            return stored.record
        core.messages_stored()
        core.fan_out(chat, stored, context.session)
        return stored

    # a chat ending at this very moment keeps the message all the same
    with contextlib.suppress(RoutingError):
        core.router.activity(chat.id, core.now())
    record: MessageRecord = await asyncio.shield(
        core.persist(chat.id, write, report=False)
    )
    return {"id": record.id, "at": record.created_at.timestamp()}


async def history(core: Core, context: CallContext, person: Person, raw: Any) -> Any:
    """``chat.history``: a page of a chat's stored messages, to the
    customer or to staff who held the chat or have it offered."""
    p = check.params(raw, {"chat"}, {"after"})
    chat_id = check.name(p["chat"], "chat")
    after = p.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise check.bad("after must be a message id, 0 or more")
    chat = core.chats.get(chat_id)
    if person.staff:
        allowed = chat is not None and (
            chat.operator == person.name
            or person.name in core.router.call(chat_id).offered_to
            or core.router.call(chat_id).operator == person.name
        )
        if not allowed:
            handovers = await core.store.list_handovers(chat_id)
            allowed = any(name == person.name for name, _, _ in handovers)
    else:
        allowed = chat is not None and chat.visitor == person.name
        if not allowed:
            record = await core.store.get_chat(chat_id)
            allowed = record is not None and record.visitor == person.name
    if not allowed:
        raise CallFailed(ErrorCode.NOT_FOUND, "no such chat")
    await core.settled(chat_id)
    page = await core.store.list_messages(chat_id, after, HISTORY_PAGE)
    return {"messages": [core.message(record) for record in page]}
