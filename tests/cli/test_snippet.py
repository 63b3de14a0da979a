"""``datacoral snippet``: the printed tracker code, its escaping, and its refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from datacoral.cli.snippet import DEFAULT_TRACKER_URL, js_string
from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.cli.conftest import Run

KEY = "dck_abc-DEF_123"


def snippet(run: Run, *args: str, db_path: Path | None = None) -> tuple[str, str]:
    """stdout and stderr of a successful ``datacoral snippet``."""
    result = run("snippet", *args) if db_path is None else run("snippet", *args, db_path=db_path)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_both_forms_with_the_defaults(run: Run, tmp_path: Path) -> None:
    printed, _ = snippet(run, "--env", "dev", "--key", KEY, db_path=tmp_path / "absent.sqlite")
    html, _, bundler = printed.partition("\n\n// With a bundler")
    assert html.startswith("<!-- In a page: paste this element into its HTML. -->\n")
    assert '<script type="module">' in html and html.endswith("</script>")
    assert f'import {{ newTracker, trackPageView }} from "{DEFAULT_TRACKER_URL}";' in html
    for code in (html, bundler):
        assert 'newTracker("sp", "http://127.0.0.1:8080", {' in code
        assert 'appId: "web",' in code and 'eventMethod: "post",' in code
        assert (
            f'customHeaders: {{ "X-Api-Key": "{KEY}", "X-Datacoral-Environment": "dev" }},' in code
        )
        assert "trackPageView();" in code
        assert "datacoral env add-origin dev https://www.example.com" in code
    assert "// npm install @snowplow/browser-tracker@4\n" in bundler
    assert 'import { newTracker, trackPageView } from "@snowplow/browser-tracker";' in bundler


def test_single_forms_print_only_that_code(run: Run) -> None:
    html, _ = snippet(run, "--env", "stage", "--key", KEY, "--form", "html")
    assert html.startswith('<script type="module">\n') and html.endswith("</script>\n")
    assert html.count("<script") == 1
    bundler, _ = snippet(run, "--env", "stage", "--key", KEY, "--form", "bundler")
    assert bundler.startswith("// npm install @snowplow/browser-tracker@4\n")
    assert "<script" not in bundler


def test_key_in_path_and_custom_urls(run: Run) -> None:
    printed, _ = snippet(
        run,
        *("--env", "prod", "--key", KEY, "--key-in", "path", "--form", "html"),
        *("--endpoint", "https://collector.example.com/"),
        *("--tracker-url", "/js/browser-tracker.esm.js", "--app-id", "shop"),
    )
    assert f'newTracker("sp", "https://collector.example.com/k/{KEY}", {{' in printed
    assert 'from "/js/browser-tracker.esm.js";' in printed
    assert 'appId: "shop",' in printed
    assert "customHeaders" not in printed
    assert "GET needs no" in printed


def test_json_output(run: Run) -> None:
    printed, _ = snippet(run, "--env", "dev", "--key", KEY, "--json")
    document = json.loads(printed)
    assert document["environment"] == "dev"
    assert document["endpoint"] == "http://127.0.0.1:8080"
    assert document["key_in"] == "header"
    assert document["install"] == "npm install @snowplow/browser-tracker@4"
    assert document["html"].startswith('<script type="module">')
    assert KEY in document["bundler"]


def test_values_are_escaped_for_javascript_inside_html(run: Run) -> None:
    nasty = '</script><script>alert("x")</script>\u2028&'
    printed, _ = snippet(run, "--env", "dev", "--key", KEY, "--app-id", nasty, "--form", "html")
    assert printed.count("</script>") == 1
    assert "alert" in printed and '"x"' not in printed
    line = next(line for line in printed.splitlines() if "appId" in line)
    literal = line.strip().removeprefix("appId: ").removesuffix(",")
    assert json.loads(literal) == nasty  # still the same string once parsed
    assert js_string("a'b\\c") == '"a\'b\\\\c"'


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_printed_code_parses_as_a_javascript_module(run: Run, tmp_path: Path) -> None:
    for key_in in ("header", "path"):
        printed, _ = snippet(run, "--env", "dev", "--key", KEY, "--key-in", key_in, "--json")
        document = json.loads(printed)
        html = document["html"]
        scripts = {
            "tag.mjs": html.removeprefix('<script type="module">').removesuffix("</script>\n"),
            "bundler.mjs": document["bundler"],
        }
        for name, code in scripts.items():
            (tmp_path / name).write_text(code, encoding="utf-8")
            checked = subprocess.run(
                ["node", "--check", str(tmp_path / name)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert checked.returncode == 0, (key_in, name, checked.stderr, code)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--env", "Not Valid", "--key", KEY), "invalid environment name 'Not Valid'"),
        (("--env", "dev", "--key", ""), "invalid --key"),
        (("--env", "dev", "--key", 'dck_"quoted"'), "invalid --key"),
        (("--env", "dev", "--key", "dck_a b"), "invalid --key"),
        (("--env", "dev", "--key", "dck_</script>"), "invalid --key"),
        (("--env", "dev", "--key", KEY, "--endpoint", "ftp://x"), "invalid --endpoint"),
        (("--env", "dev", "--key", KEY, "--endpoint", "127.0.0.1:8080"), "invalid --endpoint"),
        (("--env", "dev", "--key", KEY, "--endpoint", "http://h/?a=1"), "no query"),
        (("--env", "dev", "--key", KEY, "--endpoint", "http://h:x"), "not a URL"),
        (("--env", "dev", "--key", KEY, "--tracker-url", "javascript:x"), "invalid --tracker-url"),
        (("--env", "dev", "--key", KEY, "--tracker-url", "//cdn.example"), "invalid --tracker-url"),
        (("--env", "dev", "--key", KEY, "--app-id", ""), "invalid --app-id"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(run: Run, args: tuple[str, ...], message: str) -> None:
    result = run("snippet", *args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    if len(args) > 3 and args[3]:
        assert args[3] not in result.stderr or args[3] == KEY  # keys are not repeated


def test_missing_options_are_usage_errors(run: Run) -> None:
    assert run("snippet", "--env", "dev").exit_code == 2
    assert run("snippet", "--key", KEY).exit_code == 2


def test_the_database_is_checked_when_it_is_there(run: Run, db: Target) -> None:
    store = open_storage(db)
    try:
        _, dev_key = store.create_key("dev")
        info, stage_key = store.create_key("stage")
        store.add_origin("stage", "https://app.example.com")
    finally:
        store.close()

    _, warnings = snippet(run, "--env", "dev", "--key", dev_key)
    assert warnings == (
        "warning: environment 'dev' allows no browser origins yet, so browsers are refused;"
        " run: datacoral env add-origin dev https://www.example.com\n"
    )
    _, quiet = snippet(run, "--env", "stage", "--key", stage_key)
    assert quiet == ""
    _, unknown = snippet(run, "--env", "stage", "--key", "dck_unknown")
    assert unknown == f"warning: {db} does not know this key\n"
    _, no_env = snippet(run, "--env", "qa", "--key", "dck_unknown")
    assert f"warning: {db} has no environment 'qa'\n" in no_env

    other = run("snippet", "--env", "dev", "--key", stage_key)
    assert other.exit_code == 1
    assert other.stderr == "error: the key belongs to environment 'stage', not 'dev'\n"

    assert run("key", "revoke", info.key_id).exit_code == 0
    _, revoked = snippet(run, "--env", "stage", "--key", stage_key)
    assert revoked == f"warning: this key ({info.key_id}) is revoked\n"
