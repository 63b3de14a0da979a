"""The TOML config file (``--config`` / ``DATACORAL_CONFIG``) and ``datacoral config show``.

Precedence is option > environment variable > file > default; a key no setting has,
or a value of the wrong type, is one error line naming the file's line; secrets are
never printed. The settings are read by the very functions ``serve`` and ``load``
use, and one test runs a real server from a file, over each storage backend.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from datacoral.cli.app import cli
from datacoral.config import Settings
from datacoral.config_file import TABLES, read_config_file, setting_fields
from datacoral.loader.settings import LoaderSettings
from datacoral.storage import open_storage
from datacoral.storage.target import Target, target_argument
from tests.collector.builders import TP2, envelope, event, headers
from tests.support.server import RunningServer

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "datacoral.example.toml"


@pytest.fixture(autouse=True)
def _no_datacoral_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variables a test sets itself."""
    for name in list(os.environ):
        if name.startswith("DATACORAL_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "datacoral.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def show_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``datacoral config show --json ARGS``: {setting: {value, source, where}}."""
    result = invoke("config", "show", "--json", *args, env=env)
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def assert_error(result: Result, line: str) -> None:
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"error: {line}\n")


# The example file


def _uncommented(text: str) -> str:
    """The example with every ``# key = value`` line made a setting."""
    return re.sub(r"(?m)^# (\w+ = )", r"\1", text)


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def test_the_example_file_has_every_setting_once_with_its_default(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert read_config_file(EXAMPLE).tables == {"serve": {}, "load": {}}  # all commented out
    config = read_config_file(write(tmp_path, _uncommented(text)))
    for table, settings_class in TABLES.items():
        values = config.table(table)
        assert set(values) == set(setting_fields(settings_class)), table
        lines = text.splitlines()
        built = settings_class(**{name: found.value for name, found in values.items()})
        for field in dataclasses.fields(settings_class):
            if field.name not in values:
                continue
            found = values[field.name]
            assert found.line is not None
            written = lines[found.line - 1]
            assert written.startswith(f"# {field.name} = "), (table, written)
            if written.endswith("# example"):  # a value where the default is "not set"
                assert _default(field) in (None, dataclasses.MISSING, ()), field.name
                continue
            default = _default(field)
            assert getattr(built, field.name) == default, (table, field.name)
            assert found.value == (str(default) if isinstance(default, Path) else default)


# Where each value comes from


def test_each_value_comes_from_the_first_source_that_sets_it(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "[serve]\nport = 1111\nworkers = 3\nmax_body_bytes = 4096\n"
        'trusted_proxies = ["10.0.0.0/8", "192.168.0.0/16"]\ninspect = true\n',
    )
    env = {"DATACORAL_PORT": "2222", "DATACORAL_WORKERS": "4"}
    shown = show_json("serve", "--config", str(config), "--port", "3333", env=env)
    settings = shown["settings"]
    assert settings["port"] == {"value": 3333, "source": "flag", "where": "--port"}
    assert settings["workers"] == {"value": 4, "source": "env", "where": "DATACORAL_WORKERS"}
    assert settings["max_body_bytes"] == {
        "value": 4096,
        "source": "file",
        "where": f"{config}:4",
    }
    assert settings["trusted_proxies"]["value"] == ["10.0.0.0/8", "192.168.0.0/16"]
    assert settings["inspect"] == {"value": True, "source": "file", "where": f"{config}:6"}
    assert settings["host"] == {"value": "127.0.0.1", "source": "default", "where": None}
    assert shown["config_file"] == str(config)
    # Every setting is listed, the ones added by anyone included.
    assert list(settings) == list(setting_fields(Settings))


def test_db_from_the_command_line_the_environment_or_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, '[serve]\ndb = "from-file.sqlite"\n')
    source = show_json("--config", str(config))["settings"]["db"]
    assert source == {"value": "from-file.sqlite", "source": "file", "where": f"{config}:2"}
    env = {"DATACORAL_DB": "from-env.sqlite"}
    source = show_json("--config", str(config), env=env)["settings"]["db"]
    assert source == {"value": "from-env.sqlite", "source": "env", "where": "DATACORAL_DB"}
    # The option before the command's name, or the command's own.
    result = invoke("--db", "root.sqlite", "config", "show", "--json", "--config", str(config))
    db = json.loads(result.stdout)["settings"]["db"]
    assert db == {"value": "root.sqlite", "source": "flag", "where": "--db"}
    own = show_json("serve", "--db", "own.sqlite", "--config", str(config), env=env)
    assert own["settings"]["db"]["value"] == "own.sqlite"


def test_the_variable_names_the_file_and_the_option_wins(tmp_path: Path) -> None:
    by_variable = write(tmp_path, "[serve]\nport = 1111\n", "variable.toml")
    by_option = write(tmp_path, "[serve]\nport = 2222\n", "option.toml")
    env = {"DATACORAL_CONFIG": str(by_variable)}
    result = invoke("config", "show", env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"datacoral serve: config file {by_variable} (from DATACORAL_CONFIG)"
    )
    assert re.search(rf"(?m)^port +1111 +file +{re.escape(str(by_variable))}:2$", result.stdout)
    assert show_json("--config", str(by_option), env=env)["settings"]["port"]["value"] == 2222
    mine = show_json("serve", "--config", str(by_option), env=env)
    assert mine["settings"]["port"]["value"] == 2222
    assert invoke("config", "show").stdout.splitlines()[0] == (
        "datacoral serve: no config file (--config FILE or DATACORAL_CONFIG)"
    )


def test_load_reads_its_own_table(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[serve]\ndb = "postgresql://collector@db.example/events"\n\n'
        '[load]\ndb = "postgresql://loader@db.example/events"\n'
        'stream = ["nats://n1:4222", "nats://n2:4222"]\nload_ack_wait_seconds = 60\n',
    )
    settings = show_json("load", "--config", str(config), "--batch-size", "7")["settings"]
    assert settings["db"] == {
        "value": "postgresql://loader@db.example/events",
        "source": "file",
        "where": f"{config}:5",
    }
    assert settings["stream"]["value"] == ["nats://n1:4222", "nats://n2:4222"]
    assert settings["load_ack_wait_seconds"]["value"] == 60.0  # an integer for a number
    assert settings["load_batch_size"] == {"value": 7, "source": "flag", "where": "--batch-size"}
    assert list(settings) == list(setting_fields(LoaderSettings))
    # The [serve] table is not the loader's: without its own db, it has none.
    only_serve = write(tmp_path, '[serve]\ndb = "postgresql://x@h/events"\n', "serve.toml")
    assert_error(
        invoke("config", "show", "--config", str(only_serve), "load"),
        "db must be given: --db, DATACORAL_DB, or db in the [load] table of the config file",
    )
    batch = write(
        tmp_path,
        '[load]\ndb = "postgresql://h/events"\nstream = ["nats://h:4222"]\nload_batch_size = 0\n',
        "batch.toml",
    )
    assert_error(
        invoke("load", "--config", str(batch)),
        f"{batch}:4: load.load_batch_size must be 1-10000, got 0",
    )


# What is wrong, and where


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[serve]\nport = 1\nprot = 2\n", 3, "unknown key prot in [serve] (did you mean port?)"),
        ("[server]\nport = 1\n", 1, "unknown table [server]: the file's tables are"),
        ("\nworkers = 2\n[serve]\n", 2, "workers must be in a table: put it under [serve]"),
        ("[serve.limits]\nmax = 1\n", 1, "unknown key limits in [serve]"),
        ("serve.host = 'x'\nserve.hots = 'y'\n", 2, "unknown key hots in [serve]"),
        ('[serve]\n"cookie domain" = "x"\n', 2, 'unknown key "cookie domain" in [serve]'),
        ("[serve]\nx = 1\n[load]\n", 2, "unknown key x in [serve]"),
        ("[load]\nload_batch = 1\n", 2, "unknown key load_batch in [load] (did you mean"),
        # A key inside an inline table is found on the line of its table.
        ("\nserve = { port = 1, colour = 2 }\n", 2, "unknown key colour in [serve]"),
        # Lines inside a multi-line string are text, not keys.
        ('[serve]\nhost = """\nbogus = 1\n"""\nbogus = 2\n', 5, "unknown key bogus in [serve]"),
        ("[[serve]]\nport = 1\n", 1, "serve must be a table: write [serve] above its keys"),
    ],
)
def test_an_unknown_key_names_the_key_and_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    config = write(tmp_path, text)
    result = invoke("config", "show", "--config", str(config))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {config}:{line}: {message}"), result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('port = "8080"', 'serve.port must be an integer, got the string "8080"'),
        ("workers = 2.5", "serve.workers must be an integer, got 2.5"),
        ("max_connections = true", "serve.max_connections must be an integer, got true"),
        (
            "header_timeout_seconds = '5'",
            'serve.header_timeout_seconds must be a number, got the string "5"',
        ),
        ("access_log = 'yes'", 'serve.access_log must be true or false, got the string "yes"'),
        # stream's URLs may hold a password: what was written is not repeated.
        ('stream = "nats://h:4222"', 'serve.stream must be an array of strings, like ["a", "b"]'),
        (
            "trusted_proxies = [10]",
            'serve.trusted_proxies must be an array of strings, like ["a", "b"], got [10]',
        ),
        ("db = 5", "serve.db must be a string, got 5"),
        ("certfile = []", "serve.certfile must be a path (a string), got []"),
        ("host = 1979-05-27", "serve.host must be a string, got a date"),
        # A secret's value is not repeated, even when it is of the wrong type.
        ("iglu_apikey = 12345678", "serve.iglu_apikey must be a string"),
    ],
)
def test_a_wrong_type_names_the_key_its_line_and_what_was_expected(
    tmp_path: Path, text: str, message: str
) -> None:
    config = write(tmp_path, f"# settings\n[serve]\n{text}\n")
    assert_error(invoke("config", "show", "--config", str(config)), f"{config}:3: {message}")


def test_a_value_the_settings_refuse_names_its_line(tmp_path: Path) -> None:
    cases = {
        "max_body_bytes = 10": "serve.max_body_bytes must be at least 1024, got 10",
        'trusted_proxies = ["not-a-network"]': (
            "serve.trusted_proxies: 'not-a-network' does not appear to be an IPv4 or IPv6 network"
        ),
        'keyfile = "key.pem"': "serve.keyfile needs certfile, the certificate it is the key of",
        'log_level = "loud"': (
            "serve.log_level must be one of debug, info, warning, error, critical, got 'loud'"
        ),
        'iglu = ["/no/such/folder"]': "serve.iglu '/no/such/folder': no such folder",
    }
    for text, message in cases.items():
        config = write(tmp_path, f"[serve]\n\n{text}\n")
        assert_error(invoke("config", "show", "--config", str(config)), f"{config}:3: {message}")
    # The same value from the environment is named by its variable.
    config = write(tmp_path, "[serve]\nmax_body_bytes = 4096\n")
    env = {"DATACORAL_MAX_BODY_BYTES": "10"}
    assert_error(
        invoke("config", "show", "--config", str(config), env=env),
        "DATACORAL_MAX_BODY_BYTES must be at least 1024, got 10",
    )


def test_a_file_that_is_not_toml_or_not_there(tmp_path: Path) -> None:
    broken = write(tmp_path, "[serve]\nport = 1\nhost = \n")
    assert_error(
        invoke("config", "show", "--config", str(broken)),
        f"{broken}:3: not valid TOML: Invalid value (column 8)",
    )
    missing = tmp_path / "missing.toml"
    assert_error(
        invoke("serve", "--config", str(missing)),
        f"cannot read the config file {missing}: No such file or directory",
    )
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[serve]\ncookie_domain = "caf\xe9"\n')
    assert_error(
        invoke("config", "show", "--config", str(latin1)),
        f"{latin1}: not a TOML file (TOML is UTF-8 text)",
    )


# Secrets


SECRETS = ("hunter2", "KEY-1234", "apikey-5678", "natspass")


def test_secrets_are_masked_wherever_they_come_from(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "[serve]\n"
        'db = "postgresql://app:hunter2@db.example:5432/events?sslmode=require"\n'
        'stream = ["nats://app:natspass@n1:4222"]\n'
        'iglu = ["iglu-server+https://KEY-1234@iglu.example.com"]\n',
    )
    env = {"DATACORAL_IGLU_APIKEY": "apikey-5678"}
    text = invoke("config", "show", "--config", str(config), env=env)
    assert text.exit_code == 0, text.output
    shown = show_json("--config", str(config), env=env)["settings"]
    for secret in SECRETS:
        assert secret not in text.output and secret not in json.dumps(shown)
    assert shown["db"]["value"] == "postgresql://app:***@db.example:5432/events?sslmode=require"
    assert shown["stream"]["value"] == ["nats://***:***@n1:4222"]
    assert shown["iglu"]["value"] == ["iglu-server+https://***@iglu.example.com"]
    assert shown["iglu_apikey"] == {
        "value": "***",
        "source": "env",
        "where": "DATACORAL_IGLU_APIKEY",
    }
    # Nor does an error repeat them.
    wrong = write(
        tmp_path,
        '[serve]\ndb = "postgresql://h/events"\nstream = ["http://app:natspass@n1:4222"]\n',
        "wrong.toml",
    )
    refused = invoke("config", "show", "--config", str(wrong))
    assert refused.exit_code == 1 and "natspass" not in refused.output
    assert "http://app:***@n1:4222" in refused.stderr


def test_a_password_in_a_url_parameter_and_a_token_are_masked() -> None:
    from datacoral.cli.config import mask_url, shown_value

    assert mask_url("nats://h:4222/?password=metricstoken&x=1") == (
        "nats://h:4222/?password=***&x=1"
    )
    assert mask_url("https://h/?token=metricstoken") == "https://h/?token=***"
    assert shown_value("metricstoken", secret=True) == "***"
    assert shown_value("plain", secret=False) == "plain"
    assert setting_fields(Settings)["iglu_apikey"].secret
    assert not setting_fields(Settings)["keyfile"].secret  # a path, not the key itself


# serve and load use the file


@pytest.fixture
def server_from_file(db: Target, tmp_path: Path) -> Iterator[RunningServer]:
    """``datacoral serve --config FILE`` with only the port on the command line: the
    database and a body limit of 2 KiB come from the file."""
    config = write(tmp_path, f"[serve]\ndb = {json.dumps(target_argument(db))}\n")
    with config.open("a") as file:
        file.write("max_body_bytes = 2048\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "datacoral", "serve", "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**env, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    server = RunningServer(process)
    server.wait_listening(30)
    try:
        yield server
    finally:
        assert server.terminate() == 0, server.log()


def test_serve_runs_with_the_settings_of_the_file(
    db: Target, server_from_file: RunningServer
) -> None:
    store = open_storage(db)
    try:
        _, key = store.create_key("dev")
    finally:
        store.close()
    small = requests.post(
        server_from_file.url + TP2, json=envelope(event()), headers=headers(key), timeout=10
    )
    assert small.status_code == 200
    big = event(se_la="x" * 3000)
    too_big = requests.post(
        server_from_file.url + TP2, json=envelope(big), headers=headers(key), timeout=10
    )
    assert too_big.status_code == 413
    store = open_storage(db)
    try:
        counts = {c.environment: (c.good, c.bad) for c in store.count_events()}
    finally:
        store.close()
    assert counts["dev"] == (1, 1)  # the small event, and the size violation as a bad row


def test_serve_refuses_a_bad_file_before_touching_the_database(tmp_path: Path) -> None:
    db = tmp_path / "never.sqlite"
    config = write(tmp_path, f"[serve]\ndb = {json.dumps(str(db))}\nport = 'eighty'\n")
    assert_error(
        invoke("serve", "--config", str(config)),
        f'{config}:3: serve.port must be an integer, got the string "eighty"',
    )
    assert not db.exists()


def test_admin_commands_use_the_servers_database_from_the_file(tmp_path: Path) -> None:
    """`env`, `key` and `events` find the database in [serve] of DATACORAL_CONFIG, so an
    operator who configures the server by file administers the same store; --db and
    DATACORAL_DB still win."""
    served = tmp_path / "served.sqlite"
    config = write(tmp_path, f'[serve]\ndb = "{served}"\n')
    env = {"DATACORAL_CONFIG": str(config)}
    created = invoke("env", "create", "qa", env=env)
    assert created.exit_code == 0, created.output
    listed = invoke("env", "list", "--json", env=env)
    assert "qa" in [e["name"] for e in json.loads(listed.stdout)]
    elsewhere = tmp_path / "other.sqlite"
    assert invoke("env", "create", "qb", "--db", str(elsewhere), env=env).exit_code == 0
    named = invoke("env", "list", "--json", env={**env, "DATACORAL_DB": str(elsewhere)})
    assert {"qa", "qb"} & {e["name"] for e in json.loads(named.stdout)} == {"qb"}


def test_a_broken_file_stops_an_admin_command_with_its_line(tmp_path: Path) -> None:
    config = write(tmp_path, '[serve]\nport = 1\ndbb = "x.sqlite"\n')
    result = invoke("env", "list", env={"DATACORAL_CONFIG": str(config)})
    assert result.exit_code == 1
    assert f"{config}:3: unknown key dbb in [serve]" in result.output
