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
# # Local signal adaptivity
#
# Karp, Winston, Li and Singh {cite}`karp2021local` offer a simple reason why a convolutional
# network beats its neural tangent kernel on images: the object sits in a small part of the
# image, the rest is background, and a network can **learn to ignore the background**. Its
# first-layer filters align with the object and its biases become thresholds that switch off
# on background patches. The NTK's features are fixed at initialisation; it has to average
# the background in, and its accuracy falls as the background gets louder.
#
# Part A trains the paper's theory model, a single filter with a bias, on data where this is
# the whole story. Part B repeats the paper's image experiments: MNIST and CIFAR-10 pasted on
# noisy backgrounds, a CNN against its infinite NTK and its linearization.
#
# That is the paper's account. Part A shows the mechanism in the theory model (at the paper's
# noise level it needs many of the paper's 10,000 steps) and then fits the network and the NTK
# on the same training sets: the samples the NTK needs grow with the number of patches, but at
# the small numbers of patches a CPU can afford the NTK beats the one-filter network, whose
# best possible accuracy is low there. Part B fits the CNN, its NTK and its linearizations on
# the same images; on MNIST with 5,000 of them the NTK's accuracy falls with the background
# much more than the CNN's, as in the paper's Fig. 6, and the CNN's robustness grows with the
# number of training images.

# %% tags=["parameters"]
# Parameters: any of these can be overridden, e.g.
#   python -m lsa_utils run lsa --scale paper -p "noise_levels=[0.5, 1.0]" -p n_train=5000
# Sizes left as None take the values of the chosen scale (lsa_utils/run/chapters.py).
scale = "default"
seed = 0
device = "auto"
# Part A: the patch model
k = None  # patches per input
d = None  # patch dimension
noise_levels = None  # noise levels c: the noise std is c ln k / sqrt k
seeds = None  # runs per noise level
steps = None  # online SGD steps (fresh batch every step)
batch = None  # inputs per step
lr = None  # learning rate (the bias gradient is divided by k)
eval_every = None  # steps between test evaluations
n_eval = None  # fresh test inputs per evaluation
separation_k = None  # numbers of patches k at which the network and the NTK share their samples
separation_n = None  # training-set sizes (nested subsets of one sample per k)
separation_test = None  # test inputs per k
separation_steps = None  # full-batch gradient steps of the network on each fixed sample
separation_kernel_entries = None  # budget of patch-kernel entries per k (the NTK's Gram matrices)
# Part B: images on backgrounds
n_train = None  # training images per CIFAR setting
n_test = None  # test images per CIFAR setting
mnist_n_train = None  # training images of MNIST on the Gaussian canvas (paper Fig. 6)
mnist_n_test = None  # its test images
mnist_strengths = None  # std sigma of MNIST's Gaussian background (paper Fig. 6)
gaussian_strengths = None  # std of the CIFAR Gaussian background
image_strengths = None  # factor on the photo, CIFAR-image and block backgrounds
image_seeds = None  # seeds per background strength
cnn_steps = None  # SGD steps of the CNN (the same at every training-set size)
lin_steps = None  # Adam steps of the linearized CNNs (the same at every training-set size)
lin_widths = None  # width factors of the two linearized networks on CIFAR (the paper: 10)
mnist_lin_widths = None  # ... and on MNIST (the paper: 50 and 100)
lin_lr = None  # Adam learning rate of the linearized CNNs; the paper's 1e-3 needs many epochs
scaling_n = None  # MNIST training-set sizes for the accuracy-against-n figure
scaling_kernel_max_n = None  # the largest of those at which the NTK is fitted too
architecture = None  # "simple" (the paper's small CNN) or "wrn" (WRN-10-10 on CIFAR)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lsa_utils.data.patches import noise_std
from lsa_utils.experiments.lsa_images import (
    METHODS, SETTINGS, accuracy_against_n, canvases, first_layer_activity, first_layer_selectivity,
    load_canvas_data, plan_data, relative_drop, run_setting, setting_strengths,
)
from lsa_utils.experiments.lsa_separation import run_separation, samples_to_reach
from lsa_utils.experiments.lsa_theory import linear_patch_sum_accuracy, train_patch_filters
from lsa_utils.plotting import ROLE_COLORS, figure_grid, log_axis_ticks, mean_with_band
from lsa_utils.run.context import start_chapter

run = start_chapter(
    "lsa", scale, seed=seed, device=device, k=k, d=d, noise_levels=noise_levels, seeds=seeds,
    steps=steps, batch=batch, lr=lr, eval_every=eval_every, n_eval=n_eval, separation_k=separation_k,
    separation_n=separation_n, separation_test=separation_test, separation_steps=separation_steps,
    separation_kernel_entries=separation_kernel_entries, n_train=n_train, mnist_n_train=mnist_n_train,
    mnist_n_test=mnist_n_test,
    n_test=n_test, mnist_strengths=mnist_strengths, gaussian_strengths=gaussian_strengths,
    image_strengths=image_strengths, image_seeds=image_seeds, cnn_steps=cnn_steps, lin_steps=lin_steps,
    lin_widths=lin_widths, mnist_lin_widths=mnist_lin_widths, architecture=architecture, lin_lr=lin_lr, scaling_n=scaling_n,
    scaling_kernel_max_n=scaling_kernel_max_n,
)
plan = plan_data(run.parameters).check()  # the sizes capped to the data at hand, said below
plan.show()
p = plan.p
main_c = 1.0  # the paper's noise level; the planner requires it

# %% [markdown]
# ## Part A: the theory model
#
# An input is $k$ patches $x_1, \dots, x_k \in \mathbb R^d$. The label $y = \pm 1$ is a fair
# coin; one patch, at a random place, is $y\, w^*$ with $w^* = (1, \dots, 1)/\sqrt d$; every
# other patch is noise $\mathcal N(0, s^2 I_d)$ with
#
# $$ s = c\, \frac{\ln k}{\sqrt k}. $$
#
# The noise is loud in total and quiet in each patch. The sum of the $k-1$ noise patches has
# projection of standard deviation $s\sqrt{k-1} \approx c \ln k$ on $w^*$, far above the
# signal's 1, so a linear function of the input cannot read the label. But each single noise
# patch projects with standard deviation $s \ll 1$, so a **threshold** between $s$ and $1$
# passes the signal patch and drops the noise.
#
# The model is one shared filter $w \in \mathbb R^d$ and one bias $b$:
#
# $$ f(x) = \sum_{i=1}^{k} \big[\mathrm{ReLU}(\langle w, x_i\rangle + b) - \mathrm{ReLU}(-\langle w, x_i\rangle + b)\big]. $$
#
# For $b < 0$ each patch is soft-thresholded at $|b|$; for $b = 0$ the model is linear. We
# train it as the paper's code does: $w$ starts in a random direction with norm $10^{-6}$ and
# $b = 0$, then online SGD on the logistic loss with a fresh batch every step, learning rate
# 0.1, the gradient of $b$ divided by $k$. The noise patches enter the gradient only through
# their projections on $w$; we sample those projections and one Gaussian vector for the rest,
# which is the same random process as drawing all $k d$ coordinates, $d$ times cheaper (see
# `lsa_utils.experiments.lsa_theory`, tested against plain autograd on explicit patches).

# %%
training = train_patch_filters(
    p.noise_levels, p.seeds, p.k, p.d, p.steps, p.batch, p.lr, p.eval_every, p.n_eval,
    seed=p.seed, device=run.device,
)
print(f"{len(training.noise_levels)} models, {p.steps} steps each: {training.seconds:.0f} s, "
      f"{training.extra['samples_per_second']:,.0f} samples per second")

# %% [markdown]
# ### Accuracy against samples
#
# Left: test accuracy of the network against the number of samples it has seen (one line per
# noise level, bands over seeds). Dotted: the best linear classifier of the patch sum. Right:
# the final accuracy against the noise level $c$. The NTK is compared with the network on the
# same samples further below: a network that sees fresh samples at every step and a kernel fitted
# on a fixed set would compare sample budgets, not what each can learn.

# %%
def per_level(values, c):
    """(seeds, evaluations) array of a training history at noise level c."""
    return values[:, training.rows(c)].T


palette = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(p.noise_levels)))
fig, axes = figure_grid(2, width=5.4)
for color, c in zip(palette, p.noise_levels):
    mean_with_band(axes[0], training.samples_seen[1:], per_level(training.accuracy, c)[:, 1:],
                   color, f"network, c = {c}", marker="")
    axes[0].axhline(linear_patch_sum_accuracy(p.k, c), color=color, ls=":", lw=1)
axes[0].set(xscale="log", xlabel="samples seen (online, a fresh batch every step)",
            ylabel="test accuracy", title=f"k = {p.k} patches of dimension d = {p.d}")
axes[0].legend(fontsize=8, loc="upper left")

final = np.array([training.accuracy[-1, training.rows(c)] for c in p.noise_levels])
axes[1].errorbar(p.noise_levels, final.mean(1), yerr=final.std(1), marker="o",
                 color=ROLE_COLORS["network"], label=f"network after {p.steps * p.batch:,} samples")
axes[1].plot(p.noise_levels, [linear_patch_sum_accuracy(p.k, c) for c in p.noise_levels], ":",
             color=ROLE_COLORS["reference"], label="best linear classifier")
axes[1].axhline(0.5, color="0.7", lw=1)
axes[1].set(xlabel="noise level c", ylabel="final test accuracy", ylim=(0.45, 1.02),
            title="accuracy against the noise level")
axes[1].legend(fontsize=8)
fig.tight_layout()
run.savefig(fig, "theory_accuracy")
plt.show()

# %% [markdown]
# ### What the network learned: a filter along $w^*$ and a threshold
#
# From left to right, at each noise level: the cosine between $w$ and $w^*$; the threshold
# $-b$ next to the signal's projection $\langle w, w^*\rangle$ and the typical noise
# projection $s\|w\|$ (dashed), both at the main noise level $c = 1$; and the fraction of noise
# patches that pass the threshold, $P(|\langle w, \xi\rangle| > -b) = \mathrm{erfc}\big(-b/(\sqrt2 s \|w\|)\big)$.

# %%
steps_axis = training.steps
fig, axes = figure_grid(3, width=4.4)
for color, c in zip(palette, p.noise_levels):
    rows = training.rows(c)
    axes[0].plot(steps_axis, training.cosine[:, rows].mean(1), color=color, label=f"c = {c}")
    axes[1].plot(steps_axis, -training.bias[:, rows].mean(1), color=color, label=f"threshold −b, c = {c}")
    axes[2].plot(steps_axis[1:], training.noise_pass[1:, rows].mean(1), color=color, label=f"c = {c}")
rows = training.rows(main_c)
signal = (training.norm[:, rows] * training.cosine[:, rows]).mean(1)
axes[1].plot(steps_axis, signal, "k-", lw=2, label=f"signal ⟨w, w*⟩, c = {main_c}")
axes[1].plot(steps_axis, noise_std(p.k, main_c) * training.norm[:, rows].mean(1), "k--",
             label=f"noise s‖w‖, c = {main_c}")
axes[0].set(xlabel="step", ylabel="cos(w, w*)", title="direction of the filter", ylim=(-1.05, 1.05))
axes[1].set(xlabel="step", ylabel="projection", title="threshold between noise and signal")
axes[2].set(xlabel="step", ylabel="fraction of noise patches passing", yscale="log",
            title="noise patches let through")
for ax in axes:
    ax.legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "theory_mechanism")
plt.show()

# %%
def theory_at(c):
    """Final state of the models at noise level c, means over seeds."""
    rows = training.rows(c)
    return {
        "cosine": training.cosine[-1, rows].mean(), "bias": training.bias[-1, rows].mean(),
        "signal_projection": (training.norm[-1, rows] * training.cosine[-1, rows]).mean(),
        "noise_projection": noise_std(p.k, c) * training.norm[-1, rows].mean(),
        "noise_pass": training.noise_pass[-1, rows].mean(),
        "accuracy": training.accuracy[-1, rows].mean(), "ties": training.ties[-1, rows].mean(),
        "official_accuracy": (training.accuracy[-1, rows] + training.ties[-1, rows] / 2).mean(),
        "noise_patches_passing": (p.k - 1) * training.noise_pass[-1, rows].mean(),
    }


theory = {c: theory_at(c) for c in p.noise_levels}
for c in sorted({0.5, 1.0, 1.5, *p.noise_levels}):  # the prose reads c = 0.5, 1 and 1.5
    key = f"{c:g}".replace(".", "_")
    for name, fmt in [("accuracy", ".2f"), ("official_accuracy", ".2f"), ("cosine", ".2f"), ("bias", ".2f"),
                      ("noise_pass", ".1%"), ("noise_patches_passing", ".0f")]:
        run.glue(f"theory_{name}_c{key}", format(theory[c][name], fmt) if c in theory else "n/a (not run)")
run.glue("theory_steps", p.steps, ",")

# %% [markdown]
# The mechanism needs time at higher noise. At $c = 0.5$ the filter aligns early and the
# threshold settles between the noise and the signal: after {glue:text}`theory_steps` steps
# its cosine with $w^*$ is {glue:text}`theory_cosine_c0_5` and its accuracy
# {glue:text}`theory_accuracy_c0_5`. At the paper's $c = 1$ the same recipe learns slowly: in
# this run the accuracy is {glue:text}`theory_accuracy_c1` after {glue:text}`theory_steps`
# steps (cosine {glue:text}`theory_cosine_c1`, $b$ = {glue:text}`theory_bias_c1`,
# {glue:text}`theory_noise_pass_c1` of the noise patches passing). The paper's statement is about
# the end of its 10,000 steps (scale `paper`); the scorecard measures it here but counts it only
# there. A direct simulation with explicit patches agrees with the sampler used here
# (`tests/test_lsa_theory.py`). At $c = 1.5$ the bias can turn negative before $w$ has grown:
# every patch then falls under the threshold and the network stays at $f \equiv 0$ (this
# run's accuracy there: {glue:text}`theory_accuracy_c1_5`).

# %%
summary_a = pd.DataFrame({
    "noise level c": p.noise_levels,
    "noise std s": [noise_std(p.k, c) for c in p.noise_levels],
    "final accuracy": final.mean(1),
    "cos(w, w*)": [training.cosine[-1, training.rows(c)].mean() for c in p.noise_levels],
    "bias b": [training.bias[-1, training.rows(c)].mean() for c in p.noise_levels],
    "noise passing": [training.noise_pass[-1, training.rows(c)].mean() for c in p.noise_levels],
    "best linear": [linear_patch_sum_accuracy(p.k, c) for c in p.noise_levels],
    "official accuracy (ties correct)": [training.accuracy[-1, training.rows(c)].mean()
                                         + training.ties[-1, training.rows(c)].mean() / 2 for c in p.noise_levels],
})
summary_a.style.format(precision=3).hide(axis="index")

# %% [markdown]
# ### At the paper's noise level: the whole trajectory
#
# The paper's Fig. 3 follows one run at $c = 1$ ($k$ = 1000, $d$ = 10). Left: the filter's
# component along the signal, $\langle w, w^*\rangle$, its component orthogonal to it,
# $\|w_\perp\|$, and the threshold $-b$. Middle: the test accuracy as we score it (a tie $f(x) = 0$
# counts one half) and as the official script scores it (`mean(y f >= 0)`: a tie counts as
# correct). Right: the fraction of noise patches that pass the threshold and the number of them
# per input, $(k - 1)\,P(\text{pass})$; local signal adaptivity means about one or fewer.

# %%
rows = training.rows(main_c)
along = training.norm[:, rows] * training.cosine[:, rows]
across = training.norm[:, rows] * np.sqrt(np.clip(1 - training.cosine[:, rows] ** 2, 0, None))
official = training.accuracy[:, rows] + training.ties[:, rows] / 2
fig, axes = figure_grid(3, width=4.4)
for values_c, label, color in [(along, "⟨w, w*⟩", ROLE_COLORS["network"]), (across, "‖w⊥‖", ROLE_COLORS["reference"]),
                               (-training.bias[:, rows], "threshold −b", ROLE_COLORS["kernel"])]:
    mean_with_band(axes[0], steps_axis, values_c.T, color, label, marker="")
mean_with_band(axes[1], steps_axis, training.accuracy[:, rows].T, ROLE_COLORS["network"], "ours (tie = 1/2)", marker="")
mean_with_band(axes[1], steps_axis, official.T, ROLE_COLORS["kernel"], "official (tie = correct)", marker="")
axes[1].axhline(linear_patch_sum_accuracy(p.k, main_c), color="0.5", ls=":", lw=1, label="best linear classifier")
mean_with_band(axes[2], steps_axis[1:], (p.k - 1) * training.noise_pass[1:, rows].T, ROLE_COLORS["network"],
               "noise patches passing per input", marker="")
axes[2].axhline(1.0, color="0.5", ls=":", lw=1, label="one per input")
axes[0].set(xlabel="step", ylabel="value", title=f"filter and threshold, c = {main_c:g}")
axes[1].set(xlabel="step", ylabel="test accuracy", title="accuracy under both metrics", ylim=(0.45, 1.02))
axes[2].set(xlabel="step", ylabel="(k − 1) P(pass)", yscale="log", title="noise patches let through")
for ax in axes:
    ax.legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "theory_trajectory")
plt.show()

# %% [markdown]
# In this run, at $c = 1$ after {glue:text}`theory_steps` steps, the accuracy is
# {glue:text}`theory_accuracy_c1` as we score it and {glue:text}`theory_official_accuracy_c1` as
# the official script does, with {glue:text}`theory_noise_patches_passing_c1` noise patches per
# input above the threshold. The two metrics differ only where the threshold silences every patch
# ($f \equiv 0$), which happens at the loudest noise, not at $c = 1$: the metric does not explain
# the distance to the paper's near-perfect accuracy. Our hypothesis is the number of steps
# ({glue:text}`theory_steps` here, the paper's 10,000 at the `paper` scale), which only that
# scale tests.

# %% [markdown]
# ### The network and the NTK on the same samples
#
# The paper's separation is about samples: the NTK, with features fixed at initialisation, needs
# more training inputs as the number of patches $k$ grows; the network, which learns a
# threshold, does not. Here both see **the same fixed training set** of $n$ inputs at $c = 1$
# and are scored on the same {glue:text}`separation_test` fresh test inputs:
#
# - the **network** is the paper's one-filter model, trained by full-batch gradient descent on
#   the $n$ inputs for {glue:text}`separation_steps` steps at the official learning rate 0.1 (the
#   bias step divided by $k$), from the official initialisation;
# - the **NTK** is that of a bank of filters with biases, ReLU, summed over the patches, linear
#   readout: the infinite-width version of the network (which is two such filters, $w$ and
#   $-w$, sharing a bias, with readouts $\pm 1$). Kernel ridge regression on the $\pm 1$
#   labels, ridge $10^{-6}\,\mathrm{tr}(K)/n$, in closed form
#   (`lsa_utils.experiments.lsa_separation.patch_ntk_gram`, equal to the kernel engine's to
#   $10^{-10}$ in the tests);
# - the **ceiling**: the same one-filter model with the ideal filter $w^*$ and the best
#   threshold, chosen on one fresh sample and scored on another. No training of the one-filter
#   model does better.
#
# The Gram matrices sum the patch kernel over all $k^2$ pairs of patches, $k^2(n^2 + n\,n_\text{test})$
# entries: at larger $k$ the NTK is fitted only at the sizes that fit the budget
# (`separation_kernel_entries`; the `paper` scale, on a GPU, fits them all).

# %%
separation = run_separation(p.separation_k, p.separation_n, p.separation_test, p.separation_steps,
                            noise_level=main_c, d=p.d, kernel_entry_budget=p.separation_kernel_entries,
                            seed=p.seed, device=run.device)
sep = pd.DataFrame(separation.rows)
print(f"network {separation.seconds['network']:.0f} s, NTK {separation.seconds['kernel']:.0f} s; "
      f"NTK fitted at: {separation.kernel_sizes}")
fig, axes = figure_grid(len(p.separation_k), width=3.6, height=3.3)
for ax, k_sep in zip(axes, p.separation_k):
    for method, color in [("network", ROLE_COLORS["network"]), ("NTK", ROLE_COLORS["kernel"])]:
        acc = separation.accuracy(method, k_sep)
        if acc:
            ax.plot(list(acc), list(acc.values()), "o-", color=color, label=method)
    ax.axhline(separation.ceiling[k_sep], color=ROLE_COLORS["network"], ls="--", lw=1, label="one-filter ceiling")
    ax.axhline(0.5, color="0.7", lw=1, ls=":")
    if not separation.kernel_sizes[k_sep]:
        ax.text(0.5, 0.15, "NTK: Gram matrices\nover the budget", transform=ax.transAxes, ha="center", fontsize=8)
    ax.set(xscale="log", xlabel="training inputs n (shared)", ylabel="test accuracy", ylim=(0.45, 1.02),
           title=f"k = {k_sep}, s = {noise_std(k_sep, main_c):.2f}")
    log_axis_ticks(ax, p.separation_n)
axes[0].legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "separation")
plt.show()
reach = {k_sep: samples_to_reach(separation.accuracy("NTK", k_sep), 0.75) for k_sep in p.separation_k
         if separation.kernel_sizes[k_sep]}
run.glue("separation_test", p.separation_test, ",")
run.glue("separation_steps", p.separation_steps, ",")
run.glue("separation_ntk_reach", "; ".join(
    f"k = {k_sep}: n {'≈' if bound == '=' else bound} {n_reach:.0f}" for k_sep, (n_reach, bound) in reach.items()))
n_top = max(p.separation_n)
run.glue("separation_network_at_max_n", ", ".join(
    f"{separation.accuracy('network', k_sep)[n_top]:.2f} at k = {k_sep}" for k_sep in p.separation_k))
run.glue("separation_ceilings", ", ".join(f"{separation.ceiling[k_sep]:.2f} at k = {k_sep}" for k_sep in p.separation_k))
separation_record = {"rows": separation.rows, "kernel_sizes": {str(k_): v for k_, v in separation.kernel_sizes.items()},
                     "ceiling": {str(k_): v for k_, v in separation.ceiling.items()}, "n_test": p.separation_test,
                     "seconds": separation.seconds}
sep.pivot_table(index="n", columns=["k", "method"], values="accuracy").round(3)

# %% [markdown]
# Sizes at which the NTK first reaches accuracy 0.75 (interpolated; ">" where no fitted size
# reaches it): {glue:text}`separation_ntk_reach`. The network's accuracy at the largest $n$:
# {glue:text}`separation_network_at_max_n`; the one-filter ceiling: {glue:text}`separation_ceilings`.
#
# The NTK needs more samples as $k$ grows, and the network's accuracy at a fixed $n$ does not
# fall with $k$: the two halves of the paper's separation. But at the small $k$ where the NTK
# fits on a CPU, the NTK is the better of the two. The noise per patch, $s = c \ln k/\sqrt k$, is
# loud there: even the ideal one-filter model stays at its ceiling, near 0.62, because no single
# threshold separates the signal patch from the noise patches. Our reading, not tested: the NTK
# combines many filters with different thresholds and so does better. The separation is a
# statement about large $k$, where the ceiling approaches 1 and the NTK's Gram matrices grow as
# $k^2$. The network is also far from its ceiling at $k$ = 1000: after the same
# {glue:text}`separation_steps` full-batch steps at every $n$ and $k$ it is still learning, as the
# online run at this scale is (the paper's 10,000 steps run at the `paper` scale).

# %% [markdown]
# ## Part B: images on noisy backgrounds
#
# The paper's Figures 4 and 6. Each image is pasted at a random place on a larger canvas whose
# other pixels are background:
#
# - **MNIST** (the paper's Fig. 6): 28x28 digits on a 42x42 canvas of $\mathcal N(0, \sigma^2)$
#   pixels, 10 classes, with its own, larger training set ({glue:text}`mnist_n_train` images here;
#   the paper's 20,000 at `paper`), on which the CNN, its NTK and its linearizations are all fitted;
# - **CIFAR-10, Gaussian**: images resized to 16x16 on a 32x32 Gaussian canvas, animals
#   against vehicles (the paper's CIFAR-2);
# - **CIFAR-10, photographs**: the same on random 32x32 crops of the 20 photographs that
#   scikit-image ships (standing in for the paper's ImageNet plants), times a factor; once as
#   CIFAR-2 and once with all **10 classes**;
# - **CIFAR-10, CIFAR-10 images**: CIFAR-2 on a whole 32x32 CIFAR-10 test image (one not drawn
#   as a test input), times a factor: a second natural background, made of the same kind of
#   images. The background image is drawn from all ten classes alike, so that it carries no
#   information about the label (drawing it from the classes other than the pasted image's
#   would);
# - **CIFAR-10, blocks**: a vehicle (4 classes) in one corner of a 2x2 grid of random 16x16
#   animal images, times a factor.
#
# At the `paper` scale the CIFAR settings train the paper's WRN-10-10 and linearize the same
# WRN (BatchNorm in eval mode at $\theta_0$, as the official linearization) at widths 1 and 10;
# the WRN's infinite NTK is not fitted there: on 20,000 32x32 images it is far out of reach (see
# `lsa_utils.experiments.lsa_images`), and the linearized WRN stands for the kernel side, as in
# the paper's Fig. 4. MNIST keeps the small CNN at every scale, as the official scripts.
#
# For every background strength and seed we fit four predictors on the same canvases: the
# **CNN** (Conv 3x3/2 - ReLU - Conv 3x3/2 - ReLU - Flatten - Dense, 8 and 16 channels), its
# **infinite-width NTK** (kernel regression on one-hot targets, ridge $10^{-5}\,\mathrm{tr}(K)/n$,
# as the official code), and its **linearization** $f_0 + J(\theta - \theta_0)$ at two width
# factors, a narrow and a wide one (1 and {glue:text}`wide_factor` here; the paper's 10 on CIFAR
# and 50 and 100 on MNIST at `paper`). Both networks minimise the official code's objective: cross-entropy averaged
# over the batch *and the $K$ classes* (torch's cross-entropy divided by $K$), for the CNN plus
# $5\cdot10^{-4}\,\|\theta\|^2$. The CNN takes SGD with momentum 0.9, learning rate 0.1 times 0.2
# at 40, 50 and 60% of training, batch 128, for a fixed number of steps
# ({glue:text}`cnn_steps` here) whatever the number of images, so that every training-set size
# gets the same optimisation. The linearizations take the official Adam recipe, batch 50, no
# weight decay, the rate times 0.2 at 70 and 85% of training (the official epochs 140 and 170 of
# 200), also for a fixed number of steps ({glue:text}`lin_steps` here; the official 200 epochs
# of 20,000 images are 80,000, the `paper` scale's number). The paper's rate for them is $10^{-3}$; in the few epochs the `smoke` and `default`
# scales can afford, that left the width-1 linearization near chance even on its training set
# in our prototypes on MNIST canvases, so those scales use $10^{-2}$ and `paper` keeps $10^{-3}$.

# %%
settings = list(SETTINGS.values())
run.glue("cnn_steps", p.cnn_steps, ",")
run.glue("lin_steps", p.lin_steps, ",")
datasets, rows, cnns = {}, [], {}
for setting in settings:
    data = load_canvas_data(setting, p.n_train_by_setting[setting.key], p.n_test_by_setting[setting.key], seed=p.seed)
    datasets[setting.key] = data
    strengths = setting_strengths(setting, vars(p))
    print(f"{setting.title}: {data.source}; {len(data.train_labels)} train / "
          f"{len(data.test_labels)} test images, {data.num_classes} classes")
    setting_rows, cnns[setting.key] = run_setting(
        data, strengths, p.image_seeds, p.cnn_steps, p.lin_steps,
        p.mnist_lin_widths if setting.dataset == "mnist" else p.lin_widths,
        p.architecture, run.device, lin_lr=p.lin_lr)
    rows += setting_rows
results_b = pd.DataFrame(rows)
fallback = any(d.fallback for d in datasets.values())

# %% [markdown]
# ### Example inputs
#
# One training input of each setting at each background strength (seed 0).

# %%
ncols = max(len(setting_strengths(setting, vars(p))) for setting in settings)
fig, axes = plt.subplots(len(settings), ncols, figsize=(1.9 * ncols, 2.0 * len(settings)), squeeze=False)
for r, setting in enumerate(settings):
    data = datasets[setting.key]
    strengths = setting_strengths(setting, vars(p))
    for col in range(ncols):
        ax = axes[r, col]
        ax.axis("off")
        if col >= len(strengths):
            continue
        x, _ = canvases(data, strengths[col], 0)
        img = x[0].permute(1, 2, 0).numpy()
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap="gray")
        ax.set_title(f"{setting.key}\nstrength {strengths[col]}", fontsize=8)
fig.tight_layout()
run.savefig(fig, "example_inputs")
plt.show()

# %% [markdown]
# ### Accuracy against background strength
#
# Mean over the `image_seeds` seeds, with a band of $\pm 1$ standard deviation when there are
# several (one at `default`, for time). The paper's claim: the CNN's accuracy stays
# up as the background gets louder, its NTK's falls.

# %%
method_colors = {METHODS[0]: ROLE_COLORS["network"], METHODS[1]: ROLE_COLORS["kernel"],
                 METHODS[2]: ROLE_COLORS["linearized"], METHODS[3]: ROLE_COLORS["random_features"]}
labels = {METHODS[2 + i]: f"linearized CNN (w = {p.lin_widths[i]}, MNIST {p.mnist_lin_widths[i]})" for i in range(2)}
columns = 3
fig, axes = plt.subplots(-(-len(settings) // columns), columns, figsize=(3.9 * columns, 3.4 * -(-len(settings) // columns)),
                         squeeze=False)
for ax in axes.ravel()[len(settings):]:
    ax.axis("off")
for ax, setting in zip(axes.ravel(), settings):
    sub = results_b[results_b.setting == setting.key]
    for method in METHODS:
        table = sub[sub.method == method].pivot(index="seed", columns="strength", values="accuracy")
        if not table.empty:  # the WRN's NTK (scale paper) is not fitted
            mean_with_band(ax, table.columns.to_numpy(), table.to_numpy(), method_colors[method],
                           labels.get(method, method))
    ax.axhline(1 / datasets[setting.key].num_classes, color="0.7", lw=1, ls=":", label="chance")
    n_here = p.n_train_by_setting[setting.key]
    ax.set(title=f"{setting.title.replace(' on ', chr(10) + 'on ')}, n = {n_here:,}", xlabel="background strength",
           ylabel="test accuracy")
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "images_accuracy")
plt.show()

# %% [markdown]
# For each predictor the *relative drop* is
# $(\mathrm{acc}(\text{weakest}) - \mathrm{acc}(\text{loudest})) / (\mathrm{acc}(\text{weakest}) - \text{chance})$:
# 0 when the background does not hurt, 1 when it pushes the predictor to chance.

# %%
def setting_drop(setting_key, method):
    sub = results_b[(results_b.setting == setting_key) & (results_b.method == method)]
    if sub.empty:  # the WRN's NTK at the paper scale: not fitted
        return np.nan
    return relative_drop(sub.groupby("strength").accuracy.mean(), 1 / datasets[setting_key].num_classes)


drops = pd.DataFrame({m: {s.key: setting_drop(s.key, m) for s in settings} for m in METHODS})
run.glue("mnist_drops", ", ".join(f"{m} {drops.loc['mnist_gaussian', m]:.2f}" for m in METHODS))
run.glue("mnist_n_train", p.n_train_by_setting["mnist_gaussian"], ",")
cifar_keys = [s.key for s in settings if s.dataset == "cifar10"]
run.glue("cifar_n_train", min(p.n_train_by_setting[k] for k in cifar_keys), ",")
run.glue("wide_factor", p.lin_widths[1])
run.glue("cifar_drops", "; ".join(f"{SETTINGS[k].title}: {drops.loc[k, 'CNN']:.2f} against "
                                  f"{drops.loc[k, METHODS[3]]:.2f} against {drops.loc[k, 'NTK']:.2f}"
                                  for k in cifar_keys))
drops.round(3)

# %% [markdown]
# In this run, with {glue:text}`mnist_n_train` MNIST training images shared by every predictor, the
# relative drops from $\sigma$ = 0 to 2 on the Gaussian canvas were: {glue:text}`mnist_drops`. The
# paper's Fig. 6 (20,000 images) has the NTK drop notably more than the CNN; the scorecard counts
# that claim from 5,000 images on. The linearized CNNs, trained for a fixed number of Adam steps
# that leaves them well below the NTK even without background, drop like the NTK. How robust the
# CNN is depends on how many images it has seen: the next figure follows it on MNIST up to
# 20,000 images.
#
# On CIFAR-10 (the paper's Fig. 4) the paper compares its WRN-10-10 with the linearized WRN:
# the network stays robust, the linearization drops. At this scale the small CNN on
# {glue:text}`cifar_n_train` images is compared with its own linearization (width factor
# {glue:text}`wide_factor`), and the relative drops, CNN against linearization against NTK, were:
# {glue:text}`cifar_drops`. On a thousand CIFAR images the small CNN is not the robust one: where
# it drops more than its linearization, the scorecard records a finding (our guess at the reason:
# as on MNIST, its robustness is learned from data, and a thousand images are too few); the
# paper's claim is counted at the `paper` scale, with the WRN. The background of CIFAR-10 images
# is our addition, not the paper's.

# %% [markdown]
# ### The CNN's robustness is learned, so it needs data
#
# MNIST on the Gaussian canvas, one seed: the CNN at training-set sizes from a thousand to tens
# of thousands, its NTK where the $O(n^2)$ Gram matrix is affordable. Accuracy at $\sigma = 0$
# (dashed) and at the loudest background (solid); the right panel shows the relative drop
# between the two (defined above). If the CNN's robustness is learned from data, its drop
# shrinks as $n$ grows; the scorecard's finding measures by how much.

# %%
mnist = SETTINGS["mnist_gaussian"]
loud = [min(p.mnist_strengths), max(p.mnist_strengths)]
scaling_rows, scaling_cnns = accuracy_against_n(
    mnist, p.scaling_n, loud, p.n_test_by_setting[mnist.key], p.cnn_steps, p.scaling_kernel_max_n, seed=p.seed,
    device=run.device, done_rows=results_b.to_dict("records"))
scaling = pd.DataFrame(scaling_rows)
chance_mnist = 1 / datasets[mnist.key].num_classes
fig, axes = figure_grid(2, width=5.0)
scaling_drop, scaling_clean = {}, {}
for method in METHODS[:2]:
    sub = scaling[scaling.method == method]
    if sub.empty:
        continue
    table = sub.pivot(index="n_train", columns="strength", values="accuracy")
    color = method_colors[method]
    axes[0].plot(table.index, table[loud[0]], "o--", color=color, label=f"{method}, σ = {loud[0]}")
    axes[0].plot(table.index, table[loud[1]], "o-", color=color, label=f"{method}, σ = {loud[1]}")
    scaling_drop[method] = {int(n): relative_drop(row, chance_mnist) for n, row in table.iterrows()}
    scaling_clean[method] = {int(n): float(row[loud[0]]) for n, row in table.iterrows()}
    axes[1].plot(list(scaling_drop[method]), list(scaling_drop[method].values()), "o-", color=color, label=method)
axes[0].axhline(chance_mnist, color="0.7", lw=1, ls=":", label="chance")
axes[0].set(xscale="log", xlabel="training images n", ylabel="test accuracy", title="MNIST on Gaussian noise")
axes[1].set(xscale="log", xlabel="training images n", ylabel="relative drop", ylim=(-0.05, 1.05),
            title=f"relative drop, σ = 0 to {loud[1]}")
for ax in axes:
    ax.legend(fontsize=7)
fig.tight_layout()
run.savefig(fig, "accuracy_against_n")
plt.show()
pd.DataFrame(scaling_drop).rename_axis("n").round(3)

# %% [markdown]
# ### Where the CNN looks
#
# The paper's mechanism would show in the first layer as channels that fire on the digit and
# stay silent on the background. Below: MNIST test inputs at the loudest background, and the
# first layer's response (mean over channels of ReLU(conv1)) of the CNN trained on
# `n_train` images at that strength and, when the figure above fitted more, of the one trained
# on the most images; then each channel's mean response on windows inside the pasted digit and
# on the background.


# %%
loudest = max(p.mnist_strengths)
clean_test, loud_test = canvases(datasets[mnist.key], 0.0, 0)[1], canvases(datasets[mnist.key], loudest, 0)[1]
n_mnist = p.n_train_by_setting[mnist.key]
looked_at = {n_mnist: cnns[mnist.key][loudest]}
if scaling_cnns and max(scaling_cnns) > n_mnist:
    looked_at[max(scaling_cnns)] = scaling_cnns[max(scaling_cnns)]
fig, axes = plt.subplots(1 + len(looked_at), 4, figsize=(9, 2.3 * (1 + len(looked_at))), squeeze=False)
selectivity = {}
for i in range(4):
    axes[0, i].imshow(loud_test[i, 0], cmap="gray")
    axes[0, i].set_title(f"input, σ = {loudest}", fontsize=8)
for r, (n, model) in enumerate(looked_at.items(), start=1):
    activity = first_layer_activity(model, loud_test[:4]).mean(1)
    for i in range(4):
        axes[r, i].imshow(activity[i], cmap="magma")
        axes[r, i].set_title(f"conv1 response, CNN on {n:,}", fontsize=8)
    on_image, on_background = first_layer_selectivity(model, loud_test, clean_test)
    selectivity[f"n = {n:,}: on the digit"] = on_image.numpy()
    selectivity[f"n = {n:,}: on the background"] = on_background.numpy()
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle("first-layer response (mean over channels of ReLU(conv1)) of CNNs trained on n images", fontsize=9)
fig.tight_layout()
run.savefig(fig, "first_layer_response")
plt.show()
louder = {n: int((selectivity[f"n = {n:,}: on the background"] > selectivity[f"n = {n:,}: on the digit"]).sum())
          for n in looked_at}
channels = len(selectivity[f"n = {n_mnist:,}: on the digit"])
run.glue("selectivity_sigma", loudest, "g")
run.glue("selectivity_channels", channels)
run.glue("selectivity_summary", "; ".join(f"{louder[n]} of {channels} for the CNN trained on {n:,} images"
                                          for n in looked_at))
pd.DataFrame(selectivity).T.rename_axis(columns="first-layer channel").round(3)

# %% [markdown]
# In this run, at $\sigma$ = {glue:text}`selectivity_sigma`, the channels that respond more on
# the background than on the digit number {glue:text}`selectivity_summary`. When that is most of
# them, the first layer does not do what the paper's mechanism predicts. With $\sigma > 1$ a
# background pixel is louder than any stroke (pixel values at most 1), so a 3x3 filter cannot
# threshold it away; whatever robustness the CNN learns with data then sits in its later layers.

# %% [markdown]
# ## What each part cost
#
# Wall time of each part of this run, in seconds (the executed notebook's total also includes
# loading the data and drawing the figures).

# %%
part_seconds = {
    "A: online SGD of the one-filter models": training.seconds,
    "A: the network on fixed samples": separation.seconds["network"],
    "A: the patch NTK's Gram matrices": separation.seconds["kernel"],
    **{f"B: {method}, all settings": float(results_b[results_b.method == method].seconds.sum()) for method in METHODS},
    "B: accuracy against n (the sizes other than the MNIST run's)": float(
        scaling[scaling.n_train != n_mnist].seconds.sum()) if not scaling.empty else 0.0,
}
pd.Series(part_seconds, name="seconds").round(1).to_frame()

# %% [markdown]
# ## Scorecard
#
# The claims are computed by `lsa_utils.claims.lsa` from the numbers recorded below, with
# thresholds fixed there, each with its reason. The theory claims are read at the paper's
# noise level $c = 1$ and are stated for the end of the paper's 10,000 steps; the claims on the
# network and the NTK on the same samples count wherever they can be decided (the one at
# $k = 1000$ needs the NTK fitted there, on a GPU); the MNIST claim of Fig. 6 counts on real
# MNIST from 5,000 training images on; the CIFAR claim of Fig. 4 counts with the paper's
# WRN-10-10 on 20,000 images. A run below those sizes measures and shows them without counting
# them.

# %%
values = {
    "theory": {str(c): v for c, v in theory.items()},
    "theory_final_accuracy": {str(c): final[i].tolist() for i, c in enumerate(p.noise_levels)},
    "separation": separation_record,
    "theory_linear_accuracy": {str(c): linear_patch_sum_accuracy(p.k, c) for c in p.noise_levels},
    "samples_per_second": training.extra["samples_per_second"],
    "n_mnist": n_mnist, "n_test_mnist": len(datasets[mnist.key].test_labels), "chance_mnist": chance_mnist,
    "n_train_by_setting": {key: len(d.train_labels) for key, d in datasets.items()},
    "n_test_by_setting": {key: len(d.test_labels) for key, d in datasets.items()},
    "chance_by_setting": {key: 1 / d.num_classes for key, d in datasets.items()},
    "mnist_clean_accuracy_against_n": scaling_clean,
    "images_relative_drop": drops.to_dict(),
    "images_accuracy": results_b.groupby(["setting", "method", "strength"]).accuracy.mean().reset_index().to_dict("records"),
    "images_gram_seconds": float(results_b.gram_seconds.sum()),
    "part_seconds": part_seconds,
    "mnist_relative_drop_against_n": scaling_drop,
    "fallback_data": fallback,
    "data_plan": plan.record(),
}
print("relative drop from the weakest to the loudest background:")
print(drops.round(3).to_string())
run.finish(values)
