"""Issue 14: do ticker2vec vectors as *initial* ticker embeddings (``init_embeddings=``) help the
cross-sectional forecaster and the anomaly autoencoder? Everything but the embedding start is
identical between arms (config, ticker_dim, seeds, folds, data); the vectors are trained only
on dates the model's training sees.

    python bench/init_embeddings_eval.py                  # every part, 3 seeds
    python bench/init_embeddings_eval.py --quick          # smoke run (< 2 min)
    python bench/init_embeddings_eval.py --part cross_section --seeds 5
    python bench/init_embeddings_eval.py --part cross_section \
        --cs-spec bench/specs/sp500_524_cross_section_wf.yaml      # 4 walk-forward folds
    python bench/init_embeddings_eval.py --part anomaly --seeds 5
    python bench/init_embeddings_eval.py --part ae_embeddings --arms A,B,P,S

Arms (``--arms``; every arm of seed s uses model seed s and, where it has vectors, ticker2vec
seed s, so arms are paired by seed):
  A  the default random start (GRU forecaster: torch's N(0, 1); autoencoder: N(0, 0.1^2))
  B  ticker2vec GloVe vectors, as written by ``Vectors.save_glove`` (what the option does)
  P  the same GloVe vectors with their rows permuted across tickers: B's scale and common
     component, none of its ticker information (B - P isolates the information)
  S  the GloVe vectors centred (minus their mean vector) and rescaled to the default start's
     standard deviation (1 for the GRU, 0.1 for the autoencoder)
  C  ticker2vec skip-gram vectors (slow: a few minutes per seed on the 524 tickers)

Parts:
  cross_section  the panel GRU of ``pipelines/sp500_524_cross_section.yaml`` (or ``--cs-spec``)
                 refit per fold exactly as the walk-forward does (``run_fold``), without the
                 baselines; vectors per fold on dates <= the last bar a training target reaches
                 (the fold's test start minus the purge). Daily cross-sectional rank IC at h=1, 5
                 (``bench/cross_section.py``'s functions) per arm; the paired difference of daily
                 rank IC (seed-averaged) with a Newey-West t; 5-NN sector purity of the learned
                 embeddings (every ensemble member) against their start.
  anomaly        the injected-anomaly harness of ``bench/anomaly_eval.py --part eval`` (6
                 tickers, masked_lstm_ae, ticker_dim 4, normal period to 2009-12-31, injection
                 seeds 0, 1, 2); vectors trained on the harness panel up to 2009-12-31.
                 PR-AUC per kind and its mean, F1 at the calibrated threshold; paired over
                 training seeds.
  ae_embeddings  the 524-ticker autoencoder of ``anomaly_eval.py --part embeddings`` (normal
                 period the whole year, ticker_dim 8, 3 epochs): 5-NN sector purity of its
                 learned embeddings per arm (vectors of the cross-section's first cut-off).

Measured 2026-12-01 on 2 shared cores (one torch thread) at commit 52a58b3 (the measured path
is unchanged since; SentenceConfig.end is now train_end), all four arms unless stated:
- cross-section, pipeline fold (test 2010-05-03 .. 2010-08-20, 77 dates; vectors <= 2010-04-30),
  seeds 0-4: rank IC h1 / h5: A +0.0015 / -0.0064, B -0.0154 / -0.0382, P -0.0011 / -0.0118,
  S -0.0100 / -0.0486; B - A -0.0169 (NW t -2.01) / -0.0318 (t -1.95), lower on 5/5 seeds at
  both horizons; B - P -0.0143 (t -1.80) / -0.0263 (t -1.80). 826 s.
- cross-section, bench/specs/sp500_524_cross_section_wf.yaml (4 folds, 140 test dates from
  2010-02-01, vectors per fold), seeds 0-2, arms A, B, P: B - A -0.0128 (t -1.52) / -0.0256
  (t -1.76), 3/3 seeds lower; P - A -0.0041 (t -1.07) / -0.0033 (t -0.72). 1200 s.
- learned GRU embeddings keep their start (2-4 epochs at lr 5e-4 move them 1-4%): 5-NN sector
  purity A 0.121 (chance 0.120), B 0.63, P 0.13, S 0.64, as at the start.
- anomaly harness, training seeds 0-4 x injection seeds 0-2: mean PR-AUC A 0.611, B 0.610,
  P 0.610, S 0.612; B - A -0.0011 (t -0.18 over training seeds). On 6 tickers the GloVe vectors
  are one shared direction (mean cosine 0.999, norm 3.7 against the start's 0.2). 378 s.
- 524-ticker autoencoder (seed 0, A and B): purity A 0.153, B 0.656 (start 0.669). 71 s.
Verdict: no gain anywhere; the forecaster's rank IC is lower with GloVe starts (about -0.01 to
-0.03, t -1.5 to -2.0, on every seed), the anomaly harness does not move.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from anomaly_eval import eval_panel  # noqa: E402
from cross_section import SPEC as CS_SPEC  # noqa: E402
from cross_section import daily_rank_ic, nw_t  # noqa: E402

import qseq  # noqa: E402
from qseq.text.sectors import bundled_sectors, chance_purity, sector_purity  # noqa: E402
from qseq.text.ticker2vec import SentenceConfig, ticker2vec  # noqa: E402
from qseq.text.vectors import Vectors  # noqa: E402

ARMS = {"A": "random start (default)", "B": "ticker2vec GloVe",
        "P": "GloVe rows permuted across tickers", "S": "GloVe centred, rescaled to A's std",
        "C": "ticker2vec skip-gram"}
GRU_INIT_STD = 1.0  # torch nn.Embedding's N(0, 1); the recurrent forecasters keep it
AE_TEST_START = "2010-01-01"
AE_TRAIN_END = "2009-12-31"


# -- vectors --------------------------------------------------------------------------------
@dataclass
class VectorMaker:
    """ticker2vec vectors per (panel, cut-off, dim, method, seed), trained on the bars dated on
    or before the cut-off only (the panel is cut before ticker2vec sees it), and the arm files."""

    work: Path
    cache: dict = field(default_factory=dict)
    seconds: float = 0.0

    def base(self, name: str, panel: pd.DataFrame, cutoff: pd.Timestamp, dim: int, method: str,
             seed: int) -> Vectors:
        key = (name, str(cutoff.date()), dim, method, seed)
        if key not in self.cache:
            t0 = time.perf_counter()
            inside = panel[panel.index.get_level_values("date") <= cutoff]
            self.cache[key] = ticker2vec(inside, sentences=SentenceConfig(train_end=str(cutoff.date())),
                                         method=method, dim=dim, seed=seed)  # type: ignore[arg-type]
            self.seconds += time.perf_counter() - t0
        return self.cache[key]

    def arm(self, arm: str, name: str, panel: pd.DataFrame, cutoff: pd.Timestamp, dim: int,
            seed: int, init_std: float) -> tuple[str | None, Vectors | None]:
        """(GloVe-format path, the vectors) of ``arm``; (None, None) for A."""
        if arm == "A":
            return None, None
        base = self.base(name, panel, cutoff, dim, "skipgram" if arm == "C" else "glove", seed)
        m = np.asarray(base.matrix, dtype=np.float64)
        if arm == "P":
            m = m[np.random.default_rng(10_000 + seed).permutation(len(m))]
        elif arm == "S":
            c = m - m.mean(axis=0)
            m = c / c.std() * init_std
        vec = Vectors(base.tokens, m)
        path = self.work / f"{name}_{cutoff.date()}_d{dim}_{arm}_s{seed}.txt"
        vec.save_glove(path)
        return str(path), vec


def mean_cosine(m: np.ndarray) -> float:
    """Mean pairwise cosine similarity of the rows of m (self-pairs excluded)."""
    u = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    s = u @ u.T
    n = len(m)
    return float((s.sum() - np.trace(s)) / (n * (n - 1)))


def purity_of(tickers: list[str], matrix: np.ndarray, keep: list[str], sectors: pd.Series) -> float:
    """5-NN sector purity of the rows of ``matrix`` (rows = ``tickers``) restricted to ``keep``."""
    pos = {t: i for i, t in enumerate(tickers)}
    rows = [pos[t] for t in keep if t in pos]
    return sector_purity(Vectors(tuple(tickers[i] for i in rows), matrix[rows]), sectors)


def _t(d: pd.Series, h: int) -> str:
    return f"{d.mean():+.4f} (t {nw_t(d, h):+.2f})"


def paired_t(x: np.ndarray) -> tuple[float, float]:
    """Mean and one-sample t of paired differences x (NaN t for fewer than 2 or zero spread)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2 or x.std(ddof=1) == 0:
        return float(x.mean()), float("nan")
    return float(x.mean()), float(x.mean() / (x.std(ddof=1) / np.sqrt(len(x))))


# -- cross-section ----------------------------------------------------------------------------
def part_cross_section(spec_path: Path, arms: list[str], seeds: list[int], quick: bool,
                       vm: VectorMaker, work: Path) -> None:
    from qseq.backtest.folds import make_folds
    from qseq.backtest.walk_forward import calendar, run_fold
    from qseq.forecaster import Forecaster
    from qseq.models.base import TickerEmbedding, init_ticker_embeddings
    from qseq.models.ensemble import build_ensemble
    from qseq.pipeline.spec import load_spec

    spec = load_spec(spec_path)
    wf = replace(spec.walk_forward_spec(), baselines=(), permutation_repeats=0)
    panel = qseq.load_prices(spec.data.target, start=spec.data.start, end=spec.data.end,
                             source=spec.data.source, offline=True,
                             nan_policy=spec.data.nan_policy, ohlc_policy=spec.data.ohlc_policy)
    full = panel  # the vectors always come from every ticker (GloVe diverges on 40-160 of them)
    if quick:  # a smoke run: 80 tickers, one member, two epochs
        keep = sorted(panel.index.get_level_values("ticker").unique())[:80]
        panel = panel[panel.index.get_level_values("ticker").isin(keep)]
        wf = replace(wf, forecast=replace(wf.forecast, ensemble=1,
                                          train=replace(wf.forecast.train, epochs=2)))
    cfg0 = wf.forecast
    horizons = tuple(cfg0.horizons)
    dates = calendar(panel)
    folds = make_folds(dates, wf.folds, max(horizons))
    windows = Forecaster(cfg0).windows(panel, require_targets=False)
    sectors = bundled_sectors()
    cutoffs = [pd.Timestamp(f.dates[f.test_start - 1 - wf.folds.embargo]) for f in folds]
    shown = spec_path.relative_to(ROOT) if spec_path.is_relative_to(ROOT) else spec_path
    n_tickers = panel.index.get_level_values("ticker").nunique()
    print(f"\n== cross-section: {shown} ({spec.name}), {n_tickers} tickers, "
          f"{len(folds)} fold(s); {cfg0.model} hidden {cfg0.hidden_size}, ticker_dim "
          f"{cfg0.ticker_dim}, ensemble {cfg0.ensemble}, epochs <= {cfg0.train.epochs} (patience "
          f"{cfg0.train.patience}), lr {cfg0.train.lr}, weight decay {cfg0.train.weight_decay}; "
          f"seeds {seeds}; arms {arms}")
    for f, cut in zip(folds, cutoffs, strict=True):
        print(f"  fold {f.index}: train {f.dates[f.train_start].date()} .. {f.dates[f.train_end].date()}"
              f", test {f.dates[f.test_start].date()} .. {f.dates[f.test_end].date()}; vectors "
              f"(ticker2vec, dim {cfg0.ticker_dim}) on dates <= {cut.date()} (the last bar a "
              "training target reaches)")
    name = spec.name
    in_model = set(panel.index.get_level_values("ticker"))
    t0 = time.perf_counter()
    forecasts, emb_rows, vec_rows = [], [], []
    for seed in seeds:
        for fold, cut in zip(folds, cutoffs, strict=True):
            glove = vm.base(name, full, cut, cfg0.ticker_dim, "glove", seed)
            universe = [t for t in glove.tokens if t in sectors.index and t in in_model]
            gm = np.asarray(glove.matrix, dtype=np.float64)
            vec_rows.append({"fold": fold.index, "seed": seed, "tokens": len(glove),
                             "purity": purity_of(list(glove.tokens), gm, universe, sectors),
                             "norm": np.linalg.norm(gm, axis=1).mean(), "cos": mean_cosine(gm),
                             "max": np.abs(gm).max()})
            for arm in arms:
                path, _ = vm.arm(arm, name, full, cut, cfg0.ticker_dim, seed, GRU_INIT_STD)
                cfg = replace(cfg0, seed=seed, init_embeddings=path)
                out, fc = run_fold(fold, windows, panel, replace(wf, forecast=cfg), "all")
                forecasts.append(out.forecasts.assign(arm=arm, seed=seed))
                # the learned tables (one per ensemble member) against their start
                start = build_ensemble(cfg.model, fc.model_config_, cfg.seed, cfg.ensemble)
                if path is not None:
                    from qseq.text.vectors import load_glove

                    vec = load_glove(path)
                    init_ticker_embeddings(start, tuple(fc.tickers_),
                                           {t: vec.vector(t) for t in fc.tickers_ if t in vec})
                tickers = [str(t) for t in fc.tickers_]
                tables = [m.embedding.weight.detach().numpy().astype(np.float64)
                          for m in fc.model_.modules() if isinstance(m, TickerEmbedding)]
                starts = [m.embedding.weight.detach().numpy().astype(np.float64)
                          for m in start.modules() if isinstance(m, TickerEmbedding)]
                for k, (e, e0) in enumerate(zip(tables, starts, strict=True)):
                    emb_rows.append({"arm": arm, "seed": seed, "fold": fold.index, "member": k,
                                     "purity_start": purity_of(tickers, e0, universe, sectors),
                                     "purity_end": purity_of(tickers, e, universe, sectors),
                                     "change": np.linalg.norm(e - e0) / np.linalg.norm(e0),
                                     "best_epoch": out.info["best_epoch"]})
                print(f"  seed {seed} fold {fold.index} arm {arm}: best epoch "
                      f"{out.info['best_epoch']} of {out.info['epochs_run']}, fit "
                      f"{out.info['fit_s']:.0f} s ({time.perf_counter() - t0:.0f} s so far)",
                      flush=True)
    vr = pd.DataFrame(vec_rows).groupby("fold").mean()
    print("  GloVe vectors per fold, mean over seeds: " + "; ".join(
        f"fold {f}: {r['tokens']:.0f} tickers, 5-NN purity {r['purity']:.3f}, mean norm "
        f"{r['norm']:.2f}, mean pairwise cosine {r['cos']:.2f}, max |v| {r['max']:.2f}"
        for f, r in vr.iterrows()))
    fc_all = pd.concat(forecasts, ignore_index=True)
    fc_all = fc_all[fc_all["model"] == cfg0.model]
    n_dates = fc_all["date"].nunique()
    print(f"  {n_dates} test dates, {len(fc_all) // (len(arms) * len(seeds) * len(horizons))} "
          f"ticker-days per arm and seed; vectors {vm.seconds:.0f} s so far, all "
          f"{time.perf_counter() - t0:.0f} s")

    ics = {(a, s, h): daily_rank_ic(part) for (a, s, h), part in
           fc_all.groupby(["arm", "seed", "horizon"])}
    mean_ic = {(a, h): pd.concat([ics[(a, s, h)] for s in seeds], axis=1).mean(axis=1)
               for a in arms for h in horizons}
    print("\ndaily rank IC (Spearman across tickers, excess forward return), mean over the test "
          "dates of the seed-averaged daily IC, Newey-West t; [min, max] of the per-seed means")
    rows = []
    for a in arms:
        row = {"arm": f"{a} {ARMS[a]}"}
        for h in horizons:
            per = [ics[(a, s, h)].mean() for s in seeds]
            row[f"rank IC h{h}"] = f"{_t(mean_ic[(a, h)], h)} [{min(per):+.4f}, {max(per):+.4f}]"
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))

    pairs = [(a, "A") for a in arms if a != "A"] + ([("B", "P")] if {"B", "P"} <= set(arms) else [])
    if pairs:
        print("\npaired difference of daily rank IC (seed-averaged series; Newey-West t) and the "
              "seeds on which the first arm's mean IC is higher")
        rows = []
        for a, b in pairs:
            row = {"pair": f"{a} - {b}"}
            for h in horizons:
                d = (mean_ic[(a, h)] - mean_ic[(b, h)]).dropna()
                won = sum(ics[(a, s, h)].mean() > ics[(b, s, h)].mean() for s in seeds)
                per = [(ics[(a, s, h)] - ics[(b, s, h)]).dropna() for s in seeds]
                worst = min(per, key=lambda x: nw_t(x, h))
                best = max(per, key=lambda x: nw_t(x, h))
                row[f"h{h}"] = (f"{_t(d, h)}  {won}/{len(seeds)} seeds; per-seed t "
                                f"[{nw_t(worst, h):+.2f}, {nw_t(best, h):+.2f}]")
            rows.append(row)
        print(pd.DataFrame(rows).to_string(index=False))

    # Where the forecasts differ: sector bets or stock picking within sectors?
    out = work / f"{spec.name}_forecasts.parquet"
    fc_all.to_parquet(out, index=False)
    print(f"\nsector view (forecasts in {out}): share of the daily cross-sectional variance of "
          "y_hat between sectors (mean over dates), and the daily rank IC of sector-demeaned "
          "forecasts against sector-demeaned outcomes (within-sector; seed-averaged, NW t)")
    fs = fc_all.assign(sector=fc_all["ticker"].astype(str).map(sectors)).dropna(subset=["sector"])
    within = {}
    rows = []
    for a in arms:
        row = {"arm": a}
        for h in horizons:
            part = fs[(fs["arm"] == a) & (fs["horizon"] == h)]
            g = part.groupby(["seed", "date", "sector"])
            demeaned = part.assign(y_hat=part["y_hat"] - g["y_hat"].transform("mean"),
                                   y_true=part["y_true"] - g["y_true"].transform("mean"))
            total = part.groupby(["seed", "date"])["y_hat"].var(ddof=0)
            inside = demeaned.groupby(["seed", "date"])["y_hat"].var(ddof=0)
            share = (1 - inside / total).mean()
            within[(a, h)] = pd.concat([daily_rank_ic(d) for _, d in demeaned.groupby("seed")],
                                       axis=1).mean(axis=1)
            row[f"between-sector share h{h}"] = f"{share:.3f}"
            row[f"within-sector rank IC h{h}"] = _t(within[(a, h)], h)
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))
    for a, b in pairs:
        print(f"  within-sector {a} - {b}: " + ", ".join(
            f"h{h} {_t((within[(a, h)] - within[(b, h)]).dropna(), h)}" for h in horizons))

    emb = pd.DataFrame(emb_rows)
    chance = chance_purity(sectors, universe)
    print(f"\nticker embeddings, 5-NN sector purity over the tickers of each fold's ticker2vec "
          f"universe with a sector ({len(universe)} in the last fold, chance {chance:.3f}); every "
          "ensemble member, mean "
          "[min, max] over seeds x members x folds; change = ||E - E0|| / ||E0||")
    rows = []
    for a in arms:
        e = emb[emb["arm"] == a]
        rows.append({"arm": a,
                     "purity at start": f"{e['purity_start'].mean():.3f}",
                     "purity after training": f"{e['purity_end'].mean():.3f} "
                                              f"[{e['purity_end'].min():.3f}, {e['purity_end'].max():.3f}]",
                     "change": f"{e['change'].mean():.3f}",
                     "best epoch": f"{e['best_epoch'].mean():.1f}"})
    print(pd.DataFrame(rows).to_string(index=False))


# -- anomaly harness ----------------------------------------------------------------------------
def part_anomaly(arms: list[str], seeds: list[int], quick: bool, vm: VectorMaker) -> None:
    from qseq.anomaly import AnomalyDetector
    from qseq.anomaly.evaluate import evaluate_detectors
    from qseq.models.autoencoder import EMBEDDING_INIT_STD

    panel = eval_panel()
    inj_seeds = (0,) if quick else (0, 1, 2)
    epochs = 2 if quick else 8
    cut = pd.Timestamp(AE_TRAIN_END)
    tickers = sorted(panel.index.get_level_values("ticker").unique())
    print(f"\n== anomaly harness (bench/anomaly_eval.py --part eval settings): {tickers}, "
          f"{panel.index.get_level_values('date').min().date()} .. "
          f"{panel.index.get_level_values('date').max().date()}; masked_lstm_ae, lookback 32, "
          f"hidden 32, ticker_dim 4, {epochs} epochs, lr 2e-3; normal period to {AE_TRAIN_END}, "
          f"anomalies injected from {AE_TEST_START}, 8 per ticker, injection seeds "
          f"{list(inj_seeds)}; training seeds {seeds}; arms {arms}; vectors (ticker2vec, dim 4) "
          f"on the harness panel's dates <= {cut.date()}")
    t0 = time.perf_counter()
    runs, emb_rows = [], []
    for seed in seeds:
        for arm in arms:
            path, vec = vm.arm(arm, "anomaly6", panel, cut, 4, seed, EMBEDDING_INIT_STD)
            det = AnomalyDetector("masked_lstm_ae", lookback=32, hidden_size=32, ticker_dim=4,
                                  train_end=AE_TRAIN_END, seed=seed, init_embeddings=path,
                                  train=qseq.TrainConfig(epochs=epochs, lr=2e-3), device="cpu")
            res = evaluate_detectors(panel, det, AE_TEST_START, per_ticker=8, seeds=inj_seeds)
            runs.append(res.assign(arm=arm, train_seed=seed))
            learned = det.embeddings().to_numpy()
            emb_rows.append({"arm": arm, "seed": seed,
                             "start cos": mean_cosine(vec.matrix) if vec is not None else np.nan,
                             "start norm": (np.linalg.norm(vec.matrix, axis=1).mean()
                                            if vec is not None else np.nan),
                             "learned cos": mean_cosine(learned),
                             "learned norm": np.linalg.norm(learned, axis=1).mean()})
            print(f"  training seed {seed} arm {arm}: done ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    res = pd.concat(runs, ignore_index=True)
    ae = res[res["method"] == "autoencoder"]
    per = ae.pivot_table(index=["train_seed", "seed", "kind"], columns="arm", values="pr_auc")[arms]
    table = per.groupby(level="kind").mean()
    overall = per.groupby(level=["train_seed", "seed"]).mean()  # mean over kinds per seed pair
    table.loc["mean over kinds"] = overall.mean()
    base = res[(res["method"] != "autoencoder") & (res["arm"] == arms[0]) &
               (res["train_seed"] == seeds[0])]
    ref = base.pivot_table(index=["seed", "kind"], columns="method", values="pr_auc")
    refk = ref.groupby(level="kind").mean()
    refk.loc["mean over kinds"] = ref.groupby(level="seed").mean().mean()
    print(f"\nPR-AUC (average precision over test bars), mean over {len(seeds)} training x "
          f"{len(inj_seeds)} injection seeds; pca / rolling_zscore for reference (seed-free "
          "apart from the injections)")
    shown = table.copy()
    shown.columns = [f"{a}" for a in arms]
    for m in ("pca", "rolling_zscore"):
        shown[m] = refk[m]
    print(shown.to_string(float_format=lambda v: f"{v:.3f}"))
    sd = overall.groupby(level="train_seed").mean().std(ddof=1)
    print("sd over training seeds of the mean over kinds: "
          + ", ".join(f"{a} {sd[a]:.3f}" for a in arms))

    print("\nat the calibrated threshold, mean over kinds and seeds: plain F1 / point-adjusted F1 / "
          "share of anomalies detected")
    for a in arms:
        r = ae[ae["arm"] == a]
        print(f"  {a}  f1 {r['f1'].mean():.3f}  pa_f1 {r['pa_f1'].mean():.3f}  "
              f"detected {r['detected'].mean():.3f}")

    others = [a for a in arms if a != "A"] if "A" in arms else []
    pairs = [(a, "A") for a in others] + ([("B", "P")] if {"B", "P"} <= set(arms) else [])
    if pairs:
        by_train = overall.groupby(level="train_seed").mean()  # [train seeds, arms]
        print("\npaired difference of the mean-over-kinds PR-AUC: mean, t over training seeds "
              "(each averaged over the injection seeds; df = seeds - 1), training seeds and "
              "(training, injection) pairs on which the first arm is higher; per kind: mean "
              "difference")
        for a, b in pairs:
            d = (by_train[a] - by_train[b]).to_numpy()
            m, t = paired_t(d)
            pairs_won = int((overall[a] > overall[b]).sum())
            kinds = (per[a] - per[b]).groupby(level="kind").mean()
            print(f"  {a} - {b}: {m:+.4f} (t {t:+.2f}), {int((d > 0).sum())}/{len(d)} training "
                  f"seeds, {pairs_won}/{len(overall)} pairs; "
                  + ", ".join(f"{k} {v:+.3f}" for k, v in kinds.items()))
    emb = pd.DataFrame(emb_rows).groupby("arm", sort=False).mean(numeric_only=True)
    print("\nticker embeddings (6 tickers; no sector table for the indices, so no purity): mean "
          "pairwise cosine and mean norm at the start and after training")
    print(emb.drop(columns="seed").to_string(float_format=lambda v: f"{v:.3f}"))


# -- the 524-ticker autoencoder's embeddings -------------------------------------------------------
def part_ae_embeddings(arms: list[str], seeds: list[int], quick: bool, vm: VectorMaker) -> None:
    from qseq.anomaly import AnomalyDetector
    from qseq.data.bundled import load_dataset
    from qseq.models.autoencoder import EMBEDDING_INIT_STD

    full = load_dataset("sp500_524")
    panel = full
    rows = panel.groupby(level="ticker").size()
    panel = panel[panel.index.get_level_values("ticker").isin(rows.index[rows >= 200])]
    if quick:
        keep = sorted(panel.index.get_level_values("ticker").unique())[:80]
        panel = panel[panel.index.get_level_values("ticker").isin(keep)]
    epochs = 1 if quick else 3
    cut = pd.Timestamp("2010-04-30")  # the cross-section's first cut-off (inside this normal period)
    sectors = bundled_sectors()
    print(f"\n== 524-ticker autoencoder embeddings (bench/anomaly_eval.py --part embeddings "
          f"settings): {panel.index.get_level_values('ticker').nunique()} tickers with >= 200 "
          f"bars, masked_lstm_ae, lookback 16, hidden 32, ticker_dim 8, {epochs} epochs, batch "
          f"512, normal period to 2010-08-20 (the whole panel); vectors on dates <= {cut.date()}; "
          f"seeds {seeds}; arms {arms}")
    t0 = time.perf_counter()
    out = []
    for seed in seeds:
        glove = vm.base("sp500_524_full", full, cut, 8, "glove", seed)
        universe = [t for t in glove.tokens if t in sectors.index
                    and t in set(panel.index.get_level_values("ticker"))]
        for arm in arms:
            path, vec = vm.arm(arm, "sp500_524_full", full, cut, 8, seed,
                               EMBEDDING_INIT_STD)
            det = AnomalyDetector("masked_lstm_ae", lookback=16, hidden_size=32, ticker_dim=8,
                                  train_end="2010-08-20", seed=seed, init_embeddings=path,
                                  train=qseq.TrainConfig(epochs=epochs, lr=2e-3, batch_size=512),
                                  ensemble=1, device="cpu").fit(panel)
            emb = det.embeddings()
            tickers = [str(t) for t in emb.index]
            start = (purity_of(list(vec.tokens), np.asarray(vec.matrix, np.float64), universe,
                               sectors) if vec is not None else np.nan)
            e = emb.to_numpy()
            change = np.nan
            if vec is not None:
                e0 = np.stack([vec.vector(t) if t in vec else np.full(8, np.nan) for t in tickers])
                ok = ~np.isnan(e0).any(axis=1)
                change = np.linalg.norm(e[ok] - e0[ok]) / np.linalg.norm(e0[ok])
            out.append({"arm": arm, "seed": seed, "purity_start": start,
                        "purity_end": purity_of(tickers, e, universe, sectors), "change": change})
            print(f"  seed {seed} arm {arm}: purity {out[-1]['purity_end']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    frame = pd.DataFrame(out)
    print(f"\n5-NN sector purity over {len(universe)} tickers (chance "
          f"{chance_purity(sectors, universe):.3f}); mean [min, max] over seeds; change = "
          "||E - E0|| / ||E0|| over the tickers with a vector (A's start is not kept)")
    for a in arms:
        f = frame[frame["arm"] == a]
        print(f"  {a}  start {f['purity_start'].mean():.3f}  after training "
              f"{f['purity_end'].mean():.3f} [{f['purity_end'].min():.3f}, "
              f"{f['purity_end'].max():.3f}]  change {f['change'].mean():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="all",
                    help="cross_section, anomaly, ae_embeddings or all (comma-separated)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (model and ticker2vec)")
    ap.add_argument("--arms", default="A,B,P,S", help=f"comma-separated, of {list(ARMS)}")
    ap.add_argument("--emb-seeds", type=int, default=1, help="seeds of the ae_embeddings part")
    ap.add_argument("--cs-spec", type=Path, default=CS_SPEC, help="pipeline spec of the "
                    "cross-section (walk_forward section used as is)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/initemb"),
                    help="folder for the vector files")
    ap.add_argument("--quick", action="store_true", help="smoke run (< 2 min)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    parts = (["cross_section", "anomaly", "ae_embeddings"] if args.part == "all"
             else args.part.split(","))
    arms = args.arms.split(",")
    unknown = sorted(set(arms) - set(ARMS)) + sorted(set(parts) - {"cross_section", "anomaly",
                                                                      "ae_embeddings"})
    if unknown:
        ap.error(f"unknown arm(s) / part(s): {unknown}")
    seeds = list(range(1 if args.quick else args.seeds))
    if args.quick:
        arms = [a for a in arms if a in ("A", "B")] or ["A", "B"]
    args.work.mkdir(parents=True, exist_ok=True)
    vm = VectorMaker(args.work)
    t0 = time.perf_counter()
    if "cross_section" in parts:
        part_cross_section(args.cs_spec.resolve(), arms, seeds, args.quick, vm, args.work)
    if "anomaly" in parts:
        part_anomaly(arms, seeds, args.quick, vm)
    if "ae_embeddings" in parts:
        part_ae_embeddings(arms, list(range(1 if args.quick else args.emb_seeds)), args.quick, vm)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s (vectors {vm.seconds:.0f} s)")


if __name__ == "__main__":
    main()
