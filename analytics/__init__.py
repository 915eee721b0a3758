"""Predictive-maintenance analytics (features, ONNX inference, training): see issue #3."""
