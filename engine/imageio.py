"""Images in and out: recognise, validate and decode uploads; encode results for chat platforms.

Every upload passes through :func:`decode_image`. Formats are told apart by their magic bytes, never by
a file name. Dimensions come from our own header parsers and are checked before any decoder runs, so a
decompression bomb is rejected having allocated nothing (Pillow's WebP plugin, for one, allocates the
whole canvas when it opens a file). JPEGs are decoded by libjpeg-turbo in strict mode (simplejpeg):
Pillow and OpenCV both paint over corrupt entropy data silently and OpenCV pads truncated files.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import simplejpeg
from PIL import Image, PngImagePlugin, WebPImagePlugin

from engine.base import check_bgr
from engine.errors import ImageRejected

# Uploads: smaller faces are useless, larger pictures cost memory and time on every job.
MIN_SIDE = 64
MAX_SIDE = 10_000
MAX_PIXELS = 40_000_000

# Telegram's sendPhoto limits (Bot API docs): width + height, the long side over the short side, bytes.
TELEGRAM_MAX_SIDES_SUM = 10_000
TELEGRAM_MAX_ASPECT = 20
TELEGRAM_MAX_PHOTO_BYTES = 10_000_000
# Qualities tried in turn when a JPEG is over the byte limit; below the last one the image shrinks instead.
JPEG_QUALITY_STEPS = (95, 90, 85, 80, 75, 70, 60)

ImageFormat = Literal["jpeg", "png", "webp"]

_SEND_INSTEAD = "Please send a photo as JPEG, PNG or WebP."
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    a header cut short, sides under ``MIN_SIDE``, over ``MAX_SIDE`` or more than ``MAX_PIXELS``.
    """
    view = memoryview(data).cast("B")
    if len(view) == 0:
        raise ImageRejected("empty", f"The file is empty. {_SEND_INSTEAD}")
    if view[:3] == b"\xff\xd8\xff":
        fmt, (width, height, orientation) = "jpeg", _parse_jpeg(view)
    elif view[:8] == _PNG_MAGIC:
        fmt, (width, height, orientation) = "png", _parse_png(view)
    elif view[:4] == b"RIFF" and view[8:12] == b"WEBP":
        fmt, (width, height, orientation) = "webp", _parse_webp(view)
    else:
        raise _unrecognised(bytes(view[:2048]))
    if orientation >= 5:  # these four turn the picture by 90 degrees
        width, height = height, width
    return ImageInfo(fmt, width, height, orientation)


def decode_image(data: bytes) -> np.ndarray:
    """Decode a JPEG, PNG or WebP upload to an upright BGR uint8 HxWx3 array.

    EXIF orientation is applied; grey, palette, 16-bit and CMYK pictures become 8-bit BGR and
    transparency is composited over white. Anything else raises ``ImageRejected`` with a ``reason``
    (empty, not_an_image, unsupported_format, truncated, corrupt, too_small, too_large) and a
    ``detail`` that tells the user what to send instead.
    """
    info = probe_image(data)
    image = _decode_jpeg(data) if info.format == "jpeg" else _decode_with_pillow(data, info.format)
    image = _apply_orientation(image, info.orientation)
    if image.shape[:2] != (info.height, info.width):
        raise _corrupt()
    return image


def encode_jpeg(image: np.ndarray, quality: int = 95, *, max_bytes: int = TELEGRAM_MAX_PHOTO_BYTES) -> bytes:
    """A metadata-free JPEG that Telegram's sendPhoto accepts as it is.

    The picture is padded (white) to an aspect ratio of at most ``TELEGRAM_MAX_ASPECT`` and scaled down
    until width + height <= ``TELEGRAM_MAX_SIDES_SUM``. If the file is still over ``max_bytes`` the
    quality goes down ``JPEG_QUALITY_STEPS``; past the last step the picture shrinks.
    """
    check_bgr(image)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    image = _fit_for_telegram(image)
    qualities = [quality, *(q for q in JPEG_QUALITY_STEPS if q < quality)]
    while True:
        for q in qualities:
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, q])
            if not ok:
                raise ValueError("JPEG encoding failed")
            if buf.size <= max_bytes:
                return buf.tobytes()
        # JPEG size grows roughly with the pixel count: shrink by the excess, with a margin.
        scale = min(0.9, 0.95 * math.sqrt(max_bytes / buf.size))
        height, width = image.shape[:2]
        if width == 1 and height == 1:
            raise ValueError(f"cannot fit a JPEG into {max_bytes} bytes")
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        image = _fit_for_telegram(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
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
    return ImageRejected(
        "truncated", "The image file is incomplete (the upload was cut off). Please send it again."
    )


def _corrupt() -> ImageRejected:
    return ImageRejected(
        "corrupt", "The image file is damaged and cannot be read. Please send another copy of the photo."
    )


def _check_size(width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageRejected(
            "too_small",
            f"The image is too small ({width}x{height} pixels): each side must be at least {MIN_SIDE} "
            "pixels. Please send a bigger photo.",
        )
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageRejected(
            "too_large",
            f"The image is too large ({width}x{height} pixels): the limit is {MAX_PIXELS // 1_000_000} "
            f"megapixels and {MAX_SIDE} pixels a side. Please send a smaller photo.",
        )


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
_FORMAT_HINTS = {
    "GIF": " Animations cannot be used: send a still picture.",
    "HEIC": " On an iPhone, send it as a photo rather than as a file.",
}


def _unrecognised(head: bytes) -> ImageRejected:
    """The rejection for bytes that are none of our formats, naming what they are when we can tell."""
    name, is_image = _identify(head)
    if name is None:
        return ImageRejected("not_an_image", f"This file is not a picture I can read. {_SEND_INSTEAD}")
    if not is_image:
        return ImageRejected("not_an_image", f"This is {name}, not a picture. {_SEND_INSTEAD}")
    hint = _FORMAT_HINTS.get(name, "")
    return ImageRejected("unsupported_format", f"{name} images are not supported.{hint} {_SEND_INSTEAD}")


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
        if marker == 0xE1 and not exif_seen and segment[:6] == b"Exif\x00\x00":
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
                raise ImageRejected(
                    "unsupported_format",
                    f"This JPEG uses a rare encoding (lossless, 12-bit or similar). {_SEND_INSTEAD}",
                )
            _check_size(width, height)
            size = (width, height)
        elif marker == 0xDA:  # start of scan: entropy-coded data follows, the header is over
            if size is None:
                raise _corrupt()
            return size[0], size[1], orientation
        pos += length


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
        if payload[3:6] != b"\x9d\x01\x2a":
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
    if tiff[:6] == b"Exif\x00\x00":  # PNG and WebP writers disagree on whether this prefix belongs
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


# --- decoders ---------------------------------------------------------------------------------------


def _decode_jpeg(data: bytes) -> np.ndarray:
    # strict: libjpeg's "corrupt data" warnings become errors. CMYK/YCCK come out as BGR too, read in
    # Adobe's inverted convention as Pillow does (what Photoshop and libjpeg write).
    try:
        return simplejpeg.decode_jpeg(data, colorspace="BGR", strict=True)
    except ValueError as exc:
        raise _truncated() if "Premature end" in str(exc) else _corrupt() from exc


_PILLOW_OPENERS: dict[str, Callable[[io.BytesIO], Image.Image]] = {
    "png": PngImagePlugin.PngImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
}


def _decode_with_pillow(data: bytes, fmt: str) -> np.ndarray:
    # The plugin class is used directly rather than Image.open: only the sniffed format can decode it,
    # and Image.open's own size check (a DecompressionBombWarning) never fires; the error form of it,
    # possible when MAX_IMAGE_PIXELS was lowered process-wide, becomes a typed rejection.
    try:
        with _PILLOW_OPENERS[fmt](io.BytesIO(data)) as im:
            im.load()
            return _pillow_to_bgr(im)
    except Image.DecompressionBombError as exc:
        raise ImageRejected("too_large", f"The image is too large. {_SEND_INSTEAD}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        raise _truncated() if "truncated" in str(exc) else _corrupt() from exc


def _pillow_to_bgr(im: Image.Image) -> np.ndarray:
    if im.mode.startswith("I"):  # 16-bit grey ("I;16", or "I" holding 0..65535): keep the high byte
        grey = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        return _over_white(np.asarray(im.convert("RGBA")))
    if im.mode == "L":
        return cv2.cvtColor(np.asarray(im), cv2.COLOR_GRAY2BGR)
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """Composite straight (non-premultiplied) RGBA over white; BGR out."""
    alpha = rgba[..., 3:]
    if alpha.min() == 255:
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
    a = alpha.astype(np.uint16)
    rgb = (rgba[..., :3].astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2BGR)


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


def _fit_for_telegram(image: np.ndarray) -> np.ndarray:
    """Scale down so that the sides, once padded to the aspect limit, sum to at most the limit; then pad.
    Padding last keeps the aspect exact whatever the rounding of the scaled sides."""
    height, width = image.shape[:2]
    long_side, short_side = max(width, height), min(width, height)
    padded_short = max(short_side, math.ceil(long_side / TELEGRAM_MAX_ASPECT))
    if long_side + padded_short > TELEGRAM_MAX_SIDES_SUM:
        scale = TELEGRAM_MAX_SIDES_SUM / (long_side + padded_short)
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        height, width = image.shape[:2]
    # pad the short side (white, centred) rather than crop: nothing of the picture is lost
    pad_h = max(0, math.ceil(width / TELEGRAM_MAX_ASPECT) - height)
    pad_w = max(0, math.ceil(height / TELEGRAM_MAX_ASPECT) - width)
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
