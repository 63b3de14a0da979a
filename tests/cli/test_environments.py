"""``datacoral env ...`` against a real file."""

from __future__ import annotations

import asyncio
import json

from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.cli.conftest import Run
from tests.storage.factories import good_event


def test_create_list_show(run: Run) -> None:
    created = run("env", "create", "qa", "--origin", "https://app.example.com")
    assert created.exit_code == 0, created.output
    assert "created environment 'qa' (validation lenient)" in created.stdout

    listed = run("env", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    header = ["ENVIRONMENT", "VALIDATION", "RATE", "LIMIT", "ACTIVE", "KEYS", "ORIGINS"]
    assert lines[0].split() == header
    assert [line.split()[0] for line in lines[1:]] == ["dev", "stage", "prod", "qa"]
    assert lines[-1].split() == ["qa", "lenient", "none", "0", "https://app.example.com"]

    shown = run("env", "show", "qa")
    assert shown.exit_code == 0
    assert "https://app.example.com" in shown.stdout


def test_json_output_parses(run: Run) -> None:
    run("key", "create", "--env", "stage")
    listed = json.loads(run("env", "list", "--json").stdout)
    stage = {"name": "stage", "validation": "lenient", "origins": [], "active_keys": 1}
    assert {**stage, "rate_limit": None} in listed
    shown = json.loads(run("env", "show", "stage", "--json").stdout)
    assert shown["name"] == "stage"
    assert shown["validation"] == "lenient"
    assert len(shown["keys"]) == 1
    assert shown["events"] == {"good": 0, "bad": 0, "duplicates": 0, "unvalidated": 0}


def test_errors_are_one_line_with_exit_code_1(run: Run) -> None:
    exists = run("env", "create", "dev")
    assert exists.exit_code == 1
    assert exists.stderr == "error: environment 'dev' already exists\n"
    assert exists.stdout == ""

    bad_name = run("env", "create", "Not Valid")
    assert bad_name.exit_code == 1
    assert bad_name.stderr.startswith("error: invalid environment name 'Not Valid'")
    assert len(bad_name.stderr.splitlines()) == 1

    missing = run("env", "show", "qa")
    assert (missing.exit_code, missing.stderr) == (1, "error: no environment 'qa'\n")


def test_delete_refuses_then_force(run: Run, db: Target) -> None:
    run("key", "create", "--env", "stage")
    store = open_storage(db)
    store.open()
    asyncio.run(store.commit([good_event("stage")], []))
    store.close()

    refused = run("env", "delete", "stage")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: environment 'stage' still has 1 key(s) and 1 event(s);"
        " pass --force to delete them too\n"
    )
    forced = run("env", "delete", "stage", "--force")
    assert forced.exit_code == 0
    assert "deleted environment 'stage'" in forced.stdout
    assert "stage" not in run("env", "list").stdout


def test_origins(run: Run) -> None:
    added = run("env", "add-origin", "dev", "http://localhost:3000")
    assert added.exit_code == 0
    assert "http://localhost:3000" in added.stdout
    assert run("env", "remove-origin", "dev", "http://localhost:3000").exit_code == 0
    again = run("env", "remove-origin", "dev", "http://localhost:3000")
    assert again.exit_code == 1
    assert again.stderr.startswith("error: environment 'dev' does not allow origin")


def test_validation_mode_at_creation_and_later(run: Run, db: Target) -> None:
    created = run("env", "create", "ci", "--validation", "strict")
    assert (created.exit_code, created.stdout) == (
        0,
        "created environment 'ci' (validation strict)\n",
    )
    changed = run("env", "set", "dev", "--validation", "off")
    assert (changed.exit_code, changed.stdout) == (0, "environment 'dev': validation off\n")
    rows = [line.split()[:2] for line in run("env", "list").stdout.splitlines()[1:]]
    assert rows == [["dev", "off"], ["stage", "lenient"], ["prod", "lenient"], ["ci", "strict"]]
    shown = [line.split() for line in run("env", "show", "ci").stdout.splitlines()]
    assert ["validation", "strict"] in shown
    assert ["unvalidated", "0"] in shown
    store = open_storage(db)
    try:
        assert store.get_environment("dev").validation.value == "off"  # type: ignore[union-attr]
    finally:
        store.close()


def test_validation_mode_errors(run: Run) -> None:
    nothing = run("env", "set", "dev")
    assert nothing.exit_code == 2
    assert "nothing to change: give --validation strict|lenient|off" in nothing.stderr
    unknown = run("env", "set", "dev", "--validation", "loose")
    assert unknown.exit_code == 2
    assert "'loose' is not one of 'strict', 'lenient', 'off'" in unknown.stderr
    missing = run("env", "set", "qa", "--validation", "strict")
    assert (missing.exit_code, missing.stderr) == (1, "error: no environment 'qa'\n")
    refused = run("env", "create", "qa", "--validation", "everything")
    assert refused.exit_code == 2
    assert "qa" not in [line.split()[0] for line in run("env", "list").stdout.splitlines()]


def test_a_rate_limit_given_at_creation(run: Run) -> None:
    created = run("env", "create", "batch", "--rate-limit", "100/s", "--burst", "500")
    assert created.exit_code == 0, created.output
    assert "  rate limit 100/s burst 500" in created.stdout
    listed = json.loads(run("env", "list", "--json").stdout)
    [batch] = [e for e in listed if e["name"] == "batch"]
    assert batch["rate_limit"] == {"rate": "100/s", "burst": 500}
    table = run("env", "list").stdout.splitlines()
    assert [line.split()[:5] for line in table if line.startswith("batch")] == [
        ["batch", "lenient", "100/s", "burst", "500"]
    ]


def test_a_bad_rate_limit_at_creation_creates_nothing(run: Run) -> None:
    refused = run("env", "create", "batch", "--rate-limit", "fast")
    assert refused.exit_code != 0
    alone = run("env", "create", "other", "--burst", "5")
    assert alone.exit_code == 2 and "--burst needs --rate-limit" in alone.stderr
    names = [e["name"] for e in json.loads(run("env", "list", "--json").stdout)]
    assert "batch" not in names and "other" not in names
