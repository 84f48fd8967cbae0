"""Per-stage medians of both swap backends at 1 and 12 megapixels, and our paste-back against insightface's.

Stages: decode (JPEG bytes -> BGR), detect, embed (landmarks and identity vector of one face; the
classic detector computes both for every face it finds, so its "detect" includes them), swap (one
face: for onnx the aligned crop and the inswapper run, for classic its whole warp and blend), paste-back
(onnx only; classic blends inside its swap), encode (BGR -> Telegram-ready JPEG) and guard (the
content guard's check of one picture: NudeNet 320n on CPU, the real model from the installed nudenet
package; a job checks each input photo and its result, so the table adds the guard's share of a
classic swap: one check, and the target's plus the result's). The onnx backend
runs the tiny stand-in models of tests/fakemodels (no real weights here), so its model stages time
the plumbing, not a real network; its paste-back is the production code either way. Those stand-ins
cannot find real faces, so both backends swap the same face given by its key points.

insightface's paste-back is timed in the same process as ``INSwapper.get(paste_back=True)`` minus
``get(paste_back=False)`` on the same model, photo and face, and its output compared with ours. Then
the whole swap, ours against insightface's ``FaceAnalysis`` + ``INSwapper.get`` (bench/end_to_end.py),
and the peak memory of decoding one upload of each format at the 40-megapixel limit
(bench/decode_memory.py).

    .venv/bin/python -m bench.swap_engine [--repeat 5] [--quick]

``--quick`` (run by ``make test``) runs each part once, at 1 MP, with small decode samples.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from bench import decode_memory, end_to_end
from bench.quiet import quiet_logs
from bench.timing import median_ms
from engine.classic.backend import ClassicEngine
from engine.face import Face
from engine.imageio import decode_image, encode_jpeg
from engine.models.registry import package_dir, spec
from engine.onnx.backend import OnnxEngine
from engine.onnx.inswapper import source_latent
from engine.onnx.pasteback import paste_back_into, warp_model
from engine.safety.guard import Guard, load_guard
from engine.safety.settings import GuardSpec
from tests.fakemodels.swap_models import ASTRONAUT_KPS, T1_KPS

SIZES = {"1 MP": (1280, 886), "12 MP": (4000, 3000)}  # t1.jpg as shipped, and stretched
DECODE_SIZES = {"40 MP": (8000, 5000), "quick: 1.6 MP": (1600, 1000)}  # stored sides; MAX_PIXELS is 40 MP
FACE = 2  # the middle face of t1.jpg


def real_guard(models: Path) -> Guard | None:
    """The guard on the real model, linked from the installed nudenet package (the dev extra)."""
    package = package_dir("nudenet")
    if package is None or not (package / "320n.onnx").is_file():
        return None
    models.mkdir(exist_ok=True)
    (models / spec("nudenet").filename).symlink_to(package / "320n.onnx")
    return load_guard(GuardSpec(), models, ("cpu",))


def photos() -> tuple[np.ndarray, np.ndarray]:
    import insightface
    from skimage import data

    t1 = cv2.imread(str(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"))
    return t1, cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def target_face(kps: np.ndarray) -> Face:
    kps = np.asarray(kps, np.float32)
    return Face(box=np.r_[kps.min(axis=0), kps.max(axis=0)], score=1.0, kps=kps)


def nearest(faces: list[Face], kps: np.ndarray) -> Face:
    centre = kps.mean(axis=0)
    return min(faces, key=lambda f: float(np.hypot(*(np.asarray(f.center) - centre))))


def bench_size(
    size: tuple[int, int],
    t1: np.ndarray,
    astronaut: np.ndarray,
    onnx: OnnxEngine,
    classic: ClassicEngine,
    reference: Any,  # insightface's INSwapper
    repeat: int,
    guard: Guard | None,
) -> dict[str, dict[str, float | str]]:
    from insightface.app.common import Face as InsightFace

    width, height = size
    image = t1 if (width, height) == t1.shape[1::-1] else cv2.resize(t1, (width, height))
    kps = T1_KPS[FACE] * [width / t1.shape[1], height / t1.shape[0]]
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    rows: dict[str, dict[str, float | str]] = {"classic": {}, "onnx": {}}

    for backend in ("classic", "onnx"):
        rows[backend]["decode"] = median_ms(lambda: decode_image(jpeg), repeat)
        rows[backend]["encode"] = median_ms(lambda: encode_jpeg(image), repeat)
        rows[backend]["guard"] = median_ms(lambda: guard.check(image, "input"), repeat) if guard else "n/a"

    faces = classic.detect(image)
    rows["classic"]["detect"] = median_ms(lambda: classic.detect(image), repeat)
    source = classic.identity(astronaut, nearest(classic.detect(astronaut), ASTRONAUT_KPS))
    target = nearest(faces, kps)
    # A face as another backend would hand it over: the identity needs landmarks and a descriptor.
    bare = Face(box=target.box, score=target.score, kps=target.kps)
    rows["classic"]["embed"] = median_ms(lambda: classic.identity(image, bare), repeat)
    rows["classic"]["swap"] = median_ms(lambda: classic.swap(image, [target], source), repeat)
    rows["classic"]["paste-back"] = "in swap"

    rows["onnx"]["detect"] = median_ms(lambda: onnx.detector.detect(image), repeat)
    rows["onnx"]["embed"] = median_ms(lambda: onnx.embedder.embed(image, kps), repeat)
    embedding = onnx.embedder.embed(astronaut, ASTRONAUT_KPS)
    latent = source_latent(embedding, onnx.swapper.emap)
    crop, matrix = onnx.swapper.swap_crop(image, kps, latent)
    rows["onnx"]["swap"] = median_ms(lambda: onnx.swapper.swap_crop(image, kps, latent), repeat)
    rows["onnx"]["paste-back"] = median_ms(lambda: paste_back_into(image.copy(), crop, matrix), repeat)
    copy_ms = median_ms(image.copy, repeat)  # our figure includes a frame copy the engine makes once

    target_if, source_if = InsightFace(kps=kps.astype(np.float64)), InsightFace(embedding=embedding)
    with_paste = median_ms(lambda: reference.get(image, target_if, source_if, paste_back=True), repeat)
    without = median_ms(lambda: reference.get(image, target_if, source_if, paste_back=False), repeat)
    ours = image.copy()
    paste_back_into(ours, *reference.get(image, target_if, source_if, paste_back=False))
    theirs = reference.get(image, target_if, source_if, paste_back=True)
    rows["insightface"] = {
        "paste-back": with_paste - without,
        "max abs diff": int(np.abs(ours.astype(int) - theirs.astype(int)).max()),
        "frame copy": copy_ms,
    }
    return rows


def fmt(value: float | str) -> str:
    return f"{value:9.1f}" if isinstance(value, float) else f"{value!s:>9}"


def print_stages(results: dict[str, dict[str, dict[str, float | str]]], repeat: int) -> None:
    print(
        f"OpenCV {cv2.__version__}, onnxruntime {ort.__version__}, {os.cpu_count()} CPUs, "
        f"warp model {warp_model()}, medians of {repeat} runs, milliseconds\n"
    )
    stages = ["decode", "detect", "embed", "swap", "paste-back", "encode", "guard"]
    print(f"{'backend':<10}{'size':<8}" + "".join(f"{s:>11}" for s in stages))
    for label, rows in results.items():
        for backend in ("classic", "onnx"):
            print(f"{backend:<10}{label:<8}" + "".join(f"  {fmt(rows[backend][s])}" for s in stages))
    print("\npaste-back of one face, ours (ROI) vs insightface (full frame), same model, photo and face:")
    print(f"{'size':<8}{'ours':>10}{'insightface':>13}{'speed-up':>10}{'max abs diff':>14}")
    for label, rows in results.items():
        ours, theirs = rows["onnx"]["paste-back"], rows["insightface"]["paste-back"]
        assert isinstance(ours, float) and isinstance(theirs, float)
        diff = rows["insightface"]["max abs diff"]
        print(f"{label:<8}{ours:>10.1f}{theirs:>13.1f}{theirs / ours:>9.1f}x{diff!s:>14}")
    print(
        "(ours includes copying the frame: "
        + ", ".join(f"{label} {rows['insightface']['frame copy']:.1f} ms" for label, rows in results.items())
        + "; the engine copies once per swap, not per face)"
    )


def print_guard_share(results: dict[str, dict[str, dict[str, float | str]]]) -> None:
    """The guard against a classic swap of the same picture (decode, detect, embed, swap, encode)."""
    print("\ncontent guard (NudeNet 320n, CPU) against a classic swap of the same picture:")
    print(f"{'size':<8}{'guard':>9}{'classic swap':>14}{'one check':>11}{'input+result':>14}")
    for label, rows in results.items():
        guard = rows["classic"]["guard"]
        if not isinstance(guard, float):
            print(f"{label:<8}{'n/a: pip install nudenet (the dev extra) for its model':>56}")
            continue
        stages = ("decode", "detect", "embed", "swap", "encode")
        swap = sum(float(rows["classic"][s]) for s in stages)
        print(f"{label:<8}{guard:>9.1f}{swap:>14.1f}{guard / swap:>10.1%}{2 * guard / swap:>14.1%}")


def print_end_to_end(rows: dict[str, end_to_end.EndToEnd], repeat: int) -> None:
    print(
        "\nwhole swap on the onnx stand-ins, ours (engine.pipeline) vs insightface (FaceAnalysis + "
        "INSwapper.get):\ndecode both JPEGs, detect in both, embed the source face, swap every target face "
        f"with paste-back;\nmedians of {repeat} runs, milliseconds; output difference in 8-bit levels"
    )
    header = f"{'size':<8}{'faces':>6}{'ours':>10}{'insightface':>13}{'speed-up':>10}"
    print(header + f"{'max abs diff':>14}{'mean':>8}")
    for label, row in rows.items():
        print(
            f"{label:<8}{row.faces:>6}{row.ours_ms:>10.1f}{row.theirs_ms:>13.1f}"
            f"{row.theirs_ms / row.ours_ms:>9.1f}x{row.max_diff:>14}{row.mean_diff:>8.3f}"
        )


def print_decode_memory(label: str, rows: list[decode_memory.DecodePeak]) -> None:
    print(
        f"\npeak memory of one decode_image at {label}, fresh process, above its baseline "
        f"(the decoded BGR frame is {rows[0].frame_mib:.0f} MiB)"
    )
    print(f"{'format':<22}{'file MiB':>10}{'peak MiB':>10}{'x frame':>9}")
    for row in rows:
        print(f"{row.label:<22}{row.file_mib:>10.1f}{row.peak_mib:>10.0f}{row.multiple:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per stage (median reported)")
    parser.add_argument("--quick", action="store_true", help="one run of each part at 1 MP, small decodes")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    sizes = {label: SIZES[label] for label in (["1 MP"] if args.quick else SIZES)}
    decode_label = "quick: 1.6 MP" if args.quick else "40 MP"
    quiet_logs()
    warnings.simplefilter("ignore", FutureWarning)  # scikit-image's deprecation inside insightface
    ort.set_default_logger_severity(3)  # the stand-in swapper's unused emap initializer

    from insightface.model_zoo.inswapper import INSwapper

    t1, astronaut = photos()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        end_to_end.write_models(root)
        onnx = OnnxEngine(root / "engine", ["cpu"])
        with contextlib.redirect_stdout(io.StringIO()):  # INSwapper prints its input shape
            reference = INSwapper(
                model_file=str(root / "engine" / spec("inswapper_128").filename), session=onnx.swapper.session
            )
        classic = ClassicEngine()
        guard = real_guard(root / "guard")
        stages = {
            label: bench_size(size, t1, astronaut, onnx, classic, reference, repeat, guard)
            for label, size in sizes.items()
        }
        print_stages(stages, repeat)
        print_guard_share(stages)

        pipelines = end_to_end.Pipelines(root)
        source = end_to_end.source_jpeg(astronaut)
        whole = {
            label: pipelines.compare(source, end_to_end.target_jpeg(t1, size), repeat)
            for label, size in sizes.items()
        }
        print_end_to_end(whole, repeat)

        print_decode_memory(decode_label, decode_memory.measure(root, *DECODE_SIZES[decode_label]))


if __name__ == "__main__":
    main()
