"""Peak memory of ``engine.imageio.decode_image`` per image format, each decode in a fresh process.

The child imports the decoder, reads the file, resets the kernel's peak-RSS mark to what it holds
now (the baseline), decodes once and reports the new peak: the figure is what one decode adds to a
worker, the returned frame included. The multiple is that figure over the decoded BGR frame
(3 bytes a pixel), the yardstick of issue 7's goal (under 4x at the 40-megapixel limit).

    .venv/bin/python -m bench.decode_memory FILE   (the child; prints JSON)
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

MIB = 1024 * 1024
EXIF_ROTATE_90 = 6  # EXIF orientation "turn 90 degrees clockwise to view"


@dataclass(frozen=True)
class DecodePeak:
    label: str
    file_mib: float
    frame_mib: float  # the decoded BGR frame
    peak_mib: float  # peak RSS above the baseline

    @property
    def multiple(self) -> float:
        return self.peak_mib / self.frame_mib


def _picture(width: int, height: int, channels: int) -> np.ndarray:
    """Smooth gradients with a fine pattern: photo-like work for the decoders, small files to write."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    ripple = 24 * np.sin(np.arange(width, dtype=np.float32) / 3)[None, :]
    planes = [x, y + ripple, (x + y) / 2, 128 + y / 2][:channels]  # alpha varies: compositing runs
    return np.stack([np.broadcast_to(p, (height, width)).clip(0, 255).astype(np.uint8) for p in planes], -1)


def _jpeg(width: int, height: int) -> bytes:
    return bytes(cv2.imencode(".jpg", _picture(width, height, 3), [cv2.IMWRITE_JPEG_QUALITY, 90])[1])


def _png(width: int, height: int) -> bytes:
    return bytes(cv2.imencode(".png", _picture(width, height, 3), [cv2.IMWRITE_PNG_COMPRESSION, 1])[1])


def _webp_rgba_rotated(width: int, height: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = EXIF_ROTATE_90
    out = io.BytesIO()
    Image.fromarray(_picture(width, height, 4), "RGBA").save(out, "WEBP", quality=80, method=0, exif=exif)
    return out.getvalue()


FORMATS: dict[str, Callable[[int, int], bytes]] = {
    "JPEG": _jpeg,
    "PNG": _png,
    "WebP RGBA, EXIF 90": _webp_rgba_rotated,
}


def measure(folder: Path, width: int, height: int) -> list[DecodePeak]:
    """One row per format of a ``width`` x ``height`` picture, files written into ``folder``."""
    rows = []
    for label, write in FORMATS.items():
        path = folder / f"decode-{len(rows)}"
        path.write_bytes(write(width, height))
        child = subprocess.run(
            [sys.executable, "-m", "bench.decode_memory", str(path)], capture_output=True, text=True
        )
        if child.returncode != 0:
            raise RuntimeError(f"decoding the {label} sample failed:\n{child.stderr}")
        figures = json.loads(child.stdout)
        rows.append(
            DecodePeak(label, path.stat().st_size / MIB, width * height * 3 / MIB, figures["peak"] / MIB)
        )
    return rows


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _child(path: Path) -> None:
    from engine.imageio import decode_image

    data = path.read_bytes()
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS (Linux 4.0+)
    baseline = _status_kib("VmRSS")
    image = decode_image(data)
    peak = _status_kib("VmHWM")
    print(json.dumps({"peak": (peak - baseline) * 1024, "shape": list(image.shape)}))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
