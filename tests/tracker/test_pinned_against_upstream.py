"""The upstream-compat tests still pin upstream's behaviour: run them against upstream.

``test_upstream_compat_*.py`` assert what upstream snowplow-tracker 1.1.0 does when
users' test suites mock around a tracker; this package passes them too. Here the same
files run against upstream itself (installed from PyPI into a venv of its own under
``benchmarks/.cache``, with the same versions of the test libraries), so a test edited
to fit this package where upstream differs is caught. Tests marked ours-only skip there.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.subprocesses import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from _peer import (
    CACHE_DIR,
    PeerUnavailable,
    clean_environment,
    ensure_upstream,
    venv_python,
)

VENV = CACHE_DIR / "upstream-test-venv"
TEST_LIBRARIES = ("pytest", "pytest-timeout", "responses", "requests-mock", "httmock", "freezegun")
# The files under test; this one's name is outside the pattern, or it would run itself.
FILES = sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "tests/tracker").glob("test_upstream_compat_*.py")
)


@pytest.mark.slow
def test_the_compat_tests_pass_against_upstream_itself() -> None:
    pinned = tuple(f"{name}=={version(name)}" for name in TEST_LIBRARIES)
    try:
        package = ensure_upstream(VENV, timeout=240.0, extra=pinned)
    except PeerUnavailable as exc:
        pytest.skip(f"upstream 1.1.0 could not be installed from PyPI here: {exc}")
    assert package.is_relative_to(VENV), package
    done = subprocess.run(
        [str(venv_python(VENV)), "-E", "-s", "-m", "pytest", "--noconftest", "-p",
         "no:cacheprovider", "-q", "-rs", *FILES],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=clean_environment(),
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    skipped = re.search(r"(\d+) skipped", summary)
    assert passed >= 60, summary
    # Only the tests marked ours-only may skip there.
    reasons = re.findall(r"SKIPPED \[(\d+)\] [^:]+:\d+: (.*)", done.stdout)
    assert all("this package" in reason for _, reason in reasons), reasons
    assert (int(skipped.group(1)) if skipped else 0) == sum(int(n) for n, _ in reasons)


def test_the_files_under_test_exist() -> None:
    assert len(FILES) == 3 and all(Path(ROOT / f).exists() for f in FILES)
