"""Choice lists shared by the library and the CLI, in a module that imports nothing, so that
``qseq --help`` can offer them without loading pandas. Each is re-exported by the module that
uses it (``qseq.data.sources.SOURCES``, ``qseq.data.validate.NAN_POLICIES``, ...)."""

SOURCES = ("auto", "cache", "yfinance", "bundled", "file")  # load_prices(source=...)
NAN_POLICIES = ("raise", "drop", "ffill")  # validate.apply_nan_policy
OHLC_POLICIES = ("raise", "clip", "drop")  # validate.apply_ohlc_policy
TARGETS = ("log_return", "cum_log_return", "realized_vol", "variance", "excess_log_return",
           "excess_cum_log_return")  # features.compute_targets
PROXIES = ("parkinson", "garman_klass")  # daily range variance proxies (features.bar_variance)
THRESHOLD_METHODS = ("pot", "quantile")  # anomaly.thresholds.calibrate(method=...)
