"""Where the JetStream stream is and how it is kept (no NATS client needed to read it).

One stream (``DATACORAL_EVENTS`` by default) holds every environment's requests,
each environment on its own subject (``datacoral.events.<environment>``), so a
consumer or ``nats stream view`` can pick one out. See :mod:`.jetstream_setup`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_STREAM = "DATACORAL_EVENTS"
DEFAULT_SUBJECT = "datacoral.events"
#: The subject token of records without an environment (not a valid environment name).
NO_ENVIRONMENT = "NONE"
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SUBJECT = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_SCHEMES = ("nats", "tls", "ws", "wss")


def parse_servers(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``nats://h1:4222,nats://h2:4222`` as a tuple of URLs; ValueError when malformed."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    servers = tuple(part.strip() for part in parts if part.strip())
    for server in servers:
        parsed = urlsplit(server)
        if parsed.scheme not in _SCHEMES or not parsed.hostname:
            raise ValueError(
                f"stream must be NATS server URLs like nats://host:4222 (comma-separated),"
                f" got {hide_secret(server)!r}"
            )
    return servers


def hide_secret(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    parsed = urlsplit(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parsed._replace(netloc=f"{user}:***@{netloc[2]}"))


@dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """Where the stream is and how it is kept."""

    servers: tuple[str, ...]
    name: str = DEFAULT_STREAM
    #: Subjects are ``<subject>.<environment>``.
    subject: str = DEFAULT_SUBJECT
    #: Servers holding each message: 1, or 3 (or 5) in a cluster.
    replicas: int = 1
    #: Seconds within which a message id seen before is dropped as a duplicate.
    duplicate_window_seconds: float = 120.0
    #: Seconds a collector waits for the stream's acknowledgement before answering 503.
    publish_timeout_seconds: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", parse_servers(self.servers))
        if not self.servers:
            raise ValueError("stream must name at least one NATS server (nats://host:4222)")
        if not _STREAM_NAME.fullmatch(self.name):
            raise ValueError(f"stream_name must be letters, digits, - or _, got {self.name!r}")
        if not _SUBJECT.fullmatch(self.subject):
            raise ValueError(f"stream_subject must be dot-separated tokens, got {self.subject!r}")
        if self.replicas not in (1, 2, 3, 4, 5):
            raise ValueError(f"stream_replicas must be 1-5, got {self.replicas}")
        if not 1 <= self.duplicate_window_seconds <= 86400:
            raise ValueError("stream_duplicate_window_seconds must be 1-86400")
        if not 0 < self.publish_timeout_seconds <= 60:
            raise ValueError("publish_timeout_seconds must be more than 0 and at most 60")

    def __repr__(self) -> str:
        servers = ",".join(hide_secret(server) for server in self.servers)
        return (
            f"StreamSettings(servers={servers!r}, name={self.name!r}, subject={self.subject!r},"
            f" replicas={self.replicas},"
            f" duplicate_window_seconds={self.duplicate_window_seconds:g},"
            f" publish_timeout_seconds={self.publish_timeout_seconds:g})"
        )

    def shown_servers(self) -> str:
        return ",".join(hide_secret(server) for server in self.servers)

    def subject_of(self, environment: str | None) -> str:
        return f"{self.subject}.{environment or NO_ENVIRONMENT}"
