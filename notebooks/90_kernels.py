# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix: the kernels
#
# Every chapter compares a network with its kernel, and the kernels come from
# `lsa_utils.kernels`, a torch implementation of the infinite-width NNGP and NTK of
# compositional architectures (Dense, Conv with any filter, stride and SAME/VALID padding, ReLU,
# erf, GELU, LeakyReLU and its family, sign, LayerNorm, average, sum and global pooling, Flatten, and
# residual or multi-branch blocks; builders for WideResNet, Myrtle and CNTK-GAP kernels) and of
# empirical NTKs of any `torch.nn.Module`. This
# appendix shows that these kernels agree with neural-tangents {cite}`novak2020neural`, the
# implementation researchers use today, and how fast they are.
#
# **How the analytic kernels are computed.** Each layer maps the covariance $\Sigma$ and the NTK
# $\Theta$ of its input to those of its output {cite}`jacot2018neural`: a convolution averages
# $\Sigma$ over filter offsets at shifted pixel pairs, a ReLU applies the arc-cosine kernels
# {cite}`cho2009kernel`, $\Sigma' = \kappa_1(\Sigma)$ and $\Theta' = \Theta\,\kappa_0(\Sigma)$.
# With a Flatten readout only the pixel-diagonal covariance is needed; global pooling needs every
# pixel pair, $(H W)^2$ numbers per pair of images. The engine works in blocks of image pairs
# under a memory budget, computes only the upper triangle of a symmetric Gram matrix, and fuses
# the elementwise steps of large blocks into single passes over memory with `torch.compile`.

# %% tags=["parameters"]
# Parameters: override with e.g. python -m lsa_utils run kernels -p bench_images=60
scale = "default"
seed = 0
device = "auto"
n_inputs = None  # inputs per Gram matrix in the agreement check
bench_images = None  # images in the in-chapter timing of case (a)
repeats = None  # timed runs per library (median reported)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from IPython.display import Markdown, display

from lsa_utils.experiments.kernel_checks import agreement_with_neural_tangents, load_benchmark_table, plan_data
from lsa_utils.experiments.kernel_speed import time_case
from lsa_utils.kernels.reference import reference_missing
from lsa_utils.plotting import ROLE_COLORS, figure_grid
from lsa_utils.run.context import start_chapter
from lsa_utils.run.gpu_check import kernels_markdown, load_gpu_check

run = start_chapter("kernels", scale, seed=seed, device=device, n_inputs=n_inputs,
                    bench_images=bench_images, repeats=repeats)
p = plan_data(run.parameters).check().p
missing = reference_missing()  # None where neural-tangents imports
if missing:
    display(Markdown(f"```{{warning}}\n**neural-tangents is not available in this run**, so the comparisons "
                     f"with it below are skipped: {missing}.\n```"))

# %% [markdown]
# ## Agreement with neural-tangents
#
# For each architecture below, both libraries compute the NNGP and NTK Gram matrices of the same
# random inputs in float64. Left: every entry of ours against theirs. Right: the largest
# difference relative to the largest entry, per architecture (the test suite checks 70
# architectures to $10^{-5}$; these are a sample).

# %%
agreement, pairs = (pd.DataFrame(columns=["architecture", "get", "max_rel_error"]), {}) if missing else \
    agreement_with_neural_tangents(p.n_inputs, seed=p.seed)
if pairs:  # the figure needs neural-tangents' side
    names = list(dict.fromkeys(name for name, _ in pairs))
    colors = dict(zip(names, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = figure_grid(2, width=5.4, height=4.2)
    for (name, get), (ours, theirs) in pairs.items():
        scale_ = np.abs(theirs).max()  # each architecture on its own scale, entries in [-1, 1]
        axes[0].scatter(theirs.ravel() / scale_, ours.ravel() / scale_, s=14, color=colors[name],
                        marker="o" if get == "nngp" else "x", alpha=0.7)
    low = min(min(t.min() / np.abs(t).max() for _, t in pairs.values()), 0.0)
    axes[0].plot([low, 1], [low, 1], color=ROLE_COLORS["reference"], ls="--", lw=1)
    axes[0].set(xlabel="neural-tangents entry / max |entry|", ylabel="lsa_utils entry / max |entry|",
                title="Gram-matrix entries (o NNGP, x NTK)")
    for i, name in enumerate(names):
        for _, row in agreement[agreement.architecture == name].iterrows():
            axes[1].scatter(row.max_rel_error, i, color=colors[name], s=50,
                            marker="o" if row["get"] == "nngp" else "x")
    axes[1].axvline(1e-5, color="k", ls="--", lw=1)
    axes[1].set(xscale="log", yticks=[], xlabel="max |ours - theirs| / max |theirs|",
                title="largest relative error", ylim=(-0.7, len(names) - 0.3))
    handles = [plt.Line2D([], [], color=colors[n], marker="s", ls="", label=n) for n in names]
    handles.append(plt.Line2D([], [], color="k", ls="--", label="test tolerance 1e-5"))
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0.0))
    run.savefig(fig, "agreement")
    plt.show()
agreement.style.format({"max_rel_error": "{:.1e}"})

# %% [markdown]
# ## Speed
#
# The benchmark of the issue tracker: case (a) is the NTK of
# Conv(64, 3x3, SAME)-ReLU-Conv(64, 3x3, SAME)-ReLU-GlobalAvgPool-Dense, whose global pooling
# forces the full pixel-pair covariance. Here it runs on `bench_images` random 16x16 images in
# this very execution, both libraries in float32, after one warm-up run each (compilation), the
# median of `repeats` runs.

# %%
timing = None if missing else time_case("a", p.repeats, run.device, n_inputs=p.bench_images)
None if missing else pd.Series({
    "case": timing["case"],
    "neural-tangents (s)": f"{timing['neural_tangents_s']:.2f}",
    "lsa_utils (s)": f"{timing['lsa_utils_s']:.2f}",
    "speedup": f"{timing['speedup']:.1f}x",
    "max relative difference (float32)": f"{timing['max_rel_diff']:.1e}",
}).to_frame("value")

# %% [markdown]
# The full benchmark, `make bench`, takes several minutes, so it is run separately and its last
# result is shown here when present: (a) with 100 images, (b) chapter 1's MNIST CNN on 1,000
# images of 42x42, (c) the empirical NTK of a LeNet on 500 CIFAR-sized images, (d) Myrtle-5 on 8
# CIFAR-sized images, (e) a WRN-10-1 and (f) the CNTK-GAP of depth 5 on 40 images of 16x16x3,
# (g) a residual MLP on 2,000 inputs. The last column is our rate (operations counted by torch: the
# matrix products' $2mnk$, one per element for the rest) against the machine's float32
# matrix-product peak: the analytic kernels are chains of elementwise steps over memory, so a few
# percent is what they can reach; the empirical NTK is mostly matrix products.

# %%
benches = {kind: load_benchmark_table(kind) for kind in ("cpu", "cuda")}
benches = {kind: b for kind, b in benches.items() if b is not None}
if not benches:
    print("no results/benchmarks/kernels-*.json yet: run `make bench` to fill this table")
for bench in benches.values():
    peak = bench.get("peak_flops")
    print(f"measured {bench['measured']} on {bench['device']}, float32, median of {bench['repeats']} runs"
          + (f"; matrix-product peak {peak / 1e9:.0f} GFLOP/s" if peak else ""))
    table = pd.DataFrame(bench["rows"])
    columns = ["case", "neural_tangents_s", "lsa_utils_s", "speedup", "max_rel_diff"]
    columns += [c for c in ("fraction_of_peak",) if c in table]
    display(table[columns].style.format({"neural_tangents_s": "{:.2f}", "lsa_utils_s": "{:.2f}",  # noqa: F821
                                         "speedup": "{:.1f}x", "max_rel_diff": "{:.1e}",
                                         "fraction_of_peak": "{:.1%}"}, na_rep="-"))

# %% [markdown]
# On a GPU, `make gpu-check` (the status page has its full record) times our kernels, alone
# unless neural-tangents imports there with a GPU backend (its pins install only on Python 3.11,
# and `make venv` installs JAX's CPU build): for each case and dtype, the largest Gram matrix that
# fits its budget, doubling the number of inputs from 8, and the number of inputs a minute would
# allow if the time grows with the n² pairs.

# %%
gpu_check_record = load_gpu_check("cuda")
if gpu_check_record is None:
    print("no results/gpu-check/cuda.json yet (make gpu-check, on a CUDA machine)")
else:
    print(f"measured {gpu_check_record['started']} on {gpu_check_record['device']}, torch {gpu_check_record['torch']}")
    display(Markdown(kernels_markdown(gpu_check_record)))  # noqa: F821

# %% [markdown]
# ## Scorecard

# %%
values = {"agreement": agreement.to_dict(orient="records"), "timing_case_a": timing, "benchmarks": benches,
          "reference_missing": missing}
run.finish(values)
