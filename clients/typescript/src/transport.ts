/** JSON over global fetch under one deadline; every fetch failure becomes a FaceSwapError. */

import { FaceSwapError } from "./errors.js";

/** One HTTP answer: its status, headers and parsed JSON body (undefined when not JSON). */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  /** The body as sent, for errors without a JSON body (a gateway's plain-text refusal). */
  readonly text: string;
}

/** A whole call's time limit, joined with the caller's own AbortSignal. */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly outer: AbortSignal | undefined;
  private readonly onOuterAbort = (): void => this.controller.abort();
  private expired = false;

  constructor(
    readonly timeoutMs: number,
    outer?: AbortSignal,
  ) {
    this.outer = outer;
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort();
    }, timeoutMs);
    if (outer?.aborted) {
      this.controller.abort();
    }
    outer?.addEventListener("abort", this.onOuterAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stop the timer and stop listening to the caller's signal. */
  finish(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener("abort", this.onOuterAbort);
  }

  /** The error for a failed fetch: TIMEOUT or ABORTED when this deadline stopped it, NETWORK otherwise. */
  failure(cause: unknown): FaceSwapError {
    if (this.expired) {
      const seconds = Math.round(this.timeoutMs / 100) / 10;
      return new FaceSwapError(
        "TIMEOUT",
        `The request did not finish within ${seconds} s; try again or raise timeoutMs.`,
        { cause },
      );
    }
    if (this.outer?.aborted) {
      return new FaceSwapError("ABORTED", "The request was cancelled.", { cause });
    }
    return new FaceSwapError(
      "NETWORK",
      "The face-swap endpoint could not be reached; check the endpoint URL and the network.",
      { cause },
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Send `payload` (or nothing, for GET) as JSON with the bearer key; resolves for every HTTP status. */
export async function sendJson(
  url: string,
  method: "GET" | "POST" | "DELETE",
  payload: unknown,
  apiKey: string | undefined,
  deadline: Deadline,
): Promise<Reply> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  if (apiKey) {
    headers["Authorization"] = `Bearer ${apiKey}`;
  }
  try {
    const response = await fetch(url, {
      method,
      headers,
      body: payload === undefined ? null : JSON.stringify(payload),
      signal: deadline.signal,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: parseJson(text), text };
  } catch (cause) {
    throw deadline.failure(cause);
  }
}

/** Wait `ms`, or reject as soon as the deadline stops the call. */
export function sleep(ms: number, deadline: Deadline): Promise<void> {
  return new Promise((resolve, reject) => {
    const signal = deadline.signal;
    if (signal.aborted) {
      reject(deadline.failure(signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(deadline.failure(signal.reason));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
