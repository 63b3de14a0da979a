"""The peer we compare with: upstream snowplow-tracker 1.1.0 in its own cached venv.

Our distribution also installs the import name ``snowplow_tracker``, so upstream
lives in a separate virtual environment (``benchmarks/.cache/upstream-venv`` by
default), created with ``python -m venv`` and filled by pip from PyPI. A venv that
already imports the right version is reused. The venv is built under a temporary
name and renamed into place, so an interrupted install is never reused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

UPSTREAM_REQUIREMENT = "snowplow-tracker==1.1.0"
UPSTREAM_VERSION = "1.1.0"
CACHE_DIR = Path(__file__).resolve().parent / ".cache"
DEFAULT_VENV = CACHE_DIR / "upstream-venv"

_PROBE = (
    "import os, snowplow_tracker as s; "
    "print(s.__version__); print(os.path.dirname(os.path.abspath(s.__file__)))"
)


class PeerUnavailable(RuntimeError):
    """The upstream venv is missing and could not be made."""


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def clean_environment() -> dict[str, str]:
    """The environment for a peer subprocess: no PYTHONPATH or venv leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.pop("VIRTUAL_ENV", None)
    return env


def probe(python: Path) -> tuple[str, Path] | None:
    """(version, package folder) of the snowplow_tracker ``python`` imports, or None."""
    if not python.exists():
        return None
    try:
        done = subprocess.run(
            [str(python), "-E", "-s", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_environment(),
            cwd=CACHE_DIR.parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    version, folder = done.stdout.split()
    return version, Path(folder)


def ensure_upstream(
    venv: Path = DEFAULT_VENV, timeout: float = 300.0, extra: tuple[str, ...] = ()
) -> Path:
    """The folder of upstream's ``snowplow_tracker`` package, installing it when needed.

    ``extra`` requirements are installed beside it (a venv made without them is
    made again). Raises :class:`PeerUnavailable` when the venv cannot be made within
    ``timeout`` seconds (all steps together).
    """
    found = probe(venv_python(venv))
    if found is not None and found[0] == UPSTREAM_VERSION and _has(venv, extra):
        return found[1]
    venv.parent.mkdir(parents=True, exist_ok=True)
    building = venv.with_name(f"{venv.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    base_python = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base_python, "-m", "venv", str(building)],
        [str(venv_python(building)), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "--retries", "1", "--timeout", "15",
         UPSTREAM_REQUIREMENT, *extra],
    ]  # fmt: skip
    print(f"installing {UPSTREAM_REQUIREMENT} into {venv} ...", file=sys.stderr)
    deadline = time.monotonic() + timeout
    try:
        for step in steps:
            left = max(1.0, deadline - time.monotonic())
            subprocess.run(step, check=True, timeout=left, env=clean_environment())
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise PeerUnavailable(f"could not install {UPSTREAM_REQUIREMENT}: {exc}") from exc
    shutil.rmtree(venv, ignore_errors=True)
    os.replace(building, venv)
    found = probe(venv_python(venv))
    if found is None or found[0] != UPSTREAM_VERSION:
        raise PeerUnavailable(f"{venv} does not import snowplow_tracker {UPSTREAM_VERSION}")
    return found[1]


def _has(venv: Path, requirements: tuple[str, ...]) -> bool:
    """True when ``venv`` has every one of ``requirements`` (pinned ``name==version``)."""
    if not requirements:
        return True
    check = (
        "import sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
        "for r in sys.argv[1:]:\n"
        "    name, _, wanted = r.partition('==')\n"
        "    try:\n        found = version(name)\n"
        "    except PackageNotFoundError:\n        sys.exit(1)\n"
        "    if wanted and found != wanted:\n        sys.exit(1)\n"
    )
    try:
        done = subprocess.run(
            [str(venv_python(venv)), "-E", "-s", "-c", check, *requirements],
            capture_output=True,
            timeout=60,
            env=clean_environment(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
