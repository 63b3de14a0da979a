"""How commands print: aligned tables for people, JSON for programs."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence

import click


def cell(value: object) -> str:
    """One table cell: None shows as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


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
    click.echo(table(headers, rows))


def echo_json(value: object, *, lines: bool = False) -> None:
    """Pretty JSON, or one compact object per line (``lines``) for streams."""
    if lines:
        click.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def timestamp(ms: int | None) -> str | None:
    """Epoch milliseconds as ``2026-11-26 12:00:00.123Z`` (UTC)."""
    if ms is None:
        return None
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
