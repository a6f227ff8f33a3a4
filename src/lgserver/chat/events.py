"""Events the call router reports (``docs/chat.md``).

The chat service reads them with :meth:`~.routing.Router.next_event` after
each command and delivers each to whom it concerns: the events that carry
an ``operator`` go to that operator's console, the others to the customer
of ``call_id`` (some, such as :class:`CallAccepted` and :class:`CallEnded`,
to both). Once a :class:`CallEnded` has been reported for a call, no later
event names that call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CallAccepted",
    "CallAssigned",
    "CallEnded",
    "CallTransferred",
    "ChatRequeued",
    "CustomerLeft",
    "LeaveMessageOffered",
    "LeaveMessageReason",
    "OfferMade",
    "OfferWithdrawn",
    "Outcome",
    "QueuePosition",
    "RequeueReason",
    "RoutingEvent",
    "WithdrawReason",
]


class Outcome(enum.StrEnum):
    """How a call ended; every call ends exactly one of these ways."""

    #: An operator accepted it and the chat ended, whoever ended it.
    SERVED = "served"
    #: The customer left before any operator accepted it.
    ABANDONED = "abandoned"
    #: The customer left a message instead of waiting.
    LEFT_MESSAGE = "left_message"
    #: The chat was closed after a silence longer than its department
    #: allows.
    INACTIVE = "inactive"


class WithdrawReason(enum.StrEnum):
    """Why an offer or an assignment was taken back from an operator."""

    #: Another operator accepted the call first (offer mode).
    TAKEN = "taken"
    #: The operator declined it.
    DECLINED = "declined"
    #: The operator did not accept it in time (assign mode).
    TIMED_OUT = "timed_out"
    #: The operator cannot take it any more: away, offline, at their cap,
    #: or no longer in the call's department.
    UNAVAILABLE = "unavailable"
    #: The call left the queue without an operator: the customer left or
    #: left a message.
    CALL_ENDED = "call_ended"
    #: The department's routing mode changed; the call is offered or
    #: assigned anew.
    REROUTED = "rerouted"


class LeaveMessageReason(enum.StrEnum):
    """Why the customer is offered the leave-a-message form."""

    #: No operator of the department is available (``docs/chat.md``).
    NO_OPERATOR = "no_operator"
    #: The call has waited longer than the department's wait limit.
    WAIT_LIMIT = "wait_limit"


class RequeueReason(enum.StrEnum):
    """Why a chat that an operator held went back to a queue."""

    #: The operator's session ended after its grace window.
    OPERATOR_LOST = "operator_lost"


@dataclass(frozen=True, slots=True)
class RoutingEvent:
    """Base class of every routing event."""


@dataclass(frozen=True, slots=True)
class OfferMade(RoutingEvent):
    """A waiting call appears in an operator's queue (offer mode); the
    first eligible operator to accept it gets it."""

    operator: str
    call_id: str
    department: str


@dataclass(frozen=True, slots=True)
class CallAssigned(RoutingEvent):
    """A call is pushed to one operator (assign mode), who must accept it
    by ``deadline`` or it goes to the next operator."""

    operator: str
    call_id: str
    department: str
    deadline: float


@dataclass(frozen=True, slots=True)
class OfferWithdrawn(RoutingEvent):
    """A call offered or assigned to an operator is no longer theirs to
    accept; their console removes it at once."""

    operator: str
    call_id: str
    reason: WithdrawReason


@dataclass(frozen=True, slots=True)
class CallAccepted(RoutingEvent):
    """An operator accepted a call: the chat begins. For the operator and
    the customer."""

    operator: str
    call_id: str
    department: str


@dataclass(frozen=True, slots=True)
class QueuePosition(RoutingEvent):
    """A waiting call's place in its queue (1 is next) and the estimated
    wait in whole seconds, None when no operator is available to estimate
    from. Reported when the call joins a queue and whenever either
    changes. For the customer."""

    call_id: str
    department: str
    position: int
    estimated_wait: int | None


@dataclass(frozen=True, slots=True)
class LeaveMessageOffered(RoutingEvent):
    """The customer may leave a message instead of waiting; the call keeps
    its place until they do. For the customer."""

    call_id: str
    department: str
    reason: LeaveMessageReason


@dataclass(frozen=True, slots=True)
class CallTransferred(RoutingEvent):
    """An operator handed a chat on, keeping its identity and history.

    ``to_operator`` holds the chat now, or is None when the chat went to
    ``to_department``'s queue. For the customer and both operators; the
    ``note`` is for the operator who takes the chat.
    """

    call_id: str
    from_operator: str
    to_operator: str | None
    from_department: str
    to_department: str
    note: str


@dataclass(frozen=True, slots=True)
class ChatRequeued(RoutingEvent):
    """A chat went back to the head of its queue because its operator was
    lost; the customer is being connected to another operator."""

    call_id: str
    department: str
    operator: str
    reason: RequeueReason


@dataclass(frozen=True, slots=True)
class CustomerLeft(RoutingEvent):
    """The customer of a chat the operator holds has left. For the
    operator; a :class:`CallEnded` follows."""

    operator: str
    call_id: str


@dataclass(frozen=True, slots=True)
class CallEnded(RoutingEvent):
    """A call is over; nothing more is reported about it.

    ``operator`` held the chat when it ended (None if no operator ever
    accepted it); ``transfers`` counts the times it was transferred.
    """

    call_id: str
    department: str
    outcome: Outcome
    operator: str | None
    transfers: int
