// The playground: pick a source and a target, click the faces, swap, and see the result beside the
// target. It uses only the public API, the way any client would:
//   GET /health                 is the service ready, and on what
//   GET /openapi.json           the request fields, to build the options form
//   POST /faces                 the faces of a picture, numbered as source_index / target_index number them
//   POST /swap                  a photo
//   POST /jobs, GET and DELETE /jobs/{id}   a clip, with its progress, and cancelling it

import { ApiError, apiKey, call, errorTitle, health, setApiKey } from "./api.js";
import { base64Blob, byId, el, fileBase64, sizeText } from "./dom.js";
import { FacePicker } from "./faces.js";
import { OptionsForm, requestSchema } from "./form.js";

const POLL_MS = 400;
const CLIP_TYPES = /^video\/|^image\/gif$/;
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

const state = {
  openapi: null,
  source: { images: [] },
  target: null, // {kind: "photo" | "clip", base64, url, name, type}
  running: null, // {abort: AbortController} for a photo, {jobId} for a clip
  resultUrl: null,
};

const options = new OptionsForm(byId("options"));
const sourcePicker = new FacePicker(byId("source-picker"), "source", () => describeSource());
const targetPicker = new FacePicker(byId("target-picker"), "target", () => describeTarget());

// ---- The service's state and the API key ----

async function watchHealth() {
  const node = byId("health");
  const body = await health().catch(() => ({ status: "unreachable" }));
  node.dataset.status = body.status;
  if (body.status === "ready") {
    const where = (body.providers || []).map((name) => name.replace("ExecutionProvider", "")).join(", ");
    node.textContent = `Ready${where ? ` on ${where}` : ""}.`;
    if (body.warning) node.append(" ", el("strong", {}, body.warning));
    return;
  }
  if (body.status === "failed") {
    node.textContent = `The models failed to load: ${body.reason || "see the service's log"}`;
  } else if (body.status === "unreachable") {
    node.textContent = "The service cannot be reached.";
  } else {
    node.textContent = body.status === "draining" ? "The service is shutting down." : "Loading the models…";
  }
  setTimeout(watchHealth, 2000);
}

/** Loads the schema (which needs the key when the service has one); asks for the key when refused. */
async function start() {
  try {
    state.openapi = await call("GET", "openapi.json");
  } catch (error) {
    if (error instanceof ApiError && error.code === "UNAUTHORIZED") {
      askForKey(apiKey() ? "That key was not accepted. Check it and try again." : "");
      return;
    }
    const load = byId("load-error");
    load.textContent = `The service's schema could not be loaded: ${error.message}`;
    load.hidden = false;
    return;
  }
  byId("key-section").hidden = true;
  byId("forget-key").hidden = !apiKey();
  // Without a key the browser manual (/docs) is served too; with one it is off, as the service decides.
  byId("docs-link").hidden = Boolean(apiKey());
  byId("workspace").hidden = false;
  setupSourceInput();
  renderOptions();
}

/** Shows the key form; a key the service refused is not kept. */
function askForKey(message) {
  setApiKey("");
  byId("workspace").hidden = true;
  byId("key-section").hidden = false;
  byId("key-error").textContent = message;
  byId("api-key").focus();
}

byId("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  setApiKey(byId("api-key").value.trim());
  byId("api-key").value = "";
  start();
});

byId("forget-key").addEventListener("click", () => {
  setApiKey("");
  window.location.reload();
});

// ---- Pictures in ----

function setupSourceInput() {
  const several = Boolean(requestSchema(state.openapi, "/swap")?.properties?.source_images);
  byId("source-file").multiple = several;
  byId("source-multiple").hidden = !several;
}

function renderOptions() {
  const path = state.target?.kind === "clip" ? "/jobs" : "/swap";
  options.render(state.openapi, requestSchema(state.openapi, path));
}

/** The faces of a picture (base64) as /faces numbers them. */
async function facesOf(base64) {
  return call("POST", "faces", { image: base64 });
}

async function chooseSource(files) {
  hideError();
  const images = [...files].filter((file) => file.type.startsWith("image/"));
  const pictures = byId("source-file").multiple ? images : images.slice(0, 1);
  if (!pictures.length) return;
  state.source = { images: await Promise.all(pictures.map(fileBase64)), names: pictures.map((file) => file.name) };
  const url = URL.createObjectURL(pictures[0]);
  if (pictures.length > 1) {
    sourcePicker.show(url, `Source photo 1 of ${pictures.length}`, [], 1, 1);
    byId("source-note").textContent =
      `${pictures.length} photos of one person: the service averages their faces into one identity.`;
    return;
  }
  byId("source-note").textContent = "Finding the faces…";
  try {
    const found = await facesOf(state.source.images[0]);
    sourcePicker.show(url, "Source photo", found.faces, found.width, found.height);
    describeSource();
  } catch (error) {
    sourcePicker.show(url, "Source photo", [], 1, 1);
    byId("source-note").textContent = "";
    showError(error);
  }
}

function describeSource() {
  const note = byId("source-note");
  if (sourcePicker.count === 0) {
    note.textContent = "No face found in this photo: choose another one.";
  } else if (sourcePicker.count === 1) {
    note.textContent = "One face found: it gives the identity.";
  } else {
    note.textContent = `${sourcePicker.count} faces found; face ${sourcePicker.selected[0]} gives the identity (click another to change).`;
  }
}

/** The first frame of a clip as a PNG (base64), drawn by the browser, to find the faces on. */
function firstFrame(url) {
  return new Promise((resolve, reject) => {
    const video = el("video", { muted: true, preload: "auto", playsinline: true });
    const timer = setTimeout(() => reject(new Error("this browser cannot show the clip")), 15000);
    video.addEventListener("error", () => {
      clearTimeout(timer);
      reject(new Error("this browser cannot decode the clip"));
    });
    // Drawn once a seek to the start has finished: at "loadeddata" a browser may not have a frame to draw yet.
    video.addEventListener("loadeddata", () => { video.currentTime = 0; }, { once: true });
    video.addEventListener("seeked", () => {
      clearTimeout(timer);
      const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
      canvas.getContext("2d").drawImage(video, 0, 0);
      resolve(canvas.toDataURL("image/png"));
    }, { once: true });
    video.src = url;
  });
}

async function chooseTarget(file) {
  hideError();
  const kind = CLIP_TYPES.test(file.type) ? "clip" : "photo";
  state.target = { kind, base64: await fileBase64(file), url: URL.createObjectURL(file), name: file.name, type: file.type };
  renderOptions();
  targetPicker.setMultiple(kind === "photo" && Boolean(requestSchema(state.openapi, "/swap")?.properties?.swaps));
  byId("target-note").textContent = "Finding the faces…";
  let picture = state.target.url;
  let probe = state.target.base64;
  if (kind === "clip" && file.type !== "image/gif") {
    try {
      picture = await firstFrame(state.target.url);
      probe = picture.split(",", 2)[1];
    } catch (error) {
      targetPicker.clear();
      byId("target-tools").hidden = false;
      byId("target-note").textContent = `The clip's faces cannot be shown (${error.message}): face 1 is swapped, or choose All faces.`;
      return;
    }
  }
  state.target.picture = picture;
  try {
    const found = await facesOf(probe);
    const description = kind === "clip" ? "The clip's first frame" : "Target photo";
    targetPicker.show(picture, description, found.faces, found.width, found.height);
    byId("target-tools").hidden = found.faces.length < 2;
    byId("pick-all").setAttribute("aria-pressed", "false");
    describeTarget();
  } catch (error) {
    targetPicker.show(picture, "Target", [], 1, 1);
    byId("target-note").textContent = "";
    showError(error);
  }
}

function describeTarget() {
  const note = byId("target-note");
  const chosen = targetPicker.selection();
  const clip = state.target?.kind === "clip" ? " (the first frame of the clip; the face is then followed)" : "";
  byId("pick-all").setAttribute("aria-pressed", String(chosen === "all"));
  if (targetPicker.count === 0) {
    note.textContent = `No face found in the target${clip}.`;
  } else if (chosen === "all") {
    note.textContent = `Every face is replaced${clip}.`;
  } else {
    const many = targetPicker.multiple ? " Click faces to add or remove them." : " Click another face to change.";
    note.textContent = `${targetPicker.count} faces found${clip}; replacing face ${chosen.join(", ")}.${targetPicker.count > 1 ? many : ""}`;
  }
}

byId("pick-all").addEventListener("click", () => targetPicker.setAll(targetPicker.selection() !== "all"));

function wireDrop(inputId, dropId, accept) {
  const input = byId(inputId);
  const zone = byId(dropId);
  input.addEventListener("change", () => input.files.length && accept(input.files));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer?.files?.length) accept(event.dataTransfer.files);
  });
}

wireDrop("source-file", "source-drop", (files) => chooseSource(files));
wireDrop("target-file", "target-drop", (files) => chooseTarget(files[0]));

// ---- The request ----

/** The request body: the pictures, the faces picked, and the options changed from their defaults. */
function requestBody() {
  const body = {};
  const sourceImages = state.source.images;
  if (sourceImages.length > 1) {
    body.source_images = sourceImages;
  } else {
    body.source_image = sourceImages[0];
    if (sourcePicker.count > 1) body.source_index = sourcePicker.selected[0];
  }
  body[state.target.kind === "clip" ? "target_video" : "target_image"] = state.target.base64;
  const chosen = targetPicker.selection();
  if (chosen === "all") {
    body.target_index = "all";
  } else if (chosen.length > 1) {
    body.swaps = chosen.map((index) => ({ source_index: body.source_index || 1, target_index: index }));
    delete body.source_index;
  } else if (chosen.length === 1) {
    body.target_index = chosen[0];
  }
  return { ...body, ...options.values() };
}

/** The body as the page shows it: each picture's base64 replaced by its size. */
function shownBody(path, body) {
  const text = JSON.stringify(body, (key, value) =>
    typeof value === "string" && value.length > 256 ? `<base64, ${sizeText((value.length * 3) / 4)}>` : value, 2);
  return `POST ${path}\n${text}`;
}

function setRunning(running) {
  state.running = running;
  byId("swap-button").disabled = Boolean(running);
  byId("cancel-button").hidden = !running;
  byId("busy-note").textContent = running ? (running.jobId !== undefined ? "The clip is being swapped…" : "Swapping…") : "";
}

async function swap() {
  hideError();
  if (!state.source.images.length || !state.target) {
    showProblem("Choose a source photo and a target first", "Both pictures are needed: the face comes from the source and goes into the target.");
    return;
  }
  let body;
  try {
    body = requestBody();
  } catch (error) {
    showProblem("An option is not valid", error.message);
    return;
  }
  byId("result-section").hidden = true;
  byId("progress-section").hidden = true;
  if (state.target.kind === "clip") await runJob(body);
  else await runPhoto(body);
}

async function runPhoto(body) {
  const abort = new AbortController();
  setRunning({ abort });
  const started = performance.now();
  try {
    const output = await call("POST", "swap", body, { signal: abort.signal });
    const seconds = (performance.now() - started) / 1000;
    showImageResult(output.image_base64, `image/${output.format}`, output.format, state.target.url);
    showFacts(photoFacts(output, seconds));
    showSwapped(output.swapped || []);
    byId("request-body").textContent = shownBody("/swap", body);
  } catch (error) {
    if (error.name === "AbortError") showProblem("Cancelled", "The swap was cancelled; nothing was kept.", "CANCELLED");
    else showError(error);
  } finally {
    setRunning(null);
  }
}

async function runJob(body) {
  const progress = byId("progress-section");
  progress.hidden = false;
  setProgress({ frames_done: 0, frames_total: 0 });
  let status;
  try {
    status = await call("POST", "jobs", body);
  } catch (error) {
    progress.hidden = true;
    showError(error);
    return;
  }
  setRunning({ jobId: status.id });
  byId("request-body").textContent = shownBody("/jobs", body);
  while (state.running?.jobId === status.id && !FINISHED.has(status.status)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (state.running?.jobId !== status.id) return;
    try {
      status = await call("GET", `jobs/${status.id}`);
    } catch (error) {
      setRunning(null);
      showError(error);
      return;
    }
    setProgress(status.progress, status.status);
  }
  setRunning(null);
  finishJob(status);
}

function finishJob(status) {
  if (status.status === "succeeded") {
    const result = status.result;
    if (result.kind === "video") showVideoResult(result);
    else showImageResult(result.base64, result.media_type, result.media_type.split("/")[1], state.target.url);
    showFacts(jobFacts(status));
    showSwapped([]);
    byId("progress-text").textContent = "Done.";
  } else if (status.status === "failed") {
    byId("progress-text").textContent = "Failed.";
    showError(new ApiError(status.error.error_code, status.error.message, 0, status.id));
  }
}

function setProgress(progress, status = "queued") {
  const bar = byId("job-progress");
  const text = byId("progress-text");
  if (!progress.frames_total) {
    bar.removeAttribute("value");
    text.textContent = status === "queued" ? "Waiting for a free slot…" : "Starting…";
    return;
  }
  bar.max = progress.frames_total;
  bar.value = progress.frames_done;
  const eta = typeof progress.eta_seconds === "number" ? `, about ${Math.ceil(progress.eta_seconds)} s left` : "";
  text.textContent = `Frame ${progress.frames_done} of ${progress.frames_total}${eta}.`;
}

async function cancel() {
  const running = state.running;
  if (!running) return;
  if (running.abort) {
    running.abort.abort();
    return;
  }
  setRunning(null);
  try {
    await call("DELETE", `jobs/${running.jobId}`);
    byId("progress-text").textContent = "Cancelled: the job stopped and its files were removed.";
  } catch (error) {
    showError(error);
  }
}

byId("swap-button").addEventListener("click", swap);
byId("cancel-button").addEventListener("click", cancel);

// ---- The result ----

function setResultUrl(blob, extension) {
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  const download = byId("download");
  download.href = state.resultUrl;
  download.download = `faceswap-result.${extension}`;
  download.textContent = `Download (${extension.toUpperCase()}, ${sizeText(blob.size)})`;
  return state.resultUrl;
}

function showImageResult(base64, type, extension, beforeUrl) {
  const url = setResultUrl(base64Blob(base64, type), extension);
  byId("compare-before").src = state.target.picture && state.target.kind === "clip" ? state.target.picture : beforeUrl;
  byId("compare-after").src = url;
  byId("compare").hidden = false;
  byId("compare-slider").hidden = false;
  byId("compare-label").hidden = false;
  byId("result-video").hidden = true;
  revealResult();
}

function showVideoResult(result) {
  const subtype = result.media_type.split("/")[1];
  const extension = { quicktime: "mov", "x-matroska": "mkv" }[subtype] || subtype;
  const url = setResultUrl(base64Blob(result.base64, result.media_type), extension);
  const video = byId("result-video");
  video.src = url;
  video.hidden = false;
  byId("compare").hidden = true;
  byId("compare-slider").hidden = true;
  byId("compare-label").hidden = true;
  revealResult();
}

/** Shows the result and moves the focus to it (which scrolls it into view on a phone). */
function revealResult() {
  byId("result-section").hidden = false;
  byId("result-title").focus({ preventScroll: true });
  byId("result-section").scrollIntoView({ block: "nearest" });
}

byId("compare-slider").addEventListener("input", (event) => {
  byId("compare").style.setProperty("--split", `${event.target.value}%`);
});

function photoFacts(output, seconds) {
  const facts = [
    ["Size", `${output.width} × ${output.height} ${output.format.toUpperCase()}`],
    ["Faces", `${output.source_faces} in the source, ${output.target_faces} in the target`],
  ];
  for (const [stage, ms] of Object.entries(output.timings_ms || {})) facts.push([`${stage} (ms)`, ms.toFixed(1)]);
  facts.push(["Round trip", `${seconds.toFixed(2)} s (upload, queue, swap and download)`]);
  if (output.recoveries?.length) facts.push(["Recovered from", output.recoveries.join(", ")]);
  facts.push(["Request id", output.request_id]);
  return facts;
}

function jobFacts(status) {
  const result = status.result;
  const facts = [["Size", `${result.width} × ${result.height}, ${result.media_type}, ${sizeText(result.size_bytes)}`]];
  if (result.kind === "video") {
    facts.push(["Frames", `${result.swapped_frames} of ${result.frames} had the face swapped`]);
    if (result.fps) facts.push(["Frame rate", `${result.fps.toFixed(2)} fps`]);
  }
  if (status.finished_at) facts.push(["Took", `${(status.finished_at - status.created_at).toFixed(1)} s`]);
  facts.push(["Job id", status.id]);
  return facts;
}

function showFacts(facts) {
  const list = byId("result-facts");
  list.replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

/** The faces swapped, with whatever scores the service reports for each (e.g. similarity). */
function showSwapped(swapped) {
  const wrap = byId("swapped-wrap");
  const columns = [...new Set(swapped.flatMap((entry) => Object.keys(entry)))];
  const scored = columns.some((name) => !name.endsWith("_index") && swapped.some((entry) => entry[name] !== null));
  wrap.hidden = !scored;
  if (!scored) return;
  const table = byId("swapped");
  table.tHead.replaceChildren(el("tr", {}, ...columns.map((name) => el("th", { scope: "col" }, name.replace(/_/g, " ")))));
  const cell = (value) => (typeof value === "number" && !Number.isInteger(value) ? value.toFixed(3) : String(value ?? "–"));
  table.tBodies[0].replaceChildren(...swapped.map((entry) => el("tr", {}, ...columns.map((name) => el("td", {}, cell(entry[name]))))));
}

// ---- Errors ----

function showProblem(title, message, code = "", detail = "") {
  byId("error-title").textContent = title;
  byId("error-message").textContent = message;
  byId("error-code").textContent = code || "none";
  byId("error-detail").textContent = detail;
  byId("error").hidden = false;
  byId("error").scrollIntoView({ block: "nearest" });
}

function showError(error) {
  if (!(error instanceof ApiError)) {
    showProblem("Something went wrong in the page", error.message || String(error));
    return;
  }
  const detail = [error.status ? `HTTP ${error.status}` : "", error.requestId ? `request id ${error.requestId}` : ""]
    .filter(Boolean)
    .map((part) => ` · ${part}`)
    .join("");
  showProblem(errorTitle(error.code, error.status), error.message, error.code, detail);
  if (error.code === "UNAUTHORIZED") askForKey("The service refused the key: type it again.");
}

function hideError() {
  byId("error").hidden = true;
}

watchHealth();
start();
