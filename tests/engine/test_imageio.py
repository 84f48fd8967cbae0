"""Upload validation/decoding and the generic JPEG encoder, on real encoders' output and hand-crafted
files (Telegram's photo limits are tested with jobs/results)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import simplejpeg
from PIL import Image, ImageFile, ImageOps

from engine.errors import ImageRejected
from engine.imageio import (
    MAX_FILE_BYTES,
    MAX_JPEG_SCANS,
    MAX_PIXELS,
    REJECTION_CODES,
    ImageInfo,
    decode_image,
    encode_jpeg,
    encode_png,
    probe_image,
    read_image_file,
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


def png_file(width: int, height: int, stream: bytes, *, colour_type: int = 2, interlace: int = 0) -> bytes:
    """8-bit PNG around a zlib stream, every chunk and CRC correct."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")
    )


def raw_rows(rgb: np.ndarray) -> bytes:
    """PNG scanlines of an RGB array: filter type 0 (none) before each row."""
    return b"".join(b"\x00" + row.tobytes() for row in rgb)


def png_taller_than_its_data(png: bytes) -> bytes:
    """A real encoder's PNG whose IHDR claims twice the height: the zlib stream ends, complete, halfway."""
    width, height = struct.unpack_from(">II", png, 16)
    ihdr = png[16:29]
    patched = png_chunk(b"IHDR", struct.pack(">II", width, 2 * height) + ihdr[8:])
    return png[:8] + patched + png[33:]


def png_half_rows(rgb: np.ndarray) -> bytes:
    """The IHDR is right, the zlib stream is complete (Adler-32 and all), but it holds half the rows."""
    height, width = rgb.shape[:2]
    return png_file(width, height, zlib.compress(raw_rows(rgb[: height // 2])))


def png_stream_cut(rgb: np.ndarray) -> bytes:
    """The zlib stream stops (flushed, never finished) after half the rows; every chunk is whole."""
    height, width = rgb.shape[:2]
    deflate = zlib.compressobj()
    stream = deflate.compress(raw_rows(rgb[: height // 2])) + deflate.flush(zlib.Z_SYNC_FLUSH)
    return png_file(width, height, stream)


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_interlaced(rgb: np.ndarray, passes: int = 7) -> bytes:
    """An Adam7-interlaced PNG (Pillow and OpenCV write none), optionally holding only the first passes."""
    height, width = rgb.shape[:2]
    raw = b"".join(raw_rows(rgb[y0::dy, x0::dx]) for x0, y0, dx, dy in ADAM7[:passes])
    return png_file(width, height, zlib.compress(raw), interlace=1)


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
    return png_file(side, side, stream, colour_type=0)


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


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", 2 + len(payload)) + payload


class Bits:
    """Entropy-coded bytes: bits MSB first, padded with ones, 0xFF followed by a stuffed zero."""

    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def put(self, value: int, count: int) -> None:
        self.value = (self.value << count) | value
        self.count += count

    def zeros(self, count: int) -> None:
        self.put(0, count)

    def data(self) -> bytes:
        pad = -self.count % 8
        raw = ((self.value << pad) | ((1 << pad) - 1)).to_bytes((self.count + pad) // 8, "big")
        return raw.replace(b"\xff", b"\xff\x00")


def progressive_flat_jpeg(width: int, height: int, refinements: int = 0) -> bytes:
    """A legal progressive grey JPEG of flat mid-grey with ``64 * (1 + refinements)`` scans: a DC scan
    and one scan per AC coefficient, each followed by ``refinements`` successive-approximation scans.
    Every coefficient is zero, so a DC scan is one bit a block and an AC scan a few end-of-band runs:
    thousands of scans over 40 megapixels cost well under a megabyte, as in the hostile file."""
    blocks = -(-width // 8) * -(-height // 8)
    dc_table = bytes([0x00, 1] + [0] * 15) + bytes([0x00])  # one code, "0": DC difference 0
    ac_symbols = bytes(r << 4 for r in range(15))  # EOB0..EOB14: end-of-band runs of 2**r and more
    ac_table = bytes([0x10] + [0, 0, 0, 15] + [0] * 12) + ac_symbols  # 4-bit codes, in symbol order
    out = b"\xff\xd8" + segment(0xDB, bytes(1) + bytes([1] * 64))
    out += segment(0xC2, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
    out += segment(0xC4, dc_table) + segment(0xC4, ac_table)

    def scan(first: int, last: int, high: int, low: int) -> bytes:
        bits = Bits()
        if first == 0:  # DC: a zero difference (first scan) or a zero bit (refinement) per block
            bits.zeros(blocks)
        else:
            left = blocks
            while left:
                run = min(left, 32767)
                r = run.bit_length() - 1
                bits.put(r, 4)  # the code of symbol r << 4 is r itself
                bits.put(run - (1 << r), r)
                left -= run
        header = bytes([1, 1, 0x00, first, last, high << 4 | low])
        return segment(0xDA, header) + bits.data()

    top = refinements
    out += scan(0, 0, 0, top) + b"".join(scan(k, k, 0, top) for k in range(1, 64))
    for bit in range(top, 0, -1):
        out += scan(0, 0, bit, bit - 1) + b"".join(scan(k, k, bit, bit - 1) for k in range(1, 64))
    return out + b"\xff\xd9"


def with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """The JPEG with an extra APP1 segment right after SOI."""
    return jpeg[:2] + segment(0xE1, payload) + jpeg[2:]


def exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """An EXIF block (empty IFD0) followed by an embedded JPEG, as cameras store thumbnails."""
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<IHI", 8, 0, 0) + thumbnail


# --- rejections -------------------------------------------------------------------------------------

Make = Callable[[np.ndarray], bytes]
TOO_LARGE = {"max_side": 10_000, "max_megapixels": 40}
BAD_INPUTS: list[tuple[str, Make, str, dict[str, Any]]] = [
    ("empty", lambda _: b"", "empty", {}),
    (
        "random",
        lambda _: np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "not_an_image",
        {"what": None},
    ),
    (
        "text",
        lambda _: "Here is my selfie, ça va? 🙂\n".encode() * 40,
        "not_an_image",
        {"what": "a text file"},
    ),
    (
        "html",
        lambda _: (
            b"<!DOCTYPE html>\n<html><head><title>pic</title></head><body><img src=a.jpg></body></html>"
        ),
        "not_an_image",
        {"what": "a web page"},
    ),
    (
        "svg",
        lambda _: (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="90" height="90">'
            b'<circle cx="45" cy="45" r="40"/></svg>'
        ),
        "unsupported_format",
        {"format": "SVG", "hint": None},
    ),
    (
        "gif",
        lambda img: pil_bytes(rgb_image(img), "GIF"),
        "unsupported_format",
        {"format": "GIF", "hint": "animation"},
    ),
    ("bmp", lambda img: encode(img, ".bmp"), "unsupported_format", {"format": "BMP", "hint": None}),
    ("tiff", lambda img: encode(img, ".tiff"), "unsupported_format", {"format": "TIFF", "hint": None}),
    (
        "heic",  # no HEIC encoder here; the ISO-BMFF brand is what identifies one
        lambda _: struct.pack(">I", 24) + b"ftypheic" + bytes(4) + b"mif1heic" + bytes(200),
        "unsupported_format",
        {"format": "HEIC", "hint": "iphone"},
    ),
    (
        "pdf",
        lambda _: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "not_an_image",
        {"what": "a PDF document"},
    ),
    ("jpeg_half", lambda img: half(encode(img, ".jpg")), "truncated", {}),
    ("png_half", lambda img: half(encode(img, ".png")), "truncated", {}),
    ("png_ihdr_taller", lambda img: png_taller_than_its_data(encode(img, ".png")), "truncated", {}),
    ("png_half_rows", lambda img: png_half_rows(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)), "truncated", {}),
    ("png_stream_cut", lambda img: png_stream_cut(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)), "truncated", {}),
    ("png_interlaced_6_passes", lambda img: png_interlaced(img, passes=6), "truncated", {}),
    ("webp_half", lambda img: half(pil_bytes(rgb_image(img), "WEBP")), "truncated", {}),
    ("jpeg_entropy", lambda img: corrupt_entropy(encode(img, ".jpg")), "corrupt", {}),
    ("png_idat", lambda img: corrupt_idat(encode(img, ".png")), "corrupt", {}),
    (
        "png_32x32",
        lambda img: encode(img[:32, :32], ".png"),
        "too_small",
        {"width": 32, "height": 32, "min_side": 64},
    ),
    (
        "png_bomb_60000",
        lambda _: png_bomb(60_000),
        "too_large",
        {"width": 60_000, "height": 60_000, **TOO_LARGE},
    ),
    (
        "png_12000x100",
        lambda _: encode(np.zeros((100, 12_000, 3), np.uint8), ".png"),
        "too_large",
        {"width": 12_000, "height": 100, **TOO_LARGE},
    ),
    (
        "jpeg_7000x7000",
        lambda img: jpeg_with_size(encode(img, ".jpg"), 7000, 7000),
        "too_large",
        {"width": 7000, "height": 7000, **TOO_LARGE},
    ),
    (
        "webp_16383x16383",
        lambda _: webp_canvas(16383, 16383),
        "too_large",
        {"width": 16383, "height": 16383, **TOO_LARGE},
    ),
    (
        "jpeg_128_scans",
        lambda _: progressive_flat_jpeg(256, 256, refinements=1),
        "too_complex",
        {"scans": 128, "max_scans": 64},
    ),
]


@pytest.mark.parametrize(
    ("make", "code", "params"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_is_rejected_with_its_code_and_params(
    astronaut: np.ndarray, make: Make, code: str, params: dict[str, Any]
):
    data = make(astronaut)
    with pytest.raises(ImageRejected) as caught:
        decode_image(data)
    assert caught.value.code == code
    assert caught.value.params == params
    assert code in REJECTION_CODES  # the list the catalogue is written from


DAMAGED = [case for case in BAD_INPUTS if case[2] in ("truncated", "corrupt")]


@pytest.mark.parametrize(("make", "code"), [c[1:3] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_damage_is_caught_even_when_pillow_is_told_to_pad(
    astronaut: np.ndarray, make: Make, code: str, monkeypatch
):
    # Some libraries set this process-wide; Pillow then skips CRCs and pads truncated pixel data.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageRejected) as caught:
        decode_image(make(astronaut))
    assert caught.value.code == code


def test_pillow_alone_paints_the_missing_rows_black(astronaut: np.ndarray):
    # Why the PNG check exists: the short-but-complete stream decodes without a word from Pillow.
    data = png_half_rows(cv2.cvtColor(astronaut, cv2.COLOR_BGR2RGB))
    with Image.open(io.BytesIO(data)) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape == (512, 512, 3)
    assert not pixels[300:].any()


def test_interlaced_png_decodes_exactly(astronaut: np.ndarray):
    odd = astronaut[:101, :77]  # sides that leave some Adam7 passes partial
    rgb = cv2.cvtColor(odd, cv2.COLOR_BGR2RGB)
    assert np.array_equal(decode_image(png_interlaced(rgb)), odd)


# --- progressive JPEG scans -------------------------------------------------------------------------


def test_many_scans_are_refused_from_the_header():
    # 8000x5000 flat grey with 896 legal scans, 1.1 MB: libjpeg would spend seconds on it. probe_image
    # decodes no pixel, so the refusal comes from the marker walk alone.
    data = progressive_flat_jpeg(8000, 5000, refinements=13)
    assert len(data) < 1_500_000
    for check in (probe_image, decode_image):
        with pytest.raises(ImageRejected) as caught:
            check(data)
        assert caught.value.code == "too_complex"
        assert caught.value.params == {"scans": 896, "max_scans": MAX_JPEG_SCANS}


def test_the_crafted_files_are_legal_jpegs():
    # The refused file is one libjpeg decodes in strict mode: the cap, not damage, refuses it.
    over = simplejpeg.decode_jpeg(
        progressive_flat_jpeg(256, 256, refinements=1), colorspace="GRAY", strict=True
    )
    assert over.shape == (256, 256, 1) and np.abs(over.astype(int) - 128).max() <= 1
    # At the cap exactly, the same kind of file goes through.
    at_cap = decode_image(progressive_flat_jpeg(256, 256))
    assert at_cap.shape == (256, 256, 3) and np.abs(at_cap.astype(int) - 128).max() <= 1


@pytest.mark.parametrize("restart_rows", [0, 1])
def test_real_progressive_jpeg_decodes(astronaut: np.ndarray, restart_rows: int):
    # Restart markers (RST0-7) sit inside entropy data and carry no length; stuffed 0xFF00 bytes abound.
    params = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, restart_rows]
    ok, buf = cv2.imencode(".jpg", astronaut, params)
    assert ok
    data = buf.tobytes()
    assert data.count(b"\xff\xda") > 1
    assert (b"\xff\xd0" in data) == bool(restart_rows)
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(decode_image(data).astype(int) - reference).max() <= 1


def test_scans_inside_an_exif_thumbnail_do_not_count(astronaut: np.ndarray):
    thumbnail = progressive_flat_jpeg(64, 64, refinements=1)  # 128 scans of its own
    progressive = pil_bytes(rgb_image(astronaut), "JPEG", progressive=True, quality=90)
    data = with_app1(progressive, exif_with_thumbnail(thumbnail))
    assert decode_image(data).shape == (512, 512, 3)


# --- file size --------------------------------------------------------------------------------------


def test_read_image_file_refuses_a_huge_file_before_reading_it(tmp_path: Path):
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as file:
        file.truncate(1_600_000_000)  # sparse: no disk used, and reading it would take 1.6 GB
    tracemalloc.start()
    try:
        with pytest.raises(ImageRejected) as caught:
            read_image_file(huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "file_too_large"
    assert caught.value.params == {"size": 1_600_000_000, "max_bytes": MAX_FILE_BYTES}
    assert peak < 1_000_000


def test_read_image_file_decodes_a_file_at_the_cap(tmp_path: Path, astronaut: np.ndarray):
    path = tmp_path / "astronaut.png"
    path.write_bytes(encode(astronaut, ".png"))
    assert np.array_equal(read_image_file(path), astronaut)
    path.write_bytes(encode(astronaut, ".png") + bytes(MAX_FILE_BYTES))  # trailing bytes over the cap
    with pytest.raises(ImageRejected) as caught:
        read_image_file(path)
    assert caught.value.code == "file_too_large"


# --- memory -----------------------------------------------------------------------------------------

# ru_maxrss is no good here: Linux carries the parent's peak across fork and exec into the child's figure.
# The child instead resets its own peak mark (clear_refs 5) once it holds the file, and reads it after.
_PEAK_CHILD = """
import json, sys
from engine.imageio import decode_image

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))

data = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
baseline = status("VmRSS")
image = decode_image(data)
print(json.dumps({"shape": image.shape, "extra": status("VmHWM") - baseline}))
"""


def _decode_peak(path: Path) -> tuple[tuple[int, ...], int]:
    """Peak RSS one decode adds to a fresh interpreter that holds the file's bytes (Pillow's and
    libwebp's C allocations are invisible to tracemalloc)."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, str(path)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    return tuple(result["shape"]), result["extra"]


def _picture_40mp(channels: int) -> np.ndarray:
    """8000x5000 gradients; the alpha channel varies, so compositing over white runs."""
    x = np.linspace(0, 255, 8000).astype(np.uint8)[None, :]
    y = np.linspace(0, 255, 5000).astype(np.uint8)[:, None]
    planes = [x, y, x // 2 + y // 2, 128 + y // 2][:channels]
    return np.stack([np.broadcast_to(p, (5000, 8000)) for p in planes], -1)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux peak-RSS reset")
@pytest.mark.parametrize("fmt", ["WEBP", "PNG", "JPEG"])
def test_decode_at_the_pixel_limit_peaks_under_four_frames(tmp_path: Path, fmt: str):
    # 8000x5000 with EXIF rotation (RGBA for WebP and PNG): decode, composite, convert and turn upright.
    channels = 3 if fmt == "JPEG" else 4
    picture = Image.fromarray(_picture_40mp(channels), "RGBA" if channels == 4 else "RGB")
    path = tmp_path / f"big.{fmt.lower()}"
    options = {"WEBP": {"quality": 50, "method": 0}, "PNG": {"compress_level": 1}, "JPEG": {"quality": 90}}
    picture.save(path, fmt, exif=exif_with_orientation(6), **options[fmt])
    del picture
    shape, extra = _decode_peak(path)
    assert shape == (8000, 5000, 3)  # upright: the EXIF rotation was applied
    frame = 8000 * 5000 * 3
    assert extra < 4 * frame, f"{fmt}: {extra / frame:.2f} frames"


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


def test_a_lowered_pillow_size_guard_changes_nothing(astronaut: np.ndarray, monkeypatch):
    # Another part of a process may lower Pillow's global limit; its error and warning must not leak.
    webp = pil_bytes(rgb_image(astronaut), "WEBP", lossless=True)
    png = encode(astronaut, ".png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(decode_image(webp), astronaut)
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


def test_encode_jpeg_without_limits_keeps_the_picture_as_it_is():
    gradient = np.linspace(0, 255, 9000, dtype=np.float32).astype(np.uint8)
    strip = np.dstack([np.broadcast_to(gradient, (300, 9000))] * 3)  # 30:1, sides summing to 9300
    assert probe_image(encode_jpeg(strip)) == ImageInfo("jpeg", 9000, 300, 1)
    assert probe_image(encode_jpeg(strip, max_sides_sum=10_000)) == ImageInfo("jpeg", 9000, 300, 1)


def test_encode_jpeg_scales_to_a_side_sum():
    gradient = np.linspace(0, 255, 900, dtype=np.float32).astype(np.uint8)
    image = np.dstack([np.broadcast_to(gradient, (300, 900))] * 3)
    info = probe_image(encode_jpeg(image, max_sides_sum=1000))
    assert 990 <= info.width + info.height <= 1000
    assert abs(info.width / info.height - 3) < 0.02


def test_encode_jpeg_pads_to_an_aspect_ratio():
    strip = np.full((60, 2100, 3), (0, 0, 200), np.uint8)
    back = decode_image(encode_jpeg(strip, max_aspect=20))
    assert back.shape == (105, 2100, 3)  # 2100 / 20
    assert np.abs(back[2, 1000].astype(int) - 255).max() < 8  # white band
    assert np.abs(back[52, 1000].astype(int) - (0, 0, 200)).max() < 8  # the picture, centred
    tall = decode_image(encode_jpeg(np.full((700, 64, 3), 90, np.uint8), max_aspect=5))
    assert tall.shape == (700, 140, 3)


def test_encode_jpeg_keeps_both_limits_when_scaling_rounds():
    # 9600x480 is exactly 20:1 with w + h = 10080: naive flooring gives 9523x476, over 20:1
    info = probe_image(
        encode_jpeg(np.full((480, 9600, 3), 90, np.uint8), max_sides_sum=10_000, max_aspect=20)
    )
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


def test_encoders_refuse_non_bgr_arrays():
    with pytest.raises(ValueError):
        encode_jpeg(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError):
        encode_png(np.zeros((64, 64, 3), np.float32))
