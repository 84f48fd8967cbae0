"""Which onnxruntime providers really run on this machine (``swapbot doctor``).

``onnxruntime.get_available_providers()`` lists what the installed build was compiled with: the GPU
wheel names CUDA on a machine with no GPU, no driver or no cuDNN, and only creating a session finds
out. So each provider asked for is tried on a one-node model, and counts only if the session kept it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from engine.choices import PROVIDERS


@cache
def _probe_model() -> bytes:
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    result = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [value], [result])
    # An old IR version and opset: every onnxruntime we accept reads them.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    return bytes(model.SerializeToString())


def usable_providers(names: Sequence[str]) -> list[str]:
    """The short names (``cuda``, ``cpu``...) among ``names`` that a session really runs on here.

    Raises ImportError when onnxruntime is not installed."""
    import onnxruntime as ort

    compiled = set(ort.get_available_providers())
    options = ort.SessionOptions()
    options.log_severity_level = 4  # a provider that fails to load is what we ask about, not news
    usable = []
    for name in names:
        provider = PROVIDERS[name]
        if provider not in compiled:
            continue
        try:
            session = ort.InferenceSession(_probe_model(), sess_options=options, providers=[provider])
        except Exception:  # onnxruntime raises its own types (Fail, RuntimeException) for a dead provider
            continue
        if provider in session.get_providers():
            usable.append(name)
    return usable
