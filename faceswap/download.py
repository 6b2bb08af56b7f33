"""``python -m faceswap.models download|verify``: fetch the model files atomically, resumably, checked.

Default sources (``--manifest FILE`` replaces them, e.g. with a mirror or a local server):

- the official insightface v0.7 ``buffalo_l.zip``, of which only det_10g.onnx and w600k_r50.onnx are kept;
- ``inswapper_128.onnx`` from the Hugging Face mirror ezioruan/inswapper_128.onnx, else facefusion-assets.

Sizes and SHA-256 digests are the published ones. Each download goes to ``<name>.part`` beside its
destination and resumes from there with an HTTP Range request (or restarts when the server ignores
it); the result is checked (size, SHA-256, then the same structural check as at load), fsync'ed and
renamed into place, so an interrupted run never leaves a half file under the final name. Files that
already pass the checks are skipped unless ``--force``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import time
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from faceswap.config import Settings
from faceswap.modelfiles import (
    DETECTOR,
    MODEL_SPECS,
    RECOGNIZER,
    SWAPPER,
    ModelFileError,
    ModelSpec,
    check_model_file,
    file_sha256,
    verify_model_dir,
)

__all__ = [
    "DEFAULT_SOURCES",
    "Artifact",
    "DownloadError",
    "Source",
    "download_models",
    "load_manifest",
    "main",
]

log = logging.getLogger(__name__)

CHUNK = 1 << 20
MiB = 1 << 20
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_SPECS = {spec.path: spec for spec in MODEL_SPECS}


class DownloadError(Exception):
    """A download failed; the message is one sentence with the cause and what to do."""


class Artifact(BaseModel):
    """One model file a source provides: its path under the model dir, its name in the archive, checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="Destination under the model dir, e.g. buffalo_l/det_10g.onnx.")
    member: str | None = Field(
        None, description="File name inside the source's zip; unset: the source is the file."
    )
    size: int | None = Field(None, gt=0, description="Bytes of the file.")
    sha256: str | None = Field(
        None, pattern=SHA256_PATTERN, description="Lower-case hex SHA-256 of the file."
    )

    @field_validator("path")
    @classmethod
    def _known_path(cls, value: str) -> str:
        if value not in _SPECS:
            raise ValueError(f"must be one of {', '.join(_SPECS)}")
        return value

    @property
    def spec(self) -> ModelSpec:
        """The model slot this file fills."""
        return _SPECS[self.path]


class Source(BaseModel):
    """One download (tried at each URL in turn): a zip holding model files, or a model file itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: tuple[str, ...] = Field(min_length=1, description="http(s) URLs of the same bytes, tried in order.")
    files: tuple[Artifact, ...] = Field(min_length=1, description="The model files it provides.")
    size: int | None = Field(None, gt=0, description="Bytes of the zip (archives only).")
    sha256: str | None = Field(
        None, pattern=SHA256_PATTERN, description="SHA-256 of the zip (archives only)."
    )

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return urls

    @model_validator(mode="after")
    def _archive_or_file(self) -> Source:
        members = [artifact.member is not None for artifact in self.files]
        if any(members) and not all(members):
            raise ValueError("either every file names its archive member or none does")
        if not any(members) and (len(self.files) != 1 or self.size is not None or self.sha256 is not None):
            raise ValueError("a source without archive members is one file; give its size and sha256 there")
        return self

    @property
    def is_archive(self) -> bool:
        """True when the source is a zip to extract the files from."""
        return self.files[0].member is not None


_MANIFEST = TypeAdapter(tuple[Source, ...])

DEFAULT_SOURCES: tuple[Source, ...] = (
    Source(
        urls=("https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",),
        size=288_621_354,
        sha256="80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f",
        files=tuple(
            Artifact(path=spec.path, member=PurePosixPath(spec.path).name, size=spec.size, sha256=spec.sha256)
            for spec in (DETECTOR, RECOGNIZER)
        ),
    ),
    Source(
        urls=(
            "https://huggingface.co/ezioruan/inswapper_128.onnx/resolve/main/inswapper_128.onnx",
            "https://github.com/facefusion/facefusion-assets/releases/download/models/inswapper_128.onnx",
        ),
        files=(Artifact(path=SWAPPER.path, size=SWAPPER.size, sha256=SWAPPER.sha256),),
    ),
)


def load_manifest(path: Path) -> tuple[Source, ...]:
    """The sources listed in a JSON manifest: a list of Source objects."""
    try:
        return _MANIFEST.validate_json(path.read_bytes())
    except OSError as exc:
        raise DownloadError(f"The manifest {path.name} cannot be read ({exc.strerror}).") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise DownloadError(f"The manifest {path.name} is not valid at {where}: {first['msg']}.") from exc


def _mib(size: int) -> str:
    return f"{size / MiB:,.1f} MiB"


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _is_current(model_dir: Path, artifact: Artifact) -> bool:
    """True when the file is in place, passes the load check and matches the published size and digest."""
    path = model_dir / artifact.path
    try:
        check_model_file(path, artifact.spec, model_dir)
    except ModelFileError:
        return False
    if artifact.size is not None and path.stat().st_size != artifact.size:
        return False
    return artifact.sha256 is None or file_sha256(path) == artifact.sha256


def _check_digest(path: Path, size: int | None, sha256: str | None, label: str) -> None:
    """Refuse (and delete) a download whose size or SHA-256 is not the published one."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        path.unlink()
        raise DownloadError(
            f"The download of {label} has {actual:,} bytes instead of {size:,}; it was discarded."
        )
    if sha256 is not None and (digest := file_sha256(path)) != sha256:
        path.unlink()
        raise DownloadError(
            f"The download of {label} does not match its published SHA-256 (got {digest[:12]}…), so it was "
            "discarded: run the command again, or give a trusted source with --manifest."
        )


def _resume_offset(response: httpx.Response, part: Path, offset: int, label: str) -> int:
    """Where the response's bytes go in the .part: `offset` for a matching 206, 0 when the server restarts."""
    if response.status_code == 200:
        if offset:
            log.info("%s: the server ignored the range request, restarting from the beginning", label)
        return 0
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("content-range", ""))
    if match is None or int(match.group(1)) != offset:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"The server for {label} sent another byte range than asked for, so the partial download was "
            "discarded: run the command again."
        )
    return offset


def _fetch(client: httpx.Client, url: str, part: Path, size: int | None, label: str) -> None:
    """Bring `part` to the whole file: resume from its length, or start anew."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    if size is not None and offset == size:
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and offset and size is None:
            return
        if response.status_code not in (200, 206):
            raise DownloadError(
                f"The server for {label} answered HTTP {response.status_code}: check the source or try later."
            )
        offset = _resume_offset(response, part, offset, label)
        length = response.headers.get("content-length")
        total = offset + int(length) if length and length.isdigit() else size
        if size is not None and total != size:
            raise DownloadError(
                f"The server offers {total:,} bytes for {label} but the published file has {size:,}: "
                "give the right source with --manifest."
            )
        log.info("%s: %s from %s", label, "resuming at " + _mib(offset) if offset else "downloading", url)
        _write_body(response, part, offset, total, label)


def _write_body(response: httpx.Response, part: Path, offset: int, total: int | None, label: str) -> None:
    received, next_report = offset, 0.1
    with part.open("r+b" if offset else "wb") as out:
        out.seek(offset)
        out.truncate()
        for chunk in response.iter_raw():
            out.write(chunk)
            received += len(chunk)
            if total is not None and received > total:
                out.truncate(0)
                raise DownloadError(f"The server sent more than {total:,} bytes for {label}.")
            if total and received / total >= next_report:
                log.info("%s: %d%% of %s", label, int(100 * received / total), _mib(total))
                next_report = received / total + 0.1
        out.flush()
        os.fsync(out.fileno())


def _fetch_with_retries(
    client: httpx.Client, url: str, part: Path, size: int | None, label: str, attempts: int, backoff: float
) -> None:
    for attempt in range(1, attempts + 1):
        try:
            _fetch(client, url, part, size, label)
            return
        except httpx.TransportError as exc:
            if attempt == attempts:
                resume = f" to resume from {part.name}" if part.exists() and part.stat().st_size else ""
                raise DownloadError(
                    f"The download of {label} stopped ({type(exc).__name__}): check the network and run the "
                    f"command again{resume}."
                ) from exc
            log.warning("%s: %s, retrying (%d/%d)", label, type(exc).__name__, attempt, attempts - 1)
            time.sleep(backoff * 2 ** (attempt - 1))


def _download(
    client: httpx.Client,
    source: Source,
    part: Path,
    checks: tuple[int | None, str | None],
    label: str,
    retries: tuple[int, float],
) -> None:
    """Fetch `source` into `part` from its first URL that delivers the published bytes."""
    failure = DownloadError(f"No URL is given for {label}.")
    for url in source.urls:
        try:
            _fetch_with_retries(client, url, part, checks[0], label, *retries)
            _check_digest(part, *checks, label)
            return
        except DownloadError as exc:
            log.warning("%s from %s failed: %s", label, urlsplit(url).hostname, exc)
            failure = exc
    raise failure


def _install(temporary: Path, artifact: Artifact, model_dir: Path) -> None:
    """Check a complete file like a load would, then move it into place."""
    destination = model_dir / artifact.path
    try:
        check_model_file(temporary, artifact.spec, model_dir)
    except ModelFileError as exc:
        temporary.unlink()
        raise DownloadError(
            f"The file downloaded for {artifact.path} failed its check ({exc.kind.replace('_', ' ')}), so it "
            "was discarded: give another source with --manifest."
        ) from exc
    os.replace(temporary, destination)
    _fsync_dir(destination.parent)
    log.info("%s: installed (%s)", artifact.path, _mib(destination.stat().st_size))


def _extract(archive_path: Path, artifacts: Sequence[Artifact], model_dir: Path, label: str) -> None:
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for artifact in artifacts:
                found = [
                    info
                    for info in archive.infolist()
                    if not info.is_dir() and PurePosixPath(info.filename).name == artifact.member
                ]
                if len(found) != 1:
                    raise DownloadError(f"{label} holds no single {artifact.member}: give the right source.")
                temporary = (model_dir / artifact.path).with_name(f"{PurePosixPath(artifact.path).name}.part")
                with archive.open(found[0]) as stream, temporary.open("wb") as out:
                    shutil.copyfileobj(stream, out, CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                _check_digest(temporary, artifact.size, artifact.sha256, artifact.path)
                _install(temporary, artifact, model_dir)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(
            f"{label} is not a valid zip archive, so it was discarded: run the command again."
        ) from exc


def _archive_name(source: Source) -> str:
    name = PurePosixPath(urlsplit(source.urls[0]).path).name
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "models.zip"


def _ensure_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise DownloadError(
            f"There is not enough disk space for the models: {_mib(needed)} needed, {_mib(free)} free."
        )


def _fetch_source(
    client: httpx.Client,
    model_dir: Path,
    source: Source,
    needed: Sequence[Artifact],
    retries: tuple[int, float],
) -> None:
    for artifact in needed:
        (model_dir / artifact.path).parent.mkdir(parents=True, exist_ok=True)
    if not source.is_archive:
        artifact = source.files[0]
        destination = model_dir / artifact.path
        part = destination.with_name(f"{destination.name}.part")
        _ensure_space(model_dir, (artifact.size or 0) - (part.stat().st_size if part.exists() else 0))
        _download(client, source, part, (artifact.size, artifact.sha256), artifact.path, retries)
        _install(part, artifact, model_dir)
        return
    label = _archive_name(source)
    part = model_dir / f"{label}.part"
    have = part.stat().st_size if part.exists() else 0
    _ensure_space(model_dir, (source.size or 0) - have + sum(artifact.size or 0 for artifact in needed))
    _download(client, source, part, (source.size, source.sha256), label, retries)
    try:
        _extract(part, needed, model_dir, label)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    part.unlink()


def download_models(
    model_dir: Path,
    sources: Sequence[Source] = DEFAULT_SOURCES,
    *,
    force: bool = False,
    attempts: int = 3,
    backoff: float = 2.0,
    client: httpx.Client | None = None,
) -> list[str]:
    """Fetch every file of `sources` that is not already in place and checked; the paths written."""
    model_dir.mkdir(parents=True, exist_ok=True)
    http = client or httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(60.0, connect=15.0),
        headers={"User-Agent": "faceswap-models/0.1", "Accept-Encoding": "identity"},
    )
    written: list[str] = []
    try:
        for source in sources:
            needed = [artifact for artifact in source.files if force or not _is_current(model_dir, artifact)]
            for artifact in source.files:
                if artifact not in needed:
                    log.info("%s: already in place and checked", artifact.path)
            if needed:
                _fetch_source(http, model_dir, source, needed, (attempts, backoff))
                written.extend(artifact.path for artifact in needed)
    finally:
        if client is None:
            http.close()
    return written


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m faceswap.models", description="Fetch or check the model files."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    download = commands.add_parser(
        "download", help="fetch the model files that are missing or fail their checks"
    )
    verify = commands.add_parser("verify", help="check each model file; exit 1 on any fault")
    prepare = commands.add_parser(
        "prepare", help="write the FP16 swapper the CUDA provider uses, so a cold start need not convert it"
    )
    for command in (download, verify, prepare):
        command.add_argument(
            "--dir", type=Path, help="the model dir (default: FACESWAP_MODEL_DIR or ./models)"
        )
    download.add_argument(
        "--force", action="store_true", help="download even the files that pass their checks"
    )
    download.add_argument("--manifest", type=Path, help="JSON list of sources to use instead of the defaults")
    verify.add_argument("--checksums", action="store_true", help="also compare each file's SHA-256 (slow)")
    return parser


def _prepare(model_dir: Path) -> int:
    """Convert the swapper to FP16 into the model dir's cache; 1 when the swapper has a fault."""
    from faceswap.models import cache_dir
    from faceswap.precision import fp16_model_file

    check = next(check for check in verify_model_dir(model_dir) if check.spec is SWAPPER)
    if check.fault is not None:
        sys.stderr.write(f"error: {check.fault.reason}\n")
        return 1
    converted = fp16_model_file(model_dir / SWAPPER.path, cache_dir(model_dir))
    sys.stdout.write(f"{converted}\n")
    return 0


def _report(model_dir: Path, checksums: bool) -> int:
    """Write each file's state to stdout; 1 when any file has a fault."""
    checks = verify_model_dir(model_dir, checksums=checksums)
    for check in checks:
        size = "-" if check.size is None else f"{check.size:,} bytes"
        state = "ok" if check.ok else f"FAULT ({check.fault.kind})" if check.fault else "FAULT"
        origin = {None: "", True: ", official file", False: ", not the official file"}[check.official]
        sys.stdout.write(f"{state:<24} {check.spec.path:<26} {size}{origin}\n")
        if check.fault is not None:
            sys.stdout.write(f"{'':<24} {check.fault.reason}\n")
    return 0 if all(check.ok for check in checks) else 1


def main(argv: list[str] | None = None) -> int:
    """Run `download` or `verify`; 0 on success, 1 with a one-line reason on stderr on failure."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    model_dir = args.dir if args.dir is not None else Settings().model_dir
    if args.command == "verify":
        return _report(model_dir, args.checksums)
    if args.command == "prepare":
        return _prepare(model_dir)
    try:
        sources = load_manifest(args.manifest) if args.manifest else DEFAULT_SOURCES
        download_models(model_dir, sources, force=args.force)
    except DownloadError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; run the command again to resume the download.\n")
        return 130
    faults = [check.fault for check in verify_model_dir(model_dir) if check.fault is not None]
    if faults:
        sys.stderr.write(f"error: {faults[0].reason}\n")
        return 1
    return 0
