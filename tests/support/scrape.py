"""Scraping a server's metrics port in tests: the URL it printed, samples by name and labels,
and waiting (with a deadline) for a scrape that shows what a test expects."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import RunningServer

METRICS_LINE = re.compile(r"^datacoral serve: metrics on (http://(\S+?):\d+/metrics)$", re.M)

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_url(server: RunningServer) -> str:
    found = METRICS_LINE.search(server.log())
    assert found, f"no metrics line:\n{server.log()}"
    return found.group(1)


def scrape(url: str) -> Series:
    """Every sample of one scrape, by name and labels."""
    text = requests.get(url, timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return series.get((name, frozenset(labels.items())), 0.0)


def wait_for_scrape(
    url: str, check: Callable[[Series], bool], server: RunningServer, what: str
) -> Series:
    """Scrape until ``check`` holds (at most 15 s); the scrape that passed."""
    last: list[Series] = [{}]

    def passed() -> Series | None:
        last[0] = scrape(url)
        return last[0] if check(last[0]) else None

    try:
        found: Series = _wait_until(passed, 15, what, server)
    except AssertionError as exc:
        shown = {k: v for k, v in last[0].items() if k[0].startswith("datacoral_")}
        raise AssertionError(f"{exc}\nlast scrape: {shown}") from None
    return found


def _wait_until(
    condition: Callable[[], Series | None], timeout: float, what: str, server: RunningServer
) -> Series:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s\n{server.log()}")
        time.sleep(0.05)  # between two scrapes, not a synchronisation
