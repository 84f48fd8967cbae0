"""Tiny stand-ins for GFPGANv1.4.onnx and codeformer.onnx with the real files' interfaces.

GFPGAN (FaceFusion's export): input ``input`` float32 1x3x512x512 RGB in [-1, 1], output ``output`` of
the same shape. CodeFormer: the same image input plus ``weight``, a 1-element double (the fidelity).
Instead of a network they apply a known per-channel affine map, so a test can predict exactly what
comes out for what went in: a wrong channel order, value range or paste-back shows up in the pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 512
IMAGE_SHAPE = [1, 3, SIZE, SIZE]
OPSET = 17


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by every onnxruntime since 1.10, like the published exports
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _per_channel(name: str, values: Sequence[float]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32).reshape(1, 3, 1, 1), name)


def gfpgan_model(
    path: Path, scale: Sequence[float] = (1.0, 1.0, 1.0), bias: Sequence[float] = (0.0, 0.0, 0.0)
) -> Path:
    """``output[c] = scale[c] * input[c] + bias[c]`` (channels in RGB order); identity by default."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["input", "scale"], ["scaled"]),
            helper.make_node("Add", ["scaled", "bias"], ["output"]),
        ],
        "fake_gfpgan",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, IMAGE_SHAPE)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, IMAGE_SHAPE)],
        initializer=[_per_channel("scale", scale), _per_channel("bias", bias)],
    )
    return _save(graph, path)


def codeformer_model(
    path: Path,
    weight_name: str = "weight",
    weight_type: int = TensorProto.DOUBLE,
    weight_shape: Sequence[int] = (1,),
) -> Path:
    """``output = (2 * weight - 1) * input``: fidelity 1 gives the input back, 0 its negative."""
    graph = helper.make_graph(
        [
            helper.make_node("Cast", [weight_name], ["weight_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["weight_f", "two"], ["weight_x2"]),
            helper.make_node("Sub", ["weight_x2", "one"], ["gain"]),
            helper.make_node("Mul", ["input", "gain"], ["output"]),
        ],
        "fake_codeformer",
        [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, IMAGE_SHAPE),
            helper.make_tensor_value_info(weight_name, weight_type, list(weight_shape)),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, IMAGE_SHAPE)],
        initializer=[
            numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
            numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        ],
    )
    return _save(graph, path)
