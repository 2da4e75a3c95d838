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
# # Learning a representation with one gradient step
#
# Damian, Lee and Soltanolkotabi {cite}`damian2022neural` prove that gradient descent
# lets a two-layer network **find the low-dimensional subspace** a target depends on, and that
# this is what separates it from kernels. The target is
#
# $$ f^*(x) = g(Ux), \qquad x \sim \mathcal N(0, I_d), \quad U \in \mathbb R^{r \times d},\ UU^\top = I_r, $$
#
# with $g$ a polynomial of degree $p$ in $r \ll d$ variables. A kernel method (the NTK, or random
# features) cannot exploit the subspace: it needs about $d^p$ samples to learn a degree-$p$
# polynomial in $d$ dimensions. The paper's network needs about $d^2 r + d r^p$ (Theorem 1):
# the $d^2$ part to find $U$, the $d\,r^p$ part to fit $g$ on it.
#
# The mechanism is a single gradient step. At a network that outputs zero, the gradient of the
# squared loss for neuron $j$ is, in expectation, dominated by $\mathbb E[\nabla^2 f^*]\,w_j$
# (paper, Section 4), and $H = \mathbb E[\nabla^2 f^*] = U^\top \mathbb E[\nabla^2 g]\, U$ lives in
# span($U$). One step therefore moves every first-layer weight into the subspace, and what is
# left is a random-features problem in $r$ dimensions instead of $d$.
#
# This chapter turns the theorems into experiments you can rerun: the sample complexity of
# the network against random features and the NTK (Theorem 1 against the kernel lower bound),
# the learned subspace itself, transfer of the learned features to a new target (the paper's
# Section 5), and how the width and the step size matter.

# %% tags=["parameters"]
# Parameters: any of these can be overridden, e.g.
#   python -m lsa_utils run representation --scale paper -p "d_values=[64, 128]" -p m=8192
# Sizes left as None take the values of the chosen scale (lsa_utils/run/chapters.py).
scale = "default"
seed = 0
device = "auto"
d_values = None  # input dimensions of the sample-complexity experiment
n_points = None  # training-set sizes per d, log-spaced from d to n_max_factor d^2
n_max_factor = None  # the largest training set is this many times d^2
m = None  # width of the network and number of random features
seeds = None  # seeds per point: a new U, new data and a new initialisation each
n_val = None  # validation samples that pick every method's ridge
n_test = None  # test samples
kernel_max_n = None  # the NTK is fitted up to this many training samples
row_norm = None  # mean norm of the rows after the step; it sets the step size eta
noise_std = None  # label noise
transfer_d = None  # dimension of the transfer experiment
n_source_factor = None  # source samples, in units of d^2
n_targets = None  # target training-set sizes
transfer_seeds = None  # seeds of the transfer experiment
sweep_d = None  # dimension of the width and step sweep
sweep_n_factor = None  # its training samples, in units of d^2
widths = None  # widths m of the sweep
row_norms = None  # step sizes of the sweep, as mean row norms after the step

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lsa_utils.data.multi_index import SOURCE_LINK, TARGET_LINK
from lsa_utils.experiments.representation import METHODS, plan_data, sample_complexity, transfer, width_step_sweep
from lsa_utils.plotting import ROLE_COLORS, annotated_heatmap, figure_grid, mean_with_band
from lsa_utils.run.context import start_chapter

run = start_chapter(
    "representation", scale, seed=seed, device=device, d_values=d_values, n_points=n_points,
    n_max_factor=n_max_factor, m=m, seeds=seeds, n_val=n_val, n_test=n_test,
    kernel_max_n=kernel_max_n, row_norm=row_norm, noise_std=noise_std, transfer_d=transfer_d,
    n_source_factor=n_source_factor, n_targets=n_targets, transfer_seeds=transfer_seeds, sweep_d=sweep_d,
    sweep_n_factor=sweep_n_factor, widths=widths, row_norms=row_norms,
)
p = plan_data(run.parameters).check().p  # refuses sizes the claims cannot be read from
r, deg = SOURCE_LINK.r, SOURCE_LINK.degree
method_colors = {"network": ROLE_COLORS["network"], "random features": ROLE_COLORS["random_features"],
                 "NTK": ROLE_COLORS["kernel"], "transfer": ROLE_COLORS["mean_field"]}

# %% [markdown]
# ## The target
#
# $g$ is built from normalised probabilists' Hermite polynomials $h_k = \mathrm{He}_k/\sqrt{k!}$,
# which are orthonormal under $\mathcal N(0, 1)$, so $\mathbb E[f^*(x)^2] = 1$ exactly and a
# test MSE of 1 is what predicting 0 gets. With $r = 2$ and $p = 4$:
#
# $$ g(z) \propto \tfrac32 h_2(z_1) + \tfrac32 h_2(z_2) + \tfrac12 z_1 z_2 + h_4(z_1) + h_4(z_2) + h_2(z_1) h_2(z_2). $$
#
# Its degree-2 part gives $\mathbb E[\nabla^2 g] = \begin{pmatrix}1.5\sqrt2 & 1/2 \\ 1/2 & 1.5\sqrt2\end{pmatrix}/\sqrt{7.75}$,
# of rank 2 as the theorem needs (eigenvalues 0.94 and 0.58). The degree-2 part carries
# {glue:text}`degree_2_share` of the variance: a kernel learns it from about $d^2$ samples. The
# degree-4 part ({glue:text}`degree_p_share_percent`) is what
# separates the methods: the kernel needs about $d^4$ samples for it, the network about
# $d^2 r + d r^p$. The
# transfer experiment's second target uses the same $U$ and a different polynomial,
# $h_2(z_1) - h_2(z_2) + h_3(z_1)z_2 - z_1 h_3(z_2) + h_2(z_1)h_2(z_2) + \tfrac12 z_1 z_2$.

# %%
h = SOURCE_LINK.expected_hessian().numpy()
run.glue("degree_p_share", SOURCE_LINK.variance_share(deg), ".3f")
run.glue("degree_2_share", SOURCE_LINK.variance_share(2), ".0%")
run.glue("degree_p_share_percent", SOURCE_LINK.variance_share(deg), ".0%")
d_kernel = max(d for d in p.d_values if 4 * d**2 <= p.kernel_max_n)
run.glue("harmonic_share", SOURCE_LINK.harmonic_share(deg, d_kernel), ".3f")
run.glue("row_norm", p.row_norm, "g")
print("E[grad^2 g] =", np.round(h, 3).tolist(), "eigenvalues", np.round(np.linalg.eigvalsh(h), 3).tolist())

# %% [markdown]
# ## The algorithm
#
# The network is $f(x) = \sum_{j=1}^m a_j\,\mathrm{ReLU}(\langle w_j, x\rangle + b_j)$, started
# symmetrically (rows $w_j$ uniform on the unit sphere, $b_j = 0$, $a_j = \pm1$, the second
# half of the neurons a copy of the first with $a$ negated, so $f = 0$). The paper's
# Algorithm 1, in `lsa_utils.experiments.representation`:
#
# 1. one full-batch gradient step on $W$ with weight decay $1/\eta$, which leaves
#    $W_1 = -\eta\,\nabla_W L(W_0)$;
# 2. fresh biases $b_j \sim \mathcal N(0, 1)$;
# 3. the readout $a$ by ridge regression on the features $\mathrm{ReLU}(W_1 x + b)$.
#
# $\eta$ only sets the scale of $W_1$; we choose it so that the rows have mean norm
# `row_norm` ({glue:text}`row_norm` here; the default 0.5, half the biases' scale, was chosen
# from our prototypes before this run) and
# sweep it at the end. **Random features** are the
# same network with $W$ frozen at $W_0$; the **NTK** is the infinite-width kernel of the same
# two-layer ReLU network with bias (the kernel engine's `two_layer_relu_kernel`). Every method
# picks its ridge from $10^{-6}, 10^{-5}, \dots, 10^{3}$ (times the mean diagonal of its Gram matrix) on
# `n_val` fresh validation samples, and the test MSE is measured against the noiseless $f^*$ on
# `n_test` samples. Those are many because a degree-4 target is heavy-tailed: its squared error
# is dominated by rare inputs with large $|Ux|$, and with a few thousand test points the
# measured MSE of one predictor moved by tens of percent between two test sets in our prototypes.

# %% [markdown]
# ## 1. Sample complexity
#
# Test MSE against the number of training samples $n$ (log-spaced from $d$ to
# `n_max_factor` $\cdot d^2$, plus $d^2$ and $4d^2$), for each input dimension $d$ (mean over
# seeds, band: $\pm1$ standard deviation). Vertical lines mark $n = d^2$ (dotted) and the
# theorem's $n = d^2 r + d r^p$ (dashed); the kernels' $n = d^p$ is beyond the right edge for
# every $d$ here.

# %%
n_per_d = {d: sorted({int(round(v)) for v in np.geomspace(d, p.n_max_factor * d * d, p.n_points)}
                     | {d * d, 4 * d * d}) for d in p.d_values}
rows = pd.DataFrame(sample_complexity(
    p.d_values, n_per_d, SOURCE_LINK, p.m, p.seeds, p.n_val, p.n_test, p.kernel_max_n,
    row_norm=p.row_norm, noise_std=p.noise_std, seed=p.seed, device=run.device))
largest_gram = rows.dropna(subset=["NTK"]).sort_values("n").iloc[-1]
print(f"NTK Gram matrices at the largest n = {int(largest_gram.n):,} (d = {int(largest_gram.d)}): "
      f"{largest_gram.gram_seconds:.2f} s")

# %%
fig, axes = figure_grid(len(p.d_values), width=4.4, height=3.6, sharey=True)
for ax, d in zip(axes, p.d_values):
    sub = rows[rows.d == d]
    for method in METHODS:
        table = sub.pivot(index="rep", columns="n", values=method).dropna(axis=1)
        mean_with_band(ax, table.columns.to_numpy(), table.to_numpy(), method_colors[method], method)
    ax.axvline(d * d, color="0.5", ls=":", lw=1, label="n = d²")
    ax.axvline(d * d * r + d * r**deg, color="0.3", ls="--", lw=1, label="n = d²r + dr^p")
    ax.axhline(1.0, color="0.7", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="training samples n", title=f"d = {d} (d^p = {d**deg:,})")
axes[0].set_ylabel("test MSE (predicting 0: 1)")
axes[0].legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "sample_complexity")
plt.show()

# %% [markdown]
# The same data on one axis, $n$ rescaled by $d^2$: if the network's threshold moves like $d^2$,
# its curves for different $d$ fall on top of each other, while the kernel's keep drifting right.

# %%
fig, axes = figure_grid(2, width=5.2)
shades = np.linspace(0.35, 1.0, len(p.d_values))
for ax, method in zip(axes, ["network", "NTK"]):
    for shade, d in zip(shades, p.d_values):
        sub = rows[rows.d == d].dropna(subset=[method]).groupby("n")[method].mean()
        ax.plot(sub.index / d**2, sub.values, "o-", color=method_colors[method], alpha=shade, label=f"d = {d}")
    ax.set(xscale="log", yscale="log", xlabel="n / d²", ylabel="test MSE", title=method)
    ax.legend(fontsize=8)
fig.tight_layout()
run.savefig(fig, "rescaled")
plt.show()

# %% [markdown]
# ## 2. The learned representation
#
# Left: the share of the first layer's energy inside span($U$),
# $\|W_1 U^\top\|_F^2 / \|W_1\|_F^2$ (about $r/d$ for random rows). Right: the largest principal
# angle between span($U$) and the top-$r$ right singular subspace of $W_1$ (solid), and the top-$r$
# eigenspace of Stein's estimate $\hat H = \frac1n \sum_i y_i (x_i x_i^\top - I)$ of the Hessian
# from the same samples (dashed). The step follows $\hat H$: $W_1 \approx -\eta\,c\,\hat H W_0$.

# %%
fig, axes = figure_grid(2, width=5.2)
for shade, d in zip(shades, p.d_values):
    sub = rows[rows.d == d].groupby("n")
    color = method_colors["network"]
    axes[0].plot(sub.energy.mean().index / d**2, sub.energy.mean(), "o-", color=color, alpha=shade, label=f"d = {d}")
    axes[1].plot(sub.angle_w.mean().index / d**2, sub.angle_w.mean(), "o-", color=color, alpha=shade,
                 label=f"W₁, d = {d}")
    axes[1].plot(sub.angle_hessian.mean().index / d**2, sub.angle_hessian.mean(), "s--", color="0.4",
                 alpha=shade, label=f"Ĥ, d = {d}")
axes[0].set(xscale="log", xlabel="n / d²", ylabel="‖W₁Uᵀ‖² / ‖W₁‖²", ylim=(0, 1.02),
            title="energy of the first layer in span(U)")
axes[1].set(xscale="log", xlabel="n / d²", ylabel="largest principal angle (degrees)", ylim=(0, 91),
            title="subspace of W₁ and of the Hessian estimate")
for ax in axes:
    ax.axvline(1.0, color="0.5", ls=":", lw=1)
    ax.legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "representation")
plt.show()

# %% [markdown]
# ## 3. Transfer learning
#
# Section 5 of the paper: features learned on one task serve another with the same $U$. We
# take $W_1$ from the source target with `n_source_factor` $\cdot d^2$ samples, keep it and its
# biases, and fit only the readout on the second target with few samples. The theorem's
# target-sample cost is about $r^p$ (16 here), independent of $d$; random features,
# the NTK and the one-step network trained on the target samples alone all need samples that
# grow with $d$.

# %%
transfer_rows = pd.DataFrame(transfer(
    p.transfer_d, SOURCE_LINK, TARGET_LINK, p.n_source_factor * p.transfer_d**2, p.n_targets, p.m, p.transfer_seeds,
    p.n_val, p.n_test, row_norm=p.row_norm, noise_std=p.noise_std, seed=p.seed, device=run.device))
fig, ax = plt.subplots(figsize=(6.2, 4.0))
for method in ["transfer", *METHODS]:
    table = transfer_rows.pivot(index="rep", columns="n", values=method)
    label = {"transfer": "transferred features", "network": "one step on the target alone"}.get(method, method)
    mean_with_band(ax, table.columns.to_numpy(), table.to_numpy(), method_colors[method], label)
ax.axvline(r**deg, color="0.3", ls="--", lw=1, label="n = r^p")
ax.axhline(1.0, color="0.7", lw=1)
ax.set(xscale="log", yscale="log", xlabel="target training samples n", ylabel="test MSE on the target",
       title=f"transfer, d = {p.transfer_d}, source n = {p.n_source_factor * p.transfer_d**2:,}")
ax.legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "transfer")
plt.show()

# %% [markdown]
# ## 4. Width and step size
#
# Test MSE of the network at $d$ = `sweep_d` and $n$ = `sweep_n_factor` $\cdot d^2$ for each width
# $m$ and step size (set through the mean row norm of $W_1$; $\eta$ is proportional to it).
# Too small a step leaves the neurons' pre-activations small against the $\mathcal N(0, 1)$
# biases, so the features are nearly linear; too large a step makes the biases negligible and
# the ReLU features nearly homogeneous. Width helps until the features cover the
# $r$-dimensional subspace.

# %%
sweep = pd.DataFrame(width_step_sweep(
    p.sweep_d, p.sweep_n_factor * p.sweep_d**2, SOURCE_LINK, p.widths, p.row_norms, p.seeds, p.n_val,
    p.n_test, noise_std=p.noise_std, seed=p.seed, device=run.device))
grid = sweep.groupby(["m", "row_norm"]).network.mean().unstack()
fig, ax = plt.subplots(figsize=(6.0, 4.0))
annotated_heatmap(ax, grid, "test MSE")
ax.set(xlabel="mean row norm of W₁ (step size)", ylabel="width m",
       title=f"network test MSE, d = {p.sweep_d}, n = {p.sweep_n_factor * p.sweep_d**2:,}")
fig.tight_layout()
run.savefig(fig, "width_step")
plt.show()

# %%
widest_m = max(p.widths)
best_norm = grid.loc[widest_m].idxmin()
run.glue("sweep_best_norm", best_norm, "g")
run.glue("sweep_widest", widest_m, ",")
run.glue("sweep_default_vs_best", f"{grid.loc[widest_m, p.row_norm] / grid.loc[widest_m].min():.2f}"
         if p.row_norm in grid.columns else "n/a")

# %% [markdown]
# In this run the best step for the widest network ($m$ = {glue:text}`sweep_widest`) had mean row
# norm {glue:text}`sweep_best_norm`; the chapter's `row_norm` gave {glue:text}`sweep_default_vs_best`
# times the best MSE there (n/a: `row_norm` is not among this run's `row_norms`).

# %% [markdown]
# ## Scorecard
#
# The paper proves sample complexities and has no experiments, so its claims are checked here
# against what the theorems and the target fix, in `lsa_utils.claims.representation`:
#
# - **The kernels' floor.** A kernel method's predictor lies in the span of at most $n$
#   functions (its training points, or its random features) that do not depend on $U$. Averaged
#   over the random $U$, such a span captures at most $n/\dim H_4$ of the **harmonic** degree-4
#   part of the target, whose dimension $\dim H_4 \approx d^4/24$ is far above $n = 4d^2$; that
#   part carries {glue:text}`harmonic_share` of the variance at the $d$ of the claim (the rest of
#   the degree-4 part, {glue:text}`degree_p_share` in all, is $|x|^2$ times lower-degree
#   harmonics, learnable from about $d^2$ samples). So the NTK's and random
#   features' test MSE must stay at or above {glue:text}`harmonic_share` $\times (1 - n/\dim H_4)$,
#   the finite-$d$ form of the lower bound the paper builds on. The network, by the paper's
#   Theorem 1, learns $f^*$ from $n \asymp d^2 r + d r^p$ samples, so its MSE must be below that
#   floor. The claims are read at the largest $d$ with $4d^2 \le$ `kernel_max_n`.
# - **Representation.** At the largest $n$ the first layer's energy in span($U$) must be at least
#   0.7, ten times the level $r/d$ of a random row. At $n = d$ it is a check that the step is
#   still mostly noise (below 0.5).
# - **Transfer.** At $n = 8 r^p$ target samples (the theorem gives the order $r^p$, no constant),
#   the transferred features must beat the best of random features, the NTK and the one-step
#   network on the target alone, by a paired one-sided t-test over seeds at 5%.

# %%
values = {
    "r": r, "degree": deg, "degree_p_share": SOURCE_LINK.variance_share(deg),
    "harmonic_share": {str(d): SOURCE_LINK.harmonic_share(deg, d) for d in p.d_values},
    "mse": rows.groupby(["d", "n"])[list(METHODS)].mean().reset_index().to_dict("records"),
    "energy": {f"{d},{n}": v for (d, n), v in rows.groupby(["d", "n"]).energy.mean().items()},
    "transfer_mse": transfer_rows.groupby("n")[["transfer", *METHODS]].mean().reset_index().to_dict("records"),
    "transfer_by_seed": transfer_rows[["rep", "n", "transfer", *METHODS]].to_dict("records"),
    "sweep_mse": sweep.groupby(["m", "row_norm"]).network.mean().reset_index().to_dict("records"),
    "largest_gram_n": int(largest_gram.n), "largest_gram_seconds": float(largest_gram.gram_seconds),
}
run.finish(values)
