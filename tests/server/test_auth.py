"""Deciding on HELLOs with the users of a real store: passwords, login
tokens, throttling with CAPTCHAs, and the audit log, on clocks the test
turns (no test waits for real time)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.messages import ErrorCode, Hello
from lgserver.security import LoginThrottle, hash_password
from lgserver.security.captcha import CaptchaChallenges
from lgserver.security.visitors import VISITOR_ID_RULE
from lgserver.server.auth import StoreAuthenticator, register_auth_methods
from lgserver.server.hub import CallContext, CallFailed, Hub, Principal
from lgserver.store.interface import Role
from lgserver.store.sqlite import SqliteStore

REFUSED = (CloseCode.AUTH_FAILED, "wrong name or password")
ANN = {"name": "ann", "password": "s3cret pass"}
WRONG = {"name": "ann", "password": "wrong"}
HERE, THERE = "192.0.2.1", "198.51.100.7"
VISITOR = "Qx3_vT9kLm2-Zp8RwY5nAe"  # as the widget makes them: 22 of 64


class Clock:
    """A monotonic clock and a wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 100.0
        self.start = dt.datetime(2030, 5, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> float:
        return self.seconds

    def wall(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds - 100.0)


@dataclass
class World:
    store: SqliteStore
    clock: Clock
    decide: StoreAuthenticator
    slept: list[float] = field(default_factory=list)

    async def login(self, auth: Any, address: str | None = HERE) -> Any:
        return await self.decide(hello(auth), address)

    async def audit(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(a.actor, a.action, a.detail) for a in await self.store.list_audit()]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = await SqliteStore.open(tmp_path / "lgserver.db")
    await store.create_user("ann", hash_password("s3cret pass"), Role.OPERATOR, "Ann")
    await store.create_user("bob", hash_password("another one"), Role.ADMIN, "Bob")
    await store.set_disabled("bob", True)
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    decide = StoreAuthenticator(
        store,
        throttle=LoginThrottle(clock=clock),
        captchas=CaptchaChallenges(clock=clock),
        token_lifetime=12 * 3600.0,
        now=clock.wall,
        sleep=sleep,
    )
    try:
        yield World(store, clock, decide, slept)
    finally:
        await store.close()


def hello(auth: Any) -> Hello:
    return Hello(1, "test", auth, 1 << 20, [])


def solved(world: World) -> dict[str, str]:
    challenge = world.decide.captchas.issue(HERE)
    return {"id": challenge.id, "answer": challenge.text.lower()}


# -- passwords


async def test_operators_and_customers_are_recognised(world: World) -> None:
    assert await world.login(ANN) == Principal("operator", "ann", "Ann", "password")
    assert await world.login({**ANN, "name": "ANN"}) == (
        Principal("operator", "ann", "Ann", "password")
    )
    assert await world.login({"visitor": VISITOR}) == (
        Principal("customer", VISITOR, via="visitor")
    )


@pytest.mark.parametrize(
    "auth",
    [
        WRONG,
        {"name": "nobody", "password": "s3cret pass"},
        {"name": "bob", "password": "another one"},  # disabled
    ],
    ids=["wrong password", "unknown name", "disabled"],
)
async def test_refusals_say_the_same(world: World, auth: Any) -> None:
    assert await world.login(auth) == REFUSED


@pytest.mark.parametrize(
    "auth",
    [
        None,
        {},
        {"visitor": "short"},
        {"visitor": "<script>alert(1)</script>"},
        {"visitor": 12345678},
        {"name": "ann"},
        {"name": "ann", "password": 1},
        {"name": "ann", "password": "x", "extra": 1},
        {"token": 5},
        {"token": "x", "name": "ann"},
        {**ANN, "captcha": "ABCDE"},
        {**ANN, "captcha": {"id": "x"}},
        {**ANN, "captcha": {"id": "x", "answer": 1}},
        {"visitor": VISITOR, "captcha": {"id": "x", "answer": "y"}},
    ],
)
async def test_malformed_credentials_are_refused(world: World, auth: Any) -> None:
    verdict = await world.login(auth)
    assert isinstance(verdict, tuple) and verdict[0] == CloseCode.AUTH_FAILED
    # not a guess at a password: nothing is counted
    assert world.decide.throttle.failures("ann", HERE) == 0


@pytest.mark.parametrize(
    "visitor",
    [
        "",
        VISITOR[:-1],
        "v-1234abcd",
        VISITOR + "=",
        VISITOR[:-1] + "+",
        VISITOR[:-1] + "é",
        VISITOR + " ",
        "x" * 65,
        12345678901234567890123,
        None,
    ],
    ids=[
        "empty",
        "21 characters",
        "short",
        "padding",
        "plus",
        "accent",
        "space",
        "65 characters",
        "a number",
        "null",
    ],
)
async def test_a_visitor_id_that_could_be_guessed_is_refused(
    world: World, visitor: Any
) -> None:
    assert await world.login({"visitor": visitor}) == (
        CloseCode.AUTH_FAILED,
        VISITOR_ID_RULE,
    )


@pytest.mark.parametrize(
    "visitor", [VISITOR, "A" * 22, "-_" * 32], ids=["widget", "22", "64"]
)
async def test_a_visitor_id_of_22_to_64_url_safe_characters_is_accepted(
    world: World, visitor: str
) -> None:
    assert await world.login({"visitor": visitor}) == (
        Principal("customer", visitor, via="visitor")
    )


async def test_logins_are_audited(world: World) -> None:
    await world.login(ANN)
    await world.login(WRONG, THERE)
    await world.login({"name": "nobody", "password": "x"})
    await world.login({"name": "bob", "password": "another one"})
    await world.login({"visitor": VISITOR})  # customers are not
    assert await world.audit() == [
        ("ann", "login", {"via": "password", "address": HERE}),
        (
            "anonymous",
            "login.failed",
            {
                "via": "password",
                "name": "ann",
                "address": THERE,
                "reason": "wrong password",
            },
        ),
        (
            "anonymous",
            "login.failed",
            {
                "via": "password",
                "name": "nobody",
                "address": HERE,
                "reason": "unknown name",
            },
        ),
        (
            "anonymous",
            "login.failed",
            {"via": "password", "name": "bob", "address": HERE, "reason": "disabled"},
        ),
    ]


# -- throttling and CAPTCHAs


async def test_five_failures_need_a_captcha_for_the_account_and_the_address(
    world: World,
) -> None:
    for _ in range(5):
        assert await world.login(WRONG, HERE) == REFUSED
    captcha = (CloseCode.CAPTCHA_REQUIRED, "solve a captcha to log in")

    # the account from another address, even with the right password
    assert await world.login(ANN, THERE) == captcha
    # another account from that address
    assert await world.login({"name": "carol", "password": "x"}, HERE) == captcha
    # a token from that address
    assert await world.login({"token": "x" * 43}, HERE) == captcha
    # but another account from another address is left alone
    assert await world.login({"name": "carol", "password": "x"}, THERE) == REFUSED


async def test_a_wrong_captcha_is_refused_and_counts(world: World) -> None:
    for _ in range(5):
        await world.login(WRONG)
    challenge = world.decide.captchas.issue(HERE)
    wrong = {"id": challenge.id, "answer": "nope"}
    verdict = await world.login({**ANN, "captcha": wrong})
    assert verdict[0] == CloseCode.CAPTCHA_REQUIRED
    assert world.decide.throttle.failures("ann") == 6
    # the challenge is used up: its right answer now fails too
    right = {"id": challenge.id, "answer": challenge.text}
    assert (await world.login({**ANN, "captcha": right}))[0] == (
        CloseCode.CAPTCHA_REQUIRED
    )
    expired = world.decide.captchas.issue(HERE)
    world.clock.seconds += 301.0
    late = {"id": expired.id, "answer": expired.text}
    assert (await world.login({**ANN, "captcha": late}))[0] == (
        CloseCode.CAPTCHA_REQUIRED
    )
    assert world.decide.throttle.failures("ann") == 8

    failures = [a for a in await world.audit() if a[1] == "login.failed"]
    assert [a[2]["reason"] for a in failures[-3:]] == ["captcha"] * 3


async def test_a_solved_captcha_lets_the_password_be_checked(world: World) -> None:
    for _ in range(5):
        await world.login(WRONG)
    assert await world.login({**WRONG, "captcha": solved(world)}) == REFUSED
    assert world.decide.throttle.failures("ann", HERE) == 6

    accepted = await world.login({**ANN, "captcha": solved(world)})
    assert isinstance(accepted, Principal)
    # the account and the address start afresh
    assert world.decide.throttle.failures("ann") == 0
    assert world.decide.throttle.failures(address=HERE) == 0
    assert isinstance(await world.login(ANN), Principal)


async def test_failures_past_the_threshold_wait_longer_and_longer(
    world: World,
) -> None:
    for _ in range(5):
        await world.login(WRONG)
    assert world.slept == []
    for _ in range(3):
        await world.login(WRONG)  # refused for want of a CAPTCHA
    for _ in range(3):
        await world.login({**WRONG, "captcha": solved(world)})
    assert world.slept == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]

    # a success waits the same, so its timing tells nothing; then the
    # account and the address start afresh
    assert isinstance(await world.login({**ANN, "captcha": solved(world)}), Principal)
    await world.login(WRONG)
    assert world.slept == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


async def test_the_delay_does_not_hold_up_other_logins(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "lgserver.db")
    await store.create_user("ann", hash_password("s3cret pass"), Role.OPERATOR, "A")
    release = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await release.wait()

    decide = StoreAuthenticator(store, throttle=LoginThrottle(), sleep=sleep)
    try:
        carol = {"name": "carol", "password": "guess"}
        for _ in range(5):
            await decide(hello(carol), HERE)
        waiting = asyncio.ensure_future(decide(hello(carol), HERE))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        # meanwhile others log in
        others = asyncio.gather(
            decide(hello(ANN), THERE), decide(hello({"visitor": VISITOR}), HERE)
        )
        accepted = await asyncio.wait_for(others, 10)
        assert all(isinstance(principal, Principal) for principal in accepted)
        assert not waiting.done()
        release.set()
        assert (await waiting)[0] == CloseCode.CAPTCHA_REQUIRED
    finally:
        await store.close()


async def test_a_hang_up_during_the_wait_gets_nothing_checked(world: World) -> None:
    never = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await never.wait()

    throttle = LoginThrottle(clock=world.clock)
    decide = StoreAuthenticator(world.store, throttle=throttle, sleep=sleep)
    for _ in range(5):
        await decide(hello(WRONG), HERE)
    before = await world.audit()
    waiting = asyncio.ensure_future(decide(hello({**ANN, "captcha": solved(world)})))
    await asyncio.sleep(0.05)
    waiting.cancel()  # as the hub does when the connection ends
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await world.audit() == before
    assert throttle.failures("ann", HERE) == 6  # it counted all the same


async def test_parallel_guesses_get_five_checks_only(world: World) -> None:
    verdicts = await asyncio.gather(*(world.login(WRONG) for _ in range(20)))
    codes = [verdict[0] for verdict in verdicts]
    assert codes.count(CloseCode.AUTH_FAILED) == 5
    assert codes.count(CloseCode.CAPTCHA_REQUIRED) == 15


async def test_a_flood_of_names_and_addresses_keeps_memory_bounded(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "lgserver.db")

    async def sleep(seconds: float) -> None:
        pass

    throttle = LoginThrottle(max_entries=200)
    decide = StoreAuthenticator(store, throttle=throttle, sleep=sleep)
    try:
        # one address, many names: past five, no password is even checked
        for n in range(1000):
            await decide(hello({"name": f"user{n}", "password": "x"}), HERE)
            assert len(throttle) <= 200
        # many addresses, forged tokens
        for n in range(1000):
            await decide(
                hello({"token": f"forged-token-{n:08d}"}), f"10.0.{n >> 8}.{n & 255}"
            )
            assert len(throttle) <= 200
    finally:
        await store.close()


# -- login tokens


async def issue(world: World, description: str = "laptop") -> tuple[str, Principal]:
    principal = await world.login(ANN)
    assert isinstance(principal, Principal)
    issued = await world.decide.issue_token(principal, description)
    return issued["token"], principal


async def test_a_token_logs_in_until_it_expires(world: World) -> None:
    principal = await world.login(ANN)
    issued = await world.decide.issue_token(principal, "Firefox on the desk")
    token = issued["token"]
    assert isinstance(token, str) and len(token) >= 43  # 256 bits
    assert issued["expires"] == world.clock.wall() + dt.timedelta(hours=12)
    [record] = await world.store.list_login_tokens("ann")
    assert record.description == "Firefox on the desk"
    assert record.id == issued["id"]

    # used, it logs in; its use is recorded; the expiry stays put
    world.clock.seconds += 11 * 3600
    accepted = await world.login({"token": token}, THERE)
    assert accepted == Principal("operator", "ann", "Ann", "token", record.id)
    [used] = await world.store.list_login_tokens("ann")
    assert used.last_used_at is not None
    assert used.expires_at == record.expires_at

    # twelve hours after it was issued, it is refused like a wrong password
    world.clock.seconds += 3600
    assert await world.login({"token": token}) == REFUSED
    assert await world.store.list_login_tokens("ann") == []


async def test_token_logins_and_issues_are_audited(world: World) -> None:
    token, _ = await issue(world)
    [record] = await world.store.list_login_tokens("ann")
    await world.login({"token": token}, THERE)
    await world.login({"token": "f" * 43}, THERE)
    entries = (await world.audit())[1:]
    assert entries == [
        ("ann", "auth.token.issue", {"token": record.id, "description": "laptop"}),
        ("ann", "login", {"via": "token", "token": record.id, "address": THERE}),
        (
            "anonymous",
            "login.failed",
            {"via": "token", "address": THERE, "reason": "unknown or expired token"},
        ),
    ]


async def test_revoking_a_token(world: World) -> None:
    first, by_password = await issue(world)
    second, _ = await issue(world)
    by_token = await world.login({"token": first})
    assert isinstance(by_token, Principal)

    # the token the session logged in with
    await world.decide.revoke_token(by_token, None)
    assert await world.login({"token": first}) == REFUSED
    with pytest.raises(CallFailed) as again:
        await world.decide.revoke_token(by_token, None)
    assert again.value.code == ErrorCode.NOT_FOUND

    # one of the user's own, by its secret; a session by password has no
    # token of its own
    with pytest.raises(CallFailed):
        await world.decide.revoke_token(by_password, None)
    await world.decide.revoke_token(by_password, second)
    assert await world.login({"token": second}) == REFUSED

    actions = [(a[0], a[1]) for a in await world.audit()]
    assert actions.count(("ann", "auth.token.revoke")) == 2


async def test_nobody_revokes_another_users_token(world: World) -> None:
    token, _ = await issue(world)
    await world.store.create_user("carol", hash_password("x" * 8), Role.ADMIN, "C")
    carol = Principal("admin", "carol", "C", "password")
    for who in (carol, Principal("customer", VISITOR, via="visitor")):
        with pytest.raises(CallFailed) as refused:
            await world.decide.revoke_token(who, token)
        assert refused.value.code == ErrorCode.NOT_FOUND
    assert isinstance(await world.login({"token": token}), Principal)


async def test_tokens_end_with_a_new_password_or_a_disabled_user(
    world: World,
) -> None:
    token, _ = await issue(world)
    await world.store.set_password("ann", hash_password("a new password"))
    assert await world.login({"token": token}) == REFUSED

    await world.store.set_password("ann", hash_password("s3cret pass"))
    token, _ = await issue(world)
    await world.store.set_disabled("ann", True)
    assert await world.login({"token": token}) == REFUSED


async def test_only_a_password_login_gets_a_token(world: World) -> None:
    token, _ = await issue(world)
    by_token = await world.login({"token": token})
    for principal in (by_token, Principal("customer", VISITOR, via="visitor")):
        with pytest.raises(CallFailed) as refused:
            await world.decide.issue_token(principal, "")
        assert refused.value.code == ErrorCode.FORBIDDEN
    for description in ("x" * 201, "line\nbreak", 5):
        with pytest.raises(CallFailed) as bad:
            await world.decide.issue_token(
                Principal("operator", "ann", "Ann", "password"),
                description,  # type: ignore[arg-type]
            )
        assert bad.value.code == ErrorCode.BAD_REQUEST
    gone = Principal("operator", "zed", "Zed", "password")
    with pytest.raises(CallFailed) as missing:
        await world.decide.issue_token(gone, "")
    assert missing.value.code == ErrorCode.UNAUTHORIZED


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.text(max_size=300) | st.sampled_from(["", "x" * 43, "A" * 256]))
async def test_a_forged_token_is_a_wrong_password(world: World, token: str) -> None:
    assert await world.login({"token": token}, None) == REFUSED


async def test_a_few_tokens_per_user(world: World) -> None:
    limited = StoreAuthenticator(world.store, max_tokens=2, now=world.clock.wall)
    principal = Principal("operator", "ann", "Ann", "password")
    tokens = [(await limited.issue_token(principal))["token"] for _ in range(3)]
    assert len(await world.store.list_login_tokens("ann")) == 2
    assert await limited(hello({"token": tokens[0]}), HERE) == REFUSED
    assert isinstance(await limited(hello({"token": tokens[2]}), HERE), Principal)


# -- the calls


async def test_the_calls_check_their_parameters(world: World) -> None:
    hub = Hub(Registry(), world.decide)
    register_auth_methods(hub, world.decide)
    issue_call = hub._methods["auth.token.issue"]
    revoke_call = hub._methods["auth.token.revoke"]
    principal = await world.login(ANN)
    context = CallContext(hub, None, principal)  # type: ignore[arg-type]

    issued = await issue_call(context, {"description": "phone"})
    assert set(issued) == {"id", "token", "expires"}
    assert set(await issue_call(context, None)) == {"id", "token", "expires"}
    assert await revoke_call(context, {"token": issued["token"]}) is None

    for call, params in [
        (issue_call, {"description": "x", "more": 1}),
        (issue_call, ["phone"]),
        (revoke_call, {"token": 5}),
        (revoke_call, {"id": 1}),
        (revoke_call, "token"),
    ]:
        with pytest.raises(CallFailed) as bad:
            await call(context, params)
        assert bad.value.code == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("options", [{"token_lifetime": 0.0}, {"max_tokens": 0}])
async def test_bad_options(world: World, options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        StoreAuthenticator(world.store, **options)  # type: ignore[arg-type]
