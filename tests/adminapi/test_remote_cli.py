"""``datacoral --server URL --token TOKEN ...`` prints what ``--db`` prints, and exits alike.

The same script of commands (every administrative command, with its refusals) runs
twice from the same start: once with ``--db`` on one store, once with ``--server`` on
an endpoint over another. Secrets, ids and times differ between the two stores; they
are replaced by numbered placeholders (so that the same id must appear in the same
places), and then every step's exit code, stdout and stderr must be equal.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from datacoral.cli.app import cli
from datacoral.cli.remote import RemoteStore
from datacoral.export.records import event_json
from datacoral.storage import open_storage
from datacoral.storage.target import Target, target_argument
from tests.adminapi.conftest import AdminServer, make_token
from tests.collector.builders import CONTEXTS, TP2, b64, envelope, event, headers, unstruct
from tests.support.backends import Targets
from tests.support.server import running_server

EVENT_IDS = [
    "0f9c6b1e-4c5a-4d1e-9a51-6a7c1f0b2d31",
    "5b2e8a44-8f0d-4c3b-b7a9-2d6e3f1c9a02",
    "c7d1f3a9-2b6e-4e8f-a0c5-9f4b1d7e6a13",
]
_RANDOM = [
    (re.compile(r"dck_[A-Za-z0-9_-]{43}"), "KEY"),
    (re.compile(r"dcat_[A-Za-z0-9_-]{43}"), "TOKEN"),
    (re.compile(r"dck_[A-Za-z0-9_-]{4}"), "KEY_PREFIX"),
    (re.compile(r"dcat_[A-Za-z0-9_-]{4}"), "TOKEN_PREFIX"),
    (re.compile(r"key_[0-9a-f]{12}"), "KEY_ID"),
    (re.compile(r"tok_[0-9a-f]{12}"), "TOKEN_ID"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "UUID"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"), "TIME"),
    (re.compile(r"\b\d{13}\b"), "MS"),
    (re.compile(r"\b[0-9a-f]{32,}\b"), "HEX"),
]
#: Times may fall in one millisecond in one run and not in the other: not numbered.
_UNNUMBERED = ("TIME", "MS")

Run = Callable[..., Result]


@dataclass(frozen=True)
class Step:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


class Placeholders:
    """Numbers each distinct random value by its first appearance, per kind."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, str]] = {}

    def __call__(self, text: str) -> str:
        for pattern, kind in _RANDOM:
            text = pattern.sub(lambda found, kind=kind: self._name(kind, found.group()), text)
        return text

    def _name(self, kind: str, value: str) -> str:
        if kind in _UNNUMBERED:
            return f"<{kind}>"
        seen = self._seen.setdefault(kind, {})
        return seen.setdefault(value, f"<{kind}#{len(seen) + 1}>")


def _send_events(url: str, key: str) -> None:
    """Three good events (one self-describing with a context) and one bad row."""
    first = event(
        eid=EVENT_IDS[0], aid="shop", url="https://a.example.com/p?q=1", dtm="1700000000123"
    )
    second = event(
        e="ue",
        eid=EVENT_IDS[1],
        aid="shop",
        ue_px=b64(unstruct("iglu:com.example/thing/jsonschema/1-0-0", {"n": 1.5, "s": "é"})),
        cx=b64({"schema": CONTEXTS, "data": [{"schema": "test", "data": {"a": [1, None]}}]}),
    )
    third = event(e="se", eid=EVENT_IDS[2], se_ca="c", se_ac="a", se_va="2.5")
    bad = event(eid="not-a-uuid")
    answer = requests.post(
        url + TP2, json=envelope(first, second, third, bad), headers=headers(key), timeout=30
    )
    assert (answer.status_code, answer.text) == (200, "ok")


def _script(run: Run, send: Callable[[str], None]) -> list[Step]:
    """Every administrative command, as an operator would type them."""
    steps: list[Step] = []

    def step(*args: str) -> Result:
        result = run(*args)
        steps.append(Step(args, result.exit_code, result.stdout, result.stderr))
        return result

    step("env", "list")
    step("env", "create", "qa", "--origin", "https://a.example.com", "--validation", "strict")
    step("env", "create", "qa")
    step("env", "create", "Bad")
    step("env", "show", "qa")
    step("env", "show", "qa", "--json")
    step("env", "show", "nope")
    step("env", "set", "qa", "--validation", "off", "--rate-limit", "100/s", "--burst", "200")
    step("env", "set", "qa", "--burst", "300")
    step("env", "set", "nope", "--burst", "3")
    step("env", "set", "nope", "--validation", "lenient")
    step("env", "add-origin", "qa", "https://b.example.com")
    step("env", "add-origin", "qa", "not an origin")
    step("env", "remove-origin", "qa", "https://a.example.com")
    step("env", "remove-origin", "qa", "https://never.example.com")
    step("env", "list", "--json")
    key = json.loads(step("key", "create", "--env", "qa", "--label", "web", "--json").stdout)
    step("key", "create", "--env", "qa", "--rate-limit", "10/s")
    step("key", "create", "--env", "nope")
    step("key", "list")
    step("key", "list", "--env", "qa", "--json")
    step("key", "list", "--env", "nope")
    step("key", "set", key["key_id"], "--rate-limit", "5/s", "--burst", "10")
    step("key", "set", key["key_id"], "--burst", "20")
    step("key", "set", key["key_id"], "--rate-limit", "none")
    step("key", "set", key["key_id"], "--burst", "20")
    step("key", "set", "key_000000000000", "--rate-limit", "1/s")
    step("key", "revoke", key["key"])
    step("key", "revoke", "dck_" + "A" * 43)
    send(key["key"])
    step("events", "count")
    step("events", "count", "--env", "qa", "--json")
    step("events", "count", "--env", "nope")
    step("events", "tail", "--env", "qa")
    step("events", "tail", "--env", "qa", "-n", "2", "--json")
    step("events", "tail", "--env", "qa", "--bad")
    step("events", "tail", "--env", "qa", "--bad", "--json")
    step("events", "tail", "--env", "stage")
    step("events", "tail", "--env", "nope")
    step("events", "show", EVENT_IDS[1])
    step("events", "show", EVENT_IDS[0], "--json")
    step("events", "show", "6a1d4c0e-0000-4000-8000-000000000000")
    step("key", "revoke", key["key_id"])
    step("key", "revoke", key["key_id"])
    step("key", "revoke", key["key"])
    step("key", "revoke", "key_000000000000")
    token = json.loads(step("token", "create", "--env", "qa", "--label", "ro", "--json").stdout)
    step("token", "create", "--env", "nope")
    step("token", "list")
    step("token", "list", "--env", "qa", "--json")
    step("token", "list", "--env", "nope")
    step("token", "revoke", token["token"])
    step("token", "revoke", token["token_id"])
    step("token", "revoke", token["token_id"], "--json")
    step("token", "revoke", "tok_000000000000")
    step("env", "delete", "qa")
    step("env", "delete", "qa", "--force")
    step("env", "delete", "qa")
    step("env", "list")
    return steps


def _normalised(steps: list[Step]) -> list[Step]:
    placeholders = Placeholders()
    return [
        Step(
            tuple(placeholders(arg) for arg in s.args),
            s.exit_code,
            placeholders(s.stdout),
            placeholders(s.stderr),
        )
        for s in steps
    ]


def _fresh_store(targets: Targets, label: str) -> tuple[Target, str]:
    """A migrated store with a server-wide admin token (as `serve` leaves it)."""
    db = targets.new(label)
    store = open_storage(db)
    store.environments()
    store.close()
    return db, make_token(db)[1]


def _runner() -> CliRunner:
    return CliRunner(env={"DATACORAL_DB": None, "DATACORAL_SERVER": None, "DATACORAL_TOKEN": None})


def test_every_command_prints_and_exits_over_server_as_with_db(module_targets: Targets) -> None:
    local_db, _ = _fresh_store(module_targets, "local")
    remote_db, token = _fresh_store(module_targets, "remote")
    runner = _runner()

    def local(*args: str) -> Result:
        return runner.invoke(cli, [*args, "--db", target_argument(local_db)])

    with running_server(local_db, admin=True) as local_server:
        locally = _script(local, lambda key: _send_events(local_server.url, key))
    with running_server(remote_db, admin=True) as remote_server:

        def remote(*args: str) -> Result:
            return runner.invoke(cli, ["--server", remote_server.url, "--token", token, *args])

        remotely = _script(remote, lambda key: _send_events(remote_server.url, key))
    assert token not in remote_server.log()
    assert not any(step.exit_code not in (0, 1) for step in locally), locally
    for here, there in zip(_normalised(locally), _normalised(remotely), strict=True):
        assert there == here


def test_following_reads_the_same_events_as_the_store(admin: AdminServer) -> None:
    key = admin.ok("POST", "/keys", 201, json={"environment": "prod"})["key"]
    for _ in range(3):
        admin.send(key, event(), event(eid="bad"))
    remote = RemoteStore(admin.url, admin.token)
    store = admin.storage()
    try:
        for after in (0, 2):
            found = [event_json(s) for s in remote.events_after("prod", after, 2)]
            assert found == [event_json(s) for s in store.events_after("prod", after, 2)]
            assert remote.bad_rows_after("prod", after, 5) == store.bad_rows_after("prod", after, 5)
        assert remote.environment_counts("prod") == store.count_events("prod")[0]
    finally:
        store.close()
        remote.close()


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    yield _runner()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_what_goes_wrong_is_one_line_and_an_exit_code(
    admin: AdminServer, runner: CliRunner, tmp_path: Any
) -> None:
    def run(*args: str) -> Result:
        return runner.invoke(cli, list(args))

    unreachable = run(
        "--server", f"http://127.0.0.1:{_closed_port()}", "--token", "t", "env", "list"
    )
    assert unreachable.exit_code == 3
    assert unreachable.stderr.startswith("error: cannot reach the server http://127.0.0.1:")

    refused = run("--server", admin.url, "--token", "dcat_wrong", "env", "list")
    assert (refused.exit_code, refused.stderr) == (
        1,
        f"error: the server {admin.url} refused the admin token: unknown admin token\n",
    )
    no_token = run("--server", admin.url, "env", "list")
    assert no_token.exit_code == 1 and "--server needs an admin token" in no_token.stderr
    both = run("--db", str(tmp_path / "x.sqlite"), "--server", admin.url, "env", "list")
    assert both.exit_code == 2 and "give --db or --server, not both" in both.stderr
    bad_url = run("--server", "ftp://host", "--token", "t", "env", "list")
    assert bad_url.exit_code == 2 and "http:// or https://" in bad_url.stderr

    # events export over --server: tests/adminapi/test_remote_export.py.
    # The variables work as the options do.
    by_env = runner.invoke(
        cli,
        ["key", "list", "--env", "dev"],
        env={"DATACORAL_SERVER": admin.url, "DATACORAL_TOKEN": admin.token},
    )
    assert by_env.exit_code == 0 and by_env.stdout.startswith("ID ")


def test_a_server_without_the_admin_api_is_named_as_such(
    module_targets: Targets, runner: CliRunner
) -> None:
    db, token = _fresh_store(module_targets, "plain")
    with running_server(db) as server:
        result = runner.invoke(cli, ["--server", server.url, "--token", token, "env", "list"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the server {server.url} serves no admin API: start it with"
        " `datacoral serve --admin` (or DATACORAL_ADMIN=1)\n"
    )


def test_token_create_all_makes_a_server_wide_token(
    module_targets: Targets, runner: CliRunner
) -> None:
    db, _ = _fresh_store(module_targets, "all")
    where = ["--db", target_argument(db)]
    created = runner.invoke(cli, ["token", "create", "--all", "--json", *where])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["environment"] == "*"
    assert "for every environment" in created.stderr
    missing = runner.invoke(cli, ["token", "create", *where])
    assert missing.exit_code == 2 and "Missing option '--env'. Give --env NAME, or --all" in (
        missing.stderr
    )
    both = runner.invoke(cli, ["token", "create", "--env", "dev", "--all", *where])
    assert both.exit_code == 2 and "give --env NAME or --all, not both" in both.stderr
