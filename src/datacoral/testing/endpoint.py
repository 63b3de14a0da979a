"""The handle a test gets: where the endpoint listens, a key per environment, what it
stored (:mod:`.inspection`), senders pointed at it, and the changes a test may make
(browser origins, validation modes), undone before the next test.
"""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from datacoral.admin.environments import ValidationMode, parse_validation_mode
from datacoral.config import Settings
from datacoral.storage.sqlite import SQLiteStorage
from datacoral.testing.inspection import Clock, StoredEvents
from datacoral.testing.server import PROBE_HEADER, Activity, ServerThread

if TYPE_CHECKING:
    from snowplow_tracker import Emitter, Tracker

#: Seconds a change of origins or validation modes may take to reach the collector.
RELOAD_TIMEOUT = 5.0
_PROBE_ORIGIN = "http://probe.datacoral-testing.invalid"


class Endpoint(StoredEvents):
    """A running Events endpoint over a temporary SQLite file, and what it stored.

    ``url``, ``host``, ``port``: where it listens (127.0.0.1, a free port). ``keys``: one
    API key per environment (``dev``, ``stage``, ``prod``); ``env`` (``dev``) is the
    environment the helpers use when not told; ``key`` is its key. ``db``: the file, for
    ``datacoral events tail --db``. ``iglu`` and ``validation``: as for
    :func:`start_endpoint`. Start it with :func:`start_endpoint`.
    """

    def __init__(
        self,
        db: Path,
        *,
        env: str = "dev",
        iglu: Sequence[str] = (),
        validation: str | None = None,
    ) -> None:
        self.db = db
        self.env = env
        self._iglu = tuple(iglu)
        self._validation = None if validation is None else parse_validation_mode(validation)
        self._activity = Activity()
        self._admin = SQLiteStorage(db)
        self._server: ServerThread | None = None
        self._keys: dict[str, str] = {}
        self._added_origins: set[tuple[str, str]] = set()
        self._first_validation: dict[str, ValidationMode] = {}
        self._clients: list[Emitter] = []
        self.keys: Mapping[str, str] = MappingProxyType(self._keys)
        #: Seconds :meth:`start` took, from nothing to serving.
        self.startup_seconds = 0.0

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Endpoint:
        """Create the database and a key per environment, then serve."""
        began = time.perf_counter()
        for environment in self._admin.environments():
            self._keys[environment.name] = self._admin.create_key(
                environment.name, label="datacoral.testing"
            )[1]
        if self.env not in self._keys:
            raise ValueError(f"no environment {self.env!r}: there are {sorted(self._keys)}")
        if self._validation is not None:
            for name in self._keys:
                self._admin.set_validation(name, self._validation)
        server = ServerThread(self._settings(), self._activity)
        server.start()
        self._server = server
        self.startup_seconds = time.perf_counter() - began
        return self

    def _settings(self) -> Settings:
        # Settings checks the Iglu sources: a missing folder is a ValueError naming it.
        return Settings(
            host="127.0.0.1",
            port=0,
            db=self.db,
            max_connections=100,  # fits a low open-file limit (ulimit -n 256)
            shutdown_timeout_seconds=5,
            iglu=self._iglu,
        )

    def stop(self) -> None:
        """Close the emitters made here, stop serving and release the file; idempotent."""
        self.close_clients()
        if self._server is not None:
            self._server.stop()
        self._admin.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _running(self) -> ServerThread:
        if self._server is None:
            raise RuntimeError("the endpoint is not started")
        return self._server

    @property
    def url(self) -> str:
        return self._running().url

    @property
    def host(self) -> str:
        return self._running().host

    @property
    def port(self) -> int:
        return self._running().port

    @property
    def key(self) -> str:
        """The API key of ``env``."""
        return self._keys[self.env]

    @property
    def environments(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def __repr__(self) -> str:
        where = self._server.url if self._server is not None else "not started"
        return f"<datacoral Endpoint {where} env={self.env!r} db={str(self.db)!r}>"

    def _environment(self, env: str | None) -> str:
        name = self.env if env is None else env
        if name not in self._keys:
            raise ValueError(f"no environment {name!r}: there are {sorted(self._keys)}")
        return name

    # --- browsers and validation -----------------------------------------------------

    def allow_origin(self, origin: str, env: str | None = None) -> None:
        """Let pages from ``origin`` (``http://localhost:3000``, ``https://*.example.com``)
        send to ``env``; returns once the running endpoint lets them in."""
        environment = self._environment(env)
        before = self._admin.get_environment(environment)
        after = self._admin.add_origin(environment, origin)
        known = set(before.origins) if before is not None else set()
        self._added_origins.update((environment, o) for o in after.origins if o not in known)
        self._await_reload()

    def validation(self, env: str | None = None) -> ValidationMode:
        """What ``env`` does with Iglu schemas now (``strict``, ``lenient`` or ``off``)."""
        record = self._admin.get_environment(self._environment(env))
        if record is None:  # pragma: no cover - the fixture's environments are never deleted
            raise ValueError(f"environment {env!r} is gone")
        return record.validation

    def set_validation(self, mode: str, env: str | None = None) -> None:
        """Set what ``env`` does with Iglu schemas (``strict``, ``lenient``, ``off``) for
        this test; returns once the running endpoint applies it."""
        chosen = parse_validation_mode(mode)
        environment = self._environment(env)
        self._first_validation.setdefault(environment, self.validation(environment))
        self._admin.set_validation(environment, chosen)
        self._await_reload()

    def _await_reload(self) -> None:
        """Return once the collector has read environments afresh (its origin cache keeps
        them for a moment): probe it with preflights until it has."""
        asked = self._activity.loads_begun
        deadline = Clock.now() + RELOAD_TIMEOUT
        while not self._activity.loaded_after(asked):
            if Clock.now() >= deadline:
                raise RuntimeError(f"the endpoint did not reload within {RELOAD_TIMEOUT} s")
            self._probe()
            probed = Clock.now()
            while not self._activity.loaded_after(asked) and Clock.now() - probed < 0.05:
                self._activity.wait(0.05)

    def _probe(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            connection.request(
                "OPTIONS",
                "/com.snowplowanalytics.snowplow/tp2",
                headers={
                    "Origin": _PROBE_ORIGIN,
                    "Access-Control-Request-Method": "POST",
                    PROBE_HEADER: "1",
                },
            )
            connection.getresponse().read()
        finally:
            connection.close()

    # --- senders ---------------------------------------------------------------------

    def emitter(self, env: str | None = None, **options: Any) -> Emitter:
        """A ``snowplow_tracker.Emitter`` sending to ``env`` with its key, one event per
        request (``batch_size=1``), so an event is stored when ``track()`` returns.
        ``options`` go to ``Emitter``; it is closed with the test (or :meth:`stop`)."""
        from snowplow_tracker import Emitter

        environment = self._environment(env)
        options.setdefault("batch_size", 1)
        options.setdefault("flush_at_exit", False)
        sender = Emitter(
            self.url, api_key=self._keys[environment], datacoral_env=environment, **options
        )
        self._clients.append(sender)
        return sender

    def tracker(
        self,
        env: str | None = None,
        *,
        namespace: str = "pytest",
        app_id: str | None = "pytest",
        **emitter_options: Any,
    ) -> Tracker:
        """A ``snowplow_tracker.Tracker`` over :meth:`emitter` (``emitter_options`` go there)."""
        from snowplow_tracker import Tracker

        return Tracker(namespace, self.emitter(env, **emitter_options), app_id=app_id)

    def close_clients(self, timeout: float = 5.0) -> None:
        """Deliver and close every emitter made by :meth:`emitter` and :meth:`tracker`."""
        clients, self._clients = self._clients, []
        for sender in clients:
            sender.close(timeout=timeout)

    # --- between tests ---------------------------------------------------------------

    def begin_test(self) -> None:
        """Start a test from a clean endpoint: undo the origins and validation modes set
        through this handle, and delete every environment's events."""
        self.close_clients()
        changed = bool(self._added_origins or self._first_validation)
        for environment, origin in sorted(self._added_origins):
            self._admin.remove_origin(environment, origin)
        self._added_origins.clear()
        for environment, mode in self._first_validation.items():
            self._admin.set_validation(environment, mode)
        self._first_validation.clear()
        self.reset()
        if changed:
            self._await_reload()


def start_endpoint(
    directory: str | os.PathLike[str],
    *,
    env: str = "dev",
    iglu: Iterable[str] = (),
    validation: str | None = None,
) -> Endpoint:
    """Start an endpoint over a new SQLite file in ``directory`` (made if missing).

    ``iglu``: Iglu sources the endpoint validates self-describing events and contexts
    against, looked up in order after the protocol's own schemas: folders in the static
    layout (holding ``schemas/{vendor}/{name}/jsonschema/{version}``), static registry
    URLs, ``iglu-server+https://...``. ``validation``: every environment's mode
    (``strict``, ``lenient``, ``off``; None keeps the default, ``lenient``). Use it as a
    context manager, or call :meth:`Endpoint.stop`.
    """
    Path(directory).mkdir(parents=True, exist_ok=True)
    endpoint = Endpoint(
        Path(directory) / "datacoral.sqlite", env=env, iglu=tuple(iglu), validation=validation
    )
    try:
        return endpoint.start()
    except BaseException:
        endpoint.stop()
        raise
