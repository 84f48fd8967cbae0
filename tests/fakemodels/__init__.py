"""Tiny ONNX stand-ins with the real model files' interfaces: ``swap_models`` (SCRFD, ArcFace,
inswapper_128) and ``restore_models`` (GFPGAN, CodeFormer). Real weights are never downloaded here."""
