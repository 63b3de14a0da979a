"""``datacoral config show``: every setting a command would run with, and where it came from.

The settings are read exactly as the command reads them (its options, when given
after its name, then ``DATACORAL_*`` variables, then the config file, then the
defaults) and checked the same way, so a setting the command would refuse is the
same error here. Nothing is started or opened. Secrets are masked: a URL's password,
an Iglu Server key, and every setting named like a key, token, secret or password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import click
from click.core import ParameterSource

from datacoral.cli import load as load_command
from datacoral.cli import serve as serve_command
from datacoral.cli.config_option import CONFIG_ENVVAR, config_option, config_source
from datacoral.cli.context import json_option
from datacoral.cli.output import echo, echo_json, echo_table
from datacoral.config_file import setting_fields
from datacoral.config_sources import Resolved
from datacoral.storage.target import DatabaseURL

MASK = "***"
COMMANDS = ("serve", "load")


@click.group()
def config() -> None:
    """Show the settings a command runs with (options, variables, config file, defaults)."""


@config.command(
    "show",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@config_option()
@json_option
@click.argument("command_args", nargs=-1, type=click.UNPROCESSED, metavar="[serve|load] [OPTIONS]")
@click.pass_context
def show(
    ctx: click.Context, config: Path | None, as_json: bool, command_args: tuple[str, ...]
) -> None:
    """Print each setting of `datacoral serve` (or `load`) with its value and source:
    flag, env, file (with its line) or default.

    Options after the command's name are that command's, e.g.
    `datacoral config show serve --port 9090 --config datacoral.toml`.
    """
    args = list(command_args)
    name = args.pop(0) if args and args[0] in COMMANDS else "serve"
    command = serve_command.serve if name == "serve" else load_command.load
    with command.make_context(name, args, parent=ctx) as sub:
        # The command's own --config, else this one's, else the variable (either read it).
        used_by = config_source(sub)
        if sub.get_parameter_source("config") is not ParameterSource.COMMANDLINE and config:
            sub.params["config"] = config
            used_by = config_source(ctx)
        resolved = _resolve(name, sub.params)
        file = sub.params.get("config")
    rows = _rows(resolved)
    if as_json:
        echo_json(
            {
                "command": name,
                "config_file": None if file is None else str(file),
                "settings": {
                    setting: {"value": value, "source": kind, "where": where or None}
                    for setting, value, kind, where in rows
                },
            }
        )
        return
    if file is None:
        echo(f"datacoral {name}: no config file (--config FILE or {CONFIG_ENVVAR})")
    else:
        echo(f"datacoral {name}: config file {file} (from {used_by})")
    echo_table(
        ("setting", "value", "source", "where"),
        [(setting, _text(value), kind, where) for setting, value, kind, where in rows],
    )


def _resolve(name: str, params: dict[str, Any]) -> Resolved[Any]:
    if name == "serve":
        return serve_command.serve_settings(params)
    return load_command.load_settings(params)


def _rows(resolved: Resolved[Any]) -> list[tuple[str, Any, str, str]]:
    fields = setting_fields(type(resolved.settings))
    rows: list[tuple[str, Any, str, str]] = []
    for setting, source in resolved.sources.items():
        value = shown_value(getattr(resolved.settings, setting), secret=fields[setting].secret)
        rows.append((setting, value, source.kind, source.where))
    return rows


def shown_value(value: Any, *, secret: bool) -> Any:
    """A setting's value as ``config show`` prints it (JSON-ready), secrets masked.

    A secret that is not a URL is hidden whole; in a URL, the password and a
    ``password=`` parameter are, and for a secret setting the user name too (an Iglu
    Server's key is written there).
    """
    if isinstance(value, tuple):
        return [shown_value(item, secret=secret) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, DatabaseURL):
        return str(value)  # its password already hidden
    text = str(value)
    if "://" in text:
        return mask_url(text, user_is_secret=secret)
    return MASK if secret else text


def mask_url(url: str, *, user_is_secret: bool = False) -> str:
    """``url`` with its password (and ``password=`` parameter) as ``***``; with
    ``user_is_secret``, the user name too."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return MASK
    netloc = parts.netloc
    if user is not None or password is not None:
        host = netloc.rpartition("@")[2]
        shown_user = MASK if user_is_secret else (user or "")
        netloc = f"{shown_user}:{MASK}@{host}" if password is not None else f"{shown_user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_parameter(key) for key, _ in pairs):
            masked = [(key, MASK if _secret_parameter(key) else value) for key, value in pairs]
            query = urlencode(masked, safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _secret_parameter(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in ("password", "apikey", "api_key", "token", "secret"))


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) if value else "(none)"
    return str(value)
