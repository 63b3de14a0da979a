"""The storage interface the collector writes through, and the records it writes.

Every backend (SQLite, PostgreSQL; JetStream later) implements :class:`Storage`.
The collector builds :class:`GoodEvent` and :class:`BadRow` records, hands a
whole request's worth to :meth:`Storage.commit` and answers the request only
after that call returns: a 2xx means committed. The command line works through
:class:`AdminStorage`, the same backends' administrative side, so nothing above
this package names a backend (:func:`datacoral.storage.factory.open_storage`
picks one from ``--db``).

    StorageError                 root of storage errors
    ├── StorageUnavailable       cannot be used now (locked, unreachable, full): retry later
    ├── StorageUnusable          cannot be used as named (no such database, wrong password)
    └── AdminError               an administrative request that cannot be done as asked
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from datacoral.admin.environments import DEFAULT_VALIDATION, ValidationMode
from datacoral.admin.rate_limits import RateLimit


class StorageError(Exception):
    """Root of storage errors."""


class StorageUnavailable(StorageError):
    """Storage cannot accept writes right now (disk full, locked, I/O error).

    The collector answers 503 with ``Retry-After``; the tracker retries.
    """


class StorageUnusable(StorageError):
    """The store cannot be used as it is named: the database does not exist, the
    password is refused, the name is not a database. A person must change the
    setting; retrying will not help. The message is one line, without secrets.
    """


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the collector needs to know about an API key (never the key itself), and its
    rate limit (None: only the environment's applies)."""

    key_id: str
    environment: str
    revoked: bool
    rate_limit: RateLimit | None = None


@dataclass(frozen=True, slots=True)
class EnvironmentRecord:
    """An environment, the CORS origins it allows (exact or ``*.`` wildcard), what it
    does with the Iglu schemas of its events (``validation``), and the rate limit of all
    its keys together (None: no limit)."""

    name: str
    origins: tuple[str, ...] = ()
    validation: ValidationMode = DEFAULT_VALIDATION
    rate_limit: RateLimit | None = None


@dataclass(slots=True)
class GoodEvent:
    """One validated, enriched event: the canonical columns.

    Timestamps are integer milliseconds since the epoch (UTC). ``fingerprint``
    identifies the event's content for the duplicate rule: two events with the
    same (environment, event_id) and the same fingerprint are one event.
    """

    event_id: str
    environment: str
    fingerprint: bytes
    platform: str
    event: str  # page_view, page_ping, struct, unstruct, transaction, transaction_item
    collector_tstamp: int
    derived_tstamp: int
    app_id: str | None = None
    name_tracker: str | None = None
    v_tracker: str | None = None
    event_vendor: str | None = None
    event_name: str | None = None
    event_format: str | None = None
    event_version: str | None = None
    dvce_created_tstamp: int | None = None
    dvce_sent_tstamp: int | None = None
    true_tstamp: int | None = None
    user_id: str | None = None
    domain_userid: str | None = None
    network_userid: str | None = None
    domain_sessionid: str | None = None
    domain_sessionidx: int | None = None
    user_ipaddress: str | None = None
    useragent: str | None = None
    page_url: str | None = None
    page_title: str | None = None
    page_referrer: str | None = None
    se_category: str | None = None
    se_action: str | None = None
    se_label: str | None = None
    se_property: str | None = None
    se_value: float | None = None
    tr_orderid: str | None = None
    tr_affiliation: str | None = None
    tr_total: float | None = None
    tr_tax: float | None = None
    tr_shipping: float | None = None
    tr_city: str | None = None
    tr_state: str | None = None
    tr_country: str | None = None
    tr_currency: str | None = None
    ti_orderid: str | None = None
    ti_sku: str | None = None
    ti_name: str | None = None
    ti_category: str | None = None
    ti_price: float | None = None
    ti_quantity: int | None = None
    ti_currency: str | None = None
    unstruct_event: str | None = None  # the decoded inner {"schema":..,"data":..} as JSON text
    contexts: str | None = None  # the decoded list of contexts as JSON text
    # True when the environment validates and every self-describing entity (if any) passed
    # its Iglu schema; False with validation off, or lenient and a schema not resolved.
    schema_validated: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # other tracker fields, kept as sent


@dataclass(slots=True)
class BadRow:
    """Input that could not become a good event, kept with a precise reason."""

    reason: str  # e.g. "eid: not a UUID: 'abc'"
    payload: str  # the raw event as JSON, or the first KiB of a raw body
    received_tstamp: int
    environment: str | None = None
    event_id: str | None = None
    kind: str = "tracker_protocol_violation"  # or size_violation, duplicate_conflict, ...


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What one :meth:`Storage.commit` did."""

    stored: int
    duplicates: int  # same (environment, event_id), same fingerprint: not stored again
    conflicts: int  # same (environment, event_id), other content: stored as bad rows
    bad_rows: int


class Storage(Protocol):
    """One storage backend. Opened and closed in the server's lifespan only."""

    def open(self) -> None:
        """Create or migrate the schema and start any writer; idempotent."""

    def close(self) -> None:
        """Commit what is pending and release the database."""

    def lookup_key(self, key_hash: bytes) -> KeyRecord | None:
        """The key whose SHA-256 digest is ``key_hash``, or None. Fast; may block briefly."""

    def environments(self) -> list[EnvironmentRecord]:
        """All environments with their allowed origins."""

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        """Durably store one request's events; returns only after the commit.

        Concurrent calls share commits (group commit). Raises
        :class:`StorageUnavailable` when nothing could be committed.
        """

    def is_ready(self) -> bool:
        """True when a write would be accepted now."""


# --- Administration and inspection (the CLI's view of a backend) -------------


class AdminError(StorageError):
    """An administrative request that cannot be done as asked.

    For example: the environment already exists, there is no such key, or the
    environment still has keys or events. The message is one line meant for a
    person.
    """


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about an API key: never the key, only its first characters.

    Timestamps are integer milliseconds since the epoch (UTC).
    """

    key_id: str
    environment: str
    label: str | None
    prefix: str
    created_at: int
    last_used_at: int | None = None
    revoked_at: int | None = None
    rate_limit: RateLimit | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class EventCounts:
    """How many events one environment holds (``environment`` None: rows without one)."""

    environment: str | None
    good: int
    bad: int
    duplicates: int  # resent events recognised and not stored again
    unvalidated: int = 0  # good events stored with schema_validated false


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A good event as read back, with its position for ``events tail --follow``."""

    position: int
    event: GoodEvent


@dataclass(frozen=True, slots=True)
class StoredBadRow:
    """A bad row as read back, with its position for ``events tail --bad --follow``."""

    position: int
    row: BadRow


@dataclass(frozen=True, slots=True)
class AdminTokenRecord:
    """What the endpoint needs to know about an admin token (never the token itself)."""

    token_id: str
    environment: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class AdminTokenInfo:
    """What may be shown about an admin token: never the token, only its first characters.

    Timestamps are integer milliseconds since the epoch (UTC).
    """

    token_id: str
    environment: str
    label: str | None
    prefix: str
    created_at: int
    revoked_at: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


#: The most events one :class:`EventQuery` may ask for.
MAX_QUERY_LIMIT = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class EventQuery:
    """Which good events of one environment to read, newest first; every condition given
    must hold. ``schema`` is (event_vendor, event_name, event_format, event_version);
    the event must carry a context of each of ``context_schemas`` (Iglu URIs) and have
    one of ``event_ids`` when given; ``since`` (inclusive) and ``until`` (exclusive) bound
    ``collector_tstamp`` in milliseconds; at most ``limit`` events are read."""

    event: str | None = None
    schema: tuple[str, str, str, str] | None = None
    context_schemas: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    app_id: str | None = None
    since: int | None = None
    until: int | None = None
    limit: int = MAX_QUERY_LIMIT

    def __post_init__(self) -> None:
        if not 0 <= self.limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"limit must be 0-{MAX_QUERY_LIMIT}, got {self.limit}")


@runtime_checkable
class InspectionStorage(Protocol):
    """What the endpoint's inspection API (``/micro/*``) reads and deletes, one environment
    at a time, authenticated by admin tokens. The reads never wait for the collector's
    own look-ups, nor they for them, and each returns at most its ``limit``."""

    def lookup_admin_token(self, token_hash: bytes) -> AdminTokenRecord | None:
        """The admin token whose SHA-256 digest is ``token_hash``, or None."""

    def environment_counts(self, environment: str) -> EventCounts:
        """The good, bad, duplicate and unvalidated counts of one environment."""

    def query_events(self, environment: str, query: EventQuery) -> list[StoredEvent]:
        """The good events of ``environment`` that ``query`` picks, newest first."""

    def recent_bad_rows(self, environment: str, limit: int) -> list[StoredBadRow]:
        """The ``limit`` newest bad rows of ``environment``, newest first."""

    def delete_events(self, environment: str) -> None:
        """Delete the environment's good events, bad rows and duplicate count, keeping
        the environment, its keys, tokens and origins (a test fixture's reset). Positions
        may then start again lower: a follower starts over."""


class AdminStorage(Storage, InspectionStorage, Protocol):
    """A backend as the command line uses it: environments, keys, admin tokens and stored
    events.

    These methods work without :meth:`Storage.open` (a command opens no writer);
    :meth:`Storage.close` releases what they used. Timestamps are integer
    milliseconds since the epoch; positions only grow within one environment.
    """

    def exists(self) -> bool:
        """Whether the store was created (the file, or the schema in the database)."""

    def get_environment(self, name: str) -> EnvironmentRecord | None: ...

    def create_environment(
        self,
        name: str,
        origins: Sequence[str] = (),
        validation: ValidationMode = DEFAULT_VALIDATION,
    ) -> EnvironmentRecord:
        """A new environment; ValueError for a bad name or origin, AdminError if it exists."""

    def set_validation(self, name: str, validation: ValidationMode) -> EnvironmentRecord:
        """Change what environment ``name`` does with schemas; running collectors follow
        within a second."""

    def set_environment_rate_limit(self, name: str, limit: RateLimit | None) -> EnvironmentRecord:
        """Set (None: remove) the rate limit of all of environment ``name``'s keys together;
        running collectors follow within a second."""

    def delete_environment(self, name: str, *, force: bool = False) -> None:
        """Remove an environment; refused while it has keys or events unless ``force``."""

    def add_origin(self, environment: str, origin: str) -> EnvironmentRecord:
        """Allow a browser origin (ValueError when invalid), stored normalised."""

    def remove_origin(self, environment: str, origin: str) -> EnvironmentRecord: ...

    def create_key(
        self, environment: str, label: str | None = None, *, rate_limit: RateLimit | None = None
    ) -> tuple[KeyInfo, str]:
        """A new key (with ``rate_limit``, if given): its info and the plaintext, returned
        only here and stored nowhere."""

    def list_keys(self, environment: str | None = None) -> list[KeyInfo]: ...

    def revoke_key(self, key_id: str) -> KeyInfo:
        """Revoke at once; revoking twice keeps the first revocation time."""

    def set_key_rate_limit(self, key_id: str, limit: RateLimit | None) -> KeyInfo:
        """Set (None: remove) the rate limit of key ``key_id``, within its environment's;
        running collectors follow within a second."""

    def count_events(self, environment: str | None = None) -> list[EventCounts]: ...

    def latest_events(self, environment: str, limit: int = 10) -> list[StoredEvent]: ...

    def events_after(
        self, environment: str, position: int, limit: int = 1000
    ) -> list[StoredEvent]: ...

    def latest_bad_rows(self, environment: str, limit: int = 10) -> list[StoredBadRow]: ...

    def bad_rows_after(
        self, environment: str, position: int, limit: int = 1000
    ) -> list[StoredBadRow]: ...

    def find_events(self, event_id: str) -> list[StoredEvent]:
        """Every stored good event with this id (one per environment at most)."""

    def iter_events(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        page_size: int = 1000,
    ) -> Generator[list[StoredEvent], None, None]:
        """Every good event of ``environment`` whose ``collector_tstamp`` is in [since,
        until) (None: unbounded), in storage order, ``page_size`` at a time (``events
        export``). Memory stays that of one page; the events are read from one snapshot
        of the store on a connection of their own, which closing the iterator (or
        reading it to the end) releases. AdminError at once for an unknown environment.
        """

    def iter_bad_rows(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        page_size: int = 1000,
    ) -> Generator[list[StoredBadRow], None, None]:
        """Every bad row of ``environment`` whose ``received_tstamp`` is in [since, until),
        as :meth:`iter_events` reads good events."""

    def count_in_range(
        self,
        environment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        bad: bool = False,
    ) -> int:
        """How many rows :meth:`iter_events` (or, ``bad``, :meth:`iter_bad_rows`) would
        read now; may read every row of the environment to count them."""

    def create_admin_token(
        self, environment: str, label: str | None = None
    ) -> tuple[AdminTokenInfo, str]:
        """A new admin token: its info and the plaintext, returned only here and stored
        nowhere."""

    def list_admin_tokens(self, environment: str | None = None) -> list[AdminTokenInfo]: ...

    def revoke_admin_token(self, token_id: str) -> AdminTokenInfo:
        """Revoke at once (running endpoints refuse it within a second); revoking twice
        keeps the first revocation time."""
