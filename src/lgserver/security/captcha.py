"""CAPTCHA challenges: issued before a login, solved once, in the HELLO.

A client that was told a login needs a CAPTCHA fetches a challenge (the
HTTP side serves ``GET /captcha``): a random id and an image of a short
random text. It sends the id and what it reads in the image with its
credentials. :class:`CaptchaChallenges` remembers the texts of the
challenges it issued and checks answers against them:

* a challenge is good for one answer, right or wrong, and for
  ``lifetime`` seconds;
* answers are compared regardless of case and surrounding spaces, in
  constant time;
* at most ``max_challenges`` are held, and at most ``per_address`` for one
  client address; issuing beyond either forgets the oldest, so a client
  that asks for challenges in a loop pushes out its own first.

The state lives in memory and is lost on a restart; a client then simply
fetches a new challenge. The class is sans-I/O with an injected clock;
:func:`render_png` draws the image, which takes a few milliseconds of CPU,
so a server runs it outside its event loop.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from captcha.image import ImageCaptcha

__all__ = ["ALPHABET", "CaptchaChallenges", "Challenge", "render_png"]

#: Letters and digits that are hard to mistake for one another in a
#: distorted image: no 0/O, 1/I/L, 2/Z, 5/S, 8/B.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"

# Answers longer than this are wrong without being compared.
_MAX_ANSWER = 64


@dataclass(frozen=True, slots=True)
class Challenge:
    """An issued challenge: ``id`` goes to the client with the image of
    ``text``; the client sends both back, the text as it reads it."""

    id: str
    text: str
    address: str | None
    expires: float


class CaptchaChallenges:
    """The CAPTCHA challenges issued and not yet answered.

    Args:
        lifetime: Seconds a challenge may be answered.
        max_challenges: Challenges held at once.
        per_address: Challenges held at once for one client address.
        length: Characters of a challenge's text.
        clock: The monotonic clock; ``time.monotonic`` by default.

    Raises:
        ValueError: If a limit is out of range.
    """

    def __init__(
        self,
        *,
        lifetime: float = 300.0,
        max_challenges: int = 10_000,
        per_address: int = 5,
        length: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lifetime <= 0 or max_challenges < 1 or per_address < 1:
            raise ValueError("lifetime, max_challenges and per_address must be > 0")
        if not 4 <= length <= 12:
            raise ValueError("length must be from 4 to 12")
        self.lifetime = lifetime
        self.max_challenges = max_challenges
        self.per_address = per_address
        self.length = length
        self._clock = clock
        # oldest first; every challenge has the same lifetime
        self._challenges: OrderedDict[str, Challenge] = OrderedDict()
        self._by_address: dict[str, OrderedDict[str, None]] = {}

    def __len__(self) -> int:
        """How many challenges are held."""
        return len(self._challenges)

    def issue(self, address: str | None = None) -> Challenge:
        """A new challenge for a client at ``address``."""
        now = self._clock()
        self._expire(now)
        text = "".join(secrets.choice(ALPHABET) for _ in range(self.length))
        challenge = Challenge(
            secrets.token_urlsafe(18), text, address, now + self.lifetime
        )
        self._challenges[challenge.id] = challenge
        if address is not None:
            mine = self._by_address.setdefault(address, OrderedDict())
            mine[challenge.id] = None
            while len(mine) > self.per_address:
                self._forget(next(iter(mine)))
        while len(self._challenges) > self.max_challenges:
            self._forget(next(iter(self._challenges)))
        return challenge

    def solve(self, challenge_id: object, answer: object) -> bool:
        """Whether ``answer`` is the text of the challenge ``challenge_id``.

        The challenge is used up either way. An unknown, expired or used
        id, and arguments that are not strings, give False.
        """
        now = self._clock()
        self._expire(now)
        if not isinstance(challenge_id, str) or not isinstance(answer, str):
            return False
        challenge = self._challenges.get(challenge_id)
        if challenge is None:
            return False
        self._forget(challenge_id)
        given = answer.strip().upper()
        if len(given) > _MAX_ANSWER:
            return False
        return hmac.compare_digest(
            given.encode("utf-8", "replace"), challenge.text.encode()
        )

    def _expire(self, now: float) -> None:
        challenges = self._challenges
        while challenges:
            oldest = next(iter(challenges.values()))
            if oldest.expires > now:
                return
            self._forget(oldest.id)

    def _forget(self, challenge_id: str) -> None:
        challenge = self._challenges.pop(challenge_id, None)
        if challenge is None or challenge.address is None:
            return
        mine = self._by_address.get(challenge.address)
        if mine is not None:
            mine.pop(challenge_id, None)
            if not mine:
                del self._by_address[challenge.address]


_IMAGE = ImageCaptcha(width=200, height=70)


def render_png(text: str) -> bytes:
    """The PNG image of a challenge's text, distorted and noisy.

    It takes a few milliseconds of CPU; it may run in a worker thread.
    """
    return _IMAGE.generate(text, format="png").getvalue()
