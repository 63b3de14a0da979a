"""``datacoral events ...``: count, tail (also --follow in a real process) and show."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from typing import IO

import pytest

from datacoral.storage import open_storage
from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.target import Target
from tests.cli.conftest import Run
from tests.storage.factories import bad_row, good_event


def _commit(db: Target, good: list[GoodEvent], bad: list[BadRow] | None = None) -> None:
    store = open_storage(db)
    store.open()
    try:
        asyncio.run(store.commit(good, bad or []))
    finally:
        store.close()


def test_count(run: Run, db: Target) -> None:
    event = good_event("dev", schema_validated=True)
    _commit(db, [event, good_event("prod")], [bad_row("dev")])
    _commit(db, [event])  # resent: a duplicate

    counted = run("events", "count")
    assert counted.exit_code == 0
    rows = [line.split() for line in counted.stdout.splitlines()]
    assert rows == [
        ["ENVIRONMENT", "GOOD", "BAD", "DUPLICATES", "UNVALIDATED"],
        ["dev", "1", "1", "1", "0"],
        ["stage", "0", "0", "0", "0"],
        ["prod", "1", "0", "0", "1"],
    ]
    as_json = json.loads(run("events", "count", "--env", "dev", "--json").stdout)
    assert as_json == [
        {"environment": "dev", "good": 1, "bad": 1, "duplicates": 1, "unvalidated": 0}
    ]


def test_tail_newest_last(run: Run, db: Target) -> None:
    events = [good_event("dev", app_id=f"app{i}") for i in range(5)]
    _commit(db, events)
    tailed = run("events", "tail", "--env", "dev", "-n", "2")
    assert tailed.exit_code == 0
    lines = tailed.stdout.splitlines()
    assert [line.split()[1] for line in lines] == [events[3].event_id, events[4].event_id]
    assert lines[0].split()[3] == "app3"
    assert lines[0].split()[0] == "2023-11-14T22:13:20.000Z"

    as_json = [
        json.loads(line)
        for line in run("events", "tail", "--env", "dev", "--json").stdout.splitlines()
    ]
    assert [e["event_id"] for e in as_json] == [e.event_id for e in events]


def test_tail_bad_rows(run: Run, db: Target) -> None:
    _commit(db, [], [bad_row("stage", reason="e: not a known event type: 'zz'")])
    tailed = run("events", "tail", "--env", "stage", "--bad")
    assert tailed.exit_code == 0
    assert "tracker_protocol_violation  e: not a known event type: 'zz'" in tailed.stdout
    [line] = run("events", "tail", "--env", "stage", "--bad", "--json").stdout.splitlines()
    assert json.loads(line)["reason"] == "e: not a known event type: 'zz'"


def test_tail_of_unknown_environment(run: Run) -> None:
    tailed = run("events", "tail", "--env", "qa")
    assert (tailed.exit_code, tailed.stderr) == (1, "error: no environment 'qa'\n")


def test_show(run: Run, db: Target) -> None:
    event = good_event("prod", unstruct_event='{"schema":"test","data":{"foo":"bar"}}')
    _commit(db, [event])
    shown = run("events", "show", event.event_id)
    assert shown.exit_code == 0
    fields = dict(line.split(maxsplit=1) for line in shown.stdout.splitlines())
    assert fields["environment"] == "prod"
    assert fields["event_id"] == event.event_id
    assert fields["collector_tstamp"] == "2023-11-14T22:13:20.000Z (1700000000000)"
    [as_json] = json.loads(run("events", "show", event.event_id, "--json").stdout)
    assert as_json["event_id"] == event.event_id
    assert as_json["unstruct_event"] == {"schema": "test", "data": {"foo": "bar"}}

    missing = run("events", "show", str(uuid.uuid4()))
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: no stored event")
    not_an_id = run("events", "show", "nope")
    assert (not_an_id.exit_code, not_an_id.stderr) == (
        1,
        "error: not an event id (a UUID): 'nope'\n",
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_follow_prints_new_events_and_ends_cleanly_on_ctrl_c(db: Target) -> None:
    _commit(db, [good_event("dev", app_id="before")])
    command = [sys.executable, "-m", "datacoral", "events", "tail", "--env", "dev", "--follow"]
    with subprocess.Popen(
        command,
        env={**os.environ, "DATACORAL_DB": str(db)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=_forward, args=(child.stdout, lines), daemon=True).start()
        try:
            assert "before" in lines.get(timeout=20)
            later = good_event("dev", app_id="after")
            _commit(db, [later])
            assert later.event_id in lines.get(timeout=20)
            child.send_signal(signal.SIGINT)
            assert child.wait(timeout=20) == 0
            assert "Traceback" not in child.stderr.read()
        finally:
            if child.poll() is None:
                child.kill()


def _forward(stream: IO[str], lines: queue.SimpleQueue[str]) -> None:
    for line in stream:
        lines.put(line)
