import asyncio

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
