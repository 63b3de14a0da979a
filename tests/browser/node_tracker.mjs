// Sends a page view and a self-describing event with the Snowplow Node tracker
// (npm @snowplow/node-tracker, pinned in package.json) and reports the outcome.
//
//   node node_tracker.mjs < config.json
//
// Config (stdin): {"endpoint": "http://127.0.0.1:B", "method": "post" | "get",
//                  "headers": {"X-Api-Key": "..."}, "timeoutMs": 10000}
// Result (stdout): {"tracked": [{e, eid}], "outcomes": [{ok, eids, status, ...}]}
// Exit code 0 when every event got an outcome in time, 1 otherwise.
import { buildPageView, buildSelfDescribingEvent, newTracker } from "@snowplow/node-tracker";

const SCHEMA = "iglu:com.datacoral.test/node_check/jsonschema/1-0-0";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const config = await readStdin();
const outcomes = [];
const tracker = newTracker(
  { namespace: "node-test", appId: "node-test" },
  {
    endpoint: config.endpoint,
    eventMethod: config.method ?? "post",
    customHeaders: config.headers ?? {},
    onRequestSuccess: (batch, response) =>
      outcomes.push({ ok: true, eids: batch.map((e) => e.eid), status: response.status }),
    onRequestFailure: (failure) =>
      outcomes.push({
        ok: false,
        eids: failure.events.map((e) => e.eid),
        status: failure.status ?? null,
        message: failure.message ?? null,
        willRetry: failure.willRetry,
      }),
  },
);

const tracked = [];
for (const event of [
  buildPageView({ pageUrl: "https://server.example/node", pageTitle: "node tracker" }),
  buildSelfDescribingEvent({ event: { schema: SCHEMA, data: { from: "node" } } }),
]) {
  const payload = tracker.track(event);
  tracked.push({ e: payload.e, eid: payload.eid });
}
await tracker.flush();

// The emitter calls back on a later tick; wait (with a deadline) until every event has an outcome.
const deadline = Date.now() + (config.timeoutMs ?? 10000);
const covered = () => new Set(outcomes.flatMap((o) => o.eids));
while (tracked.some((t) => !covered().has(t.eid)) && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
const complete = tracked.every((t) => covered().has(t.eid));
process.stdout.write(`${JSON.stringify({ tracked, outcomes })}\n`);
process.exitCode = complete ? 0 : 1;
