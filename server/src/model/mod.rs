//! ONNX model runtime (placeholder until the model-runtime work lands). Knows nothing of repositories.
