"""Admin tokens and the inspection API's reads, on both backends, straight through the
storage interface: every filter of an :class:`EventQuery` at its exact boundaries,
newest first, one environment only; and the migrations that add the tokens table to a
database made before it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from datacoral.admin.tokens import hash_token
from datacoral.storage import migrations, postgres_migrations
from datacoral.storage.base import AdminError, AdminStorage, BadRow, EventCounts, EventQuery
from datacoral.storage.postgres import PostgresStorage
from datacoral.storage.sqlite import SQLiteStorage
from tests.storage.factories import good_event
from tests.support.postgres import RunDatabase

SCREEN = "iglu:com.snowplowanalytics.mobile/screen/jsonschema/1-0-0"
APPLICATION = "iglu:com.snowplowanalytics.mobile/application/jsonschema/1-0-0"
CLICK = ("com.snowplowanalytics.snowplow", "link_click", "jsonschema", "1-0-1")


def _contexts(*schemas: str) -> str:
    return json.dumps([{"schema": schema, "data": {"n": i}} for i, schema in enumerate(schemas)])


def test_admin_tokens_are_created_listed_revoked_and_looked_up(storage: AdminStorage) -> None:
    info, token = storage.create_admin_token("dev", label="ci")
    assert (info.environment, info.label, info.prefix, info.revoked) == (
        "dev",
        "ci",
        token[:9],
        False,
    )
    other, _ = storage.create_admin_token("prod")
    # Oldest first; two tokens made in the same millisecond are in id order.
    made = sorted([info, other], key=lambda t: (t.created_at, t.token_id))
    assert [t.token_id for t in storage.list_admin_tokens()] == [t.token_id for t in made]
    assert storage.list_admin_tokens("prod") == [other]
    record = storage.lookup_admin_token(hash_token(token))
    assert record is not None and (record.environment, record.revoked) == ("dev", False)
    assert storage.lookup_admin_token(hash_token(token + "x")) is None
    assert storage.lookup_key(hash_token(token)) is None  # a token is no API key

    revoked = storage.revoke_admin_token(info.token_id)
    assert revoked.revoked_at is not None
    assert storage.revoke_admin_token(info.token_id).revoked_at == revoked.revoked_at
    record = storage.lookup_admin_token(hash_token(token))
    assert record is not None and record.revoked
    with pytest.raises(AdminError, match=r"^no admin token 'tok_nope'$"):
        storage.revoke_admin_token("tok_nope")
    with pytest.raises(AdminError, match=r"^no environment 'qa'$"):
        storage.create_admin_token("qa")


def test_every_filter_of_a_query(storage: AdminStorage) -> None:
    page = good_event(event="page_view", collector_tstamp=1000, app_id="shop")
    click = good_event(
        collector_tstamp=2000,
        event_vendor=CLICK[0],
        event_name=CLICK[1],
        event_format=CLICK[2],
        event_version=CLICK[3],
        contexts=_contexts(SCREEN),
    )
    both = good_event(collector_tstamp=2000, contexts=_contexts(APPLICATION, SCREEN))
    late = good_event(event="struct", collector_tstamp=3000, app_id="admin")
    elsewhere = good_event("prod", collector_tstamp=2000, contexts=_contexts(SCREEN))
    asyncio.run(storage.commit([page, click, both], []))
    asyncio.run(storage.commit([late, elsewhere], []))

    def ids(**conditions: object) -> list[str]:
        query = EventQuery(**conditions)  # type: ignore[arg-type]
        return [stored.event.event_id for stored in storage.query_events("dev", query)]

    newest_first = [late.event_id, both.event_id, click.event_id, page.event_id]
    assert ids() == newest_first
    assert ids(limit=2) == newest_first[:2]
    assert ids(limit=0) == []
    assert ids(event="page_view") == [page.event_id]
    assert ids(schema=CLICK) == [click.event_id]
    assert ids(context_schemas=(SCREEN,)) == [both.event_id, click.event_id]
    assert ids(context_schemas=(SCREEN, APPLICATION)) == [both.event_id]
    assert ids(event_ids=(page.event_id, late.event_id, elsewhere.event_id)) == [
        late.event_id,
        page.event_id,
    ]
    assert ids(app_id="admin") == [late.event_id]
    assert ids(since=2000) == [late.event_id, both.event_id, click.event_id]  # inclusive
    assert ids(until=2000) == [page.event_id]  # exclusive
    assert ids(since=2000, until=2001) == [both.event_id, click.event_id]
    assert ids(since=2000, until=2001, context_schemas=(APPLICATION,), app_id="app") == [
        both.event_id
    ]
    assert [s.event.event_id for s in storage.query_events("prod", EventQuery())] == [
        elsewhere.event_id
    ]
    with pytest.raises(AdminError):
        storage.query_events("qa", EventQuery())
    with pytest.raises(ValueError, match="limit must be 0-10000"):
        EventQuery(limit=10_001)


def test_counts_bad_rows_and_delete_of_one_environment(storage: AdminStorage) -> None:
    rows = [
        BadRow(reason=f"r{i}", payload="{}", received_tstamp=i, environment="dev") for i in range(3)
    ]
    other = BadRow(reason="other", payload="{}", received_tstamp=9, environment="stage")
    asyncio.run(storage.commit([good_event(), good_event("stage")], [*rows, other]))
    assert storage.environment_counts("dev") == EventCounts("dev", 1, 3, 0, unvalidated=1)
    assert [s.row.reason for s in storage.recent_bad_rows("dev", 2)] == ["r2", "r1"]
    storage.delete_events("dev")
    assert storage.environment_counts("dev") == EventCounts("dev", 0, 0, 0, unvalidated=0)
    assert storage.environment_counts("stage") == EventCounts("stage", 1, 1, 0, unvalidated=1)
    assert storage.recent_bad_rows("dev", 10) == []


def test_a_sqlite_file_of_version_2_gets_the_tokens_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for migration in migrations.MIGRATIONS[:2]:
            migration(conn)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("COMMIT")
    finally:
        conn.close()
    with SQLiteStorage(path) as store:
        asyncio.run(store.commit([good_event("dev", event_id=str(uuid.uuid4()))], []))
        _, token = store.create_admin_token("dev")
        record = store.lookup_admin_token(hash_token(token))
        assert record is not None and record.environment == "dev"
        assert store.environment_counts("dev").good == 1
    conn = sqlite3.connect(path)
    try:
        assert migrations.schema_version(conn) == migrations.SCHEMA_VERSION >= 3
    finally:
        conn.close()


def test_a_postgresql_schema_of_version_3_gets_the_tokens_table(
    postgres_database: RunDatabase,
) -> None:
    import psycopg

    url = postgres_database.new_schema()
    with psycopg.connect(url.url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE datacoral_migrations (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, sql in enumerate(postgres_migrations.MIGRATIONS[:3], start=1):
            conn.execute(sql)
            conn.execute("INSERT INTO datacoral_migrations (version) VALUES (%s)", (version,))
        conn.execute("INSERT INTO environments (name) VALUES ('dev')")
    store = PostgresStorage(url)
    try:
        store.open()
        _, token = store.create_admin_token("dev")
        record = store.lookup_admin_token(hash_token(token))
        assert record is not None and record.environment == "dev"
    finally:
        store.close()
    assert postgres_migrations.SCHEMA_VERSION >= 4
