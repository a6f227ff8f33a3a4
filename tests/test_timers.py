import asyncio

from lgserver import timers
from lgserver.timers import Alarm


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_alarm_fires_once_at_its_deadline() -> None:
    fired: list[float] = []
    loop = asyncio.get_running_loop()
    alarm = Alarm(lambda: fired.append(loop.time()), loop.time)
    start = loop.time()
    alarm.arm(start + 0.02)
    assert alarm.armed
    await asyncio.sleep(0.05)
    assert len(fired) == 1
    assert fired[0] >= start + 0.02 - 0.002
    assert not alarm.armed


async def test_a_later_deadline_keeps_the_earlier_timer() -> None:
    fired: list[int] = []
    loop = asyncio.get_running_loop()
    alarm = Alarm(lambda: fired.append(1), loop.time)
    alarm.arm(loop.time() + 0.01)
    alarm.arm(loop.time() + 10)
    await asyncio.sleep(0.04)
    assert fired == [1]


async def test_an_earlier_deadline_moves_the_timer() -> None:
    fired: list[int] = []
    loop = asyncio.get_running_loop()
    alarm = Alarm(lambda: fired.append(1), loop.time)
    alarm.arm(loop.time() + 10)
    alarm.arm(loop.time() + 0.01)
    await asyncio.sleep(0.04)
    assert fired == [1]
    alarm.cancel()


async def test_none_and_cancel_ask_for_nothing() -> None:
    fired: list[int] = []
    loop = asyncio.get_running_loop()
    alarm = Alarm(lambda: fired.append(1), loop.time)
    alarm.arm(None)
    assert not alarm.armed
    alarm.arm(loop.time() + 0.01)
    alarm.cancel()
    alarm.cancel()
    await asyncio.sleep(0.03)
    assert fired == []


async def test_deadlines_are_read_on_the_given_clock() -> None:
    # a clock far from the loop's: the delay is what remains on that clock
    clock = FakeClock()
    fired: list[int] = []
    alarm = Alarm(lambda: fired.append(1), clock)
    alarm.arm(clock.now + 0.01)
    await asyncio.sleep(0.04)
    assert fired == [1]
    alarm.arm(clock.now - 5)  # already passed: at the loop's next turn
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert fired == [1, 1]


async def test_many_alarms_fire_in_the_order_of_their_deadlines() -> None:
    loop = asyncio.get_running_loop()
    fired: list[int] = []
    alarms = [Alarm(lambda i=i: fired.append(i), loop.time) for i in range(50)]
    start = loop.time()
    # armed out of order; alarm i is due after i ms
    for i in reversed(range(50)):
        alarms[i].arm(start + 0.005 + i * 0.001)
    await asyncio.sleep(0.1)
    assert fired == list(range(50))
    assert not any(alarm.armed for alarm in alarms)


async def test_one_alarm_cancelled_leaves_the_others() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    first = Alarm(lambda: fired.append("first"), loop.time)
    second = Alarm(lambda: fired.append("second"), loop.time)
    first.arm(loop.time() + 0.01)
    second.arm(loop.time() + 0.02)
    first.cancel()
    await asyncio.sleep(0.05)
    assert fired == ["second"]


async def test_an_alarm_can_arm_again_from_its_callback() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []

    def again() -> None:
        fired.append(loop.time())
        if len(fired) < 3:
            alarm.arm(loop.time() + 0.005)

    alarm = Alarm(again, loop.time)
    alarm.arm(loop.time() + 0.005)
    await asyncio.sleep(0.1)
    assert len(fired) == 3
    assert not alarm.armed


async def test_a_failing_callback_is_reported_and_the_others_still_fire() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    fired: list[int] = []

    def fail() -> None:
        raise RuntimeError("broken")

    broken = Alarm(fail, loop.time)
    sound = Alarm(lambda: fired.append(1), loop.time)
    due = loop.time() + 0.01
    broken.arm(due)
    sound.arm(due)
    await asyncio.sleep(0.04)
    assert fired == [1]
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], RuntimeError)
    loop.set_exception_handler(None)


async def test_stale_deadlines_do_not_pile_up() -> None:
    loop = asyncio.get_running_loop()
    fired: list[int] = []
    alarms = [Alarm(lambda: fired.append(1), loop.time) for _ in range(100)]
    for round_ in range(100):
        # each alarm moves earlier every round, leaving a stale entry
        for alarm in alarms:
            alarm.arm(loop.time() + 1000 - round_)
    schedule = timers._schedules[loop]
    assert len(schedule) == 100
    assert len(schedule._heap) < 100 + 2 * timers._COMPACT_AT
    for alarm in alarms:
        alarm.cancel()
    assert len(schedule) == 0
    assert fired == []


async def test_an_alarm_armed_past_its_deadline_by_its_callback_waits_a_turn() -> None:
    # a session that keeps naming a deadline already passed must not hold
    # the loop: each wake fires it once, and other work runs between
    loop = asyncio.get_running_loop()
    fired: list[int] = []

    def again() -> None:
        fired.append(1)
        alarm.arm(loop.time() - 1)

    alarm = Alarm(again, loop.time)
    alarm.arm(loop.time() - 1)
    for _ in range(5):
        await asyncio.sleep(0)
    assert 1 <= len(fired) <= 10
    alarm.cancel()


async def test_a_late_deadline_armed_by_a_callback_delays_no_earlier_one() -> None:
    # the callback names a deadline far off; one already waiting, earlier,
    # still comes on time
    loop = asyncio.get_running_loop()
    fired: list[str] = []

    def first_fired() -> None:
        fired.append("first")
        first.arm(loop.time() + 60)

    first = Alarm(first_fired, loop.time)
    second = Alarm(lambda: fired.append("second"), loop.time)
    first.arm(loop.time() + 0.005)
    second.arm(loop.time() + 0.03)
    await asyncio.sleep(0.1)
    assert fired == ["first", "second"]
    first.cancel()


async def test_cancels_that_rebuild_the_heap_during_a_wake_lose_nothing() -> None:
    # a callback cancels enough alarms to have the heap rebuilt while the
    # wake is still walking it; every alarm left still fires once
    loop = asyncio.get_running_loop()
    fired: list[int] = []
    doomed = [Alarm(lambda: fired.append(-1), loop.time) for _ in range(3000)]
    kept = [Alarm(lambda i=i: fired.append(i), loop.time) for i in range(50)]

    def cancel_many() -> None:
        for alarm in doomed:
            alarm.cancel()

    trigger = Alarm(cancel_many, loop.time)
    due = loop.time() + 0.01
    trigger.arm(due)
    for alarm in kept:
        alarm.arm(due)
    for alarm in doomed:
        alarm.arm(due + 10)
    await asyncio.sleep(0.05)
    assert sorted(fired) == list(range(50))
    assert len(timers._schedules[loop]) == 0


async def test_no_loop_timer_is_left_for_stale_deadlines() -> None:
    # alarms moved earlier leave their old deadlines behind; once the live
    # ones have fired, nothing is left to wake the loop for
    loop = asyncio.get_running_loop()
    fired: list[int] = []
    alarms = [Alarm(lambda: fired.append(1), loop.time) for _ in range(20)]
    for alarm in alarms:
        alarm.arm(loop.time() + 30)
    for alarm in alarms:
        alarm.arm(loop.time() + 0.01)
    await asyncio.sleep(0.05)
    assert len(fired) == 20
    schedule = timers._schedules[loop]
    assert schedule._heap == []
    assert schedule._handle is None
