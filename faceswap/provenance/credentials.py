"""Signed C2PA Content Credentials, with the official SDK (c2pa-python), in memory or on a file.

The manifest says what was done: the target opened (a `parentOf` ingredient, when the SDK reads its format),
then edited with the IPTC digital source type `compositeWithTrainedAlgorithmicMedia` by this software and
version, naming the swapper model; when the pixels carry our watermark, a `c2pa.watermarked` action and a
soft-binding assertion with its payload. No thumbnails: they would copy the faces into the manifest.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from faceswap import __version__
from faceswap.errors import ErrorCode, ModelLoadError, SwapError
from faceswap.pipeline.labels import DIGITAL_SOURCE_TYPE, SOFTWARE
from faceswap.pipeline.png import encode_png

if TYPE_CHECKING:
    import c2pa

__all__ = [
    "SIGNABLE_TYPES",
    "WATERMARK_ALG",
    "Credentials",
    "Ingredient",
    "build_manifest",
    "load_pem",
    "sniff_media_type",
]

SIGNABLE_TYPES: Final = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "video/mp4", "video/quicktime"}
)
"""What we sign (the SDK also reads these as ingredients); it refuses WebM and Matroska."""
WATERMARK_ALG: Final = "com.faceswap.tile64"
_SETTINGS: Final = {"verify": {"remote_manifest_fetch": False}, "builder": {"thumbnail": {"enabled": False}}}


@dataclass(frozen=True)
class Ingredient:
    """The asset the output was made from: its bytes (or file) and media type."""

    media_type: str
    data: bytes | None = None
    path: Path | None = None

    def stream(self) -> io.IOBase:
        """A fresh binary stream over the ingredient."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")


def load_pem(value: str, what: str) -> bytes:
    """PEM text given inline (it starts with -----BEGIN) or a PEM file's path; ModelLoadError if not."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.strip().encode() + b"\n"
    try:
        data = Path(value).read_bytes()
    except OSError as exc:
        raise ModelLoadError(
            f"{what} {value} cannot be read ({exc.strerror}); fix the path or unset it."
        ) from exc
    if b"-----BEGIN" not in data:
        raise ModelLoadError(f"{what} {value} is not a PEM file; give the PEM chain or key, or unset it.")
    return data


def sniff_media_type(head: bytes) -> str | None:
    """The media type of an image or clip from its first bytes, among those C2PA can sign or read."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    return None


class Credentials:
    """Signs outputs with the operator's certificate chain and key (one `Signer` per output: thread-safe)."""

    def __init__(self, chain: bytes, key: bytes, timestamp_url: str | None = None) -> None:
        # The SDK is imported by the services that sign (about 7 MB resident and 0.1 s of a start).
        import c2pa

        self._info = c2pa.C2paSignerInfo(_algorithm(key), chain, key, timestamp_url)

    def check(self) -> None:
        """Sign a tiny image once, so a wrong certificate or key is reported at start, not per request."""
        try:
            self.sign(encode_png(np.zeros((1, 1, 3), np.uint8), 1), "image/png", swapper="check")
        except SwapError as exc:
            raise ModelLoadError(
                "FACESWAP_C2PA_CERT and FACESWAP_C2PA_KEY cannot sign: the SDK refused them "
                "(a CA-issued leaf with an allowed EKU and its key are needed; "
                "`python -m faceswap provenance make-test-cert DIR` makes a test pair)."
            ) from exc

    def sign(
        self,
        data: bytes,
        media_type: str,
        *,
        swapper: str,
        parent: Ingredient | None = None,
        watermark: str | None = None,
    ) -> bytes:
        """`data` with a signed manifest embedded (the same bytes otherwise)."""
        destination = io.BytesIO()
        self._sign_stream(io.BytesIO(data), destination, media_type, swapper, parent, watermark)
        return destination.getvalue()

    def sign_file(
        self,
        path: Path,
        media_type: str,
        *,
        swapper: str,
        parent: Ingredient | None = None,
        watermark: str | None = None,
    ) -> None:
        """Embed a signed manifest into the file at `path` (written beside it, then moved over it)."""
        signed = path.with_name(path.name + ".signed")
        try:
            with path.open("rb") as source, signed.open("wb") as destination:
                self._sign_stream(source, destination, media_type, swapper, parent, watermark)
            signed.replace(path)
        finally:
            signed.unlink(missing_ok=True)

    def _sign_stream(
        self,
        source: Any,
        destination: Any,
        media_type: str,
        swapper: str,
        parent: Ingredient | None,
        watermark: str | None,
    ) -> None:
        import c2pa

        usable_parent = parent if parent is not None and parent.media_type in SIGNABLE_TYPES else None
        manifest = build_manifest(swapper, opened=usable_parent is not None, watermark=watermark)
        try:
            with (
                c2pa.Context.from_dict(_SETTINGS) as context,
                c2pa.Signer.from_info(self._info) as signer,
                c2pa.Builder(manifest, context) as builder,
            ):
                if usable_parent is not None:
                    ingredient = {"title": "target", "relationship": "parentOf", "label": "target"}
                    with usable_parent.stream() as stream:
                        builder.add_ingredient(ingredient, usable_parent.media_type, stream)
                builder.sign(signer, media_type, source, destination)
        except c2pa.C2paError as exc:
            raise SwapError(ErrorCode.INTERNAL, "The result could not be signed.") from exc


def build_manifest(swapper: str, *, opened: bool, watermark: str | None) -> dict[str, Any]:
    """The manifest definition: opened (or created), edited with the AI source type, watermarked."""
    agent = {"name": SOFTWARE, "version": __version__}
    first: dict[str, Any] = (
        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["target"]}}
        if opened
        else {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE, "softwareAgent": agent}
    )
    actions = [
        first,
        {
            "action": "c2pa.edited",
            "digitalSourceType": DIGITAL_SOURCE_TYPE,
            "softwareAgent": agent,
            "description": f"A face was replaced by the {swapper} face-swap model.",
            "parameters": {"com.faceswap.swapper": swapper, "com.faceswap.operation": "face replaced"},
        },
    ]
    assertions: list[dict[str, Any]] = [{"label": "c2pa.actions.v2", "data": {"actions": actions}}]
    if watermark is not None:
        actions.append(
            {
                "action": "c2pa.watermarked",
                "softwareAgent": agent,
                "parameters": {"com.faceswap.watermark": watermark},
            }
        )
        assertions.append(
            {
                "label": "c2pa.soft-binding",
                "data": {"alg": WATERMARK_ALG, "blocks": [{"scope": {}, "value": watermark}]},
            }
        )
    return {"claim_generator_info": [agent], "assertions": assertions}


def _algorithm(key: bytes) -> c2pa.C2paSigningAlg:
    """The signing algorithm that fits the private key (ES256/384/512 by curve, PS256 for RSA, Ed25519).

    cryptography is imported here, by the services that sign: imported with this module, it cost every
    worker about 9 MB of resident memory (its Rust extension and OpenSSL) whether it signed or not.
    """
    import c2pa
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        private = load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(
            "FACESWAP_C2PA_KEY is not an unencrypted PEM private key; give the signing key, or unset it."
        ) from exc
    if isinstance(private, ec.EllipticCurvePrivateKey):
        by_curve = {
            256: c2pa.C2paSigningAlg.ES256,
            384: c2pa.C2paSigningAlg.ES384,
            521: c2pa.C2paSigningAlg.ES512,
        }
        if private.curve.key_size in by_curve:
            return by_curve[private.curve.key_size]
    if isinstance(private, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    raise ModelLoadError(
        "FACESWAP_C2PA_KEY is of a kind C2PA cannot sign with (use P-256/384/521, RSA or Ed25519)."
    )
