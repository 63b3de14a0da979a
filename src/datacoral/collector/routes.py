"""The endpoint's routes (PROTOCOL.md §2 "Routes") and how a path finds one."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Endpoint(enum.Enum):
    """What a route does."""

    EVENTS = "events"  # POST tp2: a batch of events in a payload_data envelope
    PIXEL = "pixel"  # GET/HEAD /i: one event in the query string, answered with a GIF
    HEALTH = "health"
    READY = "ready"


@dataclass(frozen=True, slots=True)
class Route:
    """An endpoint and the methods it answers."""

    endpoint: Endpoint
    methods: frozenset[str]

    @property
    def allow(self) -> bytes:
        """The ``Allow`` header of a 405 answer."""
        return ", ".join(sorted(self.methods)).encode()


_EVENTS = Route(Endpoint.EVENTS, frozenset(("POST",)))
_PIXEL = Route(Endpoint.PIXEL, frozenset(("GET", "HEAD")))

#: Tracking routes, also reachable under ``/k/{api_key}``.
TRACKING_ROUTES: dict[str, Route] = {
    "/com.snowplowanalytics.snowplow/tp2": _EVENTS,
    "/tp2": _EVENTS,
    "/i": _PIXEL,
    "/ice.png": _PIXEL,
}
ROUTES: dict[str, Route] = {
    **TRACKING_ROUTES,
    "/health": Route(Endpoint.HEALTH, frozenset(("GET", "HEAD"))),
    "/ready": Route(Endpoint.READY, frozenset(("GET", "HEAD"))),
}
KEY_PREFIX = "/k/"


def match(path: str) -> tuple[Route, str | None] | None:
    """The route for ``path`` and the API key its ``/k/{key}/`` prefix carries, or None."""
    route = ROUTES.get(path)
    if route is not None:
        return route, None
    if path.startswith(KEY_PREFIX):
        key, slash, rest = path[len(KEY_PREFIX) :].partition("/")
        route = TRACKING_ROUTES.get("/" + rest)
        if key and slash and route is not None:
            return route, key
    return None


def path_key(path: str) -> str | None:
    """The key of a ``/k/{key}/...`` prefix, whatever follows it (preflights go anywhere)."""
    if path.startswith(KEY_PREFIX):
        key, slash, _ = path[len(KEY_PREFIX) :].partition("/")
        if key and slash:
            return key
    return None


def redact(path: str) -> str:
    """``path`` with the key of a ``/k/{key}/`` prefix hidden, fit for logs."""
    if path.startswith(KEY_PREFIX):
        _, slash, rest = path[len(KEY_PREFIX) :].partition("/")
        return f"{KEY_PREFIX}***{slash}{rest}"
    return path
