"""What ``serve``, ``load`` and ``config show`` share to read their settings: the
``--config FILE`` option (or ``DATACORAL_CONFIG``) and the options given as flags."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from datacoral.cli.errors import CLIError
from datacoral.config_file import ConfigFile, ConfigFileError, read_config_file
from datacoral.storage.target import Target

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_ENVVAR = "DATACORAL_CONFIG"


def config_option() -> Callable[[F], F]:
    """``--config FILE``: the TOML config file, read before the command does anything."""
    return click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_ENVVAR,
        default=None,
        metavar="FILE",
        help="A TOML file with the settings of each command in its table ([serve], [load]);"
        f" options and DATACORAL_* variables win over it [env {CONFIG_ENVVAR}].",
    )


def read_config(path: Path | None) -> ConfigFile | None:
    """The checked config file at ``path`` (None: no file); CLIError naming the line."""
    if path is None:
        return None
    try:
        return read_config_file(path)
    except ConfigFileError as exc:
        raise CLIError(str(exc)) from exc


def config_source(ctx: click.Context) -> str:
    """How ``--config`` was given to the command of ``ctx``: ``--config`` or the variable."""
    if ctx.get_parameter_source("config") is ParameterSource.ENVIRONMENT:
        return CONFIG_ENVVAR
    return "--config"


def flag_values(params: Mapping[str, Any], options: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as options (``options``: setting → option) in a command's
    parsed ``params``: a value each, None when not given (an empty repeatable too).

    ``db`` is the command's ``--db``, else the one before the command (``datacoral --db X
    serve``) when typed there: ``DATACORAL_DB``, that option's variable, is the
    environment's and has its own place in the order.
    """
    flags: dict[str, Any] = {}
    for name in options:
        value = params.get(name)
        flags[name] = (value or None) if isinstance(value, tuple) else value
    if "db" in options:
        flags["db"] = command_line_db(params.get("db"))
    return flags


def command_line_db(db: Target | None) -> Target | None:
    """The command's ``--db``, else the root's when given on the command line."""
    if db is not None:
        return db
    root = click.get_current_context().find_root()
    if root.get_parameter_source("db") is ParameterSource.COMMANDLINE:
        value: Target | None = root.params.get("db")
        return value
    return None
