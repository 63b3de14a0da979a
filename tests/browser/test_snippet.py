"""``datacoral snippet`` output works as printed (issue 5, Acceptance).

The tag form is pasted into a page unchanged; it loads the browser tracker v4 as
an ES module from ``--tracker-url``, here the local bundle of the pinned
``@snowplow/browser-tracker`` on the pages' origin (the tests cannot reach a
CDN). The bundler form is bundled, unchanged, by esbuild against the same
package, as a project with a bundler would.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.browser.support import (
    HEAD,
    HERE,
    Browser,
    BrowserRun,
    Collector,
    StartCollector,
    StaticSite,
)

SCRIPT_TAG = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL | re.IGNORECASE)
ESBUILD = HERE / "node_modules" / ".bin" / "esbuild"


def snippet(endpoint: Collector, site: StaticSite, *, form: str, key_in: str) -> str:
    """What ``datacoral snippet`` prints for the dev key of ``endpoint``."""
    command = [
        *(sys.executable, "-m", "datacoral", "snippet", "--db", str(endpoint.db)),
        *("--env", "dev", "--key", endpoint.keys["dev"], "--endpoint", endpoint.url),
        *("--tracker-url", f"{site.origin()}/build/browser-tracker.esm.js"),
        *("--form", form, "--key-in", key_in),
    ]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert printed.returncode == 0, f"datacoral snippet failed:\n{printed.stdout}{printed.stderr}"
    return printed.stdout


def assert_one_page_view(endpoint: Collector, run: BrowserRun, page: str, printed: str) -> None:
    context = f"{run.describe()}\nsnippet:\n{printed}"
    assert not run.report["pageErrors"], context
    stored = endpoint.events("dev")
    assert [(e.event, e.page_url) for e in stored] == [("page_view", page)], context
    elsewhere = [c for env, c in endpoint.counts().items() if env != "dev" and (c.good or c.bad)]
    assert not elsewhere, elsewhere


@pytest.mark.parametrize("key_in", ("header", "path"))
def test_the_printed_tag_pasted_into_a_page_tracks_a_page_view(
    key_in: str, browser: Browser, site: StaticSite, start_collector: StartCollector
) -> None:
    endpoint = start_collector(origins={"dev": [site.origin()]})
    printed = snippet(endpoint, site, form="html", key_in=key_in)
    assert len(SCRIPT_TAG.findall(printed)) == 1, printed
    assert '<script type="module">' in printed, printed
    page = site.page(
        f"<!doctype html>\n<html><head>{HEAD}<title>snippet test</title>\n"
        f"{printed}</head><body><p>snippet test</p></body></html>\n"
    )
    run = browser.run_loads([{"url": page, "wait": {"requests": 1}}], watch=[endpoint.url])

    assert_one_page_view(endpoint, run, page, printed)


def test_the_printed_bundler_code_bundled_with_esbuild_tracks_a_page_view(
    browser: Browser, site: StaticSite, start_collector: StartCollector
) -> None:
    endpoint = start_collector(origins={"dev": [site.origin()]})
    printed = snippet(endpoint, site, form="bundler", key_in="header")
    assert "@snowplow/browser-tracker" in printed, printed
    bundle = site.root / "snippet-bundle.js"
    built = subprocess.run(
        [str(ESBUILD), "--bundle", "--format=esm", "--log-level=warning", f"--outfile={bundle}"],
        input=printed,
        cwd=HERE,  # resolves the import from tests/browser/node_modules
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, f"esbuild failed:\n{built.stderr}\nsnippet:\n{printed}"
    page = site.page(
        f"<!doctype html>\n<html><head>{HEAD}<title>bundled snippet test</title>\n"
        "<script type='module' src='/snippet-bundle.js'></script>\n"
        "</head><body><p>bundled snippet test</p></body></html>\n"
    )
    run = browser.run_loads([{"url": page, "wait": {"requests": 1}}], watch=[endpoint.url])

    assert_one_page_view(endpoint, run, page, printed)
