"""What the settings ask of every output and every target: the watermark, the signed manifest, the guard.

One `Provenance` per engine, made when the models load (a bad certificate or a missing guard model then
fails /health with the reason); every entry point reaches it through the engine.
"""

from __future__ import annotations

import logging
import re
import secrets
from pathlib import Path
from typing import Literal

from faceswap.config import Settings
from faceswap.pipeline.arrays import Frame
from faceswap.provenance.credentials import SIGNABLE_TYPES, Credentials, Ingredient, load_pem
from faceswap.provenance.guard import ClipSampler, ContentGuard
from faceswap.provenance.watermark import SERVICE_ID, embed_watermark

__all__ = ["Provenance", "ProvenanceMode"]

log = logging.getLogger(__name__)

ProvenanceMode = Literal["c2pa", "label"]
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class Provenance:
    """Marks outputs (watermark, then the signed manifest over the marked pixels) and guards targets."""

    def __init__(
        self,
        *,
        watermark: bool = True,
        credentials: Credentials | None = None,
        guard: ContentGuard | None = None,
        trust: tuple[str, ...] = (),
    ) -> None:
        self.watermark = watermark
        self.credentials = credentials
        self.guard = guard
        self.trust = trust
        """PEM certificates a check validates manifests against: the configured chain's last (its root)."""

    @classmethod
    def from_settings(cls, settings: Settings, providers: tuple[str, ...]) -> Provenance:
        """Built as configured; ModelError (the /health reason) for an unusable certificate or guard model."""
        credentials, trust = None, ()
        if settings.c2pa_cert is not None and settings.c2pa_key is not None:
            chain = load_pem(settings.c2pa_cert, "FACESWAP_C2PA_CERT")
            key = load_pem(settings.c2pa_key.get_secret_value(), "FACESWAP_C2PA_KEY")
            credentials = Credentials(chain, key, settings.c2pa_tsa_url)
            credentials.check()
            certificates = _PEM_CERTIFICATE.findall(chain)
            trust = (certificates[-1].decode(),) if certificates else ()
        guard = ContentGuard.load(
            settings.content_guard, settings.model_dir, providers, settings.intra_op_threads
        )
        return cls(watermark=settings.watermark, credentials=credentials, guard=guard, trust=trust)

    @property
    def mode(self) -> ProvenanceMode:
        """ "c2pa" when outputs are signed, else "label" (the XMP label only)."""
        return "c2pa" if self.credentials is not None else "label"

    @staticmethod
    def new_output_id() -> str:
        """A short random id for one output: in its watermark, its manifest and the log."""
        return secrets.token_hex(4)

    def payload(self, output_id: str) -> str | None:
        """The watermark's payload as text (service id, output id), or None when watermarking is off."""
        return f"{SERVICE_ID:02x}{output_id}" if self.watermark else None

    def mark(self, frame: Frame, output_id: str) -> Frame:
        """The frame, marked in place with the watermark (unchanged when watermarking is off)."""
        return embed_watermark(frame, output_id, out=frame) if self.watermark else frame

    def seal(
        self, data: bytes, media_type: str, *, output_id: str, swapper: str, parent: Ingredient | None = None
    ) -> bytes:
        """The encoded output with its signed manifest (unchanged without a certificate)."""
        if self.credentials is None:
            return data
        return self.credentials.sign(
            data, media_type, swapper=swapper, parent=parent, watermark=self.payload(output_id)
        )

    def seal_file(
        self, path: Path, media_type: str, *, output_id: str, swapper: str, parent: Ingredient | None = None
    ) -> bool:
        """Sign the file in place when a certificate is set and C2PA supports its type; True if signed."""
        if self.credentials is None or media_type not in SIGNABLE_TYPES:
            return False
        self.credentials.sign_file(
            path, media_type, swapper=swapper, parent=parent, watermark=self.payload(output_id)
        )
        return True

    def check_target(self, frame: Frame) -> None:
        """CONTENT_REFUSED when the guard is on and flags the frame."""
        if self.guard is not None:
            self.guard.check_image(frame)

    def clip_sampler(self, fps: float, frames: int) -> ClipSampler | None:
        """The per-clip sampler of the guard (None when the guard is off)."""
        return None if self.guard is None else ClipSampler(self.guard, fps, frames)
