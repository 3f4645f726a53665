"""The files a model leaves in: safetensors and JSON, ONNX, a torch module."""
