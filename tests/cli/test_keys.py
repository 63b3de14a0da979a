"""``datacoral key ...``: shown once, listed by prefix, revoked at once."""

from __future__ import annotations

import json
from pathlib import Path

from datacoral.admin.keys import hash_key
from datacoral.storage.sqlite import SQLiteStorage
from tests.cli.conftest import Run


def test_create_prints_the_key_once(run: Run) -> None:
    created = run("key", "create", "--env", "dev", "--label", "backend")
    assert created.exit_code == 0
    key = created.stdout.strip()
    assert key.startswith("dck_") and "\n" not in key
    assert "will not be shown again" in created.stderr

    listed = run("key", "list")
    assert listed.exit_code == 0
    assert key not in listed.stdout
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "LABEL", "ENVIRONMENT", "KEY"]
    assert row.split()[1:4] == ["backend", "dev", key[:8] + "..."]


def test_json_create_and_list(run: Run) -> None:
    created = json.loads(run("key", "create", "--env", "prod", "--json").stdout)
    assert created["key"].startswith("dck_")
    assert created["environment"] == "prod"
    listed = json.loads(run("key", "list", "--env", "prod", "--json").stdout)
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert listed[0]["prefix"] == created["key"][:8]
    assert "key" not in listed[0]
    assert json.loads(run("key", "list", "--env", "dev", "--json").stdout) == []


def test_revoke_makes_lookup_report_revoked(run: Run, db: Path) -> None:
    created = json.loads(run("key", "create", "--env", "dev", "--json").stdout)
    revoked = run("key", "revoke", created["key_id"])
    assert revoked.exit_code == 0
    assert f"revoked key {created['key_id']}" in revoked.stdout

    store = SQLiteStorage(db)
    try:
        record = store.lookup_key(hash_key(created["key"]))
    finally:
        store.close()
    assert record is not None and record.revoked
    listed = json.loads(run("key", "list", "--json").stdout)
    assert listed[0]["revoked_at"] is not None


def test_key_errors(run: Run) -> None:
    unknown = run("key", "revoke", "key_nope")
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no key 'key_nope'\n")
    no_env = run("key", "create", "--env", "qa")
    assert (no_env.exit_code, no_env.stderr) == (1, "error: no environment 'qa'\n")
    assert run("key", "list", "--env", "qa").exit_code == 1
    usage = run("key", "create")
    assert usage.exit_code == 2
    assert "Missing option '--env'" in usage.stderr
