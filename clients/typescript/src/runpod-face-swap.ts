/**
 * A drop-in for the web app's `runPodFaceSwap(targetImageUrl, sourceImageUrl, targetFaceIndex)`: the same
 * request, the same `data:image/png;base64,...` result and the same error messages, plus what RunPod's cloud
 * needs that the original lacks: a job still IN_QUEUE or IN_PROGRESS when /runsync's wait ends is polled at
 * /status/<id> until the deadline (then cancelled), and a load-balancing endpoint's HTTP 400 "no worker
 * available" is retried until the deadline instead of failing at once.
 */

import { swapFaces } from "./client.js";
import { FaceSwapError } from "./errors.js";

/** Optional settings; each defaults to what the original function used. */
export interface RunPodFaceSwapOptions {
  /** Default: process.env.RUNPOD_ENDPOINT (RunPod's `.../runsync` URL or this service's `/runsync`). */
  readonly endpoint?: string | undefined;
  /** Default: process.env.RUNPOD_API_KEY. */
  readonly apiKey?: string | undefined;
  /** The whole call, polling and retries included; default 120000, the original's abort. */
  readonly timeoutMs?: number | undefined;
  /** Pause between status polls and between retries of a refused request; default 1000. */
  readonly pollIntervalMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

const DEFAULT_ENDPOINT = "https://api.runpod.ai/v2/YOUR_ENDPOINT_ID/runsync";
const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
const OUT_OF_MEMORY_TEXT = /memory|OOM/;

/** A variable of the server's environment (Node's process.env), read without Node's type definitions. */
function environment(name: string): string | undefined {
  const holder = globalThis as { process?: { env?: Record<string, string | undefined> } };
  const value = holder.process?.env?.[name];
  return value === "" ? undefined : value;
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** RunPod refusing the request for want of a worker: HTTP 400 on a load-balancing endpoint, with no result. */
function noWorker(error: unknown): boolean {
  return error instanceof FaceSwapError && error.code === "HTTP_400";
}

/** The original function's error for `error`, so callers that match on its messages keep working. */
function originalError(error: unknown, refused: boolean): Error {
  if (!(error instanceof FaceSwapError)) {
    return error instanceof Error ? error : new Error(String(error));
  }
  const cause = { cause: error };
  if ((error.code === "TIMEOUT" && error.status === undefined) || error.code === "ABORTED") {
    // Out of time while RunPod's last answer was a refusal for want of a worker: that is the news.
    return new Error(refused ? "RunPod service temporarily unavailable" : "RunPod request timeout", cause);
  }
  // Before the 503s: /runsync sends OUT_OF_MEMORY with HTTP 200, while /swap's status for it is 503.
  if (error.code === "OUT_OF_MEMORY") {
    return new Error("RunPod worker out of memory - try smaller images", cause);
  }
  if (error.status === 503 || noWorker(error)) {
    return new Error("RunPod service temporarily unavailable", cause);
  }
  if (error.status === 413) {
    return new Error("Images too large for processing", cause);
  }
  if (error.code === "BAD_RESPONSE" && error.status === undefined) {
    return new Error("RunPod API did not return an image", cause);
  }
  if (error.code.startsWith("HTTP_") || error.code === "NETWORK") {
    const detail = typeof error.cause === "string" ? error.cause : error.message;
    return new Error(`RunPod API error: ${error.status ?? "no answer"} - ${detail}`, cause);
  }
  if (OUT_OF_MEMORY_TEXT.test(error.message)) {
    return new Error("RunPod worker out of memory - try smaller images", cause);
  }
  return new Error(`RunPod face swap failed: ${error.message}`, cause);
}

/**
 * Swap the face of `sourceImageUrl` (its first face) into face `targetFaceIndex` of `targetImageUrl`;
 * resolves to `data:image/png;base64,...`. Rejects with the original function's messages:
 * "RUNPOD_API_KEY not configured", "RunPod service temporarily unavailable", "Images too large for
 * processing", "RunPod worker out of memory - try smaller images", "RunPod face swap failed: <message>",
 * "RunPod API did not return an image", "RunPod API error: <status> - <text>", "RunPod request timeout".
 */
export async function runPodFaceSwap(
  targetImageUrl: string,
  sourceImageUrl: string,
  targetFaceIndex: number,
  options: RunPodFaceSwapOptions = {},
): Promise<string> {
  const apiKey = options.apiKey ?? environment("RUNPOD_API_KEY");
  if (!apiKey) {
    throw new Error("RUNPOD_API_KEY not configured");
  }
  const endpoint = options.endpoint ?? environment("RUNPOD_ENDPOINT") ?? DEFAULT_ENDPOINT;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  let refused = false;
  for (;;) {
    try {
      const result = await swapFaces({
        endpoint,
        apiKey,
        mode: "runsync",
        source: { url: sourceImageUrl },
        target: { url: targetImageUrl },
        sourceIndex: 1,
        targetIndex: targetFaceIndex,
        timeoutMs: Math.max(0, deadline - Date.now()),
        pollIntervalMs,
        signal: options.signal,
      });
      return `data:image/png;base64,${result.imageBase64}`;
    } catch (error) {
      if (!noWorker(error) || Date.now() + pollIntervalMs >= deadline || options.signal?.aborted) {
        throw originalError(error, refused);
      }
      refused = true;
      await wait(pollIntervalMs, options.signal);
    }
  }
}
