"""``datacoral quickstart`` end to end: a real endpoint process, our tracker, a real file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datacoral.cli.invocation import activation_hint, datacoral_command


def _environment_not_activated(tmp_path: Path) -> dict[str, str]:
    """The environment of a user who installed into a virtual environment and did not
    activate it: its scripts are not on PATH."""
    scripts = Path(sys.executable).parent
    path = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not (Path(entry).is_dir() and Path(entry).samefile(scripts))
    ]
    environ = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "DATACORAL_DB")}
    # TMPDIR: the quickstart's database stays inside tmp_path.
    return {**environ, "PATH": os.pathsep.join(path), "TMPDIR": str(tmp_path)}


@pytest.mark.slow
def test_quickstart_stores_one_event_per_environment(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "datacoral", "quickstart"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
        env=_environment_not_activated(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    header = lines.index(["ENVIRONMENT", "GOOD", "BAD"])
    assert lines[header + 1 : header + 4] == [
        ["dev", "1", "0"],
        ["stage", "1", "0"],
        ["prod", "1", "0"],
    ]
    assert "datacoral key create --env dev" in done.stdout
    database = Path(done.stdout.splitlines()[0].removeprefix("database: "))
    assert database.exists() and database.is_relative_to(tmp_path)
    assert "Traceback" not in done.stderr
    _the_next_steps_work_as_printed(done.stdout, tmp_path, database)


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env=env,
    )


def _the_next_steps_work_as_printed(stdout: str, cwd: Path, database: Path) -> None:
    if sys.platform == "win32":
        return  # the printed commands are for a POSIX shell
    environ = _environment_not_activated(cwd)
    steps = stdout[stdout.index("\nNext steps") :].split("\n\n", 1)[0].splitlines()[2:]
    commands = [line.split("  #")[0].strip() for line in steps]
    commands = [command for command in commands if command]
    for command in commands:
        shell = _bash(f"{command} --help", cwd, environ)
        assert shell.returncode == 0, (command, shell.stderr)
    [tail] = [c for c in commands if " events tail --env dev --db " in c]
    assert str(database) in tail
    shown = _bash(tail, cwd, environ)
    assert shown.returncode == 0, shown.stderr
    [event] = shown.stdout.splitlines()
    assert event.split()[2:4] == ["unstruct", "quickstart"]
    activate = [line for line in steps if line.startswith("  # or run `")]
    if sys.prefix != sys.base_prefix:  # a virtual environment, not activated: say how
        assert len(activate) == 1, steps
    for line in activate:
        script = line.split("`")[1]
        shell = _bash(f"{script} && datacoral --version", cwd, environ)
        assert shell.returncode == 0, (script, shell.stderr)


def test_commands_are_printed_as_they_can_be_typed_from_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scripts = Path(sys.executable).parent
    if not (scripts / "datacoral").is_file():
        pytest.skip("the datacoral script is not beside this interpreter")
    monkeypatch.setenv("PATH", str(scripts))
    assert datacoral_command() == "datacoral"
    assert activation_hint("datacoral") is None

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(scripts.parent.parent)  # where `python -m venv .venv` was typed
    expected = str(Path(scripts.parent.name, scripts.name, "datacoral"))
    assert datacoral_command() == expected
    if sys.prefix != sys.base_prefix:
        activate = str(Path(scripts.parent.name, scripts.name, "activate"))
        assert activation_hint(expected) == f"source {activate}"
    monkeypatch.chdir(tmp_path)
    assert datacoral_command() == str(scripts / "datacoral")
