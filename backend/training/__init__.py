"""Training: the ultralytics trainer, the training service (start, resume, estimate), the training job and its crash
recovery (tasks), evaluation, ClearML tracking and ONNX export."""
