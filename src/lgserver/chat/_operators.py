"""What operators' consoles call (``docs/chat-api.md``, operator calls)."""

from __future__ import annotations

import logging
from typing import Any

from ..protocol.messages import ErrorCode
from ..server.hub import CallContext, CallFailed
from ..store.interface import Role
from . import _params as check
from ._core import ChatCode, Core, LiveChat, Person
from .routing import CallState, OperatorStatus

__all__ = ["Operators"]

logger = logging.getLogger("lgserver.chat")

MAX_REASON = 256
#: The longest ban: ten years.
MAX_BAN = 10 * 365 * 24 * 3600.0
_STATUSES = {str(status) for status in OperatorStatus}


class Operators:
    """The operator calls, over the service's state."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def _chat_wire(self, chat: LiveChat) -> dict[str, Any]:
        return {
            "chat": chat.id,
            "department": chat.department,
            "customer": chat.customer(),
        }

    async def state(self, context: CallContext, person: Person, raw: Any) -> Any:
        check.params(raw, set(), set())
        core = self.core
        view = core.router.operator(person.name)
        offers = [core.chats[c].call() for c in (*view.assigned, *view.offers)]
        return {
            "status": str(view.status),
            "departments": list(view.departments),
            "max_chats": view.cap,
            "offers": offers,
            "chats": [self._chat_wire(core.chats[c]) for c in view.chats],
        }

    async def status(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"status"}, set())
        status = p["status"]
        if status not in _STATUSES:
            raise check.bad("status must be 'available', 'away' or 'offline'")
        core = self.core
        try:
            core.router.set_status(person.name, OperatorStatus(status), core.now())
        finally:
            core.after()

    async def list(self, context: CallContext, person: Person, raw: Any) -> Any:
        check.params(raw, set(), set())
        core = self.core
        await core.sync_departments()
        router = core.router
        known = set(router.operators())
        operators = []
        for user in await core.store.list_users():
            if user.disabled:
                continue
            if user.role is not Role.OPERATOR and not user.departments:
                continue
            entry: dict[str, Any] = {
                "name": user.name,
                "display_name": user.display_name,
                "status": "offline",
                "departments": list(user.departments),
                "load": 0,
                "max_chats": user.max_chats,
            }
            if user.name in known:
                view = router.operator(user.name)
                entry["status"] = str(view.status)
                entry["load"] = view.load
            operators.append(entry)
        departments = [
            {"name": record.name, "title": record.title}
            for record in sorted(core.departments.values(), key=lambda d: d.name)
        ]
        return {"operators": operators, "departments": departments}

    async def accept(self, context: CallContext, person: Person, raw: Any) -> Any:
        p = check.params(raw, {"chat"}, set())
        core = self.core
        chat_id = check.name(p["chat"], "chat")
        chat = core.chats.get(chat_id)
        if chat is None:
            if await core.store.get_chat(chat_id) is not None:
                raise CallFailed(ChatCode.NOT_OFFERED, "the call has ended")
            raise CallFailed(ErrorCode.NOT_FOUND, "no such chat")
        try:
            core.router.accept(person.name, chat_id, core.now())
        finally:
            core.after()
        await core.settled(chat_id)
        return {"chat": chat_id, "customer": chat.customer()}

    async def decline(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"chat"}, set())
        core = self.core
        chat_id = check.name(p["chat"], "chat")
        if chat_id not in core.chats:
            if await core.store.get_chat(chat_id) is not None:
                raise CallFailed(ChatCode.NOT_OFFERED, "the call has ended")
            raise CallFailed(ErrorCode.NOT_FOUND, "no such chat")
        try:
            core.router.decline(person.name, chat_id, core.now())
        finally:
            core.after()

    async def transfer(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"chat"}, {"operator", "department", "note"})
        core = self.core
        router = core.router
        chat = await core.held_chat(person, check.name(p["chat"], "chat"))
        if ("operator" in p) == ("department" in p):
            raise check.bad("name either an operator or a department")
        note = ""
        if "note" in p and p["note"] != "":
            note = check.text(p["note"], "note", router.config.max_note_length)
        if "operator" in p:
            target = check.name(p["operator"], "operator")
            if target == person.name:
                raise check.bad("a chat cannot be transferred to oneself")
            if target not in router.operators():
                raise CallFailed(ChatCode.OPERATOR_AWAY, f"{target!r} is not online")
            view = router.operator(target)
            if view.status is OperatorStatus.AVAILABLE and view.load >= view.cap:
                raise CallFailed(
                    ChatCode.OPERATOR_BUSY, f"{target!r} is at their cap of chats"
                )
            try:
                router.transfer_to_operator(
                    person.name, chat.id, target, core.now(), note=note
                )
            finally:
                core.after()
        else:
            department = check.name(p["department"], "department")
            await core.department(department)
            try:
                router.transfer_to_department(
                    person.name, chat.id, department, core.now(), note=note
                )
            finally:
                core.after()
        await core.settled(chat.id)

    async def end(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"chat"}, set())
        core = self.core
        chat = await core.held_chat(person, check.name(p["chat"], "chat"))
        try:
            core.router.end_chat(person.name, chat.id, core.now())
        finally:
            core.after()
        await core.settled(chat.id)

    async def ban(self, context: CallContext, person: Person, raw: Any) -> Any:
        p = check.params(raw, {"chat", "seconds", "reason"}, set())
        core = self.core
        chat_id = check.name(p["chat"], "chat")
        seconds = check.number(p["seconds"], "seconds", 0, MAX_BAN)
        reason = check.plain_text(p["reason"], "reason", MAX_REASON)
        chat = core.chats.get(chat_id)
        if chat is None or not self._sees(person, chat):
            raise await core.gone(chat_id, operator=person.name)
        ban = await core.store.add_ban(
            visitor=chat.visitor,
            address=chat.address,
            reason=reason,
            created_by=person.name,
            seconds=seconds,
        )
        await core.store.record_audit(
            person.name,
            "chat.ban",
            {
                "ban": ban.id,
                "chat": chat.id,
                "visitor": chat.visitor,
                "address": chat.address,
                "seconds": seconds,
                "reason": reason,
            },
        )
        logger.info("%s banned the customer of chat %s", person.name, chat.id)
        if chat.id in core.chats:
            chat.banned = True
            try:
                if chat.operator == person.name:
                    core.router.end_chat(person.name, chat.id, core.now())
                else:
                    core.router.customer_left(chat.id, core.now())
            finally:
                core.after()
        await core.settled(chat.id)
        return {"ban": ban.id}

    def _sees(self, person: Person, chat: LiveChat) -> bool:
        """Whether the chat is held by, offered or assigned to this member
        of staff."""
        if chat.operator == person.name:
            return True
        view = self.core.router.call(chat.id)
        return person.name in view.offered_to or (
            view.state is CallState.ASSIGNED and view.operator == person.name
        )

    async def push_form(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"chat", "form"}, set())
        core = self.core
        chat = await core.held_chat(person, check.name(p["chat"], "chat"))
        name = check.name(p["form"], "form")
        form = core.forms.get(name)
        if form is None:
            raise CallFailed(ErrorCode.NOT_FOUND, f"no form {name!r}")
        chat.forms.add(name)
        core.to_customer(chat, "chat.form", {"chat": chat.id, "form": form.to_wire()})

    async def redirect(self, context: CallContext, person: Person, raw: Any) -> None:
        p = check.params(raw, {"chat", "url"}, set())
        core = self.core
        chat = await core.held_chat(person, check.name(p["chat"], "chat"))
        url = check.url(p["url"], "url")
        core.to_customer(chat, "chat.redirect", {"chat": chat.id, "url": url})

    async def customer(self, context: CallContext, person: Person, raw: Any) -> Any:
        p = check.params(raw, {"chat"}, set())
        core = self.core
        chat_id = check.name(p["chat"], "chat")
        chat = core.chats.get(chat_id)
        if chat is None or not self._sees(person, chat):
            raise await core.gone(chat_id, operator=person.name)
        history = [
            {
                "chat": record.id,
                "department": record.department,
                "placed_at": record.placed_at.timestamp(),
                "outcome": record.outcome,
                "operator": record.operator,
            }
            for record in await core.store.list_visitor_chats(chat.visitor)
            if record.id != chat.id
        ]
        return {**chat.customer(), "address": chat.address, "history": history}

    async def canned(self, context: CallContext, person: Person, raw: Any) -> Any:
        check.params(raw, set(), set())
        records = await self.core.store.list_canned()
        return {
            "canned": [
                {
                    "kind": str(record.kind),
                    "keyword": record.keyword,
                    "title": record.title,
                    "body": record.body,
                }
                for record in records
            ]
        }

    async def forms(self, context: CallContext, person: Person, raw: Any) -> Any:
        check.params(raw, set(), set())
        return {"forms": [form.to_wire() for form in self.core.forms.values()]}
