/** The one error type of the client and the codes it carries. */

/** The service contract's error codes (docs/contract.md). */
export type ContractErrorCode =
  | "INVALID_INPUT"
  | "UNAUTHORIZED"
  | "URL_NOT_ALLOWED"
  | "FETCH_FAILED"
  | "FETCH_TIMEOUT"
  | "IMAGE_TOO_LARGE"
  | "INVALID_IMAGE"
  | "NO_FACE"
  | "FACE_INDEX_OUT_OF_RANGE"
  | "MODEL_NOT_INSTALLED"
  | "COST_LIMIT_EXCEEDED"
  | "OUT_OF_MEMORY"
  | "BUSY"
  | "NOT_READY"
  | "TIMEOUT"
  | "INTERNAL"
  | "CONTENT_REFUSED";

/**
 * Codes the client itself gives when no contract body came back.
 * TIMEOUT (shared with the contract) also means the client's own `timeoutMs` ran out.
 */
export type ClientErrorCode =
  | "NETWORK"
  | "ABORTED"
  | "BAD_RESPONSE"
  | "JOB_FAILED"
  | "JOB_CANCELLED"
  | "INVALID_WEBHOOK"
  | `HTTP_${number}`;

/** A contract code, a client code, or a code a newer service added. */
export type FaceSwapErrorCode = ContractErrorCode | ClientErrorCode | (string & {});

/** The HTTP status the contract gives each code on POST /swap. */
export const CONTRACT_STATUS: Readonly<Record<ContractErrorCode, number>> = {
  INVALID_INPUT: 422,
  UNAUTHORIZED: 401,
  URL_NOT_ALLOWED: 400,
  FETCH_FAILED: 502,
  FETCH_TIMEOUT: 504,
  IMAGE_TOO_LARGE: 413,
  INVALID_IMAGE: 400,
  NO_FACE: 422,
  FACE_INDEX_OUT_OF_RANGE: 422,
  MODEL_NOT_INSTALLED: 422,
  COST_LIMIT_EXCEEDED: 422,
  OUT_OF_MEMORY: 503,
  BUSY: 503,
  NOT_READY: 503,
  TIMEOUT: 504,
  INTERNAL: 500,
  CONTENT_REFUSED: 422,
};

const RETRYABLE: ReadonlySet<string> = new Set([
  "BUSY",
  "NOT_READY",
  "OUT_OF_MEMORY",
  "TIMEOUT",
  "FETCH_TIMEOUT",
  "NETWORK",
  "HTTP_429",
  "HTTP_502",
  "HTTP_503",
  "HTTP_504",
]);

export interface FaceSwapErrorDetails {
  /** The HTTP status /swap gives this failure; undefined when no HTTP answer came back. */
  status?: number | undefined;
  /** The service's request id, or RunPod's job id. */
  requestId?: string | undefined;
  /** Seconds to wait before retrying, from the Retry-After header. */
  retryAfter?: number | undefined;
  cause?: unknown;
}

/** A failed call: a `code` to branch on and a `message` a user can act on. */
export class FaceSwapError extends Error {
  override readonly name = "FaceSwapError";
  readonly code: FaceSwapErrorCode;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: FaceSwapErrorCode, message: string, details: FaceSwapErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.requestId = details.requestId;
    this.retryAfter = details.retryAfter;
  }
}

/** Whether sending the same request again later may succeed. */
export function isRetryable(error: unknown): boolean {
  return error instanceof FaceSwapError && RETRYABLE.has(error.code);
}

/** Whether `code` is one of the contract's error codes. */
export function isContractCode(code: unknown): code is ContractErrorCode {
  return typeof code === "string" && Object.hasOwn(CONTRACT_STATUS, code);
}
