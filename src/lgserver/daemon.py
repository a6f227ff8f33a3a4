"""The running server: the store, the certificate, the hub and the
listeners, started in that order and stopped in the reverse one.

:func:`serve` runs a :class:`Daemon` until SIGTERM or SIGINT, which shut it
down gracefully: stop accepting, tell every client to reconnect later
(GOING_AWAY), flush the store, return. SIGHUP reloads the certificate and
has live chat read the departments and operators again; a
development certificate is also renewed by a timer before it expires,
without a restart. The geolocation database loads in the background once
the daemon listens (:mod:`lgserver.geo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import collector
from .chat.forms import load_forms
from .chat.service import ChatService
from .config import Config
from .geo import GeoError, Locator
from .mail import Mailer
from .protocol.codec import Registry
from .protocol.errors import CloseCode
from .security import LoginThrottle
from .security.captcha import CaptchaChallenges
from .server.auth import StoreAuthenticator, register_auth_methods
from .server.hub import CallContext, Hub, HubLimits
from .server.metrics import Metrics
from .store.sqlite import SqliteStore
from .tls import (
    ServerCertificate,
    fingerprint_hex,
    next_rotation,
    server_certificate,
    server_ssl_context,
)
from .transport.http import Site
from .transport.listener import serve_plain, serve_tls
from .transport.webtransport import WebTransportServer, serve_webtransport

__all__ = ["Daemon", "serve"]

logger = logging.getLogger("lgserver.server")

_CHECKOUT = Path(__file__).resolve().parents[2]
#: The browser clients, served from the checkout lgserver runs from.
WEB_ROOT = _CHECKOUT / "clients" / "web"
#: The MessagePack library the browser clients import.
MSGPACK_ROOT = _CHECKOUT / "node_modules" / "@msgpack" / "msgpack" / "dist.esm"
DATABASE = "lgserver.db"


class Daemon:
    """Everything a running lgserver holds.

    Args:
        config: The configuration.
        registry: The message classes; the protocol's own by default.
    """

    def __init__(self, config: Config, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or Registry()
        self.metrics = Metrics()
        self.locator = Locator.from_settings(config.geo)
        self.mailer = Mailer(config.smtp)
        self.loading: asyncio.Task[None] | None = None
        self.store: SqliteStore | None = None
        self.hub: Hub | None = None
        self.authenticator: StoreAuthenticator | None = None
        self.site: Site | None = None
        self.chat: ChatService | None = None
        self.certificate: ServerCertificate | None = None
        self.port = 0
        self._listener: asyncio.Server | None = None
        self._plain: asyncio.Server | None = None
        self.webtransport: WebTransportServer | None = None
        self._rotation: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Open the store, load the certificate and listen.

        Raises:
            lgserver.store.errors.StoreError: The database cannot be used.
            lgserver.tls.CertificateError: The certificate cannot be used.
            lgserver.chat.forms.FormsError: ``chat.forms_file`` cannot be
                used.
            OSError: The port cannot be bound.
        """
        config = self.config
        data_dir = config.server.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = await SqliteStore.open(
            data_dir / DATABASE,
            on_commit=lambda writes, seconds: self.metrics.commit_seconds.observe(
                seconds
            ),
        )
        self.certificate = server_certificate(config)
        context = server_ssl_context(
            self.certificate.cert_file, self.certificate.key_file
        )
        limits = config.limits
        security = config.security
        captchas = CaptchaChallenges(
            lifetime=security.captcha_lifetime,
            max_challenges=security.captcha_max_challenges,
            per_address=security.captcha_per_address,
        )
        authenticator = StoreAuthenticator(
            self.store,
            throttle=LoginThrottle(
                captcha_after=security.captcha_after,
                base_delay=security.failure_delay,
                max_delay=security.failure_delay_max,
                max_entries=security.throttle_max_entries,
                forget_after=security.throttle_forget_after,
            ),
            captchas=captchas,
            token_lifetime=security.token_lifetime,
            max_tokens=security.max_tokens_per_user,
        )
        self.hub = Hub(
            self.registry,
            authenticator,
            config.session_config(),
            limits=HubLimits(
                max_connections=limits.max_connections,
                max_connections_per_address=limits.max_connections_per_address,
                messages_per_second=limits.messages_per_second,
                burst=limits.burst,
            ),
            metrics=self.metrics,
            accepted_builds=config.server.accepted_builds,
        )
        self._register_methods(self.hub)
        register_auth_methods(self.hub, authenticator)
        forms_file = config.chat.forms_file
        self.chat = ChatService(
            self.hub,
            self.store,
            self.mailer,
            self.locator,
            config.chat,
            forms=load_forms(forms_file) if forms_file is not None else (),
        )
        await self.chat.start()
        mounts = [("/", WEB_ROOT)]
        if MSGPACK_ROOT.is_dir():
            mounts.insert(0, ("/vendor/msgpack/", MSGPACK_ROOT))
        site = Site(
            mounts=mounts,
            allowed_origins=frozenset(config.web.allowed_origins),
            metrics=self.metrics.render,
            captcha=captchas,
            widget_status=self.chat.widget_status,
        )
        self.authenticator, self.site = authenticator, site
        self._listener = await serve_tls(
            self.hub, site, context, config.server.host, config.server.port
        )
        self._context = context
        self.port = self._listener.sockets[0].getsockname()[1]
        if config.server.webtransport:
            self.webtransport = await serve_webtransport(
                self.hub,
                site,
                config.server.host,
                self.port,
                cert_file=self.certificate.cert_file,
                key_file=self.certificate.key_file,
                max_connections=limits.max_connections,
                handshake_timeout=limits.handshake_timeout,
            )
            site.webtransport = self._webtransport_certificate
            logger.info(
                "listening on %s port %d (UDP: HTTP/3, WebTransport at /wt)",
                config.server.host,
                self.port,
            )
        if config.server.plain_port:
            self._plain = await serve_plain(
                self.hub,
                site,
                config.server.host,
                config.server.plain_port,
                config.server.trusted_proxies,
            )
            logger.info(
                "listening on %s port %d (plain HTTP, for a TLS proxy in front)",
                config.server.host,
                config.server.plain_port,
            )
        logger.info(
            "listening on %s port %d (TLS: lg/1 and http/1.1)",
            config.server.host,
            self.port,
        )
        self._announce_certificate()
        self._schedule_rotation()
        self.loading = asyncio.create_task(self._load_locator())

    async def _load_locator(self) -> None:
        # the locator logs a database it cannot load, and answers "" then
        with contextlib.suppress(GeoError):
            await self.locator.load()

    @staticmethod
    def _register_methods(hub: Hub) -> None:
        @hub.method("session.whoami")
        async def whoami(context: CallContext, params: Any) -> Any:
            principal = context.principal
            return {
                "session": context.session.session_id,
                "kind": principal.kind,
                "name": principal.name,
                "display_name": principal.display_name,
            }

    def _webtransport_certificate(self) -> tuple[bytes, int]:
        assert self.certificate is not None
        return self.certificate.sha256, self.port

    def reload(self) -> None:
        """SIGHUP: load the certificate again, and have live chat read the
        departments and operators again."""
        try:
            self.reload_certificate()
        except Exception:
            logger.exception("the certificate was not loaded again")
        if self.chat is not None:
            self.chat.request_reload()

    def reload_certificate(self) -> None:
        """Load the certificate again (a renewed development one, or
        production files replaced on disk); new connections, over TLS and
        over QUIC, present it."""
        certificate = server_certificate(self.config)
        self._context.load_cert_chain(certificate.cert_file, certificate.key_file)
        if self.webtransport is not None:
            self.webtransport.reload(certificate.cert_file, certificate.key_file)
        self.certificate = certificate
        self._announce_certificate()
        self._schedule_rotation()

    async def stop(self) -> None:
        """Stop accepting, send every client away, flush the store."""
        if self._rotation is not None:
            self._rotation.cancel()
        if self.loading is not None:
            self.loading.cancel()
        for listener in (self._listener, self._plain):
            if listener is not None:
                listener.close()
        if self.hub is not None:
            self.hub.close_all(CloseCode.GOING_AWAY, "server shutting down")
            await asyncio.sleep(0.05)  # let the transports flush
        if self.chat is not None:
            # after the sessions ended: their chats' endings are stored
            await self.chat.stop()
        if self.webtransport is not None:
            # after the GOING_AWAY frames went out on the streams
            self.webtransport.close()
            self.webtransport = None
        if self.store is not None:
            await self.store.close()
        self.locator.close()
        logger.info("stopped")

    def _announce_certificate(self) -> None:
        certificate = self.certificate
        assert certificate is not None
        kind = "development" if certificate.development else "configured"
        logger.info(
            "%s certificate %s, SHA-256 %s, valid until %s",
            kind,
            certificate.cert_file,
            fingerprint_hex(certificate.sha256),
            certificate.certificate.not_valid_after_utc.isoformat(),
        )

    def _schedule_rotation(self) -> None:
        if self._rotation is not None:
            self._rotation.cancel()
            self._rotation = None
        certificate = self.certificate
        if certificate is None or not certificate.development:
            return
        due = next_rotation(certificate.certificate, self.config.tls.rotate_before)
        delay = max(1.0, (due - dt.datetime.now(dt.UTC)).total_seconds())
        loop = asyncio.get_running_loop()
        self._rotation = loop.call_later(delay, self.reload_certificate)


async def serve(
    config: Config,
    *,
    on_ready: Callable[[Daemon], None] | None = None,
    own_process: bool = False,
) -> None:
    """Run lgserver until SIGTERM or SIGINT, then shut it down gracefully.

    Args:
        config: The configuration.
        on_ready: Called once the daemon listens.
        own_process: The process runs nothing else: set the garbage
            collector for a server (:mod:`lgserver.collector`), and exempt
            what start-up made, and the geolocation database once loaded,
            from its walks.
    """
    if own_process:
        collector.tune()
    daemon = Daemon(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, daemon.reload)
    try:
        await daemon.start()
        if own_process:
            collector.freeze()
            if daemon.loading is not None:
                daemon.loading.add_done_callback(lambda _: collector.freeze())
        if on_ready is not None:
            on_ready(daemon)
        await stopping.wait()
        logger.info("shutting down")
    finally:
        await daemon.stop()
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(number)
