"""``datacoral token ...``: admin tokens, shown once, stored hashed, listed, revoked."""

from __future__ import annotations

import json

from datacoral.admin.tokens import hash_token
from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.cli.conftest import Run
from tests.support.backends import everything_stored


def _lookup(db: Target, token: str) -> tuple[str, str, bool] | None:
    store = open_storage(db)
    try:
        record = store.lookup_admin_token(hash_token(token))
    finally:
        store.close()
    return None if record is None else (record.token_id, record.environment, record.revoked)


def test_create_prints_the_token_once_and_stores_only_its_digest(run: Run, db: Target) -> None:
    created = run("token", "create", "--env", "dev", "--label", "ci")
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert token.startswith("dcat_") and len(token) == 48 and "\n" not in token
    assert "will not be shown again" in created.stderr and token not in created.stderr

    listed = run("token", "list")
    assert listed.exit_code == 0 and token not in listed.stdout
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "LABEL", "ENVIRONMENT", "TOKEN", "CREATED", "REVOKED"]
    token_id = row.split()[0]
    assert row.split()[1:4] == ["ci", "dev", token[:9] + "..."]
    assert row.split()[-1] == "-"
    assert _lookup(db, token) == (token_id, "dev", False)
    stored = everything_stored(db)  # the raw file, or every row as text
    assert token.encode() not in stored
    digest = hash_token(token)
    assert digest in stored or digest.hex().encode() in stored


def test_json_create_list_and_revoke(run: Run, db: Target) -> None:
    created = json.loads(run("token", "create", "--env", "prod", "--json").stdout)
    assert created["token"].startswith("dcat_")
    assert (created["environment"], created["label"], created["revoked_at"]) == ("prod", None, None)
    assert created["token_id"].startswith("tok_")
    run("token", "create", "--env", "dev")
    listed = json.loads(run("token", "list", "--env", "prod", "--json").stdout)
    assert [t["token_id"] for t in listed] == [created["token_id"]]
    assert listed[0]["prefix"] == created["token"][:9] and "token" not in listed[0]
    assert len(json.loads(run("token", "list", "--json").stdout)) == 2

    revoked = json.loads(run("token", "revoke", created["token_id"], "--json").stdout)
    assert revoked["revoked_at"] is not None
    assert _lookup(db, created["token"]) == (created["token_id"], "prod", True)
    again = run("token", "revoke", created["token_id"])
    assert (again.exit_code, again.stdout) == (
        0,
        f"admin token {created['token_id']} of environment 'prod' was already revoked at"
        f" {revoked['revoked_at']}; nothing changed\n",
    )
    assert json.loads(run("token", "list", "--env", "prod", "--json").stdout) == [revoked]


def test_revoke_says_what_it_did(run: Run) -> None:
    created = json.loads(run("token", "create", "--env", "stage", "--json").stdout)
    revoked = run("token", "revoke", created["token_id"])
    assert (revoked.exit_code, revoked.stdout) == (
        0,
        f"revoked admin token {created['token_id']} of environment 'stage'\n",
    )


def test_revoke_given_a_secret_points_to_the_id_and_never_echoes_it(run: Run) -> None:
    created = json.loads(run("token", "create", "--env", "dev", "--json").stdout)
    secret, token_id = created["token"], created["token_id"]
    given = run("token", "revoke", secret)
    assert (given.exit_code, given.stderr) == (
        1,
        f"error: {secret[:9]}... is an admin token, not its id; revoke it by its id:"
        f" datacoral token revoke {token_id}\n",
    )
    assert secret not in given.output
    unknown = run("token", "revoke", "dcat_not-a-token-of-this-database")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "error: dcat_not-... looks like an admin token, not a token id, and no token of this"
        " database matches it; `datacoral token list` shows the ids (tok_...)\n",
    )
    key = run("key", "create", "--env", "dev").stdout.strip()
    given_key = run("token", "revoke", key)
    assert given_key.exit_code == 1 and key not in given_key.output
    assert "looks like an API key; `datacoral key revoke` revokes keys" in given_key.stderr
    assert json.loads(run("token", "list", "--json").stdout)[0]["revoked_at"] is None


def test_token_errors(run: Run) -> None:
    unknown = run("token", "revoke", "tok_nope")
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no admin token 'tok_nope'\n")
    no_env = run("token", "create", "--env", "qa")
    assert (no_env.exit_code, no_env.stderr) == (1, "error: no environment 'qa'\n")
    assert run("token", "list", "--env", "qa").exit_code == 1
    usage = run("token", "create")
    assert usage.exit_code == 2 and "Missing option '--env'" in usage.stderr


def test_deleting_an_environment_deletes_its_tokens(run: Run, db: Target) -> None:
    token = run("token", "create", "--env", "stage").stdout.strip()
    run("token", "create", "--env", "dev")
    deleted = run("env", "delete", "stage")
    assert deleted.exit_code == 0, deleted.output  # tokens alone do not hold an environment
    assert _lookup(db, token) is None
    assert [t["environment"] for t in json.loads(run("token", "list", "--json").stdout)] == ["dev"]
