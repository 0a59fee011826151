"""``qseq anomaly``: reconstruction-based anomaly detection (being written)."""

from __future__ import annotations

import click

from qseq.errors import ConfigError


@click.command("anomaly")
@click.option("--ticker", help="Ticker to scan.")
def anomaly(ticker: str | None) -> None:
    """Detect anomalous bars with a recurrent autoencoder."""
    raise ConfigError("qseq anomaly is not available yet")
