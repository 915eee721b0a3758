"""Evaluation of anomaly detectors (training time): decisions, metrics, the SKAB protocol.

`decisions` and `metrics` need numpy only; `anomaly` runs a recipe or a model over a
dataset and imports `analytics.training`, so nothing at runtime imports it.
"""
