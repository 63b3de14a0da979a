"""Where an export writes: a file, complete or absent, or standard output.

A file is written under a temporary name beside it (``NAME.partial``) and renamed
over ``NAME`` only when the export succeeded, so a file of that name is always a
whole export: an interrupted one leaves the previous file (if any) as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from datacoral.export.errors import OutputUnwritable


class Sink(Protocol):
    """What a writer writes to: bytes in, nothing read, nothing sought."""

    def write(self, data: bytes) -> int: ...

    def flush(self) -> None: ...


class CountingSink:
    """A :class:`Sink` that passes writes on to a binary stream and counts their bytes."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.bytes_written = 0
        self.closed = False  # read by pyarrow, which writes to any object with write()

    def write(self, data: bytes) -> int:
        self._target.write(data)
        size = memoryview(data).nbytes
        self.bytes_written += size
        return size

    def flush(self) -> None:
        self._target.flush()


def partial_path(path: Path) -> Path:
    """Where the export to ``path`` is written until it is complete."""
    return path.with_name(path.name + ".partial")


@contextlib.contextmanager
def open_output(path: Path | None, stdout: BinaryIO) -> Iterator[CountingSink]:
    """A sink to ``path`` (renamed into place when the block ends without an error,
    removed when it raises) or, for None, to ``stdout`` (flushed, left open). A path
    that names no regular file (``/dev/null``, a named pipe) is written directly: it
    is not a file to replace. Failures to write raise :class:`OutputUnwritable`."""
    if path is None:
        sink = CountingSink(stdout)
        with _writing("standard output"):
            yield sink
            sink.flush()
        return
    if path.exists() and not path.is_file():
        with _writing(str(path)), path.open("wb") as special:
            sink = CountingSink(special)
            yield sink
            sink.flush()
        return
    partial = partial_path(path)
    with _writing(str(path)), partial.open("wb") as file:
        try:
            sink = CountingSink(file)
            yield sink
            sink.flush()
            os.fsync(file.fileno())
        except BaseException:
            file.close()
            partial.unlink(missing_ok=True)
            raise
    with _writing(str(path)):
        os.replace(partial, path)


@contextlib.contextmanager
def _writing(name: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise OutputUnwritable(f"cannot write {name}: {exc.strerror or exc}") from exc
