"""Peephole LSTM: qseq's fused cell vs a naive per-step cell, TorchScript and torch.compile.

``qseq.models.peephole.PeepholeLSTM`` (eager) computes the input projections of all time steps
as one matrix multiply per layer and does one ``addmm`` plus the gate math per step. Compared
side by side, on the same weights and the same batch (256 windows x 64 steps x 2 features,
hidden 64, 2 layers):

- naive: the textbook loop, two matrix multiplies, bias adds and the gate math per step and
  layer (what one writes first);
- eager: qseq's cell, as shipped;
- TorchScript: qseq's layer loop through ``torch.jit.script`` (deprecated API);
- torch.compile: qseq's module through ``torch.compile`` (inductor); the compile time of the
  first call is reported separately, the step times are after it.

Figures: forward (inference) and forward + backward (a training step) per batch, median
milliseconds; every variant's output is checked against eager to 1e-5.

    python bench/bench_peephole.py                  # all four (torch.compile: about a minute)
    python bench/bench_peephole.py --no-compile     # skip torch.compile

Each variant runs in its own spawned process with 2 torch threads, as in ``bench_gru.py``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from bench_gru import BATCH, HIDDEN, LAYERS, LOOKBACK, _setup, run

FEATURES = 2
REPEATS = 10


def _naive_forward(module, x):
    """Textbook peephole LSTM: every product and bias recomputed per step and layer."""
    import torch

    batch = x.shape[0]
    out = x
    hs, cs = [], []
    for k in range(module.num_layers):
        w_ih, w_hh = getattr(module, f"weight_ih_l{k}"), getattr(module, f"weight_hh_l{k}")
        b_ih, b_hh = getattr(module, f"bias_ih_l{k}"), getattr(module, f"bias_hh_l{k}")
        p_i, p_f, p_o = getattr(module, f"peephole_l{k}")
        h = x.new_zeros(batch, module.hidden_size)
        c = x.new_zeros(batch, module.hidden_size)
        steps = []
        for t in range(out.shape[1]):
            gates = out[:, t] @ w_ih.t() + b_ih + h @ w_hh.t() + b_hh
            i, f, g, o = gates.chunk(4, dim=1)
            i = torch.sigmoid(i + p_i * c)
            f = torch.sigmoid(f + p_f * c)
            c = f * c + i * torch.tanh(g)
            o = torch.sigmoid(o + p_o * c)
            h = o * torch.tanh(c)
            steps.append(h)
        out = torch.stack(steps, dim=1)
        hs.append(h)
        cs.append(c)
    return out, (torch.stack(hs), torch.stack(cs))


def _scripted_forward(module):
    """qseq's forward with its per-layer time loop compiled by TorchScript."""
    import torch

    from qseq.models import peephole

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = torch.jit.script(peephole._layer)

    def forward(x):
        batch = x.shape[0]
        zeros = x.new_zeros(batch, module.hidden_size)
        out, hs, cs = x, [], []
        for k in range(module.num_layers):
            xp = torch.nn.functional.linear(out, getattr(module, f"weight_ih_l{k}"),
                                            getattr(module, f"bias_ih_l{k}"))
            out, h, c = layer(xp, getattr(module, f"weight_hh_l{k}"), getattr(module, f"bias_hh_l{k}"),
                              getattr(module, f"peephole_l{k}"), zeros, zeros)
            hs.append(h)
            cs.append(c)
        return out, (torch.stack(hs), torch.stack(cs))

    return forward


def task_variant(variant: str) -> dict:
    _setup()
    import torch

    from qseq.models.peephole import PeepholeLSTM

    torch.manual_seed(0)
    module = PeepholeLSTM(FEATURES, HIDDEN, LAYERS)
    x = torch.randn(BATCH, LOOKBACK, FEATURES)
    with torch.no_grad():
        reference = module(x)[0]
    compile_s = float("nan")
    if variant == "naive":
        fn = lambda inp: _naive_forward(module, inp)  # noqa: E731
    elif variant == "eager":
        fn = module
    elif variant == "torchscript":
        fn = _scripted_forward(module)
    else:
        fn = torch.compile(module)
        t0 = time.perf_counter()
        with torch.no_grad():
            fn(x)
        fn(x)[0].sum().backward()  # compiles the backward graph too
        compile_s = time.perf_counter() - t0
    out = {"compile_s": compile_s}
    with torch.no_grad():
        out["max_diff"] = float((fn(x)[0] - reference).abs().max())

    def forward():
        with torch.no_grad():
            fn(x)

    def train_step():
        module.zero_grad(set_to_none=True)
        fn(x)[0].square().mean().backward()

    for label, step in (("forward_ms", forward), ("train_ms", train_step)):
        step()
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        out[label] = float(np.median(times)) * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    variants = ["naive", "eager", "torchscript"] + ([] if args.no_compile else ["torch.compile"])
    results = {v: run(task_variant, v) for v in variants}
    eager = results["eager"]
    print(f"peephole LSTM, batch {BATCH} x {LOOKBACK} steps x {FEATURES} features, hidden {HIDDEN}, "
          f"{LAYERS} layers [ms per batch, median of {REPEATS}]")
    print(f"{'variant':14s} {'forward':>8s} {'vs eager':>9s} {'fwd+bwd':>8s} {'vs eager':>9s} "
          f"{'compile [s]':>12s} {'max |Δ|':>9s}")
    for v, r in results.items():
        comp = f"{r['compile_s']:12.1f}" if r["compile_s"] == r["compile_s"] else f"{'-':>12s}"
        print(f"{v:14s} {r['forward_ms']:8.2f} {eager['forward_ms'] / r['forward_ms']:9.2f} "
              f"{r['train_ms']:8.2f} {eager['train_ms'] / r['train_ms']:9.2f} {comp} "
              f"{r['max_diff']:9.1e}")
    print("vs eager = eager time / variant time (>1: faster than qseq's shipped cell); "
          "compile = first forward + backward call of torch.compile")


if __name__ == "__main__":
    main()
