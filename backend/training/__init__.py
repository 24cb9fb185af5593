"""Training: the ultralytics trainer, the training service and job, evaluation, ClearML tracking and ONNX export."""
