// Opens test pages in Debian's Chromium and reports what happened, as JSON.
//
//   node driver.mjs < scenarios.jsonl > results.jsonl
//
// Reads one scenario per line and answers each with one result line, until
// stdin closes. A scenario:
//   {
//     "loads": [{"url": "http://127.0.0.1:A/page.html", "wait": "done"}, ...],
//     "watch": ["http://127.0.0.1:B"],   // URL prefixes whose traffic is recorded
//     "timeoutMs": 20000                 // per load
//   }
// Each scenario gets a fresh profile (user-data dir) and one browser context;
// its loads happen in turn in the same page, so cookies and localStorage carry
// over from one load to the next. A load's "wait" is either "done" (the page
// sets window.__done = true and leaves its report in window.__result) or
// {"requests": N} (N more watched requests, preflights not counted, have
// finished). In both cases the driver then waits until no watched request is
// in flight.
//
// A result: {ok, loads: [{url, result, error, elapsedMs}], requests: [...],
// console: [...], pageErrors: [...], cookies: [...], browser, timings, error?}.
// ok is true when every load reached its wait condition. Requests come from
// the DevTools protocol, so CORS preflights are included (Chromium reports one
// as a request of its own: method OPTIONS), each with its request headers as
// sent, status, response headers as received (Set-Cookie included), blocked
// cookies, and the failure reason (CORS errors included).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
// As the machine's notes prescribe: without the background-networking flags,
// Chromium keeps trying to reach Google's hosts through a closed network.
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const POLL_MS = 20;

function lowerKeys(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/** Records the watched part of one page's network traffic through CDP. */
class Traffic {
  constructor(prefixes) {
    this.prefixes = prefixes;
    this.byId = new Map();
    this.list = [];
  }

  watched(url) {
    return this.prefixes.some((prefix) => url.startsWith(prefix));
  }

  entry(requestId) {
    return this.byId.get(requestId);
  }

  async attach(session) {
    session.on("Network.requestWillBeSent", (e) => {
      if (!this.watched(e.request.url)) return;
      const previous = this.byId.get(e.requestId);
      if (previous && e.redirectResponse) previous.open = false;
      const item = {
        url: e.request.url,
        method: e.request.method,
        type: e.type ?? null,
        headers: lowerKeys(e.request.headers),
        sentHeaders: null,
        status: null,
        responseHeaders: null,
        rawResponseHeaders: null,
        blockedCookies: [],
        failed: null,
        corsError: null,
        open: true,
      };
      this.byId.set(e.requestId, item);
      this.list.push(item);
    });
    session.on("Network.requestWillBeSentExtraInfo", (e) => {
      const item = this.entry(e.requestId);
      if (item) item.sentHeaders = lowerKeys(e.headers);
    });
    session.on("Network.responseReceived", (e) => {
      const item = this.entry(e.requestId);
      if (!item) return;
      item.status = e.response.status;
      item.responseHeaders = lowerKeys(e.response.headers);
    });
    session.on("Network.responseReceivedExtraInfo", (e) => {
      const item = this.entry(e.requestId);
      if (!item) return;
      item.status ??= e.statusCode;
      item.rawResponseHeaders = lowerKeys(e.headers);
      item.blockedCookies = (e.blockedCookies ?? []).map((c) => ({
        reasons: c.blockedReasons,
        cookieLine: c.cookieLine,
      }));
    });
    session.on("Network.loadingFinished", (e) => {
      const item = this.entry(e.requestId);
      if (item) item.open = false;
    });
    session.on("Network.loadingFailed", (e) => {
      const item = this.entry(e.requestId);
      if (!item) return;
      item.open = false;
      item.failed = e.errorText || "failed";
      item.corsError = e.corsErrorStatus?.corsError ?? null;
    });
    await session.send("Network.enable");
  }

  inFlight() {
    return this.list.filter((item) => item.open).length;
  }

  finished() {
    return this.list.filter((item) => !item.open && item.method !== "OPTIONS").length;
  }
}

async function until(condition, deadline, what) {
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Runs one scenario in a fresh browser context; never throws. */
async function runScenario(scenario) {
  const traffic = new Traffic(scenario.watch ?? []);
  const output = {
    ok: false,
    loads: [],
    requests: traffic.list,
    console: [],
    pageErrors: [],
    cookies: [],
    timings: {},
  };
  if (!Array.isArray(scenario.loads) || scenario.loads.length === 0) {
    output.error = "bad scenario: no loads";
    return output;
  }
  const timeoutMs = scenario.timeoutMs ?? 20000;
  const started = Date.now();
  const profile = await mkdtemp(join(tmpdir(), "datacoral-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
    });
    output.timings.launchMs = Date.now() - started;
    output.browser = context.browser()?.version() ?? null;
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (message) =>
      output.console.push({ type: message.type(), text: message.text(), page: page.url() }),
    );
    page.on("pageerror", (error) => output.pageErrors.push(String(error)));
    await traffic.attach(await context.newCDPSession(page));

    output.ok = true;
    for (const load of scenario.loads) {
      const report = { url: load.url, result: null, error: null, elapsedMs: null };
      output.loads.push(report);
      const loadStarted = Date.now();
      const deadline = loadStarted + timeoutMs;
      try {
        await page.goto(load.url, { waitUntil: "load", timeout: timeoutMs });
        if (load.wait === "done") {
          await page.waitForFunction(() => window.__done === true, null, {
            timeout: Math.max(1, deadline - Date.now()),
            polling: POLL_MS,
          });
          report.result = await page.evaluate(() => window.__result ?? null);
        } else if (load.wait && typeof load.wait.requests === "number") {
          const wanted = load.wait.requests + traffic.finished();
          await until(() => traffic.finished() >= wanted, deadline, `${load.wait.requests} requests`);
        }
        await until(() => traffic.inFlight() === 0, deadline, "watched requests to finish");
        report.elapsedMs = Date.now() - loadStarted;
      } catch (error) {
        output.ok = false;
        report.error = String(error.message ?? error);
        report.result = await page.evaluate(() => window.__result ?? null).catch(() => null);
        break;
      }
    }
    output.cookies = await context.cookies();
  } catch (error) {
    output.ok = false;
    output.error = String(error.message ?? error);
  } finally {
    const closing = Date.now();
    if (context) await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true }).catch(() => {});
    output.timings.closeMs = Date.now() - closing;
    output.timings.totalMs = Date.now() - started;
  }
  return output;
}

// One scenario per input line, one result per output line, until stdin closes:
// the Python tests keep one driver for the whole session (loading playwright-core
// costs more than a browser start).
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let output;
  try {
    output = await runScenario(JSON.parse(line));
  } catch (error) {
    output = { ok: false, error: `bad scenario: ${error.message ?? error}` };
  }
  process.stdout.write(`${JSON.stringify(output)}\n`);
}
