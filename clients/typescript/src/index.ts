/** A typed client for the face-swap service, called directly or through RunPod's serverless cloud. */

export { listFaces, swapFaces } from "./client.js";
export { type Mode, resolveEndpoint, type Route } from "./endpoint.js";
export {
  type ClientErrorCode,
  CONTRACT_STATUS,
  type ContractErrorCode,
  FaceSwapError,
  type FaceSwapErrorCode,
  type FaceSwapErrorDetails,
  isRetryable,
} from "./errors.js";
export { retryAfterSeconds } from "./protocol.js";
export { runPodFaceSwap, type RunPodFaceSwapOptions } from "./runpod-face-swap.js";
export { swapVideo, type VideoProgress, type VideoResult, type SwapVideoOptions } from "./video.js";
export { verifyWebhook, type VerifyWebhookOptions, type WebhookHeaders } from "./webhook.js";
export type {
  BBox,
  EndpointOptions,
  Face,
  FaceEnhancer,
  FaceEnhancerModel,
  FaceMask,
  FaceMaskType,
  FaceRegion,
  FacesResult,
  ImageInput,
  ListFacesOptions,
  OutputFormat,
  PixelBoost,
  SwapOptions,
  SwappedFace,
  SwapResult,
  Swapper,
} from "./types.js";
