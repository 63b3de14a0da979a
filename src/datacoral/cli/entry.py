"""The ``datacoral`` console script.

Only the standard library is imported at module level, so that an install
without the collector extra can still say what is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

INSTALL_HINT = "pip install 'datacoral-tracker-py[collector]'"
#: Third-party modules of the collector extra; importing one may fail on a tracker-only install.
OPTIONAL_MODULES = frozenset({"click", "uvicorn", "uvloop", "httptools", "orjson"})


def missing_optional_module(exc: ImportError) -> str | None:
    """The collector-extra module whose absence caused ``exc``, if that is the cause."""
    module = (exc.name or "").partition(".")[0]
    return module if module in OPTIONAL_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the script wrapper exits with it)."""
    try:
        from datacoral.cli.app import cli
    except ImportError as exc:
        if missing_optional_module(exc) is None:
            raise
        print(
            f"datacoral: the command line needs the collector extra: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    try:
        cli.main(args=None if argv is None else list(argv), prog_name="datacoral")
    except SystemExit as exit_:
        return _exit_code(exit_.code)
    return 0


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
