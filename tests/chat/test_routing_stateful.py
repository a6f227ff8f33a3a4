"""Call routing under random sequences of commands: arrivals, departures,
status and cap changes, departments' settings changed, accepts and
declines (by the right operator and the wrong one), transfers, lost
operators, leave-a-message and time passing.

After every step the router's state is checked against the rules of
``docs/chat.md``; at the end every call is driven to an end and every call
must have ended exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from lgserver.chat.errors import (
    LeaveMessageNotOffered,
    NotOffered,
    NotYourChat,
    OperatorBusy,
    OperatorUnavailable,
    QueueFull,
    RoutingError,
    UnknownCall,
)
from lgserver.chat.events import CallEnded, Outcome, QueuePosition, RoutingEvent
from lgserver.chat.routing import (
    CallState,
    CallView,
    DepartmentSettings,
    OperatorStatus,
    OperatorView,
    Router,
    RouterConfig,
    RoutingMode,
)

DEPARTMENTS = {
    "sales": DepartmentSettings(
        mode=RoutingMode.OFFER, wait_limit=30, inactivity_timeout=50
    ),
    "support": DepartmentSettings(
        mode=RoutingMode.ASSIGN,
        accept_timeout=5,
        wait_limit=40,
        inactivity_timeout=60,
    ),
    "vip": DepartmentSettings(
        mode=RoutingMode.ASSIGN,
        accept_timeout=8,
        wait_limit=None,
        inactivity_timeout=None,
    ),
}
OPERATORS = {
    "ann": (("sales",), 1),
    "bob": (("sales", "support"), 2),
    "cid": (("support",), 1),
    "dee": (("sales", "support", "vip"), 3),
    "eve": (("vip",), 2),
}
NAMES = sorted(OPERATORS)
STATUSES = list(OperatorStatus)
department_sets = st.sets(st.sampled_from(sorted(DEPARTMENTS)), max_size=3)


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router(RouterConfig(max_queue=12, handle_time_samples=3))
        self.now = 0.0
        self.placed: list[str] = []
        self.ended: dict[str, Outcome] = {}
        self.reported: dict[str, tuple[int, int | None]] = {}
        # caps set with set_cap, which a gradual one reaches in time
        self.wanted: dict[str, int] = {}
        for name, dept in DEPARTMENTS.items():
            self.router.add_department(name, dept)
        for op, (departments, cap) in OPERATORS.items():
            self.router.add_operator(op, 0, departments=departments, cap=cap)
        self.absorb(set())

    # -- helpers

    def calls(self) -> list[str]:
        """Every call ever placed, ended ones included, so that commands
        naming finished calls are tried too."""
        return self.placed or ["none"]

    def view(self, call_id: str) -> CallView | None:
        return self.router.call(call_id) if call_id in self.router.calls() else None

    def op(self, name: str) -> OperatorView:
        return self.router.operator(name)

    def snapshot(self) -> tuple[object, ...]:
        router = self.router
        return (
            tuple(router.call(c) for c in router.calls()),
            tuple(router.operator(o) for o in router.operators()),
            tuple(router.queue(d) for d in router.departments()),
            router.next_deadline(),
        )

    def absorb(self, ending: set[str] | None, outcome: Outcome | None = None) -> None:
        """Read the events of the last command: nothing names a finished
        call, each call ends once, and the calls that end are those
        expected (``ending`` None: any, with ``outcome``)."""
        events: list[RoutingEvent] = []
        while (event := self.router.next_event()) is not None:
            events.append(event)
        ended_now: dict[str, Outcome] = {}
        for event in events:
            call_id = getattr(event, "call_id", None)
            assert call_id not in self.ended, (event, "names a finished call")
            if isinstance(event, QueuePosition):
                self.reported[event.call_id] = (
                    event.position,
                    event.estimated_wait,
                )
            if isinstance(event, CallEnded):
                assert event.outcome in Outcome
                self.ended[event.call_id] = ended_now[event.call_id] = event.outcome
                assert event.call_id not in self.router.calls()
        if ending is not None:
            assert set(ended_now) == ending, (ended_now, ending)
        if outcome is not None:
            assert set(ended_now.values()) <= {outcome}

    def attempt(
        self,
        command: Callable[[], object],
        valid: bool,
        error: type[RoutingError] | tuple[type[RoutingError], ...],
        ending: set[str] | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        """Run a command the model says is valid or not; a refused one
        must raise the expected error and change nothing."""
        if valid:
            command()
            self.absorb(ending if ending is not None else set(), outcome)
            return
        before = self.snapshot()
        try:
            command()
        except error:
            pass
        else:
            raise AssertionError("an invalid command was carried out")
        assert self.snapshot() == before
        assert self.router.next_event() is None

    @initialize(
        available=st.lists(st.booleans(), min_size=len(NAMES), max_size=len(NAMES))
    )
    def start(self, available: list[bool]) -> None:
        """Most runs begin with some operators at work."""
        for name, on in zip(NAMES, available, strict=True):
            if on:
                self.router.set_status(name, OperatorStatus.AVAILABLE, self.now)
        self.absorb(set())

    # -- customers

    @rule(
        department=st.sampled_from(sorted(DEPARTMENTS)),
        priority=st.integers(0, 2),
    )
    def place_call(self, department: str, priority: int) -> None:
        call_id = f"c{len(self.placed)}"
        full = len(self.router.queue(department)) >= 12
        self.attempt(
            lambda: self.router.place_call(
                call_id, department, self.now, priority=priority
            ),
            not full,
            QueueFull,
        )
        if not full:
            self.placed.append(call_id)

    @rule(data=st.data())
    def customer_left(self, data: st.DataObject) -> None:
        call_id = data.draw(st.sampled_from(self.calls()))
        view = self.view(call_id)
        outcome = None
        if view is not None:
            outcome = (
                Outcome.SERVED if view.state is CallState.ACTIVE else Outcome.ABANDONED
            )
        self.attempt(
            lambda: self.router.customer_left(call_id, self.now),
            view is not None,
            UnknownCall,
            {call_id},
            outcome,
        )

    @rule(data=st.data())
    def leave_message(self, data: st.DataObject) -> None:
        call_id = data.draw(st.sampled_from(self.calls()))
        view = self.view(call_id)
        valid = (
            view is not None
            and view.state is not CallState.ACTIVE
            and view.leave_message_offered
        )
        self.attempt(
            lambda: self.router.leave_message(call_id, self.now),
            valid,
            (UnknownCall, LeaveMessageNotOffered),
            {call_id},
            Outcome.LEFT_MESSAGE,
        )

    @rule(data=st.data())
    def activity(self, data: st.DataObject) -> None:
        call_id = data.draw(st.sampled_from(self.calls()))
        self.attempt(
            lambda: self.router.activity(call_id, self.now),
            self.view(call_id) is not None,
            UnknownCall,
        )

    # -- operators

    def may_accept(self, op: str, view: CallView | None) -> bool:
        if view is None:
            return False
        if view.state is CallState.ASSIGNED:
            return view.operator == op
        return view.state is CallState.WAITING and op in view.offered_to

    @rule(data=st.data(), op=st.sampled_from(NAMES))
    def accept_any(self, data: st.DataObject, op: str) -> None:
        call_id = data.draw(st.sampled_from(self.calls()))
        view = self.view(call_id)
        self.attempt(
            lambda: self.router.accept(op, call_id, self.now),
            self.may_accept(op, view),
            (UnknownCall, NotOffered),
        )

    @rule(data=st.data(), op=st.sampled_from(NAMES))
    def accept_own(self, data: st.DataObject, op: str) -> None:
        view = self.op(op)
        mine = view.assigned + view.offers
        if mine:
            call_id = data.draw(st.sampled_from(mine))
            self.router.accept(op, call_id, self.now)
            self.absorb(set())
            assert self.router.call(call_id).operator == op

    @rule(data=st.data(), op=st.sampled_from(NAMES))
    def decline(self, data: st.DataObject, op: str) -> None:
        view = self.op(op)
        choices = list(view.assigned + view.offers) + self.calls()
        call_id = data.draw(st.sampled_from(choices))
        self.attempt(
            lambda: self.router.decline(op, call_id, self.now),
            self.may_accept(op, self.view(call_id)),
            (UnknownCall, NotOffered),
        )
        if call_id in view.offers:
            assert op not in self.router.call(call_id).offered_to

    @rule(data=st.data(), op=st.sampled_from(NAMES))
    def end_chat(self, data: st.DataObject, op: str) -> None:
        call_id = data.draw(st.sampled_from(list(self.op(op).chats) + self.calls()))
        view = self.view(call_id)
        valid = view is not None and call_id in self.op(op).chats
        self.attempt(
            lambda: self.router.end_chat(op, call_id, self.now),
            valid,
            (UnknownCall, NotYourChat),
            {call_id},
            Outcome.SERVED,
        )

    @rule(data=st.data(), op=st.sampled_from(NAMES), to=st.sampled_from(NAMES))
    def transfer_to_operator(self, data: st.DataObject, op: str, to: str) -> None:
        call_id = data.draw(st.sampled_from(list(self.op(op).chats) + self.calls()))
        dest = self.op(to)
        holds = call_id in self.op(op).chats
        valid = (
            holds
            and to != op
            and dest.status is OperatorStatus.AVAILABLE
            and dest.load < dest.cap
        )
        self.attempt(
            lambda: self.router.transfer_to_operator(
                op, call_id, to, self.now, note="see history"
            ),
            valid,
            (UnknownCall, NotYourChat, OperatorUnavailable),
        )
        if valid:
            assert self.router.call(call_id).operator == to

    @rule(
        data=st.data(),
        op=st.sampled_from(NAMES),
        department=st.sampled_from(sorted(DEPARTMENTS)),
    )
    def transfer_to_department(
        self, data: st.DataObject, op: str, department: str
    ) -> None:
        call_id = data.draw(st.sampled_from(list(self.op(op).chats) + self.calls()))
        holds = call_id in self.op(op).chats
        full = len(self.router.queue(department)) >= 12
        self.attempt(
            lambda: self.router.transfer_to_department(
                op, call_id, department, self.now
            ),
            holds and not full,
            (UnknownCall, NotYourChat, QueueFull),
        )
        if holds and not full:
            view = self.router.call(call_id)
            assert view.department == department
            assert view.state is not CallState.ACTIVE

    @rule(op=st.sampled_from(NAMES), status=st.sampled_from(STATUSES))
    def set_status(self, op: str, status: OperatorStatus) -> None:
        valid = not (status is OperatorStatus.OFFLINE and self.op(op).chats)
        self.attempt(
            lambda: self.router.set_status(op, status, self.now), valid, OperatorBusy
        )
        if valid:
            assert self.op(op).status is status

    @rule(op=st.sampled_from(NAMES), cap=st.integers(0, 4), gradual=st.booleans())
    def set_cap(self, op: str, cap: int, gradual: bool) -> None:
        held = len(self.op(op).chats)
        valid = gradual or cap >= held
        self.attempt(
            lambda: self.router.update_operator(op, self.now, cap=cap, gradual=gradual),
            valid,
            OperatorBusy,
        )
        if valid:
            assert self.op(op).cap == max(cap, held)
            self.wanted[op] = cap

    @invariant()
    def a_gradual_cap_goes_down_as_chats_end(self) -> None:
        for name, wanted in self.wanted.items():
            view = self.op(name)
            # above the cap asked for only while every slot holds a chat
            assert view.cap == wanted or (
                view.cap > wanted and view.cap == len(view.chats)
            ), (name, wanted, view)

    @rule(
        op=st.sampled_from(NAMES),
        departments=department_sets,
        priority=st.integers(0, 2),
    )
    def set_departments(self, op: str, departments: set[str], priority: int) -> None:
        self.router.update_operator(
            op, self.now, departments=departments, priority=priority
        )
        self.absorb(set())

    @rule(
        department=st.sampled_from(sorted(DEPARTMENTS)),
        mode=st.sampled_from(list(RoutingMode)),
        accept_timeout=st.sampled_from([2, 5, 8]),
        wait_limit=st.sampled_from([None, 3, 30]),
        inactivity_timeout=st.sampled_from([None, 4, 50]),
    )
    def update_department(
        self,
        department: str,
        mode: RoutingMode,
        accept_timeout: float,
        wait_limit: float | None,
        inactivity_timeout: float | None,
    ) -> None:
        queue = self.router.queue(department)
        new = DepartmentSettings(
            mode=mode,
            accept_timeout=accept_timeout,
            wait_limit=wait_limit,
            inactivity_timeout=inactivity_timeout,
        )
        self.router.update_department(department, new, self.now)
        # a shorter inactivity timeout may close silent chats at once
        self.absorb(None, Outcome.INACTIVE)
        assert self.router.department_settings(department) == new
        # every call that waited still waits, in the same order, unless
        # an operator of the new mode has it now
        after = [c for c in queue if c in self.router.queue(department)]
        assert after == [c for c in self.router.queue(department) if c in queue]
        for call_id in queue:
            view = self.router.call(call_id)
            assert view.department == department
            assert view.state is not CallState.ACTIVE

    @rule(op=st.sampled_from(NAMES))
    def operator_lost(self, op: str) -> None:
        chats = self.op(op).chats
        self.router.operator_lost(op, self.now)
        self.absorb(set())
        view = self.op(op)
        assert view.status is OperatorStatus.OFFLINE
        assert view.load == 0 and view.offers == ()
        for call_id in chats:
            call = self.router.call(call_id)
            assert call.operator != op and call.requeued

    # -- time

    @rule(seconds=st.sampled_from([0.5, 1, 3, 5, 8, 13, 40]))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.router.handle_timer(self.now)
        self.absorb(None, Outcome.INACTIVE)

    @precondition(lambda self: self.router.next_deadline() is not None)
    @rule()
    def advance_to_deadline(self) -> None:
        deadline = self.router.next_deadline()
        assert deadline is not None and deadline > self.now
        self.now = deadline
        self.router.handle_timer(self.now)
        self.absorb(None, Outcome.INACTIVE)

    # -- invariants

    @invariant()
    def nobody_over_cap_and_no_call_held_twice(self) -> None:
        holders: dict[str, str] = {}
        for name in NAMES:
            view = self.op(name)
            assert view.load <= view.cap, view
            for call_id in view.chats + view.assigned:
                assert call_id not in holders, (call_id, holders[call_id], name)
                holders[call_id] = name
            if view.status is OperatorStatus.OFFLINE:
                assert view.chats == ()
            if view.status is not OperatorStatus.AVAILABLE:
                assert view.assigned == () and view.offers == ()
        for call_id in self.router.calls():
            call = self.router.call(call_id)
            if call.state is CallState.WAITING:
                assert call.operator is None and call_id not in holders
            else:
                assert holders[call_id] == call.operator
                held = self.op(call.operator).chats
                assert (call_id in held) == (call.state is CallState.ACTIVE)

    @invariant()
    def queues_in_order_with_true_positions(self) -> None:
        waiting = 0
        for name in DEPARTMENTS:
            queue = self.router.queue(name)
            waiting += len(queue)
            views = [self.router.call(c) for c in queue]
            keys = [(-v.priority, not v.requeued, v.arrival) for v in views]
            assert keys == sorted(keys)
            for index, view in enumerate(views):
                assert view.state is CallState.WAITING
                assert view.department == name
                assert view.position == index + 1
                assert self.reported[view.call_id] == (
                    view.position,
                    view.estimated_wait,
                )
        states = [self.router.call(c).state for c in self.router.calls()]
        assert waiting == states.count(CallState.WAITING)

    @invariant()
    def offers_only_to_eligible_operators(self) -> None:
        for call_id in self.router.calls():
            call = self.router.call(call_id)
            if call.offered_to:
                assert call.state is CallState.WAITING
                settings = self.router.department_settings(call.department)
                assert settings.mode is RoutingMode.OFFER
            for name in call.offered_to:
                op = self.op(name)
                assert op.status is OperatorStatus.AVAILABLE
                assert call.department in op.departments
                assert op.load < op.cap
                assert call_id in op.offers
        for name in NAMES:
            for call_id in self.op(name).offers:
                assert name in self.router.call(call_id).offered_to

    @invariant()
    def assign_queues_wait_only_when_nobody_can_take_a_call(self) -> None:
        for name in DEPARTMENTS:
            dept = self.router.department_settings(name)
            if dept.mode is not RoutingMode.ASSIGN or not self.router.queue(name):
                continue
            for op in NAMES:
                view = self.op(op)
                assert not (
                    view.status is OperatorStatus.AVAILABLE
                    and name in view.departments
                    and view.load < view.cap
                ), (name, view)

    @invariant()
    def unstaffed_departments_offer_to_leave_a_message(self) -> None:
        for name in DEPARTMENTS:
            staffed = any(
                self.op(op).status is OperatorStatus.AVAILABLE
                and name in self.op(op).departments
                and self.op(op).cap > 0
                for op in NAMES
            )
            for call_id in self.router.queue(name):
                call = self.router.call(call_id)
                assert staffed or call.leave_message_offered
                assert staffed == (call.estimated_wait is not None)

    @invariant()
    def deadlines_lie_ahead(self) -> None:
        deadline = self.router.next_deadline()
        assert deadline is None or deadline > self.now

    @invariant()
    def every_call_is_live_or_ended_once(self) -> None:
        live = set(self.router.calls())
        assert live.isdisjoint(self.ended)
        assert live | set(self.ended) == set(self.placed)

    # -- the end: operators take what they can, then every customer leaves

    def teardown(self) -> None:
        self.now += 1
        for name in NAMES:
            view = self.op(name)
            for call_id in view.assigned + view.offers:
                if self.may_accept(name, self.view(call_id)):
                    self.router.accept(name, call_id, self.now)
                    self.absorb(set())
        for call_id in self.router.calls():
            state = self.router.call(call_id).state
            expected = (
                Outcome.SERVED if state is CallState.ACTIVE else Outcome.ABANDONED
            )
            self.router.customer_left(call_id, self.now)
            self.absorb({call_id}, expected)
        assert self.router.calls() == ()
        assert set(self.ended) == set(self.placed)
        assert all(outcome in Outcome for outcome in self.ended.values())
        for name in NAMES:
            view = self.op(name)
            assert view.load == 0 and view.offers == ()
        for name in DEPARTMENTS:
            assert self.router.queue(name) == ()
        assert self.router.next_deadline() is None


RoutingMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRouting = RoutingMachine.TestCase


def test_the_machine_reaches_every_outcome() -> None:
    """A fixed run through the machine's rules, so that each outcome is
    reached whatever hypothesis draws."""
    machine: Any = RoutingMachine()
    machine.set_status("ann", OperatorStatus.AVAILABLE)
    machine.set_status("cid", OperatorStatus.AVAILABLE)
    for department in ("sales", "support", "sales", "vip"):
        machine.place_call(department, 1)
    machine.router.accept("ann", "c0", machine.now)
    machine.absorb(set())
    machine.router.accept("cid", "c1", machine.now)
    machine.absorb(set())
    machine.advance(40)  # c2 may leave a message
    assert machine.ended == {}
    machine.advance(13)  # c0 has been silent for longer than 50 s
    assert machine.ended == {"c0": Outcome.INACTIVE}
    machine.router.leave_message("c2", machine.now)
    machine.absorb({"c2"}, Outcome.LEFT_MESSAGE)
    machine.router.end_chat("cid", "c1", machine.now)
    machine.absorb({"c1"}, Outcome.SERVED)
    machine.teardown()
    assert machine.ended == {
        "c0": Outcome.INACTIVE,
        "c1": Outcome.SERVED,
        "c2": Outcome.LEFT_MESSAGE,
        "c3": Outcome.ABANDONED,
    }
