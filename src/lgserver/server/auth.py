"""Who a HELLO speaks for (``docs/protocol.md`` sections 6.1 and 6.8), and the
calls that issue and revoke login tokens.

The ``auth`` map of a HELLO takes one of three forms:

* ``{"name": ..., "password": ...}``: an operator or an administrator,
  checked against the store's scrypt hash. An unknown name, a wrong
  password and a disabled account get the same answer, in about the same
  time, so that the answer tells nothing of which accounts exist.
* ``{"token": ...}``: an operator or an administrator, by a login token
  that an earlier session got from ``auth.token.issue``. A token that is
  unknown, expired or revoked gets the same answer as a wrong password.
* ``{"visitor": ...}``: a customer, with the visitor id the widget keeps in
  the browser. Customers have no account: the id is their only secret,
  so one that could be guessed is refused (22 to 64 letters, digits,
  ``-`` or ``_``; :mod:`lgserver.security.visitors`).

The first two may also carry ``"captcha": {"id": ..., "answer": ...}``.
Logins of operators and administrators are throttled by a
:class:`~lgserver.security.LoginThrottle`: once the account named, or the
client's address, has failed too often in a row, a login needs a solved
CAPTCHA (refused with CAPTCHA_REQUIRED until it has one), and each further
attempt waits a growing delay before its credentials are even looked at.
Waiting first, rather than before a refusal only, keeps the time of the
answer from telling a success from a failure, and a client that hangs up
during the wait gets nothing checked at all. A token login is held to
its address's count only: it names no account before it is found, and
nobody guesses a token.

Tokens expire a fixed time after they were issued (``token_lifetime``);
using one does not extend it. The store deletes a user's tokens when the
password changes or the user is disabled. Every operator login, failed or
not, and every token issued or revoked, goes into the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..protocol.errors import CloseCode
from ..protocol.messages import ErrorCode, Hello
from ..security import (
    VISITOR_ID_RULE,
    LoginThrottle,
    hash_password,
    is_visitor_id,
    verify_password_async,
)
from ..security.captcha import CaptchaChallenges
from ..store.errors import StoreError, UserNotFound
from ..store.interface import Store
from .hub import CallContext, CallFailed, Hub, Principal

__all__ = ["StoreAuthenticator", "register_auth_methods"]

logger = logging.getLogger("lgserver.server")

_REFUSED = (CloseCode.AUTH_FAILED, "wrong name or password")
_CAPTCHA = (CloseCode.CAPTCHA_REQUIRED, "solve a captcha to log in")
# Tokens issued are 43 characters; anything far from that is no token.
_TOKEN_LENGTHS = range(16, 257)
_MAX_DESCRIPTION = 200
# Names and addresses recorded in the audit log are cut to this length.
_AUDIT_TEXT = 128

Verdict = Principal | tuple[int, str]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


class StoreAuthenticator:
    """Decides on HELLOs with the users and login tokens of a store.

    Args:
        store: Where the users, their tokens and the audit log are.
        throttle: Counts failed logins; a default one if None.
        captchas: The CAPTCHA challenges issued to clients; a default set
            if None.
        token_lifetime: Seconds a login token works after it was issued.
        max_tokens: Login tokens a user may hold; issuing one more drops
            the oldest.
        now: The wall clock, aware, for token expiry.
        sleep: Waits before a throttled attempt is checked;
            :func:`asyncio.sleep` by default.
    """

    def __init__(
        self,
        store: Store,
        *,
        throttle: LoginThrottle | None = None,
        captchas: CaptchaChallenges | None = None,
        token_lifetime: float = 12 * 3600.0,
        max_tokens: int = 20,
        now: Callable[[], dt.datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if token_lifetime <= 0 or max_tokens < 1:
            raise ValueError("token_lifetime and max_tokens must be positive")
        self._store = store
        # "is None": an empty throttle or challenge set is falsy (len 0)
        self.throttle = LoginThrottle() if throttle is None else throttle
        self.captchas = CaptchaChallenges() if captchas is None else captchas
        self.token_lifetime = dt.timedelta(seconds=token_lifetime)
        self.max_tokens = max_tokens
        self._now = now
        self._sleep = sleep
        # checked when the name is unknown, so that it costs the same time
        self._decoy = hash_password("not a password of anyone")

    async def __call__(self, hello: Hello, address: str | None = None) -> Verdict:
        """A principal for ``hello`` from ``address``, or the close code
        and reason that refuse it."""
        auth: dict[str, Any] = hello.auth or {}
        if set(auth) == {"visitor"}:
            visitor = auth["visitor"]
            if is_visitor_id(visitor):
                return Principal("customer", visitor, via="visitor")
            return (CloseCode.AUTH_FAILED, VISITOR_ID_RULE)
        captcha = auth.get("captcha")
        if captcha is not None and not _captcha_shaped(captcha):
            return (CloseCode.AUTH_FAILED, "malformed captcha")
        fields = set(auth) - {"captcha"}
        if fields == {"name", "password"}:
            name, password = auth["name"], auth["password"]
            if isinstance(name, str) and isinstance(password, str):
                return await self._by_password(name, password, captcha, address)
        elif fields == {"token"} and isinstance(auth["token"], str):
            return await self._by_token(auth["token"], captcha, address)
        return (CloseCode.AUTH_FAILED, "credentials expected")

    # -- logins

    async def _by_password(
        self,
        name: str,
        password: str,
        captcha: Mapping[str, str] | None,
        address: str | None,
    ) -> Verdict:
        attempt = self.throttle.attempt(name, address)
        if attempt.delay > 0:
            await self._sleep(attempt.delay)
        failure = {"via": "password", "name": name[:_AUDIT_TEXT], "address": address}
        if attempt.captcha_required and not self._solved(captcha):
            await self._failed(failure, "captcha")
            return _CAPTCHA

        user = await self._store.get_user_by_name(name)
        stored = user.password_hash if user is not None else self._decoy
        matches = await verify_password_async(password, stored)
        if user is None or user.disabled or not matches:
            reason = "wrong password"
            if user is None:
                reason = "unknown name"
            elif user.disabled:
                reason = "disabled"
            await self._failed(failure, reason)
            return _REFUSED

        self.throttle.succeeded(attempt)
        await self._audit(user.name, "login", {"via": "password", "address": address})
        return Principal(str(user.role), user.name, user.display_name, via="password")

    async def _by_token(
        self, token: str, captcha: Mapping[str, str] | None, address: str | None
    ) -> Verdict:
        attempt = self.throttle.attempt(None, address)
        if attempt.delay > 0:
            await self._sleep(attempt.delay)
        failure: dict[str, Any] = {"via": "token", "address": address}
        if attempt.captcha_required and not self._solved(captcha):
            await self._failed(failure, "captcha")
            return _CAPTCHA

        record = None
        if len(token) in _TOKEN_LENGTHS:
            record = await self._store.find_login_token(_digest(token))
        user = None
        if record is not None:
            failure["name"] = record.user
            if record.expires_at <= self._now():
                await self._forget_token(record.id)
                record = None
            else:
                user = await self._store.get_user_by_name(record.user)
        if record is None or user is None or user.disabled:
            reason = "disabled" if user is not None else "unknown or expired token"
            await self._failed(failure, reason)
            return _REFUSED

        self.throttle.succeeded(attempt, user.name)
        try:
            await self._store.touch_login_token(record.id)
        except StoreError as exc:
            logger.warning("cannot record the use of a login token: %s", exc)
        detail = {"via": "token", "token": record.id, "address": address}
        await self._audit(user.name, "login", detail)
        return Principal(
            str(user.role),
            user.name,
            user.display_name,
            via="token",
            token_id=record.id,
        )

    def _solved(self, captcha: Mapping[str, str] | None) -> bool:
        if captcha is None:
            return False
        return self.captchas.solve(captcha["id"], captcha["answer"])

    async def _failed(self, detail: dict[str, Any], reason: str) -> None:
        await self._audit("anonymous", "login.failed", {**detail, "reason": reason})

    # -- tokens

    async def issue_token(
        self, principal: Principal, description: str = ""
    ) -> dict[str, Any]:
        """A new login token for the user a session speaks for.

        Args:
            principal: The session's principal, which must have logged in
                with its password.
            description: What the client says of itself (at most 200
                printable characters), shown where tokens are listed.

        Returns:
            ``{"id", "token", "expires"}``: the token's id, its secret
            (given out once, never stored) and its expiry (UTC).

        Raises:
            CallFailed: FORBIDDEN for a customer or a session that logged in
                by token; BAD_REQUEST for a bad description; UNAUTHORIZED if
                the user is gone.
        """
        if principal.kind == "customer" or principal.via != "password":
            raise CallFailed(
                ErrorCode.FORBIDDEN, "log in with a password to get a login token"
            )
        if (
            not isinstance(description, str)
            or len(description) > _MAX_DESCRIPTION
            or not description.isprintable()
        ):
            raise CallFailed(
                ErrorCode.BAD_REQUEST,
                f"description: at most {_MAX_DESCRIPTION} printable characters",
            )
        token = secrets.token_urlsafe(32)  # 256 bits
        expires = self._now() + self.token_lifetime
        try:
            record = await self._store.create_login_token(
                principal.name,
                _digest(token),
                description,
                expires,
                keep=self.max_tokens,
            )
        except UserNotFound:
            raise CallFailed(ErrorCode.UNAUTHORIZED, "the account is gone") from None
        detail = {"token": record.id, "description": description}
        await self._audit(principal.name, "auth.token.issue", detail)
        return {"id": record.id, "token": token, "expires": record.expires_at}

    async def revoke_token(self, principal: Principal, token: str | None) -> None:
        """Revoke one of the user's own login tokens.

        Args:
            principal: The session's principal.
            token: The token's secret, or None for the token the session
                logged in with.

        Raises:
            CallFailed: NOT_FOUND if the token is unknown, belongs to someone
                else, or (for None) the session did not log in by token.
        """
        token_id = principal.token_id if token is None else None
        if token is not None and len(token) in _TOKEN_LENGTHS:
            record = await self._store.find_login_token(_digest(token))
            if record is not None and record.user == principal.name:
                token_id = record.id
        if (
            principal.kind == "customer"
            or token_id is None
            or not await self._store.delete_login_token(token_id)
        ):
            raise CallFailed(ErrorCode.NOT_FOUND, "no such login token")
        await self._audit(principal.name, "auth.token.revoke", {"token": token_id})

    # -- the store's side

    async def _forget_token(self, token_id: int) -> None:
        try:
            await self._store.delete_login_token(token_id)
        except StoreError as exc:
            logger.warning("cannot delete an expired login token: %s", exc)

    async def _audit(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        try:
            await self._store.record_audit(actor, action, detail)
        except (StoreError, ValueError) as exc:
            logger.warning(
                "cannot record %s of %s in the audit log: %s", action, actor, exc
            )


def _captcha_shaped(value: object) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"id", "answer"}
        and all(isinstance(part, str) for part in value.values())
    )


def register_auth_methods(hub: Hub, authenticator: StoreAuthenticator) -> None:
    """Register the calls of login tokens on ``hub``.

    * ``auth.token.issue``, params null or ``{"description": str}``:
      a new login token, ``{"id", "token", "expires"}``.
    * ``auth.token.revoke``, params null (the token this session logged in
      with) or ``{"token": str}`` (one of the user's own): null.
    """

    @hub.method("auth.token.issue")
    async def issue(context: CallContext, params: Any) -> Any:
        description = ""
        if params is not None:
            if not isinstance(params, dict) or set(params) - {"description"}:
                raise CallFailed(ErrorCode.BAD_REQUEST, "expected {description}")
            description = params.get("description", "")
        return await authenticator.issue_token(context.principal, description)

    @hub.method("auth.token.revoke")
    async def revoke(context: CallContext, params: Any) -> Any:
        token = None
        if params is not None:
            if (
                not isinstance(params, dict)
                or set(params) != {"token"}
                or not isinstance(params["token"], str)
            ):
                raise CallFailed(ErrorCode.BAD_REQUEST, "expected {token}")
            token = params["token"]
        await authenticator.revoke_token(context.principal, token)
        return None
