"""Login throttling: consecutive failed logins, counted per account and per
source address.

Every login attempt is counted as a failure the moment it starts, before
the password is checked, and a success wipes the counts again. Counting
up front means that many attempts sent at once over parallel connections
cannot all slip in before the first of them has failed: the sixth one
already sees five.

Once an account or an address has ``captcha_after`` consecutive failures,
a login for that account or from that address needs a solved CAPTCHA, and
each further attempt waits, before it is checked, a delay that doubles
with every failure, from ``base_delay`` up to ``max_delay``.

An IPv6 address is counted by its /64 network, the block one subscriber
usually holds, so that stepping through the addresses of one's own
network buys no fresh attempts. Account names are counted regardless of
case, by a digest, so that a long name costs no more memory than a short
one.

The counts live in memory only and start from nothing when the server
restarts. Their number is bounded: an entry is forgotten ``forget_after``
seconds after its last failure, and when ``max_entries`` are held the
least recently failed one makes room. An attacker who fails logins under
that many distinct names or addresses can push an entry out early; that
takes ``max_entries`` failures, each one delayed or refused for want of a
CAPTCHA.

The throttle is sans-I/O: it takes the time from the clock it is given and
tells its caller how long to wait, but never sleeps.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Attempt", "LoginThrottle"]

_Key = tuple[str, str | bytes]


@dataclass(slots=True)
class _Count:
    failures: int
    last: float


@dataclass(frozen=True, slots=True)
class Attempt:
    """One login attempt, as :meth:`LoginThrottle.attempt` counted it.

    Attributes:
        captcha_required: The account or the address had reached the
            CAPTCHA threshold before this attempt.
        failures: The consecutive failures this attempt makes if it fails:
            the higher of the account's and the address's counts.
        delay: Seconds to wait before checking this attempt.
    """

    captcha_required: bool
    failures: int
    delay: float
    keys: tuple[_Key, ...]


class LoginThrottle:
    """Counts consecutive failed logins per account and per address.

    Args:
        captcha_after: Failures after which a CAPTCHA is required.
        base_delay: Seconds the first attempt beyond the threshold waits.
        max_delay: The longest wait.
        max_entries: Accounts and addresses remembered at once.
        forget_after: Seconds after its last failure that an account or
            address starts afresh.
        clock: The monotonic clock; ``time.monotonic`` by default.

    Raises:
        ValueError: If a limit is out of range.
    """

    def __init__(
        self,
        *,
        captcha_after: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 8.0,
        max_entries: int = 100_000,
        forget_after: float = 86_400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if captcha_after < 1 or max_entries < 1:
            raise ValueError("captcha_after and max_entries must be at least 1")
        if not 0 <= base_delay <= max_delay or forget_after <= 0:
            raise ValueError("delays and forget_after out of range")
        self.captcha_after = captcha_after
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_entries = max_entries
        self.forget_after = forget_after
        self._clock = clock
        # least recently failed first
        self._counts: OrderedDict[_Key, _Count] = OrderedDict()

    def __len__(self) -> int:
        """How many accounts and addresses are remembered."""
        return len(self._counts)

    def failures(self, account: str | None = None, address: str | None = None) -> int:
        """The consecutive failures of an account or address (the higher
        of the two when both are given)."""
        now = self._clock()
        self._expire(now)
        counts = (self._counts.get(key) for key in _keys(account, address))
        return max((count.failures for count in counts if count), default=0)

    def attempt(self, account: str | None, address: str | None) -> Attempt:
        """Count a login attempt, for ``account`` from ``address``, as failed
        until :meth:`succeeded` says otherwise.

        Args:
            account: The account name tried, or None when the credentials
                name none (a login token).
            address: The client's address, or None when unknown.

        Returns:
            Whether a CAPTCHA is required, and the delay before checking.
        """
        now = self._clock()
        self._expire(now)
        keys = _keys(account, address)
        worst = 0
        for key in keys:
            count = self._counts.pop(key, None)
            if count is None:
                count = _Count(0, now)
            count.failures += 1
            count.last = now
            self._counts[key] = count
            worst = max(worst, count.failures)
        while len(self._counts) > self.max_entries:
            self._counts.popitem(last=False)
        return Attempt(
            captcha_required=worst > self.captcha_after,
            failures=worst,
            delay=self.delay(worst),
            keys=keys,
        )

    def succeeded(self, attempt: Attempt, account: str | None = None) -> None:
        """The attempt succeeded: its account and address start afresh.

        Args:
            attempt: What :meth:`attempt` returned.
            account: The account logged in to, when the attempt named none
                (a login token names its account only once it is found).
        """
        for key in (*attempt.keys, *_keys(account, None)):
            self._counts.pop(key, None)

    def delay(self, failures: int) -> float:
        """Seconds to wait before checking an attempt that would be the
        ``failures``-th failure in a row: none up to the threshold, then
        doubling up to the maximum."""
        beyond = failures - self.captcha_after
        if beyond <= 0:
            return 0.0
        # 2 ** 64 is past any maximum; a larger exponent would only cost time
        return min(self.max_delay, self.base_delay * 2.0 ** min(beyond - 1, 64))

    def _expire(self, now: float) -> None:
        counts = self._counts
        while counts:
            key, oldest = next(iter(counts.items()))
            if now - oldest.last < self.forget_after:
                return
            del counts[key]


def _keys(account: str | None, address: str | None) -> tuple[_Key, ...]:
    keys: list[_Key] = []
    if account is not None:
        digest = hashlib.sha256(account.casefold().encode("utf-8", "replace"))
        keys.append(("account", digest.digest()))
    if address is not None:
        keys.append(("address", _network(address)))
    return tuple(keys)


def _network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
