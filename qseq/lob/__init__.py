"""Limit-order books: LOBSTER files, level-3 reconstruction, synthetic books, features, labels,
windows, models and their evaluation.

    import qseq.lob as lob
    book = lob.load_bitstamp_sample(levels=10)            # or lob.read_lobster(...)[1], lob.simulate(...)[1]
    model = lob.LobForecaster(model="deeplob", horizons=(100, 200, 500)).fit(book)
    model.metrics_["test"]                                 # macro F1 beside the baselines

Names load on first use (numba, pyarrow and torch only when needed).
"""

from __future__ import annotations

from qseq._lazy import lazy_exports

# public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(("Book", "Messages", "EVENT_TYPES", "BUY", "SELL"), "qseq.lob.book"),
    **dict.fromkeys(("read_lobster", "read_lobster_messages", "iter_lobster", "lobster_report",
                     "LobsterReport", "parse_lobster_name", "LobsterName"), "qseq.lob.lobster"),
    "write_lobster": "qseq.lob.lobster_write",
    **dict.fromkeys(("simulate", "QueueReactiveParams"), "qseq.lob.synthetic"),
    **dict.fromkeys(("inject_spoofing", "inject_quote_stuffing"), "qseq.lob.inject"),
    **dict.fromkeys(("Reconstructor", "reconstruct"), "qseq.lob.reconstruct"),
    **dict.fromkeys(("read_level3", "read_trades", "to_messages", "level3_book", "check_trades",
                     "bitstamp_sample_paths", "load_bitstamp_sample", "Level3", "Trades",
                     "TradeCheck", "BitstampSample"), "qseq.lob.level3"),
    "iter_level3_book": "qseq.lob.level3_stream",
    **dict.fromkeys(("sample", "book_features", "feature_matrix", "mid_price", "microprice",
                     "spread", "depth", "imbalance", "depth_imbalance", "order_flow_imbalance",
                     "FEATURES"), "qseq.lob.features"),
    **dict.fromkeys(("direction_targets", "direction_labels", "return_targets", "smoothed_change",
                     "CLASSES"), "qseq.lob.labels"),
    **dict.fromkeys(("lob_windows", "lob_splits", "block_folds", "LobSplit"), "qseq.lob.windows"),
    **dict.fromkeys(("BookSource", "load_book"), "qseq.lob.sources"),
    "LobForecaster": "qseq.lob.model",
    **dict.fromkeys(("evaluate_blocks", "classification_scores", "confusion", "verdict"),
                    "qseq.lob.evaluate"),
    **dict.fromkeys(("book_summary", "book_figure"), "qseq.lob.report"),
    **dict.fromkeys(("evaluate_lob_anomalies",), "qseq.lob.anomaly"),
    **dict.fromkeys(("MessageStream", "message_stream", "synthetic_stream", "bitstamp_stream",
                     "level3_stream", "inject", "anomaly_features"), "qseq.lob.anomaly_data"),
    "LobConfig": "qseq.config",
    "LobAnomalyConfig": "qseq.config",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
