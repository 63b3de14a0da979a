"""Allowed origins: what an entry may be, its stored form, and what it matches."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from datacoral.admin.origins import (
    AllowList,
    Origin,
    matches,
    normalise,
    origin_of_url,
    parse_origin,
    parse_rule,
)
from datacoral.cli.app import cli
from datacoral.storage.sqlite import SQLiteStorage

NORMALISED = [
    ("https://app.example.com", "https://app.example.com"),
    ("HTTPS://App.Example.COM", "https://app.example.com"),
    ("https://app.example.com/", "https://app.example.com"),
    ("https://app.example.com:443", "https://app.example.com"),
    ("http://app.example.com:80", "http://app.example.com"),
    ("http://app.example.com:443", "http://app.example.com:443"),
    ("https://app.example.com:80", "https://app.example.com:80"),
    ("http://localhost:3000", "http://localhost:3000"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("http://[0:0:0:0:0:0:0:1]", "http://[::1]"),
    ("https://[2001:DB8::1]:443", "https://[2001:db8::1]"),
    ("https://*.example.com", "https://*.example.com"),
    ("https://*.Example.com:8443/", "https://*.example.com:8443"),
    ("http://*.localhost:3000", "http://*.localhost:3000"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
    ("https://my_host.internal", "https://my_host.internal"),
]

INVALID = [
    ("", "must start with http:// or https://"),
    ("app.example.com", "must start with http:// or https://"),
    ("ftp://app.example.com", "must start with http:// or https://"),
    ("https://", "no host"),
    ("https://app.example.com/path", "no path, query or fragment"),
    ("https://app.example.com//", "no path, query or fragment"),
    ("https://app.example.com?x=1", "no path, query or fragment"),
    ("https://app.example.com#top", "no path, query or fragment"),
    ("https://user:pw@app.example.com", "no user name or password"),
    ("https://app.example.com:0", "port must be a number from 1 to 65535"),
    ("https://app.example.com:65536", "port must be a number from 1 to 65535"),
    ("https://app.example.com:", "port must be a number from 1 to 65535"),
    ("https://app.example.com:https", "port must be a number from 1 to 65535"),
    ("https://app example.com", "without spaces"),
    (" https://app.example.com", "without spaces"),
    ("https://app..example.com", "not a valid host name"),
    ("https://-app.example.com", "not a valid host name"),
    ("https://app.example.com.", "not a valid host name"),
    ("https://*", "'*' may only be the whole first label"),
    ("https://*.com", "would allow every site under 'com'"),
    ("https://*.*.example.com", "'*' may only be the whole first label"),
    ("https://a*.example.com", "'*' may only be the whole first label"),
    ("https://app.*.example.com", "'*' may only be the whole first label"),
    ("https://*.10.0.0.1", "a wildcard needs a domain name, not an IP address"),
    ("https://*.[::1]", "a wildcard needs a domain name, not an IP address"),
    ("http://::1", "an IPv6 address must be in brackets"),
    ("http://[::1", "needs its closing ']'"),
    ("http://[::1]x", "unexpected text after the IPv6 address"),
    ("http://[nope]", "not an IPv6 address"),
    ("http://999.1.1.1", "not an IPv4 address"),
    ("http://1.2.3", "not an IPv4 address"),
    ("null", "must start with http:// or https://"),
]


@pytest.mark.parametrize(("entry", "stored"), NORMALISED)
def test_entries_are_stored_in_one_canonical_form(entry: str, stored: str) -> None:
    assert normalise(entry) == stored
    assert normalise(stored) == stored


@pytest.mark.parametrize(("entry", "reason"), INVALID)
def test_invalid_entries_say_why_in_one_line(entry: str, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_rule(entry)
    message = str(raised.value)
    assert message.startswith(f"invalid origin {entry!r}: ")
    assert reason in message
    assert "\n" not in message


MATCHES = [
    # exact: scheme, host and (effective) port must all agree
    ("https://app.example.com", "https://app.example.com", True),
    ("https://app.example.com", "https://app.example.com:443", True),
    ("https://app.example.com", "http://app.example.com", False),
    ("https://app.example.com", "https://app.example.com:8443", False),
    ("https://app.example.com", "https://other.example.com", False),
    ("https://app.example.com", "https://app.example.com.evil.net", False),
    ("https://app.example.com:8443", "https://app.example.com:8443", True),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080", True),
    ("http://127.0.0.1:8080", "http://localhost:8080", False),
    ("http://[::1]:8080", "http://[::1]:8080", True),
    # wildcard: any subdomain at any depth, never the bare domain
    ("https://*.example.com", "https://a.example.com", True),
    ("https://*.example.com", "https://a.b.example.com", True),
    ("https://*.example.com", "https://example.com", False),
    ("https://*.example.com", "https://badexample.com", False),
    ("https://*.example.com", "https://a.example.com.evil.net", False),
    ("https://*.example.com", "http://a.example.com", False),
    ("https://*.example.com", "https://a.example.com:8443", False),
    ("https://*.example.com:8443", "https://a.example.com:8443", True),
    # never: null and malformed Origin values
    ("https://*.example.com", "null", False),
    ("https://app.example.com", "https://app.example.com/", False),
    ("https://app.example.com", "https://app.example.com https://x.example.com", False),
    ("https://app.example.com", "", False),
]


@pytest.mark.parametrize(("entry", "origin", "expected"), MATCHES)
def test_matching(entry: str, origin: str, expected: bool) -> None:
    assert parse_rule(entry).matches(origin) is expected
    assert matches([entry], origin) is expected
    assert AllowList([parse_rule(entry)]).matches(origin) is expected


def test_allow_list_skips_entries_that_do_not_parse() -> None:
    allowed = AllowList.from_entries(["not an origin", "https://a.example"])
    assert allowed.matches("https://a.example")
    assert not allowed.matches("not an origin")
    assert not AllowList.from_entries(["garbage"])


def test_request_origins_and_referers() -> None:
    assert parse_origin("http://127.0.0.1:8080") == Origin("http", "127.0.0.1", 8080)
    assert parse_origin("https://[::1]") == Origin("https", "::1", 443)
    assert parse_origin("null") is None
    assert parse_origin("file://") is None
    assert parse_origin(None) is None
    assert origin_of_url("https://app.example.com/page?q=1#x") == Origin(
        "https", "app.example.com", 443
    )
    assert origin_of_url("http://127.0.0.1:8080/") == Origin("http", "127.0.0.1", 8080)
    for unreadable in ("about:blank", "android-app://com.example/", "/relative", "http://[::1"):
        assert origin_of_url(unreadable) is None


def test_storage_validates_and_normalises(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "origins.sqlite")
    try:
        with pytest.raises(ValueError, match="no path, query or fragment"):
            storage.add_origin("dev", "https://app.example.com/page")
        with pytest.raises(ValueError, match="must start with http:// or https://"):
            storage.create_environment("qa", ["app.example.com"])
        assert storage.get_environment("qa") is None  # nothing half-created

        record = storage.add_origin("dev", "HTTPS://App.Example.com:443/")
        assert record.origins == ("https://app.example.com",)
        assert storage.add_origin("dev", "https://app.example.com").origins == record.origins
        created = storage.create_environment("qa", ["https://*.Example.com", "http://[::1]:80"])
        assert created.origins == ("http://[::1]", "https://*.example.com")
        # Removal accepts any equivalent spelling.
        assert storage.remove_origin("dev", "https://app.example.com:443").origins == ()
    finally:
        storage.close()


def test_the_cli_validates_and_shows_origins(tmp_path: Path) -> None:
    runner = CliRunner(env={"DATACORAL_DB": None})

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, [*args, "--db", str(tmp_path / "cli.sqlite")])
        return result.exit_code, result.stdout, result.stderr

    assert run("env", "create", "qa", "--origin", "https://a.example/x") == (
        1,
        "",
        "error: invalid origin 'https://a.example/x': an origin is scheme://host[:port]:"
        " no path, query or fragment\n",
    )
    code, out, _ = run(
        "env", "create", "qa", "--origin", "HTTPS://A.example:443", "--origin", "http://*.b.test"
    )
    assert code == 0
    assert "allows origin http://*.b.test" in out and "allows origin https://a.example" in out
    code, _, err = run("env", "add-origin", "qa", "a.example")
    assert (code, err.count("\n")) == (1, 1)
    assert err.startswith("error: invalid origin 'a.example': must start with http://")
    assert run("env", "add-origin", "qa", "http://[::1]:8080/")[0] == 0
    assert run("env", "remove-origin", "qa", "https://a.example:443")[0] == 0
    code, out, _ = run("env", "show", "qa")
    assert code == 0
    assert "origins      http://*.b.test http://[::1]:8080" in out
