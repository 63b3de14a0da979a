"""The README's first command works as printed, in a fresh virtual environment."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quickstart = text.split("## Quickstart", 1)[1]
    block = re.search(r"```sh\n(.*?)```", quickstart, re.S)
    assert block, "the Quickstart has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_starts_with_exactly_the_two_commands() -> None:
    first, second = readme_commands()
    assert first.endswith("datacoral quickstart")
    assert second == "./scripts/test"


@pytest.mark.slow
def test_first_readme_command_works_in_a_fresh_copy(tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "node_modules", "*.sqlite*", ".*_cache", "__pycache__", "tests"
        ),
    )
    first = readme_commands()[0]
    result = subprocess.run(
        ["bash", "-c", first], cwd=copy, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = re.findall(r"^(dev|stage|prod)\s+(\d+)\s+(\d+)$", result.stdout, re.M)
    assert table == [("dev", "1", "0"), ("stage", "1", "0"), ("prod", "1", "0")], result.stdout
