"""How commands print: aligned tables and lines for people, JSON for programs.

Everything printed for people goes through :func:`printable`, because stored
events, labels and names come from outside (an event sent with a public browser
key can carry anything): a control character is shown as a visible escape
(``\\x1b``), never sent to the operator's terminal. JSON output stays exact JSON.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Sequence

import click

#: C0 controls (tab and newline included), DEL and the C1 controls.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: What json.dumps(ensure_ascii=False) leaves raw although a terminal may act on it.
_JSON_RAW_CONTROL = re.compile("[\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` safe for a terminal: control characters as visible escapes.

    ``\\t``, ``\\n`` and ``\\r`` are shown as such, the others as ``\\xNN``; every
    other character, accented and non-Latin letters included, stays as it is.
    ``keep_newlines`` keeps line breaks, for text of several lines we wrote.
    """
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escape, text)


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print a line (or lines) for a person, on stdout or (``err``) stderr."""
    click.echo(printable(text, keep_newlines=True), err=err, nl=nl)


def cell(value: object) -> str:
    """One table cell or line field, on one line: None shows as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return printable(str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    lines = [[cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for line in lines:
        for column, text in enumerate(line):
            widths[column] = max(widths[column], len(text))
    out = []
    for line in [list(headers), *lines]:
        padded = [text.ljust(width) for text, width in zip(line, widths, strict=True)]
        out.append("  ".join(padded).rstrip())
    return "\n".join(out)


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    echo(table(headers, rows))


def json_text(value: object, *, lines: bool = False) -> str:
    """Pretty JSON, or compact (``lines``); non-ASCII text stays readable.

    json.dumps escapes C0 controls; DEL and C1 controls, which JSON allows raw,
    are escaped too (``\\u009b``), which decodes to the same value.
    """
    if lines:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=2)
    # Outside strings JSON has no such characters, so this only touches string contents.
    return _JSON_RAW_CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def echo_json(value: object, *, lines: bool = False) -> None:
    """Pretty JSON, or one compact object per line (``lines``) for streams."""
    click.echo(json_text(value, lines=lines))


def timestamp(ms: int | None) -> str | None:
    """Epoch milliseconds in ISO 8601, UTC: ``2026-11-26T12:00:00.123Z``."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)  # integers: no float rounding of the milliseconds
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"
