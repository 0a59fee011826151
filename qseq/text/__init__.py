"""Sequence models of text and of tokenised markets.

- Embeddings: word2vec (skip-gram, CBOW) and GloVe over any token sequences, ticker2vec from
  market sentences, sector evaluation, a vectors container with neighbours, analogies and the
  GloVe text format.
- Token models over returns: a quantile tokenizer, neural n-gram / RNN language models, seq2seq
  with attention and beam search, scenario paths scored against the bootstrap.
- Text: character-level name models, headline sentiment (word GRU, VADER), and the causal daily
  sentiment table that forecasts read.

    import qseq.text as text
    vec = text.ticker2vec(panel)                              # or text.train_word2vec(sentences)
    vec.most_similar("AAPL", k=5); vec.analogy("XOM", "CVX", "JPM")
    vec.save_glove("tickers.txt"); text.load_glove("tickers.txt")
    sm = text.fit_scenarios(spx, ScenarioConfig()); sm.paths(); sm.beam(); sm.evaluate()

Names load on first use (torch and scipy only when needed).
"""

from __future__ import annotations

from qseq._lazy import lazy_exports

# public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(("Vectors", "load_glove"), "qseq.text.vectors"),
    **dict.fromkeys(("train_word2vec", "encode_corpus", "Corpus", "keep_probabilities",
                     "noise_distribution", "context_matrix", "skipgram_pairs"),
                    "qseq.text.word2vec"),
    **dict.fromkeys(("cooccurrence", "train_glove"), "qseq.text.glove"),
    **dict.fromkeys(("read_corpus",), "qseq.text.corpus"),
    **dict.fromkeys(("ticker2vec", "ticker2vec_from_config", "market_sentences",
                     "training_returns"), "qseq.text.ticker2vec"),
    **dict.fromkeys(("sector_purity", "chance_purity", "silhouette", "correlation_neighbours",
                     "sector_map", "bundled_sectors", "read_sectors"), "qseq.text.sectors"),
    **dict.fromkeys(("ReturnTokenizer", "EwmaScale"), "qseq.text.tokens"),
    **dict.fromkeys(("NGramLM", "RNNLM", "fit_token_model", "sample_paths", "scenario_returns"),
                    "qseq.text.lm"),
    **dict.fromkeys(("TokenSeq2Seq", "beam_search"), "qseq.text.beam"),
    **dict.fromkeys(("crps_samples", "pinball_loss", "bootstrap_paths", "score_samples"),
                    "qseq.text.scenarios"),
    **dict.fromkeys(("ScenarioModel", "fit_scenarios", "cumulative_quantiles"),
                    "qseq.text.scenario_model"),
    **dict.fromkeys(("SentimentClassifier", "LexiconScorer", "fit_sentiment", "read_labelled"),
                    "qseq.text.sentiment"),
    **dict.fromkeys(("read_news", "daily_sentiment", "sentiment_panel_columns"), "qseq.text.news"),
    **dict.fromkeys(("read_sentiment_table", "write_sentiment_table", "join_sentiment_file"),
                    "qseq.text.sentiment_table"),
    **dict.fromkeys(("CharVocab", "CharRNNConfig", "fit_char_classifier", "fit_char_generator",
                     "FittedCharClassifier", "FittedCharGenerator", "majority_baseline",
                     "ngram_logistic_baseline", "names_by_sector", "stratified_split",
                     "stratified_folds"), "qseq.text.chars"),
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
