"""Reconstruction-based anomaly detection: recurrent autoencoders over a panel, scores
normalised per ticker, calibrated thresholds and events (see :class:`AnomalyDetector`).
Names load lazily, so ``qseq.anomaly.thresholds`` can be read without torch."""

from typing import Any

__all__ = ["AnomalyDetector", "Threshold"]


def __getattr__(name: str) -> Any:
    if name == "AnomalyDetector":
        from qseq.anomaly.detector import AnomalyDetector

        return AnomalyDetector
    if name == "Threshold":
        from qseq.anomaly.thresholds import Threshold

        return Threshold
    raise AttributeError(f"module 'qseq.anomaly' has no attribute {name!r}")
