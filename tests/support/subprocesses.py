"""Running Python snippets in fresh interpreters, from the project root."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run dedented ``code`` with this interpreter; capture its output."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def run_script(path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the Python script ``path`` with this interpreter; capture its output."""
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
