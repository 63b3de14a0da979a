"""The ASGI application of ``datacoral serve``: one lifespan, middleware, routes.

The lifespan opens the storage at start and closes it (committing what is
pending) at shutdown; nothing else opens or closes it. It also builds the Iglu
validator (``settings.iglu``) that the environments' validation modes use. Requests
go through the middleware stack (see :mod:`datacoral.collector.middleware`) to the
routes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from datacoral.adminapi import AdminAPI, admin_api, is_admin_path
from datacoral.collector.asgi import Receive, Scope, Send
from datacoral.collector.auth import KeyResolver
from datacoral.collector.cookie import NetworkCookie
from datacoral.collector.cors import CORSMiddleware
from datacoral.collector.enrich import trusted_networks
from datacoral.collector.environments import EnvironmentCache
from datacoral.collector.errors import (
    ClientDisconnected,
    RateLimited,
    Rejected,
    SchemasUnavailable,
)
from datacoral.collector.ingest import Ingest
from datacoral.collector.micro import InspectionAPI, inspection_api, is_inspection_path
from datacoral.collector.middleware import (
    AccessLogMiddleware,
    ErrorGuardMiddleware,
    MetricsMiddleware,
    Middleware,
    build_middleware_stack,
)
from datacoral.collector.rate_limits import RateLimiter
from datacoral.collector.request import Request
from datacoral.collector.responses import send_rejection, send_text
from datacoral.collector.routes import Endpoint, match
from datacoral.collector.validation import SchemaValidation
from datacoral.config import Settings
from datacoral.schemas import Validator
from datacoral.storage import open_storage
from datacoral.storage.base import EnvironmentRecord, KeyRecord, Storage, StorageError

if TYPE_CHECKING:
    from datacoral.collector.metrics import CollectorMetrics

logger = logging.getLogger("datacoral.collector")

StorageFactory = Callable[[Settings], Storage]

#: Storage failures are logged at most this often: under load every request fails alike.
_STORAGE_LOG_INTERVAL = 5.0


def open_configured(settings: Settings) -> Storage:
    """The backend ``settings.db`` names: a SQLite file, or a PostgreSQL database; with
    ``settings.stream``, the JetStream stream in front of that PostgreSQL database."""
    storage = open_storage(settings.db, busy_timeout=settings.storage_busy_timeout_seconds)
    if not settings.stream:
        return storage
    from datacoral.storage.jetstream import JetStreamSink
    from datacoral.storage.postgres import PostgresStorage

    assert isinstance(storage, PostgresStorage)  # Settings refuses a stream over SQLite
    return JetStreamSink(storage, settings.stream_settings())


class CollectorApp:
    """The Events endpoint as an ASGI application.

    With ``metrics`` (``serve --metrics-port``), every request and commit is counted
    there; the listener that publishes them is the server's business.
    """

    def __init__(
        self,
        settings: Settings,
        storage_factory: StorageFactory = open_configured,
        *,
        metrics: CollectorMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._metrics = metrics
        self._target = ""  # the storage_failures_total label, set at start with metrics on
        self._storage_factory = storage_factory
        self._storage: Storage | None = None
        self._ingest: Ingest | None = None
        self._inspection: InspectionAPI | None = None  # /micro/*, with settings.inspect
        self._admin: AdminAPI | None = None  # /admin/v1/*, with settings.admin
        self._schemas: SchemaValidation | None = None
        self._retry_after = [(b"retry-after", str(settings.retry_after_seconds).encode())]
        self._storage_logged_at = 0.0
        # Made once and shared by the CORS layer and the routes; they read storage
        # through the methods below, which work once the lifespan has opened it.
        self._keys = KeyResolver(self._lookup_key)
        self._environments = EnvironmentCache(self._load_environments)
        # A worker of `serve --workers N` enforces 1/N of each limit (rate_limits.py).
        self._limiter = RateLimiter(processes=settings.workers)
        layers = [
            Middleware(ErrorGuardMiddleware, {"retry_after_seconds": settings.retry_after_seconds})
        ]
        if metrics is not None:
            options = {"metrics": metrics, "admin": settings.admin, "inspect": settings.inspect}
            layers.insert(0, Middleware(MetricsMiddleware, options))
        if settings.access_log:
            layers.append(Middleware(AccessLogMiddleware))
        layers.append(
            Middleware(
                CORSMiddleware,
                {
                    "origins": self._environments,
                    "keys": self._keys,
                    "retry_after_seconds": settings.retry_after_seconds,
                    "on_storage_error": self._log_storage_failure,
                },
            )
        )
        self._http = build_middleware_stack(self._route, layers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        # Other protocols (websocket) are not served; the server is started without them.

    # -- lifespan ---------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._start()
                except StorageError as exc:
                    logger.error("could not open storage at %s: %s", self.settings.db, exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                except Exception as exc:
                    logger.exception("could not open storage at %s", self.settings.db)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    self._stop()
                except Exception as exc:
                    logger.exception("could not close storage cleanly")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start(self) -> None:
        # The validator first: it reads no storage, and a start that fails leaves nothing open.
        iglu = self.settings.iglu_settings()
        schemas = SchemaValidation(
            Validator(iglu.build_resolver()), retry_after=self.settings.retry_after_seconds
        )
        storage = self._storage_factory(self.settings)
        try:
            inspection = inspection_api(
                self.settings, storage, schemas.validator.resolver, self._log_storage_failure
            )
            admin = admin_api(self.settings, storage, self._log_storage_failure)
            storage.open()
        except BaseException:
            schemas.close()
            raise
        self._storage, self._schemas, self._inspection = storage, schemas, inspection
        self._admin = admin
        if self._metrics is not None:
            from datacoral.collector.metered_storage import MeteredStorage
            from datacoral.collector.metrics import storage_target

            self._target = storage_target(self.settings)
            storage = MeteredStorage(storage, self._metrics, target=self._target)
        sources = ", ".join(source.name for source in schemas.validator.resolver.sources)
        logger.info("iglu schemas from: %s", sources)
        proxies = trusted_networks(self.settings.trusted_proxies)
        self._ingest = Ingest(
            storage,
            self._keys,
            environments=self._environments,
            cookie=NetworkCookie(domain=self.settings.cookie_domain, trusted_proxies=proxies),
            max_body_bytes=self.settings.max_body_bytes,
            trusted_proxies=proxies,
            max_json_depth=self.settings.max_json_depth,
            schemas=schemas,
            limiter=self._limiter,
        )

    def _lookup_key(self, digest: bytes) -> KeyRecord | None:
        try:
            return self._running_storage().lookup_key(digest)
        except StorageError:
            self._count_read_failure()
            raise

    def _load_environments(self) -> list[EnvironmentRecord]:
        try:
            return self._running_storage().environments()
        except StorageError:
            self._count_read_failure()
            raise

    def _count_read_failure(self) -> None:
        if self._metrics is not None and self._storage is not None:
            self._metrics.storage_failed(self._target, "read")

    def _running_storage(self) -> Storage:
        if self._storage is None:
            raise StorageError("the collector is not started")
        return self._storage

    def _stop(self) -> None:
        storage, self._storage, self._ingest = self._storage, None, None
        self._inspection = None
        self._admin = None
        schemas, self._schemas = self._schemas, None
        if schemas is not None:
            schemas.close()
        if storage is not None:
            storage.close()

    # -- routes -----------------------------------------------------------------------

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request.of(scope)
        inspection = self._inspection
        if inspection is not None and is_inspection_path(request.path):
            await inspection(request, receive, send)
            return
        admin = self._admin
        if admin is not None and is_admin_path(request.path):
            await admin(request, receive, send)
            return
        found = match(request.path)
        if found is None:
            await send_rejection(send, 404, "not found")
            return
        route, key = found
        if request.method not in route.methods:
            allow = route.allow
            await send_rejection(
                send, 405, f"method not allowed: use {allow.decode()}", [(b"allow", allow)]
            )
            return
        try:
            if route.endpoint is Endpoint.EVENTS:
                await self._running_ingest().events(request, receive, send, key)
            elif route.endpoint is Endpoint.PIXEL:
                await self._running_ingest().pixel(request, receive, send, key)
            elif route.endpoint is Endpoint.HEALTH:
                await send_text(send, 200, "ok")
            else:
                await self._ready(send)
        except (SchemasUnavailable, RateLimited) as exc:
            if isinstance(exc, RateLimited) and self._metrics is not None:
                self._metrics.rate_limited(exc.environment, exc.limit, exc.events)
            retry_after = [(b"retry-after", str(exc.retry_after).encode())]
            await send_rejection(send, exc.status, exc.reason, retry_after)
        except Rejected as exc:
            await send_rejection(send, exc.status, exc.reason)
        except StorageError as exc:
            self._log_storage_failure(exc)
            await send_rejection(send, 503, "storage unavailable; retry later", self._retry_after)
        except ClientDisconnected:
            return

    def _running_ingest(self) -> Ingest:
        if self._ingest is None:
            raise StorageError("the collector is not started")
        return self._ingest

    async def _ready(self, send: Send) -> None:
        storage = self._storage
        # is_ready may wait on a lock; keep the event loop free meanwhile.
        if storage is not None and await asyncio.to_thread(storage.is_ready):
            await send_text(send, 200, "ready")
        else:
            await send_rejection(send, 503, "storage not ready", self._retry_after)

    def _log_storage_failure(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._storage_logged_at >= _STORAGE_LOG_INTERVAL:
            self._storage_logged_at = now
            logger.warning("storage unavailable, answering 503: %s", exc)
