"""StopOnSignal: SIGTERM / SIGINT stop a loader cleanly, else cancel it, else exit.

Each test runs a small program in a fresh interpreter that installs a StopOnSignal
(stop after 0.5 s, exit after 2 s) around a task that behaves one way, sends it a
real signal, and looks at how and when it ended.
"""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import pytest

from tests.support.subprocesses import ROOT

STOP_TIMEOUT = 0.5
EXIT_TIMEOUT = 2.0
WAIT = 15.0  # seconds for anything these tests wait for

PROGRAM = f"""
import asyncio, logging, sys, time
from datacoral.loader.signals import StopOnSignal

logging.basicConfig(level=logging.INFO)
behaviour = sys.argv[1]
on_signal = StopOnSignal(stop_timeout={STOP_TIMEOUT}, exit_timeout={EXIT_TIMEOUT})

def blocked_event_loop():
    time.sleep(60)

async def main():
    stopped = asyncio.Event()
    on_signal.install(stopped.set, asyncio.current_task())
    print("ready", flush=True)
    try:
        if behaviour.startswith("stops"):
            await stopped.wait()
            print("stopped", flush=True)
        elif behaviour == "ignores the stop":
            await asyncio.Event().wait()
        elif behaviour == "blocks its loop":
            blocked_event_loop()
    except asyncio.CancelledError:
        print("cancelled", flush=True)
    finally:
        on_signal.uninstall()

try:
    asyncio.run(main())
finally:
    on_signal.disarm()
if behaviour == "stops, then lingers":
    time.sleep({EXIT_TIMEOUT} + 1)  # disarmed: nothing ends the process now
print("returned", flush=True)
"""


@dataclass
class Ended:
    code: int
    seconds: float  # from the signal
    stdout: str
    stderr: str


def signalled(behaviour: str, sig: signal.Signals = signal.SIGTERM) -> Ended:
    """Start the program, send ``sig`` once it is ready, and wait for its end."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PROGRAM), behaviour],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(WAIT), "the program did not start"
            assert process.stdout.readline() == "ready\n"
        sent = time.monotonic()
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=WAIT)
        return Ended(process.returncode, time.monotonic() - sent, stdout, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda sig: sig.name)
def test_a_loader_that_stops_when_asked_ends_at_once(sig: signal.Signals) -> None:
    ended = signalled("stops", sig)
    assert ended.code == 0, ended.stderr
    assert ended.stdout.split() == ["stopped", "returned"]  # not cancelled
    assert ended.seconds < STOP_TIMEOUT + 1


def test_no_forced_exit_once_the_loader_returned() -> None:
    ended = signalled("stops, then lingers")
    assert ended.code == 0, ended.stderr
    assert ended.stdout.split() == ["stopped", "returned"]
    assert ended.seconds >= EXIT_TIMEOUT + 1  # outlived the exit timeout, disarmed
    assert "Thread" not in ended.stderr


def test_a_loader_that_does_not_stop_is_cancelled_after_the_stop_timeout() -> None:
    ended = signalled("ignores the stop")
    assert ended.code == 0, ended.stderr
    assert ended.stdout.split() == ["cancelled", "returned"]
    assert STOP_TIMEOUT <= ended.seconds < EXIT_TIMEOUT


def test_a_loader_whose_event_loop_is_blocked_exits_with_its_stacks() -> None:
    ended = signalled("blocks its loop")
    assert ended.code == 1
    assert ended.stdout == ""  # neither stopped nor cancelled: the loop never ran again
    assert EXIT_TIMEOUT <= ended.seconds < EXIT_TIMEOUT + 3
    assert "the event loop is blocked; exiting with status 1" in ended.stderr
    assert "in blocked_event_loop" in ended.stderr  # the main thread's stack
