"""Visitor ids: what a customer is known by (``docs/protocol.md``
section 6.8).

A customer has no account. The call button makes a visitor id of 22
random characters of the 64 of URL-safe base64 (132 bits) and keeps it
in the browser; whoever presents it in a HELLO speaks as that customer,
takes up their live chat and receives its events. The id is the
customer's only secret, so an id short enough to be guessed is not
accepted anywhere: a visitor id is 22 to 64 characters of
``A-Z a-z 0-9 - _``, the upper bound keeping what is stored and logged
small.
"""

from __future__ import annotations

import re

__all__ = ["VISITOR_ID_MAX", "VISITOR_ID_MIN", "VISITOR_ID_RULE", "is_visitor_id"]

#: The fewest characters of a visitor id: as many as the button makes.
VISITOR_ID_MIN = 22
#: The most characters of a visitor id.
VISITOR_ID_MAX = 64
#: What is wrong with an id that is not a visitor id, as a client is told.
VISITOR_ID_RULE = (
    f"visitor id must be {VISITOR_ID_MIN} to {VISITOR_ID_MAX}"
    " URL-safe characters (A-Z a-z 0-9 - _)"
)

_VISITOR_ID = re.compile(f"[A-Za-z0-9_-]{{{VISITOR_ID_MIN},{VISITOR_ID_MAX}}}")


def is_visitor_id(value: object) -> bool:
    """Whether ``value`` is a string that may serve as a visitor id."""
    return isinstance(value, str) and _VISITOR_ID.fullmatch(value) is not None
