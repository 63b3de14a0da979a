"""``datacoral key ...``: shown once, listed by prefix, revoked at once."""

from __future__ import annotations

import json
import re

from datacoral.admin.keys import hash_key
from datacoral.storage import open_storage
from datacoral.storage.target import Target
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


def test_revoke_makes_lookup_report_revoked(run: Run, db: Target) -> None:
    created = json.loads(run("key", "create", "--env", "dev", "--json").stdout)
    revoked = run("key", "revoke", created["key_id"])
    assert revoked.exit_code == 0
    assert f"revoked key {created['key_id']}" in revoked.stdout

    store = open_storage(db)
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


def test_revoking_a_revoked_key_says_it_already_was(run: Run) -> None:
    created = json.loads(run("key", "create", "--env", "dev", "--json").stdout)
    key_id = created["key_id"]
    assert run("key", "revoke", key_id).exit_code == 0
    [listed] = json.loads(run("key", "list", "--json").stdout)
    again = run("key", "revoke", key_id)
    assert (again.exit_code, again.stdout) == (
        0,
        f"key {key_id} of environment 'dev' was already revoked at {listed['revoked_at']};"
        " nothing changed\n",
    )
    assert json.loads(run("key", "list", "--json").stdout) == [listed]


def test_revoke_given_the_key_itself_points_to_its_id(run: Run) -> None:
    created = json.loads(run("key", "create", "--env", "dev", "--json").stdout)
    secret, key_id = created["key"], created["key_id"]
    given_key = run("key", "revoke", secret)
    assert (given_key.exit_code, given_key.stderr) == (
        1,
        f"error: {secret[:8]}... is an API key, not its id; revoke it by its id:"
        f" datacoral key revoke {key_id}\n",
    )
    assert secret not in given_key.output  # a secret is never echoed
    assert json.loads(run("key", "list", "--json").stdout)[0]["revoked_at"] is None

    unknown = run("key", "revoke", "dck_not-a-key-of-this-database")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "error: dck_not-... looks like an API key, not a key id, and no key of this"
        " database matches it; `datacoral key list` shows the ids (key_...)\n",
    )


def test_timestamps_are_iso_8601(run: Run) -> None:
    run("key", "create", "--env", "dev")
    [listed] = json.loads(run("key", "list", "--json").stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", listed["created_at"])
    [_, row] = run("key", "list").stdout.splitlines()
    assert listed["created_at"] in row.split()
