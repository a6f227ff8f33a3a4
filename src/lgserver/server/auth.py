"""Who a HELLO speaks for (``docs/protocol.md`` section 6.1).

The ``auth`` map of a HELLO takes one of two forms:

* ``{"name": ..., "password": ...}``: an operator or an administrator,
  checked against the store's scrypt hash. An unknown name, a wrong
  password and a disabled account get the same answer, in about the same
  time, so that the answer tells nothing of which accounts exist.
* ``{"visitor": ...}``: a customer, with the visitor id the widget keeps in
  the browser (8 to 64 letters, digits, ``-`` or ``_``). Customers have no
  account.
"""

from __future__ import annotations

import re
from typing import Any

from ..protocol.errors import CloseCode
from ..protocol.messages import Hello
from ..security import hash_password, verify_password_async
from ..store.interface import Store
from .hub import Principal

__all__ = ["StoreAuthenticator"]

_VISITOR = re.compile(r"[A-Za-z0-9_-]{8,64}")
_REFUSED = (CloseCode.AUTH_FAILED, "wrong name or password")


class StoreAuthenticator:
    """Decides on HELLOs with the users of a store.

    Args:
        store: Where the users are.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        # checked when the name is unknown, so that it costs the same time
        self._decoy = hash_password("not a password of anyone")

    async def __call__(self, hello: Hello) -> Principal | tuple[int, str]:
        """A principal for ``hello``, or the close code that refuses it."""
        auth: dict[str, Any] = hello.auth or {}
        if set(auth) == {"visitor"}:
            visitor = auth["visitor"]
            if isinstance(visitor, str) and _VISITOR.fullmatch(visitor):
                return Principal("customer", visitor)
            return (CloseCode.AUTH_FAILED, "malformed visitor id")
        name, password = auth.get("name"), auth.get("password")
        if set(auth) != {"name", "password"} or not (
            isinstance(name, str) and isinstance(password, str)
        ):
            return (CloseCode.AUTH_FAILED, "credentials expected")
        user = await self._store.get_user_by_name(name)
        stored = user.password_hash if user is not None else self._decoy
        matches = await verify_password_async(password, stored)
        if user is None or user.disabled or not matches:
            return _REFUSED
        return Principal(str(user.role), user.name, user.display_name)
