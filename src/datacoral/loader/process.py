"""A loader as a process: :func:`run` until SIGTERM / SIGINT (or, ``once``, until the
stream is empty), and :func:`status`, the consumer's lag without loading.

SIGTERM or SIGINT asks the loader to stop (:mod:`.signals`): the batch in hand gets
``load_stop_timeout_seconds``, then the task is cancelled; a loader still running
:data:`~datacoral.loader.loader.EXIT_MARGIN` seconds after that has its event loop blocked,
prints every thread's stack and exits with status 1. ``kill -USR1`` prints the stacks
without stopping it.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal
from collections.abc import Callable

from datacoral.loader.loader import EXIT_MARGIN, Loader
from datacoral.loader.progress import Lag, Progress
from datacoral.loader.settings import LoaderSettings
from datacoral.loader.signals import StopOnSignal
from datacoral.storage.base import StorageUnavailable
from datacoral.storage.jetstream_setup import NATS_ERRORS, connect, describe_error

log = logging.getLogger("datacoral.loader")


async def status(settings: LoaderSettings) -> Lag | None:
    """The consumer's lag, without loading anything (the consumer is created if
    missing: before any loader ran, everything in the stream is waiting)."""
    stream = settings.stream_settings()
    client = await connect(stream, name="datacoral-load-status")
    try:
        loader = Loader(settings, storage=None)
        js = client.jetstream(timeout=5)
        await loader.set_up(js)
        return await loader.lag(js)
    finally:
        await client.close()


def run(
    settings: LoaderSettings,
    *,
    once: bool = False,
    watch: Callable[[Loader], None] | None = None,
) -> tuple[Progress, Lag | None]:
    """Run a loader in this process until SIGTERM / SIGINT (or, ``once``, until the
    stream is empty); its progress and final lag. ``watch`` is shown the loader first."""

    async def main() -> tuple[Progress, Lag | None]:
        loader = Loader(settings)
        if watch is not None:  # e.g. the metrics, reading its progress and lag
            watch(loader)
        task = asyncio.current_task()
        assert task is not None
        on_signal.install(loader.stop, task)
        # `kill -USR1` prints every thread's stack to stderr: for a loader that seems stuck.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        try:
            lag = await loader.run(once=once)
        except asyncio.CancelledError:
            log.warning(
                "stopped after %g s without finishing the batch in hand; the stream delivers"
                " it again after the ack wait",
                on_signal.stop_timeout,
            )
            return loader.progress, None
        finally:
            on_signal.uninstall()
        log.info("stopped: %s", loader.progress.line(lag))
        return loader.progress, lag

    on_signal = StopOnSignal(
        stop_timeout=settings.load_stop_timeout_seconds,
        exit_timeout=settings.load_stop_timeout_seconds + EXIT_MARGIN,
    )
    try:
        return asyncio.run(main())
    except NATS_ERRORS as exc:
        raise StorageUnavailable(f"the stream does not answer: {describe_error(exc)}") from exc
    finally:
        on_signal.disarm()  # asyncio.run has returned: nothing left to hang on
