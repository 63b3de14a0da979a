"""Versioned schema of the PostgreSQL store.

The tables live in the connection's current schema (the first of its
``search_path``: ``public`` unless the URL says ``?options=-csearch_path%3D...``).
Applied versions are rows of ``datacoral_migrations``. Each migration is SQL
that runs once and is never edited after release: a schema change is a new
entry appended to :data:`MIGRATIONS`. Migrating runs in one transaction under
an advisory lock, so collectors starting together on a new database apply each
migration once and the others wait, then find nothing to do.

The tables and columns are the SQLite store's (Snowplow atomic-event names) in
PostgreSQL's types: ``event_id uuid``, timestamps ``timestamptz``, the
self-describing event, contexts and other fields ``jsonb``. ``id`` columns order
rows by arrival (SQLite's rowid). A change to environments, origins or keys
bumps ``metadata_version`` and sends a notification, which every collector
listens for (:mod:`.postgres_metadata`); key last-used times do not.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from datacoral.admin.environments import DEFAULT_ENVIRONMENTS
from datacoral.storage.base import StorageError

#: The channel collectors LISTEN on; the payload is the schema that changed.
METADATA_CHANNEL = "datacoral_metadata"

_MIGRATION_1 = f"""
CREATE TABLE environments (
    id bigint GENERATED ALWAYS AS IDENTITY,
    name text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE environment_origins (
    environment text NOT NULL,
    origin text NOT NULL,
    PRIMARY KEY (environment, origin)
);
CREATE TABLE api_keys (
    key_id text PRIMARY KEY,
    key_hash bytea NOT NULL UNIQUE,
    environment text NOT NULL,
    label text,
    prefix text NOT NULL,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE TABLE good_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL,
    environment text NOT NULL,
    fingerprint bytea NOT NULL,
    platform text NOT NULL,
    event text NOT NULL,
    collector_tstamp timestamptz NOT NULL,
    derived_tstamp timestamptz NOT NULL,
    app_id text,
    name_tracker text,
    v_tracker text,
    event_vendor text,
    event_name text,
    event_format text,
    event_version text,
    dvce_created_tstamp timestamptz,
    dvce_sent_tstamp timestamptz,
    true_tstamp timestamptz,
    user_id text,
    domain_userid text,
    network_userid text,
    domain_sessionid text,
    domain_sessionidx bigint,
    user_ipaddress text,
    useragent text,
    page_url text,
    page_title text,
    page_referrer text,
    se_category text,
    se_action text,
    se_label text,
    se_property text,
    se_value double precision,
    tr_orderid text,
    tr_affiliation text,
    tr_total double precision,
    tr_tax double precision,
    tr_shipping double precision,
    tr_city text,
    tr_state text,
    tr_country text,
    tr_currency text,
    ti_orderid text,
    ti_sku text,
    ti_name text,
    ti_category text,
    ti_price double precision,
    ti_quantity bigint,
    ti_currency text,
    unstruct_event jsonb,
    contexts jsonb,
    schema_validated boolean NOT NULL,
    extra jsonb,
    CONSTRAINT good_events_identity UNIQUE (environment, event_id)
);
CREATE TABLE bad_rows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL,
    reason text NOT NULL,
    payload text NOT NULL,
    environment text,
    event_id text,
    received_tstamp timestamptz NOT NULL
);
CREATE INDEX bad_rows_environment ON bad_rows (environment, id);
CREATE TABLE duplicate_counts (
    environment text PRIMARY KEY,
    duplicates bigint NOT NULL
);
CREATE TABLE metadata_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version bigint NOT NULL
);
INSERT INTO metadata_version (version) VALUES (0);
CREATE FUNCTION datacoral_metadata_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %I.metadata_version SET version = version + 1', TG_TABLE_SCHEMA);
    PERFORM pg_notify('{METADATA_CHANNEL}', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;
CREATE TRIGGER environments_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON environments
    FOR EACH STATEMENT EXECUTE FUNCTION datacoral_metadata_changed();
CREATE TRIGGER environment_origins_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON environment_origins
    FOR EACH STATEMENT EXECUTE FUNCTION datacoral_metadata_changed();
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF key_hash, environment, revoked_at
    ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION datacoral_metadata_changed();
"""

# Messages of a JetStream stream that ``datacoral load`` wrote, each recorded in the
# transaction that wrote its rows, so a redelivered message is recognised and skipped
# (datacoral/storage/postgres_loads.py). Rows at or below a consumer's acknowledged
# floor are deleted: those messages are never delivered again.
_MIGRATION_2 = """
CREATE TABLE stream_loads (
    stream text NOT NULL,
    sequence bigint NOT NULL,
    message_id text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, sequence, message_id)
);
"""

# What each environment does with Iglu schemas (datacoral.admin.environments). A change
# is an UPDATE of environments: its trigger notifies every collector. The partial index
# holds only the good events stored unvalidated, so `events count` counts them without
# reading the table (validated events never touch it).
_MIGRATION_3 = """
ALTER TABLE environments ADD COLUMN validation text NOT NULL DEFAULT 'lenient'
    CHECK (validation IN ('strict', 'lenient', 'off'));
CREATE INDEX good_events_unvalidated ON good_events (environment) WHERE NOT schema_validated;
"""

# Admin tokens (datacoral.admin.tokens), stored as their digest like API keys. The
# endpoint reads them only for the inspection API, off the hot path and through a cache
# of half a second, so no trigger notifies collectors of a change.
_MIGRATION_4 = """
CREATE TABLE admin_tokens (
    token_id text PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    environment text NOT NULL,
    label text,
    prefix text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
"""

# Rate limits of environments and keys (datacoral.admin.rate_limits): NULL in all three
# columns is no limit. Collectors keep them in their copy of environments and keys, so a
# change must notify them: the keys' trigger now fires on their limit columns too.
_MIGRATION_5 = """
ALTER TABLE environments
    ADD COLUMN rate_limit_events bigint CHECK (rate_limit_events > 0),
    ADD COLUMN rate_limit_period integer CHECK (rate_limit_period IN (1, 60)),
    ADD COLUMN rate_limit_burst bigint CHECK (rate_limit_burst > 0),
    ADD CONSTRAINT environments_rate_limit_whole CHECK (
        (rate_limit_events IS NULL) = (rate_limit_period IS NULL)
        AND (rate_limit_events IS NULL) = (rate_limit_burst IS NULL));
ALTER TABLE api_keys
    ADD COLUMN rate_limit_events bigint CHECK (rate_limit_events > 0),
    ADD COLUMN rate_limit_period integer CHECK (rate_limit_period IN (1, 60)),
    ADD COLUMN rate_limit_burst bigint CHECK (rate_limit_burst > 0),
    ADD CONSTRAINT api_keys_rate_limit_whole CHECK (
        (rate_limit_events IS NULL) = (rate_limit_period IS NULL)
        AND (rate_limit_events IS NULL) = (rate_limit_burst IS NULL));
DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF key_hash, environment, revoked_at,
        rate_limit_events, rate_limit_period, rate_limit_burst
    ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION datacoral_metadata_changed();
"""

# The pruned floor of each life of a stream (datacoral/storage/postgres_loads.py): the
# highest sequence whose stream_loads row was deleted, raised in the statement that
# deletes. A load refuses a message at or below it, so a copy of a message that turns
# up after its row was pruned is not written twice. ``incarnation`` names the life (the
# stream's creation time): a stream made again numbers its messages from 1.
_MIGRATION_6 = """
CREATE TABLE stream_load_floors (
    stream text NOT NULL,
    incarnation text NOT NULL,
    pruned_through bigint NOT NULL,
    pruned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, incarnation)
);
"""

#: Migration ``i`` (0-based) brings the schema from version ``i`` to ``i + 1``.
MIGRATIONS: tuple[str, ...] = (
    _MIGRATION_1,
    _MIGRATION_2,
    _MIGRATION_3,
    _MIGRATION_4,
    _MIGRATION_5,
    _MIGRATION_6,
)
SCHEMA_VERSION = len(MIGRATIONS)

_LEDGER = """
CREATE TABLE IF NOT EXISTS datacoral_migrations (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def schema_version(conn: psycopg.Connection[TupleRow]) -> int:
    """The version the current schema is at (0 when it has no Datacoral tables)."""
    row = conn.execute("SELECT to_regclass('datacoral_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT coalesce(max(version), 0) FROM datacoral_migrations").fetchone()
    return int(found[0]) if found is not None else 0


def migrate(conn: psycopg.Connection[TupleRow]) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; returns the version reached.

    ``conn`` must be in autocommit mode. Safe when several processes start at once:
    the version is read again under the advisory lock, inside the transaction.
    """
    if _check(schema_version(conn)) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    with conn.transaction():
        # One lock per schema: two test schemas in one database do not wait for each other.
        conn.execute("SELECT pg_advisory_xact_lock(1146503266, hashtext(current_schema()))")
        conn.execute(_LEDGER)
        current = _check(schema_version(conn))
        for version in range(current, SCHEMA_VERSION):
            conn.execute(MIGRATIONS[version])
            conn.execute("INSERT INTO datacoral_migrations (version) VALUES (%s)", (version + 1,))
            if version == 0:
                conn.execute(
                    "INSERT INTO environments (name) SELECT unnest(%s::text[])",
                    (list(DEFAULT_ENVIRONMENTS),),
                )
    return SCHEMA_VERSION


def _check(current: int) -> int:
    if current > SCHEMA_VERSION:
        raise StorageError(
            f"the database schema is version {current}, newer than this datacoral"
            f" understands ({SCHEMA_VERSION}); upgrade datacoral"
        )
    return current
