"""Login throttling: counts per account and address, the CAPTCHA threshold,
growing delays, and bounded memory, all on a clock the test turns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lgserver.security import Attempt, LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(
    throttle: LoginThrottle, account: str | None, address: str | None, n: int
) -> list[Attempt]:
    return [throttle.attempt(account, address) for _ in range(n)]


def test_five_failures_then_a_captcha_for_the_account_and_the_address() -> None:
    throttle = LoginThrottle(clock=Clock())
    attempts = fail(throttle, "ann", "192.0.2.1", 5)
    assert [a.captcha_required for a in attempts] == [False] * 5
    assert [a.failures for a in attempts] == [1, 2, 3, 4, 5]
    assert all(a.delay == 0 for a in attempts)

    # the account, from anywhere; the address, for any account
    assert throttle.attempt("ann", "198.51.100.9").captcha_required
    assert throttle.attempt("ANN", None).captcha_required
    assert throttle.attempt("bob", "192.0.2.1").captcha_required
    assert not throttle.attempt("bob", "198.51.100.10").captcha_required


def test_delays_double_up_to_the_maximum() -> None:
    throttle = LoginThrottle(
        captcha_after=5, base_delay=1.0, max_delay=8.0, clock=Clock()
    )
    delays = [a.delay for a in fail(throttle, "ann", "192.0.2.1", 11)]
    assert delays == [0, 0, 0, 0, 0, 1, 2, 4, 8, 8, 8]
    assert throttle.delay(10**6) == 8.0
    assert throttle.delay(0) == 0.0


def test_a_success_starts_the_account_and_address_afresh() -> None:
    throttle = LoginThrottle(clock=Clock())
    fail(throttle, "ann", "192.0.2.1", 7)
    fail(throttle, "bob", "198.51.100.1", 2)
    last = throttle.attempt("ann", "192.0.2.1")
    assert last.captcha_required
    throttle.succeeded(last)
    assert throttle.failures("ann") == 0
    assert throttle.failures(address="192.0.2.1") == 0
    assert throttle.failures("bob", "198.51.100.1") == 2
    assert not throttle.attempt("ann", "192.0.2.1").captcha_required


def test_a_token_login_resets_the_account_it_finds() -> None:
    throttle = LoginThrottle(clock=Clock())
    fail(throttle, "ann", "192.0.2.1", 3)
    attempt = throttle.attempt(None, "192.0.2.1")
    throttle.succeeded(attempt, "Ann")
    assert throttle.failures("ann", "192.0.2.1") == 0


def test_an_ipv6_network_counts_as_one_address() -> None:
    throttle = LoginThrottle(clock=Clock())
    for host in range(5):
        throttle.attempt(None, f"2001:db8:1:2::{host + 1}")
    assert throttle.attempt(None, "2001:db8:1:2:ffff::1").captcha_required
    assert not throttle.attempt(None, "2001:db8:1:3::1").captcha_required
    # an IPv4 client seen through an IPv6 socket is that IPv4 address
    fail(throttle, None, "::ffff:192.0.2.7", 5)
    assert throttle.attempt(None, "192.0.2.7").captcha_required


def test_failures_are_forgotten_after_a_while() -> None:
    clock = Clock()
    throttle = LoginThrottle(forget_after=3600.0, clock=clock)
    fail(throttle, "ann", "192.0.2.1", 5)
    clock.now += 3599.0
    assert throttle.failures("ann") == 5
    clock.now += 1.0
    assert throttle.failures("ann") == 0
    assert len(throttle) == 0


def test_memory_stays_bounded_under_a_flood() -> None:
    throttle = LoginThrottle(max_entries=1000, clock=Clock())
    for n in range(50_000):
        throttle.attempt(f"name-{n}", f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
        assert len(throttle) <= 1000
    # the newest are remembered, the oldest pushed out
    assert throttle.failures("name-49999") == 1
    assert throttle.failures("name-0") == 0


def test_a_long_name_costs_no_more_than_a_short_one() -> None:
    throttle = LoginThrottle(clock=Clock())
    throttle.attempt("x" * 100_000, "x" * 100_000)
    ((_, account), (_, address)) = list(throttle._counts)
    assert isinstance(account, bytes) and len(account) == 32
    assert isinstance(address, str) and len(address) <= 64


@pytest.mark.parametrize(
    "options",
    [
        {"captcha_after": 0},
        {"max_entries": 0},
        {"base_delay": -1.0},
        {"base_delay": 10.0, "max_delay": 5.0},
        {"forget_after": 0.0},
    ],
)
def test_bad_options(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LoginThrottle(**options)  # type: ignore[arg-type]


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["attempt", "succeed"]),
            st.sampled_from(["ann", "bob", None]),
            st.sampled_from(["192.0.2.1", "192.0.2.2", None]),
        ),
        max_size=40,
    )
)
def test_counts_follow_a_simple_model(
    steps: list[tuple[str, str | None, str | None]],
) -> None:
    # the model: consecutive failures per account and per address
    throttle = LoginThrottle(captcha_after=3, clock=Clock())
    model: dict[tuple[str, str], int] = {}
    for action, account, address in steps:
        keys = [("account", account), ("address", address)]
        keys = [(kind, value) for kind, value in keys if value is not None]
        before = max((model.get(k, 0) for k in keys), default=0)
        attempt = throttle.attempt(account, address)
        for key in keys:
            model[key] = model.get(key, 0) + 1
        if keys:
            assert attempt.captcha_required == (before >= 3)
            assert attempt.failures == before + 1
        if action == "succeed":
            throttle.succeeded(attempt)
            for key in keys:
                model.pop(key, None)
    for (kind, value), count in model.items():
        if kind == "account":
            assert throttle.failures(account=value) == count
        else:
            assert throttle.failures(address=value) == count
