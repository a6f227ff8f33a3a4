"""The rule of visitor ids: long enough not to be guessed, URL-safe."""

from __future__ import annotations

import base64
import secrets
import string

from hypothesis import given
from hypothesis import strategies as st

from lgserver.security.visitors import (
    VISITOR_ID_MAX,
    VISITOR_ID_MIN,
    VISITOR_ID_RULE,
    is_visitor_id,
)

URL_SAFE = string.ascii_letters + string.digits + "-_"


def test_the_bounds_are_those_the_rule_states() -> None:
    assert (VISITOR_ID_MIN, VISITOR_ID_MAX) == (22, 64)
    assert VISITOR_ID_RULE == (
        "visitor id must be 22 to 64 URL-safe characters (A-Z a-z 0-9 - _)"
    )


def test_an_id_as_the_widget_makes_it_is_one() -> None:
    # 22 characters of URL-safe base64 are 132 random bits
    for _ in range(50):
        assert is_visitor_id(secrets.token_urlsafe(16))
    assert is_visitor_id(base64.urlsafe_b64encode(bytes(range(48))).decode())


def test_the_bounds_hold_for_every_character() -> None:
    for char in URL_SAFE:
        assert not is_visitor_id(char * (VISITOR_ID_MIN - 1))
        assert is_visitor_id(char * VISITOR_ID_MIN)
        assert is_visitor_id(char * VISITOR_ID_MAX)
        assert not is_visitor_id(char * (VISITOR_ID_MAX + 1))


def test_what_is_not_a_string_is_no_id() -> None:
    for value in (None, 1234567890123456789012345, b"A" * 22, ["A" * 22]):
        assert not is_visitor_id(value)


def test_a_line_break_is_not_let_through_at_the_end() -> None:
    assert not is_visitor_id("A" * 22 + "\n")


@given(st.text(alphabet=URL_SAFE, max_size=80) | st.text(max_size=80))
def test_exactly_the_url_safe_ids_of_22_to_64_pass(text: str) -> None:
    expected = VISITOR_ID_MIN <= len(text) <= VISITOR_ID_MAX and all(
        char in URL_SAFE for char in text
    )
    assert is_visitor_id(text) == expected
