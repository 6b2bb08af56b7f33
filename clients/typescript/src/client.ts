/** The two operations: swapFaces and listFaces. */

import { resolveEndpoint } from "./endpoint.js";
import { FaceSwapError } from "./errors.js";
import { callDirect, callRunsync, isJson, type Json, type Settled } from "./protocol.js";
import { Deadline } from "./transport.js";
import type {
  BBox,
  EndpointOptions,
  Face,
  FacesResult,
  ImageInput,
  ListFacesOptions,
  OutputFormat,
  SwapOptions,
  SwappedFace,
  SwapResult,
} from "./types.js";

const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
const FORMATS: ReadonlySet<unknown> = new Set(["png", "jpeg", "webp"]);

function present(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

/** The wire fields for one image: `{[urlField]: url}` or `{[base64Field]: base64}`. */
function imageFields(image: ImageInput, urlField: string, base64Field: string, name: string): Json {
  const { url, base64 } = (isJson(image) ? image : {}) as { url?: unknown; base64?: unknown };
  if (present(url) === present(base64)) {
    throw new FaceSwapError("INVALID_INPUT", `Give the ${name} once, as url or as base64.`);
  }
  return present(url) ? { [urlField]: url } : { [base64Field]: base64 };
}

function milliseconds(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) {
    return fallback;
  }
  if (!Number.isFinite(value) || value < 0) {
    throw new FaceSwapError("INVALID_INPUT", `${name} must be a number of milliseconds, 0 or more.`);
  }
  return value;
}

/** Run one operation: `path` with `payload` in direct mode, `input` through runsync otherwise. */
async function perform(options: EndpointOptions, path: string, payload: Json, input: Json): Promise<Settled> {
  const route = resolveEndpoint(options.endpoint, options.mode);
  const timeoutMs = milliseconds(options.timeoutMs, "timeoutMs", DEFAULT_TIMEOUT_MS);
  const pollIntervalMs = milliseconds(options.pollIntervalMs, "pollIntervalMs", DEFAULT_POLL_INTERVAL_MS);
  const deadline = new Deadline(timeoutMs, options.signal);
  const call = { route, apiKey: options.apiKey, pollIntervalMs, deadline };
  try {
    return route.mode === "direct" ? await callDirect(call, path, payload) : await callRunsync(call, input);
  } finally {
    deadline.finish();
  }
}

function count(value: unknown): number {
  return typeof value === "number" ? value : 0;
}

function swapResult({ output, requestId }: Settled): SwapResult {
  const imageBase64 = output["image_base64"];
  if (!present(imageBase64)) {
    throw new FaceSwapError("BAD_RESPONSE", "The endpoint reported success but sent no image.", {
      requestId,
    });
  }
  const format = (FORMATS.has(output["format"]) ? output["format"] : "png") as OutputFormat;
  const timings = output["timings_ms"];
  const outputId = output["output_id"];
  return {
    imageBase64,
    format,
    width: count(output["width"]),
    height: count(output["height"]),
    sourceFaces: count(output["source_faces"]),
    targetFaces: count(output["target_faces"]),
    timingsMs: isJson(timings) ? (timings as Record<string, number>) : {},
    requestId,
    dataUrl: `data:image/${format};base64,${imageBase64}`,
    ...(present(outputId) ? { outputId } : {}),
    swapped: Array.isArray(output["swapped"]) ? output["swapped"].map(swappedFace) : [],
  };
}

function swappedFace(value: unknown): SwappedFace {
  const item = isJson(value) ? value : {};
  const after = item["similarity_after"];
  return {
    sourceIndex: count(item["source_index"]),
    targetIndex: count(item["target_index"]),
    ...(typeof after === "number" ? { similarityAfter: after } : {}),
  };
}

/** The wire fields for the source photo(s): one, or all of them as source_urls / source_images. */
function sourceFields(source: ImageInput, more: readonly ImageInput[] | undefined): Json {
  if (more === undefined || more.length === 0) {
    return imageFields(source, "source_url", "source_image", "source image");
  }
  const photos = [source, ...more].map((photo, index) =>
    imageFields(photo, "url", "base64", `source photo ${index + 1}`),
  );
  const urls = photos.map((photo) => photo["url"]).filter(present);
  const images = photos.map((photo) => photo["base64"]).filter(present);
  if (urls.length !== photos.length && images.length !== photos.length) {
    throw new FaceSwapError("INVALID_INPUT", "Give every source photo as a url, or every one as base64.");
  }
  return urls.length === photos.length ? { source_urls: urls } : { source_images: images };
}

function face(value: unknown): Face {
  const item = isJson(value) ? value : {};
  return {
    index: count(item["index"]),
    bbox: (Array.isArray(item["bbox"]) ? item["bbox"] : [0, 0, 0, 0]) as unknown as BBox,
    score: count(item["score"]),
    kps: (Array.isArray(item["kps"]) ? item["kps"] : []) as Face["kps"],
  };
}

function facesResult({ output, requestId }: Settled): FacesResult {
  const faces = output["faces"];
  if (!Array.isArray(faces)) {
    throw new FaceSwapError("BAD_RESPONSE", "The endpoint reported success but sent no face list.", {
      requestId,
    });
  }
  const preview = output["preview_base64"];
  return {
    faces: faces.map(face),
    width: count(output["width"]),
    height: count(output["height"]),
    ...(present(preview) ? { previewBase64: preview } : {}),
    requestId,
  };
}

/** Swap the source's chosen face into the target's chosen face; rejects with FaceSwapError. */
export async function swapFaces(options: SwapOptions): Promise<SwapResult> {
  const fields: Json = {
    ...sourceFields(options.source, options.moreSources),
    ...imageFields(options.target, "target_url", "target_image", "target image"),
    source_index: options.sourceIndex,
    target_index: options.targetIndex,
    output_format: options.outputFormat,
    pixel_boost: options.pixelBoost,
    color_match: options.colorMatch,
    face_mask: options.faceMask,
    face_enhancer: options.faceEnhancer,
    swapper: options.swapper,
    swapper_weight: options.swapperWeight,
    report_similarity: options.reportSimilarity,
  };
  return swapResult(await perform(options, "/swap", fields, fields));
}

/** The faces of one image, numbered as swapFaces counts them; rejects with FaceSwapError. */
export async function listFaces(options: ListFacesOptions): Promise<FacesResult> {
  const fields: Json = {
    ...imageFields(options.image, "image_url", "image", "image"),
    preview: options.preview,
  };
  return facesResult(await perform(options, "/faces", fields, { action: "faces", ...fields }));
}
