"""Live chat over the hub: the calls and events of ``docs/chat-api.md``.

:class:`ChatService` joins the sans-I/O :class:`~.routing.Router` to the
world: it registers the chat methods and events with the hub, turns the
router's events into events for customers' chat windows and operators'
consoles, keeps one timer for the router's deadlines, stores what
happens (chats, handovers, outcomes, messages, messages left, bans) and
sends transcripts and messages left by e-mail.

Who may call what: customers (``customer`` principals) the customer
calls, operators and administrators the operator calls; the wrong kind
is answered ``FORBIDDEN``. A chat id the caller has no part in is
answered ``NOT_FOUND``, whether it exists or not.

Durability: ``chat.send`` answers once the message is stored, and only
then shows it to the other side; the chat's other writes (acceptance,
transfer, end) are durable when the call that caused them answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import Counter, Gauge

from ..config import ChatSettings
from ..geo import Locator
from ..mail import Mailer
from ..protocol.messages import ErrorCode
from ..server.hub import CallContext, CallFailed, Hub
from ..store.errors import StoreError
from ..store.interface import Store
from . import _customers
from ._core import STAFF, Core, Person, failure
from ._customers import Customers
from ._operators import Operators
from .errors import RoutingError
from .forms import Form
from .routing import CallState

__all__ = ["ChatService"]

logger = logging.getLogger("lgserver.chat")

#: Seconds :meth:`ChatService.stop` waits for writes and e-mails.
STOP_TIMEOUT = 10.0
#: The outcome of the chats found open at the start, cut off by a crash.
INTERRUPTED = "interrupted"

Handler = Callable[[CallContext, Person, Any], Awaitable[Any]]


class ChatService(Core):
    """Live chat: customers, operators, queues (``docs/chat-api.md``).

    Args:
        hub: Where the methods and events are registered.
        store: Where departments, operators and chats are kept.
        mailer: Sends transcripts and messages left.
        locator: The country of customers' addresses.
        settings: The ``[chat]`` section.
        forms: The forms operators may push.
        clock: The monotonic clock the router runs on.
        wall: Seconds since the epoch, for the times clients are told.
    """

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
        super().__init__(
            hub,
            store,
            mailer,
            locator,
            settings,
            forms=forms,
            clock=clock,
            wall=wall,
        )
        self.customer_calls = Customers(self)
        self.operator_calls = Operators(self)
        self._started = False
        self._reloader: asyncio.Task[None] | None = None
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False

    async def start(self) -> None:
        """End the chats a server stopped abruptly left open, load the
        departments and operators from the store, then take calls.

        Raises:
            lgserver.store.errors.StoreError: The store cannot be read or
                written.
        """
        # no call lives before the start: a chat still open in the store
        # was cut off by a crash, and reports must not count it as going on
        interrupted = await self.store.end_open_chats(INTERRUPTED)
        if interrupted:
            logger.info(
                "%d chats left open by the last run ended as %s",
                len(interrupted),
                INTERRUPTED,
            )
        await self.sync_departments()
        for user in await self.store.list_users():
            if user.disabled or user.name in self.router.operators():
                continue
            self.route_operator(user)
        self.after()
        self._register()
        self._watch()
        self.hub.on_session_ended.append(self.session_ended)
        self._started = True
        if self.settings.reload_interval > 0:
            self._reloader = asyncio.create_task(self._reload_every())
        logger.info(
            "live chat: %d departments, %d operators",
            len(self.departments),
            len(self.router.operators()),
        )

    async def stop(self) -> None:
        """Stop the timer, then wait a while for the writes and e-mails
        under way."""
        if self._started:
            self.hub.on_session_ended.remove(self.session_ended)
            self._started = False
        for task in (self._reloader, self._reloading):
            if task is not None:
                task.cancel()
        self.stop_timer()
        for chat in self.chats.values():
            if chat.typing_timer is not None:
                chat.typing_timer.cancel()
        await self.drain(STOP_TIMEOUT)

    def request_reload(self) -> None:
        """Read the departments and operators again soon (SIGHUP): one
        reading at a time, and one more if asked for during it."""
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True
            return
        self._reloading = asyncio.ensure_future(self._reload_logged())

    async def _reload_logged(self) -> None:
        while True:
            self._reload_again = False
            try:
                await self.reload()
            except StoreError as error:
                logger.warning("departments and operators not read again: %s", error)
            except Exception:
                logger.exception("reading departments and operators again failed")
            if not self._reload_again:
                return

    async def _reload_every(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval)
            self.request_reload()

    async def widget_status(
        self,
        origin: str | None,
        department: str | None,
        visitor: str | None,
        address: str | None,
    ) -> dict[str, Any] | None:
        """What the web widget is told before it shows the call button
        (``GET /widget/status``); the page's origin is checked by the
        HTTP layer, which adds ``allowed``.

        Args:
            origin: The page's origin, for the log.
            department: The department the button names, if any.
            visitor: The visitor id the widget keeps, if any.
            address: The client's address.

        Returns:
            ``{available, banned, departments}`` as ``chat.status``: a
            banned visitor or address gets ``banned`` true, which the
            button shows as "service unavailable"; ``available`` says
            whether someone serves the department (any department when
            none is named). None, which refuses the page, for a
            department that does not exist.
        """
        if department and department not in self.departments:
            logger.debug("widget status for %s: no department %r", origin, department)
            return None
        status = await self.customer_calls.status(visitor or "", address, department)
        logger.debug("widget status for %s: %s", origin, status)
        return dict(status)

    # -- registration

    def _register(self) -> None:
        customers, operators = self.customer_calls, self.operator_calls
        customer: dict[str, Handler] = {
            "chat.status": customers.chat_status,
            "chat.place": customers.place,
            "chat.leave": customers.leave,
            "chat.leave_message": customers.leave_message,
            "chat.transcript": customers.transcript,
            "chat.form_answer": customers.form_answer,
        }
        staff: dict[str, Handler] = {
            "operator.state": operators.state,
            "operator.status": operators.status,
            "operator.list": operators.list,
            "chat.accept": operators.accept,
            "chat.decline": operators.decline,
            "chat.transfer": operators.transfer,
            "chat.end": operators.end,
            "chat.ban": operators.ban,
            "chat.push_form": operators.push_form,
            "chat.redirect": operators.redirect,
            "chat.customer": operators.customer,
            "canned.list": operators.canned,
            "forms.list": operators.forms,
        }
        for name, handler in customer.items():
            self._method(name, handler, customer=True, staff=False)
        for name, handler in staff.items():
            self._method(name, handler, customer=False, staff=True)
        for name, function in (
            ("chat.send", _customers.send),
            ("chat.history", _customers.history),
        ):
            self._method(name, self._bound(function), customer=True, staff=True)
        self.hub.event("chat.typing")(self._typing)

    def _bound(
        self,
        function: Callable[[Core, CallContext, Person, Any], Awaitable[Any]],
    ) -> Handler:
        async def handler(context: CallContext, person: Person, raw: Any) -> Any:
            return await function(self, context, person, raw)

        return handler

    def _method(
        self, name: str, handler: Handler, *, customer: bool, staff: bool
    ) -> None:
        async def method(context: CallContext, params: Any) -> Any:
            principal = context.principal
            is_staff = principal.kind in STAFF
            if not (staff if is_staff else customer and principal.kind == "customer"):
                raise CallFailed(ErrorCode.FORBIDDEN, f"{name} is not for you")
            person = self.enter(context.session, principal.kind, principal.name)
            if is_staff:
                await self.joined(person)
            try:
                return await handler(context, person, params)
            except RoutingError as error:
                raise failure(error) from None

        self.hub.method(name)(method)

    def _typing(self, context: CallContext, data: Any) -> None:
        principal = context.principal
        if principal.kind == "customer":
            self.enter(context.session, principal.kind, principal.name)
        # a chat that ends between the check and the notice drops it
        with contextlib.suppress(RoutingError):
            self.customer_calls.typing(context, data)

    # -- metrics

    def _watch(self) -> None:
        registry = self.hub.metrics.registry
        calls = Gauge(
            "lgserver_chat_calls",
            "Live calls, by state: waiting in a queue, assigned to an operator "
            "who has not accepted yet, or active (a chat going on).",
            ["state"],
            registry=registry,
        )
        for state in CallState:
            calls.labels(str(state)).set_function(functools.partial(self._count, state))
        messages = Counter(
            "lgserver_chat_messages",
            "Chat messages stored, system notices included.",
            registry=registry,
        )
        self.messages_stored = messages.inc

    def _count(self, state: CallState) -> float:
        router = self.router
        return sum(1 for call in router.calls() if router.call(call).state is state)
