"""Images in and out: recognise, validate and decode uploads; encode results as plain JPEG or PNG.

Every upload passes through :func:`decode_image` (or :func:`read_image_file`, which checks a file's size
before reading it). Formats are told apart by their magic bytes, never by a file name. Dimensions come
from our own header parsers and are checked before any decoder runs, so a decompression bomb is rejected
having allocated nothing (Pillow's WebP plugin, for one, allocates the whole canvas when it opens a
file). The header walk also counts a JPEG's scans and a PNG's inflated bytes, so neither a progressive
JPEG of thousands of scans (tens of seconds of CPU) nor a PNG with rows missing (Pillow paints them
black) reaches a decoder. JPEGs are decoded by libjpeg-turbo in strict mode (simplejpeg): Pillow and
OpenCV both paint over corrupt entropy data silently and OpenCV pads truncated files.

Peak memory stays near the decoded frame: decoders write into one buffer, which is converted to BGR a
strip of rows at a time; a 40-megapixel RGBA picture costs about 2.5 RGB frames, not ten.

Rejections are ``ImageRejected`` with a code and params (``REJECTION_CODES``); the detail is a log line.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import simplejpeg
from PIL import Image, PngImagePlugin

from engine.base import check_bgr
from engine.errors import ImageRejected

# Uploads: smaller faces are useless, larger pictures cost memory and time on every job.
MIN_SIDE = 64
MAX_SIDE = 10_000
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 20_000_000  # the Bot API's download limit: one cap for the CLI and the workers
MAX_JPEG_SCANS = 64  # progressive photos have about 10; each scan is a pass over the whole frame
# Qualities tried in turn when a JPEG is over a byte budget; below the last one the image shrinks instead.
JPEG_QUALITY_STEPS = (95, 90, 85, 80, 75, 70, 60)

# Every code ImageRejected carries from here, with its params:
#   empty {}, not_an_image {what}, unsupported_format {format, hint}, truncated {}, corrupt {},
#   too_small {width, height, min_side}, too_large {width, height, max_side, max_megapixels},
#   too_complex {scans, max_scans}, file_too_large {size, max_bytes}.
REJECTION_CODES = frozenset(
    {
        "empty",
        "not_an_image",
        "unsupported_format",
        "truncated",
        "corrupt",
        "too_small",
        "too_large",
        "too_complex",
        "file_too_large",
    }
)

ImageFormat = Literal["jpeg", "png", "webp"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_STRIP_BYTES = 1 << 22  # conversions work on strips of rows this large: temporaries stay small


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says. ``width``/``height`` are as displayed, i.e. after the EXIF orientation
    (1-8, 1 = as stored) is applied: exactly the shape :func:`decode_image` returns."""

    format: ImageFormat
    width: int
    height: int
    orientation: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


def probe_image(data: bytes) -> ImageInfo:
    """Recognise and check an upload from its headers alone (no pixel is decoded).

    Raises ``ImageRejected`` for everything that can be told this early: empty data, other formats,
    a header cut short, sides under ``MIN_SIDE``, over ``MAX_SIDE`` or more than ``MAX_PIXELS``, a JPEG
    of more than ``MAX_JPEG_SCANS`` scans.
    """
    view = memoryview(data).cast("B")
    if len(view) == 0:
        raise ImageRejected("empty", "empty file")
    head = view[:12].tobytes()
    fmt: ImageFormat
    if head[:3] == b"\xff\xd8\xff":
        fmt, (width, height, orientation) = "jpeg", _parse_jpeg(view)
    elif head[:8] == _PNG_MAGIC:
        fmt, (width, height, orientation) = "png", _parse_png(view)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        fmt, (width, height, orientation) = "webp", _parse_webp(view)
    else:
        raise _unrecognised(view[:2048].tobytes())
    if orientation >= 5:  # these four turn the picture by 90 degrees
        width, height = height, width
    return ImageInfo(fmt, width, height, orientation)


def decode_image(data: bytes) -> np.ndarray:
    """Decode a JPEG, PNG or WebP upload to an upright BGR uint8 HxWx3 array.

    EXIF orientation is applied; grey, palette, 16-bit and CMYK pictures become 8-bit BGR and
    transparency is composited over white. Anything else raises ``ImageRejected`` (see
    ``REJECTION_CODES``).
    """
    info = probe_image(data)
    if info.format == "jpeg":
        image = _decode_jpeg(data)
    elif info.format == "png":
        _check_png_data(memoryview(data).cast("B"))
        image = _decode_png(data)
    else:
        image = _decode_webp(data)
    image = _apply_orientation(image, info.orientation)
    if image.shape[:2] != (info.height, info.width):
        raise _corrupt()
    return image


def read_image_file(path: str | os.PathLike[str]) -> np.ndarray:
    """:func:`decode_image` on a file, refusing one over ``MAX_FILE_BYTES`` before reading it.
    ``OSError`` (missing, unreadable, a directory) passes through."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise _file_too_large(size)
        data = file.read(MAX_FILE_BYTES + 1)  # a file still growing, or a device that reports no size
    if len(data) > MAX_FILE_BYTES:
        raise _file_too_large(len(data))
    return decode_image(data)


def encode_jpeg(
    image: np.ndarray,
    quality: int = 95,
    *,
    max_sides_sum: int | None = None,
    max_bytes: int | None = None,
    max_aspect: float | None = None,
) -> bytes:
    """A metadata-free JPEG, fitted to the limits given (None: no limit).

    The picture is padded (white) to an aspect ratio (long side over short side) of at most
    ``max_aspect`` and scaled down until width + height <= ``max_sides_sum``. If the file is over
    ``max_bytes`` the quality goes down ``JPEG_QUALITY_STEPS``; past the last step the picture shrinks.
    """
    check_bgr(image)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    image = _fit(image, max_sides_sum, max_aspect)
    if max_bytes is None:
        return _jpeg_bytes(image, quality)
    qualities = [quality, *(q for q in JPEG_QUALITY_STEPS if q < quality)]
    while True:
        for q in qualities:
            data = _jpeg_bytes(image, q)
            if len(data) <= max_bytes:
                return data
        # JPEG size grows roughly with the pixel count: shrink by the excess, with a margin.
        scale = min(0.9, 0.95 * math.sqrt(max_bytes / len(data)))
        height, width = image.shape[:2]
        if width == 1 and height == 1:
            raise ValueError(f"cannot fit a JPEG into {max_bytes} bytes")
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        image = _fit(cv2.resize(image, size, interpolation=cv2.INTER_AREA), max_sides_sum, max_aspect)
        qualities = qualities[-1:]


def encode_png(image: np.ndarray, compression: int = 3) -> bytes:
    """A lossless, metadata-free PNG (previews, masks, tests); level 3 is zlib's speed/size sweet spot."""
    check_bgr(image)
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


# --- rejections -------------------------------------------------------------------------------------


def _truncated() -> ImageRejected:
    return ImageRejected("truncated", "image data ends early")


def _corrupt() -> ImageRejected:
    return ImageRejected("corrupt", "image data is damaged")


def _file_too_large(size: int) -> ImageRejected:
    return ImageRejected(
        "file_too_large",
        f"file too large: {size} bytes, at most {MAX_FILE_BYTES}",
        size=size,
        max_bytes=MAX_FILE_BYTES,
    )


def _too_large(width: int, height: int) -> ImageRejected:
    return ImageRejected(
        "too_large",
        f"image too large: {width}x{height}, at most {MAX_SIDE} a side and {MAX_PIXELS} pixels",
        width=width,
        height=height,
        max_side=MAX_SIDE,
        max_megapixels=MAX_PIXELS // 1_000_000,
    )


def _check_size(width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageRejected(
            "too_small",
            f"image too small: {width}x{height}, at least {MIN_SIDE} a side",
            width=width,
            height=height,
            min_side=MIN_SIDE,
        )
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise _too_large(width, height)


# (offset, magic, name, is_image): formats people send by mistake, named so the reply can say which.
_SIGNATURES: tuple[tuple[int, bytes, str, bool], ...] = (
    (0, b"GIF87a", "GIF", True),
    (0, b"GIF89a", "GIF", True),
    (0, b"II*\x00", "TIFF", True),
    (0, b"MM\x00*", "TIFF", True),
    (0, b"\x00\x00\x01\x00", "ICO", True),
    (0, b"8BPS", "Photoshop (PSD)", True),
    (0, b"qoif", "QOI", True),
    (0, b"\xff\x0a", "JPEG XL", True),
    (4, b"JXL \r\n\x87\n", "JPEG XL", True),
    (4, b"jP  \r\n\x87\n", "JPEG 2000", True),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000", True),
    (0, b"%PDF", "a PDF document", False),
    (0, b"PK\x03\x04", "an archive (ZIP)", False),
    (0, b"\x1f\x8b", "a compressed file (an animated sticker?)", False),
    (0, b"\x1a\x45\xdf\xa3", "a video", False),
    (0, b"OggS", "an audio file", False),
    (0, b"ID3", "an audio file", False),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
# What the catalogue can add to "not supported": a GIF is most likely an animation, a HEIC an iPhone
# photo sent as a file.
_FORMAT_HINTS = {"GIF": "animation", "HEIC": "iphone"}


def _unrecognised(head: bytes) -> ImageRejected:
    """The rejection for bytes that are none of our formats, naming what they are when we can tell."""
    name, is_image = _identify(head)
    if name is None or not is_image:
        return ImageRejected("not_an_image", f"not an image: {name or 'unknown bytes'}", what=name)
    return ImageRejected(
        "unsupported_format", f"unsupported format: {name}", format=name, hint=_FORMAT_HINTS.get(name)
    )


def _identify(head: bytes) -> tuple[str | None, bool]:
    if head[:2] == b"BM" and head[6:10] == bytes(4):  # "BM" alone would also match text
        return "BMP", True
    for offset, magic, name, is_image in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name, is_image
    if head[4:8] == b"ftyp":  # ISO base media: HEIF/AVIF stills, or MP4/MOV video
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "HEIC", True
        if brand in _AVIF_BRANDS:
            return "AVIF", True
        return "a video", False
    if head[:4] == b"RIFF":
        return "a video or sound file", False
    text = _identify_text(head)
    return text, text == "SVG"


def _identify_text(head: bytes) -> str | None:
    """'SVG', 'a web page', 'a text file', or None when the bytes are not text."""
    head = head.removeprefix(b"\xef\xbb\xbf")
    if not head or b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            return None
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in text)
    if printable < 0.95 * len(text):
        return None
    lowered = text.lstrip().lower()
    if lowered.startswith("<") and "<svg" in lowered:
        return "SVG"
    if lowered.startswith(("<!doctype html", "<html")) or "<body" in lowered or "<head" in lowered:
        return "a web page"
    return "a text file"


# --- header parsers ---------------------------------------------------------------------------------
# Each returns (stored width, stored height, EXIF orientation) and checks the size as soon as it is known.

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_SOF_DECODABLE = {0xC0, 0xC1, 0xC2, 0xC9, 0xCA}  # baseline/extended/progressive, Huffman or arithmetic


def _parse_jpeg(data: memoryview) -> tuple[int, int, int]:
    """Walk the marker segments from SOI to the first SOS: frame size, EXIF orientation."""
    n = len(data)
    pos = 2
    size: tuple[int, int] | None = None
    orientation = 1
    exif_seen = False
    while True:
        if pos >= n:
            raise _truncated()
        if data[pos] != 0xFF:
            raise _corrupt()
        while pos < n and data[pos] == 0xFF:  # fill bytes may pad before a marker
            pos += 1
        if pos + 3 > n:
            raise _truncated()
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # stand-alone markers carry no length
            continue
        if marker in (0xD8, 0xD9):
            raise _corrupt()
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise _corrupt()
        if pos + length > n:
            raise _truncated()
        segment = data[pos + 2 : pos + length]
        if marker == 0xE1 and not exif_seen and segment[:6].tobytes() == b"Exif\x00\x00":
            exif_seen = True
            orientation = _exif_orientation(segment[6:])
        elif marker in _JPEG_SOF:
            if len(segment) < 6:
                raise _corrupt()
            precision, height, width, components = struct.unpack_from(">BHHB", segment)
            if (
                marker not in _JPEG_SOF_DECODABLE
                or precision != 8
                or height == 0
                or components not in (1, 3, 4)
            ):
                name = "JPEG (lossless, 12-bit or hierarchical)"
                raise ImageRejected(
                    "unsupported_format", f"unsupported format: {name}", format=name, hint=None
                )
            _check_size(width, height)
            size = (width, height)
        elif marker == 0xDA:  # start of scan: entropy-coded data follows, the header is over
            if size is None:
                raise _corrupt()
            # libjpeg makes a pass over the whole coefficient buffer for every progressive scan: a small
            # file of thousands of legal scans would stall a worker for tens of seconds.
            scans = _count_scans(data, pos + length)
            if scans > MAX_JPEG_SCANS:
                raise ImageRejected(
                    "too_complex",
                    f"JPEG has {scans} scans, at most {MAX_JPEG_SCANS}",
                    scans=scans,
                    max_scans=MAX_JPEG_SCANS,
                )
            return size[0], size[1], orientation
        pos += length


# A marker inside or after entropy-coded data: 0xFF then a code that is neither a stuffed zero, nor a
# restart marker (RST0-7, which interrupt the entropy data), nor a fill byte.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _count_scans(data: memoryview, pos: int) -> int:
    """The number of scans (SOS segments), walking on from just after the first one. Segments are
    skipped by their length (an EXIF thumbnail's own markers are never read), entropy-coded data by
    searching for the next marker. Anything odd ends the count: the strict decoder refuses it anyway."""
    scans = 1
    while True:
        found = _JPEG_MARKER.search(data, pos)  # re reads any buffer
        if found is None:
            return scans
        marker = data[found.end() - 1]
        if marker == 0x01:  # TEM stands alone, like the restart markers
            pos = found.end()
            continue
        if marker in (0xD8, 0xD9) or found.end() + 2 > len(data):  # EOI, a stray SOI, or cut short
            return scans
        scans += marker == 0xDA
        pos = found.end() + struct.unpack_from(">H", data, found.end())[0]


def _parse_png(data: memoryview) -> tuple[int, int, int]:
    """IHDR first (size checked before anything else), then every chunk up to IEND: a chunk running
    past the end means truncation; a critical chunk with a wrong CRC means corruption."""
    n = len(data)
    if n < 33:
        raise _truncated()
    length, kind, width, height = struct.unpack_from(">I4sII", data, 8)
    if kind != b"IHDR" or length != 13:
        raise _corrupt()
    _check_size(width, height)
    orientation = 1
    pos = 8
    while True:
        if pos + 12 > n:
            raise _truncated()
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if length > 0x7FFFFFFF:
            raise _corrupt()
        if end > n:
            raise _truncated()
        critical = not kind[0] & 0x20  # lower-case first letter = ancillary
        if critical and zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            raise _corrupt()
        if kind == b"eXIf":
            orientation = _exif_orientation(data[pos + 8 : end - 4])
        elif kind == b"IEND":
            return width, height, orientation
        pos = end


def _parse_webp(data: memoryview) -> tuple[int, int, int]:
    """RIFF container: the first chunk gives the size (VP8, VP8L or the extended VP8X canvas);
    an EXIF chunk may follow in extended files."""
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if len(data) < 8 + riff_size or len(data) < 30:
        raise _truncated()
    end = 8 + riff_size
    kind = bytes(data[12:16])
    payload = data[20:30]
    if kind == b"VP8 ":
        if payload[3:6].tobytes() != b"\x9d\x01\x2a":
            raise _corrupt()
        width, height = (v & 0x3FFF for v in struct.unpack_from("<HH", payload, 6))
    elif kind == b"VP8L":
        if payload[0] != 0x2F:
            raise _corrupt()
        (bits,) = struct.unpack_from("<I", payload, 1)
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif kind == b"VP8X":
        width = int.from_bytes(payload[4:7], "little") + 1
        height = int.from_bytes(payload[7:10], "little") + 1
    else:
        raise _corrupt()
    _check_size(width, height)
    orientation = 1
    pos = 12
    while pos + 8 <= end:
        kind, length = struct.unpack_from("<4sI", data, pos)
        if pos + 8 + length > end:
            raise _truncated()
        if kind == b"EXIF":
            orientation = _exif_orientation(data[pos + 8 : pos + 8 + length])
        pos += 8 + length + (length & 1)  # chunks are padded to even sizes
    return width, height, orientation


def _exif_orientation(tiff: memoryview) -> int:
    """Tag 0x0112 of IFD0 in a TIFF-structured EXIF block; 1 when absent or unreadable (a broken
    EXIF block is no reason to refuse a photo)."""
    if tiff[:6].tobytes() == b"Exif\x00\x00":  # PNG and WebP writers disagree on whether this prefix belongs
        tiff = tiff[6:]
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    if order is None or len(tiff) < 8:
        return 1
    magic, ifd = struct.unpack_from(order + "HI", tiff, 2)
    if magic != 42 or ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        tag, kind, _, value = struct.unpack_from(order + "HHIH", tiff, entry)
        if tag == 0x0112:
            return value if kind == 3 and 1 <= value <= 8 else 1
    return 1


# --- PNG pixel data ---------------------------------------------------------------------------------

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type: grey, RGB, palette, grey+alpha, RGBA
# Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(width: int, height: int, bit_depth: int, colour_type: int, interlaced: bool) -> int:
    """Bytes the IDAT stream inflates to: every row of every pass, each with its filter byte."""
    bits = bit_depth * _PNG_CHANNELS.get(colour_type, 4)
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            total += rows * (1 + -(-(columns * bits) // 8))
    return total


def _check_png_data(data: memoryview) -> None:
    """Inflate the IDAT stream, keeping nothing, and refuse it unless it holds every row:
    Pillow's decoder stops quietly at the end of a short stream and leaves the missing rows black.
    Costs an inflate (a fraction of the decode) and 1 MiB of memory. The chunks were checked by
    ``_parse_png``."""
    width, height, bit_depth, colour_type, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    expected = _png_raw_size(width, height, bit_depth, colour_type, interlace == 1)
    inflate = zlib.decompressobj()
    produced = 0
    pos = 8
    try:
        while not inflate.eof:
            length, kind = struct.unpack_from(">I4s", data, pos)
            if kind == b"IEND":
                break
            if kind == b"IDAT":
                pending: bytes | memoryview = data[pos + 8 : pos + 8 + length]
                while pending and not inflate.eof and produced <= expected:
                    produced += len(inflate.decompress(pending, 1 << 20))
                    pending = inflate.unconsumed_tail
            pos += 12 + length
        while not inflate.eof and produced <= expected:  # output still held back by the 1 MiB bound
            chunk = inflate.decompress(b"", 1 << 20)
            if not chunk:
                break
            produced += len(chunk)
    except zlib.error as exc:
        raise _corrupt() from exc
    if produced < expected:
        raise _truncated()


# --- decoders ---------------------------------------------------------------------------------------


def _decode_jpeg(data: bytes) -> np.ndarray:
    # strict: libjpeg's "corrupt data" warnings become errors. CMYK/YCCK come out as BGR too, read in
    # Adobe's inverted convention as Pillow does (what Photoshop and libjpeg write).
    try:
        image: np.ndarray = simplejpeg.decode_jpeg(data, colorspace="BGR", strict=True)
    except ValueError as exc:
        raise _truncated() if "Premature end" in str(exc) else _corrupt() from exc
    return image


def _decode_webp(data: bytes) -> np.ndarray:
    # OpenCV's libwebp decodes straight into one BGR(A) array; Pillow's plugin holds the decoder's
    # canvas, a bytes copy of it and its own image at once (three RGBA frames) before any conversion.
    # Animated files give their first frame, as with Pillow.
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint8 or image.ndim != 3:
        raise _corrupt()
    if image.shape[2] == 3:
        return image
    out = np.empty((*image.shape[:2], 3), np.uint8)
    for top, bottom in _strips(image.shape[0], image.shape[1] * 4):
        out[top:bottom] = _over_white(image[top:bottom])  # BGRA in, BGR out: the order is kept
    return out


def _decode_png(data: bytes) -> np.ndarray:
    # The plugin class is used directly rather than Image.open: only the sniffed format can decode it,
    # and Image.open's size check (Image.MAX_IMAGE_PIXELS, which another library may have lowered
    # process-wide) never fires: our own limits were checked from the header.
    try:
        with PngImagePlugin.PngImageFile(io.BytesIO(data)) as im:
            im.load()
            return _pillow_to_bgr(im)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        raise _truncated() if "truncated" in str(exc) else _corrupt() from exc


def _strips(height: int, row_bytes: int) -> list[tuple[int, int]]:
    rows = max(1, _STRIP_BYTES // max(1, row_bytes))
    return [(top, min(height, top + rows)) for top in range(0, height, rows)]


def _pillow_to_bgr(im: Image.Image) -> np.ndarray:
    """Convert a strip of rows at a time into one BGR array: Pillow's own ``tobytes`` (behind
    ``np.asarray``) holds two copies of whatever it exports, and a whole-frame conversion as many."""
    width, height = im.size
    out = np.empty((height, width, 3), np.uint8)
    for top, bottom in _strips(height, width * 4):
        out[top:bottom] = _pillow_strip_to_bgr(im.crop((0, top, width, bottom)))
    return out


def _pillow_strip_to_bgr(im: Image.Image) -> np.ndarray:
    if im.mode.startswith("I"):  # 16-bit grey ("I;16", or "I" holding 0..65535): keep the high byte
        grey = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        return cv2.cvtColor(_over_white(np.asarray(im.convert("RGBA"))), cv2.COLOR_RGB2BGR)
    if im.mode == "L":
        return cv2.cvtColor(np.asarray(im), cv2.COLOR_GRAY2BGR)
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)


def _over_white(pixels: np.ndarray) -> np.ndarray:
    """Composite straight (non-premultiplied) colour + alpha over white; the three colour channels come
    out in the order they went in."""
    alpha = pixels[..., 3:]
    if alpha.min() == 255:
        return np.ascontiguousarray(pixels[..., :3])
    a = alpha.astype(np.uint16)
    blended = (pixels[..., :3].astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return blended.astype(np.uint8)


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn the stored pixels upright per EXIF orientation (2-8 are mirrors and/or quarter turns)."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(image), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


# --- encoding helpers -------------------------------------------------------------------------------


def _jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _fit(image: np.ndarray, max_sides_sum: int | None, max_aspect: float | None) -> np.ndarray:
    """Scale down so that the sides, once padded to the aspect limit, sum to at most ``max_sides_sum``;
    then pad. Padding last keeps the aspect exact whatever the rounding of the scaled sides."""
    height, width = image.shape[:2]
    long_side, short_side = max(width, height), min(width, height)
    padded_short = short_side if max_aspect is None else max(short_side, math.ceil(long_side / max_aspect))
    if max_sides_sum is not None and long_side + padded_short > max_sides_sum:
        scale = max_sides_sum / (long_side + padded_short)
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        height, width = image.shape[:2]
    if max_aspect is None:
        return image
    # pad the short side (white, centred) rather than crop: nothing of the picture is lost
    pad_h = max(0, math.ceil(width / max_aspect) - height)
    pad_w = max(0, math.ceil(height / max_aspect) - width)
    if pad_h or pad_w:
        image = cv2.copyMakeBorder(
            image,
            pad_h // 2,
            pad_h - pad_h // 2,
            pad_w // 2,
            pad_w - pad_w // 2,
            cv2.BORDER_CONSTANT,
            value=(255, 255, 255),
        )
    return image
