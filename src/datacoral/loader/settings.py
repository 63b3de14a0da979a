"""How ``datacoral load`` runs: one typed value object, read once at start.

As for ``datacoral serve`` (:mod:`datacoral.config`), every field can come from a
``DATACORAL_<NAME>`` environment variable or the ``[load]`` table of a config file, and
options win. The stream's fields have the names ``serve`` uses, so one environment
configures both roles.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from datacoral.logs import LOG_FORMATS
from datacoral.storage.jetstream_settings import (
    DEFAULT_STREAM,
    DEFAULT_SUBJECT,
    StreamSettings,
    parse_servers,
)
from datacoral.storage.target import DatabaseURL, Target, parse_target


@dataclass(frozen=True, kw_only=True)
class LoaderSettings:
    """What a loader reads, where it writes, and in which steps."""

    #: The PostgreSQL database the events go to (``postgresql://...``).
    db: Target
    #: NATS servers of the stream (``nats://h1:4222,nats://h2:4222``).
    stream: tuple[str, ...] = field(default=(), repr=False)  # URLs may hold a password
    stream_name: str = DEFAULT_STREAM
    stream_subject: str = DEFAULT_SUBJECT
    #: Used only to create the stream when no collector has yet.
    stream_replicas: int = 1
    stream_duplicate_window_seconds: float = 120.0
    #: The durable consumer every loader shares (each message goes to one of them).
    load_consumer: str = "datacoral-loader"
    #: Most messages (requests) written in one transaction.
    load_batch_size: int = 500
    #: Seconds a fetch waits for its batch to fill before writing what came.
    load_batch_wait_seconds: float = 0.5
    #: Seconds a message may go unacknowledged before the stream delivers it again
    #: (to any loader): after a loader died, or while its commit keeps failing.
    load_ack_wait_seconds: float = 30.0
    #: Messages delivered and not yet acknowledged, across all loaders.
    load_max_ack_pending: int = 20_000
    #: Seconds between two progress lines (loaded, per fetch, lag) in the log.
    load_report_interval_seconds: float = 10.0
    #: Seconds the batch in hand gets to finish after SIGTERM / SIGINT; then it is
    #: left to the stream (delivered again after the ack wait) and the loader exits 0.
    #: A loader still running 10 s later (its event loop blocked) exits with status 1.
    load_stop_timeout_seconds: float = 15.0
    storage_busy_timeout_seconds: float = 2.0
    #: The port of the Prometheus listener (``GET /metrics``); 0 picks a free one. None:
    #: no metrics (see :mod:`datacoral.loader.metrics`).
    metrics_port: int | None = None
    #: The interface the Prometheus listener binds: loopback unless said otherwise.
    metrics_host: str = "127.0.0.1"
    log_level: str = "info"
    #: ``text`` (one line per record) or ``json`` (one JSON object per line).
    log_format: str = "text"

    def __post_init__(self) -> None:
        if not isinstance(self.db, DatabaseURL):
            db = parse_target(self.db)
            if not isinstance(db, DatabaseURL):
                raise ValueError(
                    "db must be a PostgreSQL URL (postgresql://...): the loader writes there"
                )
            object.__setattr__(self, "db", db)
        self.stream_settings()  # raises ValueError for a malformed stream setting
        if not 1 <= self.load_batch_size <= 10_000:
            raise ValueError("load_batch_size must be 1-10000")
        if not 0 < self.load_batch_wait_seconds <= 60:
            raise ValueError("load_batch_wait_seconds must be more than 0 and at most 60")
        if not 1 <= self.load_ack_wait_seconds <= 3600:
            raise ValueError("load_ack_wait_seconds must be 1-3600")
        if self.load_max_ack_pending < self.load_batch_size:
            raise ValueError("load_max_ack_pending must be at least load_batch_size")
        if not 0 < self.load_report_interval_seconds <= 86400:
            raise ValueError("load_report_interval_seconds must be more than 0")
        if not 0 < self.load_stop_timeout_seconds <= 3600:
            raise ValueError("load_stop_timeout_seconds must be more than 0 and at most 3600")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be 0-65535, got {self.metrics_port}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(
                f"log_format must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}"
            )

    def stream_settings(self) -> StreamSettings:
        return StreamSettings(
            servers=self.stream,
            name=self.stream_name,
            subject=self.stream_subject,
            replicas=self.stream_replicas,
            duplicate_window_seconds=self.stream_duplicate_window_seconds,
        )

    @property
    def database(self) -> DatabaseURL:
        assert isinstance(self.db, DatabaseURL)
        return self.db

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LoaderSettings:
        """Settings from ``DATACORAL_*`` variables, then ``overrides`` (None values ignored)."""
        values = cls.env_values(environ)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "db" not in values:
            raise ValueError("db must be given: --db postgresql://... or DATACORAL_DB")
        return cls(**values)

    @classmethod
    def env_values(cls, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The settings that ``DATACORAL_*`` variables set (an empty one sets nothing),
        parsed; ValueError naming the variable when one cannot be."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"DATACORAL_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, str(f.type), raw)
        return values


def _parse(name: str, kind: str, raw: str) -> Any:
    variable = f"DATACORAL_{name.upper()}"
    if name == "stream":
        return parse_servers(raw)
    if kind in ("int", "int | None"):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{variable} must be an integer, got {raw!r}") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{variable} must be a number, got {raw!r}") from None
    return raw
