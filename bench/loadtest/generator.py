"""A load generator: one process of customers and operators for real.

Generator K serves department ``load-K`` with its own operators, so both
sides of each of its chats are here and it alone can tell which messages
were lost. Its operators log in and go available, then (once the parent
says go) customers arrive at random (a Poisson process at the plan's
rate) for the scenario's duration. A customer places a call, waits for an
operator, sends its messages one think time apart, waits for the
operator's, and leaves. An operator accepts what it is offered (another
operator may have been quicker: a *race*, not an error) and sends its
messages in each chat it holds, one think time apart.

Every message's text is its id, the sender's ``time.time_ns()`` as it
sent it and padding to the scenario's size, apart by spaces. The receiver records the
latency (receive time minus send time, in microseconds: one machine, one
clock) in an HDR histogram and the id in a set. A message whose
``chat.send`` was answered but that the other side never received is
*lost*; one received twice is *duplicated*.

With a drop rate, each live session loses its connection at that rate
a second (lgserver only: its client resumes by itself; the baselines
have nothing to resume with).
"""

from __future__ import annotations

import asyncio
import multiprocessing.queues
import random
import ssl
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvloop
from hdrh.histogram import HdrHistogram

from lgserver import collector
from lgserver.security.visitors import VISITOR_ID_MIN

from .links import BareLink, CallFailed, LgLink, Link, LinkClosed, SocketIOLink
from .scenario import TRANSPORTS, Scenario
from .servers import PASSWORD, department

__all__ = ["LATENCY_RANGE", "Plan", "Tally", "run_process"]

#: Latencies recorded, in microseconds: 1 µs to 60 s, 3 significant digits.
LATENCY_RANGE = (1, 60_000_000, 3)
#: Seconds a customer waits for an operator before giving up.
ANSWER_TIMEOUT = 30.0
#: Seconds a side waits for the other's last message, beyond their pace.
SLACK = 15.0
#: Seconds a generator waits for the parent's go.
GO_TIMEOUT = 300.0
#: Operators logging in at once.
LOGINS_AT_ONCE = 4
#: Seconds between two draws of the sessions whose connection is cut.
CHURN_TICK = 0.25
#: Error codes of a call another operator took first, or that came while
#: the operator was full: a race, not a failure.
RACES = (1004, 1005)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one generator process does in one step."""

    kind: str
    port: int
    cert_file: str
    scenario: Scenario
    rate: float
    index: int
    step: int
    operators: list[str]
    seed: int


def _histogram() -> HdrHistogram:
    return HdrHistogram(*LATENCY_RANGE)


@dataclass
class Tally:
    """What a generator counted; merged across generators by the parent."""

    latency: HdrHistogram = field(default_factory=_histogram)
    answer_wait: HdrHistogram = field(default_factory=_histogram)
    sent: int = 0
    acked: int = 0
    received: int = 0
    duplicated: int = 0
    lost: int = 0
    placed: int = 0
    answered: int = 0
    unanswered: int = 0
    completed: int = 0
    incomplete: int = 0
    races: int = 0
    drops: int = 0
    reconnects: int = 0
    sessions: int = 0
    # CPU time of the generator processes and their wall time, both in ms
    generator_cpu_ms: int = 0
    generator_wall_ms: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    close_codes: Counter[str] = field(default_factory=Counter)

    COUNTS = (
        "sent",
        "acked",
        "received",
        "duplicated",
        "lost",
        "placed",
        "answered",
        "unanswered",
        "completed",
        "incomplete",
        "races",
        "drops",
        "reconnects",
        "sessions",
        "generator_cpu_ms",
        "generator_wall_ms",
    )

    def to_dict(self) -> dict[str, Any]:
        """The tally as plain values (histograms HDR-encoded, as text)."""
        values: dict[str, Any] = {name: getattr(self, name) for name in self.COUNTS}
        values["errors"] = dict(self.errors)
        values["close_codes"] = dict(self.close_codes)
        values["latency"] = self.latency.encode().decode("ascii")
        values["answer_wait"] = self.answer_wait.encode().decode("ascii")
        return values

    def add(self, values: dict[str, Any]) -> None:
        """Add another tally's :meth:`to_dict`."""
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + values[name])
        self.errors.update(values["errors"])
        self.close_codes.update(values["close_codes"])
        self.latency.decode_and_add(values["latency"].encode("ascii"))
        self.answer_wait.decode_and_add(values["answer_wait"].encode("ascii"))


class _Generator:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.scenario = plan.scenario
        self.tally = Tally()
        self.random = random.Random(plan.seed)
        # arrivals of their own, the same for every server at a step
        self.arrivals = random.Random(plan.seed)
        # a client sets its transport's ALPN on its context: one each
        self.contexts = {
            transport: ssl.create_default_context(cafile=plan.cert_file)
            for transport in (*TRANSPORTS, "bare", "socketio")
        }
        self.department = department(plan.index)
        self.live: set[Link] = set()
        self.links: list[Link] = []
        self.acked: set[str] = set()
        self.seen: set[str] = set()
        self.serial = 0
        # the padding that brings a message's text to the scenario's size
        bare = f"{plan.index}-o-{10**9} {time.time_ns()} "
        self.padding = "x" * max(0, self.scenario.message_size - len(bare))

    def link(self, auth: dict[str, Any], max_chats: int = 0) -> Link:
        link: Link
        if self.plan.kind == "bare":
            context = self.contexts["bare"]
            link = BareLink(self.plan.port, context, self.plan.index, max_chats)
        elif self.plan.kind == "socketio":
            context = self.contexts["socketio"]
            link = SocketIOLink(self.plan.port, context, self.plan.index, max_chats)
        else:
            transport = self._transport()
            context = self.contexts[transport]
            link = LgLink(self.plan.port, context, transport, auth)
        self.links.append(link)
        self.tally.sessions += 1
        return link

    def _transport(self) -> str:
        draw = self.random.random()
        for transport, share in self.scenario.transports.items():
            draw -= share
            if draw < 0:
                return transport
        return next(iter(self.scenario.transports))

    # -- messages

    async def send(self, link: Link, chat: str, side: str) -> None:
        self.serial += 1
        message_id = f"{self.plan.index}-{side}-{self.serial}"
        text = f"{message_id} {time.time_ns()} {self.padding}"
        self.tally.sent += 1
        await link.call("chat.send", {"chat": chat, "id": message_id, "text": text})
        self.tally.acked += 1
        self.acked.add(message_id)

    def record(self, message: dict[str, Any]) -> None:
        now = time.time_ns()
        try:
            message_id, stamp, _ = message["text"].split(" ", 2)
            sent = int(stamp)
        except (AttributeError, KeyError, TypeError, ValueError):
            self.tally.errors["unreadable message"] += 1
            return
        if message_id in self.seen:
            self.tally.duplicated += 1
            return
        self.seen.add(message_id)
        self.tally.received += 1
        self.tally.latency.record_value(max(1, (now - sent) // 1000))

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, CallFailed):
            self.tally.errors[str(exc.code)] += 1
        elif isinstance(exc, LinkClosed):
            self.tally.close_codes[str(exc.code)] += 1
        else:
            self.tally.errors[type(exc).__name__] += 1

    # -- the run

    async def run(self, ready: Any, go: Any) -> dict[str, Any]:
        operators = [_Operator(self, name) for name in self.plan.operators]
        # a login costs the server a password hash: a few at a time, lest
        # they wait past the handshake timeout
        logging_in = asyncio.Semaphore(LOGINS_AT_ONCE)

        async def start(operator: _Operator) -> None:
            async with logging_in:
                await operator.start()

        await asyncio.gather(*(start(operator) for operator in operators))
        ready()
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, go.wait, GO_TIMEOUT):
            raise RuntimeError("no go from the parent")

        cpu_began, wall_began = time.process_time(), time.monotonic()
        churn = asyncio.create_task(self._churn())
        customers = await self._arrivals()
        scenario = self.scenario
        pace = scenario.messages * scenario.think_time
        if customers:
            await asyncio.wait(customers, timeout=ANSWER_TIMEOUT + pace + 2 * SLACK)
        for task in customers:
            task.cancel()
        churn.cancel()

        # what is still on its way to the operators, then the end
        await asyncio.sleep(0.5)
        for operator in operators:
            await operator.stop()
        for link in self.links:
            self.tally.reconnects += link.reconnects
        self.tally.lost = len(self.acked - self.seen)
        self.tally.generator_cpu_ms = int((time.process_time() - cpu_began) * 1000)
        self.tally.generator_wall_ms = int((time.monotonic() - wall_began) * 1000)
        return self.tally.to_dict()

    async def _arrivals(self) -> list[asyncio.Task[None]]:
        customers: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        began = loop.time()
        end = began + self.scenario.duration
        due = began
        count = 0
        while True:
            due += self.arrivals.expovariate(self.plan.rate)
            if due >= end:
                return customers
            await asyncio.sleep(max(0.0, due - loop.time()))
            count += 1
            customers.append(asyncio.create_task(_Customer(self, count).run()))

    async def _churn(self) -> None:
        rate = self.scenario.drop_rate
        if not rate or self.plan.kind != "lgserver":
            return
        # a rate per second, drawn four times a second
        chance = rate * CHURN_TICK
        while True:
            await asyncio.sleep(CHURN_TICK)
            for link in list(self.live):
                if self.random.random() < chance:
                    self.tally.drops += 1
                    link.drop()


class _Customer:
    def __init__(self, generator: _Generator, number: int) -> None:
        self.generator = generator
        plan = generator.plan
        # an id the daemon accepts (lgserver.security.visitors): the
        # customer's own name, padded to the shortest length allowed
        label = f"visitor-{plan.step}-{plan.index}-{number}"
        self.visitor = label.ljust(VISITOR_ID_MIN, "_")
        self.accepted = asyncio.Event()
        self.all_received = asyncio.Event()
        self.received = 0

    async def run(self) -> None:
        generator = self.generator
        tally = generator.tally
        scenario = generator.scenario
        link = generator.link({"visitor": self.visitor})
        listening: asyncio.Task[None] | None = None
        try:
            await link.connect()
            generator.live.add(link)
            listening = asyncio.create_task(self._listen(link))
            placed_at = time.monotonic()
            placed = await link.call("chat.place", {"department": generator.department})
            chat = str(placed["chat"])
            tally.placed += 1
            try:
                await asyncio.wait_for(self.accepted.wait(), ANSWER_TIMEOUT)
            except TimeoutError:
                tally.unanswered += 1
                await link.call("chat.leave", {"chat": chat})
                return
            tally.answered += 1
            wait = int((time.monotonic() - placed_at) * 1e6)
            tally.answer_wait.record_value(max(1, wait))

            # say everything, hear everything, leave
            for _ in range(scenario.messages):
                await asyncio.sleep(scenario.think_time)
                await generator.send(link, chat, "c")
            try:
                await asyncio.wait_for(self.all_received.wait(), SLACK)
                tally.completed += 1
            except TimeoutError:
                tally.incomplete += 1
            await link.call("chat.leave", {"chat": chat})
        except (CallFailed, LinkClosed, OSError) as exc:
            generator.failed(exc)
        finally:
            generator.live.discard(link)
            if listening is not None:
                listening.cancel()
            await link.close()

    async def _listen(self, link: Link) -> None:
        generator = self.generator
        try:
            while True:
                name, data = await link.receive()
                if name == "chat.accepted":
                    self.accepted.set()
                elif name == "chat.message":
                    message = data.get("message") or {}
                    if message.get("from") == "operator":
                        generator.record(message)
                        self.received += 1
                        if self.received >= generator.scenario.messages:
                            self.all_received.set()
        except LinkClosed as exc:
            generator.failed(exc)


class _Operator:
    def __init__(self, generator: _Generator, name: str) -> None:
        self.generator = generator
        self.name = name
        self.link = generator.link(
            {"name": name, "password": PASSWORD}, generator.scenario.max_chats
        )
        self.chats: dict[str, asyncio.Task[None]] = {}
        self.listening: asyncio.Task[None] | None = None
        self.stopping = False

    async def start(self) -> None:
        await self.link.connect()
        await self.link.call("operator.status", {"status": "available"})
        self.generator.live.add(self.link)
        self.listening = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        self.stopping = True
        self.generator.live.discard(self.link)
        for task in self.chats.values():
            task.cancel()
        if self.listening is not None:
            self.listening.cancel()
        await self.link.close()

    async def _listen(self) -> None:
        generator = self.generator
        try:
            while True:
                name, data = await self.link.receive()
                if name == "queue.offer":
                    chat = str(data["call"]["chat"])
                    self.chats[chat] = asyncio.create_task(self._serve(chat))
                elif name == "chat.message":
                    message = data.get("message") or {}
                    if message.get("from") == "customer":
                        generator.record(message)
        except LinkClosed as exc:
            if not self.stopping:
                generator.failed(exc)

    async def _serve(self, chat: str) -> None:
        generator = self.generator
        scenario = generator.scenario
        try:
            await self.link.call("chat.accept", {"chat": chat})
            for _ in range(scenario.messages):
                await asyncio.sleep(scenario.think_time)
                await generator.send(self.link, chat, "o")
        except CallFailed as exc:
            if exc.code in RACES:
                generator.tally.races += 1
            else:
                generator.failed(exc)
        except LinkClosed as exc:
            if not self.stopping:
                generator.failed(exc)
        finally:
            self.chats.pop(chat, None)


def run_process(
    plan: Plan,
    results: multiprocessing.queues.Queue[tuple[Any, ...]],
    go: Any,
) -> None:
    """A generator process's body: run the plan on uvloop and put
    ``("ready", index)``, then ``("done", index, tally)`` or
    ``("failed", index, traceback)`` on ``results``."""

    def ready() -> None:
        # what every customer and operator holds until the end is made
        collector.freeze()
        results.put(("ready", plan.index))

    collector.tune()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            tally = runner.run(_Generator(plan).run(ready, go))
        results.put(("done", plan.index, tally))
    except BaseException:
        results.put(("failed", plan.index, traceback.format_exc()))
