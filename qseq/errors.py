"""Exception types. Every user-facing error is a :class:`QseqError` whose message names the
problem and the fix in one line; the CLI prints that line and exits non-zero."""

from __future__ import annotations


class QseqError(Exception):
    """Base class for errors caused by user input (data, configuration, files)."""


class DataError(QseqError, ValueError):
    """Market data is missing, malformed or fails validation."""


class ConfigError(QseqError, ValueError):
    """A configuration value is invalid."""


class NotFittedError(QseqError, RuntimeError):
    """A method that needs a fitted object was called before ``fit``."""


class CheckpointError(QseqError):
    """A checkpoint directory is missing, incomplete, corrupt or incompatible."""


class TrainingError(QseqError, RuntimeError):
    """Training cannot continue (for example, the loss became non-finite)."""


class SourceError(DataError):
    """A data source could not provide prices (unknown ticker, network failure, offline)."""
