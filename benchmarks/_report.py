"""Printing what the benchmarks measured: the machine, aligned tables, verdicts."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Sequence


def machine_summary() -> str:
    """Date, cores, memory and Python version, for the head of every report."""
    memory = "?"
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    cpu = _cpu_model()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now} | {os.cpu_count()} cores{f' ({cpu})' if cpu else ''} | {memory} RAM | "
        f"Python {platform.python_version()} | {platform.system()} {platform.release()}"
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table whose columns line up in a terminal too."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def number(value: float | None, digits: int = 1) -> str:
    """A figure with thousands separators, or an em dash when absent."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"
