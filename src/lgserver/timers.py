"""Timers for many protocol sessions, on one event-loop timer.

A session asks to be woken at its next deadline after everything it does,
which is after every message. A loop timer for each of those requests costs
more than the message itself: the loop allocates, sorts and frees a handle
every time. So every :class:`Alarm` of an event loop shares one
:class:`_Schedule`: a heap of deadlines, with one loop timer set to the
earliest. An alarm moves only when a deadline comes earlier than the one it
holds; the entry it leaves behind is marked stale and skipped when reached,
and the heap is rebuilt when stale entries outnumber the live ones.

Waking a little early is harmless: a session acts on the deadlines that
have passed and names the next one.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["Alarm"]

# Deadlines this close together are served by one wake of the loop.
RESOLUTION = 0.001

# Below this many stale entries the heap is never rebuilt.
_COMPACT_AT = 1024


# An entry of a schedule: [due, order, alarm]; a list, so that the heap
# compares entries natively (``order`` is unique: alarms are never compared),
# and ``alarm`` becomes None once the entry is stale.
_Entry = list[Any]
_DUE, _ORDER, _ALARM = 0, 1, 2


class _Schedule:
    """The deadlines of one event loop's alarms, in loop time."""

    __slots__ = (
        "__weakref__",
        "_handle",
        "_heap",
        "_loop",
        "_order",
        "_stale",
        "_wake",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[_Entry] = []
        self._order = itertools.count()
        self._stale = 0
        self._handle: asyncio.TimerHandle | None = None
        self._wake = math.inf

    def __len__(self) -> int:
        """How many deadlines are live."""
        return len(self._heap) - self._stale

    def add(self, due: float, alarm: Alarm) -> _Entry:
        entry = [due, next(self._order), alarm]
        heapq.heappush(self._heap, entry)
        if due < self._wake:
            self._set_wake(due)
        return entry

    def drop(self, entry: _Entry) -> None:
        entry[_ALARM] = None
        self._stale += 1
        if self._stale > _COMPACT_AT and self._stale * 2 > len(self._heap):
            # in place: a wake in progress holds the list
            self._heap[:] = [e for e in self._heap if e[_ALARM] is not None]
            heapq.heapify(self._heap)
            self._stale = 0

    def _set_wake(self, due: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._wake = due
        self._handle = self._loop.call_at(due, self._run)

    def _run(self) -> None:
        self._handle = None
        # what callbacks arm meanwhile sets no loop timer: the earliest
        # deadline left, theirs or an older one, does, once they are done
        self._wake = -math.inf
        heap = self._heap
        horizon = self._loop.time() + RESOLUTION
        # and it waits for the next wake, even if already due
        newest = next(self._order)
        try:
            while heap and heap[0][_DUE] <= horizon and heap[0][_ORDER] < newest:
                alarm = heapq.heappop(heap)[_ALARM]
                if alarm is None:
                    self._stale -= 1
                    continue
                alarm._entry = None
                try:
                    alarm._callback()
                except Exception as exc:  # one session's failure is its own
                    self._loop.call_exception_handler(
                        {"message": "an alarm's callback failed", "exception": exc}
                    )
        finally:
            self._wake = math.inf
            # a stale entry first in line would wake the loop for nothing
            while heap and heap[0][_ALARM] is None:
                heapq.heappop(heap)
                self._stale -= 1
            if heap:
                self._set_wake(heap[0][_DUE])


_schedules: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Schedule] = (
    weakref.WeakKeyDictionary()
)


def _schedule() -> _Schedule:
    loop = asyncio.get_running_loop()
    schedule = _schedules.get(loop)
    if schedule is None:
        schedule = _schedules[loop] = _Schedule(loop)
    return schedule


class Alarm:
    """Calls ``callback`` once the earliest deadline it was given passes.

    Deadlines are read on ``clock``, which need not be the loop's own. The
    alarm belongs to the event loop it is first armed in.
    """

    __slots__ = ("_callback", "_clock", "_deadline", "_entry", "_schedule")

    def __init__(self, callback: Callable[[], None], clock: Callable[[], float]):
        self._callback = callback
        self._clock = clock
        self._schedule: _Schedule | None = None
        self._entry: _Entry | None = None
        self._deadline = 0.0

    @property
    def armed(self) -> bool:
        """Whether the callback is still to come."""
        return self._entry is not None

    def arm(self, deadline: float | None) -> None:
        """Wake no later than ``deadline``; None asks for nothing new."""
        if deadline is None:
            return
        entry = self._entry
        if entry is not None and self._deadline <= deadline:
            return
        schedule = self._schedule
        if schedule is None:
            schedule = self._schedule = _schedule()
        if entry is not None:
            schedule.drop(entry)
        self._deadline = deadline
        due = schedule._loop.time() + (deadline - self._clock())
        self._entry = schedule.add(due, self)

    def cancel(self) -> None:
        """Forget the deadline; the callback will not come."""
        if self._entry is not None:
            assert self._schedule is not None
            self._schedule.drop(self._entry)
            self._entry = None
