// The part of every generated test page that drives the tracker (served as /harness.js).
//
// A page calls run({collector, tracker, events}):
//   collector  the collector URL given to newTracker (e.g. "http://127.0.0.1:B/k/KEY")
//   tracker    extra newTracker options (eventMethod, customHeaders, anonymousTracking, ...)
//   events     what to track, in order: "page_view" or "self_describing"
//
// Events are tracked one at a time: after each, the page waits (with a deadline)
// for the emitter's next onRequestSuccess / onRequestFailure callback, so the
// requests the collector sees follow a known order (one flush per event; a
// failed batch is only resent by the next flush). At the end the page sets
// window.__result = {tracked, outcomes, timeouts} and window.__done = true.
import {
  addPlugin,
  newTracker,
  trackPageView,
  trackSelfDescribingEvent,
} from "/build/browser-tracker.esm.js";

const OUTCOME_TIMEOUT_MS = 8000;
export const TEST_SCHEMA = "iglu:com.datacoral.test/browser_check/jsonschema/1-0-0";

export async function run(config) {
  const tracked = [];
  const outcomes = [];
  let wake = () => {};
  const record = (outcome) => {
    outcomes.push(outcome);
    wake();
  };
  const nextOutcome = (seen) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), OUTCOME_TIMEOUT_MS);
      wake = () => {
        if (outcomes.length > seen) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      wake();
    });

  newTracker("sp", config.collector, {
    appId: "browser-test",
    ...(config.tracker ?? {}),
    onRequestSuccess: (batch, response) =>
      record({ ok: true, eids: batch.map((e) => e.eid), status: response.status }),
    onRequestFailure: (failure) =>
      record({
        ok: false,
        eids: failure.events.map((e) => e.eid),
        status: failure.status ?? null,
        message: failure.message ?? null,
        willRetry: failure.willRetry,
      }),
  });
  // afterTrack sees each event's payload, so the page knows every event id it made.
  addPlugin({ plugin: { afterTrack: (payload) => tracked.push({ e: payload.e, eid: payload.eid }) } });

  let timeouts = 0;
  for (const [index, name] of (config.events ?? []).entries()) {
    const seen = outcomes.length;
    if (name === "page_view") {
      trackPageView({ title: `browser test ${index}` });
    } else if (name === "self_describing") {
      trackSelfDescribingEvent({ event: { schema: TEST_SCHEMA, data: { index } } });
    } else {
      throw new Error(`unknown event ${name}`);
    }
    if (!(await nextOutcome(seen))) timeouts += 1;
  }
  window.__result = { tracked, outcomes, timeouts };
  window.__done = true;
}
