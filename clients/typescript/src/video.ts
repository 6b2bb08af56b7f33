/** swapVideo: a clip (or a photo) swapped as a background job on the service's /jobs, with progress. */

import { FaceSwapError } from "./errors.js";
import { isJson, type Json } from "./protocol.js";
import { Deadline, type Reply, sendJson, sleep } from "./transport.js";
import type { ImageInput } from "./types.js";

const DEFAULT_TIMEOUT_MS = 30 * 60_000;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
const CANCEL_TIMEOUT_MS = 5_000;

/** How far the job got. */
export interface VideoProgress {
  readonly framesDone: number;
  readonly framesTotal: number;
  readonly etaSeconds: number | null;
}

/** A finished job's result: base64 inline (small results), a file at resultUrl, or uploaded to outputUrl. */
export interface VideoResult {
  readonly jobId: string;
  /** GET this for the result file while the job is kept (null once uploaded to outputUrl). */
  readonly resultUrl: string | null;
  /** The job succeeded but the upload to outputUrl failed; the file stays at resultUrl. */
  readonly deliveryFailed: boolean;
  readonly deliveryError: string | null;
  /** Times the job was started (a restart or a lost worker starts it again). */
  readonly attempts: number;
  readonly kind: "image" | "video";
  readonly mediaType: string;
  readonly sizeBytes: number;
  readonly base64: string | null;
  readonly uploaded: boolean;
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  readonly swappedFrames: number;
  readonly fps: number | null;
}

export interface SwapVideoOptions {
  /** The service's base URL (direct mode: its /jobs routes). */
  readonly endpoint: string;
  readonly apiKey?: string | undefined;
  readonly source: ImageInput;
  /** The clip: `{url}` or `{base64}` (small clips). */
  readonly target: ImageInput;
  /** A number from 1, or "all". */
  readonly targetIndex?: number | "all";
  readonly sourceIndex?: number;
  /** A presigned URL the result is PUT to; without it the result comes back as base64 or at resultUrl. */
  readonly outputUrl?: string;
  /** Receives the job's final status by POST when it ends. */
  readonly webhookUrl?: string;
  readonly onProgress?: (progress: VideoProgress) => void;
  readonly timeoutMs?: number;
  readonly pollIntervalMs?: number;
  /** Aborting cancels the job on the service (DELETE /jobs/{id}). */
  readonly signal?: AbortSignal;
}

function sourceFields(image: ImageInput, prefix: string, base64Field: string): Json {
  const { url, base64 } = (isJson(image) ? image : {}) as { url?: unknown; base64?: unknown };
  if ((typeof url === "string") === (typeof base64 === "string")) {
    throw new FaceSwapError("INVALID_INPUT", `Give the ${prefix} once, as url or as base64.`);
  }
  return typeof url === "string" ? { [`${prefix}_url`]: url } : { [base64Field]: base64 };
}

function failure(reply: Reply): FaceSwapError {
  const body = isJson(reply.body) ? reply.body : {};
  const code = typeof body["error_code"] === "string" ? body["error_code"] : `HTTP_${reply.status}`;
  const message =
    typeof body["message"] === "string" ? body["message"] : `The service answered HTTP ${reply.status}.`;
  return new FaceSwapError(code, message, { status: reply.status });
}

function progressOf(job: Json): VideoProgress {
  const progress = isJson(job["progress"]) ? job["progress"] : {};
  return {
    framesDone: Number(progress["frames_done"] ?? 0),
    framesTotal: Number(progress["frames_total"] ?? 0),
    etaSeconds: typeof progress["eta_seconds"] === "number" ? progress["eta_seconds"] : null,
  };
}

function resultOf(base: string, jobId: string, job: Json, result: Json): VideoResult {
  return {
    jobId,
    resultUrl: typeof result["url"] === "string" ? `${base}${result["url"]}` : null,
    deliveryFailed: job["delivery_failed"] === true,
    deliveryError: typeof job["delivery_error"] === "string" ? job["delivery_error"] : null,
    attempts: Number(job["attempts"] ?? 1),
    kind: result["kind"] === "video" ? "video" : "image",
    mediaType: String(result["media_type"]),
    sizeBytes: Number(result["size_bytes"]),
    base64: typeof result["base64"] === "string" ? result["base64"] : null,
    uploaded: result["uploaded"] === true,
    width: Number(result["width"]),
    height: Number(result["height"]),
    frames: Number(result["frames"] ?? 1),
    swappedFrames: Number(result["swapped_frames"] ?? 1),
    fps: typeof result["fps"] === "number" ? result["fps"] : null,
  };
}

function cancel(url: string, apiKey: string | undefined): void {
  const deadline = new Deadline(CANCEL_TIMEOUT_MS);
  void sendJson(url, "DELETE", undefined, apiKey, deadline)
    .catch(() => undefined)
    .finally(() => deadline.finish());
}

/** Start the job, report progress while it runs, and resolve with its result (or reject with its error). */
export async function swapVideo(options: SwapVideoOptions): Promise<VideoResult> {
  const base = options.endpoint.replace(/\/+$/, "");
  const payload: Json = {
    ...sourceFields(options.source, "source", "source_image"),
    ...sourceFields(options.target, "target", "target_video"),
    target_index: options.targetIndex ?? 1,
    source_index: options.sourceIndex ?? 1,
    ...(options.outputUrl ? { output_url: options.outputUrl } : {}),
    ...(options.webhookUrl ? { webhook_url: options.webhookUrl } : {}),
  };
  const deadline = new Deadline(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.signal);
  let jobUrl: string | undefined;
  try {
    const started = await sendJson(`${base}/jobs`, "POST", payload, options.apiKey, deadline);
    if (started.status !== 202 || !isJson(started.body) || typeof started.body["id"] !== "string") {
      throw failure(started);
    }
    const jobId = started.body["id"];
    jobUrl = `${base}/jobs/${encodeURIComponent(jobId)}`;
    for (;;) {
      const reply = await sendJson(jobUrl, "GET", undefined, options.apiKey, deadline);
      if (reply.status !== 200 || !isJson(reply.body)) {
        throw failure(reply);
      }
      const job = reply.body;
      options.onProgress?.(progressOf(job));
      if (job["status"] === "succeeded" && isJson(job["result"])) {
        jobUrl = undefined;
        return resultOf(base, jobId, job, job["result"]);
      }
      if (job["status"] === "failed" || job["status"] === "cancelled") {
        jobUrl = undefined;
        const error = isJson(job["error"]) ? job["error"] : {};
        const code = typeof error["error_code"] === "string" ? error["error_code"] : "JOB_FAILED";
        const message = typeof error["message"] === "string" ? error["message"] : "The job did not finish.";
        throw new FaceSwapError(code, message);
      }
      await sleep(options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, deadline);
    }
  } catch (error) {
    if (jobUrl !== undefined) {
      cancel(jobUrl, options.apiKey);
    }
    throw error;
  } finally {
    deadline.finish();
  }
}
