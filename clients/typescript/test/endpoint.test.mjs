// Endpoint resolution, retry classification, Retry-After parsing and local input checks.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  FaceSwapError,
  isRetryable,
  listFaces,
  resolveEndpoint,
  retryAfterSeconds,
  swapFaces,
} from "../dist/index.js";
import { closedPort } from "./fake-server.mjs";

describe("resolveEndpoint", () => {
  test("a plain base URL is the direct protocol", () => {
    assert.deepEqual(resolveEndpoint("http://localhost:8000/"), {
      mode: "direct",
      base: "http://localhost:8000/",
    });
  });

  test("a URL ending in /runsync is the runsync protocol on the URL without it", () => {
    assert.deepEqual(resolveEndpoint("http://localhost:8000/runsync"), {
      mode: "runsync",
      base: "http://localhost:8000/",
    });
    assert.deepEqual(resolveEndpoint("https://api.runpod.ai/v2/abc123/runsync/"), {
      mode: "runsync",
      base: "https://api.runpod.ai/v2/abc123",
    });
  });

  test("runpod's cloud host is the runsync protocol without a suffix", () => {
    assert.equal(resolveEndpoint("https://api.runpod.ai/v2/abc123").mode, "runsync");
  });

  test("an explicit mode wins over the inference", () => {
    assert.equal(resolveEndpoint("http://localhost:8000", "runsync").mode, "runsync");
    assert.equal(resolveEndpoint("https://api.runpod.ai/v2/abc123", "direct").mode, "direct");
  });

  test("direct mode on a runsync URL is refused", () => {
    assert.throws(() => resolveEndpoint("http://localhost:8000/runsync", "direct"), {
      code: "INVALID_INPUT",
    });
  });

  test("a non-http endpoint is refused", () => {
    assert.throws(() => resolveEndpoint("not a url"), { code: "INVALID_INPUT" });
    assert.throws(() => resolveEndpoint("ftp://example.com/"), { code: "INVALID_INPUT" });
  });
});

describe("isRetryable", () => {
  test("busy, loading, memory and time failures are retryable", () => {
    for (const code of [
      "BUSY",
      "NOT_READY",
      "OUT_OF_MEMORY",
      "TIMEOUT",
      "FETCH_TIMEOUT",
      "NETWORK",
      "HTTP_503",
    ]) {
      assert.equal(isRetryable(new FaceSwapError(code, "x.")), true, code);
    }
  });

  test("failures of the request itself are not retryable", () => {
    for (const code of [
      "NO_FACE",
      "FACE_INDEX_OUT_OF_RANGE",
      "UNAUTHORIZED",
      "INVALID_INPUT",
      "HTTP_404",
      "ABORTED",
    ]) {
      assert.equal(isRetryable(new FaceSwapError(code, "x.")), false, code);
    }
  });

  test("other errors are not retryable", () => {
    assert.equal(isRetryable(new Error("BUSY")), false);
    assert.equal(isRetryable({ code: "BUSY" }), false);
  });
});

describe("retryAfterSeconds", () => {
  test("reads delta seconds", () => {
    assert.equal(retryAfterSeconds("5"), 5);
  });

  test("reads an HTTP date relative to now", () => {
    const now = Date.parse("Wed, 21 Oct 2025 07:28:00 GMT");
    assert.equal(retryAfterSeconds("Wed, 21 Oct 2025 07:28:30 GMT", now), 30);
    assert.equal(retryAfterSeconds("Wed, 21 Oct 2025 07:27:00 GMT", now), 0);
  });

  test("is undefined when absent or unreadable", () => {
    assert.equal(retryAfterSeconds(null), undefined);
    assert.equal(retryAfterSeconds("soon"), undefined);
  });
});

describe("local input checks", () => {
  test("an image given twice or not at all is refused before any request", async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const both = { url: "http://example.com/a.png", base64: "aGk=" };
    await assert.rejects(swapFaces({ endpoint, source: both, target: { url: "http://example.com/b.png" } }), {
      name: "FaceSwapError",
      code: "INVALID_INPUT",
      message: /source image/,
    });
    await assert.rejects(swapFaces({ endpoint, source: { url: "http://example.com/a.png" }, target: {} }), {
      code: "INVALID_INPUT",
      message: /target image/,
    });
    await assert.rejects(listFaces({ endpoint, image: { url: "" } }), { code: "INVALID_INPUT" });
  });

  test("a negative timeout is refused", async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const image = { url: "http://example.com/a.png" };
    await assert.rejects(swapFaces({ endpoint, source: image, target: image, timeoutMs: -1 }), {
      code: "INVALID_INPUT",
      message: /timeoutMs/,
    });
  });
});
