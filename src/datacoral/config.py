"""Endpoint settings: one typed value object, read once at start.

Every field can come from a ``DATACORAL_<NAME>`` environment variable (e.g.
``DATACORAL_PORT=9090``) or the ``[serve]`` table of a config file
(:mod:`datacoral.config_file`); command-line options win over the environment, which
wins over the file (:mod:`datacoral.config_sources`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datacoral.logs import LOG_FORMATS
from datacoral.storage.target import DatabaseURL, Target, parse_target

if TYPE_CHECKING:
    from datacoral.schemas.settings import IgluSettings
    from datacoral.storage.jetstream_settings import StreamSettings

DEFAULT_DB = "datacoral.sqlite"
#: The Iglu resolver's defaults (datacoral.schemas.resolver and .registries; a test keeps
#: them equal), written here so that reading settings does not import the engine.
IGLU_TTL_SECONDS = 600.0
IGLU_MISS_TTL_SECONDS = 30.0
IGLU_FAILURE_TTL_SECONDS = 10.0
IGLU_TIMEOUT_SECONDS = 5.0
#: The most ``workers`` a server may run (each is a whole process with its own memory).
MAX_WORKERS = 64
_COOKIE_DOMAIN = re.compile(r"\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How ``datacoral serve`` runs."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: A PEM certificate (with its chain) to serve https with, uvicorn's ``ssl_certfile``;
    #: None: plain http (or TLS ended by a proxy in front, see ``trusted_proxies``).
    certfile: Path | None = None
    #: The certificate's private key (PEM, not encrypted); None when ``certfile`` holds it.
    keyfile: Path | None = None
    #: A SQLite file, or a PostgreSQL URL (``postgresql://user@host:5432/name``); a URL's
    #: password is never shown (see :class:`~datacoral.storage.target.DatabaseURL`).
    db: Target = Path(DEFAULT_DB)
    #: Bodies above this size (as sent, and once decoded when sent with gzip or deflate)
    #: get 413 and a size-violation bad row.
    max_body_bytes: int = 1024 * 1024
    #: Levels of arrays and objects a stored self-describing event (ue_px/ue_pr) or list of
    #: contexts (cx/co) may nest; deeper ones become bad rows. 254 is the most the JSON
    #: encoder writes, and the only value that adds no check per event.
    max_json_depth: int = 254
    #: Requests whose request line (method, target, version) is longer get 414.
    max_request_line_bytes: int = 8 * 1024
    #: Requests whose head (request line and headers) is larger get 431.
    max_header_bytes: int = 64 * 1024
    #: Seconds a client has to send a request head, from its first byte; then 408.
    header_timeout_seconds: float = 10.0
    #: Seconds a client has to send a request body, from the end of its head; then 408.
    body_timeout_seconds: float = 30.0
    #: Seconds an open connection may wait for its next request before it is closed.
    keep_alive_timeout_seconds: float = 15.0
    #: Connections open at once; past it a new connection replaces an idle one or gets 503
    #: with Retry-After. None: 1000, or fewer when the open-file limit (``ulimit -n``)
    #: cannot hold that many (see ``datacoral.collector.connection_limits``).
    max_connections: int | None = None
    #: Peers whose X-Forwarded-For / X-Forwarded-Proto are believed.
    trusted_proxies: tuple[str, ...] = ()
    #: Seconds a client is told to wait (Retry-After) when storage is unavailable or the
    #: endpoint has ``max_connections`` open.
    retry_after_seconds: int = 5
    #: Domain attribute of the ``sp`` network-user-id cookie (e.g. ``example.com`` to share
    #: it with every subdomain); None ties it to the endpoint's host.
    cookie_domain: str | None = None
    #: Seconds a write waits for a lock held by another process before the request gets 503.
    storage_busy_timeout_seconds: float = 2.0
    #: Seconds in-flight requests get to finish after SIGTERM before they are cancelled.
    shutdown_timeout_seconds: int = 30
    #: Processes serving the one port. 1: this process serves, as always; more: it binds
    #: the port and supervises that many worker processes (replacing any that dies), and
    #: every limit above (``max_connections`` included) applies to each worker.
    workers: int = 1
    #: NATS servers of a JetStream cluster (``nats://h1:4222,nats://h2:4222``): collectors
    #: publish each request there and ``datacoral load`` writes it into ``db``, which must
    #: be PostgreSQL (keys, environments and origins stay there). Empty: commit to ``db``.
    stream: tuple[str, ...] = field(default=(), repr=False)  # URLs may hold a password
    #: The stream's name, and the prefix of its subjects (``<subject>.<environment>``).
    stream_name: str = "DATACORAL_EVENTS"
    stream_subject: str = "datacoral.events"
    #: Servers holding each message (1, or 3 in a cluster): see the README for what a 200
    #: then means.
    stream_replicas: int = 1
    #: Seconds within which a retried request (same message id) is stored once.
    stream_duplicate_window_seconds: float = 120.0
    #: Seconds to wait for the stream's acknowledgement before answering 503.
    publish_timeout_seconds: float = 2.0
    #: Where Iglu schemas come from, after the embedded set and in this order: folders in
    #: the static layout, static registries (``http(s)://host[/prefix]``) and Iglu Servers
    #: (``iglu-server+https://host``); see :mod:`datacoral.schemas.settings`. Each
    #: environment's validation mode decides what is done with the answers.
    iglu: tuple[str, ...] = field(default=(), repr=False)  # an Iglu Server URL may hold a key
    #: The ``apikey`` header for Iglu Servers whose URL names no key.
    iglu_apikey: str | None = field(default=None, repr=False)
    #: Seconds a schema found is reused before it is asked for again.
    iglu_ttl_seconds: float = IGLU_TTL_SECONDS
    #: Seconds a schema no source has is remembered as missing.
    iglu_miss_ttl_seconds: float = IGLU_MISS_TTL_SECONDS
    #: Seconds before a registry that could not answer is asked again for a schema; a
    #: strict environment's 503 tells trackers to wait at least this long.
    iglu_failure_ttl_seconds: float = IGLU_FAILURE_TTL_SECONDS
    #: Seconds per connect and per read of one registry request.
    iglu_timeout_seconds: float = IGLU_TIMEOUT_SECONDS
    #: Serve the inspection API (``/micro/*``, shaped like Snowplow Micro's) to admin
    #: tokens; off, those paths answer 404. Not with ``stream`` (it reads ``db``).
    inspect: bool = False
    #: Serve the admin API (``/admin/v1/...``, :mod:`datacoral.adminapi`) to admin tokens
    #: on this port; off, those paths answer 404. Not with ``stream`` (its collectors
    #: keep no administrative side: run one without ``stream`` over the same ``db``).
    admin: bool = False
    #: The port of the Prometheus listener (``GET /metrics``), apart from the public one;
    #: 0 picks a free one. None: no metrics (see :mod:`datacoral.metrics.listener`).
    metrics_port: int | None = None
    #: The interface the Prometheus listener binds: loopback unless said otherwise.
    metrics_host: str = "127.0.0.1"
    log_level: str = "info"
    #: ``text`` (one line per record) or ``json`` (one JSON object per line).
    log_format: str = "text"
    access_log: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("certfile", "keyfile"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.keyfile is not None and self.certfile is None:
            raise ValueError("keyfile needs certfile, the certificate it is the key of")
        if not isinstance(self.db, (Path, DatabaseURL)):
            try:
                object.__setattr__(self, "db", parse_target(self.db))
            except ValueError as exc:
                raise ValueError(f"db {exc}") from None
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        if self.max_body_bytes < 1024:
            raise ValueError("max_body_bytes must be at least 1024")
        if not 2 <= self.max_json_depth <= 254:
            raise ValueError("max_json_depth must be 2-254")
        if self.max_request_line_bytes < 1024:
            raise ValueError("max_request_line_bytes must be at least 1024")
        if self.max_header_bytes < self.max_request_line_bytes:
            raise ValueError("max_header_bytes must be at least max_request_line_bytes")
        for name in ("header_timeout_seconds", "body_timeout_seconds"):
            if not 0 < getattr(self, name) <= 3600:
                raise ValueError(f"{name} must be more than 0 and at most 3600")
        if not 0 < self.keep_alive_timeout_seconds <= 3600:
            raise ValueError("keep_alive_timeout_seconds must be more than 0 and at most 3600")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.retry_after_seconds < 1:
            raise ValueError("retry_after_seconds must be at least 1")
        if not 0 < self.storage_busy_timeout_seconds <= 60:
            raise ValueError("storage_busy_timeout_seconds must be more than 0 and at most 60")
        if self.shutdown_timeout_seconds < 1:
            raise ValueError("shutdown_timeout_seconds must be at least 1")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1-{MAX_WORKERS}, got {self.workers}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be 0-65535, got {self.metrics_port}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(
                f"log_format must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}"
            )
        for proxy in self.trusted_proxies:
            ipaddress.ip_network(proxy, strict=False)  # raises ValueError when malformed
        if self.stream:
            if not isinstance(self.db, DatabaseURL):
                raise ValueError(
                    "stream needs db to be a PostgreSQL URL (postgresql://...), where keys,"
                    " environments and origins are kept and `datacoral load` writes the events"
                )
            self.stream_settings()  # raises ValueError for a malformed stream setting
            if self.admin:
                raise ValueError(
                    "admin cannot be used with stream: serve the admin API from an endpoint"
                    " without stream over the same PostgreSQL db"
                )
            if self.inspect:
                raise ValueError(
                    "inspect cannot be used with stream: the inspection API shows an event"
                    " as soon as its request got its answer, and with a stream the event"
                    " reaches the database only once `datacoral load` wrote it"
                )
        for name in ("iglu_ttl_seconds", "iglu_miss_ttl_seconds", "iglu_failure_ttl_seconds"):
            if not 0 <= getattr(self, name) <= 86400:
                raise ValueError(f"{name} must be 0-86400")
        if not 0 < self.iglu_timeout_seconds <= 60:
            raise ValueError("iglu_timeout_seconds must be more than 0 and at most 60")
        if self.iglu:
            self.iglu_settings()  # raises InvalidIgluSource (a ValueError) naming the value
        if self.cookie_domain is not None and not _COOKIE_DOMAIN.fullmatch(self.cookie_domain):
            raise ValueError(
                f"cookie_domain must be a lowercase domain name like example.com,"
                f" got {self.cookie_domain!r}"
            )

    @property
    def scheme(self) -> str:
        """``https`` when the endpoint serves TLS itself (``certfile``), else ``http``."""
        return "https" if self.certfile is not None else "http"

    def stream_settings(self) -> StreamSettings:
        """The stream's settings (``stream`` must be set)."""
        from datacoral.storage.jetstream_settings import StreamSettings

        return StreamSettings(
            servers=self.stream,
            name=self.stream_name,
            subject=self.stream_subject,
            replicas=self.stream_replicas,
            duplicate_window_seconds=self.stream_duplicate_window_seconds,
            publish_timeout_seconds=self.publish_timeout_seconds,
        )

    def iglu_settings(self) -> IgluSettings:
        """The Iglu resolver's settings: ``iglu`` as sources, with these timings."""
        from datacoral.schemas.settings import APIKEY_VARIABLE, IgluSettings

        # Only the key from the settings: DATACORAL_IGLU itself was read into ``iglu``.
        environ = {APIKEY_VARIABLE: self.iglu_apikey} if self.iglu_apikey else {}
        sources = IgluSettings.from_values(self.iglu, environ=environ).sources
        return IgluSettings(
            sources=sources,
            ttl=self.iglu_ttl_seconds,
            miss_ttl=self.iglu_miss_ttl_seconds,
            failure_ttl=self.iglu_failure_ttl_seconds,
            timeout=self.iglu_timeout_seconds,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``DATACORAL_*`` variables, then ``overrides`` (None values ignored)."""
        values = cls.env_values(environ)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def env_values(cls, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The settings that ``DATACORAL_*`` variables set (an empty one sets nothing),
        parsed; ValueError naming the variable when one cannot be."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f"DATACORAL_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw)
        return values


def _parse(name: str, raw: str) -> Any:
    if name in (
        "port",
        "max_body_bytes",
        "max_json_depth",
        "max_request_line_bytes",
        "max_header_bytes",
        "max_connections",
        "retry_after_seconds",
        "shutdown_timeout_seconds",
        "workers",
        "stream_replicas",
        "metrics_port",
    ):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"DATACORAL_{name.upper()} must be an integer, got {raw!r}") from None
    if name in (
        "storage_busy_timeout_seconds",
        "header_timeout_seconds",
        "body_timeout_seconds",
        "keep_alive_timeout_seconds",
        "stream_duplicate_window_seconds",
        "publish_timeout_seconds",
        "iglu_ttl_seconds",
        "iglu_miss_ttl_seconds",
        "iglu_failure_ttl_seconds",
        "iglu_timeout_seconds",
    ):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"DATACORAL_{name.upper()} must be a number, got {raw!r}") from None
    if name == "stream":
        from datacoral.storage.jetstream_settings import parse_servers

        return parse_servers(raw)
    if name == "iglu":
        from datacoral.schemas.settings import split_iglu_variable

        return tuple(split_iglu_variable(raw))
    if name == "trusted_proxies":
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if name in ("access_log", "inspect", "admin"):
        return raw.lower() in ("1", "true", "yes", "on")
    return raw
