"""Queues and call routing (``docs/chat.md``).

A :class:`Router` decides which operator serves which call. It is sans-I/O:
it never touches a socket, a clock or an event loop. The chat service feeds
it commands (a call placed, an offer accepted, an operator gone), each with
the current time ``now`` in seconds from any monotonic clock; reads what
happened with :meth:`Router.next_event`; and keeps one timer for
:meth:`Router.next_deadline` / :meth:`Router.handle_timer`, which cover
accept timeouts, wait limits and inactive chats.

Every department has one queue, ordered by call priority (higher first),
then by arrival. One exception: a chat whose operator was lost goes back
*ahead* of the calls of its priority that were never served, so its
customer is the next served. A call transferred to a department keeps its
original arrival time, so it is served before the calls that came after
it.

A department routes in one of two modes:

* **offer**: each waiting call is shown to every eligible operator, and the
  first to accept it gets it; the others see it withdrawn at once.
* **assign**: the call at the head of the queue is pushed to the best
  eligible operator, ranked by (fewest chats, higher operator priority,
  longest idle, id). If they do not accept it within the department's
  ``accept_timeout``, or decline it, it goes to the best operator who has
  not let it go yet; once every eligible operator has, the round starts
  again from the best.

An operator is *eligible* in a department when they belong to it, their
status is available, and their load is under their cap. Their load counts
the chats they hold and, in assign mode, the calls pushed to them that they
have not accepted yet, so nobody is ever over their cap. An operator who
stops being eligible sees every offer made to them withdrawn at once.

A department is *staffed* while at least one of its operators is
available with a cap above zero; busy operators still count, as they will
free up. A call placed in an unstaffed department, or waiting when the
department becomes unstaffed, or waiting longer than the department's
``wait_limit``, is offered the leave-a-message form once for each time it
joins a queue; it keeps its place while the customer decides.

The estimated wait of the call at position *p* (1 is next) is
``p * h / s`` seconds, rounded, where *h* is the mean handle time (from an
operator's acceptance to the end) of the department's last
``handle_time_samples`` served chats, or ``default_handle_time`` before
there are any, and *s* the department's *slots*: the sum of the caps of its
available operators. With no slots, the estimate is None.

Every call ends exactly once, reported by :class:`~.events.CallEnded` with
its :class:`~.events.Outcome`, and is forgotten: no later event names it.
A transfer is not an end: the chat keeps its identity and goes on.

Costs: queues are sorted lists kept with :mod:`bisect` (a lookup costs
O(log n); an insertion or removal moves pointers, a few microseconds for
thousands of calls), operators of a department are kept ranked the same
way, and timers live in one heap. The work of a command is bounded by what
it must report: a call leaving the head of a queue of n calls moves n
positions, and an operator joining an offer department is offered every
call waiting there.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import (
    ClockWentBack,
    DuplicateCall,
    DuplicateDepartment,
    DuplicateOperator,
    InvalidArgument,
    LeaveMessageNotOffered,
    NotOffered,
    NotYourChat,
    OperatorBusy,
    OperatorUnavailable,
    QueueFull,
    UnknownCall,
    UnknownDepartment,
    UnknownOperator,
)
from .events import (
    CallAccepted,
    CallAssigned,
    CallEnded,
    CallTransferred,
    ChatRequeued,
    CustomerLeft,
    LeaveMessageOffered,
    LeaveMessageReason,
    OfferMade,
    OfferWithdrawn,
    Outcome,
    QueuePosition,
    RequeueReason,
    RoutingEvent,
    WithdrawReason,
)

__all__ = [
    "CallState",
    "CallView",
    "DepartmentSettings",
    "OperatorStatus",
    "OperatorView",
    "Router",
    "RouterConfig",
    "RoutingMode",
]


class RoutingMode(enum.StrEnum):
    """How a department hands its calls to operators."""

    #: Every eligible operator sees the call; the first to accept gets it.
    OFFER = "offer"
    #: The call is pushed to one operator at a time.
    ASSIGN = "assign"


class OperatorStatus(enum.StrEnum):
    """An operator's status, which they set themselves."""

    #: Takes new calls.
    AVAILABLE = "available"
    #: Keeps serving the chats they hold, takes no new call.
    AWAY = "away"
    #: Holds no chat and takes no call.
    OFFLINE = "offline"


class CallState(enum.StrEnum):
    """Where a live call stands."""

    #: In its department's queue.
    WAITING = "waiting"
    #: Pushed to an operator who has not accepted it yet (assign mode).
    ASSIGNED = "assigned"
    #: Held by an operator: the chat is on.
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class DepartmentSettings:
    """How a department routes its calls.

    Args:
        mode: Offer or assign routing.
        accept_timeout: Seconds an operator has to accept a call pushed to
            them (assign mode).
        wait_limit: Seconds a call may wait in the queue before the
            customer is offered to leave a message; None for no limit.
        inactivity_timeout: Seconds of silence after which a chat is
            closed; None to keep silent chats open.

    Raises:
        InvalidArgument: A time is not a positive number.
    """

    mode: RoutingMode = RoutingMode.OFFER
    accept_timeout: float = 20.0
    wait_limit: float | None = 300.0
    inactivity_timeout: float | None = 900.0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", RoutingMode(self.mode))
        except ValueError:
            raise InvalidArgument(f"no routing mode {self.mode!r}") from None
        for name in ("accept_timeout", "wait_limit", "inactivity_timeout"):
            value = getattr(self, name)
            if value is None and name != "accept_timeout":
                continue
            if not (isinstance(value, int | float) and 0 < value < float("inf")):
                raise InvalidArgument(f"{name} must be a positive number of seconds")


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """Limits and estimator settings of a router; every one has a safe
    default.

    Args:
        max_queue: Calls a department's queue may hold; new calls and
            transfers beyond it are refused. Chats requeued because their
            operator was lost are always taken back.
        max_note_length: Characters a transfer note may hold.
        handle_time_samples: Served chats whose handle times the wait
            estimate averages, per department.
        default_handle_time: Seconds the estimate assumes a chat lasts
            before a department has served any.

    Raises:
        InvalidArgument: A limit is out of range.
    """

    max_queue: int = 10_000
    max_note_length: int = 2000
    handle_time_samples: int = 20
    default_handle_time: float = 180.0

    def __post_init__(self) -> None:
        for name in ("max_queue", "handle_time_samples"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"{name} must be at least 1")
        if self.max_note_length < 0:
            raise InvalidArgument("max_note_length must not be negative")
        if not 0 < self.default_handle_time < float("inf"):
            raise InvalidArgument("default_handle_time must be positive")


@dataclass(frozen=True, slots=True)
class CallView:
    """A live call as the router sees it, at the time it was asked.

    ``requeued`` tells that the call stands ahead of its priority because
    its operator was lost; ``position`` (1 is next) and ``estimated_wait``
    are None unless the call is waiting.
    """

    call_id: str
    department: str
    state: CallState
    priority: int
    arrival: float
    requeued: bool
    operator: str | None
    offered_to: tuple[str, ...]
    position: int | None
    estimated_wait: int | None
    leave_message_offered: bool
    transfers: int


@dataclass(frozen=True, slots=True)
class OperatorView:
    """An operator as the router sees it, at the time it was asked.

    ``assigned`` lists the calls pushed to them and not accepted yet,
    ``offers`` the calls offered to them, ``idle_since`` when their last
    chat ended or they became available.
    """

    operator: str
    status: OperatorStatus
    departments: tuple[str, ...]
    cap: int
    priority: int
    chats: tuple[str, ...]
    assigned: tuple[str, ...]
    offers: tuple[str, ...]
    idle_since: float

    @property
    def load(self) -> int:
        """The chats held plus the calls assigned and not accepted."""
        return len(self.chats) + len(self.assigned)


# A queue entry: (-priority, band, arrival, sequence, call id). The
# sequence number is unique, so entries never compare by id.
_QueueKey = tuple[int, int, float, int, str]
# A ranked operator: (load, -priority, idle since, operator id).
_RankKey = tuple[int, int, float, str]

# Bands within one priority: chats whose operator was lost come first.
_HEAD = 0
_NORMAL = 1


class _Timer(enum.IntEnum):
    ACCEPT = 0
    WAIT_LIMIT = 1
    INACTIVITY = 2


class _Department:
    __slots__ = (
        "average",
        "handle_times",
        "name",
        "queue",
        "ranked",
        "settings",
        "slots",
    )

    def __init__(self, name: str, settings: DepartmentSettings, average: float) -> None:
        self.name = name
        self.settings = settings
        self.queue: list[_QueueKey] = []
        self.ranked: list[_RankKey] = []
        self.slots = 0
        self.handle_times: deque[float] = deque()
        self.average = average


class _Operator:
    __slots__ = (
        "assigned",
        "cap",
        "chats",
        "departments",
        "id",
        "idle_since",
        "offers",
        "priority",
        "rank",
        "status",
        "target",
    )

    def __init__(
        self, op_id: str, departments: tuple[str, ...], cap: int, priority: int
    ) -> None:
        self.id = op_id
        self.status = OperatorStatus.OFFLINE
        self.departments = departments
        self.cap = cap
        self.priority = priority
        # dicts, not sets: they keep insertion order, so events come out in
        # the same order on every run
        self.chats: dict[str, None] = {}
        self.assigned: dict[str, None] = {}
        self.offers: dict[str, None] = {}
        self.idle_since = 0.0
        self.rank: _RankKey | None = None
        # a cap asked for below the chats held, reached as they end
        self.target: int | None = None

    @property
    def load(self) -> int:
        return len(self.chats) + len(self.assigned)


class _Call:
    __slots__ = (
        "accepted_at",
        "armed",
        "arrival",
        "band",
        "deadline",
        "department",
        "id",
        "last_activity",
        "leave_offered",
        "offered_to",
        "operator",
        "passed",
        "priority",
        "queued_at",
        "reported",
        "seq",
        "state",
        "transfers",
    )

    def __init__(
        self, call_id: str, department: str, priority: int, now: float, seq: int
    ) -> None:
        self.id = call_id
        self.department = department
        self.priority = priority
        self.arrival = now
        self.seq = seq
        self.band = _NORMAL
        self.state = CallState.WAITING
        self.operator: str | None = None
        self.offered_to: dict[str, None] = {}
        # operators who declined the call or let it time out, during this
        # stay in a queue
        self.passed: dict[str, None] = {}
        self.queued_at = now
        self.leave_offered = False
        self.deadline = 0.0
        self.last_activity = now
        self.accepted_at = now
        self.transfers = 0
        self.reported: tuple[int, int | None] | None = None
        # the one live heap entry of each timer kind: (when, token)
        self.armed: dict[_Timer, tuple[float, int]] = {}

    @property
    def key(self) -> _QueueKey:
        return (-self.priority, self.band, self.arrival, self.seq, self.id)


class Router:
    """Routes calls to operators; see the module documentation.

    Args:
        config: Limits and estimator settings.
    """

    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = config or RouterConfig()
        self._departments: dict[str, _Department] = {}
        self._operators: dict[str, _Operator] = {}
        self._calls: dict[str, _Call] = {}
        self._events: deque[RoutingEvent] = deque()
        self._timers: list[tuple[float, int, str, _Timer]] = []
        self._seq = itertools.count(1)
        self._now = float("-inf")
        # departments whose queue positions must be reported again, from
        # the index given
        self._dirty: dict[str, int] = {}

    # -- set-up

    def add_department(
        self, name: str, settings: DepartmentSettings | None = None
    ) -> None:
        """Create a department with an empty queue.

        Raises:
            DuplicateDepartment: The name is taken.
        """
        if name in self._departments:
            raise DuplicateDepartment(f"department {name!r} exists already")
        self._departments[name] = _Department(
            name, settings or DepartmentSettings(), self.config.default_handle_time
        )

    def update_department(
        self, name: str, settings: DepartmentSettings, now: float
    ) -> None:
        """Change how a department routes its calls; no call is lost.

        A change of mode takes back the offers or assignments of the old
        one (their operators see them withdrawn as ``rerouted``) and
        hands the waiting calls out again the new way, each keeping its
        place. A new wait limit or inactivity timeout applies to the calls
        there now, counted from when they joined the queue or last saw
        activity, and acts at once on those it has passed (a leave-a-message
        offer, a silent chat ended); a new accept timeout applies from the
        next assignment.

        Raises:
            UnknownDepartment: No department has this name.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        dept = self._department(name)
        self._now = now
        old, dept.settings = dept.settings, settings
        calls = [call for call in self._calls.values() if call.department == name]

        # take back what the old mode handed out
        if old.mode is not settings.mode:
            released: list[_Operator] = []
            for call in calls:
                if call.state is CallState.ASSIGNED:
                    assert call.operator is not None
                    released.append(self._operators[call.operator])
                    self._release(call, WithdrawReason.REROUTED, passed=False)
                else:
                    self._withdraw_offers_of(call, WithdrawReason.REROUTED)
            for op in released:
                self._reindex(op)

            # and hand the waiting calls out the new way, in queue order
            if settings.mode is RoutingMode.OFFER:
                for key in dept.queue:
                    call = self._calls[key[-1]]
                    for rank in list(dept.ranked):
                        if rank[-1] not in call.passed:
                            self._offer(call, self._operators[rank[-1]])
            names = {name} | {d for op in released for d in op.departments}
            for op in released:
                if op.rank is not None:
                    self._route_to(op)
            self._dispatch(names)

        # the timers of the calls there now follow the new times; those
        # the new times put in the past act at once
        for call in calls:
            self._arm(call, _Timer.WAIT_LIMIT)
            self._arm(call, _Timer.INACTIVITY)
        self._run_timers()
        self._flush()

    def add_operator(
        self,
        operator: str,
        now: float,
        *,
        departments: Iterable[str],
        cap: int,
        priority: int = 0,
        status: OperatorStatus = OperatorStatus.OFFLINE,
    ) -> None:
        """Create an operator, offline unless ``status`` says otherwise.

        Args:
            operator: The operator's id.
            now: The current time.
            departments: The departments they serve.
            cap: The most chats they hold at once (0 takes none).
            priority: Preferred over operators of lower priority with as
                many chats, in assign mode.
            status: Their status to begin with.

        Raises:
            DuplicateOperator: The id is taken.
            UnknownDepartment: A department does not exist.
            InvalidArgument: ``cap`` is negative, ``status`` is not a
                status, or ``departments`` is a single string.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        if operator in self._operators:
            raise DuplicateOperator(f"operator {operator!r} exists already")
        names = self._check_departments(departments)
        self._check_cap(cap)
        status = self._check_status(status)
        self._now = now

        op = _Operator(operator, names, cap, priority)
        op.idle_since = now
        self._operators[operator] = op
        if status is not OperatorStatus.OFFLINE:
            self._set_status(op, status, silent=False)
        self._flush()

    def update_operator(
        self,
        operator: str,
        now: float,
        *,
        departments: Iterable[str] | None = None,
        cap: int | None = None,
        priority: int | None = None,
        gradual: bool = False,
    ) -> None:
        """Change an operator's departments, cap or priority.

        Calls of the departments they leave that were offered or assigned
        to them are withdrawn; the chats they hold stay theirs. Lowering
        the cap under their load withdraws the calls assigned to them most
        recently. Raising it, or joining departments, routes waiting calls
        to them.

        Args:
            gradual: A cap below the chats they hold is taken rather than
                refused: their cap becomes the number of chats they hold,
                so they get no new call, and goes down with every chat
                they end or hand on until it reaches ``cap``.

        Raises:
            UnknownOperator: No operator has this id.
            UnknownDepartment: A department does not exist.
            InvalidArgument: ``cap`` is negative, or ``departments`` is a
                single string.
            OperatorBusy: ``cap`` is below the number of chats they hold,
                and ``gradual`` is false.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        op = self._operator(operator)
        names = op.departments
        if departments is not None:
            names = self._check_departments(departments)
        new_cap = op.cap if cap is None else cap
        self._check_cap(new_cap)
        target = op.target if cap is None else None
        if new_cap < len(op.chats):
            if not gradual:
                raise OperatorBusy(
                    f"operator {operator!r} holds {len(op.chats)} chats, "
                    f"more than a cap of {new_cap}"
                )
            target, new_cap = new_cap, len(op.chats)
        self._now = now
        op.target = target

        # take the operator out of the old rankings, then change them
        self._unrank(op)
        old_names, old_cap = op.departments, op.cap
        op.departments, op.cap = names, new_cap
        if priority is not None:
            op.priority = priority
        if op.status is OperatorStatus.AVAILABLE:
            self._restaff(
                {name: -old_cap for name in old_names},
                {name: new_cap for name in names},
            )
        gained = self._reindex(op)

        # withdraw what the operator can no longer take
        left = set(old_names) - set(names)
        released: list[_Call] = []
        for call_id in list(op.offers):
            call = self._calls[call_id]
            if call.department in left:
                self._withdraw_offer(call, op, WithdrawReason.UNAVAILABLE)
        for call_id in list(op.assigned):
            if self._calls[call_id].department in left:
                released.append(self._calls[call_id])
        excess = op.load - len(released) - op.cap
        for call_id in reversed(op.assigned):
            if excess <= 0:
                break
            call = self._calls[call_id]
            if call not in released:
                released.append(call)
                excess -= 1
        for call in released:
            self._release(call, WithdrawReason.UNAVAILABLE, passed=False)
        if released:
            gained = self._reindex(op) or gained

        # route what the change made possible
        if gained:
            self._route_to(op)
        self._dispatch(c.department for c in released)
        self._flush()

    def set_status(self, operator: str, status: OperatorStatus, now: float) -> None:
        """Set an operator's status.

        Going away keeps the chats they hold (they may end and transfer
        them) but withdraws every call offered or assigned to them. Going
        offline is refused while they hold chats: they end or transfer them
        first. Becoming available routes waiting calls to them.

        Raises:
            UnknownOperator: No operator has this id.
            InvalidArgument: ``status`` is not a status.
            OperatorBusy: Going offline while holding chats.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        op = self._operator(operator)
        status = self._check_status(status)
        if status is OperatorStatus.OFFLINE and op.chats:
            raise OperatorBusy(
                f"operator {operator!r} holds {len(op.chats)} chats: "
                "end or transfer them before going offline"
            )
        self._now = now
        self._set_status(op, status, silent=False)
        self._flush()

    def operator_lost(self, operator: str, now: float) -> None:
        """Tell the router an operator's session ended after its grace
        window.

        The operator goes offline. Their chats go back to the head of
        their departments' queues, ahead of every call of the same
        priority, and their customers are told they are being connected
        to another operator; the calls offered or assigned to them go to
        others. No event is addressed to the lost operator.

        Raises:
            UnknownOperator: No operator has this id.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        op = self._operator(operator)
        self._now = now

        self._set_status(op, OperatorStatus.OFFLINE, silent=True)
        requeued = [self._calls[call_id] for call_id in op.chats]
        op.chats.clear()
        self._shed(op)
        op.idle_since = now
        self._reindex(op)
        for call in requeued:
            self._events.append(
                ChatRequeued(
                    call.id, call.department, op.id, RequeueReason.OPERATOR_LOST
                )
            )
            call.passed.clear()
            self._enqueue(call, _HEAD)
        self._dispatch(call.department for call in requeued)
        self._flush()

    # -- customers

    def place_call(
        self, call_id: str, department: str, now: float, *, priority: int = 0
    ) -> None:
        """A customer asks to talk to an operator of a department.

        The call joins the department's queue by priority (higher first),
        then arrival; it is offered or assigned at once if an operator can
        take it, and offered the leave-a-message form if the department is
        unstaffed.

        Raises:
            DuplicateCall: A live call has this id.
            UnknownDepartment: No department has this name.
            QueueFull: The department's queue is full.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        if call_id in self._calls:
            raise DuplicateCall(f"call {call_id!r} exists already")
        dept = self._department(department)
        self._check_room(dept)
        self._now = now

        call = _Call(call_id, department, priority, now, next(self._seq))
        self._calls[call_id] = call
        self._enqueue(call, _NORMAL)
        self._dispatch((department,))
        self._flush()

    def customer_left(self, call_id: str, now: float) -> None:
        """The customer of a call left (closed the window, or their session
        ended after its grace window).

        A waiting call ends as abandoned. An operator's chat ends as served,
        and the operator is told the customer left.

        Raises:
            UnknownCall: No live call has this id.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        call = self._call(call_id)
        self._now = now
        if call.state is CallState.ACTIVE:
            assert call.operator is not None
            self._events.append(CustomerLeft(call.operator, call.id))
            self._end_chat(call, Outcome.SERVED)
        else:
            self._end_unserved(call, Outcome.ABANDONED)
        self._flush()

    def leave_message(self, call_id: str, now: float) -> None:
        """The customer of a waiting call left a message: the call ends as
        ``left_message``.

        Raises:
            UnknownCall: No live call has this id.
            LeaveMessageNotOffered: The call was not offered the form in
                its current stay in a queue, or an operator accepted it.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        call = self._call(call_id)
        if call.state is CallState.ACTIVE:
            raise LeaveMessageNotOffered(
                f"call {call_id!r} is with an operator already"
            )
        if not call.leave_offered:
            raise LeaveMessageNotOffered(
                f"call {call_id!r} was not offered to leave a message"
            )
        self._now = now
        self._end_unserved(call, Outcome.LEFT_MESSAGE)
        self._flush()

    def activity(self, call_id: str, now: float) -> None:
        """Something happened in a chat (a message, typing): its inactivity
        timer starts again. Activity on a call still waiting is allowed and
        changes nothing.

        Raises:
            UnknownCall: No live call has this id.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        call = self._call(call_id)
        self._now = now
        call.last_activity = now

    # -- operators

    def accept(self, operator: str, call_id: str, now: float) -> None:
        """An operator accepts a call offered or assigned to them.

        Raises:
            UnknownOperator: No operator has this id.
            UnknownCall: No live call has this id.
            NotOffered: The call is not offered or assigned to them: another
                operator took it, it was withdrawn, or it never was theirs.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        op = self._operator(operator)
        call = self._call(call_id)
        assigned = call.state is CallState.ASSIGNED and call.operator == op.id
        offered = call.state is CallState.WAITING and op.id in call.offered_to
        if not (assigned or offered):
            raise NotOffered(self._not_offered(op, call))
        self._now = now

        if assigned:
            del op.assigned[call.id]
        else:
            del call.offered_to[op.id]
            del op.offers[call.id]
            self._unqueue(call)
            self._withdraw_offers_of(call, WithdrawReason.TAKEN)
        call.state = CallState.ACTIVE
        call.operator = op.id
        call.accepted_at = call.last_activity = now
        op.chats[call.id] = None
        self._events.append(CallAccepted(op.id, call.id, call.department))
        self._arm(call, _Timer.INACTIVITY)
        self._reindex(op)
        self._flush()

    def decline(self, operator: str, call_id: str, now: float) -> None:
        """An operator turns down a call offered or assigned to them.

        In offer mode the call leaves their queue and is not offered to
        them again while it waits; in assign mode it goes to the next
        operator (see the module documentation).

        Raises:
            UnknownOperator: No operator has this id.
            UnknownCall: No live call has this id.
            NotOffered: The call is not offered or assigned to them.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        op = self._operator(operator)
        call = self._call(call_id)
        if call.state is CallState.ASSIGNED and call.operator == op.id:
            self._now = now
            self._let_go(call, op, WithdrawReason.DECLINED)
        elif call.state is CallState.WAITING and op.id in call.offered_to:
            self._now = now
            call.passed[op.id] = None
            self._withdraw_offer(call, op, WithdrawReason.DECLINED)
        else:
            raise NotOffered(self._not_offered(op, call))
        self._flush()

    def end_chat(self, operator: str, call_id: str, now: float) -> None:
        """An operator ends a chat they hold: it ends as served.

        Raises:
            UnknownOperator: No operator has this id.
            UnknownCall: No live call has this id.
            NotYourChat: They do not hold this chat.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        op = self._operator(operator)
        call = self._held(op, call_id)
        self._now = now
        self._end_chat(call, Outcome.SERVED)
        self._flush()

    def transfer_to_operator(
        self, operator: str, call_id: str, target: str, now: float, *, note: str = ""
    ) -> None:
        """Hand a chat to another operator, who holds it at once.

        The target must be available and under their cap; they need not
        belong to the chat's department, which stays the same. A transfer
        to an operator who cannot take the chat is refused rather than
        queued, so the customer never waits on a transfer.

        Raises:
            UnknownOperator: ``operator`` or ``target`` does not exist.
            UnknownCall: No live call has this id.
            NotYourChat: ``operator`` does not hold this chat.
            OperatorUnavailable: ``target`` is the same operator, away,
                offline or at their cap.
            InvalidArgument: The note is too long.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        op = self._operator(operator)
        call = self._held(op, call_id)
        dest = self._operator(target)
        self._check_note(note)
        if dest is op:
            raise OperatorUnavailable(
                "an operator cannot transfer a chat to themselves"
            )
        if dest.status is not OperatorStatus.AVAILABLE:
            raise OperatorUnavailable(f"operator {target!r} is {dest.status}")
        if dest.load >= dest.cap:
            raise OperatorUnavailable(
                f"operator {target!r} is at their cap of {dest.cap} chats"
            )
        self._now = now

        del op.chats[call.id]
        self._shed(op)
        op.idle_since = now
        dest.chats[call.id] = None
        call.operator = dest.id
        call.transfers += 1
        call.last_activity = now
        self._events.append(
            CallTransferred(
                call.id, op.id, dest.id, call.department, call.department, note
            )
        )
        self._reindex(dest)
        if self._reindex(op):
            self._route_to(op)
        self._flush()

    def transfer_to_department(
        self,
        operator: str,
        call_id: str,
        department: str,
        now: float,
        *,
        note: str = "",
    ) -> None:
        """Send a chat to a department's queue, which may be its own.

        The chat keeps its identity, its priority and its original arrival
        time, so it is served before the calls that came after it. The
        operator who sent it is not offered it again during this wait,
        unless nobody else can take it (assign mode).

        Raises:
            UnknownOperator: No operator has this id.
            UnknownCall: No live call has this id.
            NotYourChat: The operator does not hold this chat.
            UnknownDepartment: No department has this name.
            QueueFull: The department's queue is full.
            InvalidArgument: The note is too long.
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        op = self._operator(operator)
        call = self._held(op, call_id)
        dept = self._department(department)
        self._check_note(note)
        self._check_room(dept)
        self._now = now

        del op.chats[call.id]
        self._shed(op)
        op.idle_since = now
        source = call.department
        call.department = department
        call.transfers += 1
        self._events.append(
            CallTransferred(call.id, op.id, None, source, department, note)
        )
        call.passed = {op.id: None}
        self._enqueue(call, _NORMAL)
        if self._reindex(op):
            self._route_to(op)
        self._dispatch((department,))
        self._flush()

    # -- time

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must be called next, or None."""
        self._settle_timers()
        return self._timers[0][0] if self._timers else None

    def handle_timer(self, now: float) -> None:
        """Act on every deadline passed by ``now``, earliest first: accept
        timeouts, wait limits and inactive chats.

        Raises:
            ClockWentBack: ``now`` is before a time already seen.
        """
        self._check_clock(now)
        self._now = now
        self._run_timers()
        self._flush()

    def _run_timers(self) -> None:
        """Act on the deadlines passed by now, earliest first."""
        now = self._now
        while True:
            self._settle_timers()
            if not self._timers or self._timers[0][0] > now:
                break
            _, _, call_id, kind = heapq.heappop(self._timers)
            call = self._calls[call_id]
            del call.armed[kind]
            if kind is _Timer.ACCEPT:
                assert call.operator is not None
                op = self._operators[call.operator]
                self._let_go(call, op, WithdrawReason.TIMED_OUT)
            elif kind is _Timer.WAIT_LIMIT:
                self._offer_leave_message(call, LeaveMessageReason.WAIT_LIMIT)
            else:
                self._end_chat(call, Outcome.INACTIVE)

    # -- reading

    def next_event(self) -> RoutingEvent | None:
        """The oldest event not read yet, or None."""
        return self._events.popleft() if self._events else None

    def departments(self) -> tuple[str, ...]:
        """Every department's name, in the order they were added."""
        return tuple(self._departments)

    def operators(self) -> tuple[str, ...]:
        """Every operator's id, in the order they were added."""
        return tuple(self._operators)

    def calls(self) -> tuple[str, ...]:
        """Every live call's id, in the order they were placed."""
        return tuple(self._calls)

    def queue(self, department: str) -> tuple[str, ...]:
        """The ids of the calls waiting in a department, next first.

        Raises:
            UnknownDepartment: No department has this name.
        """
        return tuple(key[-1] for key in self._department(department).queue)

    def department_settings(self, department: str) -> DepartmentSettings:
        """A department's settings.

        Raises:
            UnknownDepartment: No department has this name.
        """
        return self._department(department).settings

    def call(self, call_id: str) -> CallView:
        """A live call's state.

        Raises:
            UnknownCall: No live call has this id.
        """
        call = self._call(call_id)
        position = estimate = None
        if call.state is CallState.WAITING:
            dept = self._departments[call.department]
            position = bisect_left(dept.queue, call.key) + 1
            estimate = self._estimate(dept, position)
        return CallView(
            call_id=call.id,
            department=call.department,
            state=call.state,
            priority=call.priority,
            arrival=call.arrival,
            requeued=call.band == _HEAD,
            operator=call.operator,
            offered_to=tuple(call.offered_to),
            position=position,
            estimated_wait=estimate,
            leave_message_offered=call.leave_offered,
            transfers=call.transfers,
        )

    def operator(self, operator: str) -> OperatorView:
        """An operator's state.

        Raises:
            UnknownOperator: No operator has this id.
        """
        op = self._operator(operator)
        return OperatorView(
            operator=op.id,
            status=op.status,
            departments=op.departments,
            cap=op.cap,
            priority=op.priority,
            chats=tuple(op.chats),
            assigned=tuple(op.assigned),
            offers=tuple(op.offers),
            idle_since=op.idle_since,
        )

    # -- checks, done before any state changes

    def _check_clock(self, now: float) -> None:
        # written so that NaN fails too
        if not now >= self._now:
            raise ClockWentBack(f"time {now} is before {self._now}, already seen")

    def _check_departments(self, names: Iterable[str]) -> tuple[str, ...]:
        if isinstance(names, str):
            raise InvalidArgument("departments must be a collection of names")
        result = tuple(sorted(set(names)))
        for name in result:
            self._department(name)
        return result

    def _check_cap(self, cap: int) -> None:
        if cap < 0:
            raise InvalidArgument(f"a cap must not be negative, got {cap}")

    def _check_status(self, status: OperatorStatus | str) -> OperatorStatus:
        try:
            return OperatorStatus(status)
        except ValueError:
            raise InvalidArgument(f"no operator status {status!r}") from None

    def _check_note(self, note: str) -> None:
        if len(note) > self.config.max_note_length:
            raise InvalidArgument(
                f"a transfer note holds at most {self.config.max_note_length} "
                "characters"
            )

    def _check_room(self, dept: _Department) -> None:
        if len(dept.queue) >= self.config.max_queue:
            raise QueueFull(f"the queue of department {dept.name!r} is full")

    def _department(self, name: str) -> _Department:
        try:
            return self._departments[name]
        except KeyError:
            raise UnknownDepartment(f"no department {name!r}") from None

    def _operator(self, op_id: str) -> _Operator:
        try:
            return self._operators[op_id]
        except KeyError:
            raise UnknownOperator(f"no operator {op_id!r}") from None

    def _call(self, call_id: str) -> _Call:
        try:
            return self._calls[call_id]
        except KeyError:
            raise UnknownCall(f"no live call {call_id!r}") from None

    def _held(self, op: _Operator, call_id: str) -> _Call:
        call = self._call(call_id)
        if call.state is not CallState.ACTIVE or call.operator != op.id:
            raise NotYourChat(f"operator {op.id!r} does not hold chat {call_id!r}")
        return call

    def _not_offered(self, op: _Operator, call: _Call) -> str:
        if call.state is CallState.ACTIVE:
            return f"call {call.id!r} was accepted already"
        if call.state is CallState.ASSIGNED:
            return f"call {call.id!r} is assigned to another operator"
        return f"call {call.id!r} is not offered to operator {op.id!r}"

    # -- operators' status and ranking

    def _set_status(self, op: _Operator, status: OperatorStatus, silent: bool) -> None:
        old = op.status
        if old is status:
            return
        op.status = status
        if status is OperatorStatus.AVAILABLE:
            op.idle_since = self._now
            self._restaff({name: op.cap for name in op.departments})
            if self._reindex(op):
                self._route_to(op)
            return
        if old is OperatorStatus.AVAILABLE:
            self._restaff({name: -op.cap for name in op.departments})
        self._reindex(op, silent=silent)

        # an operator who is not available keeps no assigned call
        released = [self._calls[call_id] for call_id in op.assigned]
        for call in released:
            self._release(call, WithdrawReason.UNAVAILABLE, passed=False, silent=silent)
        self._dispatch(call.department for call in released)

    def _shed(self, op: _Operator) -> None:
        """Lower a cap that waits for chats to end (``gradual``) as far
        as the chats still held allow."""
        if op.target is None:
            return
        cap = max(op.target, len(op.chats))
        if cap < op.cap:
            if op.status is OperatorStatus.AVAILABLE:
                self._restaff({name: cap - op.cap for name in op.departments})
            op.cap = cap
        if cap == op.target:
            op.target = None

    def _restaff(self, *changes: dict[str, int]) -> None:
        """Add slots to departments; report every position again, as the
        estimates change, and offer the leave-a-message form in the
        departments left with no slot."""
        before: dict[str, int] = {}
        for change in changes:
            for name, delta in change.items():
                dept = self._departments[name]
                before.setdefault(name, dept.slots)
                dept.slots += delta
        for name, slots in before.items():
            dept = self._departments[name]
            if dept.slots == slots:
                continue
            self._dirty[name] = 0
            if dept.slots == 0:
                for key in dept.queue:
                    self._offer_leave_message(
                        self._calls[key[-1]], LeaveMessageReason.NO_OPERATOR
                    )

    def _reindex(self, op: _Operator, silent: bool = False) -> bool:
        """Rank the operator again after a change; withdraw every offer
        made to them if they are no longer eligible. Returns whether they
        became eligible."""
        old = op.rank
        new: _RankKey | None = None
        if op.status is OperatorStatus.AVAILABLE and op.load < op.cap:
            new = (op.load, -op.priority, op.idle_since, op.id)
        if new != old:
            for name in op.departments:
                ranked = self._departments[name].ranked
                if old is not None:
                    del ranked[bisect_left(ranked, old)]
                if new is not None:
                    insort(ranked, new)
            op.rank = new
        if new is None:
            for call_id in list(op.offers):
                self._withdraw_offer(
                    self._calls[call_id], op, WithdrawReason.UNAVAILABLE, silent
                )
        return old is None and new is not None

    def _unrank(self, op: _Operator) -> None:
        if op.rank is not None:
            for name in op.departments:
                ranked = self._departments[name].ranked
                del ranked[bisect_left(ranked, op.rank)]
            op.rank = None

    def _route_to(self, op: _Operator) -> None:
        """Route waiting calls to an operator who became eligible."""
        self._dispatch(op.departments)
        for name in op.departments:
            dept = self._departments[name]
            if dept.settings.mode is not RoutingMode.OFFER:
                continue
            for key in dept.queue:
                if op.rank is None:
                    return
                call = self._calls[key[-1]]
                if op.id not in call.offered_to and op.id not in call.passed:
                    self._offer(call, op)

    # -- queues

    def _enqueue(self, call: _Call, band: int) -> None:
        """Put a call in its department's queue for a new stay: offer it
        (offer mode) or leave it to :meth:`_dispatch` (assign mode)."""
        dept = self._departments[call.department]
        call.band = band
        call.state = CallState.WAITING
        call.operator = None
        call.queued_at = self._now
        call.leave_offered = False
        self._queue(call)
        self._arm(call, _Timer.WAIT_LIMIT)
        if dept.slots == 0:
            self._offer_leave_message(call, LeaveMessageReason.NO_OPERATOR)
        if dept.settings.mode is RoutingMode.OFFER:
            for rank in dept.ranked:
                if rank[-1] not in call.passed:
                    self._offer(call, self._operators[rank[-1]])

    def _queue(self, call: _Call) -> None:
        queue = self._departments[call.department].queue
        key = call.key
        index = bisect_left(queue, key)
        queue.insert(index, key)
        self._touch(call.department, index)

    def _unqueue(self, call: _Call) -> None:
        queue = self._departments[call.department].queue
        index = bisect_left(queue, call.key)
        del queue[index]
        call.reported = None
        self._touch(call.department, index)

    def _touch(self, department: str, index: int) -> None:
        start = self._dirty.get(department)
        if start is None or index < start:
            self._dirty[department] = index

    def _flush(self) -> None:
        """Report the positions and estimates that changed."""
        calls = self._calls
        emit = self._events.append
        for name, start in self._dirty.items():
            dept = self._departments[name]
            step = self._estimate_step(dept)
            for position, key in enumerate(dept.queue[start:], start + 1):
                call = calls[key[-1]]
                estimate = None if step is None else int(position * step + 0.5)
                if call.reported != (position, estimate):
                    call.reported = (position, estimate)
                    emit(QueuePosition(call.id, name, position, estimate))
        self._dirty.clear()

    def _estimate(self, dept: _Department, position: int) -> int | None:
        step = self._estimate_step(dept)
        return None if step is None else int(position * step + 0.5)

    def _estimate_step(self, dept: _Department) -> float | None:
        """Seconds of estimated wait a place in the queue, rounded half up
        once multiplied by the position."""
        return dept.average / dept.slots if dept.slots > 0 else None

    # -- offers and assignments

    def _offer(self, call: _Call, op: _Operator) -> None:
        call.offered_to[op.id] = None
        op.offers[call.id] = None
        self._events.append(OfferMade(op.id, call.id, call.department))

    def _withdraw_offer(
        self,
        call: _Call,
        op: _Operator,
        reason: WithdrawReason,
        silent: bool = False,
    ) -> None:
        del call.offered_to[op.id]
        del op.offers[call.id]
        if not silent:
            self._events.append(OfferWithdrawn(op.id, call.id, reason))

    def _withdraw_offers_of(self, call: _Call, reason: WithdrawReason) -> None:
        for op_id in list(call.offered_to):
            self._withdraw_offer(call, self._operators[op_id], reason)

    def _dispatch(self, names: Iterable[str]) -> None:
        """Assign waiting calls of these departments (those in assign mode)
        while an eligible operator is left; across departments, the call
        first in queue order goes first."""
        depts = [
            dept
            for dept in map(self._departments.__getitem__, set(names))
            if dept.settings.mode is RoutingMode.ASSIGN
        ]
        while True:
            best: _Department | None = None
            for dept in depts:
                if not (dept.queue and dept.ranked):
                    continue
                if best is None or dept.queue[0] < best.queue[0]:
                    best = dept
            if best is None:
                return
            call = self._calls[best.queue[0][-1]]
            self._assign(call, self._choose(best, call))

    def _choose(self, dept: _Department, call: _Call) -> _Operator:
        for rank in dept.ranked:
            if rank[-1] not in call.passed:
                return self._operators[rank[-1]]
        # every eligible operator has let this call go: a new round
        call.passed.clear()
        return self._operators[dept.ranked[0][-1]]

    def _assign(self, call: _Call, op: _Operator) -> None:
        self._unqueue(call)
        call.state = CallState.ASSIGNED
        call.operator = op.id
        call.deadline = (
            self._now + self._departments[call.department].settings.accept_timeout
        )
        op.assigned[call.id] = None
        self._events.append(
            CallAssigned(op.id, call.id, call.department, call.deadline)
        )
        self._arm(call, _Timer.ACCEPT)
        self._reindex(op)

    def _release(
        self,
        call: _Call,
        reason: WithdrawReason,
        passed: bool,
        silent: bool = False,
    ) -> None:
        """Take an assigned call back from its operator and put it back in
        its place in the queue; the caller ranks the operator again and
        dispatches."""
        assert call.operator is not None
        op = self._operators[call.operator]
        del op.assigned[call.id]
        if not silent:
            self._events.append(OfferWithdrawn(op.id, call.id, reason))
        if passed:
            call.passed[op.id] = None
        call.state = CallState.WAITING
        call.operator = None
        self._queue(call)
        if self._departments[call.department].slots == 0:
            self._offer_leave_message(call, LeaveMessageReason.NO_OPERATOR)

    def _let_go(self, call: _Call, op: _Operator, reason: WithdrawReason) -> None:
        """An operator declined an assigned call or let it time out."""
        self._release(call, reason, passed=True)
        if self._reindex(op):
            self._route_to(op)
        self._dispatch((call.department,))

    def _offer_leave_message(self, call: _Call, reason: LeaveMessageReason) -> None:
        if not call.leave_offered:
            call.leave_offered = True
            self._events.append(LeaveMessageOffered(call.id, call.department, reason))

    # -- endings

    def _end_unserved(self, call: _Call, outcome: Outcome) -> None:
        op: _Operator | None = None
        if call.state is CallState.ASSIGNED:
            assert call.operator is not None
            op = self._operators[call.operator]
            del op.assigned[call.id]
            self._events.append(
                OfferWithdrawn(op.id, call.id, WithdrawReason.CALL_ENDED)
            )
        else:
            self._unqueue(call)
            self._withdraw_offers_of(call, WithdrawReason.CALL_ENDED)
        self._events.append(
            CallEnded(call.id, call.department, outcome, None, call.transfers)
        )
        del self._calls[call.id]
        if op is not None and self._reindex(op):
            self._route_to(op)

    def _end_chat(self, call: _Call, outcome: Outcome) -> None:
        assert call.operator is not None
        op = self._operators[call.operator]
        dept = self._departments[call.department]
        if outcome is Outcome.SERVED:
            self._record_handle_time(dept, self._now - call.accepted_at)
        del op.chats[call.id]
        self._shed(op)
        op.idle_since = self._now
        self._events.append(
            CallEnded(call.id, call.department, outcome, op.id, call.transfers)
        )
        del self._calls[call.id]
        if self._reindex(op):
            self._route_to(op)

    def _record_handle_time(self, dept: _Department, seconds: float) -> None:
        times = dept.handle_times
        times.append(seconds)
        if len(times) > self.config.handle_time_samples:
            times.popleft()
        dept.average = sum(times) / len(times)
        if dept.queue:
            self._dirty[dept.name] = 0

    # -- timers: one heap entry a call and kind is live, the one in
    # call.armed; an entry found stale when it reaches the top is dropped,
    # and one whose deadline moved later (activity) is pushed back

    def _due(self, call: _Call, kind: _Timer) -> float | None:
        settings = self._departments[call.department].settings
        if kind is _Timer.ACCEPT:
            return call.deadline if call.state is CallState.ASSIGNED else None
        if kind is _Timer.WAIT_LIMIT:
            if (
                call.state is CallState.ACTIVE
                or call.leave_offered
                or settings.wait_limit is None
            ):
                return None
            return call.queued_at + settings.wait_limit
        if call.state is not CallState.ACTIVE or settings.inactivity_timeout is None:
            return None
        return call.last_activity + settings.inactivity_timeout

    def _arm(self, call: _Call, kind: _Timer) -> None:
        due = self._due(call, kind)
        if due is None:
            return
        armed = call.armed.get(kind)
        if armed is not None and armed[0] <= due:
            return  # the earlier entry is pushed back when it is reached
        self._push_timer(call, kind, due)

    def _push_timer(self, call: _Call, kind: _Timer, due: float) -> None:
        token = next(self._seq)
        call.armed[kind] = (due, token)
        heapq.heappush(self._timers, (due, token, call.id, kind))
        if len(self._timers) > 64 + 6 * len(self._calls):
            # mostly entries of ended calls: keep only the live ones
            self._timers = [
                (when, tok, c.id, k)
                for c in self._calls.values()
                for k, (when, tok) in c.armed.items()
            ]
            heapq.heapify(self._timers)

    def _settle_timers(self) -> None:
        """Drop stale entries from the top of the heap until the top is a
        live deadline."""
        while self._timers:
            when, token, call_id, kind = self._timers[0]
            call = self._calls.get(call_id)
            if call is None or call.armed.get(kind, (0.0, -1))[1] != token:
                heapq.heappop(self._timers)
                continue
            due = self._due(call, kind)
            if due is None:
                heapq.heappop(self._timers)
                del call.armed[kind]
                continue
            if due > when:
                heapq.heappop(self._timers)
                self._push_timer(call, kind, due)
                continue
            return
