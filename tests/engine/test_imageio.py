"""Upload validation/decoding and result encoding, on real encoders' output and hand-crafted headers."""

from __future__ import annotations

import io
import struct
import tracemalloc
import warnings
import zlib
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from engine.errors import ImageRejected
from engine.imageio import (
    MAX_PIXELS,
    TELEGRAM_MAX_PHOTO_BYTES,
    ImageInfo,
    decode_image,
    encode_jpeg,
    encode_png,
    probe_image,
)
from tests.conftest import encode

# --- builders ---------------------------------------------------------------------------------------


def pil_bytes(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def rgb_image(bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(side: int) -> bytes:
    """A valid 8-bit grey PNG of side x side black pixels: every chunk and its CRC, the deflate stream and
    its Adler-32 are correct, ~1000x smaller than the pixels. Built from one 1 MiB all-zero deflate
    block repeated (a full flush makes each block independent), so it costs milliseconds to make."""
    raw_len = side * (side + 1)  # a filter byte (0) before each row, then the zero pixels
    block_len = 1 << 20
    comp = zlib.compressobj(9)
    first = comp.compress(bytes(block_len)) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(block_len)) + comp.flush(zlib.Z_FULL_FLUSH)
    assert first[2:] == block  # the zlib header, then the same independent block
    blocks, rest = divmod(raw_len, block_len)
    tail = comp.compress(bytes(rest)) + comp.flush()
    adler = ((raw_len % 65521) << 16) | 1  # Adler-32 of raw_len zero bytes
    stream = first + block * (blocks - 1) + tail[:-4] + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")
    )


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) claims another size."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def webp_canvas(width: int, height: int) -> bytes:
    """An extended-format WebP header declaring a width x height canvas."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def corrupt_entropy(jpeg: bytes) -> bytes:
    """Flip bits in 2000 bytes of the scan data without creating 0xFF (which would read as a marker)."""
    data = bytearray(jpeg)
    for i in range(len(data) // 2, len(data) // 2 + 2000):
        if data[i] != 0xFF and data[i - 1] != 0xFF and data[i] ^ 0x5A != 0xFF:
            data[i] ^= 0x5A
    return bytes(data)


def corrupt_idat(png: bytes) -> bytes:
    data = bytearray(png)
    start = png.index(b"IDAT") + 4 + 100
    data[start : start + 50] = bytes(50)
    return bytes(data)


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


# --- rejections -------------------------------------------------------------------------------------

Make = Callable[[np.ndarray], bytes]
BAD_INPUTS: list[tuple[str, Make, str, str]] = [
    ("empty", lambda _: b"", "empty", "empty"),
    (
        "random",
        lambda _: np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "not_an_image",
        "not a picture",
    ),
    ("text", lambda _: "Here is my selfie, ça va? 🙂\n".encode() * 40, "not_an_image", "text"),
    (
        "html",
        lambda _: (
            b"<!DOCTYPE html>\n<html><head><title>pic</title></head><body><img src=a.jpg></body></html>"
        ),
        "not_an_image",
        "web page",
    ),
    (
        "svg",
        lambda _: (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="90" height="90">'
            b'<circle cx="45" cy="45" r="40"/></svg>'
        ),
        "unsupported_format",
        "SVG",
    ),
    ("gif", lambda img: pil_bytes(rgb_image(img), "GIF"), "unsupported_format", "GIF"),
    ("bmp", lambda img: encode(img, ".bmp"), "unsupported_format", "BMP"),
    ("tiff", lambda img: encode(img, ".tiff"), "unsupported_format", "TIFF"),
    (
        "heic",  # no HEIC encoder here; the ISO-BMFF brand is what identifies one
        lambda _: struct.pack(">I", 24) + b"ftypheic" + bytes(4) + b"mif1heic" + bytes(200),
        "unsupported_format",
        "HEIC",
    ),
    ("pdf", lambda _: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "not_an_image", "PDF"),
    ("jpeg_half", lambda img: half(encode(img, ".jpg")), "truncated", "incomplete"),
    ("png_half", lambda img: half(encode(img, ".png")), "truncated", "incomplete"),
    ("webp_half", lambda img: half(pil_bytes(rgb_image(img), "WEBP")), "truncated", "incomplete"),
    ("jpeg_entropy", lambda img: corrupt_entropy(encode(img, ".jpg")), "corrupt", "damaged"),
    ("png_idat", lambda img: corrupt_idat(encode(img, ".png")), "corrupt", "damaged"),
    ("png_32x32", lambda img: encode(img[:32, :32], ".png"), "too_small", "too small"),
    ("png_bomb_60000", lambda _: png_bomb(60_000), "too_large", "too large"),
    ("png_12000x100", lambda _: encode(np.zeros((100, 12_000, 3), np.uint8), ".png"), "too_large", "10000"),
    ("jpeg_7000x7000", lambda img: jpeg_with_size(encode(img, ".jpg"), 7000, 7000), "too_large", "40 mega"),
    ("webp_16383x16383", lambda _: webp_canvas(16383, 16383), "too_large", "too large"),
]


@pytest.mark.parametrize(
    ("make", "reason", "words"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_is_rejected_with_its_reason(astronaut: np.ndarray, make: Make, reason: str, words: str):
    data = make(astronaut)
    with pytest.raises(ImageRejected) as caught:
        decode_image(data)
    assert caught.value.reason == reason
    assert words.lower() in caught.value.detail.lower()
    assert caught.value.detail.endswith(".")  # a sentence for the chat, not a code


DAMAGED = [case for case in BAD_INPUTS if case[2] in ("truncated", "corrupt")]


@pytest.mark.parametrize(("make", "reason"), [c[1:3] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_damage_is_caught_even_when_pillow_is_told_to_pad(
    astronaut: np.ndarray, make: Make, reason: str, monkeypatch
):
    # Some libraries set this process-wide; Pillow then skips CRCs and pads truncated pixel data.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageRejected) as caught:
        decode_image(make(astronaut))
    assert caught.value.reason == reason


def test_decompression_bomb_is_rejected_from_the_header_without_allocating():
    bomb = png_bomb(60_000)
    assert len(bomb) < 5_000_000  # 3.6 GB of pixels behind it
    tracemalloc.start()
    try:
        with pytest.raises(ImageRejected) as caught:
            decode_image(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == "too_large"
    assert peak < 1_000_000


def test_probe_rejects_oversized_headers_like_decode():
    with pytest.raises(ImageRejected) as caught:
        probe_image(webp_canvas(9000, 9000))
    assert caught.value.reason == "too_large"
    assert MAX_PIXELS < 9000 * 9000


def test_pillow_size_guard_surfaces_as_a_typed_rejection(astronaut: np.ndarray, monkeypatch):
    # Another part of a process may lower Pillow's global limit; its error and warning must not leak.
    webp = pil_bytes(rgb_image(astronaut), "WEBP", lossless=True)
    png = encode(astronaut, ".png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageRejected) as caught:
        decode_image(webp)
    assert caught.value.reason == "too_large"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(decode_image(png), astronaut)


# --- good inputs ------------------------------------------------------------------------------------


def test_jpeg_decodes_like_opencv(group_photo: np.ndarray):
    data = cv2.imencode(".jpg", group_photo, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    ours = decode_image(data)
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert ours.dtype == np.uint8 and ours.shape == reference.shape
    assert np.abs(ours.astype(int) - reference).max() <= 1


def test_lossless_formats_round_trip_exactly(astronaut: np.ndarray):
    assert np.array_equal(decode_image(encode_png(astronaut)), astronaut)
    webp = pil_bytes(rgb_image(astronaut), "WEBP", lossless=True)
    assert probe_image(webp) == ImageInfo("webp", 512, 512, 1)
    assert np.array_equal(decode_image(webp), astronaut)


def corner_marked(width: int = 128, height: int = 80) -> np.ndarray:
    """Grey picture with a red top-left corner."""
    image = np.full((height, width, 3), 128, np.uint8)
    image[:24, :24] = (0, 0, 255)
    return image


@pytest.mark.parametrize(
    ("fmt", "orientation", "red_corner"),
    [
        ("JPEG", 6, "top_right"),
        ("JPEG", 8, "bottom_left"),
        ("WEBP", 6, "top_right"),
        ("PNG", 8, "bottom_left"),
    ],
)
def test_exif_orientation_turns_the_picture_upright(fmt: str, orientation: int, red_corner: str):
    stored = corner_marked()
    data = pil_bytes(rgb_image(stored), fmt, exif=exif_with_orientation(orientation), quality=95)
    assert probe_image(data) == ImageInfo(fmt.lower(), 80, 128, orientation)
    image = decode_image(data)
    assert image.shape == (128, 80, 3)
    corners = {
        "top_left": image[4:16, 4:16],
        "top_right": image[4:16, -16:-4],
        "bottom_left": image[-16:-4, 4:16],
        "bottom_right": image[-16:-4, -16:-4],
    }
    for name, block in corners.items():
        expected = (0, 0, 255) if name == red_corner else (128, 128, 128)
        assert np.abs(block.mean(axis=(0, 1)) - expected).max() < 12, name


def test_every_orientation_matches_pillows_exif_transpose():
    stored = np.random.default_rng(3).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    for orientation in range(1, 9):
        data = pil_bytes(rgb_image(stored), "PNG", exif=exif_with_orientation(orientation))
        reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        expected = cv2.cvtColor(np.asarray(reference), cv2.COLOR_RGB2BGR)
        assert np.array_equal(decode_image(data), expected), orientation


def _la() -> bytes:
    grey = np.zeros((64, 64), np.uint8)
    alpha = np.zeros((64, 64), np.uint8)
    alpha[:, 32:] = 128
    return pil_bytes(Image.fromarray(np.dstack([grey, alpha]), "LA"), "PNG")


def _rgba() -> bytes:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[...] = (200, 50, 10, 255)
    rgba[:, 32:, 3] = 0
    rgba[32:, 32:, 3] = 128
    return pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG")


def _palette() -> bytes:
    im = Image.new("P", (64, 64), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (32, 0, 64, 64))
    return pil_bytes(im, "PNG", transparency=0)


def _bilevel() -> bytes:
    im = Image.new("1", (64, 64), 0)
    im.paste(1, (32, 0, 64, 64))
    return pil_bytes(im, "PNG")


def _cmyk_jpeg() -> bytes:
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, :32] = (230, 30, 30)
    rgb[:, 32:] = (40, 200, 240)
    return pil_bytes(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95)


def _png16(bgr: tuple[int, int, int] | int) -> bytes:
    shape = (64, 64, 3) if isinstance(bgr, tuple) else (64, 64)
    return encode(np.full(shape, bgr, np.uint16) * 257, ".png")


# (pixel (y, x), expected BGR): left half at x=8, right half at x=56.
def _blend(value: int, alpha: int) -> float:
    return value * alpha / 255 + 255 * (1 - alpha / 255)


MODES: list[tuple[str, Callable[[], bytes], list[tuple[tuple[int, int], tuple[float, float, float]]]]] = [
    ("L", lambda: pil_bytes(Image.new("L", (64, 64), 77), "PNG"), [((8, 8), (77, 77, 77))]),
    ("LA", _la, [((8, 8), (255, 255, 255)), ((8, 56), (_blend(0, 128),) * 3)]),
    (
        "RGBA",
        _rgba,
        [
            ((8, 8), (10, 50, 200)),
            ((8, 56), (255, 255, 255)),
            ((56, 56), (_blend(10, 128), _blend(50, 128), _blend(200, 128))),
        ],
    ),
    ("P_transparent", _palette, [((8, 8), (255, 255, 255)), ((8, 56), (255, 0, 0))]),
    ("1", _bilevel, [((8, 8), (0, 0, 0)), ((8, 56), (255, 255, 255))]),
    ("I16_grey", lambda: _png16(100), [((8, 8), (100, 100, 100))]),
    ("RGB16", lambda: _png16((10, 20, 30)), [((8, 8), (10, 20, 30))]),
]


@pytest.mark.parametrize(("make", "expected"), [m[1:] for m in MODES], ids=[m[0] for m in MODES])
def test_png_modes_become_bgr_uint8(make: Callable[[], bytes], expected):
    image = decode_image(make())
    assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
    for (y, x), bgr in expected:
        assert np.abs(image[y, x].astype(float) - bgr).max() <= 1, (y, x, image[y, x])


def test_adobe_cmyk_jpeg_keeps_its_colours():
    data = _cmyk_jpeg()
    assert b"Adobe" in data[:100]  # inverted CMYK, as Photoshop and libjpeg write it
    image = decode_image(data)
    assert image.shape == (64, 64, 3)
    assert np.abs(image[32, 8].astype(int) - (30, 30, 230)).max() < 12
    assert np.abs(image[32, 56].astype(int) - (240, 200, 40)).max() < 12


# --- encoding ---------------------------------------------------------------------------------------


def jpeg_markers(data: bytes) -> list[int]:
    """Marker codes from SOI up to and including SOS."""
    markers, pos = [], 2
    while True:
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            return markers
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]


def test_encode_jpeg_is_plain_and_faithful(astronaut: np.ndarray):
    data = encode_jpeg(astronaut)
    assert data[:3] == b"\xff\xd8\xff"
    markers = jpeg_markers(data)
    assert not [m for m in markers if 0xE1 <= m <= 0xEF]  # no EXIF/XMP/ICC/Adobe segments
    back = decode_image(data)
    assert cv2.PSNR(back, astronaut) > 38


def test_encode_jpeg_scales_to_telegram_side_sum():
    gradient = np.linspace(0, 255, 9000, dtype=np.float32).astype(np.uint8)
    image = np.dstack([np.broadcast_to(gradient, (3000, 9000))] * 3)
    info = probe_image(encode_jpeg(image))
    assert 9_990 <= info.width + info.height <= 10_000
    assert abs(info.width / info.height - 3) < 0.01


def test_encode_jpeg_pads_extreme_aspect_ratios():
    strip = np.full((60, 2100, 3), (0, 0, 200), np.uint8)
    back = decode_image(encode_jpeg(strip))
    assert back.shape == (105, 2100, 3)  # 2100 / 20
    assert np.abs(back[2, 1000].astype(int) - 255).max() < 8  # white band
    assert np.abs(back[52, 1000].astype(int) - (0, 0, 200)).max() < 8  # the picture, centred


def test_encode_jpeg_keeps_both_limits_when_scaling_rounds():
    # 9600x480 is exactly 20:1 with w + h = 10080: naive flooring gives 9523x476, over 20:1
    info = probe_image(encode_jpeg(np.full((480, 9600, 3), 90, np.uint8)))
    assert info.width + info.height <= 10_000
    assert info.width <= 20 * info.height
    assert info.width >= 9_500


def test_encode_jpeg_lowers_quality_before_shrinking():
    noise = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    full = len(encode_jpeg(noise))
    data = encode_jpeg(noise, max_bytes=int(full * 0.8))
    assert len(data) <= full * 0.8
    assert probe_image(data).width == 400
    tiny = encode_jpeg(noise, max_bytes=20_000)
    assert len(tiny) <= 20_000
    assert probe_image(tiny).width < 400


def test_noisy_large_image_fits_telegrams_byte_limit():
    noise = np.random.default_rng(2).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    assert cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].size > TELEGRAM_MAX_PHOTO_BYTES
    data = encode_jpeg(noise)
    assert len(data) <= TELEGRAM_MAX_PHOTO_BYTES
    assert probe_image(data) == ImageInfo("jpeg", 4000, 3000, 1)


def test_encoders_refuse_non_bgr_arrays():
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError):
        encode_png(np.zeros((64, 64, 3), np.float32))
