"""How much a connection may cost ``datacoral serve``, and how many fit the open-file limit.

:class:`ConnectionLimits` is read once from :class:`~datacoral.config.Settings` at
start, and enforced by :mod:`datacoral.collector.front_door`. Every connection is an
open file, so ``max_connections`` must leave room under ``ulimit -n`` for the
process's own files and for the connections being turned away; left unset it is
derived from that limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from datacoral.config import Settings

#: Used when ``max_connections`` is not set and the open-file limit leaves room for it.
DEFAULT_MAX_CONNECTIONS = 1000
#: Open files kept for everything but connections: std streams, database files, the
#: listening socket, the event loop's own descriptors, log files.
RESERVED_FILES = 64
#: Connections past the bound that may be open at once while they are turned away
#: (503) or replaced; beyond these a new connection is closed without an answer.
SPARE_CONNECTIONS = 64


def open_files_limit() -> int | None:
    """The soft limit on open files (``ulimit -n``); None when unknown or unlimited."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


@dataclass(frozen=True, kw_only=True)
class ConnectionLimits:
    """What a connection may cost the server: bytes before a request starts, time, count."""

    max_request_line_bytes: int
    max_header_bytes: int
    max_body_bytes: int
    header_timeout: float
    body_timeout: float
    keep_alive_timeout: float
    max_connections: int
    retry_after_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings, *, open_files: int | None) -> ConnectionLimits:
        """The limits of ``settings``; ``max_connections`` must fit ``open_files``.

        Unset, ``max_connections`` is :data:`DEFAULT_MAX_CONNECTIONS` or what the
        open-file limit leaves room for, whichever is lower. :class:`ValueError`
        when a connection bound cannot fit the limit.
        """
        kept = RESERVED_FILES + SPARE_CONNECTIONS
        room = None if open_files is None else open_files - kept
        wanted = settings.max_connections
        if room is not None and room < (wanted or 1):
            why = (
                f"the open-file limit (ulimit -n {open_files}) keeps {RESERVED_FILES} files for"
                f" the process and {SPARE_CONNECTIONS} for turning connections away"
            )
            if wanted is None:
                raise ValueError(f"{why}, which leaves none for connections: raise it")
            raise ValueError(
                f"max_connections {wanted} does not fit: {why}, so at most {max(room, 0)}"
                f" connections fit; raise the limit to at least {wanted + kept}"
                " or lower max_connections"
            )
        if wanted is None:
            wanted = DEFAULT_MAX_CONNECTIONS if room is None else min(DEFAULT_MAX_CONNECTIONS, room)
        return cls(
            max_request_line_bytes=settings.max_request_line_bytes,
            max_header_bytes=settings.max_header_bytes,
            max_body_bytes=settings.max_body_bytes,
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            keep_alive_timeout=settings.keep_alive_timeout_seconds,
            max_connections=wanted,
            retry_after_seconds=settings.retry_after_seconds,
        )
