"""``datacoral quickstart``: the whole product in one command, on a throwaway database.

Creates a database in a new temporary directory, starts the endpoint as a child
process, creates a key for each default environment, sends the PRODUCT.md
snippet through our tracker to each, waits until the events are stored, prints
what arrived, stops the endpoint and says how to go on.
"""

from __future__ import annotations

import shlex
import tempfile
import time
from pathlib import Path

import click

from datacoral.admin.environments import DEFAULT_ENVIRONMENTS
from datacoral.cli.endpoint_process import EndpointProcess
from datacoral.cli.errors import QuickstartFailed
from datacoral.cli.invocation import activation_hint, datacoral_command, python_command
from datacoral.cli.output import echo, echo_table
from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage, EventCounts

SNIPPET = """\
from snowplow_tracker import SelfDescribingJson, Tracker, Emitter

emitter = Emitter("127.0.0.1:8080", protocol="http", buffer_size=1)
tracker = Tracker(
    emitter,
    datacoral_env="dev",
    api_key=["your-api-key-here"],
    namespace="your-namespace-here",
    app_id="app-id-here",
    encode_base64=True,
)
sjson = SelfDescribingJson(schema="test", data={"foo": "bar", "metadata": {"sub": "data"}})
tracker.track_unstruct_event(event_json=sjson)
"""


def next_steps(db: Path) -> str:
    """What to type next, as commands that work from the current directory."""
    command = datacoral_command()
    lines = [
        "Next steps, from this directory:",
        "  # what was just stored",
        f"  {command} events tail --env dev --db {shlex.quote(str(db))}",
        "  # the endpoint on http://127.0.0.1:8080, ./datacoral.sqlite",
        f"  {command} serve",
        "  # a key for your code (shown once)",
        f"  {command} key create --env dev",
    ]
    activate = activation_hint(command)
    if activate:
        lines.append(f"  # or run `{activate}` once, then type just `datacoral ...`")
    lines += ["", f"Then, in Python ({python_command()}), with that key:", ""]
    lines += [f"  {line}" if line else "" for line in SNIPPET.splitlines()]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for each step.")
def quickstart(timeout: float) -> None:
    """Try everything end to end on a temporary database (no arguments needed)."""
    directory = Path(tempfile.mkdtemp(prefix="datacoral-quickstart-"))
    db = directory / "datacoral.sqlite"
    echo(f"database: {db}")
    store = open_storage(db)  # admin use only: no writer thread is started
    try:
        keys = {name: store.create_key(name, "quickstart")[1] for name in DEFAULT_ENVIRONMENTS}
        endpoint = EndpointProcess(db, start_timeout=timeout)
        endpoint.start()
        try:
            echo(f"endpoint: {endpoint.url} (a child process, stopped at the end)")
            for name, key in keys.items():
                _send_snippet(endpoint.host, endpoint.port, name, key)
                echo(f"sent the example event to {name!r} with a {name} key")
            counts = _wait_for_events(store, timeout)
        except QuickstartFailed:
            endpoint.stop()
            echo(f"the endpoint's last output:\n{endpoint.output()}", err=True)
            raise
        code = endpoint.stop()
    finally:
        store.close()
    echo()
    echo_table(("ENVIRONMENT", "GOOD", "BAD"), ((c.environment, c.good, c.bad) for c in counts))
    echo()
    if code not in (0, None):
        echo(f"note: the endpoint exited with code {code}:\n{endpoint.output()}", err=True)
    echo(f"The endpoint is stopped; the database stays at {db}.\n")
    echo(next_steps(db), nl=False)


def _send_snippet(host: str, port: int, environment: str, key: str) -> None:
    """The PRODUCT.md call, unchanged but for the endpoint, environment and key."""
    try:
        from snowplow_tracker import Emitter, SelfDescribingJson, Tracker
    except ImportError as exc:
        raise QuickstartFailed(f"the tracker package cannot be imported: {exc}") from exc
    emitter = Emitter(f"{host}:{port}", protocol="http", buffer_size=1)
    tracker = Tracker(
        emitter,
        datacoral_env=environment,
        api_key=[key],
        namespace="quickstart",
        app_id="quickstart",
        encode_base64=True,
    )
    sjson = SelfDescribingJson(schema="test", data={"foo": "bar", "metadata": {"sub": "data"}})
    tracker.track_unstruct_event(event_json=sjson)
    tracker.flush()


def _wait_for_events(store: AdminStorage, timeout: float) -> list[EventCounts]:
    """Poll the database until every default environment has an event, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        counts = [c for c in store.count_events() if c.environment in DEFAULT_ENVIRONMENTS]
        if all(c.good + c.bad > 0 for c in counts):
            return counts
        if time.monotonic() > deadline:
            missing = ", ".join(str(c.environment) for c in counts if not c.good + c.bad)
            raise QuickstartFailed(f"no event was stored in {missing} within {timeout:g} s")
        time.sleep(0.1)
