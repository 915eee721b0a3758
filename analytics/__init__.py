"""Predictive-maintenance analytics, a leaf library (issue #3); see analytics/README.md.

Runtime modules (numpy, pydantic, onnxruntime): `features` (windows and their features),
`manifest` (what a model file says about itself), `inference` (the only onnxruntime
import, at the first model load: load, check and score a model file). `training/`
(scikit-learn, skl2onnx, onnx) builds and exports models; nothing at runtime imports it.
"""
