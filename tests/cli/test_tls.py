"""``datacoral serve --certfile --keyfile``: the endpoint over https.

A self-signed certificate is made here (the openssl command line); a real server
serves with it, and the real tracker delivers to it trusting the certificate
through ``REQUESTS_CA_BUNDLE``, as requests does: over its own short way
(http.client) and through a caller's ``requests.Session``. A browser's request
over https gets the ``sp`` cookie with ``SameSite=None; Secure``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from datacoral.cli.app import cli
from datacoral.storage.sqlite import SQLiteStorage
from snowplow_tracker import Emitter, Tracker
from tests.collector.browser_requests import PAGE, allow_origins, from_page
from tests.collector.builders import TP2, envelope, event
from tests.support.server import INTERNAL_ERROR, RunningServer, serve_command

Certificate = tuple[Path, Path]


def make_certificate(folder: Path, name: str = "server") -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (EC P-256)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def _no_datacoral_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DATACORAL_") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)


def new_database(folder: Path) -> tuple[Path, str]:
    """A database with a dev key, and the origins of tests/collector/browser_requests.py."""
    db = folder / "events.sqlite"
    store = SQLiteStorage(db)
    try:
        _, key = store.create_key("dev", label="tls")
    finally:
        store.close()
    allow_origins(db)
    return db, key


@contextmanager
def serving(db: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """``datacoral serve --port 0 --db DB ARGS`` until the block ends; it must stop cleanly."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    process = subprocess.Popen(
        [*serve_command(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        text=True,
    )
    server = RunningServer(process)
    server.wait_listening(30)
    try:
        yield server
    finally:
        assert server.terminate() == 0, server.log()
    assert INTERNAL_ERROR not in server.log(), server.log()


@pytest.fixture(scope="module")
def endpoint(
    tmp_path_factory: pytest.TempPathFactory, certificate: Certificate
) -> Iterator[tuple[RunningServer, Path, str]]:
    """A server given its certificate by options, its database and a dev key."""
    db, key = new_database(tmp_path_factory.mktemp("tls-endpoint"))
    cert, private_key = certificate
    with serving(db, "--certfile", str(cert), "--keyfile", str(private_key)) as server:
        yield server, db, key


def stored_labels(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT se_label FROM good_events WHERE environment = 'dev'")
        return [label for (label,) in rows]


def track(server: RunningServer, key: str, label: str, **emitter_options: object) -> Emitter:
    """One event from our tracker (0.x call style, https) to ``server``; its emitter."""
    emitter = Emitter(
        "127.0.0.1", protocol="https", port=server.port, buffer_size=1, **emitter_options
    )
    tracker = Tracker(emitter, datacoral_env="dev", api_key=[key], namespace="tls")
    tracker.track_struct_event("tls", "sent", label=label)
    emitter.flush()
    return emitter


@pytest.mark.parametrize("way", ["short way", "caller's session"])
def test_the_tracker_delivers_over_https_trusting_the_bundle(
    endpoint: tuple[RunningServer, Path, str],
    certificate: Certificate,
    monkeypatch: pytest.MonkeyPatch,
    way: str,
) -> None:
    server, db, key = endpoint
    assert server.url == f"https://127.0.0.1:{server.port}"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    options = {"session": requests.Session()} if way == "caller's session" else {}
    emitter = track(server, key, f"trusted {way}", **options)
    stats = emitter.stats()
    assert (stats.sent, stats.failed, stats.last_error) == (1, 0, None)
    emitter.close()
    assert f"trusted {way}" in stored_labels(db)


def test_without_the_bundle_the_certificate_is_refused(
    endpoint: tuple[RunningServer, Path, str],
) -> None:
    server, db, key = endpoint
    emitter = track(server, key, "untrusted")
    stats = emitter.stats()
    assert stats.sent == 0 and "CERTIFICATE_VERIFY_FAILED" in (stats.last_error or "")
    emitter.close(timeout=0)
    assert "untrusted" not in stored_labels(db)


def test_a_browser_over_https_gets_a_samesite_none_secure_cookie(
    endpoint: tuple[RunningServer, Path, str], certificate: Certificate
) -> None:
    server, _, key = endpoint
    answer = requests.post(
        server.url + TP2,
        json=envelope(event()),
        headers=from_page(PAGE, key=key),
        verify=str(certificate[0]),
        timeout=10,
    )
    assert answer.status_code == 200
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("sp=")
    assert "; SameSite=None; Secure; HttpOnly" in cookie


@pytest.mark.parametrize("how", ["environment", "config file"])
def test_the_certificate_from_the_environment_or_the_config_file(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    db, key = new_database(tmp_path)
    cert, private_key = certificate
    if how == "environment":  # and two workers, each serving TLS under the supervisor
        env = {"DATACORAL_CERTFILE": str(cert), "DATACORAL_KEYFILE": str(private_key)}
        env["DATACORAL_WORKERS"] = "2"
        args: tuple[str, ...] = ()
    else:
        config = tmp_path / "datacoral.toml"
        config.write_text(f'[serve]\ncertfile = "{cert}"\nkeyfile = "{private_key}"\n')
        env, args = {}, ("--config", str(config))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    with serving(db, *args, env=env) as server:
        assert server.url.startswith("https://")
        emitter = track(server, key, how)
        assert emitter.stats().sent == 1, emitter.stats().last_error
        emitter.close()
    assert how in stored_labels(db)


def test_a_certificate_that_cannot_be_used_is_refused_before_listening(
    tmp_path: Path, certificate: Certificate
) -> None:
    db = tmp_path / "never.sqlite"
    cert, key = certificate
    _, other_key = make_certificate(tmp_path, "other")
    missing = tmp_path / "missing.pem"
    cases = {
        ("--certfile", str(missing)): f"--certfile {missing}: No such file or directory",
        ("--certfile", str(cert), "--keyfile", str(missing)): (
            f"--keyfile {missing}: No such file or directory"
        ),
        ("--certfile", str(cert), "--keyfile", str(other_key)): (
            "--certfile and --keyfile: not a PEM certificate and its private key"
            " (KEY_VALUES_MISMATCH)"
        ),
        ("--keyfile", str(key)): "--keyfile needs certfile, the certificate it is the key of",
    }
    for args, message in cases.items():
        result = CliRunner().invoke(cli, ["serve", "--db", str(db), *args])
        assert (result.exit_code, result.stderr) == (1, f"error: {message}\n"), args
    # A key where the certificate should be: OpenSSL's words vary with its version.
    result = CliRunner().invoke(cli, ["serve", "--db", str(db), "--certfile", str(key)])
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(
        "error: --certfile: not a PEM certificate and its private key ("
    )
    assert not db.exists()


def test_sigterm_does_not_wait_for_idle_tls_clients(
    tmp_path: Path, certificate: Certificate
) -> None:
    """A client idle in its pool never answers a TLS close_notify; closing its connection
    gracefully would hold SIGTERM for the 30 s TLS shutdown timeout. Idle TLS connections
    are dropped at once, so the server stops in well under that."""
    db, _ = new_database(tmp_path)
    cert, private_key = certificate
    context = ssl.create_default_context(cafile=str(cert))
    with serving(db, "--certfile", str(cert), "--keyfile", str(private_key)) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as idle:
            idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert idle.recv(64).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            assert server.terminate(timeout=20) == 0, server.log()
            assert time.monotonic() - started < 10, server.log()
