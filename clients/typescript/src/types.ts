/** The public shapes of calls and results. */

import type { Mode } from "./endpoint.js";

/** An image given once: an http(s) URL the service downloads, or base64 of the file (a data: URL is fine). */
export type ImageInput =
  { readonly url: string; readonly base64?: never } | { readonly base64: string; readonly url?: never };

export type OutputFormat = "png" | "jpeg" | "webp";

/** Where and how to call; shared by every operation. */
export interface EndpointOptions {
  /** This service's base URL, RunPod's `https://api.runpod.ai/v2/<id>`, or either one ending in /runsync. */
  readonly endpoint: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string | undefined;
  /** Protocol; by default inferred from `endpoint` (see resolveEndpoint). */
  readonly mode?: Mode | undefined;
  /** Limit for the whole call, polling included; default 120000. */
  readonly timeoutMs?: number | undefined;
  /** Pause between RunPod status polls; default 1000. */
  readonly pollIntervalMs?: number | undefined;
  /** Cancels the call; it then fails with code ABORTED. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Side of the aligned face crop, a multiple of the swapper's own (inswapper_128: 128 to 1024; the 256 models:
 * 256, 512, 768, 1024; simswap_unofficial_512: 512, 1024): swapped as (n/side)² interleaved tiles.
 */
export type PixelBoost = 128 | 256 | 384 | 512 | 768 | 1024;

/** The face swapper (swappers/<name>.onnx on the service; GET /models lists them with their licences). */
export type Swapper =
  | "inswapper_128"
  | "hyperswap_1a_256"
  | "hyperswap_1b_256"
  | "hyperswap_1c_256"
  | "ghost_1_256"
  | "ghost_2_256"
  | "ghost_3_256"
  | "simswap_256"
  | "simswap_unofficial_512"
  | "uniface_256";

export type FaceMaskType = "box" | "occlusion" | "region";

/** Face-parser regions a "region" mask can keep from the swap; hair, ears and neck never are. */
export type FaceRegion = "skin" | "brows" | "eyes" | "glasses" | "nose" | "mouth" | "lips";

/** Masks that limit where the swapped face is pasted; several combine by intersection. */
export interface FaceMask {
  /** Default ["box"]. "occlusion" needs masks/xseg_1.onnx, "region" masks/bisenet_resnet_34.onnx. */
  readonly types?: readonly FaceMaskType[] | undefined;
  /** Softness of the box mask's edge, 0..1; default 0.3. */
  readonly blur?: number | undefined;
  /** Percent of the crop left out at the top, right, bottom and left; default [0, 0, 0, 0]. */
  readonly padding?: readonly [number, number, number, number] | undefined;
  /** For "region": the parts swapped; default all but "glasses". */
  readonly regions?: readonly FaceRegion[] | undefined;
}

export type FaceEnhancerModel = "gfpgan_1.4" | "codeformer" | "gpen_bfr_512";

/** A face restoration model run on each swapped face (enhancers/<model>.onnx on the service). */
export interface FaceEnhancer {
  readonly model: FaceEnhancerModel;
  /** How much of the restored face, 0..1; default 0.8. */
  readonly blend?: number | undefined;
  /** codeformer only: 0 restores the most, 1 stays closest to the swap; default 0.5. */
  readonly fidelity?: number | undefined;
}

export interface SwapOptions extends EndpointOptions {
  /** The photo whose face is used. */
  readonly source: ImageInput;
  /** The photo in which a face is replaced. */
  readonly target: ImageInput;
  /** Which source face gives the identity, numbered from 1 left to right; default 1. */
  readonly sourceIndex?: number | undefined;
  /** Which target face is replaced, numbered from 1 left to right; default 1. */
  readonly targetIndex?: number | undefined;
  /** Format of the result; default png. */
  readonly outputFormat?: OutputFormat | undefined;
  /** More photos of the same person (all URLs or all base64, like `source`): one averaged identity; up to 8 in all. */
  readonly moreSources?: readonly ImageInput[] | undefined;
  /** Swap the face at this resolution; default the swapper's own crop (costs (n/side)² swaps per face). */
  readonly pixelBoost?: PixelBoost | undefined;
  /** The face swapper; default the service's (FACESWAP_SWAPPER, itself inswapper_128). */
  readonly swapper?: Swapper | undefined;
  /** Identity strength 0..1; default 0.5 (no change): lower mixes in the target's identity, higher pushes away. */
  readonly swapperWeight?: number | undefined;
  /** Report each swapped face's similarity to the source identity (SwapResult.swapped[i].similarityAfter). */
  readonly reportSimilarity?: boolean | undefined;
  /** Match the swapped face's colours to the target face's; default false. */
  readonly colorMatch?: boolean | undefined;
  /** Masks that keep hair, hands or chosen regions the target's; default the plain box. */
  readonly faceMask?: FaceMask | undefined;
  /** Restore each swapped face; default none. A missing model is MODEL_NOT_INSTALLED. */
  readonly faceEnhancer?: FaceEnhancer | undefined;
}

export interface SwapResult {
  /** The result image in base64, without a data: prefix. */
  readonly imageBase64: string;
  readonly format: OutputFormat;
  readonly width: number;
  readonly height: number;
  /** Faces found in the source image. */
  readonly sourceFaces: number;
  /** Faces found in the target image. */
  readonly targetFaces: number;
  /** Milliseconds per stage: fetch, decode, detect, swap, encode. */
  readonly timingsMs: Readonly<Record<string, number>>;
  /** The service's request id (RunPod's job id when the service gave none). */
  readonly requestId: string;
  /** `data:image/<format>;base64,<imageBase64>`, ready for an <img> or a Next.js response. */
  readonly dataUrl: string;
  /** The result's id, in its invisible watermark and C2PA manifest (`POST /provenance` reads it back). */
  readonly outputId?: string;
  /** The swaps made, in order. */
  readonly swapped: readonly SwappedFace[];
}

/** One swap that was made. */
export interface SwappedFace {
  readonly sourceIndex: number;
  readonly targetIndex: number;
  /** With reportSimilarity: ArcFace cosine (-1..1) of the source identity and the swapped face as pasted. */
  readonly similarityAfter?: number | undefined;
}

export interface ListFacesOptions extends EndpointOptions {
  readonly image: ImageInput;
  /** Also return a preview of the image with the faces numbered. */
  readonly preview?: boolean | undefined;
}

/** x1, y1, x2, y2 in pixels of the (possibly downscaled) image. */
export type BBox = readonly [number, number, number, number];

export interface Face {
  /** The number to pass as sourceIndex or targetIndex. */
  readonly index: number;
  readonly bbox: BBox;
  /** Detector confidence, 0 to 1. */
  readonly score: number;
  /** Five landmarks: eyes, nose, mouth corners, as [x, y]. */
  readonly kps: ReadonlyArray<readonly [number, number]>;
}

export interface FacesResult {
  /** Faces numbered from 1, left to right. */
  readonly faces: readonly Face[];
  readonly width: number;
  readonly height: number;
  /** The preview image in base64, when asked for. */
  readonly previewBase64?: string;
  readonly requestId: string;
}
