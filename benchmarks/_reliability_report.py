"""The reliability run's report: what each phase saw, the accounting, the checks, PASS/FAIL."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from _reliability_client import Results
from _reliability_ledger import Line, Stored, compare
from _reliability_phases import KINDS, SLACK, SlowReport
from _report import number, table

PHASES = {"A": "A: mutation fuzz", "B": "B: slow clients, idle", "C": "C: overload"}
#: The one 5xx the endpoint may give here: a new connection past max_connections.
DOCUMENTED_5XX = "503 503 too many connections; retry later"
PROBE_TARGET_MS = 100.0  # the median normal request while slow clients hold connections


@dataclass
class Run:
    """What the phases measured."""

    results: Results
    limits: dict[str, float]  # the timeout that ends each kind of phase B connection
    seconds: dict[str, float] = field(default_factory=dict)
    slow: SlowReport = field(default_factory=SlowReport)
    recovery: list[float] = field(default_factory=list)  # seconds, after each overload round
    rss: dict[str, int] = field(default_factory=dict)  # KiB
    samples: list[int] = field(default_factory=list)  # KiB, every 100 ms from the start
    samples_in_a: int = 0  # how many of them phase A took
    alive: int = 0  # status of GET /health at the end
    exit_code: int | None = None


@dataclass(frozen=True)
class Check:
    name: str
    measured: str
    target: str
    ok: bool


def statuses(counts: Counter[int]) -> str:
    named = {0: "none", -1: "no connection", -2: "not HTTP"}
    return ", ".join(f"{named.get(s, s)}: {n:,}" for s, n in sorted(counts.items()))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def print_answers(run: Run) -> None:
    """Answers by status: per phase, then per case."""
    rows = []
    for phase, name in PHASES.items():
        counts = run.results.statuses.get(phase, Counter())
        total, seconds = sum(counts.values()), run.seconds.get(phase, 0.0)
        rate = number(total / seconds, 0) if seconds else "—"
        rows.append([name, number(total, 0), number(seconds, 1), rate, statuses(counts)])
    print()
    print(table(["phase", "requests", "seconds", "requests/s", "answers by status"], rows))
    groups = ", ".join(f"{n:,} {group}" for group, n in run.results.groups.most_common())
    print(f"phase A's requests: {groups}")
    rows = []
    for case, counts in sorted(run.results.cases.items()):
        wrong = sum(n for (c, _), n in run.results.wrong.items() if c == case)
        rows.append([case, number(sum(counts.values()), 0), statuses(counts), str(wrong)])
    print()
    print(table(["case", "requests", "answers", "not right"], rows))


def slow_connections(run: Run) -> bool:
    """Print phase B's connections; True when each got its answer (408, or a close) in
    time: from its timeout to ``SLACK`` seconds after."""
    rows, all_right = [], True
    for kind in KINDS:
        held = [h for h in run.slow.held if h.kind == kind]
        want, limit = (0 if kind.startswith("idle") else 408), run.limits[kind]
        ended = Counter(
            f"{h.status or 'no answer'}, {'closed' if h.closed else 'open'}" for h in held
        )
        right = bool(held) and all(
            h.status == want and h.closed and limit - 0.1 <= h.seconds <= limit + SLACK
            for h in held
        )
        all_right = all_right and right
        times = [h.seconds for h in held] or [0.0]
        endings = ", ".join(f"{k}: {n}" for k, n in ended.items())
        median, longest = f"{statistics.median(times):.2f}", f"{max(times):.2f}"
        rows.append([kind, str(len(held)), endings, median, longest, f"{limit:g}"])
        rows[-1].append("yes" if right else "NO")
    headers = ["phase B connection", "held", "ended by", "median s", "max s", "timeout s"]
    print()
    print(table([*headers, "right"], rows))
    return all_right


def print_accounting(lines: list[Line]) -> None:
    verdicts = ["PASS" if ln.ok else "FAIL" for ln in lines]
    rows = [
        [ln.environment, ln.category, ln.expected, number(ln.stored, 0), ln.off, verdict]
        for ln, verdict in zip(lines, verdicts, strict=True)
    ]
    headers = ["environment", "in the store", "implied by the answers", "counted", "off by"]
    print()
    print(table([*headers, "verdict"], rows))


def report(run: Run, stored: dict[str | None, Stored], log: str, rss_bound_mib: float) -> int:
    """Print everything; 0 when every check passed, else 1."""
    results = run.results
    print_answers(run)
    slow_ok = slow_connections(run)
    probes = [s * 1000 for s in run.slow.probes]
    median = statistics.median(probes) if probes else float("inf")
    within = sum(ms <= PROBE_TARGET_MS for ms in probes)
    print(
        f"\nnormal GET /i during phase B: {len(probes)} requests, {within} within"
        f" {PROBE_TARGET_MS:g} ms; median {median:.1f} ms, p99 {percentile(probes, 0.99):.1f} ms,"
        f" max {max(probes, default=0):.1f} ms"
    )
    past = results.cases.get("GET /i past max_connections", Counter())
    recovery = ", ".join(f"{s * 1000:.0f}" for s in run.recovery)
    print(
        f"phase C: {past[503]:,} of {sum(past.values()):,} requests past max_connections"
        f" answered 503; a normal request after each round: {recovery} ms"
    )
    mib = {name: kib / 1024 for name, kib in run.rss.items()}
    growth = mib.get("peak", 0) - mib.get("start", 0)
    after = ", ".join(f"after {n} {mib[n]:.1f}" for n in PHASES if n in mib)
    print(
        f"server RSS MiB: start {mib.get('start', 0):.1f}, {after};"
        f" peak {mib.get('peak', 0):.1f} (+{growth:.1f})"
    )
    if run.samples_in_a >= 4:
        at = [run.samples[run.samples_in_a * q // 4 - 1] / 1024 for q in (1, 2, 3, 4)]
        print("  during phase A, at 1/4, 1/2, 3/4, end: " + ", ".join(f"{v:.1f}" for v in at))
    lines = list(compare(results.expected, stored))
    print_accounting(lines)
    log_lines = log.splitlines()
    invalid = sum("Invalid HTTP request received" in line for line in log_lines)
    print(
        f"\nserver log: {len(log_lines):,} lines,"
        f" {invalid:,} of them uvicorn's 'Invalid HTTP request received.'"
    )

    wrong = sum(results.wrong.values())
    others = {k: n for k, n in results.server_errors.items() if k != DOCUMENTED_5XX}
    documented = results.server_errors.get(DOCUMENTED_5XX, 0)
    missing = results.retry_after_missing
    bugs = sum("Traceback" in line or "internal error" in line for line in log_lines)
    off = sum(not ln.ok for ln in lines)
    checks = [
        Check("answers not right for their request", f"{wrong:,}", "0", wrong == 0),
        Check("5xx other than the documented 503", f"{sum(others.values()):,}", "0", not others),
        Check(
            "503 past max_connections, without Retry-After",
            f"{documented:,}, {missing}",
            "> 0, 0",
            documented > 0 and not missing,
        ),
        Check(
            "phase B: median normal request",
            f"{median:.1f} ms",
            f"< {PROBE_TARGET_MS:g} ms",
            median < PROBE_TARGET_MS,
        ),
        Check(
            "phase B: 408 for trickles, idle closed, in time",
            "all" if slow_ok else "not all",
            "all",
            slow_ok,
        ),
        Check(
            "peak server RSS over the start",
            f"+{growth:.1f} MiB",
            f"<= {rss_bound_mib:g} MiB",
            growth <= rss_bound_mib,
        ),
        Check("store against the 200/400/413 answers", f"{off} lines off", "0", off == 0),
        Check("GET /health at the end", str(run.alive), "200", run.alive == 200),
        Check("exit code on SIGTERM", str(run.exit_code), "0", run.exit_code == 0),
        Check("tracebacks or internal errors logged", str(bugs), "0", bugs == 0),
    ]
    rows = [[c.name, c.measured, c.target, "PASS" if c.ok else "FAIL"] for c in checks]
    print()
    print(table(["check", "measured", "target", "verdict"], rows))
    if results.examples:
        print("\nanswers not right for their request (the first 10):")
        for example in results.examples:
            print("  " + example)
    if others:
        print("\n5xx answers: " + ", ".join(f"{k!r}: {n}" for k, n in others.items()))
    failed = [c.name for c in checks if not c.ok]
    print()
    print("reliability: " + ("PASS" if not failed else "FAIL (" + "; ".join(failed) + ")"))
    return 1 if failed else 0
