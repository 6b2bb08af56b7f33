// verifyWebhook against the Standard Webhooks test vector, signatures made here with node:crypto, and (live)
// a webhook the Python service really sent.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";

import { FaceSwapError, isRetryable, verifyWebhook } from "../dist/index.js";

// The reference libraries' vector (standard-webhooks, libraries/python/tests/test_webhooks.py).
const SPEC = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};
const specHeaders = {
  "webhook-id": SPEC.id,
  "webhook-timestamp": String(SPEC.timestamp),
  "webhook-signature": SPEC.signature,
};
const atSpecTime = { now: SPEC.timestamp * 1000 };

const SECRET = "whsec_" + Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString("base64");

/** Headers signed with node:crypto, written out from the spec, independently of the client. */
function signed(body, { secret = SECRET, id = "msg_1", timestamp = Math.floor(Date.now() / 1000) } = {}) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const mac = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${mac}` };
}

async function rejection(promise) {
  const error = await promise.then(
    () => assert.fail("the webhook was accepted"),
    (caught) => caught,
  );
  assert.ok(error instanceof FaceSwapError, String(error));
  assert.equal(error.code, "INVALID_WEBHOOK");
  assert.equal(isRetryable(error), false);
  return error;
}

test("the spec's test vector verifies, with or without the whsec_ prefix", async () => {
  assert.deepEqual(await verifyWebhook(SPEC.secret, specHeaders, SPEC.body, atSpecTime), {
    test: 2432232314,
  });
  const bare = SPEC.secret.replace("whsec_", "");
  assert.deepEqual(await verifyWebhook(bare, specHeaders, SPEC.body, atSpecTime), { test: 2432232314 });
});

test("headers in any case, as a fetch Headers, and the body as bytes are accepted", async () => {
  const body = JSON.stringify({ id: "job1", status: "succeeded" });
  const headers = signed(body);
  const shouting = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
  assert.deepEqual(await verifyWebhook(SECRET, shouting, body), { id: "job1", status: "succeeded" });
  const fetchHeaders = new Headers(headers);
  assert.equal(
    (await verifyWebhook(SECRET, fetchHeaders, new TextEncoder().encode(body))).status,
    "succeeded",
  );
});

test("one valid signature among several (secret rotation, other schemes) is enough", async () => {
  const body = '{"status":"failed"}';
  const headers = signed(body);
  headers["webhook-signature"] = [
    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
    headers["webhook-signature"],
  ].join(" ");
  assert.deepEqual(await verifyWebhook(SECRET, headers, body), { status: "failed" });
});

test("a changed body, id or timestamp, or another secret, is refused", async () => {
  const body = '{"status":"succeeded"}';
  const headers = signed(body);
  await rejection(verifyWebhook(SECRET, headers, '{"status":"succeeded" }'));
  await rejection(verifyWebhook(SECRET, { ...headers, "webhook-id": "msg_2" }, body));
  const later = String(Number(headers["webhook-timestamp"]) + 1);
  await rejection(verifyWebhook(SECRET, { ...headers, "webhook-timestamp": later }, body));
  const other = "whsec_" + Buffer.alloc(32, 7).toString("base64");
  const error = await rejection(verifyWebhook(other, headers, body));
  assert.match(error.message, /No signature of the webhook matches/);
});

test("a timestamp outside the tolerance is refused either way; the tolerance is an option", async () => {
  const body = "{}";
  const now = Date.now();
  const old = signed(body, { timestamp: Math.floor(now / 1000) - 301 });
  assert.match((await rejection(verifyWebhook(SECRET, old, body, { now }))).message, /more than 300 s old/);
  const ahead = signed(body, { timestamp: Math.floor(now / 1000) + 301 });
  assert.match((await rejection(verifyWebhook(SECRET, ahead, body, { now }))).message, /ahead/);
  assert.deepEqual(await verifyWebhook(SECRET, old, body, { now, toleranceSeconds: 600 }), {});
  await rejection(verifyWebhook(SPEC.secret, specHeaders, SPEC.body)); // the vector is years old by now
});

test("missing headers, a malformed timestamp or secret are refused with a reason", async () => {
  const body = "{}";
  const headers = signed(body);
  for (const name of Object.keys(headers)) {
    const { [name]: _, ...rest } = headers;
    assert.match((await rejection(verifyWebhook(SECRET, rest, body))).message, /lacks/);
  }
  const odd = { ...headers, "webhook-timestamp": "1e9" };
  assert.match((await rejection(verifyWebhook(SECRET, odd, body))).message, /Unix time/);
  assert.match((await rejection(verifyWebhook("whsec_***", headers, body))).message, /base64/);
  await rejection(verifyWebhook(SECRET, { ...headers, "webhook-signature": "v1,***" }, body));
});

const service = process.env.FACESWAP_TS_SERVICE ? JSON.parse(process.env.FACESWAP_TS_SERVICE) : undefined;
const skip = service?.webhook
  ? false
  : "FACESWAP_TS_SERVICE is not set (run tests/test_typescript_client.py)";

test("a webhook the service sent over HTTP verifies", { skip }, async () => {
  const { secret, headers, body, payload } = service.webhook;
  assert.deepEqual(await verifyWebhook(secret, headers, body), payload);
  await rejection(verifyWebhook(secret, headers, body.replace("succeeded", "failed")));
});
