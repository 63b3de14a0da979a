"""Sending requests: the only module that talks HTTP, all through one requests.Session.

Callers may pass their own ``session`` (adapters, proxies, CA settings and their
own test mocks keep working). Without one, the emitter gets a private session
that keeps one pooled keep-alive connection and accepts no cookies, so server-side
events never share a network user id.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from snowplow_tracker.constants import PAYLOAD_DATA_SCHEMA
from snowplow_tracker.endpoint import Endpoint
from snowplow_tracker.typing import PayloadDict

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0
_ENVELOPE_HEAD = ('{"schema":"' + PAYLOAD_DATA_SCHEMA + '","data":[').encode()
_ENVELOPE_TAIL = b"]}"
_POST_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one request: ``status`` is -1 when no HTTP answer came."""

    status: int
    retry_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def private_session(pool_size: int = 1) -> requests.Session:
    """A keep-alive session that never stores cookies."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def encode_event(event: PayloadDict) -> bytes:
    """One event as compact UTF-8 JSON, as it appears inside a POST body."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def post_body(encoded_events: list[bytes]) -> bytes:
    """The payload_data envelope around already-encoded events."""
    return _ENVELOPE_HEAD + b",".join(encoded_events) + _ENVELOPE_TAIL


class Transport:
    """Sends POST batches and GET events to one endpoint with fixed headers and timeouts."""

    def __init__(
        self,
        endpoint: Endpoint,
        session: requests.Session,
        timeout: float | tuple[float, float],
        headers: Mapping[str, str],
    ) -> None:
        self.endpoint = endpoint
        self.session = session
        self.timeout = timeout
        self.headers = dict(headers)

    def post(self, body: bytes) -> SendResult:
        headers = {**self.headers, "Content-Type": _POST_CONTENT_TYPE}
        try:
            response = self.session.post(
                self.endpoint.post_url, data=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            return SendResult(-1, error=_describe(exc))
        return _result(response)

    def get(self, event: Mapping[str, str]) -> SendResult:
        try:
            response = self.session.get(
                self.endpoint.get_url, params=event, headers=self.headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            return SendResult(-1, error=_describe(exc))
        return _result(response)


def _result(response: requests.Response) -> SendResult:
    status = response.status_code
    # Read the (small) body so the connection goes back to the pool.
    _ = response.content
    error = None if 200 <= status < 300 else f"HTTP {status}: {response.text[:200]!r}"
    return SendResult(status, parse_retry_after(response.headers.get("Retry-After")), error)


def _describe(exc: requests.RequestException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), 3600.0)
