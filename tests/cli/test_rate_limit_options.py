"""``--rate-limit`` and ``--burst`` of ``env set``, ``key create`` and ``key set``: stored
in each backend, shown by ``env show`` and ``key list``, refused with one clear line."""

from __future__ import annotations

import json

from datacoral.admin.rate_limits import RateLimit
from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.cli.conftest import Run


def _stored(db: Target) -> tuple[RateLimit | None, dict[str, RateLimit | None]]:
    """The dev environment's limit and every key's, read back through storage."""
    store = open_storage(db)
    try:
        environment = store.get_environment("dev")
        assert environment is not None
        return environment.rate_limit, {info.key_id: info.rate_limit for info in store.list_keys()}
    finally:
        store.close()


def test_environment_limit_set_shown_changed_and_removed(run: Run, db: Target) -> None:
    assert "rate limit   none" in run("env", "show", "dev").stdout
    assert json.loads(run("env", "show", "dev", "--json").stdout)["rate_limit"] is None

    set_ = run("env", "set", "dev", "--rate-limit", "1000/s", "--burst", "5000")
    assert (set_.exit_code, set_.stdout) == (0, "environment 'dev': rate limit 1000/s burst 5000\n")
    assert _stored(db)[0] == RateLimit(1000, 1, 5000)
    assert "rate limit   1000/s burst 5000" in run("env", "show", "dev").stdout
    shown = json.loads(run("env", "show", "dev", "--json").stdout)
    assert shown["rate_limit"] == {"rate": "1000/s", "burst": 5000}

    burst_only = run("env", "set", "dev", "--burst", "200")
    assert burst_only.stdout == "environment 'dev': rate limit 1000/s burst 200\n"
    per_minute = run("env", "set", "dev", "--rate-limit", "600/min")  # burst: one minute's
    assert per_minute.stdout == "environment 'dev': rate limit 600/min burst 600\n"
    both = run("env", "set", "dev", "--validation", "strict", "--rate-limit", "5/s")
    assert both.stdout == (
        "environment 'dev': validation strict\nenvironment 'dev': rate limit 5/s burst 5\n"
    )
    assert _stored(db)[0] == RateLimit(5, 1, 5)

    removed = run("env", "set", "dev", "--rate-limit", "none")
    assert removed.stdout == "environment 'dev': rate limit none\n"
    assert _stored(db)[0] is None
    assert run("env", "show", "stage", "--json").exit_code == 0  # others untouched


def test_key_limit_at_creation_in_listings_and_changed(run: Run, db: Target) -> None:
    created = run("key", "create", "--env", "dev", "--rate-limit", "100/s", "--burst", "500")
    assert created.exit_code == 0, created.output
    assert "(rate limit 100/s burst 500)" in created.stderr
    plain = json.loads(run("key", "create", "--env", "dev", "--json").stdout)
    assert plain["rate_limit"] is None
    [limited_id] = [k for k, limit in _stored(db)[1].items() if limit is not None]
    assert _stored(db)[1] == {limited_id: RateLimit(100, 1, 500), plain["key_id"]: None}

    header, first, second = run("key", "list").stdout.splitlines()
    assert header.split()[-2:] == ["RATE", "LIMIT"]
    assert first.endswith("100/s burst 500") and second.endswith(" -")
    listed = {k["key_id"]: k["rate_limit"] for k in json.loads(run("key", "list", "--json").stdout)}
    assert listed == {limited_id: {"rate": "100/s", "burst": 500}, plain["key_id"]: None}

    changed = run("key", "set", plain["key_id"], "--rate-limit", "30/min")
    assert changed.exit_code == 0
    assert (
        changed.stdout
        == f"key {plain['key_id']} of environment 'dev': rate limit 30/min burst 30\n"
    )
    assert run("key", "set", plain["key_id"], "--burst", "3").stdout.endswith("30/min burst 3\n")
    assert run("key", "set", limited_id, "--rate-limit", "none").stdout.endswith(
        "rate limit none\n"
    )
    assert _stored(db)[1] == {limited_id: None, plain["key_id"]: RateLimit(30, 60, 3)}
    assert _stored(db)[0] is None  # the environment has no limit of its own


def test_bad_values_are_one_line_errors_and_change_nothing(run: Run, db: Target) -> None:
    run("env", "set", "dev", "--rate-limit", "10/s")
    for args, message in [
        (("--rate-limit", "10"), "invalid --rate-limit '10': use N/s or N/min"),
        (("--rate-limit", "10/hour"), "invalid --rate-limit '10/hour'"),
        (("--rate-limit", "0/s"), "invalid --rate-limit '0/s'"),
        (("--rate-limit", "10/s", "--burst", "0"), "invalid --burst 0"),
        (("--rate-limit", "10/s", "--burst", "lots"), "invalid --burst 'lots'"),
        (("--rate-limit", "none", "--burst", "5"), "--burst needs a rate limit"),
        # The validation mode is not changed either when the rate limit is wrong.
        (("--validation", "off", "--rate-limit", "x"), "invalid --rate-limit 'x'"),
    ]:
        refused = run("env", "set", "dev", *args)
        assert refused.exit_code == 1, (args, refused.output)
        assert refused.stderr.startswith(f"error: {message}"), refused.stderr
        assert len(refused.stderr.splitlines()) == 1
        assert refused.stdout == ""
    assert _stored(db)[0] == RateLimit(10, 1, 10)
    assert json.loads(run("env", "show", "dev", "--json").stdout)["validation"] == "lenient"

    no_limit = run("env", "set", "stage", "--burst", "5")
    assert (no_limit.exit_code, no_limit.stderr) == (
        1,
        "error: environment 'stage' has no rate limit: give --rate-limit N/s or N/min"
        " with --burst\n",
    )
    unknown = run("env", "set", "qa", "--rate-limit", "5/s")
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no environment 'qa'\n")
    nothing = run("env", "set", "dev")
    assert nothing.exit_code == 2 and "--rate-limit N/s|N/min|none or --burst N" in nothing.stderr


def test_key_errors(run: Run, db: Target) -> None:
    created = json.loads(run("key", "create", "--env", "dev", "--json").stdout)
    unknown = run("key", "set", "key_nope", "--rate-limit", "5/s")
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no key 'key_nope'\n")
    no_limit = run("key", "set", created["key_id"], "--burst", "5")
    assert no_limit.exit_code == 1
    assert no_limit.stderr.startswith(f"error: key {created['key_id']} has no rate limit")
    given_secret = run("key", "set", created["key"], "--rate-limit", "5/s")
    assert given_secret.exit_code == 1
    assert f"set it by its id: datacoral key set {created['key_id']}" in given_secret.stderr
    assert created["key"] not in given_secret.output
    bad = run("key", "create", "--env", "dev", "--rate-limit", "fast")
    assert (bad.exit_code, bad.stderr.splitlines()[0]) == (
        1,
        "error: invalid --rate-limit 'fast': use N/s or N/min (e.g. 1000/s, 600/min), or none",
    )
    burst_alone = run("key", "create", "--env", "dev", "--burst", "5")
    assert burst_alone.exit_code == 2 and "--burst needs --rate-limit" in burst_alone.stderr
    assert len(_stored(db)[1]) == 1  # no key was made by the refused commands
    nothing = run("key", "set", created["key_id"])
    assert nothing.exit_code == 2 and "nothing to change" in nothing.stderr
