"""One event-loop timer per protocol session, moved as little as possible.

A session asks to be woken at its next deadline after everything it does,
which is after every message. Cancelling and rescheduling a loop timer each
time costs more than the message itself, so an :class:`Alarm` moves only
when the deadline comes earlier than the timer it holds. Waking early is
harmless: the session acts on the deadlines that have passed and names the
next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Alarm"]


class Alarm:
    """Calls ``callback`` once the earliest deadline it was given passes.

    Deadlines are read on ``clock``, which need not be the loop's own.
    """

    __slots__ = ("_callback", "_clock", "_due", "_handle")

    def __init__(self, callback: Callable[[], None], clock: Callable[[], float]):
        self._callback = callback
        self._clock = clock
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    @property
    def armed(self) -> bool:
        """Whether the callback is still to come."""
        return self._handle is not None

    def arm(self, deadline: float | None) -> None:
        """Wake no later than ``deadline``; None asks for nothing new."""
        if deadline is None:
            return
        handle = self._handle
        if handle is not None:
            if self._due <= deadline:
                return
            handle.cancel()
        self._due = deadline
        delay = max(0.0, deadline - self._clock())
        self._handle = asyncio.get_running_loop().call_later(delay, self._fire)

    def cancel(self) -> None:
        """Forget the deadline; the callback will not come."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()
