// RunPod's cloud protocol (queueing, polling, cancel, failed jobs) and transport failures, on fake servers.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { FaceSwapError, isRetryable, listFaces, swapFaces } from "../dist/index.js";
import { closedPort, startFakeServer } from "./fake-server.mjs";

const PIXEL_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const SOURCE = { url: "https://images.example.com/me.jpg" };
const TARGET = { url: "https://images.example.com/group.jpg" };
const FAST = { pollIntervalMs: 10, timeoutMs: 5000 };

const swapOutput = {
  success: true,
  message: "ok",
  image_base64: PIXEL_PNG,
  format: "png",
  width: 1,
  height: 1,
  source_faces: 1,
  target_faces: 2,
  timings_ms: { fetch: 1, decode: 1, detect: 1, swap: 1, encode: 1 },
  request_id: "req-7",
};

/** A fake cloud: POST .../runsync answers IN_QUEUE; status polls walk `statuses`, then repeat the last. */
async function fakeCloud(
  statuses,
  { runsync = { status: 200, body: { id: "job-1", status: "IN_QUEUE" } } } = {},
) {
  let polls = 0;
  return startFakeServer(({ method, path }) => {
    if (method === "POST" && path === "/v2/abc/runsync") {
      return runsync;
    }
    if (method === "GET" && path === "/v2/abc/status/job-1") {
      const answer = statuses[Math.min(polls, statuses.length - 1)];
      polls += 1;
      return answer;
    }
    if (method === "POST" && path === "/v2/abc/cancel/job-1") {
      return { status: 200, body: { id: "job-1", status: "CANCELLED" } };
    }
    return { status: 404, body: "not found" };
  });
}

const running = { status: 200, body: { id: "job-1", status: "IN_PROGRESS" } };

function paths(server) {
  return server.requests.map((request) => `${request.method} ${request.path}`);
}

describe("runpod cloud polling", () => {
  test("a queued job is polled until it completes", async () => {
    const cloud = await fakeCloud([
      running,
      { status: 200, body: { id: "job-1", status: "COMPLETED", output: swapOutput } },
    ]);
    try {
      const result = await swapFaces({
        endpoint: `${cloud.url}/v2/abc/runsync`,
        apiKey: "rp-key",
        source: SOURCE,
        target: TARGET,
        targetIndex: 2,
        ...FAST,
      });
      assert.equal(result.imageBase64, PIXEL_PNG);
      assert.equal(result.dataUrl, `data:image/png;base64,${PIXEL_PNG}`);
      assert.deepEqual([result.width, result.height, result.sourceFaces, result.targetFaces], [1, 1, 1, 2]);
      assert.equal(result.requestId, "req-7");
      assert.equal(result.timingsMs.swap, 1);
      assert.deepEqual(paths(cloud), [
        "POST /v2/abc/runsync",
        "GET /v2/abc/status/job-1",
        "GET /v2/abc/status/job-1",
      ]);
      const [submit, poll] = cloud.requests;
      assert.deepEqual(submit.body, {
        input: { source_url: SOURCE.url, target_url: TARGET.url, target_index: 2 },
      });
      assert.equal(submit.headers.authorization, "Bearer rp-key");
      assert.equal(poll.headers.authorization, "Bearer rp-key");
    } finally {
      await cloud.close();
    }
  });

  test("an explicit runsync mode on a bare base URL polls the same way", async () => {
    const cloud = await fakeCloud([
      { status: 200, body: { id: "job-1", status: "COMPLETED", output: swapOutput } },
    ]);
    try {
      const result = await swapFaces({
        endpoint: `${cloud.url}/v2/abc`,
        mode: "runsync",
        source: SOURCE,
        target: TARGET,
        ...FAST,
      });
      assert.equal(result.format, "png");
      assert.deepEqual(paths(cloud), ["POST /v2/abc/runsync", "GET /v2/abc/status/job-1"]);
    } finally {
      await cloud.close();
    }
  });

  test("a job still running at the deadline times out and is cancelled", async () => {
    const cloud = await fakeCloud([running]);
    try {
      const error = await swapFaces({
        endpoint: `${cloud.url}/v2/abc/runsync`,
        source: SOURCE,
        target: TARGET,
        pollIntervalMs: 20,
        timeoutMs: 300,
      }).then(
        () => assert.fail("resolved"),
        (caught) => caught,
      );
      assert.ok(error instanceof FaceSwapError);
      assert.equal(error.code, "TIMEOUT");
      assert.equal(error.status, undefined);
      assert.ok(isRetryable(error));
      assert.ok(paths(cloud).filter((entry) => entry === "GET /v2/abc/status/job-1").length >= 2);
      for (
        let attempt = 0;
        attempt < 100 && !paths(cloud).includes("POST /v2/abc/cancel/job-1");
        attempt += 1
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(paths(cloud).includes("POST /v2/abc/cancel/job-1"), "the job was not cancelled");
    } finally {
      await cloud.close();
    }
  });

  test("a service failure inside a completed job keeps its code and gets the contract status", async () => {
    const output = {
      success: false,
      error_code: "FACE_INDEX_OUT_OF_RANGE",
      message: "target_index 3 is out of range: the target image has 2 faces.",
      request_id: "req-9",
    };
    const cloud = await fakeCloud([{ status: 200, body: { id: "job-1", status: "COMPLETED", output } }]);
    try {
      await assert.rejects(
        swapFaces({ endpoint: `${cloud.url}/v2/abc/runsync`, source: SOURCE, target: TARGET, ...FAST }),
        {
          code: "FACE_INDEX_OUT_OF_RANGE",
          status: 422,
          requestId: "req-9",
          message: output.message,
        },
      );
    } finally {
      await cloud.close();
    }
  });

  test("a failed job that ran out of memory is OUT_OF_MEMORY", async () => {
    const failed = {
      status: 200,
      body: { id: "job-1", status: "FAILED", error: "CUDA failure: out of memory" },
    };
    const cloud = await fakeCloud([failed]);
    try {
      await assert.rejects(
        swapFaces({ endpoint: `${cloud.url}/v2/abc/runsync`, source: SOURCE, target: TARGET, ...FAST }),
        {
          code: "OUT_OF_MEMORY",
          requestId: "job-1",
        },
      );
    } finally {
      await cloud.close();
    }
  });

  test("a failed job without an output is JOB_FAILED and its text stays out of the message", async () => {
    const failed = { status: 200, body: { id: "job-1", status: "FAILED", error: "Traceback: KeyError 'x'" } };
    const cloud = await fakeCloud([failed]);
    try {
      const error = await swapFaces({
        endpoint: `${cloud.url}/v2/abc/runsync`,
        source: SOURCE,
        target: TARGET,
        ...FAST,
      }).then(
        () => assert.fail("resolved"),
        (caught) => caught,
      );
      assert.equal(error.code, "JOB_FAILED");
      assert.doesNotMatch(error.message, /Traceback/);
      assert.equal(error.cause, "Traceback: KeyError 'x'");
    } finally {
      await cloud.close();
    }
  });

  test("a cancelled job is JOB_CANCELLED", async () => {
    const cloud = await fakeCloud([{ status: 200, body: { id: "job-1", status: "CANCELLED" } }]);
    try {
      await assert.rejects(
        swapFaces({ endpoint: `${cloud.url}/v2/abc/runsync`, source: SOURCE, target: TARGET, ...FAST }),
        {
          code: "JOB_CANCELLED",
        },
      );
    } finally {
      await cloud.close();
    }
  });

  test("a refused key without a contract body is HTTP_401", async () => {
    const cloud = await fakeCloud([], { runsync: { status: 401, body: "Unauthorized" } });
    try {
      await assert.rejects(
        swapFaces({ endpoint: `${cloud.url}/v2/abc/runsync`, apiKey: "bad", source: SOURCE, target: TARGET }),
        {
          code: "HTTP_401",
          status: 401,
        },
      );
    } finally {
      await cloud.close();
    }
  });

  test("a rate limit is HTTP_429 with retryAfter", async () => {
    const cloud = await fakeCloud([], {
      runsync: { status: 429, body: { error: "slow down" }, headers: { "Retry-After": "7" } },
    });
    try {
      const error = await swapFaces({
        endpoint: `${cloud.url}/v2/abc/runsync`,
        source: SOURCE,
        target: TARGET,
      }).then(
        () => assert.fail("resolved"),
        (caught) => caught,
      );
      assert.equal(error.code, "HTTP_429");
      assert.equal(error.retryAfter, 7);
      assert.ok(isRetryable(error));
    } finally {
      await cloud.close();
    }
  });

  test("listFaces sends the faces action in the envelope and reads the face list", async () => {
    const output = {
      success: true,
      faces: [
        {
          index: 1,
          bbox: [10, 20, 110, 140],
          score: 0.9,
          kps: [
            [1, 2],
            [3, 4],
            [5, 6],
            [7, 8],
            [9, 10],
          ],
        },
      ],
      width: 640,
      height: 480,
      preview_base64: PIXEL_PNG,
      request_id: "req-3",
    };
    const cloud = await fakeCloud([{ status: 200, body: { id: "job-1", status: "COMPLETED", output } }]);
    try {
      const result = await listFaces({
        endpoint: `${cloud.url}/v2/abc/runsync`,
        image: { base64: PIXEL_PNG },
        preview: true,
        ...FAST,
      });
      assert.deepEqual(cloud.requests[0].body, {
        input: { action: "faces", image: PIXEL_PNG, preview: true },
      });
      assert.deepEqual(result, {
        faces: output.faces,
        width: 640,
        height: 480,
        previewBase64: PIXEL_PNG,
        requestId: "req-3",
      });
    } finally {
      await cloud.close();
    }
  });
});

describe("transport failures", () => {
  let silent;
  let garbage;

  before(async () => {
    silent = await startFakeServer(() => null);
    garbage = await startFakeServer(() => ({ status: 200, body: "<html>hello</html>" }));
  });

  after(async () => {
    await silent.close();
    await garbage.close();
  });

  test("an endpoint that never answers times out", async () => {
    await assert.rejects(
      swapFaces({ endpoint: silent.url, source: SOURCE, target: TARGET, timeoutMs: 200 }),
      {
        code: "TIMEOUT",
        message: /0\.2 s/,
      },
    );
  });

  test("the caller's signal aborts the call", async () => {
    const controller = new AbortController();
    const call = swapFaces({
      endpoint: silent.url,
      source: SOURCE,
      target: TARGET,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    const error = await call.then(
      () => assert.fail("resolved"),
      (caught) => caught,
    );
    assert.equal(error.code, "ABORTED");
    assert.equal(isRetryable(error), false);
  });

  test("an already aborted signal fails at once", async () => {
    await assert.rejects(
      swapFaces({ endpoint: silent.url, source: SOURCE, target: TARGET, signal: AbortSignal.abort() }),
      { code: "ABORTED" },
    );
  });

  test("an unreachable endpoint is NETWORK", async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    await assert.rejects(swapFaces({ endpoint, source: SOURCE, target: TARGET }), {
      code: "NETWORK",
      status: undefined,
    });
  });

  test("an answer that is not JSON is BAD_RESPONSE", async () => {
    await assert.rejects(swapFaces({ endpoint: garbage.url, source: SOURCE, target: TARGET }), {
      code: "BAD_RESPONSE",
      status: 200,
    });
  });
});
