"""CAPTCHA challenges: single use, expiry, bounded count, answers compared
regardless of case, and the image they are drawn as."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lgserver.security.captcha import ALPHABET, CaptchaChallenges, render_png


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_right_answer_solves_once() -> None:
    challenges = CaptchaChallenges(clock=Clock())
    challenge = challenges.issue("192.0.2.1")
    assert len(challenge.text) == 5
    assert set(challenge.text) <= set(ALPHABET)
    assert len(challenge.id) >= 24
    assert challenges.solve(challenge.id, challenge.text)
    assert not challenges.solve(challenge.id, challenge.text)
    assert len(challenges) == 0


def test_answers_ignore_case_and_outer_spaces() -> None:
    challenges = CaptchaChallenges(clock=Clock())
    challenge = challenges.issue()
    assert challenges.solve(challenge.id, f"  {challenge.text.lower()}\n")


def test_a_wrong_answer_uses_the_challenge_up() -> None:
    challenges = CaptchaChallenges(clock=Clock())
    challenge = challenges.issue()
    wrong = "".join("A" if c != "A" else "C" for c in challenge.text)
    assert not challenges.solve(challenge.id, wrong)
    assert not challenges.solve(challenge.id, challenge.text)


@pytest.mark.parametrize(
    ("challenge_id", "answer"),
    [(None, "ABCDE"), ("unknown", "ABCDE"), (42, "x"), ("id", None), ("id", 5)],
)
def test_malformed_or_unknown_answers_fail(
    challenge_id: object, answer: object
) -> None:
    challenges = CaptchaChallenges(clock=Clock())
    assert not challenges.solve(challenge_id, answer)


def test_an_overlong_answer_fails() -> None:
    challenges = CaptchaChallenges(clock=Clock())
    challenge = challenges.issue()
    assert not challenges.solve(challenge.id, challenge.text + " " * 1000 + "x")


def test_challenges_expire() -> None:
    clock = Clock()
    challenges = CaptchaChallenges(lifetime=300.0, clock=clock)
    early = challenges.issue()
    clock.now += 200.0
    late = challenges.issue()
    clock.now += 100.0
    assert not challenges.solve(early.id, early.text)
    assert len(challenges) == 1
    assert challenges.solve(late.id, late.text)


def test_the_count_is_bounded_overall_and_per_address() -> None:
    challenges = CaptchaChallenges(max_challenges=100, per_address=3, clock=Clock())
    mine = [challenges.issue("192.0.2.1") for _ in range(10)]
    assert len(challenges) == 3
    assert not challenges.solve(mine[0].id, mine[0].text)
    assert challenges.solve(mine[-1].id, mine[-1].text)

    for n in range(1000):
        challenges.issue(f"10.0.{n >> 8}.{n & 255}")
        assert len(challenges) <= 100
    assert len(challenges._by_address) <= 100


@pytest.mark.parametrize(
    "options",
    [{"lifetime": 0.0}, {"max_challenges": 0}, {"per_address": 0}, {"length": 3}],
)
def test_bad_options(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CaptchaChallenges(**options)  # type: ignore[arg-type]


@given(st.text(max_size=20))
def test_only_the_text_solves(answer: str) -> None:
    challenges = CaptchaChallenges(clock=Clock())
    challenge = challenges.issue()
    solved = challenges.solve(challenge.id, answer)
    assert solved == (answer.strip().upper() == challenge.text)


def test_the_image_is_a_png_of_the_text() -> None:
    data = render_png("ACDEF")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (200, 70)
    assert render_png("ACDEF") != data  # drawn anew, with fresh noise
