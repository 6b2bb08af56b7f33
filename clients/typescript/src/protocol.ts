/** The two wire protocols, direct and RunPod's runsync, reduced to an `output` or a FaceSwapError. */

import { urlFor, type Route } from "./endpoint.js";
import { CONTRACT_STATUS, FaceSwapError, isContractCode } from "./errors.js";
import { type Deadline, type Reply, sendJson, sleep } from "./transport.js";

export type Json = Record<string, unknown>;

/** A successful `output` object and the id that names the request. */
export interface Settled {
  readonly output: Json;
  readonly requestId: string;
}

/** What a call needs besides its payload. */
export interface Call {
  readonly route: Route;
  readonly apiKey: string | undefined;
  readonly pollIntervalMs: number;
  readonly deadline: Deadline;
}

const PENDING: ReadonlySet<unknown> = new Set(["IN_QUEUE", "IN_PROGRESS"]);
const CANCEL_TIMEOUT_MS = 5000;
const OUT_OF_MEMORY_TEXT = /out of memory|\bOOM\b/i;

const HTTP_MESSAGES: Readonly<Record<number, string>> = {
  401: "The endpoint refused the API key; check it.",
  403: "The API key may not use this endpoint; check the key and the endpoint.",
  404: "The endpoint has no such route; check the endpoint URL and mode.",
  429: "The endpoint is rate-limiting requests; retry shortly.",
};

export function isJson(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === "") {
    return undefined;
  }
  const value = header.trim();
  if (/^\d+$/.test(value)) {
    return Number(value);
  }
  const when = Date.parse(value);
  return Number.isNaN(when) ? undefined : Math.max(0, Math.ceil((when - now) / 1000));
}

function requestIdOf(reply: Reply, ...sources: unknown[]): string | undefined {
  for (const source of sources) {
    const id = isJson(source) ? text(source["request_id"]) : undefined;
    if (id) {
      return id;
    }
  }
  return reply.headers.get("x-request-id") ?? undefined;
}

/** The contract error an `output` object reports, if it reports one. */
function contractError(output: Json, reply: Reply, requestId: string | undefined): FaceSwapError | undefined {
  const code = text(output["error_code"]);
  if (output["success"] !== false || code === undefined) {
    return undefined;
  }
  const status = reply.status >= 400 || !isContractCode(code) ? reply.status : CONTRACT_STATUS[code];
  return new FaceSwapError(code, text(output["message"]) ?? `The request failed with ${code}.`, {
    status,
    requestId,
    retryAfter: retryAfterSeconds(reply.headers.get("retry-after")),
  });
}

function httpError(reply: Reply, requestId: string | undefined): FaceSwapError {
  const message = HTTP_MESSAGES[reply.status] ?? `The face-swap endpoint answered HTTP ${reply.status}.`;
  return new FaceSwapError(`HTTP_${reply.status}`, message, {
    status: reply.status,
    requestId,
    retryAfter: retryAfterSeconds(reply.headers.get("retry-after")),
    cause: reply.text === "" ? undefined : reply.text,
  });
}

function badResponse(reply: Reply, requestId: string | undefined): FaceSwapError {
  return new FaceSwapError("BAD_RESPONSE", "The endpoint's answer is not a face-swap result.", {
    status: reply.status,
    requestId,
  });
}

/** A successful `output`, or the error it, or failing that the HTTP status, reports. */
function settle(output: unknown, reply: Reply, fallbackId: string | undefined): Settled {
  const requestId = requestIdOf(reply, output) ?? fallbackId;
  if (isJson(output) && output["success"] === true && reply.status < 400) {
    return { output, requestId: requestId ?? "" };
  }
  const reported = isJson(output) ? contractError(output, reply, requestId) : undefined;
  if (reported) {
    throw reported;
  }
  throw reply.status >= 400 ? httpError(reply, requestId) : badResponse(reply, requestId);
}

/** A finished RunPod job: its output when it has one, else its terminal status as an error. */
function settleJob(job: unknown, reply: Reply): Settled {
  const jobId = isJson(job) ? text(job["id"]) : undefined;
  if (isJson(job) && job["output"] !== undefined && job["output"] !== null) {
    return settle(job["output"], reply, jobId);
  }
  const status = isJson(job) ? job["status"] : undefined;
  if (status === "FAILED" && reply.status < 400) {
    const reason = isJson(job) ? String(job["error"] ?? "") : "";
    const code = OUT_OF_MEMORY_TEXT.test(reason) ? "OUT_OF_MEMORY" : "JOB_FAILED";
    const message =
      code === "OUT_OF_MEMORY"
        ? "The RunPod worker ran out of memory; try smaller images."
        : "The RunPod job failed without a result; the endpoint's logs say why.";
    throw new FaceSwapError(code, message, { status: reply.status, requestId: jobId, cause: reason });
  }
  if (status === "CANCELLED") {
    throw new FaceSwapError("JOB_CANCELLED", "The RunPod job was cancelled.", { requestId: jobId });
  }
  if (status === "TIMED_OUT") {
    throw new FaceSwapError("TIMEOUT", "The RunPod job ran past the endpoint's execution timeout.", {
      requestId: jobId,
    });
  }
  return settle(undefined, reply, jobId);
}

/** Ask RunPod to drop a job nobody waits for any more; failures are ignored. */
function cancelJob(call: Call, jobId: string): void {
  const headers: Record<string, string> = call.apiKey ? { Authorization: `Bearer ${call.apiKey}` } : {};
  fetch(urlFor(call.route, `/cancel/${encodeURIComponent(jobId)}`), {
    method: "POST",
    headers,
    signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS),
  }).then(
    (response) => response.body?.cancel(),
    () => undefined,
  );
}

/** POST `payload` to one of the service's own routes. */
export async function callDirect(call: Call, path: string, payload: Json): Promise<Settled> {
  const reply = await sendJson(urlFor(call.route, path), "POST", payload, call.apiKey, call.deadline);
  return settle(reply.body, reply, undefined);
}

/** POST `{"input": input}` to /runsync; while the job is queued or running, poll /status/<id>. */
export async function callRunsync(call: Call, input: Json): Promise<Settled> {
  let reply = await sendJson(urlFor(call.route, "/runsync"), "POST", { input }, call.apiKey, call.deadline);
  let job = reply.body;
  while (reply.status < 400 && isJson(job) && PENDING.has(job["status"])) {
    const jobId = text(job["id"]);
    if (jobId === undefined) {
      throw badResponse(reply, undefined);
    }
    try {
      await sleep(call.pollIntervalMs, call.deadline);
      const statusUrl = urlFor(call.route, `/status/${encodeURIComponent(jobId)}`);
      reply = await sendJson(statusUrl, "GET", undefined, call.apiKey, call.deadline);
    } catch (error) {
      cancelJob(call, jobId);
      throw error;
    }
    job = reply.body;
  }
  return settleJob(job, reply);
}
