// The service's public API as any browser client calls it: the API key, JSON in and out, and failures as
// the contract gives them ({"success": false, "error_code", "message", "request_id"}).
// Paths are relative, so the page also works behind a reverse proxy that serves the service under a prefix.

const KEY_STORE = "faceswap.apiKey";

/** A failed call: the contract's error code and message, the HTTP status and the request id. */
export class ApiError extends Error {
  constructor(code, message, status, requestId) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }
}

/** The key typed in this tab (sessionStorage: gone when the tab closes, never written anywhere else). */
export function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
}

function headers(hasBody) {
  const result = { Accept: "application/json" };
  const key = apiKey();
  if (key) result.Authorization = `Bearer ${key}`;
  if (hasBody) result["Content-Type"] = "application/json";
  return result;
}

async function send(method, path, body, signal) {
  try {
    return await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("NETWORK", "The service could not be reached: is it still running at this address?", 0, null);
  }
}

/** Calls `method path` with a JSON body; the parsed answer, or an ApiError. */
export async function call(method, path, body, { signal } = {}) {
  const response = await send(method, path, body, signal);
  const text = await response.text();
  let payload = null;
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  if (response.ok) return payload;
  const requestId = response.headers.get("x-request-id");
  if (payload && typeof payload.error_code === "string") {
    throw new ApiError(payload.error_code, payload.message || "", response.status, payload.request_id || requestId);
  }
  const message = `The service answered HTTP ${response.status} without the usual error body.`;
  throw new ApiError(`HTTP_${response.status}`, message, response.status, requestId);
}

/** GET /health, which answers 503 with a body while loading or failed: that body, never an error. */
export async function health() {
  const response = await send("GET", "health", undefined, undefined);
  try {
    return await response.json();
  } catch {
    return { status: "unknown" };
  }
}

/** What each of the contract's error codes means, in words a person understands. */
export const ERROR_TITLES = {
  INVALID_INPUT: "Something in the request is not valid",
  UNAUTHORIZED: "The API key is missing or not accepted",
  URL_NOT_ALLOWED: "That address may not be fetched",
  FETCH_FAILED: "The file could not be downloaded",
  FETCH_TIMEOUT: "The download took too long",
  IMAGE_TOO_LARGE: "The file is too large for this service",
  INVALID_IMAGE: "The file is not a picture or clip the service can read",
  NO_FACE: "No face was found",
  FACE_INDEX_OUT_OF_RANGE: "There is no face with that number",
  MODEL_NOT_INSTALLED: "A model this option needs is not installed",
  OUT_OF_MEMORY: "The service ran out of memory",
  BUSY: "The service is busy: try again in a moment",
  NOT_READY: "The service is not ready yet",
  TIMEOUT: "The swap took too long",
  INTERNAL: "The service hit an unexpected error",
  JOB_NOT_FOUND: "The job is no longer kept",
  DELIVERY_FAILED: "The result could not be delivered",
  COST_LIMIT_EXCEEDED: "This swap would take more work than the service allows: fewer faces or lighter options",
  STORAGE_FULL: "The service has no room for the files",
  CONTENT_REFUSED: "The service refused this picture",
  NETWORK: "The service could not be reached",
};

export function errorTitle(code, status) {
  return ERROR_TITLES[code] || (status ? `The request failed (HTTP ${status})` : "The request failed");
}
