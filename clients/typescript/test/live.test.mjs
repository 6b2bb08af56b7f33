// Against the real service that tests/test_typescript_client.py starts; skipped without FACESWAP_TS_SERVICE.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { FaceSwapError, isRetryable, listFaces, runPodFaceSwap, swapFaces } from "../dist/index.js";

const service = process.env.FACESWAP_TS_SERVICE ? JSON.parse(process.env.FACESWAP_TS_SERVICE) : undefined;
const skip = service ? false : "FACESWAP_TS_SERVICE is not set (run tests/test_typescript_client.py)";
const PNG_MAGIC = "iVBORw0KGgo";

/** `promise`'s rejection; fails the test when it resolves. */
async function failure(promise) {
  const error = await promise.then(
    () => assert.fail("the call succeeded"),
    (caught) => caught,
  );
  assert.ok(error instanceof FaceSwapError, String(error));
  return error;
}

function bothModes(base) {
  return [
    ["direct", base],
    ["runsync", `${base}/runsync`],
  ];
}

describe("the real service", { skip }, () => {
  const images = service?.images ?? {};
  const swap = (endpoint, overrides = {}) =>
    swapFaces({ endpoint, source: { url: images.one }, target: { url: images.two }, ...overrides });

  for (const [mode, endpoint] of bothModes(service?.endpoint ?? "")) {
    test(`swaps through ${mode}`, async () => {
      const result = await swap(endpoint, { targetIndex: 2 });
      assert.deepEqual([result.width, result.height], images.twoSize);
      assert.deepEqual([result.sourceFaces, result.targetFaces], [1, 2]);
      assert.equal(result.format, "png");
      assert.ok(result.imageBase64.startsWith(PNG_MAGIC));
      assert.equal(result.dataUrl, `data:image/png;base64,${result.imageBase64}`);
      assert.ok(result.requestId.length > 0);
      assert.ok(["fetch", "decode", "detect", "swap", "encode"].every((stage) => stage in result.timingsMs));
    });

    test(`a missing target face is NO_FACE through ${mode}`, async () => {
      const error = await failure(swap(endpoint, { target: { url: images.none } }));
      assert.equal(error.code, "NO_FACE");
      assert.equal(error.status, 422);
      assert.match(error.message, /target/);
      assert.ok(error.requestId);
      assert.equal(isRetryable(error), false);
    });

    test(`too high an index is FACE_INDEX_OUT_OF_RANGE with the count through ${mode}`, async () => {
      const error = await failure(swap(endpoint, { targetIndex: 3 }));
      assert.equal(error.code, "FACE_INDEX_OUT_OF_RANGE");
      assert.equal(error.status, 422);
      assert.match(error.message, /target_index 3 .*2 faces/);
    });

    test(`a wrong key is UNAUTHORIZED through ${mode}`, async () => {
      const keyed = mode === "direct" ? service.keyedEndpoint : `${service.keyedEndpoint}/runsync`;
      const error = await failure(swap(keyed, { apiKey: "wrong" }));
      assert.equal(error.code, "UNAUTHORIZED");
      assert.equal(error.status, 401);
      const result = await swap(keyed, { apiKey: service.apiKey });
      assert.equal(result.targetFaces, 2);
    });

    test(`a worker still loading is NOT_READY with retryAfter through ${mode}`, async () => {
      const loading = mode === "direct" ? service.loadingEndpoint : `${service.loadingEndpoint}/runsync`;
      const error = await failure(swap(loading));
      assert.equal(error.code, "NOT_READY");
      assert.equal(error.status, 503);
      assert.ok(error.retryAfter > 0, `retryAfter ${error.retryAfter}`);
      assert.ok(isRetryable(error));
    });
  }

  test("the web app's runPodFaceSwap swaps through the service's own /runsync", async () => {
    const options = { endpoint: `${service.endpoint}/runsync`, apiKey: "any" };
    const dataUrl = await runPodFaceSwap(images.two, images.one, 2, options);
    assert.ok(dataUrl.startsWith(`data:image/png;base64,${PNG_MAGIC}`));
    const outOfRange = await runPodFaceSwap(images.two, images.one, 3, options).catch((error) => error);
    assert.match(outOfRange.message, /^RunPod face swap failed: target_index 3 .*2 faces/);
    const loading = { ...options, endpoint: `${service.loadingEndpoint}/runsync` };
    const busy = await runPodFaceSwap(images.two, images.one, 1, loading).catch((error) => error);
    assert.equal(busy.message, "RunPod service temporarily unavailable");
  });

  for (const mode of ["direct", "runsync"]) {
    test(`the quality options reach the service through ${mode}`, async () => {
      const endpoint = mode === "direct" ? service.endpoint : `${service.endpoint}/runsync`;
      const call = (overrides) =>
        swapFaces({ endpoint, source: { url: images.one }, target: { url: images.two }, ...overrides });
      const plain = await call({});
      const tuned = await call({
        pixelBoost: 256,
        colorMatch: true,
        faceMask: { types: ["box", "occlusion", "region"], blur: 0.2, padding: [0, 0, 5, 0], regions: ["skin", "eyes"] },
        faceEnhancer: { model: "codeformer", blend: 0.7, fidelity: 0.3 },
      });
      assert.equal(tuned.format, "png");
      assert.notEqual(tuned.imageBase64, plain.imageBase64);
      const refused = await call({ faceEnhancer: { model: "restoreformer" } }).catch((error) => error);
      assert.equal(refused.code, "INVALID_INPUT");
    });
  }

  for (const mode of ["direct", "runsync"]) {
    test(`the swapper, its weight, several photos and the similarity reach the service through ${mode}`, async () => {
      const endpoint = mode === "direct" ? service.endpoint : `${service.endpoint}/runsync`;
      const call = (overrides) =>
        swapFaces({ endpoint, source: { url: images.one }, target: { url: images.two }, ...overrides });
      const plain = await call({});
      assert.equal(plain.swapped.length, 1);
      assert.equal(plain.swapped[0].similarityAfter, undefined);
      const other = await call({ swapper: "hyperswap_1a_256", swapperWeight: 0.8, reportSimilarity: true });
      assert.notEqual(other.imageBase64, plain.imageBase64);
      const after = other.swapped[0].similarityAfter;
      assert.ok(typeof after === "number" && after >= -1 && after <= 1, String(after));
      const averaged = await call({ moreSources: [{ url: images.two }] });
      assert.notEqual(averaged.imageBase64, plain.imageBase64);
      const mixed = await call({ moreSources: [{ base64: "aGk=" }] }).catch((error) => error);
      assert.equal(mixed.code, "INVALID_INPUT");
      const refused = await call({ swapper: "hyperswap_1a_256", pixelBoost: 128 }).catch((error) => error);
      assert.equal(refused.code, "INVALID_INPUT");
    });
  }

  test("base64 images with a data: prefix swap into jpeg", async () => {
    const asDataUrl = async (url) => {
      const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
      return `data:image/png;base64,${bytes.toString("base64")}`;
    };
    const result = await swapFaces({
      endpoint: service.endpoint,
      source: { base64: await asDataUrl(images.one) },
      target: { base64: await asDataUrl(images.two) },
      targetIndex: 1,
      outputFormat: "jpeg",
    });
    assert.equal(result.format, "jpeg");
    assert.ok(result.dataUrl.startsWith("data:image/jpeg;base64,/9j/"));
  });

  test("a worker with every slot taken answers BUSY with retryAfter", async () => {
    const endpoint = service.busyEndpoint;
    const first = swap(endpoint);
    for (let attempt = 0; attempt < 500; attempt += 1) {
      const health = await (await fetch(`${endpoint}/health`)).json();
      if (health.running >= 1) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const [, busy] of bothModes(endpoint)) {
      const error = await failure(swap(busy));
      assert.equal(error.code, "BUSY");
      assert.equal(error.status, 503);
      assert.ok(error.retryAfter > 0, `retryAfter ${error.retryAfter}`);
      assert.ok(isRetryable(error));
    }
    assert.equal((await first).targetFaces, 2);
  });

  for (const [mode, endpoint] of bothModes(service?.endpoint ?? "")) {
    test(`lists faces left to right through ${mode}`, async (t) => {
      const direct = await listFaces({ endpoint: service.endpoint, image: { url: images.two } }).catch(
        (error) => error,
      );
      if (direct instanceof FaceSwapError && direct.code === "HTTP_404") {
        t.skip("the service has no /faces yet");
        return;
      }
      const result = await listFaces({ endpoint, image: { url: images.two }, preview: true });
      assert.deepEqual([result.width, result.height], images.twoSize);
      assert.deepEqual(
        result.faces.map((face) => face.index),
        [1, 2],
      );
      const [left, right] = result.faces;
      assert.ok(left.bbox[0] <= right.bbox[0]);
      assert.equal(left.bbox.length, 4);
      assert.ok(left.score > 0 && left.score <= 1);
      assert.equal(left.kps.length, 5);
      assert.ok(result.previewBase64.length > 0);
      assert.ok(result.requestId);
    });
  }
});
