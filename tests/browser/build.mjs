// Bundles the Snowplow browser tracker (npm @snowplow/browser-tracker, pinned in
// package.json) into one ES module that the test pages import from the local
// static server: pages cannot reach a CDN here.
//
//   node build.mjs      -> build/browser-tracker.esm.js
//
// The module re-exports the package's whole API (newTracker, trackPageView,
// flushBuffer, ...), so `import { newTracker } from "<url>"` works as it does
// against the package in a bundler project.
import { rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outfile = join(here, "build", "browser-tracker.esm.js");
const partial = `${outfile}.partial`;

await esbuild.build({
  stdin: {
    contents: 'export * from "@snowplow/browser-tracker";\n',
    resolveDir: here,
    sourcefile: "browser-tracker-entry.js",
    loader: "js",
  },
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  outfile: partial,
  logLevel: "warning",
});
// Renamed only when complete: a stale or half-written bundle never looks fresh.
await rename(partial, outfile);
console.log(`built ${outfile} with esbuild ${esbuild.version}`);
