"""The state the chat service keeps between calls: people and their
sessions, live chats, the router and its timer, and the writes to the
store, chained chat by chat.

People. A customer is known by their visitor id, an operator (or an
administrator serving departments) by their user name; either may have
several sessions at once (two tabs), and every event for them goes to
all. A session is known from its first chat call or event; when the last
session of a person ends (after its grace window, or closed), the router
is told: a customer left, an operator was lost. A connection that drops
and resumes within the grace window is never reported by the hub, so
nobody notices it.

Writes. What the router reports is stored (a chat accepted, transferred,
ended; system messages) in the order it happened: every write of one
chat waits for the one before it, while writes of different chats go to
the store together and share its commits. A call that must answer once
its effect is durable awaits the chat's last write.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..config import ChatSettings
from ..geo import Locator
from ..mail import Mailer
from ..protocol.codec import Decoder
from ..protocol.errors import CloseCode
from ..protocol.messages import ErrorCode, Event
from ..protocol.session import ServerSession
from ..server.hub import CallFailed, Hub
from ..store.interface import DepartmentRecord, MessageRecord, Store, UserRecord
from . import errors
from .events import (
    CallAccepted,
    CallAssigned,
    CallEnded,
    CallTransferred,
    ChatRequeued,
    CustomerLeft,
    LeaveMessageOffered,
    OfferMade,
    OfferWithdrawn,
    QueuePosition,
    RoutingEvent,
)
from .forms import Form
from .routing import (
    CallState,
    DepartmentSettings,
    OperatorStatus,
    Router,
    RouterConfig,
    RoutingMode,
)

__all__ = ["STAFF", "ChatCode", "Core", "LiveChat", "Person", "failure"]

logger = logging.getLogger("lgserver.chat")

#: Principal kinds that serve customers.
STAFF = ("operator", "admin")


class ChatCode(enum.IntEnum):
    """Application error codes of live chat (``docs/chat-api.md``)."""

    BANNED = 1001
    UNAVAILABLE = 1002
    ALREADY_WAITING = 1003
    NOT_OFFERED = 1004
    OPERATOR_BUSY = 1005
    OPERATOR_AWAY = 1006
    CHAT_ENDED = 1007
    MAIL_UNAVAILABLE = 1008
    TOO_MANY_MAILS = 1009


@dataclass(eq=False)
class Person:
    """A customer (by visitor id) or a member of staff (by user name)."""

    name: str
    staff: bool
    display_name: str = ""
    sessions: set[ServerSession] = field(default_factory=set)
    #: Staff: their settings, loaded from the store for their first
    #: session since they had none.
    joined: asyncio.Task[None] | None = None
    #: Customers: their live call, at most one, or the one being placed.
    calls: dict[str, None] = field(default_factory=dict)
    placing: bool = False


@dataclass(eq=False)
class LiveChat:
    """A call from its placing to its end, as the service sees it."""

    id: str
    visitor: str
    department: str
    name: str
    url: str
    country: str
    address: str
    language: str
    placed_at: float  # seconds since the epoch
    operator: str | None = None
    #: The note of a transfer to a department, for whoever accepts it.
    note: str = ""
    deadline: float | None = None  # of its assignment, since the epoch
    forms: set[str] = field(default_factory=set)
    banned: bool = False
    typing_at: float = float("-inf")
    typing_text: str | None = None
    typing_timer: asyncio.TimerHandle | None = None
    staff_typing_at: float = float("-inf")

    def customer(self) -> dict[str, Any]:
        """Who the customer is, as operators are told."""
        return {
            "visitor": self.visitor,
            "name": self.name,
            "url": self.url,
            "country": self.country,
        }

    def call(self) -> dict[str, Any]:
        """The call, as an operator's queue shows it."""
        wire: dict[str, Any] = {
            "chat": self.id,
            "department": self.department,
            "name": self.name,
            "url": self.url,
            "country": self.country,
            "placed_at": self.placed_at,
        }
        if self.deadline is not None:
            wire["deadline"] = self.deadline
        return wire


class Core:
    """What every chat call works with; see the module documentation."""

    def __init__(
        self,
        hub: Hub,
        store: Store,
        mailer: Mailer,
        locator: Locator,
        settings: ChatSettings,
        *,
        forms: Iterable[Form] = (),
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        self.store = store
        self.mailer = mailer
        self.locator = locator
        self.settings = settings
        self.forms = {form.name: form for form in forms}
        self.clock = clock
        self.wall = wall
        self.router = Router(RouterConfig(max_queue=settings.max_queue))
        self.departments: dict[str, DepartmentRecord] = {}
        self.customers: dict[str, Person] = {}
        self.staff: dict[str, Person] = {}
        self.chats: dict[str, LiveChat] = {}
        self.decoder: Decoder = hub.registry.decoder()
        self._people: dict[ServerSession, Person] = {}
        self._tails: dict[str, asyncio.Future[Any]] = {}
        self._background: set[asyncio.Future[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._now = float("-inf")
        self.messages_stored: Callable[[], None] = lambda: None

    # -- time

    def now(self) -> float:
        """The router's time: the monotonic clock, never going back."""
        self._now = max(self._now, self.clock())
        return self._now

    def epoch(self, moment: float) -> float:
        """A time of the router's clock as seconds since the epoch."""
        return self.wall() + (moment - self.clock())

    def after(self) -> None:
        """Deliver what the router reported and rearm its timer; called
        after every router command, refused or not."""
        router = self.router
        while (event := router.next_event()) is not None:
            try:
                self._deliver(event)
            except Exception:
                logger.exception("delivering %s failed", type(event).__name__)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = router.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.router.handle_timer(self.now())
        finally:
            self.after()

    def stop_timer(self) -> None:
        """Stop the router's timer for good."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- departments

    def add_department(self, record: DepartmentRecord) -> None:
        """Route a department of the store as it is there now: a new one
        joins the router, a known one takes its new settings."""
        self.departments[record.name] = record
        router = self.router
        settings = DepartmentSettings(
            mode=RoutingMode(str(record.routing)),
            accept_timeout=record.accept_timeout,
            wait_limit=record.wait_limit,
            inactivity_timeout=self.settings.inactivity_timeout or None,
        )
        if record.name not in router.departments():
            router.add_department(record.name, settings)
        elif router.department_settings(record.name) != settings:
            try:
                router.update_department(record.name, settings, self.now())
            finally:
                self.after()
            logger.info("department %s: routing settings changed", record.name)

    async def sync_departments(self) -> None:
        """Take in the departments added to the store since the start, and
        the settings changed (``lgserver department add|set``)."""
        for record in await self.store.list_departments():
            self.add_department(record)

    async def reload(self) -> None:
        """Take in what changed in the store since the start: departments
        and their settings, operators' departments, caps and priorities,
        and accounts disabled, whose consoles are closed (their chats go
        back to the head of the queue, as for a lost operator).

        A department the store no longer lists keeps being routed, so the
        calls waiting there are still served.

        Raises:
            lgserver.store.errors.StoreError: The store cannot be read.
        """
        await self.sync_departments()
        users = await self.store.list_users()
        router = self.router
        try:
            for user in users:
                known = user.name in router.operators()
                if user.disabled:
                    if known:
                        self.retire(user.name)
                    continue
                self.route_operator(user)
                person = self.staff.get(user.name)
                if person is not None:
                    person.display_name = user.display_name or user.name
        finally:
            self.after()

    def retire(self, name: str) -> None:
        """Close every session of a member of staff whose account was
        disabled; once the last ends, the router hears they were lost."""
        self.hub.end_sessions(
            STAFF, name, CloseCode.AUTH_FAILED, "this account was disabled"
        )
        view = self.router.operator(name)
        if view.status is not OperatorStatus.OFFLINE or view.load:
            # no session of theirs was known to chat
            self.router.operator_lost(name, self.now())

    async def department(self, name: str) -> DepartmentRecord:
        """A department the router knows.

        Raises:
            CallFailed: NOT_FOUND, there is no such department.
        """
        record = self.departments.get(name)
        if record is None:
            found = await self.store.get_department(name)
            if found is None or found.name != name:
                raise CallFailed(ErrorCode.NOT_FOUND, f"no department {name!r}")
            self.add_department(found)
            record = found
        return record

    def staffed(self, department: str) -> bool:
        """Whether an operator of the department is available with a cap
        above zero (``docs/chat.md``)."""
        router = self.router
        for op_id in router.operators():
            view = router.operator(op_id)
            if (
                view.status is OperatorStatus.AVAILABLE
                and view.cap > 0
                and department in view.departments
            ):
                return True
        return False

    # -- people

    def person_of(self, session: ServerSession) -> Person | None:
        """The person a session was seen for, if any."""
        return self._people.get(session)

    def enter(self, session: ServerSession, kind: str, name: str) -> Person:
        """The person ``session`` speaks for; the session is counted as
        theirs from now on."""
        person = self._people.get(session)
        if person is not None:
            return person
        staff = kind in STAFF
        people = self.staff if staff else self.customers
        person = people.get(name)
        if person is None:
            person = people[name] = Person(name, staff, display_name=name)
        person.sessions.add(session)
        self._people[session] = person
        if staff and (person.joined is None or person.joined.done()):
            # every new session of theirs reads their settings again
            self._start_join(person)
        return person

    def _start_join(self, person: Person) -> asyncio.Task[None]:
        task = person.joined = asyncio.ensure_future(self._join(person))
        self._background.add(task)
        task.add_done_callback(self._joined)
        return task

    def _joined(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # read by the calls that wait for it

    async def joined(self, person: Person) -> None:
        """Wait until a member of staff is known to the router with their
        settings; a failed attempt is made again.

        Raises:
            CallFailed: FORBIDDEN, the account is gone or disabled;
                UNAVAILABLE, the store could not be read.
        """
        task = person.joined
        if (
            task is not None
            and task.done()
            and (task.cancelled() or task.exception() is not None)
        ):
            task = self._start_join(person)
        if task is None:
            return
        if not task.done():
            # on every call but a console's first, done already: no wait
            await asyncio.wait([task])
        error = None if task.cancelled() else task.exception()
        if isinstance(error, CallFailed):
            raise error
        if task.cancelled() or error is not None:
            logger.error("operator %s: settings not read", person.name, exc_info=error)
            raise CallFailed(ErrorCode.UNAVAILABLE, "try again shortly")

    async def _join(self, person: Person) -> None:
        user = await self.store.get_user_by_name(person.name)
        if user is None or user.disabled:
            raise CallFailed(ErrorCode.FORBIDDEN, "this account cannot serve chats")
        person.display_name = user.display_name or user.name
        for name in user.departments:
            if name not in self.departments:
                await self.department(name)
        try:
            self.route_operator(user)
        finally:
            self.after()

    def route_operator(self, user: UserRecord) -> None:
        """Give the router an operator's stored settings: a new operator
        is added; for one it knows, a cap below the chats they hold is
        reached as they end. Departments not known here are left out."""
        departments = [d for d in user.departments if d in self.departments]
        router = self.router
        if user.name not in router.operators():
            router.add_operator(
                user.name,
                self.now(),
                departments=departments,
                cap=user.max_chats,
                priority=user.priority,
            )
        else:
            router.update_operator(
                user.name,
                self.now(),
                departments=departments,
                cap=user.max_chats,
                priority=user.priority,
                gradual=True,
            )

    def session_ended(self, session: ServerSession, _: object) -> None:
        """The hub ended a session: past its grace window, or closed. When
        it was its person's last, the router hears of it."""
        person = self._people.pop(session, None)
        if person is None:
            return
        person.sessions.discard(session)
        if person.sessions:
            return
        router = self.router
        try:
            if person.staff:
                person.joined = None
                if person.name in router.operators():
                    router.operator_lost(person.name, self.now())
            else:
                for call_id in list(person.calls):
                    if call_id in self.chats:
                        router.customer_left(call_id, self.now())
                if not person.calls and not person.placing:
                    del self.customers[person.name]
        finally:
            self.after()

    # -- events to clients

    def emit(
        self,
        sessions: Iterable[ServerSession],
        name: str,
        data: Any,
        *,
        volatile: bool = False,
    ) -> None:
        """Send one event to sessions, encoded once."""
        targets = list(sessions)
        if targets:
            payload = self.hub.registry.encoder.encode(Event(name, data))
            self.hub.send_encoded(targets, payload, volatile=volatile)

    def to_customer(
        self, chat: LiveChat, name: str, data: Any, *, volatile: bool = False
    ) -> None:
        """Send an event to every session of a chat's customer."""
        person = self.customers.get(chat.visitor)
        if person is not None:
            self.emit(person.sessions, name, data, volatile=volatile)

    def to_staff(
        self, name: str | None, event: str, data: Any, *, volatile: bool = False
    ) -> None:
        """Send an event to every session of a member of staff."""
        person = self.staff.get(name) if name is not None else None
        if person is not None:
            self.emit(person.sessions, event, data, volatile=volatile)

    def display(self, name: str | None) -> str:
        """A member of staff's name as customers see it."""
        if name is None:
            return ""
        person = self.staff.get(name)
        return person.display_name if person is not None else name

    # -- what the router reports

    def _deliver(self, event: RoutingEvent) -> None:
        if isinstance(event, QueuePosition):
            chat = self.chats[event.call_id]
            self.to_customer(
                chat,
                "chat.position",
                {
                    "chat": chat.id,
                    "position": event.position,
                    "estimated_wait": event.estimated_wait,
                },
            )
        elif isinstance(event, OfferMade):
            chat = self.chats[event.call_id]
            self.to_staff(event.operator, "queue.offer", {"call": chat.call()})
        elif isinstance(event, CallAssigned):
            chat = self.chats[event.call_id]
            chat.deadline = self.epoch(event.deadline)
            self.to_staff(event.operator, "queue.offer", {"call": chat.call()})
        elif isinstance(event, OfferWithdrawn):
            self.to_staff(
                event.operator,
                "queue.withdrawn",
                {"chat": event.call_id, "reason": str(event.reason)},
            )
        elif isinstance(event, CallAccepted):
            self._accepted(self.chats[event.call_id], event.operator)
        elif isinstance(event, LeaveMessageOffered):
            chat = self.chats[event.call_id]
            self.to_customer(
                chat,
                "chat.leave_message",
                {"chat": chat.id, "reason": str(event.reason)},
            )
        elif isinstance(event, CallTransferred):
            self._transferred(self.chats[event.call_id], event)
        elif isinstance(event, ChatRequeued):
            chat = self.chats[event.call_id]
            chat.operator = None
            self.to_customer(chat, "chat.reconnecting", {"chat": chat.id})
            self.system(chat, f"{self.display(event.operator)} was disconnected")
        elif isinstance(event, CustomerLeft):
            self.to_staff(event.operator, "chat.customer_left", {"chat": event.call_id})
        elif isinstance(event, CallEnded):
            self._ended(self.chats[event.call_id], event)

    def _accepted(self, chat: LiveChat, operator: str) -> None:
        chat.operator = operator
        chat.deadline = None
        note, chat.note = chat.note, ""
        display = self.display(operator)
        self.to_customer(chat, "chat.accepted", {"chat": chat.id, "operator": display})
        started: dict[str, Any] = {"chat": chat.id, "customer": chat.customer()}
        if note:
            started["note"] = note
        self.to_staff(operator, "chat.started", started)
        self.persist(chat.id, lambda: self.store.hand_over(chat.id, operator, note))
        self.system(chat, f"{display} joined the chat")

    def _transferred(self, chat: LiveChat, event: CallTransferred) -> None:
        data: dict[str, Any] = {"chat": chat.id, "department": event.to_department}
        target = event.to_operator
        source = self.display(event.from_operator)
        if target is not None:
            data["operator"] = self.display(target)
        self.to_customer(chat, "chat.transferred", data)
        self.to_staff(event.from_operator, "chat.transferred", data)
        chat.department = department = event.to_department
        if department != event.from_department:
            self.persist(chat.id, lambda: self.store.move_chat(chat.id, department))
        if target is None:
            chat.operator = None
            chat.note = event.note
            title = self.departments[event.to_department].title
            self.system(chat, f"{source} transferred the chat to {title}")
            return
        chat.operator = target
        started: dict[str, Any] = {"chat": chat.id, "customer": chat.customer()}
        if event.note:
            started["note"] = event.note
        self.to_staff(target, "chat.started", started)
        note = event.note
        self.persist(chat.id, lambda: self.store.hand_over(chat.id, target, note))
        self.system(chat, f"{source} transferred the chat to {self.display(target)}")

    def _ended(self, chat: LiveChat, event: CallEnded) -> None:
        outcome = "banned" if chat.banned else str(event.outcome)
        data = {"chat": chat.id, "outcome": outcome}
        self.to_customer(chat, "chat.ended", data)
        if event.operator is not None:
            self.to_staff(event.operator, "chat.ended", data)
        self.persist(chat.id, lambda: self.store.end_chat(chat.id, outcome))
        if chat.typing_timer is not None:
            chat.typing_timer.cancel()
        del self.chats[chat.id]
        person = self.customers.get(chat.visitor)
        if person is not None:
            person.calls.pop(chat.id, None)
            if not person.sessions and not person.calls and not person.placing:
                del self.customers[chat.visitor]

    # -- the store

    def persist(
        self,
        chat_id: str,
        work: Callable[[], Coroutine[Any, Any, Any]],
        *,
        report: bool = True,
    ) -> asyncio.Future[Any]:
        """Run a write for a chat after the chat's writes before it.

        Args:
            chat_id: The chat.
            work: Makes the write.
            report: Log a failure; False when the caller reports it.
        """
        previous = self._tails.get(chat_id)
        loop = asyncio.get_running_loop()
        if previous is None:
            task = loop.create_task(work())
        else:

            async def run() -> Any:
                await asyncio.wait([previous])
                return await work()

            task = loop.create_task(run())
        self._tails[chat_id] = task
        self._background.add(task)
        task.add_done_callback(functools.partial(self._written, chat_id, report))
        return task

    def _written(self, chat_id: str, report: bool, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if self._tails.get(chat_id) is task:
            del self._tails[chat_id]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and report:
            logger.error(
                "chat %s: a write to the store failed", chat_id, exc_info=error
            )

    async def settled(self, chat_id: str) -> None:
        """Wait for the writes of a chat asked for so far."""
        tail = self._tails.get(chat_id)
        if tail is not None:
            await asyncio.wait([tail])

    def background(self, work: Awaitable[Any]) -> None:
        """Run work (an e-mail) that no call waits for; failures are the
        work's own to log."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the writes and e-mails under
        way, then cancel what is left."""
        pending = set(self._background)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                logger.warning("%d chat writes or e-mails were cut short", len(late))

    def body(self, role: str, name: str, text: str) -> bytes:
        """A message as stored: its encoded map."""
        encoded: bytes = self.hub.registry.encoder.encode(
            {"from": role, "name": name, "text": text}
        )
        return encoded

    def message(self, record: MessageRecord) -> dict[str, Any]:
        """A stored message as clients get it."""
        try:
            body = self.decoder.decode(record.body)
        except Exception:
            body = None
        if not isinstance(body, dict):
            body = {"from": "system", "name": "", "text": ""}
        message = {
            "id": record.id,
            "from": str(body.get("from", "system")),
            "name": str(body.get("name", "")),
            "text": str(body.get("text", "")),
            "at": record.created_at.timestamp(),
        }
        # the sender's own id, by which it knows its message coming back
        prefix = f"{record.chat}:"
        if record.sender != "system" and record.client_msg_id.startswith(prefix):
            message["client_id"] = record.client_msg_id[len(prefix) :]
        return message

    def fan_out(
        self,
        chat: LiveChat,
        record: MessageRecord,
        sender: ServerSession | None = None,
    ) -> None:
        """Send a stored message to both sides of a chat; not to the
        ``sender`` session, which has it from the answer to its call."""
        data = {"chat": chat.id, "message": self.message(record)}
        sessions = set()
        customer = self.customers.get(chat.visitor)
        if customer is not None:
            sessions |= customer.sessions
        staff = self.staff.get(chat.operator) if chat.operator else None
        if staff is not None:
            sessions |= staff.sessions
        sessions.discard(sender)
        self.emit(sessions, "chat.message", data)

    def system(self, chat: LiveChat, text: str) -> None:
        """Store a notice in a chat's history and show it to both sides."""
        client_id = f"{chat.id}:system:{secrets.token_hex(8)}"
        body = self.body("system", "", text)

        async def write() -> None:
            stored = await self.store.append_message(chat.id, "system", client_id, body)
            assert isinstance(stored, MessageRecord)  # the id is new
            self.messages_stored()
            self.fan_out(chat, stored)

        self.persist(chat.id, write)

    # -- checks

    def live_call_state(self, chat: LiveChat) -> CallState:
        """Where a live chat's call stands in the router."""
        return self.router.call(chat.id).state

    async def gone(
        self,
        chat_id: str,
        *,
        visitor: str | None = None,
        operator: str | None = None,
    ) -> CallFailed:
        """The failure for an id that names no live chat of the caller:
        CHAT_ENDED when it names an ended chat they took part in,
        NOT_FOUND otherwise, so that a forged id learns nothing."""
        record = await self.store.get_chat(chat_id)
        if record is not None and record.ended_at is not None:
            ended = CallFailed(ChatCode.CHAT_ENDED, "the chat has ended")
            if visitor is not None and record.visitor == visitor:
                return ended
            if operator is not None:
                handovers = await self.store.list_handovers(chat_id)
                if any(name == operator for name, _, _ in handovers):
                    return ended
        return CallFailed(ErrorCode.NOT_FOUND, "no such chat")

    async def customer_chat(self, person: Person, chat_id: str) -> LiveChat:
        """A live chat of this customer.

        Raises:
            CallFailed: CHAT_ENDED or NOT_FOUND (:meth:`gone`).
        """
        chat = self.chats.get(chat_id)
        if chat is not None and chat.visitor == person.name:
            return chat
        raise await self.gone(chat_id, visitor=person.name)

    async def held_chat(self, person: Person, chat_id: str) -> LiveChat:
        """A live chat this member of staff holds.

        Raises:
            CallFailed: CHAT_ENDED or NOT_FOUND (:meth:`gone`).
        """
        chat = self.chats.get(chat_id)
        if chat is not None and chat.operator == person.name:
            return chat
        raise await self.gone(chat_id, operator=person.name)


_CODES: dict[type[errors.RoutingError], tuple[int, str]] = {
    errors.NotOffered: (ChatCode.NOT_OFFERED, "the call is no longer offered to you"),
    errors.OperatorBusy: (ChatCode.OPERATOR_BUSY, ""),
    errors.OperatorUnavailable: (ChatCode.OPERATOR_AWAY, ""),
    errors.QueueFull: (ChatCode.UNAVAILABLE, "the queue is full; leave a message"),
    errors.UnknownDepartment: (ErrorCode.NOT_FOUND, "no such department"),
    errors.UnknownOperator: (ErrorCode.NOT_FOUND, "no such operator"),
    errors.UnknownCall: (ErrorCode.NOT_FOUND, "no such chat"),
    errors.NotYourChat: (ErrorCode.NOT_FOUND, "no such chat"),
    errors.LeaveMessageNotOffered: (
        ErrorCode.CONFLICT,
        "a message may not be left for this call now",
    ),
    errors.InvalidArgument: (ErrorCode.BAD_REQUEST, ""),
}


def failure(error: errors.RoutingError) -> CallFailed:
    """The answer to a command the router refused (``docs/chat-api.md``
    error codes). Where the router's own words name nothing a caller may
    not know, they are passed on."""
    code, message = _CODES.get(type(error), (ErrorCode.INTERNAL, ""))
    if code == ErrorCode.INTERNAL:
        logger.error("the router refused a command: %s", error)
        return CallFailed(code, "internal error")
    return CallFailed(code, message or str(error))
