"""Backtest pipelines: YAML specs, runs with manifests and locks, and a scheduler."""
