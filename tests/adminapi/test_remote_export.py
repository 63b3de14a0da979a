"""``datacoral --server URL --token TOKEN events export`` writes the file ``--db`` writes.

Each format is exported twice from the same store, once with ``--db`` and once over
a running endpoint's admin API, and the files (or standard output) must be equal
byte for byte, with the same summary line but for its seconds; on SQLite and on
PostgreSQL. Then the refusals (an unknown environment, a token of another
environment, an unknown token) and the failures mid-stream: the server dying, and
(PostgreSQL) the server's storage failing, which must cut the answer short so that
the export fails (exit 3) and leaves no output file; and a client that goes away
releases the server's snapshot.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from datacoral.adminapi.openapi import build_document
from datacoral.cli.app import cli
from datacoral.cli.remote import RemoteStore
from datacoral.export.records import iso_timestamp
from datacoral.storage import open_storage
from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.target import DatabaseURL, Target, target_argument
from tests.adminapi.conftest import AdminServer, fresh_name, make_token
from tests.storage.factories import good_event
from tests.support.backends import Targets
from tests.support.holding_relay import HoldingRelay
from tests.support.server import running_server

BASE = 1_700_000_000_000  # 2023-11-14T22:13:20Z
SINCE, UNTIL = BASE, BASE + 10_000
WINDOW = ("--since", iso_timestamp(SINCE), "--until", iso_timestamp(UNTIL))
FORMATS = ("ndjson", "csv", "parquet")
#: More events in the window than one page of the export (2000), on both sides.
BULK = 2_500
SECONDS = re.compile(r" in [\d.]+ s;")
DEADLINE = 30.0


# --- data ------------------------------------------------------------------------------


def _varied(environment: str) -> list[GoodEvent]:
    """Events using every kind of column, with text each format must quote or escape, and
    JSON texts kept as stored (spaced, escaped)."""
    return [
        good_event(
            environment,
            event="page_view",
            fingerprint=bytes(range(256)),
            collector_tstamp=SINCE,  # the window's start: in it
            derived_tstamp=SINCE - 7,
            dvce_created_tstamp=SINCE - 20,
            true_tstamp=-1,
            user_id="Zoë 🐙",
            page_url="https://shop.example/a?b=1,2",
            page_title='Say "hello",\nworld\r\u2028\t;',
            contexts='[{"schema": "iglu:com.acme/user/jsonschema/1-0-0", "data": {"n": 1.50}}]',
            schema_validated=True,
            extra={"tz": "Europe/Paris", "zeta": "1", "alpha": "é\n"},
        ),
        good_event(
            environment,
            event="struct",
            collector_tstamp=SINCE + 1,
            derived_tstamp=SINCE + 1,
            se_category="shop",
            se_value=0.1 + 0.2,
            domain_sessionidx=2**53 + 1,
            contexts="[ ]",
        ),
        good_event(
            environment,
            event="transaction",
            collector_tstamp=SINCE + 2,
            derived_tstamp=SINCE + 2,
            tr_total=1.7976931348623157e308,
            tr_tax=-0.0,
            tr_shipping=1e-7,
            ti_quantity=-5,
            unstruct_event='{"schema":"iglu:com.acme/s/jsonschema/1-0-0","data":{"s":"\\ud83d\\udc19"}}',
        ),
    ]


def _lone_surrogate(environment: str) -> GoodEvent:
    """An event whose JSON text holds a lone surrogate, escaped: SQLite keeps any text,
    PostgreSQL's json type refuses this one."""
    return good_event(
        environment,
        collector_tstamp=SINCE + 3,
        derived_tstamp=SINCE + 3,
        contexts='[{"schema":"iglu:com.acme/s/jsonschema/1-0-0","data":{"s":"\\ud800"}}]',
    )


def _fill(db: Target, environment: str) -> int:
    """The environment's events and bad rows, in and around the window; how many of its
    events are in the window."""
    inside = [
        *_varied(environment),
        *([_lone_surrogate(environment)] if isinstance(db, Path) else []),
        *(
            good_event(environment, collector_tstamp=SINCE + 100 + i % 9_000, app_id=f"a{i}")
            for i in range(BULK)
        ),
    ]
    outside = [
        good_event(environment, collector_tstamp=SINCE - 1),
        good_event(environment, collector_tstamp=UNTIL),
        good_event("prod", collector_tstamp=SINCE + 5),
    ]
    bad = [
        BadRow("e: missing", '{"e":""}', SINCE, environment),
        BadRow('eid: not a UUID: "x",\n', "Zoë 🐙\u2028", SINCE + 3, environment, "x", "other"),
        BadRow("too large", "x" * 3000, UNTIL - 1, environment, None, "size_violation"),
        BadRow("out of the window", "{}", UNTIL, environment),
    ]
    _commit(db, [*outside[:1], *inside, *outside[1:]], bad)
    return len(inside)


def _commit(db: Target, good: list[GoodEvent], bad: list[BadRow]) -> None:
    store = open_storage(db)
    store.open()
    try:
        asyncio.run(store.commit(good, bad))
    finally:
        store.close()


def _environment(db: Target, prefix: str = "x") -> str:
    name = fresh_name(prefix)
    store = open_storage(db)
    try:
        store.create_environment(name)
    finally:
        store.close()
    return name


# --- running the command both ways ----------------------------------------------------


def _runner() -> CliRunner:
    return CliRunner(env={"DATACORAL_DB": None, "DATACORAL_SERVER": None, "DATACORAL_TOKEN": None})


def _local(db: Target) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        return _runner().invoke(cli, ["events", "export", *args, "--db", target_argument(db)])

    return run


def _remote(url: str, token: str) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        return _runner().invoke(cli, ["--server", url, "--token", token, "events", "export", *args])

    return run


def _summary(result: Result) -> str:
    return SECONDS.sub(" in <s> s;", result.stderr)


def test_every_format_is_the_same_file_both_ways(admin: AdminServer, tmp_path: Path) -> None:
    environment = _environment(admin.db)
    expected = _fill(admin.db, environment)
    local, remote = _local(admin.db), _remote(admin.url, admin.token)

    for file_format in FORMATS:
        files = {side: tmp_path / f"{side}.{file_format}" for side in ("db", "server")}
        args = ("--env", environment, "--format", file_format, *WINDOW)
        by_db = local(*args, "-o", str(files["db"]))
        by_server = remote(*args, "-o", str(files["server"]))

        assert (by_db.exit_code, by_server.exit_code) == (0, 0), by_server.output
        assert files["db"].read_bytes() == files["server"].read_bytes(), file_format
        assert _summary(by_server) == _summary(by_db)
        assert f"exported {expected:,} events" in by_db.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in files.values())
        for path in files.values():
            path.unlink()

    # To standard output; the bad rows; the default window (up to 10 seconds ago).
    for args in (
        ("--format", "ndjson", *WINDOW),
        ("--format", "csv", "--bad", *WINDOW),
        ("--format", "ndjson", "--bad", "--since", iso_timestamp(SINCE)),
    ):
        by_db = local("--env", environment, *args)
        by_server = remote("--env", environment, *args)
        assert (by_db.exit_code, by_server.exit_code) == (0, 0), by_server.output
        assert by_db.stdout_bytes == by_server.stdout_bytes
        if "--until" in args:
            assert _summary(by_server) == _summary(by_db)
        else:  # resumes from "now", which moved on between the two
            assert _summary(by_server).split(";")[0] == _summary(by_db).split(";")[0]
    assert by_db.stdout_bytes.count(b"\n") == 4  # every bad row stamped since the start


def test_bad_rows_are_the_same_file_both_ways(admin: AdminServer, tmp_path: Path) -> None:
    environment = _environment(admin.db)
    _fill(admin.db, environment)
    local, remote = _local(admin.db), _remote(admin.url, admin.token)
    for file_format in FORMATS:
        args = ("--env", environment, "--bad", "--format", file_format, *WINDOW)
        by_db = local(*args, "-o", str(tmp_path / f"db.{file_format}"))
        by_server = remote(*args, "-o", str(tmp_path / f"server.{file_format}"))
        assert (by_db.exit_code, by_server.exit_code) == (0, 0), by_server.output
        exported = (tmp_path / f"server.{file_format}").read_bytes()
        assert (tmp_path / f"db.{file_format}").read_bytes() == exported
        assert _summary(by_server) == _summary(by_db)
        assert "exported 3 bad rows" in by_db.stderr


def test_a_token_of_the_environment_exports_it_and_nothing_else(
    admin: AdminServer, tmp_path: Path
) -> None:
    environment, other = _environment(admin.db), _environment(admin.db)
    _fill(admin.db, environment)
    _, token = make_token(admin.db, environment)
    output = tmp_path / "events.csv"
    output.write_text("the previous export\n")

    own = _remote(admin.url, token)("--env", environment, "--format", "csv", *WINDOW)
    assert own.exit_code == 0 and own.stdout_bytes.count(b"\n") > BULK

    for run, kind in (
        (_remote(admin.url, token), "another environment's"),
        (_remote(admin.url, "dcat_" + "x" * 43), "unknown"),
    ):
        refused = run("--env", other, "--format", "csv", *WINDOW, "-o", str(output))
        assert refused.exit_code == 1, kind
        if kind == "unknown":
            assert refused.stderr == (
                f"error: the server {admin.url} refused the admin token: unknown admin token\n"
            )
        else:
            assert refused.stderr.startswith("error: the admin token tok_")
            assert f"is for environment {environment!r}, not {other!r}" in refused.stderr
        assert output.read_text() == "the previous export\n"
        assert list(tmp_path.iterdir()) == [output]

    # An environment that does not exist: the same message both ways.
    args = ("--env", "nowhere", "--format", "ndjson", *WINDOW)
    by_db, by_server = _local(admin.db)(*args), _remote(admin.url, admin.token)(*args)
    assert (by_server.exit_code, by_server.stderr) == (by_db.exit_code, by_db.stderr)
    assert by_db.exit_code == 1 and by_db.stderr == "error: no environment 'nowhere'\n"


def test_counts_of_a_range_are_the_stores(admin: AdminServer) -> None:
    environment = _environment(admin.db)
    expected = _fill(admin.db, environment)
    remote, local = RemoteStore(admin.url, admin.token), admin.storage()
    try:
        for since, until in ((SINCE, UNTIL), (None, UNTIL), (SINCE + 2, None), (None, None)):
            for bad in (False, True):
                found = remote.count_in_range(environment, since=since, until=until, bad=bad)
                assert found == local.count_in_range(
                    environment, since=since, until=until, bad=bad
                ), (since, until, bad)
        assert remote.count_in_range(environment, since=SINCE, until=UNTIL) == expected
    finally:
        remote.close()
        local.close()


def test_the_stream_is_ndjson_as_the_document_describes(admin: AdminServer) -> None:
    environment = _environment(admin.db)
    expected = _fill(admin.db, environment)
    document = build_document()
    for table, schema_name, count in (
        ("events", "EventRow", expected),
        ("bad_rows", "BadRowEntry", 3),
    ):
        path = f"/environments/{environment}/{table}/export"
        window = {"since": SINCE, "until": UNTIL}
        answer = admin.call("GET", path, params={**window, "page_size": 7}, stream=True)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/x-ndjson"
        assert answer.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in answer.headers
        lines = answer.content.split(b"\n")
        assert lines.pop() == b""  # every line ends with \n
        assert len(lines) == count

        # Pages of 7 rows or of 10,000: the same lines.
        whole = admin.call("GET", path, params={**window, "page_size": 10_000})
        assert whole.content == answer.content

        schema = {"$ref": f"#/components/schemas/{schema_name}", **document}
        validator = jsonschema.Draft202012Validator(schema)
        for line in lines:
            validator.validate(json.loads(line))


# --- failures mid-stream ---------------------------------------------------------------


def _export_process(url: str, token: str, *args: str) -> subprocess.Popen[str]:
    """``datacoral --server URL events export ...`` as a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    command = [sys.executable, "-m", "datacoral", "--server", url, "--token", token]
    return subprocess.Popen(
        [*command, "events", "export", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _fresh_server_store(module_targets: Targets, label: str) -> tuple[Target, str]:
    db = module_targets.new(label)
    store = open_storage(db)
    store.environments()
    store.close()
    return db, make_token(db)[1]


def test_a_server_dying_mid_export_leaves_no_file(module_targets: Targets, tmp_path: Path) -> None:
    db, token = _fresh_server_store(module_targets, "dying")
    environment = _environment(db)
    _fill(db, environment)
    output = tmp_path / "events.ndjson"
    with (
        running_server(db, admin=True) as server,
        HoldingRelay(server.port, budget=64 * 1024) as relay,
    ):
        export = _export_process(
            relay.url, token, "--env", environment, "--format", "ndjson", *WINDOW, "-o", str(output)
        )
        assert relay.held.wait(DEADLINE), "the export's answer never reached the relay's budget"
        partial = output.with_name(output.name + ".partial")
        _wait_for(partial.exists, "the export to start writing")
        server.kill()
        relay.cut()
        _, stderr = export.communicate(timeout=DEADLINE)

    assert export.returncode == 3, stderr
    assert stderr == (
        f"error: the server {relay.url} stopped sending the export before its end (it"
        " failed, or the connection broke): run the export again\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres_only  # a PostgreSQL session can be ended from outside; a SQLite read cannot
def test_storage_failing_mid_export_cuts_the_answer_short(
    module_backend: str, module_targets: Targets, tmp_path: Path
) -> None:
    import psycopg

    base, token = _fresh_server_store(module_targets, "failing")
    assert isinstance(base, DatabaseURL)
    application = fresh_name("export")
    db = DatabaseURL(f"{base.url}&application_name={application}")
    environment = _environment(db)
    # Pages of 2,000 rows of some 3 KB each: the server's first page fills every buffer
    # between it and a client that stops reading, so it waits before reading the third.
    rows = [
        BadRow(f"row {i}", "p" * 3000, SINCE + i, environment, None, "size_violation")
        for i in range(4_200)
    ]
    _commit(db, [], rows)

    def export_sessions() -> list[int]:
        with psycopg.connect(base.url, autocommit=True) as conn:
            found = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND query LIKE %s",
                (application, "%datacoral_export%"),
            ).fetchall()
        return [pid for (pid,) in found]

    output = tmp_path / "bad.ndjson"
    args = ("--env", environment, "--bad", "--format", "ndjson", *WINDOW)
    with running_server(db, admin=True) as server:
        # A client that goes away mid-stream: the server stops reading, closes its cursor.
        with HoldingRelay(server.port, budget=64 * 1024) as relay:
            gone = _export_process(relay.url, token, *args, "-o", str(output))
            assert relay.held.wait(DEADLINE)
            _wait_for(lambda: bool(export_sessions()), "the export's session")
            gone.kill()
            gone.communicate(timeout=DEADLINE)
            relay.cut()
        _wait_for(lambda: not export_sessions(), "the export's session to end")
        _wait_for(lambda: "the client went away after" in server.log(), "the server's log line")

        # Storage failing mid-stream: the answer ends without its last chunk.
        with HoldingRelay(server.port, budget=64 * 1024) as relay:
            export = _export_process(relay.url, token, *args, "-o", str(output))
            assert relay.held.wait(DEADLINE)
            _wait_for(lambda: bool(export_sessions()), "the export's session")
            with psycopg.connect(base.url, autocommit=True) as conn:
                for pid in export_sessions():
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            relay.release()
            _, stderr = export.communicate(timeout=DEADLINE)
        assert export.returncode == 3, stderr
        assert "stopped sending the export before its end" in stderr
        assert list(tmp_path.iterdir()) == []
        _wait_for(lambda: "cut short after 4000 rows" in server.log(), "the server's log line")

        # The server goes on serving, exports included.
        again = _export_process(server.url, token, *args, "-o", str(output))
        _, stderr = again.communicate(timeout=DEADLINE)
        assert again.returncode == 0, stderr
        assert stderr.startswith("exported 4,200 bad rows")
        assert output.read_bytes().count(b"\n") == 4_200
