"""Walk-forward backtesting: folds, strategies, metrics, baselines, feature importance."""
