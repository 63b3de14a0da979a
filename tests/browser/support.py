"""The harness of the browser tests: pages, Chromium, the Node tracker and the endpoint.

- :class:`StaticSite` serves generated test pages (and the tracker bundle) from
  ``http://127.0.0.1:PORT_A``; the same server answers as ``http://localhost:PORT_A``,
  another site, which the tests use as the disallowed origin.
- :class:`Browser` keeps one ``driver.mjs`` running: for each scenario, Debian's
  Chromium opens the pages in a fresh browser context and the driver reports
  what the pages and the network did.
- :func:`run_node_tracker` runs ``node_tracker.mjs`` (the Snowplow Node tracker).
- :class:`Collector` is a real ``datacoral serve`` over its own SQLite file, with a
  key per default environment, and the ways to read what it stored and logged.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from datacoral.storage.base import EventCounts, GoodEvent
from datacoral.storage.sqlite import SQLiteStorage
from tests.support.server import RunningServer, running_server

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
BUNDLE = HERE / "build" / "browser-tracker.esm.js"
PAGE_HARNESS = HERE / "pages" / "harness.js"
DRIVER = HERE / "driver.mjs"
NODE_TRACKER = HERE / "node_tracker.mjs"
CHROMIUM = Path("/usr/bin/chromium")
NPM_PACKAGES = ("@snowplow/browser-tracker", "@snowplow/node-tracker", "playwright-core")
INSTALL_HINT = "run ./scripts/browser-deps"

#: What the pages track by default: one page view and one self-describing event.
EVENTS = ("page_view", "self_describing")
#: The stored ``event`` of each tracked kind (tracker protocol ``e``).
STORED_KIND = {"pv": "page_view", "ue": "unstruct"}
#: The start of every page's head; the empty icon keeps Chromium from asking for /favicon.ico.
HEAD = "<meta charset='utf-8'><link rel='icon' href='data:,'>"
#: Seconds one driver run may take (Chromium start, every load, shutdown).
DRIVER_TIMEOUT = 60.0
ENVIRONMENTS = ("dev", "stage", "prod")


# --- what must be installed -----------------------------------------------------------


def missing_node_tools() -> list[str]:
    """Why the Node side cannot run here (empty when it can)."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node is not on PATH")
    absent = [name for name in NPM_PACKAGES if not (NODE_MODULES / name / "package.json").exists()]
    if absent:
        missing.append(f"npm packages not installed in tests/browser: {', '.join(absent)}")
    return missing


def missing_browser_tools() -> list[str]:
    """Why the browser tests cannot run here (empty when they can)."""
    missing = missing_node_tools()
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} is missing (Debian package chromium)")
    if not BUNDLE.exists():
        missing.append(f"the tracker bundle {BUNDLE.relative_to(HERE.parent.parent)} is not built")
    return missing


# --- the pages' origin ------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        "": "application/octet-stream",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class StaticSite:
    """Generated pages, the page harness and the tracker bundle over plain HTTP."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "build").symlink_to(BUNDLE.parent, target_is_directory=True)
        (root / "harness.js").symlink_to(PAGE_HARNESS)
        handler = functools.partial(_QuietHandler, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._count = 0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def origin(self, host: str = "127.0.0.1") -> str:
        """``http://HOST:PORT_A``: 127.0.0.1 is the allowed origin, localhost another site."""
        return f"http://{host}:{self.port}"

    def page(self, html: str, *, host: str = "127.0.0.1") -> str:
        """Publish ``html`` as a new page; its URL on ``host``."""
        self._count += 1
        name = f"page-{self._count}.html"
        (self.root / name).write_text(html, encoding="utf-8")
        return f"{self.origin(host)}/{name}"

    def tracker_page(
        self,
        collector: str,
        *,
        tracker: Mapping[str, Any] | None = None,
        events: Sequence[str] = EVENTS,
        host: str = "127.0.0.1",
    ) -> str:
        """A page that runs the harness: newTracker(collector, tracker), then ``events``."""
        config = {"collector": collector, "tracker": dict(tracker or {}), "events": list(events)}
        # "</" must not appear inside a script element.
        literal = json.dumps(config).replace("</", "<\\/")
        return self.page(
            f"<!doctype html>\n<html><head>{HEAD}<title>datacoral browser test</title></head>"
            "<body>\n<script type='module'>\n"
            f'import {{ run }} from "/harness.js";\nrun({literal});\n'
            "</script>\n</body></html>\n",
            host=host,
        )


# --- Chromium ---------------------------------------------------------------------------


@dataclass
class BrowserRun:
    """What ``driver.mjs`` reported: page results, network, console, cookies."""

    report: dict[str, Any]

    @property
    def results(self) -> list[dict[str, Any]]:
        """Each load's ``window.__result`` (tracked events, request outcomes)."""
        return [load["result"] or {} for load in self.report["loads"]]

    @property
    def tracked(self) -> list[dict[str, str]]:
        """Every event the pages tracked, ``{e, eid}``, in order."""
        return [event for result in self.results for event in result.get("tracked", [])]

    @property
    def outcomes(self) -> list[dict[str, Any]]:
        """Every onRequestSuccess / onRequestFailure callback the pages saw, in order."""
        return [outcome for result in self.results for outcome in result.get("outcomes", [])]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The watched requests as Chromium saw them, preflights (OPTIONS) included."""
        return list(self.report["requests"])

    @property
    def cookies(self) -> list[dict[str, Any]]:
        return list(self.report["cookies"])

    def cookie(self, name: str, domain: str = "127.0.0.1") -> list[dict[str, Any]]:
        return [c for c in self.cookies if c["name"] == name and c["domain"] == domain]

    def delivered(self) -> set[str]:
        """Event ids the collector acknowledged (2xx) to the tracker."""
        return {eid for o in self.outcomes if o["ok"] for eid in o["eids"]}

    def describe(self) -> str:
        """Everything useful when an assertion fails: console, outcomes, network."""
        lines = [f"browser {self.report.get('browser')}"]
        for load in self.report["loads"]:
            lines.append(
                f"load {load['url']}" + (f" ERROR {load['error']}" if load["error"] else "")
            )
            for outcome in (load["result"] or {}).get("outcomes", []):
                lines.append(f"  outcome {json.dumps(outcome)}")
        lines += [f"console.{m['type']}: {m['text']}" for m in self.report["console"]]
        lines += [f"pageerror: {error}" for error in self.report["pageErrors"]]
        for r in self.report["requests"]:
            cors = {
                k: v
                for k, v in (r["rawResponseHeaders"] or r["responseHeaders"] or {}).items()
                if k.startswith("access-control") or k in ("set-cookie", "vary")
            }
            url = r["url"] if len(r["url"]) <= 160 else r["url"][:157] + "..."
            lines.append(
                f"request {r['method']} {url} -> {r['status']} "
                f"failed={r['failed']} cors_error={r['corsError']} headers={cors} "
                f"blocked_cookies={r['blockedCookies']}"
            )
        if "error" in self.report:
            lines.append(f"driver error: {self.report['error']}")
        return "\n".join(lines)


class Browser:
    """One ``driver.mjs`` process for the whole session, started on first use.

    Scenarios run one after another, each in a fresh Chromium profile; keeping
    the driver saves loading playwright-core (longer than a browser start) per test.
    """

    def __init__(self, stderr_path: Path) -> None:
        self._stderr_path = stderr_path
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def run(self, urls: Sequence[str], *, watch: Sequence[str]) -> BrowserRun:
        """Load each of ``urls`` in turn (one browser context), waiting for ``window.__done``."""
        return self.run_loads([{"url": url, "wait": "done"} for url in urls], watch=watch)

    def run_loads(self, loads: Sequence[Mapping[str, Any]], *, watch: Sequence[str]) -> BrowserRun:
        """Run one scenario (see driver.mjs); fail the test when a load did not complete."""
        scenario = {"loads": list(loads), "watch": list(watch), "timeoutMs": 20_000}
        process = self._running()
        assert process.stdin is not None
        process.stdin.write(json.dumps(scenario) + "\n")
        process.stdin.flush()
        try:
            line = self._lines.get(timeout=DRIVER_TIMEOUT)
        except queue.Empty:
            self.close(graceful=False)
            pytest.fail(f"driver.mjs gave no result within {DRIVER_TIMEOUT} s\n{self._stderr()}")
        if line is None:
            self.close()
            pytest.fail(f"driver.mjs exited\n{self._stderr()}")
        run = BrowserRun(json.loads(line))
        if not run.report["ok"]:
            pytest.fail(f"a page did not complete:\n{run.describe()}\n{self._stderr()}")
        return run

    def close(self, *, graceful: bool = True) -> None:
        """End the driver: EOF on its stdin (it finishes the scenario at hand), or at
        once with SIGTERM (Playwright then closes Chromium), SIGKILL as a last resort."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(DRIVER_TIMEOUT if graceful else 0.1)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._reader is not None:
            self._reader.join(10)
        if process.stdout is not None:
            process.stdout.close()

    def _running(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._lines = queue.Queue()
        with self._stderr_path.open("a", encoding="utf-8") as stderr:
            process = subprocess.Popen(
                ["node", str(DRIVER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=HERE,
                text=True,
                encoding="utf-8",
            )
        self._reader = threading.Thread(target=self._read, args=(process, self._lines), daemon=True)
        self._reader.start()
        self._process = process
        return process

    @staticmethod
    def _read(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def _stderr(self) -> str:
        text = self._stderr_path.read_text(encoding="utf-8") if self._stderr_path.exists() else ""
        return f"driver stderr:\n{text[-4000:]}" if text else "driver stderr: (empty)"


# --- the Node tracker -------------------------------------------------------------------


def run_node_tracker(endpoint: str, *, method: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """Track a page view and a self-describing event with @snowplow/node-tracker."""
    config = {"endpoint": endpoint, "method": method, "headers": dict(headers)}
    finished = subprocess.run(
        ["node", str(NODE_TRACKER)],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        cwd=HERE,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 0, (
        f"node_tracker.mjs exited with {finished.returncode}:\n{finished.stdout}\n{finished.stderr}"
    )
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


# --- the endpoint -----------------------------------------------------------------------

ACCESS_LINE = re.compile(r"datacoral\.access: (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d+) ")
SENTINEL_PATH = "/health"
TRACKING_PATH = re.compile(
    r"^(/k/[^/]+)?(/com\.snowplowanalytics\.snowplow/tp2|/tp2|/i|/ice\.png)$"
)


@dataclass(frozen=True)
class Access:
    """One line of the endpoint's access log (any key in the path is redacted)."""

    method: str
    path: str
    status: int

    @property
    def is_tracking(self) -> bool:
        return bool(TRACKING_PATH.match(self.path))


class Collector:
    """A running ``datacoral serve`` with its database and one key per environment."""

    def __init__(self, server: RunningServer, db: Path, keys: dict[str, str]) -> None:
        self.server = server
        self.db = db
        self.keys = keys

    @property
    def url(self) -> str:
        return self.server.url

    def _read(self) -> SQLiteStorage:
        return SQLiteStorage(self.db)

    def counts(self) -> dict[str | None, EventCounts]:
        storage = self._read()
        try:
            return {c.environment: c for c in storage.count_events()}
        finally:
            storage.close()

    def events(self, environment: str) -> list[GoodEvent]:
        storage = self._read()
        try:
            return [stored.event for stored in storage.latest_events(environment, 1000)]
        finally:
            storage.close()

    def stored_anything(self) -> list[EventCounts]:
        """Environments that hold a good event, a bad row or a counted duplicate."""
        return [c for c in self.counts().values() if c.good or c.bad or c.duplicates]

    def access_log(self, timeout: float = 10.0) -> list[Access]:
        """Every request the endpoint answered so far (call after the browser is closed).

        A sentinel request is answered after everything the browser sent; its line
        in the log marks the point by which the earlier lines have been read.
        """
        marker = f"GET {SENTINEL_PATH} 200 "
        before = self.server.log().count(marker)
        assert requests.get(self.url + SENTINEL_PATH, timeout=5).ok
        deadline = time.monotonic() + timeout
        while self.server.log().count(marker) <= before:
            assert time.monotonic() < deadline, (
                f"no access log line for the sentinel:\n{self.log()}"
            )
            time.sleep(0.01)
        entries = []
        for line in self.server.log().splitlines():
            found = ACCESS_LINE.search(line)
            if found:
                entries.append(Access(found["method"], found["path"], int(found["status"])))
        # Drop the sentinels themselves.
        return [e for e in entries if e.path != SENTINEL_PATH]

    def tracking_requests(self) -> list[Access]:
        """Event requests (not preflights) the endpoint answered."""
        return [e for e in self.access_log() if e.is_tracking and e.method != "OPTIONS"]

    def log(self) -> str:
        return self.server.log()


#: The ``start_collector`` fixture: ``start_collector(origins={"dev": [origin]})``.
StartCollector = Callable[..., Collector]


@contextmanager
def collector(db: Path, origins: Mapping[str, Sequence[str]]) -> Iterator[Collector]:
    """A fresh endpoint over ``db``: a key per default environment, ``origins`` allowed.

    Keys and origins are set up through the storage API before the server starts.
    The access log is on (it redacts keys), so tests can count what reached it.
    """
    storage = SQLiteStorage(db)
    try:
        keys = {env: storage.create_key(env)[1] for env in ENVIRONMENTS}
        for env, listed in origins.items():
            for origin in listed:
                storage.add_origin(env, origin)
    finally:
        storage.close()
    with running_server(db, access_log=True) as server:
        yield Collector(server, db, keys)
    leaked = [env for env, key in keys.items() if key in server.log()]
    assert not leaked, f"the server log shows the key of {leaked}"
