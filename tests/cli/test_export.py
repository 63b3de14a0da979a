"""``datacoral events export``: every format read back and compared, column by column,
with what the store holds (Parquet with pyarrow and with DuckDB); bad rows; resuming
by time range; the output file; the progress bar on a terminal. Each test runs on
SQLite and PostgreSQL (tests/cli/conftest.py). Memory: tests/cli/test_export_memory.py.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from datacoral.storage import open_storage
from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.target import Target, target_argument
from tests.cli.conftest import Run
from tests.storage.factories import good_event

BASE = 1_700_000_000_000  # 2023-11-14T22:13:20Z
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
TIMESTAMPS = {f.name for f in dataclasses.fields(GoodEvent) if f.name.endswith("_tstamp")}
JSON_TEXT = ("unstruct_event", "contexts")
SUMMARY = re.compile(
    r"exported (?P<count>[\d,]+) (?P<noun>events|bad rows) \((?P<bytes>[\d,]+) bytes\)"
    r" in [\d.]+ s; resume with --since (?P<resume>\S+)\n"
)


def _varied_events() -> list[GoodEvent]:
    """Events that use every column, with text that CSV must quote and JSON must escape."""
    contexts = json.dumps(
        [{"schema": "iglu:com.acme/user/jsonschema/1-0-0", "data": {"name": "Zoë 🐙"}}]
    )
    return [
        good_event(
            "dev",
            event="page_view",
            collector_tstamp=BASE,
            derived_tstamp=BASE - 7,
            dvce_created_tstamp=BASE - 20,
            dvce_sent_tstamp=BASE - 9,
            true_tstamp=BASE - 30,
            app_id="shop",
            name_tracker="ns",
            v_tracker="py-1.2.0",
            user_id="Zoë 🐙",
            domain_userid="d-1",
            network_userid="n-1",
            domain_sessionid="s-1",
            domain_sessionidx=3,
            user_ipaddress="203.0.113.9",
            useragent="Mozilla/5.0 (X11; Linux)",
            page_url="https://shop.example/a?b=1,2",
            page_title='Say "hello",\nworld',
            page_referrer="https://ref.example/",
            contexts=contexts,
            schema_validated=True,
            extra={"tz": "Europe/Paris", "lang": "fr"},
        ),
        good_event(
            "dev",
            event="struct",
            collector_tstamp=BASE + 1,
            derived_tstamp=BASE + 1,
            se_category="shop",
            se_action="add",
            se_label="sku-1",
            se_property="size",
            se_value=2.5,
        ),
        good_event(
            "dev",
            event="transaction",
            collector_tstamp=BASE + 2,
            derived_tstamp=BASE + 2,
            tr_orderid="o-1",
            tr_affiliation="web",
            tr_total=19.99,
            tr_tax=3.33,
            tr_shipping=0.1,
            tr_city="Paris",
            tr_state="IDF",
            tr_country="FR",
            tr_currency="EUR",
        ),
        good_event(
            "dev",
            event="transaction_item",
            collector_tstamp=BASE + 3,
            derived_tstamp=BASE + 3,
            ti_orderid="o-1",
            ti_sku="sku-1",
            ti_name="Mug",
            ti_category="kitchen",
            ti_price=9.99,
            ti_quantity=2,
            ti_currency="EUR",
        ),
        good_event(
            "dev",
            event="unstruct",
            collector_tstamp=BASE + 4,
            derived_tstamp=BASE + 4,
            event_vendor="com.acme",
            event_name="thing",
            event_format="jsonschema",
            event_version="1-0-0",
            unstruct_event='{"schema":"iglu:com.acme/thing/jsonschema/1-0-0","data":{"n":1}}',
            app_id=None,
        ),
    ]


def _commit(db: Target, good: list[GoodEvent], bad: list[BadRow] | None = None) -> None:
    store = open_storage(db)
    store.open()
    try:
        asyncio.run(store.commit(good, bad or []))
    finally:
        store.close()


def _stored(db: Target, environment: str = "dev") -> list[dict[str, Any]]:
    """The environment's events as the store gives them back, each with its position."""
    store = open_storage(db)
    try:
        found = store.latest_events(environment, 10_000)
    finally:
        store.close()
    return [{"position": s.position, **dataclasses.asdict(s.event)} for s in found]


def _export(run: Run, tmp_path: Path, file_format: str, *args: str) -> tuple[Path, str]:
    output = tmp_path / f"events.{file_format}"
    result = run(
        "events", "export", "--env", "dev", "--format", file_format, "-o", str(output), *args
    )
    assert result.exit_code == 0, result.stderr
    return output, result.stderr


def _same_columns(exported: list[dict[str, Any]], stored: list[dict[str, Any]]) -> None:
    """Compare each exported column with the store's, JSON text compared as values."""
    assert len(exported) == len(stored)
    for got, want in zip(exported, stored, strict=True):
        assert list(got) == list(want)
        for name, value in want.items():
            if name in JSON_TEXT and value is not None:
                value = json.loads(value)
            assert got[name] == value, name


def _ms(moment: datetime.datetime | None) -> int | None:
    if moment is None:
        return None
    return (moment - EPOCH) // datetime.timedelta(milliseconds=1)


# --- each format, read back ------------------------------------------------------------


def test_ndjson_is_what_tail_prints_and_what_is_stored(
    run: Run, db: Target, tmp_path: Path
) -> None:
    _commit(db, [*_varied_events(), good_event("prod", collector_tstamp=BASE)])
    output, stderr = _export(run, tmp_path, "ndjson")

    lines = output.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    tailed = run("events", "tail", "--env", "dev", "-n", "100", "--json").stdout.splitlines()
    assert records == [json.loads(line) for line in tailed]
    for record in records:
        record["fingerprint"] = bytes.fromhex(record["fingerprint"])
    _same_columns(records, _stored(db))
    summary = SUMMARY.fullmatch(stderr)
    assert summary is not None, stderr
    assert (summary["count"], summary["noun"]) == ("5", "events")
    assert int(summary["bytes"].replace(",", "")) == output.stat().st_size


def test_csv_has_a_header_and_every_column(run: Run, db: Target, tmp_path: Path) -> None:
    _commit(db, _varied_events())
    output, _ = _export(run, tmp_path, "csv")

    with output.open(newline="", encoding="utf-8") as file:
        header = next(csv.reader(file))
        file.seek(0)
        rows = list(csv.DictReader(file))
    stored = _stored(db)
    assert header == list(stored[0])
    _same_columns([_from_csv(row) for row in rows], stored)
    assert rows[0]["collector_tstamp"] == "2023-11-14T22:13:20.000Z"
    assert rows[0]["schema_validated"] == "true"


def _from_csv(row: dict[str, str]) -> dict[str, Any]:
    """A CSV line's cells as the store's values (empty cells as None)."""
    kinds = {f.name: str(f.type) for f in dataclasses.fields(GoodEvent)}
    values: dict[str, Any] = {}
    for name, cell in row.items():
        kind = kinds.get(name, "int")
        if name == "extra":
            values[name] = json.loads(cell) if cell else {}
        elif cell == "":
            values[name] = None
        elif name in TIMESTAMPS:
            values[name] = _ms(datetime.datetime.fromisoformat(cell.replace("Z", "+00:00")))
        elif name == "fingerprint":
            values[name] = bytes.fromhex(cell)
        elif kind == "bool":
            values[name] = {"true": True, "false": False}[cell]
        elif kind.startswith("int"):
            values[name] = int(cell)
        elif kind.startswith("float"):
            values[name] = float(cell)
        elif name in JSON_TEXT:
            values[name] = json.loads(cell)
        else:
            values[name] = cell
    return values


def test_parquet_has_typed_columns_read_by_pyarrow(run: Run, db: Target, tmp_path: Path) -> None:
    _commit(db, _varied_events())
    output, _ = _export(run, tmp_path, "parquet")

    table = pq.read_table(output)
    types = {field.name: str(field.type) for field in table.schema}
    assert types["collector_tstamp"] == types["true_tstamp"] == "timestamp[ms, tz=UTC]"
    assert types["position"] == types["domain_sessionidx"] == types["ti_quantity"] == "int64"
    assert types["tr_total"] == types["se_value"] == "double"
    assert types["schema_validated"] == "bool"
    assert types["fingerprint"] == "binary"
    assert types["contexts"] == types["extra"] == types["page_url"] == "string"
    records = table.to_pylist()
    for record in records:
        for name in TIMESTAMPS:
            record[name] = _ms(record[name])
        for name in JSON_TEXT:
            record[name] = None if record[name] is None else json.loads(record[name])
        record["extra"] = json.loads(record["extra"]) if record["extra"] else {}
    _same_columns(records, _stored(db))


def test_parquet_is_read_by_duckdb(run: Run, db: Target, tmp_path: Path) -> None:
    _commit(db, _varied_events())
    output, _ = _export(run, tmp_path, "parquet")

    with duckdb.connect() as conn:
        described = conn.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(output)])
        types = {name: kind for name, kind, *_ in described.fetchall()}
        assert types["collector_tstamp"] == "TIMESTAMP WITH TIME ZONE"
        assert types["position"] == types["ti_quantity"] == "BIGINT"
        assert types["ti_price"] == "DOUBLE"
        assert types["schema_validated"] == "BOOLEAN"
        assert types["fingerprint"] == "BLOB"
        assert types["unstruct_event"] == "VARCHAR"
        # Timestamps as epoch milliseconds (DuckDB's datetimes need pytz in Python).
        columns = [f"epoch_ms({name}) AS {name}" if name in TIMESTAMPS else name for name in types]
        found = conn.execute(
            f"SELECT {', '.join(columns)} FROM read_parquet(?) ORDER BY position", [str(output)]
        )
        names = [d[0] for d in found.description]
        records = [dict(zip(names, row, strict=True)) for row in found.fetchall()]
        # Its own JSON functions read the JSON columns.
        [(name,)] = conn.execute(
            "SELECT json_extract_string(contexts, '$[0].data.name') FROM read_parquet(?)"
            " WHERE contexts IS NOT NULL",
            [str(output)],
        ).fetchall()
    assert name == "Zoë 🐙"
    for record in records:
        for column in JSON_TEXT:
            record[column] = None if record[column] is None else json.loads(record[column])
        record["extra"] = json.loads(record["extra"]) if record["extra"] else {}
    _same_columns(records, _stored(db))


@pytest.mark.parametrize("file_format", ["ndjson", "csv", "parquet"])
def test_bad_rows(run: Run, db: Target, tmp_path: Path, file_format: str) -> None:
    rows = [
        BadRow(reason="e: missing", payload='{"e":""}', received_tstamp=BASE, environment="dev"),
        BadRow(
            reason="eid: not a UUID: 'x'",
            payload='{"eid":"x","p":"a,\\"b\\""}',
            received_tstamp=BASE + 5,
            environment="dev",
            event_id="x",
            kind="schema_violation",
        ),
    ]
    _commit(db, [good_event("dev")], [*rows, BadRow("r", "{}", BASE, "prod")])
    output, stderr = _export(run, tmp_path, file_format, "--bad")

    if file_format == "ndjson":
        records = [json.loads(line) for line in output.read_text().splitlines()]
    elif file_format == "csv":
        records = list(csv.DictReader(io.StringIO(output.read_text(), newline="")))
        for record in records:
            record["received_tstamp"] = _ms(
                datetime.datetime.fromisoformat(record["received_tstamp"].replace("Z", "+00:00"))
            )
            record["event_id"] = record["event_id"] or None
    else:
        records = pq.read_table(output).to_pylist()
        for record in records:
            record["received_tstamp"] = _ms(record["received_tstamp"])
    assert [{k: v for k, v in r.items() if k != "position"} for r in records] == [
        dataclasses.asdict(row) for row in rows
    ]
    assert "exported 2 bad rows" in stderr


# --- resuming by time range --------------------------------------------------------------


def test_resuming_with_the_printed_since_takes_every_event_once(
    run: Run, db: Target, tmp_path: Path
) -> None:
    # Several events share each second, the boundaries below included.
    stamps = [BASE + 250 * i for i in range(24)]
    events = [good_event("dev", collector_tstamp=t, derived_tstamp=t) for t in stamps]
    _commit(db, events[::2])
    _commit(db, events[1::2])  # stored out of stamp order

    exported: list[str] = []
    since: list[str] = []
    ends = {  # --until given: the --since printed
        "2023-11-14T22:13:21Z": "2023-11-14T22:13:21.000Z",
        "2023-11-14 23:13:22.5+01:00": "2023-11-14T22:13:22.500Z",
        "2023-11-14T22:13:26": "2023-11-14T22:13:26.000Z",
    }
    for until, printed in ends.items():
        output, stderr = _export(run, tmp_path, "ndjson", *since, "--until", until)
        exported += [json.loads(line)["event_id"] for line in output.read_text().splitlines()]
        summary = SUMMARY.fullmatch(stderr)
        assert summary is not None, stderr
        assert summary["resume"] == printed
        since = ["--since", printed]

    assert sorted(exported) == sorted(e.event_id for e in events)
    assert len(exported) == len(set(exported))
    # The boundary is exclusive for the first export, inclusive for the next.
    first = [e.event_id for e in events if e.collector_tstamp < BASE + 1000]
    assert set(exported[: len(first)]) == set(first)


def test_without_until_the_last_seconds_wait_for_the_next_export(
    run: Run, db: Target, tmp_path: Path
) -> None:
    now = time.time_ns() // 1_000_000
    old, recent = (good_event("dev", collector_tstamp=t, derived_tstamp=t) for t in (BASE, now))
    _commit(db, [old, recent])

    output, stderr = _export(run, tmp_path, "ndjson")
    assert [json.loads(line)["event_id"] for line in output.read_text().splitlines()] == [
        old.event_id
    ]
    summary = SUMMARY.fullmatch(stderr)
    assert summary is not None, stderr
    output, _ = _export(run, tmp_path, "ndjson", "--since", summary["resume"], "--until", "now")
    assert [json.loads(line)["event_id"] for line in output.read_text().splitlines()] == [
        recent.event_id
    ]

    refused = run("events", "export", "--env", "dev", "--format", "csv", "--since", "now")
    assert refused.exit_code == 2
    assert "is after the default --until" in refused.stderr
    unreadable = run("events", "export", "--env", "dev", "--format", "csv", "--since", "May 1")
    assert unreadable.exit_code == 2
    assert "not an ISO 8601 time: 'May 1'" in unreadable.stderr


# --- where it writes -------------------------------------------------------------------


def test_standard_output_and_the_output_file(run: Run, db: Target, tmp_path: Path) -> None:
    events = _varied_events()
    _commit(db, events)
    printed = run("events", "export", "--env", "dev", "--format", "ndjson")
    assert printed.exit_code == 0
    assert [json.loads(line)["event_id"] for line in printed.stdout.splitlines()] == [
        e.event_id for e in events
    ]
    assert SUMMARY.fullmatch(printed.stderr)
    dash = run("events", "export", "--env", "dev", "--format", "ndjson", "-o", "-")
    assert dash.stdout == printed.stdout

    exports = tmp_path / "exports"
    exports.mkdir()
    target = exports / "events.csv"
    target.write_text("the previous export\n")
    unknown = run("events", "export", "--env", "qa", "--format", "csv", "-o", str(target))
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no environment 'qa'\n")
    assert target.read_text() == "the previous export\n"
    _export(run, exports, "csv")
    assert target.read_text().startswith("position,event_id,")
    assert [p.name for p in exports.iterdir()] == ["events.csv"]  # no .partial left

    nowhere = tmp_path / "missing" / "events.csv"
    failed = run("events", "export", "--env", "dev", "--format", "csv", "-o", str(nowhere))
    assert failed.exit_code == 1
    assert failed.stderr.startswith(f"error: cannot write {nowhere}: ")


def test_parquet_without_pyarrow_names_the_extra(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    output = tmp_path / "events.parquet"
    result = run("events", "export", "--env", "dev", "--format", "parquet", "-o", str(output))
    assert (result.exit_code, result.stderr) == (
        2,
        "error: this needs 'pyarrow', part of the export extra:"
        " pip install 'datacoral-tracker-py[export]'\n",
    )
    assert not list(tmp_path.glob("events.parquet*"))
    assert run("events", "export", "--env", "dev", "--format", "csv").exit_code == 0


def test_progress_bar_only_on_a_terminal(db: Target, tmp_path: Path) -> None:
    _commit(db, _varied_events())
    output = tmp_path / "events.parquet"
    command = [sys.executable, "-m", "datacoral", "events", "export", "--env", "dev"]
    command += ["--format", "parquet", "-o", str(output), "--db", target_argument(db)]
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}

    on_terminal = _run_on_terminal(command, env)
    assert "exporting events" in on_terminal
    assert "exported 5 events" in on_terminal
    assert pq.read_table(output).num_rows == 5

    piped = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0
    assert SUMMARY.fullmatch(piped.stderr), piped.stderr  # the summary line, and no bar


def _run_on_terminal(command: list[str], env: dict[str, str]) -> str:
    """What ``command`` writes to a pseudo-terminal given as its stdout and stderr."""
    main, child_side = pty.openpty()
    with subprocess.Popen(command, env=env, stdout=child_side, stderr=child_side) as child:
        os.close(child_side)
        written = bytearray()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: the child has exited
                break
            if not chunk:
                break
            written += chunk
        assert child.wait(timeout=10) == 0, written.decode(errors="replace")
    os.close(main)
    return written.decode(errors="replace")
