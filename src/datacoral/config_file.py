"""The TOML configuration file: ``--config datacoral.toml`` or ``DATACORAL_CONFIG``.

One table per command: ``[serve]`` and ``[load]``. A key is a setting's name, which is
its ``DATACORAL_*`` variable in lower case without the prefix (``port``,
``max_body_bytes``, ``load_batch_size``). Keys and the types they take are read from
the settings classes themselves, so every setting is a key the moment it exists.

A table no command has, a key no setting has, or a value of the wrong type is a
:class:`ConfigFileError` naming the file, the line and, for a type, what was expected.
Values are then checked by the settings class like any other value (see
:mod:`datacoral.config_sources` for which source wins). Relative paths in the file are
relative to the current directory, as on the command line.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from datacoral.config import Settings
from datacoral.loader.settings import LoaderSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The tables of the file and the settings each holds.
TABLES: Mapping[str, type[Any]] = {"serve": Settings, "load": LoaderSettings}
#: Fields of the settings classes that are not settings anyone sets.
NOT_SETTINGS = frozenset({"extra"})
_SECRET_NAME = re.compile(r"apikey|api_key|token|secret|password", re.IGNORECASE)


class ConfigFileError(ValueError):
    """The file cannot be read, is not TOML, or holds a key or value no setting takes."""


@dataclass(frozen=True)
class SettingField:
    """One setting of a settings class, as the file and the sources see it."""

    name: str
    #: The field's type annotation, evaluated (``int``, ``str | None``, ``tuple[str, ...]``).
    hint: Any
    #: No default: a value must come from somewhere.
    required: bool
    #: Its value may hold a password or a key (``repr=False``, or a name like ``apikey``).
    secret: bool


def setting_fields(settings_class: type[Any]) -> dict[str, SettingField]:
    """The settings of a settings dataclass, in declaration order."""
    hints = get_type_hints(settings_class)
    return {
        f.name: SettingField(
            name=f.name,
            hint=hints[f.name],
            required=f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            secret=not f.repr or bool(_SECRET_NAME.search(f.name)),
        )
        for f in dataclasses.fields(settings_class)
        if f.name not in NOT_SETTINGS
    }


@dataclass(frozen=True)
class FileValue:
    """A setting's value as the file gives it, converted to the setting's type."""

    value: Any
    #: The key's line, when the scan of the text found it.
    line: int | None
    #: What was written, as text (one entry per item of an array), for messages.
    given: tuple[str, ...]


@dataclass(frozen=True)
class ConfigFile:
    """A read and checked configuration file."""

    path: Path
    tables: Mapping[str, Mapping[str, FileValue]]

    def table(self, name: str) -> Mapping[str, FileValue]:
        """The settings of table ``name`` (empty when the file has no such table)."""
        return self.tables.get(name, {})

    def location(self, line: int | None) -> str:
        """``path:line`` (just the path when the line is not known), for messages."""
        return f"{self.path}:{line}" if line is not None else str(self.path)


def read_config_file(path: Path) -> ConfigFile:
    """Read, parse and check ``path``; :class:`ConfigFileError` says what is wrong where."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigFileError(f"cannot read the config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path}: not a TOML file (TOML is UTF-8 text)") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.search(str(exc))
        if found is None:
            raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
        reason = str(exc)[: found.start()]
        raise ConfigFileError(
            f"{path}:{found['line']}: not valid TOML: {reason} (column {found['column']})"
        ) from None
    checker = _Checker(path, KeyLines(text))
    return ConfigFile(path, checker.tables(document))


class _Checker:
    """Checks a parsed document against :data:`TABLES`, naming lines in its errors."""

    def __init__(self, path: Path, lines: KeyLines) -> None:
        self._path = path
        self._lines = lines

    def _error(self, key_path: tuple[str, ...], message: str) -> ConfigFileError:
        line = self._lines.line(key_path)
        where = f"{self._path}:{line}" if line is not None else str(self._path)
        return ConfigFileError(f"{where}: {message}")

    def tables(self, document: Mapping[str, Any]) -> dict[str, dict[str, FileValue]]:
        checked = {}
        for name, content in document.items():
            settings_class = TABLES.get(name)
            if settings_class is None:
                raise self._error((name,), self._unknown_table(name, content))
            if not isinstance(content, dict):
                raise self._error((name,), f"{name} must be a table: write [{name}] above its keys")
            checked[name] = self._table(name, content, setting_fields(settings_class))
        return checked

    def _unknown_table(self, name: str, content: object) -> str:
        tables = " and ".join(f"[{table}]" for table in TABLES)
        homes = [table for table, cls in TABLES.items() if name in setting_fields(cls)]
        if homes and not isinstance(content, dict):
            return f"{name} must be in a table: put it under [{homes[0]}]"
        unknown = f"table [{name}]" if isinstance(content, dict) else f"key {_key_text(name)}"
        return f"unknown {unknown}: the file's tables are {tables}"

    def _table(
        self, table: str, content: Mapping[str, Any], fields: Mapping[str, SettingField]
    ) -> dict[str, FileValue]:
        values = {}
        for key, raw in content.items():
            field = fields.get(key)
            if field is None:
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self._error((table, key), f"unknown key {_key_text(key)} in [{table}]{hint}")
            try:
                value = convert(field.hint, raw)
            except _WrongType as wrong:
                got = "" if field.secret else f", got {describe(raw)}"
                raise self._error(
                    (table, key), f"{table}.{key} must be {wrong.expected}{got}"
                ) from None
            values[key] = FileValue(value, self._lines.line((table, key)), _given(raw))
        return values


class _WrongType(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def convert(hint: Any, value: Any) -> Any:
    """A TOML value as a setting of type ``hint`` takes it; ``_WrongType`` when it cannot.

    A type this does not know takes a string, as it does from its environment variable,
    and the settings class parses it.
    """
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = [member for member in get_args(hint) if member is not type(None)]
        if len(members) == 1:  # optional: leave the key out for None
            return convert(members[0], value)
        hint = str  # e.g. a path or a database URL: the settings class tells them apart
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices or isinstance(value, bool):
            raise _WrongType("one of " + ", ".join(json.dumps(choice) for choice in choices))
        return value
    if origin is tuple:
        if get_args(hint)[0] is not str or not isinstance(value, list):
            raise _WrongType('an array of strings, like ["a", "b"]')
        if not all(isinstance(item, str) for item in value):
            raise _WrongType('an array of strings, like ["a", "b"]')
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise _WrongType("true or false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _WrongType("an integer")
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _WrongType("a number")
        return float(value)
    if not isinstance(value, str):
        raise _WrongType("a path (a string)" if hint is Path else "a string")
    return Path(value) if hint is Path else value


def describe(value: object) -> str:
    """A TOML value as a message shows it: its TOML text, or its kind when it is large."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return f"the string {text}" if len(text) <= 60 else "a long string"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return text if len(text) <= 60 else "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"  # date, time, datetime


def _given(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    if isinstance(value, bool):
        return ("true" if value else "false",)
    return (str(value),)


def _key_text(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key, ensure_ascii=False)


_BARE = re.compile(r"[A-Za-z0-9_-]+")
_TOML_POSITION = re.compile(r" \(at line (?P<line>\d+), column (?P<column>\d+)\)$")
_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_PARTS = re.compile(_PART)
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_KEY = re.compile(rf"\s*({_DOTTED})\s*=")


class KeyLines:
    """The line of each table header and key of a TOML text.

    tomllib gives values without positions; this scan of the text finds where each
    key path (``("serve", "port")``) is first written: under a ``[table]`` header, as
    a dotted key (``serve.port = 1``), or (as its table's line) inside an inline
    table. Lines inside multi-line strings are skipped.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        open_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if open_string is not None:
                if line.count(open_string) % 2 == 1:
                    open_string = None
                continue
            header = _HEADER.match(line)
            if header:
                table = _parts(header.group(1))
                self._lines.setdefault(table, number)
                continue
            rest = line
            key = _KEY.match(line)
            if key:
                path = table + _parts(key.group(1))
                for end in range(len(table) + 1, len(path) + 1):  # serve.port: serve too
                    self._lines.setdefault(path[:end], number)
                rest = line[key.end() :]
            for quotes in ('"""', "'''"):
                if rest.count(quotes) % 2 == 1:
                    open_string = quotes
                    break

    def line(self, path: tuple[str, ...]) -> int | None:
        """The line of ``path``, else of the closest table or key holding it; None if unseen."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return None


def _parts(dotted: str) -> tuple[str, ...]:
    parts = []
    for match in _PARTS.finditer(dotted):
        part = match.group()
        if part.startswith('"'):
            try:
                part = json.loads(part)
            except ValueError:  # a TOML escape JSON lacks (\U0001F600): close enough
                part = part[1:-1]
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)
