"""Serving: the detector (PyTorch or ONNX), the prediction log and feedback, and recipe recommendations."""
