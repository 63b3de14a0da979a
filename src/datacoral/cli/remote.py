"""``datacoral --server URL --token TOKEN ...``: the commands' store, over the admin API.

:class:`RemoteStore` has the methods of :class:`~datacoral.storage.base.AdminStorage`
that the commands call, each one request to an endpoint's admin API (``serve
--admin``), and gives back the same records, so a command prints what it would print
with ``--db`` on that server's machine. The server's refusals become the exceptions
storage raises, which the CLI already turns into messages and exit codes:

==========================  ==================================  =========
answer                      raised                              exit code
==========================  ==================================  =========
400, 413                    ``ValueError`` (the detail)         1
401 (token refused)         ``StorageUnusable``                 1
403, 404, 409               ``AdminError`` (the detail)         1
503, other 5xx, no answer   ``StorageUnavailable``              3
an export cut short         ``StorageUnavailable``              3
==========================  ==================================  =========

``events export`` streams: :meth:`RemoteStore.iter_events` sends one request, whose
answer the server reads from one snapshot of its store, a page at a time, as
``--db`` does (:mod:`datacoral.adminapi.streams`), and the rows come back as the
store holds them, so every format's file is the one ``--db`` writes on the server's
machine. Two differences: the snapshot is taken when the request arrives rather
than when the first page is asked for (the server reads a page or two ahead of the
client, no more), and the count the progress bar shows is a request of its own, of
another snapshot (as under ``--db``, where it is a query of its own).

The token goes only in ``Authorization``; no message repeats it. API keys and admin
tokens looked up (``key revoke dck_...``) are sent as their SHA-256 digest, never
as themselves.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import requests

from datacoral import __version__
from datacoral.admin.environments import DEFAULT_VALIDATION, ValidationMode
from datacoral.admin.rate_limits import RateLimit
from datacoral.cli import remote_records as records
from datacoral.cli import remote_stream
from datacoral.cli.remote_stream import EXPORT_TIMEOUT, export_query
from datacoral.storage.base import (
    AdminError,
    AdminTokenInfo,
    AdminTokenRecord,
    BadRow,
    CommitResult,
    EnvironmentRecord,
    EventCounts,
    EventQuery,
    GoodEvent,
    KeyInfo,
    KeyRecord,
    StorageUnavailable,
    StorageUnusable,
    StoredBadRow,
    StoredEvent,
)

#: Seconds to connect, and to wait for an answer.
TIMEOUT = (5.0, 60.0)
_API = "/admin/v1"
#: How the server's 404 for a path it does not serve begins (an older server).
_NO_PATH = "no such admin API path"


def parse_server(url: str) -> str:
    """``--server``: an ``http(s)://host[:port]`` URL, without a trailing slash;
    ValueError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--server must be an http:// or https:// URL, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("--server takes scheme, host and port only (no user, query or #)")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class RemoteStore:
    """The admin side of a store, through an endpoint's admin API at ``server``."""

    def __init__(self, server: str, token: str, *, session: requests.Session | None = None) -> None:
        self.server = parse_server(server)
        self._session = session or requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._session.headers["User-Agent"] = f"datacoral-cli/{__version__}"

    def __repr__(self) -> str:
        return f"RemoteStore({self.server!r})"

    # --- the store's life ----------------------------------------------------------

    def exists(self) -> bool:
        """A serving endpoint has a store: nothing to ask."""
        return True

    def open(self) -> None:
        """Nothing to open: each call is one request."""

    def close(self) -> None:
        self._session.close()

    def is_ready(self) -> bool:
        return True

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        _not_remote("storing events")

    # --- environments ---------------------------------------------------------------

    def environments(self) -> list[EnvironmentRecord]:
        return [records.environment(found) for found in self._call("GET", "/environments")]

    def get_environment(self, name: str) -> EnvironmentRecord | None:
        try:
            return records.environment(self._call("GET", f"/environments/{_segment(name)}"))
        except _Missing:
            return None

    def create_environment(
        self,
        name: str,
        origins: Sequence[str] = (),
        validation: ValidationMode = DEFAULT_VALIDATION,
    ) -> EnvironmentRecord:
        body = {"name": name, "origins": list(origins), "validation": validation.value}
        return records.environment(self._call("POST", "/environments", body=body))

    def set_validation(self, name: str, validation: ValidationMode) -> EnvironmentRecord:
        path = f"/environments/{_segment(name)}/validation"
        return records.environment(self._call("PUT", path, body={"validation": validation.value}))

    def set_environment_rate_limit(self, name: str, limit: RateLimit | None) -> EnvironmentRecord:
        path = f"/environments/{_segment(name)}/rate_limit"
        return records.environment(
            self._call("PUT", path, body={"rate_limit": records.limit_body(limit)})
        )

    def delete_environment(self, name: str, *, force: bool = False) -> None:
        params = {"force": "true" if force else "false"}
        self._call("DELETE", f"/environments/{_segment(name)}", params=params)

    def add_origin(self, environment: str, origin: str) -> EnvironmentRecord:
        path = f"/environments/{_segment(environment)}/origins"
        return records.environment(self._call("POST", path, body={"origin": origin}))

    def remove_origin(self, environment: str, origin: str) -> EnvironmentRecord:
        path = f"/environments/{_segment(environment)}/origins"
        return records.environment(self._call("DELETE", path, params={"origin": origin}))

    # --- API keys -------------------------------------------------------------------

    def create_key(
        self, environment: str, label: str | None = None, *, rate_limit: RateLimit | None = None
    ) -> tuple[KeyInfo, str]:
        body = {
            "environment": environment,
            "label": label,
            "rate_limit": records.limit_body(rate_limit),
        }
        found = self._call("POST", "/keys", body=body)
        return records.key(found), str(found["key"])

    def list_keys(self, environment: str | None = None) -> list[KeyInfo]:
        params = {} if environment is None else {"environment": environment}
        return [records.key(found) for found in self._call("GET", "/keys", params=params)]

    def revoke_key(self, key_id: str) -> KeyInfo:
        return records.key(self._call("POST", f"/keys/{_segment(key_id)}/revoke"))

    def set_key_rate_limit(self, key_id: str, limit: RateLimit | None) -> KeyInfo:
        path = f"/keys/{_segment(key_id)}/rate_limit"
        return records.key(self._call("PUT", path, body={"rate_limit": records.limit_body(limit)}))

    def lookup_key(self, key_hash: bytes) -> KeyRecord | None:
        try:
            found = self._call("POST", "/keys/lookup", body={"key_sha256": key_hash.hex()})
        except _Missing:
            return None
        return KeyRecord(found["key_id"], found["environment"], bool(found["revoked"]))

    # --- admin tokens ---------------------------------------------------------------

    def create_admin_token(
        self, environment: str, label: str | None = None
    ) -> tuple[AdminTokenInfo, str]:
        found = self._call("POST", "/tokens", body={"environment": environment, "label": label})
        return records.token(found), str(found["token"])

    def list_admin_tokens(self, environment: str | None = None) -> list[AdminTokenInfo]:
        params = {} if environment is None else {"environment": environment}
        return [records.token(found) for found in self._call("GET", "/tokens", params=params)]

    def revoke_admin_token(self, token_id: str) -> AdminTokenInfo:
        return records.token(self._call("POST", f"/tokens/{_segment(token_id)}/revoke"))

    def lookup_admin_token(self, token_hash: bytes) -> AdminTokenRecord | None:
        try:
            found = self._call("POST", "/tokens/lookup", body={"token_sha256": token_hash.hex()})
        except _Missing:
            return None
        return AdminTokenRecord(found["token_id"], found["environment"], bool(found["revoked"]))

    # --- stored events --------------------------------------------------------------

    def count_events(self, environment: str | None = None) -> list[EventCounts]:
        params = {} if environment is None else {"environment": environment}
        return [EventCounts(**found) for found in self._call("GET", "/counts", params=params)]

    def latest_events(self, environment: str, limit: int = 10) -> list[StoredEvent]:
        path = f"/environments/{_segment(environment)}/events"
        return [records.event(found) for found in self._call("GET", path, params={"limit": limit})]

    def events_after(self, environment: str, position: int, limit: int = 1000) -> list[StoredEvent]:
        path = f"/environments/{_segment(environment)}/events"
        params = {"after": position, "limit": limit}
        return [records.event(found) for found in self._call("GET", path, params=params)]

    def latest_bad_rows(self, environment: str, limit: int = 10) -> list[StoredBadRow]:
        path = f"/environments/{_segment(environment)}/bad_rows"
        return [
            records.bad_row(found) for found in self._call("GET", path, params={"limit": limit})
        ]

    def bad_rows_after(
        self, environment: str, position: int, limit: int = 1000
    ) -> list[StoredBadRow]:
        path = f"/environments/{_segment(environment)}/bad_rows"
        params = {"after": position, "limit": limit}
        return [records.bad_row(found) for found in self._call("GET", path, params=params)]

    def find_events(self, event_id: str) -> list[StoredEvent]:
        return [
            records.event(found) for found in self._call("GET", f"/events/{_segment(event_id)}")
        ]

    # --- exports ---------------------------------------------------------------------

    def iter_events(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        page_size: int = 1000,
    ) -> Generator[list[StoredEvent], None, None]:
        """Good events stamped in [since, until), in pages, streamed from one snapshot of
        the server's store (see the module's docstring); AdminError at once for an
        environment that does not exist or that the token does not cover. Close the
        iterator (or exhaust it) to end the request."""
        path = f"/environments/{_segment(environment)}/events/export"
        response = self._stream(path, export_query(since, until, page_size=page_size))
        return remote_stream.pages(response, page_size, records.exported_event, self.server)

    def iter_bad_rows(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        page_size: int = 1000,
    ) -> Generator[list[StoredBadRow], None, None]:
        """Bad rows received in [since, until), as :meth:`iter_events` streams events."""
        path = f"/environments/{_segment(environment)}/bad_rows/export"
        response = self._stream(path, export_query(since, until, page_size=page_size))
        return remote_stream.pages(response, page_size, records.exported_bad_row, self.server)

    def count_in_range(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        bad: bool = False,
    ) -> int:
        table = "bad_rows" if bad else "events"
        path = f"/environments/{_segment(environment)}/{table}/count"
        found = self._call("GET", path, params=export_query(since, until), timeout=EXPORT_TIMEOUT)
        return int(found["count"])

    # --- what the admin API does not offer ------------------------------------------

    def environment_counts(self, environment: str) -> EventCounts:
        [counts] = self.count_events(environment)
        return counts

    def query_events(self, environment: str, query: EventQuery) -> list[StoredEvent]:
        _not_remote("querying events (the inspection API, /micro)")

    def recent_bad_rows(self, environment: str, limit: int) -> list[StoredBadRow]:
        return self.latest_bad_rows(environment, limit)[::-1]

    def delete_events(self, environment: str) -> None:
        _not_remote("deleting events (the inspection API, /micro/reset)")

    # --- one request ----------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> Any:
        response = self._send(method, path, params=params, body=body, timeout=timeout)
        if response.status_code < 300:
            return response.json() if response.content else None
        raise self._refusal(response)

    def _stream(self, path: str, params: dict[str, Any]) -> requests.Response:
        """The open answer of a streaming GET (200, its body not read yet); the refusal
        as :meth:`_call` raises it otherwise."""
        response = self._send("GET", path, params=params, timeout=EXPORT_TIMEOUT, stream=True)
        if response.status_code == 200:
            return response
        try:
            detail = _detail(response)
            error = self._refusal(response)
            if response.status_code == 404 and detail is not None and detail.startswith(_NO_PATH):
                error = StorageUnusable(
                    f"the server {self.server} does not serve exports (`events export` over"
                    " --server): it runs an older datacoral; upgrade it, or export with --db"
                )
        finally:
            response.close()
        raise error

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None = None,
        timeout: tuple[float, float],
        stream: bool = False,
    ) -> requests.Response:
        url = f"{self.server}{_API}{path}"
        try:
            return self._session.request(
                method, url, params=params, json=body, timeout=timeout, stream=stream
            )
        except requests.RequestException as exc:
            reason = f"cannot reach the server {self.server}: {_why(exc)}"
            raise StorageUnavailable(reason) from None

    def _refusal(self, response: requests.Response) -> Exception:
        status = response.status_code
        detail = _detail(response)
        if detail is None:
            if status == 404:
                return StorageUnusable(
                    f"the server {self.server} serves no admin API: start it with"
                    " `datacoral serve --admin` (or DATACORAL_ADMIN=1)"
                )
            return StorageUnavailable(f"the server {self.server} answered {status}")
        if status == 401:
            return StorageUnusable(f"the server {self.server} refused the admin token: {detail}")
        if status == 404:
            return _Missing(detail)
        if status in (403, 409):
            return AdminError(detail)
        if status in (400, 413):
            return ValueError(detail)
        return StorageUnavailable(f"the server {self.server} answered {status}: {detail}")


class _Missing(AdminError):
    """404: no such environment, key or token (a look-up answers None instead)."""


def _not_remote(what: str) -> NoReturn:
    raise StorageUnusable(f"{what} is not available over --server: run it with --db")


def _detail(response: requests.Response) -> str | None:
    """The ``detail`` of an admin API error, or None when the answer is not one."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        found = response.json()
    except ValueError:
        return None
    if isinstance(found, dict) and isinstance(found.get("detail"), str):
        return str(found["detail"])
    return None


def _why(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "its TLS certificate is not trusted (REQUESTS_CA_BUNDLE names a CA bundle)"
    return "connection refused or failed"


def _segment(value: str) -> str:
    """One path segment: ``/`` and everything else outside the unreserved set escaped."""
    return quote(value, safe="")
