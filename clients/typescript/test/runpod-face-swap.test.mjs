// The drop-in runPodFaceSwap against fakes of RunPod's answers: queued jobs, load-balancing refusals, errors.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { runPodFaceSwap } from "../dist/index.js";
import { startFakeServer } from "./fake-server.mjs";

const PIXEL_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const SOURCE = "https://images.example.com/me.jpg";
const TARGET = "https://images.example.com/group.jpg";
const KEY = "rp-key";
const FAST = { apiKey: KEY, pollIntervalMs: 10, timeoutMs: 3000 };
const ok = { success: true, message: "ok", image_base64: PIXEL_PNG, format: "png", request_id: "req-1" };
const completed = (output = ok) => ({ status: 200, body: { id: "job-1", status: "COMPLETED", output } });
const queued = { status: 200, body: { id: "job-1", status: "IN_QUEUE" } };
const running = { status: 200, body: { id: "job-1", status: "IN_PROGRESS" } };

const servers = [];
after(async () => Promise.all(servers.map((server) => server.close())));

/** A fake RunPod endpoint: POST /runsync walks `runsync`, GET /status/job-1 walks `statuses` (each repeats its last). */
async function fakeRunPod({ runsync = [completed()], statuses = [running] } = {}) {
  const count = { runsync: 0, status: 0 };
  const next = (answers, key) => answers[Math.min(count[key]++, answers.length - 1)];
  const server = await startFakeServer(({ method, path }) => {
    if (method === "POST" && path === "/v2/abc/runsync") {
      return next(runsync, "runsync");
    }
    if (method === "GET" && path === "/v2/abc/status/job-1") {
      return next(statuses, "status");
    }
    if (method === "POST" && path === "/v2/abc/cancel/job-1") {
      return { status: 200, body: { id: "job-1", status: "CANCELLED" } };
    }
    return { status: 404, body: "not found" };
  });
  servers.push(server);
  return { ...server, endpoint: `${server.url}/v2/abc/runsync` };
}

function paths(server) {
  return server.requests.map((request) => `${request.method} ${request.path}`);
}

async function message(promise) {
  const error = await promise.then(
    () => assert.fail("the call succeeded"),
    (caught) => caught,
  );
  assert.ok(error instanceof Error);
  return error.message;
}

describe("runPodFaceSwap, the web app's function", () => {
  test("sends the original request and resolves to a PNG data URL", async () => {
    const runpod = await fakeRunPod();
    const result = await runPodFaceSwap(TARGET, SOURCE, 2, { ...FAST, endpoint: runpod.endpoint });
    assert.equal(result, `data:image/png;base64,${PIXEL_PNG}`);
    const [request] = runpod.requests;
    assert.deepEqual(request.body, {
      input: { source_url: SOURCE, target_url: TARGET, source_index: 1, target_index: 2 },
    });
    assert.equal(request.headers.authorization, `Bearer ${KEY}`);
  });

  test("polls a job still IN_QUEUE when /runsync's wait ends, instead of 'Unknown error'", async () => {
    const runpod = await fakeRunPod({ runsync: [queued], statuses: [queued, running, completed()] });
    const result = await runPodFaceSwap(TARGET, SOURCE, 1, { ...FAST, endpoint: runpod.endpoint });
    assert.equal(result, `data:image/png;base64,${PIXEL_PNG}`);
    assert.deepEqual(paths(runpod), [
      "POST /v2/abc/runsync",
      "GET /v2/abc/status/job-1",
      "GET /v2/abc/status/job-1",
      "GET /v2/abc/status/job-1",
    ]);
    assert.ok(runpod.requests.every((request) => request.headers.authorization === `Bearer ${KEY}`));
  });

  test("polls a job IN_PROGRESS too", async () => {
    const runpod = await fakeRunPod({ runsync: [running], statuses: [completed()] });
    const result = await runPodFaceSwap(TARGET, SOURCE, 1, { ...FAST, endpoint: runpod.endpoint });
    assert.equal(result, `data:image/png;base64,${PIXEL_PNG}`);
  });

  test("gives up at its deadline with the original timeout message and cancels the job", async () => {
    const runpod = await fakeRunPod({ runsync: [queued], statuses: [queued] });
    const options = { ...FAST, endpoint: runpod.endpoint, timeoutMs: 200 };
    assert.equal(await message(runPodFaceSwap(TARGET, SOURCE, 1, options)), "RunPod request timeout");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(paths(runpod).includes("POST /v2/abc/cancel/job-1"));
  });

  test("retries a load-balancing endpoint's 400 'no worker available' until a worker answers", async () => {
    const refused = { status: 400, body: "no workers available" };
    const runpod = await fakeRunPod({ runsync: [refused, refused, completed()] });
    const result = await runPodFaceSwap(TARGET, SOURCE, 1, { ...FAST, endpoint: runpod.endpoint });
    assert.equal(result, `data:image/png;base64,${PIXEL_PNG}`);
    assert.equal(runpod.requests.length, 3);
  });

  test("a 400 until the deadline is 'temporarily unavailable', as a 503 was", async () => {
    const runpod = await fakeRunPod({ runsync: [{ status: 400, body: "no workers available" }] });
    const options = { ...FAST, endpoint: runpod.endpoint, timeoutMs: 200 };
    const text = await message(runPodFaceSwap(TARGET, SOURCE, 1, options));
    assert.equal(text, "RunPod service temporarily unavailable");
    assert.ok(runpod.requests.length >= 2);
  });

  test("maps 503 and 413 as the original did, without retrying", async () => {
    const busy = { success: false, error_code: "BUSY", message: "The service is busy." };
    for (const [answer, expected] of [
      [
        { status: 503, body: { id: "x", status: "FAILED", output: busy } },
        "RunPod service temporarily unavailable",
      ],
      [{ status: 413, body: "too large" }, "Images too large for processing"],
    ]) {
      const runpod = await fakeRunPod({ runsync: [answer] });
      const text = await message(runPodFaceSwap(TARGET, SOURCE, 1, { ...FAST, endpoint: runpod.endpoint }));
      assert.equal(text, expected);
      assert.equal(runpod.requests.length, 1);
    }
  });

  test("another HTTP error keeps the original 'RunPod API error' with the status and text", async () => {
    const runpod = await fakeRunPod({ runsync: [{ status: 401, body: "Unauthorized" }] });
    const text = await message(runPodFaceSwap(TARGET, SOURCE, 1, { ...FAST, endpoint: runpod.endpoint }));
    assert.equal(text, "RunPod API error: 401 - Unauthorized");
  });

  test("a failed swap keeps the service's message, and out of memory its own", async () => {
    const outOfRange = {
      success: false,
      error_code: "FACE_INDEX_OUT_OF_RANGE",
      message: "target_index 3 is out of range: the target image has 2 faces.",
    };
    const oom = { success: false, error_code: "OUT_OF_MEMORY", message: "The GPU ran out of memory." };
    for (const [output, expected] of [
      [outOfRange, `RunPod face swap failed: ${outOfRange.message}`],
      [oom, "RunPod worker out of memory - try smaller images"],
    ]) {
      const runpod = await fakeRunPod({ runsync: [completed(output)] });
      const text = await message(runPodFaceSwap(TARGET, SOURCE, 3, { ...FAST, endpoint: runpod.endpoint }));
      assert.equal(text, expected);
    }
  });

  test("a job that FAILED without output says so, out of memory included", async () => {
    for (const [reason, expected] of [
      ["KeyError 'x'", /^RunPod face swap failed: /],
      ["CUDA out of memory", /^RunPod worker out of memory - try smaller images$/],
    ]) {
      const failed = { status: 200, body: { id: "job-1", status: "FAILED", error: reason } };
      const runpod = await fakeRunPod({ runsync: [queued], statuses: [failed] });
      const text = await message(runPodFaceSwap(TARGET, SOURCE, 1, { ...FAST, endpoint: runpod.endpoint }));
      assert.match(text, expected);
    }
  });

  test("success without an image is the original 'did not return an image'", async () => {
    const runpod = await fakeRunPod({ runsync: [completed({ success: true, message: "ok" })] });
    const text = await message(runPodFaceSwap(TARGET, SOURCE, 1, { ...FAST, endpoint: runpod.endpoint }));
    assert.equal(text, "RunPod API did not return an image");
  });

  test("reads RUNPOD_ENDPOINT and RUNPOD_API_KEY like the original, and needs the key", async () => {
    const runpod = await fakeRunPod();
    const saved = { endpoint: process.env.RUNPOD_ENDPOINT, key: process.env.RUNPOD_API_KEY };
    try {
      process.env.RUNPOD_ENDPOINT = runpod.endpoint;
      delete process.env.RUNPOD_API_KEY;
      assert.equal(await message(runPodFaceSwap(TARGET, SOURCE, 1)), "RUNPOD_API_KEY not configured");
      assert.equal(runpod.requests.length, 0);
      process.env.RUNPOD_API_KEY = "from-env";
      assert.equal(await runPodFaceSwap(TARGET, SOURCE, 1), `data:image/png;base64,${PIXEL_PNG}`);
      assert.equal(runpod.requests[0].headers.authorization, "Bearer from-env");
    } finally {
      for (const [name, value] of [
        ["RUNPOD_ENDPOINT", saved.endpoint],
        ["RUNPOD_API_KEY", saved.key],
      ]) {
        if (value === undefined) {
          delete process.env[name];
        } else {
          process.env[name] = value;
        }
      }
    }
  });
});
