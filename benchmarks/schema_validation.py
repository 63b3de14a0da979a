"""Schema validation: what it costs per event, with jsonschema and with fastjsonschema, and
the collector's per-event work with validation off and on, in one run.

Events are realistic: one self-describing event and one context, both against real
Iglu Central schemas (``../shared/iglu-central``, or ``--iglu PATH``):

- web: ``link_click`` 1-0-1 (every field set) with a ``web_page`` 1-0-0 context;
- mobile: the mobile ``screen_view`` 1-0-0 with a ``mobile_context`` 1-0-2 context.

Measured, per event (CPU µs, one thread, median of the rounds; every variant runs in
every round, interleaved, so drift between rounds cancels out in the ratios):

- validate only: the ``jsonschema`` package (``Draft4Validator`` built once per schema
  and kept: a compiled-validator cache), fastjsonschema (compiled once), and
  ``datacoral.schemas.Validator.check_event`` (fastjsonschema plus the URI, resolver and
  compiled-code caches: what the collector would call);
- the collector: ``split_body`` + ``sort_events`` (parse, check, enrich: the per-event
  Python work of a POST) on 50-event bodies, validation off; then on, adding
  ``check_event`` on each good event's entities, either reused from the decoding the
  collector already does or parsed again from the stored JSON; and the same with
  jsonschema instead.

The question of issue 15: does validation halve the endpoint's throughput? The answer
is the collector's events/s with validation on over off (target at least 0.5), and the
validation cost against the ~16 µs of per-event Python work in benchmarks/README.md.

    python benchmarks/schema_validation.py [--events 10000] [--rounds 5] [--smoke] [--strict]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
from _endpoint_payloads import CONTEXTS, PAYLOAD_DATA, UNSTRUCT, _b64
from _report import machine_summary, number, table, verdict

from datacoral.collector.enrich import Arrival
from datacoral.collector.events import sort_events
from datacoral.collector.protocol import split_body
from datacoral.schemas import IgluSettings, LocalFolder, Validator
from datacoral.schemas.compiler import DRAFT_04, FORMATS

try:
    import jsonschema
except ImportError:  # the dev extra brings it; without it only fastjsonschema is measured
    jsonschema = None

ROOT = Path(__file__).resolve().parents[1]
#: The Iglu Central copy: DATACORAL_IGLU_CENTRAL, else shared/ beside the checkout.
IGLU_CENTRAL = Path(
    os.environ.get("DATACORAL_IGLU_CENTRAL")
    or next(
        (
            p
            for p in (ROOT.parent / "shared" / "iglu-central", Path("/work/shared/iglu-central"))
            if p.is_dir()
        ),
        ROOT.parent / "shared" / "iglu-central",
    )
)
ARRIVAL = Arrival("dev", 1_764_150_000_000, "127.0.0.1", "Mozilla/5.0 (benchmark)")
BATCH = 50
#: benchmarks/README.md, "Endpoint stages": the per-event Python work of a POST.
README_PER_EVENT_US = 16.0
TARGET = 0.5
SP = "iglu:com.snowplowanalytics.snowplow"
UUID = "0b6ff2d8-1f3b-4a5c-9d8e-{:012x}"


def web(i: int) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    unstruct = {
        "targetUrl": f"https://shop.example.com/p/{i % 97}?ref=nav",
        "elementId": f"link-{i % 13}",
        "elementClasses": ["nav", "nav-item", "café"],
        "elementTarget": "_blank",
        "elementContent": "Voir le produit ☕",
    }
    return (
        f"{SP}/link_click/jsonschema/1-0-1",
        unstruct,
        f"{SP}/web_page/jsonschema/1-0-0",
        {"id": UUID.format(i)},
    )


def mobile(i: int) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    screen = {
        "name": f"product-{i % 97}",
        "type": "detail",
        "id": UUID.format(i),
        "previousName": "home",
        "previousId": UUID.format(i + 1),
        "transitionType": "push",
    }
    context = {
        "osType": "ios",
        "osVersion": "17.4",
        "deviceManufacturer": "Apple",
        "deviceModel": "iPhone15,2",
        "carrier": None,
        "networkType": "wifi",
        "networkTechnology": None,
        "appleIdfv": UUID.format(i % 1000),
        "physicalMemory": 6_000_000_000,
        "appAvailableMemory": 1_500_000_000,
        "batteryLevel": i % 101,
        "batteryState": "unplugged",
        "lowPowerMode": False,
        "availableStorage": 40_000_000_000,
        "totalStorage": 128_000_000_000,
    }
    return (
        "iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0",
        screen,
        (f"{SP}/mobile_context/jsonschema/1-0-2"),
        context,
    )


WORKLOADS: dict[str, Callable[[int], tuple[str, dict[str, Any], str, dict[str, Any]]]] = {
    "web: link_click + web_page": web,
    "mobile: screen_view + mobile_context": mobile,
}


def tracker_event(i: int, make: Callable[[int], Any]) -> dict[str, str]:
    """Event ``i`` as the JavaScript tracker sends it: base64 ``ue_px`` and ``cx``."""
    ue_uri, ue_data, cx_uri, cx_data = make(i)
    return {
        "e": "ue",
        "eid": str(uuid.uuid4()),
        "tv": "js-3.24.2",
        "tna": "sp1",
        "aid": "shop-web",
        "p": "web",
        "dtm": str(1_764_150_000_000 + i),
        "stm": str(1_764_150_000_500 + i),
        "res": "1920x1080",
        "url": f"https://shop.example.com/p/{i % 5}",
        "ue_px": _b64({"schema": UNSTRUCT, "data": {"schema": ue_uri, "data": ue_data}}),
        "cx": _b64({"schema": CONTEXTS, "data": [{"schema": cx_uri, "data": cx_data}]}),
    }


def cpu_us(work: Callable[[], object], events: int) -> float:
    """µs of process CPU per event of one run of ``work``."""
    start = time.process_time()
    work()
    return (time.process_time() - start) / events * 1e6


def load_schema(folder: Path, uri: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (folder / "schemas" / uri.removeprefix("iglu:")).read_text()
    )
    return schema


class Workload:
    """One workload's events, prepared for every variant (outside the timings)."""

    def __init__(self, make: Callable[[int], Any], events: int, folder: Path) -> None:
        self.events = events
        rows = [make(i) for i in range(events)]
        self.entities = [
            ({"schema": u, "data": d}, [{"schema": cu, "data": cd}]) for u, d, cu, cd in rows
        ]
        uris = {rows[0][0], rows[0][2]}
        schemas = {uri: load_schema(folder, uri) for uri in uris}
        forced = {uri: {**s, "$schema": DRAFT_04} for uri, s in schemas.items()}
        self.fast = {
            uri: fastjsonschema.compile(s, formats=FORMATS, use_default=False)
            for uri, s in forced.items()
        }
        self.drafts = (
            {uri: jsonschema.Draft4Validator(s) for uri, s in schemas.items()} if jsonschema else {}
        )
        self.validator = Validator(
            IgluSettings(sources=(LocalFolder(folder),)).build_resolver(), max_message_chars=1024
        )
        for uri in uris:
            self.validator.prepare(uri)
        self.bodies = [
            orjson.dumps(
                {
                    "schema": PAYLOAD_DATA,
                    "data": [tracker_event(i, make) for i in range(s, min(s + BATCH, events))],
                }
            )
            for s in range(0, events, BATCH)
        ]
        self.check_correctness()

    def check_correctness(self) -> None:
        """Every event validates in every variant, and a broken one fails: the benchmark
        measures the real path."""
        for unstruct, contexts in self.entities[:200]:
            verdict = self.validator.check_event(unstruct, contexts, cached_only=True)
            if not verdict.valid:
                raise SystemExit(f"benchmark event does not validate: {verdict}")
            for entity in (unstruct, *contexts):
                self.fast[entity["schema"]](entity["data"])
                if self.drafts and not self.drafts[entity["schema"]].is_valid(entity["data"]):
                    raise SystemExit(f"jsonschema refuses a benchmark event: {entity}")
        broken = {"schema": self.entities[0][0]["schema"], "data": {"nope": 1}}
        if self.validator.check_event(broken, None).valid:
            raise SystemExit("a broken event validated")
        good, bad = sort_events([dict(e) for e in split_body(self.bodies[0])], ARRIVAL, {})
        if bad or len(good) != min(BATCH, self.events):
            raise SystemExit(f"the collector refused benchmark events: {bad[:1]}")

    # validate only
    def jsonschema_only(self) -> None:
        drafts = self.drafts
        for unstruct, contexts in self.entities:
            drafts[unstruct["schema"]].is_valid(unstruct["data"])
            for context in contexts:
                drafts[context["schema"]].is_valid(context["data"])

    def fastjsonschema_only(self) -> None:
        fast = self.fast
        for unstruct, contexts in self.entities:
            fast[unstruct["schema"]](unstruct["data"])
            for context in contexts:
                fast[context["schema"]](context["data"])

    def ours_only(self) -> None:
        check = self.validator.check_event
        for unstruct, contexts in self.entities:
            check(unstruct, contexts, cached_only=True)

    # the collector
    def collector_off(self) -> None:
        for body in self.bodies:
            sort_events(split_body(body), ARRIVAL, {})

    def collector_on(self) -> None:
        check = self.validator.check_event
        entities = iter(self.entities)  # what the collector has already decoded
        for body in self.bodies:
            good, _ = sort_events(split_body(body), ARRIVAL, {})
            for _event in good:
                unstruct, contexts = next(entities)
                check(unstruct, contexts, cached_only=True)

    def collector_on_reparsed(self) -> None:
        check = self.validator.check_event
        loads = orjson.loads
        for body in self.bodies:
            good, _ = sort_events(split_body(body), ARRIVAL, {})
            for event in good:
                check(loads(event.unstruct_event), loads(event.contexts), cached_only=True)

    def collector_on_jsonschema(self) -> None:
        drafts = self.drafts
        entities = iter(self.entities)
        for body in self.bodies:
            good, _ = sort_events(split_body(body), ARRIVAL, {})
            for _event in good:
                unstruct, contexts = next(entities)
                drafts[unstruct["schema"]].is_valid(unstruct["data"])
                for context in contexts:
                    drafts[context["schema"]].is_valid(context["data"])


VARIANTS = [
    "jsonschema_only",
    "fastjsonschema_only",
    "ours_only",
    "collector_off",
    "collector_on",
    "collector_on_reparsed",
    "collector_on_jsonschema",
]


def measure(workload: Workload, rounds: int) -> dict[str, float]:
    """Median µs per event of each variant over ``rounds`` interleaved rounds, and the
    median per-round on/off ratios (keys ``ratio_*``)."""
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name in VARIANTS:
            if "jsonschema" in name and name != "fastjsonschema_only" and not workload.drafts:
                continue
            samples[name].append(cpu_us(getattr(workload, name), workload.events))
    medians = {name: statistics.median(s) for name, s in samples.items() if s}
    for name in ("collector_on", "collector_on_reparsed", "collector_on_jsonschema"):
        if samples[name]:
            pairs = zip(samples["collector_off"], samples[name], strict=True)
            ratios = [off / on for off, on in pairs]
            medians[f"ratio_{name}"] = statistics.median(ratios)
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events per workload")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iglu", type=Path, default=IGLU_CENTRAL, help="Iglu Central copy")
    parser.add_argument("--smoke", action="store_true", help="500 events, 1 round")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a MISS")
    args = parser.parse_args(argv)
    events, rounds = (500, 1) if args.smoke else (args.events, args.rounds)
    if not (args.iglu / "schemas").is_dir():
        print(f"no Iglu Central copy at {args.iglu} (--iglu PATH)", file=sys.stderr)
        return 2
    print(machine_summary())
    versions = f"fastjsonschema {fastjsonschema.VERSION}"
    if jsonschema is not None:
        from importlib.metadata import version

        versions += f", jsonschema {version('jsonschema')}"
    print(f"{events:,} events per workload, {rounds} rounds (median); {versions}")
    results = {
        name: measure(Workload(make, events, args.iglu), rounds) for name, make in WORKLOADS.items()
    }

    print("\nValidate only: CPU µs per event (one self-describing event + one context)\n")
    rows = []
    for name, r in results.items():
        js, fast, ours = r.get("jsonschema_only"), r["fastjsonschema_only"], r["ours_only"]
        rows.append(
            [
                name,
                number(js, 2),
                number(fast, 2),
                number(ours, 2),
                number(js / fast if js else None, 1) + ("x" if js else ""),
                f"{ours / README_PER_EVENT_US:.2f} / {(js or 0) / README_PER_EVENT_US:.2f}",
            ]
        )
    print(
        table(
            [
                "workload",
                "jsonschema (cached Draft4Validator)",
                "fastjsonschema",
                "datacoral Validator",
                "jsonschema ÷ fastjsonschema",
                f"÷ {README_PER_EVENT_US:.0f} µs per-event work: ours / jsonschema",
            ],
            rows,
        )
    )

    print("\nThe collector (split_body + sort_events): CPU µs per event, validation off and on\n")
    rows = []
    passed = True
    for name, r in results.items():
        kept = r["ratio_collector_on_reparsed"]
        passed = passed and kept >= TARGET
        rows.append(
            [
                name,
                number(r["collector_off"], 2),
                number(r["collector_on"], 2),
                number(r["collector_on_reparsed"], 2),
                number(r.get("collector_on_jsonschema"), 2),
                f"{r['ratio_collector_on']:.3f} / {kept:.3f}",
                number(r.get("ratio_collector_on_jsonschema"), 3),
                f"≥ {TARGET}",
                verdict(kept >= TARGET),
            ]
        )
    print(
        table(
            [
                "workload",
                "off",
                "on (entities reused)",
                "on (entities re-parsed)",
                "on, jsonschema",
                "events/s on ÷ off: reused / re-parsed",
                "on ÷ off, jsonschema",
                "target",
                "verdict",
            ],
            rows,
        )
    )
    kept = "validation on keeps at least half the collector's per-event throughput"
    print(f"\n{kept}: {verdict(passed)}")
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
