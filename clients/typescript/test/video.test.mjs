// swapVideo against a local fake of the /jobs routes: progress callbacks, the result, errors, cancel.
import assert from "node:assert/strict";
import { test } from "node:test";

import { swapVideo } from "../dist/index.js";
import { startFakeServer } from "./fake-server.mjs";

function jobsFake(steps) {
  let polls = 0;
  return async (request) => {
    if (request.method === "POST" && request.path === "/jobs") {
      return { status: 202, body: { id: "job1", status: "queued", progress: {} } };
    }
    if (request.method === "GET" && request.path === "/jobs/job1") {
      return { status: 200, body: steps[Math.min(polls++, steps.length - 1)] };
    }
    if (request.method === "DELETE" && request.path === "/jobs/job1") {
      return { status: 200, body: { id: "job1", status: "cancelled" } };
    }
    return { status: 404, body: { success: false, error_code: "JOB_NOT_FOUND", message: "No such job." } };
  };
}

const running = (done) => ({
  id: "job1",
  status: "running",
  progress: { frames_done: done, frames_total: 4, eta_seconds: 1.5 },
});
const result = {
  kind: "video",
  media_type: "video/mp4",
  size_bytes: 3,
  base64: "AAAA",
  url: "/jobs/job1/result",
  uploaded: false,
  width: 256,
  height: 256,
  frames: 4,
  swapped_frames: 3,
  fps: 25,
};

test("swapVideo reports progress and resolves with the clip", async () => {
  const fake = await startFakeServer(
    jobsFake([
      running(1),
      running(3),
      { id: "job1", status: "succeeded", attempts: 2, progress: { frames_done: 4, frames_total: 4 }, result },
    ]),
  );
  try {
    const seen = [];
    const out = await swapVideo({
      endpoint: fake.url,
      source: { url: "https://example.com/me.jpg" },
      target: { base64: "AAAA" },
      targetIndex: "all",
      webhookUrl: "https://example.com/hook",
      pollIntervalMs: 5,
      onProgress: (progress) => seen.push(progress.framesDone),
    });
    assert.deepEqual(seen, [1, 3, 4]);
    assert.equal(out.kind, "video");
    assert.equal(out.swappedFrames, 3);
    assert.equal(out.base64, "AAAA");
    assert.equal(out.resultUrl, `${fake.url}/jobs/job1/result`);
    assert.equal(out.attempts, 2);
    assert.equal(out.deliveryFailed, false);
    const posted = fake.requests[0].body;
    assert.equal(posted.webhook_url, "https://example.com/hook");
    assert.equal(posted.source_url, "https://example.com/me.jpg");
    assert.equal(posted.target_video, "AAAA");
    assert.equal(posted.target_index, "all");
  } finally {
    await fake.close();
  }
});

test("a failed job rejects with its error code", async () => {
  const failed = { id: "job1", status: "failed", progress: {}, error: { error_code: "IMAGE_TOO_LARGE", message: "Too long." } };
  const fake = await startFakeServer(jobsFake([failed]));
  try {
    await assert.rejects(
      swapVideo({ endpoint: fake.url, source: { base64: "AA" }, target: { url: "https://x/c.mp4" }, pollIntervalMs: 5 }),
      (error) => error.code === "IMAGE_TOO_LARGE" && error.message === "Too long.",
    );
  } finally {
    await fake.close();
  }
});

test("aborting cancels the job on the service", async () => {
  const fake = await startFakeServer(jobsFake([running(1)]));
  try {
    const controller = new AbortController();
    const call = swapVideo({
      endpoint: fake.url,
      source: { base64: "AA" },
      target: { base64: "BB" },
      pollIntervalMs: 5,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await assert.rejects(call, (error) => error.code === "ABORTED");
    for (let wait = 0; wait < 50 && !fake.requests.some((r) => r.method === "DELETE"); wait++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(fake.requests.some((r) => r.method === "DELETE" && r.path === "/jobs/job1"));
  } finally {
    await fake.close();
  }
});
