"""The stream side of tests: publishing as collectors do, and ``datacoral load`` processes.

``publish`` sends records to the stream exactly as :class:`JetStreamSink` does (one
message per request, its id derived from its content), without HTTP, so a test can
build a backlog of thousands of requests in a second. ``running_loader`` runs
``datacoral load`` as a subprocess; ``load_once`` runs ``datacoral load --once``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from datacoral.storage.base import BadRow, GoodEvent
from datacoral.storage.jetstream_messages import Message, messages
from datacoral.storage.jetstream_settings import StreamSettings
from datacoral.storage.target import DatabaseURL

#: Settings that keep tests quick: a short ack wait brings a dead loader's messages back.
QUICK = {"load_ack_wait_seconds": 2, "load_batch_wait_seconds": 0.2}


def _env(settings: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in settings.items():
        env[f"DATACORAL_{name.upper()}"] = str(value)
    return env


def load_command(db: DatabaseURL, urls: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "datacoral", "load", "--db", db.url, "--stream", urls, *args]


def load_once(
    db: DatabaseURL, urls: str, *args: str, timeout: float = 120, **settings: Any
) -> subprocess.CompletedProcess[str]:
    """``datacoral load --once``: what it printed, and its exit code."""
    return subprocess.run(
        load_command(db, urls, "--once", *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env({**QUICK, **settings}),
    )


def load_status(db: DatabaseURL, urls: str) -> str:
    done = subprocess.run(
        load_command(db, urls, "--status"), capture_output=True, text=True, timeout=60, env=_env({})
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class RunningLoader:
    """A ``datacoral load`` process and everything it printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (process.stdout, process.stderr)
            if stream is not None
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    def log(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._join()

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)  # the loader prints its stacks
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(1)
            self.process.kill()
            self.process.wait(10)
            self._join()
            raise AssertionError(f"datacoral load ignored SIGTERM:\n{self.log()}") from None
        self._join()
        return code

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def running_loader(
    db: DatabaseURL, urls: str, *args: str, **settings: Any
) -> Iterator[RunningLoader]:
    """``datacoral load`` until the block ends (then SIGTERM, and it must exit 0)."""
    process = subprocess.Popen(
        load_command(db, urls, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env({**QUICK, **settings}),
    )
    loader = RunningLoader(process)
    try:
        yield loader
    finally:
        if process.poll() is None:
            code = loader.terminate()
            assert code == 0, f"datacoral load exited with {code} after SIGTERM:\n{loader.log()}"


def publish(
    urls: str, requests: list[tuple[list[GoodEvent], list[BadRow]]], *, replicas: int = 1
) -> int:
    """Publish each request's records as a collector would; the messages the stream added
    (a request repeated within the duplicate window adds none)."""
    import nats

    from datacoral.storage.jetstream_setup import ensure_stream

    settings = StreamSettings(servers=tuple(urls.split(",")), replicas=replicas)

    async def send() -> int:
        client = await nats.connect(servers=list(settings.servers))
        try:
            js = client.jetstream(timeout=10)
            await ensure_stream(js, settings, update=False)
            outgoing: list[tuple[str, Message]] = []
            for good, bad in requests:
                environment = (good[0].environment if good else bad[0].environment) or None
                for message in messages(good, bad, client.max_payload):
                    outgoing.append((settings.subject_of(environment), message))
            added = 0
            for start in range(0, len(outgoing), 500):
                acks = await asyncio.gather(
                    *(
                        js.publish(
                            subject,
                            message.data,
                            stream=settings.name,
                            headers={"Nats-Msg-Id": message.message_id},
                        )
                        for subject, message in outgoing[start : start + 500]
                    )
                )
                added += sum(1 for ack in acks if not ack.duplicate)
            return added
        finally:
            await client.close()

    return asyncio.run(send())


def stream_messages(urls: str, name: str = "DATACORAL_EVENTS") -> int:
    """Messages the stream holds now (not yet acknowledged by a loader)."""
    import nats

    async def ask() -> int:
        client = await nats.connect(servers=urls.split(","))
        try:
            info = await client.jetstream(timeout=10).stream_info(name)
            return int(info.state.messages)
        finally:
            await client.close()

    return asyncio.run(ask())
