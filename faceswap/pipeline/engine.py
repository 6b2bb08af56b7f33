"""The swap pipeline, pure of HTTP: bytes in, encoded image out.

decode + resize ─▶ source: detect → pick → embed (cached by content)
                ─▶ target: (content guard) → detect (cached by content) → pick
                ─▶ swap the 128 crop (or k² interleaved tiles of a k·128 one: pixel boost)
                ─▶ (optional) masks: box, occlusion (XSeg), region (BiSeNet); colour match
                ─▶ blend back into the face's region ─▶ (optional) restore the face
                ─▶ watermark ─▶ encode (with the XMP label) ─▶ (with a certificate) sign the C2PA manifest

When the source's embedding is not cached, its decode runs on the shared pool while the target is
decoded on the request's thread; its errors still surface where they always did, after the target's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import onnxruntime as ort

from faceswap.config import Settings
from faceswap.constants import OutputFormat
from faceswap.errors import ErrorCode, SwapError
from faceswap.models.extras import parse_names as preload_names
from faceswap.models.loader import FaceModels, Swapper
from faceswap.models.optional import OCCLUDER, PARSER, OptionalModels
from faceswap.pipeline.align import TEMPLATES, align_face, align_to, template_for
from faceswap.pipeline.arrays import Frame, Mask
from faceswap.pipeline.blend import Patch, crop_mask, paste_back
from faceswap.pipeline.boost import swap_boosted
from faceswap.pipeline.budget import DecodeBudget
from faceswap.pipeline.color import match_colors
from faceswap.pipeline.cost import cost_of, refuse_over
from faceswap.pipeline.decode import decode_image, fit_within
from faceswap.pipeline.detect import Face, detect_faces, pick_face
from faceswap.pipeline.embed import embed_face, embed_face_raw, normalise_embedding
from faceswap.pipeline.encode import encode_image
from faceswap.pipeline.enhance import align_ffhq, mix_patch, restore_crop
from faceswap.pipeline.mask import box_mask, combine_masks, face_shape_mask, occlusion_mask, region_mask
from faceswap.pipeline.quality import DEFAULT_QUALITY, Enhancer, FaceMask, Quality, check_pixel_boost
from faceswap.pipeline.select import Assignment, TargetChoice, best_match, plan_assignments
from faceswap.pipeline.swap import shrink_arena_options, swap_crop
from faceswap.pipeline.swappers import DEFAULT_SWAPPER, SWAPPERS, family_of
from faceswap.pipeline.swappers.base import DEFAULT_WEIGHT, Identity, LoadedSwapper, balance, run_swapper
from faceswap.pipeline.swappers.uniface import PORTRAIT_TEMPLATE
from faceswap.provenance.credentials import Ingredient, sniff_media_type
from faceswap.provenance.policy import Provenance
from faceswap.runtime import pool
from faceswap.runtime.cache import LruCache, content_key
from faceswap.runtime.failpoints import Failpoints, allocation_failure
from faceswap.runtime.memory import is_out_of_memory, release_free_heap

__all__ = ["Engine", "OutputFormat", "SourceIdentity", "SwapResult", "average_identity"]

log = logging.getLogger(__name__)

Checkpoint = Callable[[], None]
T = TypeVar("T")

RETRY_DETECTION_SIZE = 320


@dataclass(frozen=True)
class SourceIdentity:
    """What a swap needs from the source photo(s): the chosen face's embedding (normalised; with several
    photos, the mean of theirs), its raw embedding, the face count and, for the swappers that take an
    image, the first photo's face aligned for them."""

    embedding: np.ndarray
    face_count: int
    raw: np.ndarray | None = None
    portrait: Frame | None = None

    def identity(self) -> Identity:
        """As the swappers' recipes read it."""
        raw = self.raw if self.raw is not None else self.embedding
        return Identity(normed=self.embedding, raw=raw, portrait=self.portrait)


def average_identity(identities: Sequence[SourceIdentity]) -> SourceIdentity:
    """One identity from several photos of one person (FaceFusion's `average_face_identity`): the mean of
    the normalised embeddings and of the raw ones, the first photo's face count and portrait. One photo
    gives itself."""
    if len(identities) == 1:
        return identities[0]
    first = identities[0]
    raws = [item.raw if item.raw is not None else item.embedding for item in identities]
    return SourceIdentity(
        embedding=np.mean([item.embedding for item in identities], axis=0).astype(np.float32),
        face_count=first.face_count,
        raw=np.mean(raws, axis=0).astype(np.float32),
        portrait=first.portrait,
    )


@dataclass
class SwapResult:
    """The encoded result and what the response reports about it."""

    image: bytes
    format: OutputFormat
    width: int
    height: int
    source_faces: int
    target_faces: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    recoveries: list[str] = field(default_factory=list)
    swapped: list[Assignment] = field(default_factory=list)
    output_id: str = ""
    """The output's id: in its watermark and manifest, and in the log."""


@dataclass(frozen=True)
class _SourcePhotos:
    """The source photo (its content key and decode under way) and any more photos of the same person."""

    first: bytes
    more: tuple[bytes, ...]
    digest: str
    frame: Callable[[], np.ndarray] | None
    portrait: bool


class _Stopwatch:
    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000.0
            self.timings_ms[name] = round(self.timings_ms.get(name, 0.0) + elapsed, 2)


def _no_checkpoint() -> None:
    return None


def _source_role(number: int) -> str:
    """How messages name the `number`-th source photo: "source", then "source 2", "source 3"..."""
    return "source" if number == 1 else f"source {number}"


def _apply(frame: np.ndarray, patch: Patch | None) -> None:
    """Write a patch into the frame it was made for."""
    if patch is not None:
        height, width = patch.pixels.shape[:2]
        frame[patch.y : patch.y + height, patch.x : patch.x + width] = patch.pixels


class Engine:
    """One process-wide swap pipeline over loaded models; thread-safe, models never mutated."""

    def __init__(
        self,
        models: FaceModels,
        settings: Settings,
        failpoints: Failpoints | None = None,
        cpu_swapper: Callable[[], Swapper] | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        self.models = models
        self._load_cpu_swapper = cpu_swapper
        self._cpu_loaded: Swapper | None = None
        self._cpu_lock = threading.Lock()
        self.settings = settings
        self.failpoints = failpoints or Failpoints()
        self.providers: tuple[str, ...] = tuple(models.providers)
        self.identities: LruCache[SourceIdentity] = LruCache(settings.embedding_cache_size)
        self.detections: LruCache[list[Face]] = LruCache(settings.detection_cache_size)
        self._shrink_options = shrink_arena_options(models.providers)
        self.decode_budget = DecodeBudget(settings.max_decode_bytes, settings.max_large_decodes)
        self.optional = OptionalModels(settings, self.providers)
        self.provenance = provenance or Provenance.from_settings(settings, self.providers)
        if settings.preload.strip():
            self.optional.preload(preload_names(settings.preload))

    def swap(
        self,
        source: bytes,
        target: bytes,
        *,
        source_index: int = 1,
        target_index: TargetChoice = 1,
        pairs: Sequence[tuple[int, int]] | None = None,
        reference: bytes | None = None,
        min_similarity: float = 0.3,
        output_format: OutputFormat = "png",
        checkpoint: Checkpoint = _no_checkpoint,
        quality: Quality = DEFAULT_QUALITY,
        extra_sources: Sequence[bytes] = (),
        on_cost: Callable[[int], None] | None = None,
    ) -> SwapResult:
        """Put source identities onto target faces: a pair, `pairs`, every face, or the one like `reference`.

        Faces are swapped in one pass, each blended into the result of the previous one; `quality`
        applies to every one of them. `extra_sources`: more photos of the source person, whose identity
        is averaged with the source's (each photo's `source_index`-th face). `on_cost(runs)` once the
        faces are found and the cost allowed, before any swap (a job's deadline is charged with it).
        """
        if self.failpoints.hit("crash"):
            raise RuntimeError("injected crash (failpoint crash)")
        self.require_models(quality)
        clock = _Stopwatch()
        recoveries: list[str] = []
        digest = content_key(source)
        portrait = self.needs_portrait(quality)
        source_frame = self._decode_ahead(source, digest, pairs[0][0] if pairs else source_index, portrait)
        with clock.stage("decode"):
            frame = self.load_frame(target, "target")
        checkpoint()
        self._guard(frame, clock)
        faces = self.faces(target, frame, clock=clock, recoveries=recoveries)
        if reference is not None:
            index, similarity = self._match_reference(
                reference, frame, faces, min_similarity, clock, recoveries
            )
            assignments = [Assignment(source_index, index, similarity)]
        else:
            assignments = plan_assignments(
                faces, source_index=source_index, target_index=target_index, pairs=pairs
            )
        self._allow_cost(quality, len(assignments), on_cost)
        indices = list(dict.fromkeys(assignment.source_index for assignment in assignments))
        photos = _SourcePhotos(source, tuple(extra_sources), digest, source_frame, portrait)
        identities = {index: self._photos_identity(photos, index, clock, recoveries) for index in indices}
        release_free_heap()  # the detector's and recognizer's buffers, before the swapper's are allocated
        for number, assignment in enumerate(assignments):
            checkpoint()
            with clock.stage("swap"):
                after = self._swap_into(
                    frame,
                    faces[assignment.target_index - 1],
                    identities[assignment.source_index],
                    recoveries,
                    quality,
                    checkpoint,
                )
            if after is not None:
                assignments[number] = replace(assignment, similarity_after=after)
        checkpoint()
        swapper = quality.swapper or self.settings.swapper
        image, output_id = self._finish(frame, output_format, target, clock, swapper)
        height, width = frame.shape[:2]
        release_free_heap()  # what this request allocated goes back to the system, not to the next one
        return SwapResult(
            image=image,
            format=output_format,
            width=width,
            height=height,
            source_faces=next(iter(identities.values())).face_count,
            target_faces=len(faces),
            timings_ms=clock.timings_ms,
            recoveries=recoveries,
            swapped=assignments,
            output_id=output_id,
        )

    def _allow_cost(self, quality: Quality, faces: int, on_cost: Callable[[int], None] | None) -> None:
        """COST_LIMIT_EXCEEDED when swapping `faces` faces costs too many runs; else `on_cost(runs)`."""
        cost = cost_of(quality, faces, swapper=self.settings.swapper)
        refuse_over(cost, self.settings.max_request_cost)
        if on_cost is not None:
            on_cost(cost)

    def _guard(self, frame: np.ndarray, clock: _Stopwatch) -> None:
        """The content guard's verdict on the target (CONTENT_REFUSED), when the guard is on."""
        if self.provenance.guard is not None:
            with clock.stage("guard"):
                self.provenance.check_target(frame)

    def _finish(
        self, frame: np.ndarray, output_format: OutputFormat, target: bytes, clock: _Stopwatch, swapper: str
    ) -> tuple[bytes, str]:
        """Watermark, encode (with the XMP label) and sign the result; the bytes and their output id."""
        output_id = self.provenance.new_output_id()
        with clock.stage("watermark"):
            marked = self.provenance.mark(frame, output_id)
        with clock.stage("encode"):
            image = self.encode(marked, output_format)
        if self.provenance.credentials is not None:
            with clock.stage("sign"):
                parent_type = sniff_media_type(target[:64])
                image = self.provenance.seal(
                    image,
                    f"image/{output_format}",
                    output_id=output_id,
                    swapper=swapper,
                    parent=Ingredient(parent_type, data=target) if parent_type else None,
                )
        log.info("made output %s", output_id)
        return image, output_id

    def _photos_identity(
        self, photos: _SourcePhotos, index: int, clock: _Stopwatch, recoveries: list[str]
    ) -> SourceIdentity:
        """The identity of the `index`-th face of the source photo, averaged with the other photos'."""
        first = self.source_identity(
            photos.first,
            index,
            clock=clock,
            recoveries=recoveries,
            digest=photos.digest,
            frame=photos.frame,
            portrait=photos.portrait,
        )
        more = [
            self.source_identity(extra, index, clock=clock, recoveries=recoveries, role=_source_role(number))
            for number, extra in enumerate(photos.more, start=2)
        ]
        return average_identity([first, *more])

    def list_faces(self, data: bytes, *, clock: _Stopwatch | None = None) -> tuple[np.ndarray, list[Face]]:
        """The working-size frame of an image and its faces in contract order."""
        clock = clock or _Stopwatch()
        with clock.stage("decode"):
            frame = self.load_frame(data, "image")
        return frame, self.faces(data, frame, clock=clock)

    def _match_reference(
        self,
        reference: bytes,
        frame: np.ndarray,
        faces: list[Face],
        threshold: float,
        clock: _Stopwatch,
        recoveries: list[str],
    ) -> tuple[int, float]:
        wanted = self.source_identity(reference, 1, clock=clock, recoveries=recoveries, role="reference")
        with clock.stage("embed"):
            candidates = [embed_face(self.models.recognizer, frame, face) for face in faces]
        return best_match(wanted.embedding, candidates, threshold)

    def load_frame(self, data: bytes, role: str) -> np.ndarray:
        """Decode, orient and downscale an image to the working size (a frame this engine owns)."""
        decoded = decode_image(
            data,
            max_pixels=self.settings.max_pixels,
            role=role,
            max_dimension=self.settings.max_dimension,
            budget=self.decode_budget,
        )
        frame = fit_within(decoded.pixels, self.settings.max_dimension)
        return frame if frame.flags.writeable and frame.flags.c_contiguous else np.ascontiguousarray(frame)

    def source_identity(
        self,
        source: bytes,
        index: int,
        *,
        clock: _Stopwatch | None = None,
        recoveries: list[str] | None = None,
        role: str = "source",
        digest: str | None = None,
        frame: Callable[[], np.ndarray] | None = None,
        portrait: bool = False,
    ) -> SourceIdentity:
        """The embedding of the `index`-th face of an image, from the cache when this content was seen.

        `digest` is the image's `content_key` when the caller has it; `frame`, its decode already under way;
        `portrait`: also align the face for the swappers that take an image.
        """
        clock = clock or _Stopwatch()
        digest = digest or content_key(source)
        key = self._identity_key(digest, index, portrait)
        cached = self.identities.get(key)
        if cached is not None:
            return cached
        with clock.stage("decode"):
            pixels = frame() if frame is not None else self.load_frame(source, role)
        faces = self.faces(source, pixels, clock=clock, recoveries=recoveries, digest=digest)
        face = pick_face(faces, index, role)
        with clock.stage("embed"):
            raw = embed_face_raw(self.models.recognizer, pixels, face)
        aligned = align_to(pixels, face.keypoints, *PORTRAIT_TEMPLATE)[0] if portrait else None
        identity = SourceIdentity(normalise_embedding(raw), len(faces), raw, aligned)
        self.identities.put(key, identity)
        return identity

    def source_identities(self, sources: Sequence[bytes], index: int, quality: Quality) -> SourceIdentity:
        """One identity from one or more photos of the source person (their `index`-th faces)."""
        portrait = self.needs_portrait(quality)
        return average_identity(
            [
                self.source_identity(data, index, role=_source_role(number), portrait=portrait)
                for number, data in enumerate(sources, start=1)
            ]
        )

    def needs_portrait(self, quality: Quality) -> bool:
        """Whether the swapper `quality` resolves to takes the source face as an image."""
        return SWAPPERS[quality.swapper or self.settings.swapper].source == "image"

    def _identity_key(self, digest: str, index: int, portrait: bool = False) -> tuple[str, int, int, bool]:
        return (digest, index, self.settings.max_dimension, portrait)

    def _decode_ahead(
        self, source: bytes, digest: str, index: int, portrait: bool
    ) -> Callable[[], np.ndarray] | None:
        """The source's decode, started on the shared pool, when its `index`-th face is not cached."""
        if self._identity_key(digest, index, portrait) in self.identities:
            return None
        return pool.start(lambda: self.load_frame(source, "source")).result

    def faces(
        self,
        data: bytes,
        frame: np.ndarray,
        *,
        clock: _Stopwatch | None = None,
        recoveries: list[str] | None = None,
        digest: str | None = None,
    ) -> list[Face]:
        """Faces of the image whose bytes are `data` (`content_key` `digest`, when known) and decoded frame
        is `frame`, cached by content."""
        clock = clock or _Stopwatch()
        key = (digest or content_key(data), self.settings.max_dimension)
        cached = self.detections.get(key)
        if cached is not None:
            return cached
        with clock.stage("detect"):
            faces = self._detect(frame, recoveries if recoveries is not None else [])
        self.detections.put(key, faces)
        return faces

    def encode(self, frame: np.ndarray, output_format: OutputFormat) -> bytes:
        """Encode with the configured quality settings and label."""
        return encode_image(
            frame,
            output_format,
            png_compression=self.settings.png_compression,
            jpeg_quality=self.settings.jpeg_quality,
            webp_quality=self.settings.webp_quality,
            label=self.settings.label_outputs,
        )

    def detect(self, frame: np.ndarray, recoveries: list[str]) -> list[Face]:
        """Faces of one decoded frame (a video frame: never cached), with the out-of-memory retry."""
        return self._detect(frame, recoveries)

    def embed(self, frame: np.ndarray, face: Face) -> np.ndarray:
        """The identity embedding of one face of a decoded frame."""
        return embed_face(self.models.recognizer, frame, face)

    def swap_face(
        self,
        frame: np.ndarray,
        face: Face,
        identity: SourceIdentity,
        recoveries: list[str],
        quality: Quality = DEFAULT_QUALITY,
        *,
        checkpoint: Checkpoint | None = None,
    ) -> float | None:
        """Swap `identity` onto `face`, in place in `frame` (a frame the caller owns); with
        `report_similarity`, the swapped face's similarity to the identity.

        `checkpoint()` runs before each model run (every pixel-boost tile, mask and restoration) and raises
        to stop, so a deadline or a cancel ends the work within one model run.
        """
        return self._swap_into(frame, face, identity, recoveries, quality, checkpoint or _no_checkpoint)

    def _detect(self, frame: np.ndarray, recoveries: list[str]) -> list[Face]:
        def attempt(longest: int) -> Callable[[], list[Face]]:
            def run() -> list[Face]:
                if self.failpoints.hit("detect_oom"):
                    raise allocation_failure("Conv")
                return detect_faces(
                    self.models.detector, frame, longest=longest, threshold=self.settings.det_thresh
                )

            return run

        smaller = min(RETRY_DETECTION_SIZE, self.settings.det_size)
        return self._with_oom_recovery(
            "detect",
            [attempt(self.settings.det_size), attempt(smaller)],
            [f"detect: out of memory, retried at detection size {smaller}"],
            recoveries,
        )

    def require_models(self, quality: Quality) -> None:
        """Load the optional models `quality` needs now: MODEL_NOT_INSTALLED before any work is done;
        INVALID_INPUT when its pixel boost does not suit the swapper it resolves to."""
        name = quality.swapper or self.settings.swapper
        try:
            check_pixel_boost(name, quality.pixel_boost)
        except ValueError as exc:
            raise SwapError(ErrorCode.INVALID_INPUT, f"{exc}.") from exc
        self.swapper(name)
        types = quality.face_mask.types if quality.face_mask else ()
        for wanted, spec in (("occlusion", OCCLUDER), ("region", PARSER)):
            if wanted in types:
                self.optional.session(spec.name)
        if quality.face_enhancer is not None:
            self.optional.session(quality.face_enhancer.model)

    def loaded_models(self) -> tuple[str, ...]:
        """The names of every model with a session in this engine: the core three and the optional ones."""
        return ("det_10g", "w600k_r50", DEFAULT_SWAPPER, *self.optional.loaded)

    def swapper(self, name: str) -> LoadedSwapper:
        """The swapper `name` with what its recipe needs; MODEL_NOT_INSTALLED when a file is missing."""
        model = SWAPPERS[name]
        if name == DEFAULT_SWAPPER:
            core = self.models.swapper
            return LoadedSwapper(model, core.session, core.input_names, core.emap)
        session = self.optional.session(name)
        converter = self.optional.session(model.converter) if model.converter else None
        return LoadedSwapper(model, session, [value.name for value in session.get_inputs()], None, converter)

    def _source_vector(
        self, loaded: LoadedSwapper, identity: SourceIdentity, frame: np.ndarray, face: Face, weight: float
    ) -> np.ndarray:
        """The swapper's `source` input for `identity`, with identity strength `weight` applied."""
        family = family_of(loaded.model)
        source = family.source_input(identity.identity(), loaded)
        if family.target_vector is None or weight == DEFAULT_WEIGHT:
            return source
        target = family.target_vector(embed_face_raw(self.models.recognizer, frame, face))
        return balance(source, target, weight)

    def _swap_into(
        self,
        frame: np.ndarray,
        face: Face,
        identity: SourceIdentity,
        recoveries: list[str],
        quality: Quality = DEFAULT_QUALITY,
        checkpoint: Checkpoint = _no_checkpoint,
    ) -> float | None:
        """Swap one face in place: align, (mask), swap the tiles, (mask, colour), paste back, (restore);
        with `report_similarity`, the pasted face's similarity to the identity.

        `checkpoint` runs before every model run, so the deadline can stop the work inside a face.
        """
        loaded = self.swapper(quality.swapper or self.settings.swapper)
        model = loaded.model
        size = quality.pixel_boost or model.crop
        points = template_for(size) if model.name == DEFAULT_SWAPPER else TEMPLATES[model.template] * size
        if model.name == DEFAULT_SWAPPER:
            crop, matrix = align_face(frame, face.keypoints, size)
        else:
            crop, matrix = align_to(frame, face.keypoints, model.template, size)
        face_mask = quality.face_mask
        mask = self._target_mask(crop, face_mask) if face_mask else None
        source = self._source_vector(loaded, identity, frame, face, quality.swapper_weight)
        swapped = self._swap_crop(crop, loaded, source, recoveries, checkpoint)
        parsed = None
        if face_mask and "region" in face_mask.types:
            checkpoint()
            parsed = region_mask(self.optional.session(PARSER.name), swapped, face_mask.regions)
            mask = parsed if mask is None else combine_masks([mask, parsed])
        if quality.color_match:
            face_only = face_shape_mask(points, size) if parsed is None else parsed
            paste = crop_mask(size) if mask is None else mask
            swapped = match_colors(swapped, crop, combine_masks([face_only, paste]))
        _apply(frame, paste_back(frame, swapped, matrix, mask))
        if quality.face_enhancer is not None:
            checkpoint()
            self._enhance_into(frame, face, quality.face_enhancer, face_mask or FaceMask())
        if not quality.report_similarity:
            return None
        after = embed_face(self.models.recognizer, frame, face)
        return round(float(np.dot(normalise_embedding(identity.embedding), after)), 4)

    def _enhance_into(self, frame: np.ndarray, face: Face, enhancer: Enhancer, face_mask: FaceMask) -> None:
        """Restore the swapped face in place: FFHQ-aligned, restored, pasted back, mixed by `blend`."""
        crop, matrix = align_ffhq(frame, face.keypoints)
        restored = restore_crop(self.optional.session(enhancer.model), crop, enhancer.fidelity)
        masks = [box_mask(crop.shape[0], face_mask.blur, (0.0, 0.0, 0.0, 0.0))]
        if "occlusion" in face_mask.types:
            masks.append(occlusion_mask(self.optional.session(OCCLUDER.name), crop))
        patch = paste_back(frame, restored, matrix, combine_masks(masks))
        _apply(frame, mix_patch(frame, patch, enhancer.blend) if patch is not None else None)

    def _target_mask(self, crop: Frame, face_mask: FaceMask) -> Mask | None:
        """The masks made from the target crop before the swap (box, occlusion), combined."""
        masks = []
        if "box" in face_mask.types:
            masks.append(box_mask(crop.shape[0], face_mask.blur, face_mask.padding))
        if "occlusion" in face_mask.types:
            masks.append(occlusion_mask(self.optional.session(OCCLUDER.name), crop))
        return combine_masks(masks) if masks else None

    def _swap_crop(
        self,
        crop: Frame,
        loaded: LoadedSwapper,
        source: np.ndarray,
        recoveries: list[str],
        checkpoint: Checkpoint = _no_checkpoint,
    ) -> Frame:
        """The swapped crop (tiles of the model's side when boosted), with out-of-memory recovery;
        `checkpoint` before every tile."""
        swapper = self.models.swapper
        inswapper = loaded.model.name == DEFAULT_SWAPPER

        def swap_tile(model: Swapper, tile: Frame, options: ort.RunOptions | None) -> Frame:
            checkpoint()
            return swap_crop(model.session, model.input_names, tile, source, options, model.tail)

        def run_tile(tile: Frame, options: ort.RunOptions | None) -> Frame:
            checkpoint()
            return run_swapper(loaded, tile, source, options)

        def attempt(options: ort.RunOptions | None, on_cpu: bool = False) -> Callable[[], np.ndarray]:
            def run() -> np.ndarray:
                self.failpoints.delay("slow_swap")
                if self.failpoints.hit("swap_oom"):
                    raise allocation_failure("Conv")
                if not inswapper:
                    return swap_boosted(crop, lambda tile: run_tile(tile, options), loaded.model.crop)
                model = self._cpu_swapper() if on_cpu else swapper
                return swap_boosted(crop, lambda tile: swap_tile(model, tile, options))

            return run

        attempts = [attempt(None), attempt(self._shrink_options)]
        notes = ["swap: out of memory, retried after releasing the memory arena"]
        if self._load_cpu_swapper is not None and inswapper:
            attempts.append(attempt(None, on_cpu=True))
            notes.append("swap: out of memory on the GPU, retried on the CPU")
        return self._with_oom_recovery("swap", attempts, notes, recoveries)

    def _cpu_swapper(self) -> Swapper:
        """The swapper on the CPU provider, loaded on first need (only with FACESWAP_CPU_FALLBACK)."""
        assert self._load_cpu_swapper is not None
        with self._cpu_lock:
            if self._cpu_loaded is None:
                log.warning("loading the CPU fallback swapper")
                self._cpu_loaded = self._load_cpu_swapper()
            return self._cpu_loaded

    def _with_oom_recovery(
        self, stage: str, attempts: list[Callable[[], T]], notes: list[str], recoveries: list[str]
    ) -> T:
        """Run the first attempt; after each out-of-memory failure, the next one; then OUT_OF_MEMORY."""
        for number, attempt in enumerate(attempts):
            try:
                result = attempt()
            except SwapError:
                raise
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                log.warning("%s ran out of memory (attempt %d of %d)", stage, number + 1, len(attempts))
                continue
            if number:
                recoveries.append(notes[number - 1])
                log.warning("recovered: %s", notes[number - 1])
            return result
        raise SwapError(
            ErrorCode.OUT_OF_MEMORY,
            f"The worker ran out of memory during {stage}; try a smaller image or try again shortly.",
        )
