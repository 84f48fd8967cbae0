"""Tiny stand-ins for det_10g.onnx, w600k_r50.onnx and inswapper_128.onnx with the real interfaces.

The real files cannot be downloaded here, so tests run the production loading, pre- and
post-processing and paste-back code on these. Each keeps the real input/output names, shapes and
value conventions, and its outputs depend on its inputs so a wrong channel order, scale or layout shows:

* detector (SCRFD det_10g): input ``input.1`` 1x3xHxW (dynamic), nine rank-2 outputs: scores (N, 1),
  box distances (N, 4) and key point offsets (N, 10) for strides 8, 16, 32, two anchors per location.
  A location's score is high where the average-pooled input is bright in one channel: red (after the
  BGR->RGB swap) lights stride 8, green stride 16, blue stride 32. Its box is about three strides
  wide around the centre of its cell, with face-like key points, so a test places one face by
  painting one saturated cell of the letterboxed input. The second anchor scores a little lower
  than the first and lands on almost the same box, so NMS has work to do.
* embedder (ArcFace w600k_r50): ``input.1`` 1x3x112x112 -> ``683`` 1x512 (conv, pool, gemm).
* swapper (inswapper_128): ``target`` 1x3x128x128 and ``source`` 1x512 -> ``output`` 1x3x128x128 in
  [0, 1]; the output depends on both inputs; a 512x512 ``emap`` is the graph's last initializer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.models.registry import spec

OPSET = 17
STRIDES = (8, 16, 32)
# Real det_10g output names: scores, then box distances, then key points, each for strides 8/16/32.
DETECTOR_OUTPUTS = ("448", "471", "494", "451", "474", "497", "454", "477", "500")
# Box sides (left, top, right, bottom) as distances from the anchor, the top-left corner of its cell,
# in strides: a three-stride box centred on the cell; the image moves each side by up to 1/4 stride.
BOX_BASE = np.array([1.0, 1.0, 2.0, 2.0], np.float32)
# Key points around the anchor, in strides: eyes, nose, mouth corners, centred on the cell.
KPS_LAYOUT = np.array([[-0.1, 0.1], [1.1, 0.1], [0.5, 0.6], [0.0, 1.05], [1.0, 1.05]], np.float32)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _tensor(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)


def _rows(prefix: str, conv_out: str, width: int, output: str, batched: bool) -> list[onnx.NodeProto]:
    """NCHW conv output with anchors*width channels -> (H*W*anchors, width), SCRFD's row order."""
    flat = f"{prefix}_rows" if batched else output
    nodes = [
        helper.make_node("Transpose", [conv_out], [f"{prefix}_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [f"{prefix}_nhwc", f"shape{width}"], [flat]),
    ]
    if batched:
        nodes.append(helper.make_node("Unsqueeze", [flat, "axis0"], [output]))
    return nodes


def write_detector(folder: Path, seed: int = 0, batched: bool = False) -> Path:
    """The SCRFD stand-in; ``batched`` gives outputs a leading batch axis (1, N, k), as some exports do."""
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits = [
        _tensor("quarter", np.array(0.25)),
        _tensor("box_base", np.tile(BOX_BASE, 2).reshape(1, 8, 1, 1)),
    ]
    inits += [numpy_helper.from_array(np.array([-1, w], np.int64), f"shape{w}") for w in (1, 4, 10)]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    outputs = list(DETECTOR_OUTPUTS)
    for i, stride in enumerate(STRIDES):
        s = f"s{stride}"
        nodes.append(
            helper.make_node(
                "AveragePool", ["input.1"], [f"{s}_pool"], kernel_shape=[stride] * 2, strides=[stride] * 2
            )
        )
        # Scores: channel i of the pooled input, scaled so a saturated patch scores ~0.99.
        w_score = np.zeros((2, 3, 1, 1), np.float32)
        w_score[:, i] = 10.0
        inits += [_tensor(f"{s}_ws", w_score), _tensor(f"{s}_bs", np.array([-5.0, -5.5]))]
        nodes.append(helper.make_node("Conv", [f"{s}_pool", f"{s}_ws", f"{s}_bs"], [f"{s}_logit"]))
        nodes.append(helper.make_node("Sigmoid", [f"{s}_logit"], [f"{s}_score"]))
        nodes += _rows(f"{s}_score", f"{s}_score", 1, outputs[i], batched)
        # Box distances, shaped by the image.
        inits += [
            _tensor(f"{s}_wb", rng.normal(0, 0.3, (8, 3, 3, 3))),
            _tensor(f"{s}_bb", rng.normal(0, 0.1, 8)),
        ]
        nodes += [
            helper.make_node("Conv", [f"{s}_pool", f"{s}_wb", f"{s}_bb"], [f"{s}_braw"], pads=[1, 1, 1, 1]),
            helper.make_node("Tanh", [f"{s}_braw"], [f"{s}_btanh"]),
            helper.make_node("Mul", [f"{s}_btanh", "quarter"], [f"{s}_bshift"]),
            helper.make_node("Add", [f"{s}_bshift", "box_base"], [f"{s}_box"]),
        ]
        nodes += _rows(f"{s}_box", f"{s}_box", 4, outputs[3 + i], batched)
        # Key points: a face-like layout around the anchor plus a small image-dependent shift.
        inits += [
            _tensor(f"{s}_wk", rng.normal(0, 0.05, (20, 3, 3, 3))),
            _tensor(f"{s}_bk", np.tile(KPS_LAYOUT.ravel(), 2)),
        ]
        nodes.append(
            helper.make_node("Conv", [f"{s}_pool", f"{s}_wk", f"{s}_bk"], [f"{s}_kps"], pads=[1, 1, 1, 1])
        )
        nodes += _rows(f"{s}_kps", f"{s}_kps", 10, outputs[6 + i], batched)
    widths = (1, 1, 1, 4, 4, 4, 10, 10, 10)
    lead = [1] if batched else []
    graph = helper.make_graph(
        nodes,
        "fake_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "?", "?"])],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, [*lead, "?", w])
            for n, w in zip(outputs, widths, strict=True)
        ],
        initializer=inits,
    )
    return _save(graph, Path(folder) / spec("det_10g").filename)


def write_embedder(folder: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    inits = [
        _tensor("w0", rng.normal(0, 0.3, (8, 3, 3, 3))),
        _tensor("b0", rng.normal(0, 0.1, 8)),
        _tensor("w1", rng.normal(0, 0.2, (8, 8, 3, 3))),
        _tensor("b1", rng.normal(0, 0.1, 8)),
        _tensor("fc", rng.normal(0, 0.1, (128, 512))),
        _tensor("fc_b", rng.normal(0, 0.01, 512)),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["input.1", "w0", "b0"], ["c0"], strides=[2, 2], pads=[1, 1, 1, 1], name="conv0"
        ),
        helper.make_node("Relu", ["c0"], ["r0"], name="relu0"),
        helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("AveragePool", ["r1"], ["p"], kernel_shape=[7, 7], strides=[7, 7], name="pool"),
        helper.make_node("Flatten", ["p"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc", "fc_b"], ["683"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "fake_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", 512])],
        initializer=inits,
    )
    return _save(graph, Path(folder) / spec("w600k_r50").filename)


def write_swapper(folder: Path, seed: int = 2) -> Path:
    rng = np.random.default_rng(seed)
    inits = [
        _tensor("w_in", rng.normal(0, 0.4, (8, 3, 3, 3))),
        _tensor("b_in", rng.normal(0, 0.1, 8)),
        _tensor("style", rng.normal(0, 0.5, (512, 8))),
        numpy_helper.from_array(np.array([1, 8, 1, 1], np.int64), "style_shape"),
        _tensor("w_out", rng.normal(0, 0.3, (3, 8, 3, 3))),
        _tensor("b_out", np.zeros(3)),
        # Last, as in the real file: the source-embedding map, used outside the graph.
        _tensor("emap", rng.normal(0, 1.0 / np.sqrt(512), (512, 512))),
    ]
    nodes = [
        helper.make_node("Conv", ["target", "w_in", "b_in"], ["t"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["t"], ["t_relu"]),
        helper.make_node("MatMul", ["source", "style"], ["s"]),
        helper.make_node("Reshape", ["s", "style_shape"], ["s4"]),
        helper.make_node("Add", ["t_relu", "s4"], ["mixed"]),
        helper.make_node("Conv", ["mixed", "w_out", "b_out"], ["logits"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["logits"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fake_inswapper",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        initializer=inits,
    )
    return _save(graph, Path(folder) / spec("inswapper_128").filename)


def write_swap_models(folder: Path) -> Path:
    """All three models into ``folder`` (created if needed), under their real file names."""
    folder = Path(folder)
    write_detector(folder)
    write_embedder(folder)
    write_swapper(folder)
    return folder


# The stand-in detector cannot find real faces, so tests and the bench swap these: five key points
# per face (eye centres, nose tip, mouth corners, from dlib's 68 landmarks) of the test photos.
ASTRONAUT_KPS = np.array([[203.2, 101.5], [246.5, 104.2], [225.0, 127.0], [201.0, 139.0], [246.0, 141.0]])
T1_KPS = np.array(
    [
        [[87.7, 330.2], [128.8, 310.5], [118.0, 337.0], [114.0, 372.0], [148.0, 352.0]],
        [[291.8, 212.3], [320.5, 194.3], [302.0, 229.0], [313.0, 249.0], [338.0, 234.0]],
        [[491.7, 320.3], [540.5, 333.7], [509.0, 366.0], [481.0, 369.0], [531.0, 380.0]],
        [[761.8, 398.7], [800.5, 403.8], [771.0, 431.0], [764.0, 436.0], [807.0, 442.0]],
        [[916.8, 117.8], [950.3, 114.7], [923.0, 148.0], [929.0, 176.0], [959.0, 169.0]],
        [[1149.3, 327.7], [1192.0, 324.8], [1164.0, 348.0], [1153.0, 367.0], [1196.0, 364.0]],
    ]
)
