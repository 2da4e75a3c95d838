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
# # Lazy and rich training of a two-layer network
#
# Every chapter of this book compares a neural network with its **neural tangent kernel** (NTK).
# This opening chapter shows, on the smallest possible example, why that comparison is a fair
# one, and when it stops being one.
#
# Take a two-layer ReLU network with $m$ hidden neurons,
#
# $$ f(x) = \frac{\sigma_w}{m^{\alpha}} \sum_{j=1}^{m} a_j \,
#    \mathrm{ReLU}\!\Big(\frac{\sigma_w}{\sqrt d}\, w_j \cdot x + \sigma_b b_j\Big),
#    \qquad a_j, w_j, b_j \sim \mathcal N(0, 1), $$
#
# trained by full-batch gradient descent on the squared loss. With $\alpha = 1/2$ (the **NTK
# parameterization**) each weight moves by $O(m^{-1/2})$ during training, the network stays
# close to its first-order Taylor expansion around initialisation, and as $m \to \infty$ its
# predictions converge to those of kernel regression with the NTK
# {cite}`jacot2018neural`: the network is *lazy* {cite}`chizat2019lazy`.
# With $\alpha = 1$ (the **mean-field parameterization**, learning rate scaled by $m$) the
# function-space dynamics start out identical, but the weights move by $O(1)$: the network
# learns features and leaves its kernel. The four papers of this book are about what such
# *rich* training buys.
#
# We initialise symmetrically (the second half of the neurons copies the first with $a$
# negated), so $f = 0$ at initialisation for every width, and compare each trained network with
# the infinite-width NTK predictor after the same number of gradient steps, which has the closed
# form $f_t(x) = K(x, X) K^{-1}\big(I - (I - \eta K / n)^t\big) y$ on training data $(X, y)$.

# %% tags=["parameters"]
# Parameters: any of these can be overridden, e.g.
#   python -m lsa_utils run lazy_vs_rich --scale paper -p seeds=10 -p "widths=[64, 4096]"
# Sizes left as None take the values of the chosen scale (lsa_utils/run/chapters.py).
scale = "default"
seed = 0
device = "auto"
n_train = None  # training points of the 1-d regression task
widths = None  # hidden widths m to train
seeds = None  # initialisations per width
steps = None  # full-batch gradient steps
lr = None  # learning rate eta (multiplied by m in mean-field parameterization)

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from lsa_utils.data.synthetic import toy_regression_1d
from lsa_utils.experiments.lazy_vs_rich import plan_data, runs_table, width_sweep
from lsa_utils.plotting import ROLE_COLORS, figure_grid, mean_with_band, power_law_guide
from lsa_utils.run.context import start_chapter

run = start_chapter(
    "lazy_vs_rich", scale, seed=seed, device=device, n_train=n_train, widths=widths,
    seeds=seeds, steps=steps, lr=lr,
)
p = plan_data(run.parameters).check().p  # refuses sizes the claims cannot be read from
p.widths = sorted(p.widths)

# %% [markdown]
# ## The task
#
# A one-dimensional regression problem, small enough to draw: $n$ points $x_i$ spread over
# $[-2, 2]$ (one uniform draw in each of $n$ equal bins) with targets $\sin(\pi x / 2) + \tfrac12 \cos(\pi x)$. The networks use
# $\sigma_w = \sigma_b = 1$ in the hidden layer, so the bias lets a one-dimensional input bend the
# ReLUs anywhere.

# %%
task = toy_regression_1d(p.n_train, generator=torch.Generator().manual_seed(p.seed))
runs, f_ntk = width_sweep(task, p.widths, p.seeds, lr=p.lr, steps=p.steps, device=run.device)
table = runs_table(runs)
# mean over initialisations, one row per width
summary = table.pivot_table(
    index="width", columns="parameterization",
    values=["final_loss", "weight_change", "distance_to_kernel"],
)
summary.style.format("{:.4f}")

# %% [markdown]
# ## Wide networks in NTK parameterization become their kernel
#
# Left: networks of growing width in NTK parameterization (seed 0), trained for the same number
# of steps, against the infinite-width NTK predictor (black, dashed). Right: the same widths in
# mean-field parameterization. Both start from $f = 0$ and follow the same kernel dynamics at
# first; only the NTK-parameterized ones stay with it.

# %%
shown = sorted({p.widths[0], p.widths[len(p.widths) // 2], p.widths[-1]})
x_test = task.x_test[:, 0].numpy()
fig, axes = figure_grid(2, width=5.2, sharey=True)
titles = {
    "ntk": "NTK parameterization (lazy)",
    "mean_field": "mean-field parameterization (rich)",
}
for ax, param in zip(axes, ["ntk", "mean_field"]):
    shades = np.linspace(0.35, 1.0, len(shown))
    for shade, m in zip(shades, shown):
        r = next(
            r for r in runs if r.parameterization == param and r.width == m and r.seed == 0
        )
        ax.plot(x_test, r.test_prediction.numpy(), color=ROLE_COLORS[param], alpha=shade,
                label=f"network, m = {m}")
    ax.plot(x_test, f_ntk.numpy(), "k--", lw=1.5, label="NTK predictor (m = ∞)")
    ax.scatter(task.x_train[:, 0], task.y_train, color=ROLE_COLORS["data"], zorder=3, s=25,
               label="training data")
    ax.set(title=titles[param], xlabel="input x", ylabel="prediction f(x)")
    ax.legend(loc="upper left")
fig.tight_layout()
run.savefig(fig, "predictions")
plt.show()

# %% [markdown]
# ## How far the weights move, and how far the network is from its kernel
#
# Left: the relative change of the first-layer weights, $\|W_T - W_0\|_F / \|W_0\|_F$. In NTK
# parameterization it falls like $m^{-1/2}$ (the dashed guide); in mean-field parameterization it
# does not fall at all. Right: the relative distance between the network's test predictions and
# the NTK predictor, $\|f_{\text{net}} - f_{\text{NTK}}\| / \|f_{\text{NTK}}\|$. Bands: $\pm 1$
# standard deviation over initialisations.

# %%
def per_seed(param, column):
    """Values of ``column`` as an array (seeds, widths) for one parameterization."""
    rows = table[table.parameterization == param]
    return rows.pivot(index="seed", columns="width", values=column)[p.widths].to_numpy()


fig, axes = figure_grid(2, width=5.2)
for ax, column, label in [
    (axes[0], "weight_change", r"$\|W_T - W_0\|_F \,/\, \|W_0\|_F$"),
    (axes[1], "distance_to_kernel", r"$\|f_{net} - f_{NTK}\| \,/\, \|f_{NTK}\|$"),
]:
    for param in ["ntk", "mean_field"]:
        mean_with_band(ax, p.widths, per_seed(param, column), ROLE_COLORS[param],
                       titles[param])
    power_law_guide(ax, p.widths, per_seed("ntk", column).mean(0)[0], -0.5, "slope −1/2")
    ax.set(xscale="log", yscale="log", xlabel="width m", ylabel=label)
    ax.legend()
axes[0].set_title("first-layer weight change")
axes[1].set_title("distance to the NTK predictor")
fig.tight_layout()
run.savefig(fig, "laziness_vs_width")
plt.show()

# %% [markdown]
# ## Scorecard
#
# The claims of lazy-training theory, measured on this run. Slopes are least-squares fits of
# $\log(\text{mean over seeds})$ against $\log m$ over all widths.

# %%
mean = table.groupby(["parameterization", "width"]).mean(numeric_only=True)
ntk, mf = mean.loc["ntk"], mean.loc["mean_field"]
values = {
    "widths": p.widths,
    "weight_change_ntk": ntk.weight_change.to_list(),
    "weight_change_mean_field": mf.weight_change.to_list(),
    "distance_to_kernel_ntk": ntk.distance_to_kernel.to_list(),
    "distance_to_kernel_mean_field": mf.distance_to_kernel.to_list(),
    "final_loss_ntk": ntk.final_loss.to_list(),
    "final_loss_mean_field": mf.final_loss.to_list(),
}
run.finish(values)
