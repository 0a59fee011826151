"""Reconstruction-based anomaly detection: recurrent autoencoders over a panel, scores
normalised per ticker, calibrated thresholds and events (see :class:`AnomalyDetector`)."""

from qseq.anomaly.detector import AnomalyDetector, AnomalySpec
from qseq.anomaly.thresholds import Threshold

__all__ = ["AnomalyDetector", "AnomalySpec", "Threshold"]
