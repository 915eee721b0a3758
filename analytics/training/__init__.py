"""Training-time only: datasets, recipes and ONNX export (scikit-learn, skl2onnx, onnx).

The gateway's runtime never imports this package, so an edge install needs none of its
dependencies.
"""
