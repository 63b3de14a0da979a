"""Nothing stored reaches the operator's terminal as a control sequence; JSON stays exact."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

import pytest

from datacoral.cli.errors import CLIError
from datacoral.cli.output import json_text, printable, table, timestamp
from datacoral.storage import open_storage
from datacoral.storage.base import GoodEvent
from datacoral.storage.target import Target
from tests.cli.conftest import Run
from tests.storage.factories import good_event

CLI_SOURCES = Path(__file__).resolve().parents[2] / "src" / "datacoral" / "cli"

#: What a hostile page can put into an event through a public browser key.
CLEAR_SCREEN_AND_TITLE = "\x1b[2J\x1b]0;evil\x07"
OSC52_CLIPBOARD_WRITE = "\x1b]52;c;ZXZpbA==\x07"
C1_CSI_AND_DEL = "red\x9b31m\x7f"
BREAKS_A_TABLE = "two\tcolumns\nand\rlines"
READABLE = "café ☕ 日本語"

#: Any C0 control but the newline that ends a line, DEL, any C1 control.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _hostile_event() -> GoodEvent:
    return good_event(
        "dev",
        event="struct",
        app_id=OSC52_CLIPBOARD_WRITE,
        se_category=CLEAR_SCREEN_AND_TITLE,
        se_action=C1_CSI_AND_DEL,
        se_label=BREAKS_A_TABLE,
        se_property=READABLE,
        unstruct_event=json.dumps({"schema": "test", "data": {"x": "\x9b2J\x1b[2J"}}),
    )


def _commit(db: Target, event: GoodEvent) -> None:
    store = open_storage(db)
    store.open()
    try:
        asyncio.run(store.commit([event], []))
    finally:
        store.close()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x07\x00\x1f", "\\x07\\x00\\x1f"),
        ("a\tb\nc\rd", "a\\tb\\nc\\rd"),
        ("\x7f", "\\x7f"),
        ("\x80\x9b\x9f", "\\x80\\x9b\\x9f"),
        (READABLE, READABLE),
        ("\xa0é", "\xa0é"),  # U+00A0 and above are not controls
    ],
)
def test_printable_escapes_c0_del_and_c1(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_can_keep_our_own_line_breaks() -> None:
    assert printable("one\x1b\ntwo\r", keep_newlines=True) == "one\\x1b\ntwo\\r"


def test_a_table_cell_never_breaks_its_line() -> None:
    rendered = table(("A", "B"), [(BREAKS_A_TABLE, "x")])
    escaped = "two\\tcolumns\\nand\\rlines"
    assert rendered.splitlines() == [f"{'A'.ljust(len(escaped))}  B", f"{escaped}  x"]


def test_events_show_escapes_every_field(run: Run, db: Target) -> None:
    event = _hostile_event()
    _commit(db, event)
    shown = run("events", "show", event.event_id)
    assert shown.exit_code == 0
    assert not RAW_CONTROL.search(shown.stdout), repr(shown.stdout)
    fields = dict(line.split(maxsplit=1) for line in shown.stdout.splitlines())
    assert fields["app_id"] == "\\x1b]52;c;ZXZpbA==\\x07"
    assert fields["se_category"] == "\\x1b[2J\\x1b]0;evil\\x07"
    assert fields["se_action"] == "red\\x9b31m\\x7f"
    assert fields["se_label"] == "two\\tcolumns\\nand\\rlines"
    assert fields["se_property"] == READABLE
    # C0 escaped by JSON, C1 by us; PostgreSQL's jsonb keeps keys in its own order.
    assert fields["unstruct_event"] in (
        '{"schema": "test", "data": {"x": "\\x9b2J\\u001b[2J"}}',
        '{"data": {"x": "\\x9b2J\\u001b[2J"}, "schema": "test"}',
    )


def test_events_tail_escapes_every_field(run: Run, db: Target) -> None:
    event = _hostile_event()
    _commit(db, event)
    tailed = run("events", "tail", "--env", "dev")
    assert tailed.exit_code == 0
    assert not RAW_CONTROL.search(tailed.stdout), repr(tailed.stdout)
    [line] = tailed.stdout.splitlines()
    assert line.split("  ")[3] == "\\x1b]52;c;ZXZpbA==\\x07"


def test_json_output_stays_exact_json(run: Run, db: Target) -> None:
    event = _hostile_event()
    _commit(db, event)
    for args in (
        ("events", "show", event.event_id, "--json"),
        ("events", "tail", "--env", "dev", "--json"),
    ):
        text = run(*args).stdout
        assert not RAW_CONTROL.search(text), repr(text)
        assert READABLE in text  # non-ASCII printable text is not \u-escaped
        decoded = json.loads(text) if args[1] == "show" else [json.loads(text)]
        [stored] = decoded
        assert stored["app_id"] == OSC52_CLIPBOARD_WRITE
        assert stored["se_category"] == CLEAR_SCREEN_AND_TITLE
        assert stored["se_action"] == C1_CSI_AND_DEL
        assert stored["se_label"] == BREAKS_A_TABLE
        assert stored["se_property"] == READABLE
        assert stored["unstruct_event"]["data"]["x"] == "\x9b2J\x1b[2J"


def test_json_text_escapes_del_and_c1_as_json() -> None:
    assert json_text({"k": "\x7f\x9b\x1b é"}, lines=True) == '{"k":"\\u007f\\u009b\\u001b é"}'


def test_key_labels_are_escaped_in_listings(run: Run) -> None:
    assert run("key", "create", "--env", "dev", "--label", CLEAR_SCREEN_AND_TITLE).exit_code == 0
    listed = run("key", "list")
    assert not RAW_CONTROL.search(listed.stdout), repr(listed.stdout)
    assert "\\x1b[2J\\x1b]0;evil\\x07" in listed.stdout
    assert json.loads(run("key", "list", "--json").stdout)[0]["label"] == CLEAR_SCREEN_AND_TITLE


def test_error_lines_escape_what_they_echo() -> None:
    out = io.StringIO()
    CLIError(f"no origin {CLEAR_SCREEN_AND_TITLE}").show(file=out)
    assert out.getvalue() == "error: no origin \\x1b[2J\\x1b]0;evil\\x07\n"


def test_every_command_prints_through_the_output_helpers() -> None:
    # Human-readable text goes through output.echo (and so through printable); a
    # direct click.echo elsewhere would bypass the escaping.
    offenders = [
        path.name
        for path in sorted(CLI_SOURCES.glob("*.py"))
        if path.name not in ("output.py", "errors.py") and "click.echo(" in path.read_text()
    ]
    assert offenders == []


def test_timestamps_are_iso_8601() -> None:
    assert timestamp(1_796_548_686_031) == "2026-12-06T09:18:06.031Z"
    assert timestamp(1_700_000_000_000) == "2023-11-14T22:13:20.000Z"
    assert timestamp(None) is None
