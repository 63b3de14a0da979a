"""A user's virtual environment: ``pip install '.[testing]'`` from this checkout.

Made once per pyproject.toml content and interpreter, then kept: a later run builds the
package from the checkout again and reinstalls it (``--no-deps``) when its files changed,
which saves the dependencies' install. It lives under ``benchmarks/.cache`` (ignored by
git) beside the project's other cached venvs; a marker file written last holds the
digest of the package's files installed, so an interrupted install is made again, and
one lock file keeps concurrent runs apart.

pip is this interpreter's, pointed at the new venv (``pip --python``), so the venv
needs no pip of its own; it reads the index settings pip is configured with here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.subprocesses import ROOT

CACHE_DIR = ROOT / "benchmarks" / ".cache"
_PREFIX = "user-testing-venv-"
_COMPLETE = "datacoral-complete"
#: Cached venvs of other keys unused this long are deleted.
_STALE_SECONDS = 14 * 24 * 3600
#: What the built package needs: its metadata, its readme and its code.
_SOURCES = ("pyproject.toml", "README.md", "src")


class InstallFailed(Exception):
    """pip could not install; ``output`` is what it said."""

    def __init__(self, output: str) -> None:
        super().__init__(output[-2000:])
        self.output = output


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def copy_distribution(directory: Path) -> Path:
    """The files the distribution is built from, copied into ``directory`` (so a build
    reads one consistent state of a checkout others may be editing); returns it."""
    for name in _SOURCES:
        found = ROOT / name
        if found.is_dir():
            shutil.copytree(found, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copy2(found, directory / name)
    return directory


def cache_key() -> str:
    """What the venv's content depends on besides the package's code."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(f"{sys.version}\0{sys.base_prefix}".encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def user_venv(source: Path, timeout: float) -> Iterator[Path]:
    """A venv with ``source`` and its ``testing`` extra installed, locked while in use.

    :class:`InstallFailed` when pip fails (its output says why).
    """
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    venv = CACHE_DIR / f"{_PREFIX}{cache_key()}"
    with _locked(CACHE_DIR / f"{_PREFIX}lock"):
        _forget_stale(keep=venv)
        marker = venv / _COMPLETE
        wanted = source_digest(source)
        if marker.exists() and marker.read_text() != wanted:
            try:
                _pip(venv, timeout, "--no-deps", "--force-reinstall", str(source))
            except InstallFailed:
                marker.unlink()  # made again below, from scratch
            else:
                marker.write_text(wanted)
        if not marker.exists():
            shutil.rmtree(venv, ignore_errors=True)
            base_python = getattr(sys, "_base_executable", sys.executable)
            subprocess.run(
                [base_python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
            )
            _pip(venv, timeout, f"{source}[testing]")
            marker.write_text(wanted)
        os.utime(marker)
        yield venv


def source_digest(source: Path) -> str:
    """A digest of every file's path and content under ``source``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(source).as_posix()}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _pip(venv: Path, timeout: float, *arguments: str) -> None:
    if _pip_has_python_option():
        command = [sys.executable, "-m", "pip", "--python", str(venv_python(venv))]
    else:  # pragma: no cover - scripts/test upgrades pip; an old one installs its own
        subprocess.run([str(venv_python(venv)), "-m", "ensurepip"], check=True, timeout=120)
        command = [str(venv_python(venv)), "-m", "pip"]
    done = subprocess.run(
        [*command, "install", "--disable-pip-version-check", "--quiet", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=CACHE_DIR,
        env=_clean_environment(),
    )
    if done.returncode != 0:
        raise InstallFailed(done.stdout + done.stderr)


def _pip_has_python_option() -> bool:
    """``pip --python`` exists from pip 22.3."""
    found = re.match(r"(\d+)\.(\d+)", importlib.metadata.version("pip"))
    return found is not None and (int(found[1]), int(found[2])) >= (22, 3)


def _clean_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    environment.pop("VIRTUAL_ENV", None)
    return environment


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _forget_stale(keep: Path) -> None:
    """Delete cached venvs of other keys (an older pyproject.toml) unused for long."""
    for venv in CACHE_DIR.glob(f"{_PREFIX}*"):
        if venv == keep or not venv.is_dir():
            continue
        marker = venv / _COMPLETE
        used = marker.stat().st_mtime if marker.exists() else 0.0
        if time.time() - used > _STALE_SECONDS:
            shutil.rmtree(venv, ignore_errors=True)
