"""The onnx backend (production, CUDA/TensorRT or CPU): SCRFD detection, ArcFace embedding,
inswapper_128 with an ROI paste-back, GFPGAN/CodeFormer restoration, all on one onnxruntime session
cache (``runtime``). ``backend.OnnxEngine`` is the engine."""
