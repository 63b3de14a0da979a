"""Which value each setting takes: option > environment variable > config file > default.

:func:`resolve` builds a command's settings object from the three sources and keeps
where each value came from (a :class:`Source`), for ``datacoral config show`` and for
errors: a value the settings class refuses is named the way the user set it
(``--port``, ``DATACORAL_PORT`` or ``datacoral.toml:3: serve.port``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

from datacoral.config_file import ConfigFile, setting_fields
from datacoral.storage.jetstream_settings import hide_secret

S = TypeVar("S")
SourceKind = Literal["flag", "env", "file", "default"]


def env_var(setting: str) -> str:
    """The environment variable a setting is read from: ``DATACORAL_<NAME>``."""
    return f"DATACORAL_{setting.upper()}"


@dataclass(frozen=True)
class Source:
    """Where one setting's value came from."""

    kind: SourceKind
    #: How the user names it there: ``--port``, ``DATACORAL_PORT``, ``serve.port``; for a
    #: default, the setting's own name.
    name: str
    #: For the file: ``path:line`` (the path alone when the line is unknown).
    location: str = ""
    #: What the user wrote, as text (one entry per value of a list); empty for a secret.
    given: tuple[str, ...] = dataclasses.field(default=(), repr=False)

    @property
    def label(self) -> str:
        """The setting as a message names it: ``datacoral.toml:3: serve.port``, ``--port``."""
        return f"{self.location}: {self.name}" if self.location else self.name

    @property
    def where(self) -> str:
        """The option, the variable, or the file and line; empty for a default."""
        if self.kind == "default":
            return ""
        return self.location or self.name


@dataclass(frozen=True)
class Resolved(Generic[S]):
    """A command's settings and the source of each."""

    settings: S
    sources: Mapping[str, Source]


def resolve(
    settings_class: type[S],
    *,
    table: str,
    options: Mapping[str, str],
    flags: Mapping[str, Any],
    env_values: Mapping[str, Any],
    environ: Mapping[str, str],
    config: ConfigFile | None,
) -> Resolved[S]:
    """``settings_class`` from ``flags`` (setting → value given to its option, None when
    not given; ``options`` names the options), ``env_values`` (parsed from ``environ``),
    the ``table`` of ``config``, and the defaults, in that order of precedence.

    ValueError, naming the setting as the user set it, when a required setting has no
    value or the settings class refuses one.
    """
    file_values = config.table(table) if config is not None else {}
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for name, field in setting_fields(settings_class).items():
        flag = flags.get(name)
        if flag is not None:
            values[name] = flag
            source = Source("flag", options[name], given=_texts(flag))
        elif name in env_values:
            values[name] = env_values[name]
            raw = environ.get(env_var(name), "")
            given = tuple(part.strip() for part in raw.split(",") if part.strip())
            source = Source("env", env_var(name), given=given)
        elif name in file_values and config is not None:
            found = file_values[name]
            values[name] = found.value
            location = config.location(found.line)
            source = Source("file", f"{table}.{name}", location, found.given)
        else:
            if field.required:
                ways = [options[name]] if name in options else []
                ways += [env_var(name), f"or {name} in the [{table}] table of the config file"]
                raise ValueError(f"{name} must be given: {', '.join(ways)}")
            source = Source("default", name)
        # A URL's password is never repeated in a message; a secret's value not at all.
        shown = () if field.secret else tuple(hide_secret(text) for text in source.given)
        sources[name] = dataclasses.replace(source, given=shown)
    build = cast(Callable[..., S], settings_class)
    try:
        settings = build(**values)
    except ValueError as exc:
        raise ValueError(in_user_terms(str(exc), sources)) from exc
    return Resolved(settings, sources)


def in_user_terms(message: str, sources: Mapping[str, Source]) -> str:
    """A settings class's error names a field (``port must be 0-65535``); say it with the
    option, variable or file line the user set (``--port must be 0-65535, got 70000``)."""
    for name, source in sources.items():
        option = "--" + name.replace("_", "-")
        if message.startswith(option + " "):  # datacoral.schemas names the --iglu option
            return message if source.kind == "flag" else source.label + message[len(option) :]
    for name, source in sources.items():
        if message.startswith(f"{name} "):
            message = source.label + message[len(name) :]
            if len(source.given) == 1 and " must be " in message and "got" not in message:
                message += f", got {source.given[0]}"
            return message
    # A message that quotes a bad value without naming the setting (a malformed CIDR).
    for source in sources.values():
        if source.kind != "default" and any(repr(text) in message for text in source.given):
            return f"{source.label}: {message}"
    return message


def _texts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, tuple) else (value,)
    return tuple(str(item) for item in items)
