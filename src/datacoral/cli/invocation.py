"""How to run ``datacoral`` and this Python from where the user stands.

A command printed for the user to type must work as printed: in a virtual
environment that is not activated, ``datacoral`` alone is "command not found",
so the path of the script is printed instead (relative to the current directory
when below it), along with how to activate the environment.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def datacoral_command() -> str:
    """How to run ``datacoral`` from the current directory: the bare name when the
    shell finds this very script, else its path (relative when below here)."""
    scripts = Path(sys.executable).parent
    script = next(
        (scripts / name for name in ("datacoral", "datacoral.exe") if (scripts / name).is_file()),
        None,
    )
    if script is None:
        return f"{shlex.quote(sys.executable)} -m datacoral"
    if _found_on_path("datacoral", script):
        return "datacoral"
    return shlex.quote(_from_here(script))


def python_command() -> str:
    """How to run this interpreter from the current directory."""
    if _found_on_path("python", Path(sys.executable)):
        return "python"
    return shlex.quote(_from_here(Path(sys.executable)))


def activation_hint(command: str) -> str | None:
    """The command that activates this virtual environment, when it is not active."""
    if command == "datacoral" or sys.prefix == sys.base_prefix:
        return None  # already on PATH, or not a virtual environment
    scripts = Path(sys.executable).parent
    if os.name == "nt":
        script = scripts / "activate.bat"
        return shlex.quote(_from_here(script)) if script.is_file() else None
    script = scripts / "activate"
    return f"source {shlex.quote(_from_here(script))}" if script.is_file() else None


def _found_on_path(name: str, path: Path) -> bool:
    """Whether the shell finds ``name`` in the directory of ``path``. Directories are
    compared, not files: a virtual environment's python is a link to the base one,
    which runs without the environment's packages."""
    found = shutil.which(name)
    try:
        return found is not None and os.path.samefile(Path(found).parent, path.parent)
    except OSError:
        return False


def _from_here(path: Path) -> str:
    """``path`` relative to the current directory when it is below it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        return str(absolute)
    # A bare name would be looked up on PATH by the shell.
    return str(relative) if len(relative.parts) > 1 else str(Path(".") / relative)
