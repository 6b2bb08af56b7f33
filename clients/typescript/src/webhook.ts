/**
 * verifyWebhook: checks a webhook from the service (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 * `webhook-signature` = `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) before its body is trusted.
 * It uses the Web Crypto API (`globalThis.crypto`, Node's own crypto in Node 20+; also in Deno, Bun and
 * edge runtimes), whose HMAC `verify` compares in constant time.
 */

import { FaceSwapError } from "./errors.js";

const SECRET_PREFIX = "whsec_";
const DEFAULT_TOLERANCE_SECONDS = 5 * 60;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A request's headers: a fetch `Headers`, or a record such as Node's `request.headers` (any case). */
export type WebhookHeaders = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from the clock, either way, in seconds; default 300. */
  readonly toleranceSeconds?: number;
  /** The clock in milliseconds since the epoch; default `Date.now()`. */
  readonly now?: number;
}

function invalid(message: string): FaceSwapError {
  return new FaceSwapError("INVALID_WEBHOOK", message);
}

function headerOf(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") {
    return (headers as Headers).get(name) ?? undefined;
  }
  for (const [key, value] of Object.entries(
    headers as Record<string, string | readonly string[] | undefined>,
  )) {
    if (key.toLowerCase() === name) {
      return typeof value === "string" ? value : value?.[0];
    }
  }
  return undefined;
}

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function checkTimestamp(value: string, options: VerifyWebhookOptions): void {
  if (!/^\d{1,15}$/.test(value)) {
    throw invalid("The webhook-timestamp header is not a Unix time in seconds.");
  }
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Number(value) - (options.now ?? Date.now()) / 1000;
  if (skew < -tolerance) {
    throw invalid(`The webhook is more than ${tolerance} s old (a replay, or a clock that is off).`);
  }
  if (skew > tolerance) {
    throw invalid(`The webhook is dated more than ${tolerance} s ahead (a clock that is off).`);
  }
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  const raw = base64Bytes(secret.trim().replace(/^whsec_/, ""));
  if (raw === undefined || raw.length === 0) {
    throw invalid(
      `The webhook secret must be ${SECRET_PREFIX} followed by base64 (FACESWAP_WEBHOOK_SECRET).`,
    );
  }
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
}

/**
 * The webhook's JSON body once its signature, made with `secret` (the service's FACESWAP_WEBHOOK_SECRET,
 * `whsec_...`), is valid for its id, timestamp and exact bytes, and its timestamp is within the tolerance.
 * Pass the raw body as received (a string or bytes), never one parsed and serialized again.
 * Rejects with a FaceSwapError of code INVALID_WEBHOOK saying what is wrong.
 */
export async function verifyWebhook<T = unknown>(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): Promise<T> {
  const id = headerOf(headers, "webhook-id");
  const timestamp = headerOf(headers, "webhook-timestamp");
  const signatures = headerOf(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw invalid("The webhook lacks a webhook-id, webhook-timestamp or webhook-signature header.");
  }
  checkTimestamp(timestamp, options);
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const signed = new Uint8Array(prefix.length + bytes.length);
  signed.set(prefix);
  signed.set(bytes, prefix.length);
  const key = await hmacKey(secret);
  for (const entry of signatures.split(" ")) {
    const [version, signature] = entry.split(",", 2);
    const mac = version === "v1" && signature ? base64Bytes(signature) : undefined;
    if (mac !== undefined && (await crypto.subtle.verify("HMAC", key, mac, signed))) {
      try {
        return JSON.parse(decoder.decode(bytes)) as T;
      } catch (cause) {
        throw new FaceSwapError("INVALID_WEBHOOK", "The webhook's body is not JSON.", { cause });
      }
    }
  }
  throw invalid("No signature of the webhook matches its body with this secret.");
}
