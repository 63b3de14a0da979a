"""``datacoral events ...``: count, tail, show and export stored events."""

from __future__ import annotations

import dataclasses
import json
import time

import click

from datacoral.cli.context import db_option, json_option, open_store
from datacoral.cli.errors import CLIError
from datacoral.cli.events_export import export_command
from datacoral.cli.output import cell, echo, echo_json, echo_table, table, timestamp
from datacoral.export.records import event_json as event_json
from datacoral.storage.base import AdminStorage, GoodEvent, StoredBadRow, StoredEvent
from datacoral.storage.target import Target

#: How often ``tail --follow`` looks for new rows.
FOLLOW_INTERVAL = 0.3


@click.group()
def events() -> None:
    """Look at stored events."""


events.add_command(export_command)


@events.command("count")
@click.option("--env", "environment", default=None, help="Only this environment.")
@json_option
@db_option()
def count(environment: str | None, as_json: bool, db: Target | None) -> None:
    """Good events, bad rows and recognised duplicates per environment, and how many of
    the good events were stored unvalidated (validation off, or lenient and a schema that
    could not be resolved)."""
    with open_store(db) as store:
        counts = store.count_events(environment)
    if as_json:
        echo_json([dataclasses.asdict(c) for c in counts])
        return
    echo_table(
        ("ENVIRONMENT", "GOOD", "BAD", "DUPLICATES", "UNVALIDATED"),
        ((c.environment or "(none)", c.good, c.bad, c.duplicates, c.unvalidated) for c in counts),
    )


@events.command("tail")
@click.option("--env", "environment", required=True, help="The environment to watch.")
@click.option("-n", "limit", default=10, show_default=True, help="How many recent rows.")
@click.option("--bad", is_flag=True, help="Bad rows instead of good events.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new rows until Ctrl-C.")
@json_option
@db_option()
def tail(
    environment: str, limit: int, bad: bool, follow: bool, as_json: bool, db: Target | None
) -> None:
    """The latest events of an environment, newest last (JSON: one object per line)."""
    if limit < 0:
        raise CLIError("-n must not be negative")
    with open_store(db) as store:
        rows: list[StoredEvent] | list[StoredBadRow]
        if bad:
            rows = store.latest_bad_rows(environment, limit)
        else:
            rows = store.latest_events(environment, limit)
        position = rows[-1].position if rows else _last_position(store, environment, bad)
        _print_rows(rows, as_json, header=not follow)
        if not follow:
            return
        try:
            while True:
                time.sleep(FOLLOW_INTERVAL)
                newer: list[StoredEvent] | list[StoredBadRow]
                if bad:
                    newer = store.bad_rows_after(environment, position)
                else:
                    newer = store.events_after(environment, position)
                if newer:
                    position = newer[-1].position
                    _print_rows(newer, as_json, header=False)
        except KeyboardInterrupt:
            return  # Ctrl-C is how --follow ends: a normal exit


@events.command("show")
@click.argument("event_id")
@json_option
@db_option()
def show(event_id: str, as_json: bool, db: Target | None) -> None:
    """Every stored field of event EVENT_ID (in each environment that has it)."""
    with open_store(db) as store:
        found = store.find_events(event_id)
    if not found:
        raise CLIError(f"no stored event {event_id!r}")
    if as_json:
        echo_json([event_json(s) for s in found])
        return
    for index, stored in enumerate(found):
        if index:
            echo()
        fields = event_json(stored)
        shown = [
            (name, _show_value(name, value)) for name, value in fields.items() if value is not None
        ]
        echo(table(("FIELD", "VALUE"), shown))


def _print_rows(rows: list[StoredEvent] | list[StoredBadRow], as_json: bool, header: bool) -> None:
    if as_json:
        for row in rows:
            if isinstance(row, StoredEvent):
                echo_json(event_json(row), lines=True)
            else:
                echo_json({"position": row.position, **dataclasses.asdict(row.row)}, lines=True)
        return
    lines = [
        _good_line(row.event) if isinstance(row, StoredEvent) else _bad_line(row) for row in rows
    ]
    if header and not lines:
        echo("(no rows yet)", err=True)
    for line in lines:
        echo(line)


def _good_line(event: GoodEvent) -> str:
    """One event on one line; each field escaped, so none can break the line."""
    schema = "/".join(
        part for part in (event.event_vendor, event.event_name, event.event_version) if part
    )
    return "  ".join(
        cell(part)
        for part in (
            timestamp(event.collector_tstamp),
            event.event_id,
            event.event,
            event.app_id or None,
            schema,
        )
        if part != ""
    )


def _bad_line(stored: StoredBadRow) -> str:
    row = stored.row
    return "  ".join(cell(part) for part in (timestamp(row.received_tstamp), row.kind, row.reason))


def _last_position(store: AdminStorage, environment: str, bad: bool) -> int:
    """Where following starts when nothing is shown: after the newest row."""
    if bad:
        last_bad = store.latest_bad_rows(environment, 1)
        return last_bad[-1].position if last_bad else 0
    last = store.latest_events(environment, 1)
    return last[-1].position if last else 0


def _show_value(name: str, value: object) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if name.endswith("tstamp") and isinstance(value, int):
        return f"{timestamp(value)} ({value})"
    return str(value)
