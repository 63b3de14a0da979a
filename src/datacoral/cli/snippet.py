"""``datacoral snippet``: the browser tracker code for one environment and key.

It prints two equivalent forms of the Snowplow JavaScript tracker v4
(``@snowplow/browser-tracker``), configured for the endpoint, the environment and
the key: a ``<script type="module">`` tag to paste into a page, which imports the
tracker as an ES module from a CDN (the classic ``sp.js`` tag package is not
published on npm, reference/browser.md §1, so the module form is the one we
support and test), and the same code for bundlers. Every value placed in the
code is JSON-encoded, with ``<``, ``>`` and ``&`` escaped so that nothing can end
the ``<script>`` element early.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import click

from datacoral.admin.environments import validate_environment_name
from datacoral.admin.keys import hash_key
from datacoral.cli.context import db_option, json_option, resolve_db
from datacoral.cli.errors import CLIError
from datacoral.cli.output import echo, echo_json
from datacoral.storage import open_storage
from datacoral.storage.base import StorageError
from datacoral.storage.target import Target

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
DEFAULT_TRACKER_URL = "https://cdn.jsdelivr.net/npm/@snowplow/browser-tracker@4/+esm"
NPM_PACKAGE = "@snowplow/browser-tracker"
INSTALL = f"npm install {NPM_PACKAGE}@4"
EXAMPLE_ORIGIN = "https://www.example.com"

_UNSAFE_IN_KEY = frozenset("\"'`\\<>")


@dataclass(frozen=True, kw_only=True)
class SnippetConfig:
    """What the printed code is configured with; validated at construction."""

    environment: str
    key: str
    endpoint: str = DEFAULT_ENDPOINT
    tracker_url: str = DEFAULT_TRACKER_URL
    app_id: str = "web"
    key_in: str = "header"

    def __post_init__(self) -> None:
        validate_environment_name(self.environment)
        check_key(self.key)
        object.__setattr__(self, "endpoint", check_endpoint(self.endpoint))
        check_tracker_url(self.tracker_url)
        if not self.app_id:
            raise ValueError("invalid --app-id: it must not be empty")
        if self.key_in not in ("header", "path"):
            raise ValueError(f"invalid --key-in {self.key_in!r}: use 'header' or 'path'")

    @property
    def collector_url(self) -> str:
        """The URL given to ``newTracker``: with the ``/k/{key}`` prefix for ``--key-in path``."""
        if self.key_in == "path":
            return f"{self.endpoint}/k/{quote(self.key, safe='')}"
        return self.endpoint


def js_string(value: str) -> str:
    """``value`` as a JavaScript string literal that is safe inside a ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def check_key(key: str) -> str:
    """Refuse what cannot be an API key (keys look like ``dck_`` + URL-safe characters)."""
    if (
        not key
        or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in key)
        or any(ch in _UNSAFE_IN_KEY for ch in key)
    ):
        raise ValueError(
            "invalid --key: expected a key as printed by `datacoral key create`"
            " (no spaces, quotes, backslashes or angle brackets)"
        )
    return key


def check_endpoint(endpoint: str) -> str:
    """The endpoint URL without a trailing slash; ValueError unless it is ``http(s)://host...``."""
    shown = endpoint if len(endpoint) <= 100 else endpoint[:100] + "..."
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"invalid --endpoint {shown!r}: not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"invalid --endpoint {shown!r}: expected http(s)://host[:port], e.g. {DEFAULT_ENDPOINT}"
        )
    if parts.query or parts.fragment or "@" in parts.netloc or any(c.isspace() for c in endpoint):
        raise ValueError(
            f"invalid --endpoint {shown!r}: no query, fragment, user name or spaces allowed"
        )
    return endpoint.rstrip("/")


def check_tracker_url(url: str) -> str:
    """An http(s) URL, or a path on the page's own site (``/``, ``./``, ``../``)."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url) or not (
        url.startswith(("https://", "http://", "/", "./", "../")) and not url.startswith("//")
    ):
        raise ValueError(
            f"invalid --tracker-url {url[:100]!r}: expected an http(s) URL or a path like"
            " /js/browser-tracker.mjs"
        )
    return url


def _comments(config: SnippetConfig) -> list[str]:
    lines = [
        f'// Snowplow browser tracker v4 -> Datacoral environment "{config.environment}".',
        "// Allow the page's origin first:"
        f" datacoral env add-origin {config.environment} {EXAMPLE_ORIGIN}",
    ]
    if config.key_in == "path":
        lines.append("// The key travels in the URL path: works with every method, GET needs no")
        lines.append("// preflight. The key is public in the page: it can only write events.")
    else:
        lines.append("// The key is public in the page: it can only write events.")
    return lines


def _tracker_calls(config: SnippetConfig) -> list[str]:
    options = [f"  appId: {js_string(config.app_id)},", '  eventMethod: "post",']
    if config.key_in == "header":
        headers = (
            f"{js_string('X-Api-Key')}: {js_string(config.key)},"
            f" {js_string('X-Datacoral-Environment')}: {js_string(config.environment)}"
        )
        options.append(f"  customHeaders: {{ {headers} }},")
    return [
        f'newTracker("sp", {js_string(config.collector_url)}, {{',
        *options,
        "});",
        "trackPageView();",
    ]


def html_snippet(config: SnippetConfig) -> str:
    """The ``<script type="module">`` element to paste into a page."""
    body = [
        *_comments(config),
        f"import {{ newTracker, trackPageView }} from {js_string(config.tracker_url)};",
        "",
        *_tracker_calls(config),
    ]
    indented = "\n".join(f"  {line}" if line else "" for line in body)
    return f'<script type="module">\n{indented}\n</script>\n'


def bundler_snippet(config: SnippetConfig) -> str:
    """The same code as a module for bundlers, importing the npm package."""
    body = [
        f"// {INSTALL}",
        *_comments(config),
        f"import {{ newTracker, trackPageView }} from {js_string(NPM_PACKAGE)};",
        "",
        *_tracker_calls(config),
    ]
    return "\n".join(body) + "\n"


def _check_database(db: Target, config: SnippetConfig) -> None:
    """Warn (stderr) about what the database says is wrong; a key of another
    environment is an error, since the endpoint would refuse every event."""
    store = open_storage(db)
    try:
        if not store.exists():
            return
        record = store.get_environment(config.environment)
        found = store.lookup_key(hash_key(config.key))
    except StorageError as exc:
        echo(f"warning: could not check {db}: {exc}", err=True)
        return
    finally:
        store.close()
    env = config.environment
    if found is not None and found.environment != env:
        raise CLIError(f"the key belongs to environment {found.environment!r}, not {env!r}")
    if record is None:
        echo(f"warning: {db} has no environment {env!r}", err=True)
    elif not record.origins:
        echo(
            f"warning: environment {env!r} allows no browser origins yet, so browsers are"
            f" refused; run: datacoral env add-origin {env} {EXAMPLE_ORIGIN}",
            err=True,
        )
    if found is None:
        echo(f"warning: {db} does not know this key", err=True)
    elif found.revoked:
        echo(f"warning: this key ({found.key_id}) is revoked", err=True)


@click.command()
@click.option("--env", "environment", required=True, help="The environment to send to.")
@click.option("--key", required=True, help="An API key of that environment.")
@click.option(
    "--endpoint", default=DEFAULT_ENDPOINT, show_default=True, help="The endpoint's base URL."
)
@click.option(
    "--tracker-url",
    default=DEFAULT_TRACKER_URL,
    show_default=True,
    help="Where the page loads the tracker module from.",
)
@click.option("--app-id", default="web", show_default=True, help="The tracker's appId.")
@click.option(
    "--key-in",
    type=click.Choice(["header", "path"]),
    default="header",
    show_default=True,
    help="Send the key in an X-Api-Key header, or in the URL path (/k/KEY/).",
)
@click.option(
    "--form",
    type=click.Choice(["both", "html", "bundler"]),
    default="both",
    show_default=True,
    help="Print the <script> tag, the bundler code, or both.",
)
@json_option
@db_option()
def snippet(
    environment: str,
    key: str,
    endpoint: str,
    tracker_url: str,
    app_id: str,
    key_in: str,
    form: str,
    as_json: bool,
    db: Target | None,
) -> None:
    """Print the browser tracker code for environment ENV and key KEY.

    A <script type="module"> tag that loads the Snowplow JavaScript tracker v4,
    and the same code for bundlers (npm install @snowplow/browser-tracker@4).
    Browsers are refused until the page's origin is allowed:
    datacoral env add-origin ENV https://your.site
    """
    config = SnippetConfig(
        environment=environment,
        key=key,
        endpoint=endpoint,
        tracker_url=tracker_url,
        app_id=app_id,
        key_in=key_in,
    )
    _check_database(resolve_db(db), config)
    html, bundler = html_snippet(config), bundler_snippet(config)
    if as_json:
        echo_json(
            {
                "environment": config.environment,
                "endpoint": config.collector_url,
                "tracker_url": config.tracker_url,
                "key_in": config.key_in,
                "html": html,
                "bundler": bundler,
                "install": INSTALL,
            }
        )
    elif form == "html":
        echo(html, nl=False)
    elif form == "bundler":
        echo(bundler, nl=False)
    else:
        echo("<!-- In a page: paste this element into its HTML. -->")
        echo(html)
        echo("// With a bundler: the same, in your code.")
        echo(bundler, nl=False)
