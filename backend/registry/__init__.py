"""The model registry: the promotion gate (candidate vs production on one frozen validation set), rollback, the
model history, the sha256 check of every model's weights, ONNX export on promotion, run comparison for the Models
page, and ClearML tags when a server is configured. The stage itself lives in the store
(`backend.store.registered_models`).
"""
