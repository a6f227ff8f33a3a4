"""Errors the call router raises for commands it refuses (``docs/chat.md``).

Every exception raised by :mod:`lgserver.chat.routing` derives from
:class:`RoutingError`. A refused command changes nothing: the router checks
everything a command needs before it touches any state, so the caller may
report the error to whoever asked and carry on.

Each class has a short ``code`` the chat service can pass on to the client
that asked (an operator's console, a customer's chat window); the message
names the call, operator or department at fault and says what is wrong.
"""

from __future__ import annotations

__all__ = [
    "ClockWentBack",
    "DuplicateCall",
    "DuplicateDepartment",
    "DuplicateOperator",
    "InvalidArgument",
    "LeaveMessageNotOffered",
    "NotOffered",
    "NotYourChat",
    "OperatorBusy",
    "OperatorUnavailable",
    "QueueFull",
    "RoutingError",
    "UnknownCall",
    "UnknownDepartment",
    "UnknownOperator",
]


class RoutingError(Exception):
    """Root of every error the router raises; the command changed nothing."""

    code = "routing_error"


class InvalidArgument(RoutingError):
    """A setting or argument is out of range: a negative cap, a timeout of
    zero, a transfer note longer than allowed."""

    code = "invalid_argument"


class ClockWentBack(RoutingError):
    """A command carried a time earlier than one the router already saw."""

    code = "clock_went_back"


class UnknownDepartment(RoutingError):
    """No department has this name."""

    code = "unknown_department"


class UnknownOperator(RoutingError):
    """No operator has this id."""

    code = "unknown_operator"


class UnknownCall(RoutingError):
    """No live call has this id: it never existed or it has ended."""

    code = "unknown_call"


class DuplicateDepartment(RoutingError):
    """A department with this name exists already."""

    code = "duplicate_department"


class DuplicateOperator(RoutingError):
    """An operator with this id exists already."""

    code = "duplicate_operator"


class DuplicateCall(RoutingError):
    """A live call has this id already."""

    code = "duplicate_call"


class QueueFull(RoutingError):
    """The department's queue holds as many calls as it may."""

    code = "queue_full"


class NotOffered(RoutingError):
    """The operator tried to accept or decline a call that is not offered
    or assigned to them (taken by someone else, withdrawn, never theirs)."""

    code = "not_offered"


class NotYourChat(RoutingError):
    """The operator tried to end or transfer a chat they do not hold."""

    code = "not_your_chat"


class OperatorUnavailable(RoutingError):
    """A transfer named an operator who cannot take the chat now: away,
    offline, at their cap, or the one transferring."""

    code = "operator_unavailable"


class OperatorBusy(RoutingError):
    """The operator holds chats that forbid the change asked for: going
    offline, or a cap below the number of chats they hold."""

    code = "operator_busy"


class LeaveMessageNotOffered(RoutingError):
    """The customer sent a message for a call that was not offered the
    leave-a-message form, or that an operator has accepted already."""

    code = "leave_message_not_offered"
