/** Which protocol an endpoint speaks, and the URLs of its operations. */

import { FaceSwapError } from "./errors.js";

/**
 * `direct`: this service's own routes (POST /swap, POST /faces).
 * `runsync`: RunPod's envelope (POST /runsync with `{"input": ...}`, then GET /status/<id> while queued),
 * spoken by RunPod's cloud and by this service's /runsync alike.
 */
export type Mode = "direct" | "runsync";

/** A resolved endpoint: its protocol and its base URL, without a trailing /runsync. */
export interface Route {
  readonly mode: Mode;
  readonly base: string;
}

const RUNPOD_CLOUD_HOSTS: ReadonlySet<string> = new Set(["api.runpod.ai"]);
const RUNSYNC = "/runsync";

function parse(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (cause) {
    throw new FaceSwapError(
      "INVALID_INPUT",
      "The endpoint is not a valid URL; give the service's base URL or https://api.runpod.ai/v2/<id>.",
      { cause },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new FaceSwapError("INVALID_INPUT", "The endpoint must be an http or https URL.");
  }
  return url;
}

/**
 * Resolve `endpoint` and an optional explicit `mode`.
 * Without a mode: an endpoint ending in /runsync, or on RunPod's cloud host, is `runsync`;
 * any other is `direct`.
 */
export function resolveEndpoint(endpoint: string, mode?: Mode): Route {
  const url = parse(endpoint);
  const path = url.pathname.replace(/\/+$/, "");
  const endsInRunsync = path.endsWith(RUNSYNC);
  if (mode === "direct" && endsInRunsync) {
    throw new FaceSwapError(
      "INVALID_INPUT",
      'The endpoint ends in /runsync but mode is "direct"; drop /runsync or the mode.',
    );
  }
  url.pathname = endsInRunsync ? path.slice(0, -RUNSYNC.length) : path;
  const implied: Mode = endsInRunsync || RUNPOD_CLOUD_HOSTS.has(url.hostname) ? "runsync" : "direct";
  return { mode: mode ?? implied, base: url.toString() };
}

/** The URL of `path` (starting with "/") under the route's base, keeping any query string. */
export function urlFor(route: Route, path: string): string {
  const url = new URL(route.base);
  url.pathname = url.pathname.replace(/\/+$/, "") + path;
  return url.toString();
}
