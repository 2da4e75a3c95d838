"""Chapter 1, Part A at equal n: the one-filter network and the NTK on the same training set.

Karp et al. (2021) separate the network from its kernel by sample complexity: on the patch model
with ``k`` patches, kernel methods (the NTK among them) need a number of samples that grows with
``k``, while the one-filter network learns from a number that grows, at most, slowly. To compare
like with like, both sides here see the *same* fixed training set of ``n`` inputs and are scored
on the same ``n_test`` fresh inputs:

- the network: the paper's one-filter model (``lsa_utils.models.patch_filter``), trained by
  full-batch gradient descent on the logistic loss for a fixed number of steps, at the official
  script's learning rate 0.1 with the bias gradient divided by ``k`` (the paper trains online,
  on fresh samples; here every step reuses the ``n`` inputs);
- the kernel: kernel ridge regression with the infinite-width NTK of a bank of filters with
  biases, ReLU, summed over patches, linear readout (``patch_ntk_gram``; the one-filter model is
  two such filters, ``w`` and ``-w``, sharing a bias, with readouts +1 and -1);
- a reference for the network: ``filter_ceiling``, the accuracy of the one-filter model with
  the ideal direction ``w*`` and the best threshold, which no training of that model can beat
  (up to the threshold's selection noise).

The Gram matrix sums the patch kernel over all ``k^2`` pairs of patches: its cost,
``k^2 (n^2 + n n_test)`` patch-kernel entries, not the number of samples, bounds the kernel's
``n``. ``kernel_sizes`` keeps the sizes within a budget of entries; the rest are not fitted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.patches import sample_patch_data, signal_direction
from ..kernels.solve import kernel_ridge_predict
from ..models.patch_filter import soft_threshold_pair, soft_threshold_pair_grads
from ..validation import check_positive_int

KERNEL_DIAG_REG = 1e-6  # ridge, relative to trace(K) / n (as chapter 1's patch-NTK regression)


def _patch_block(x1: torch.Tensor, x2: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean patch kernel of every pair of inputs: x1 (a, k, d), x2 (b, k, d), q = sqrt(|x|^2 + beta)
    of every patch (a, k) and (b, k) -> (a, b). Written as broadcasts so that ``torch.compile``
    fuses the d-dimensional dot products with the arc-cosine formula (no (a, k, b, k) tensor)."""
    s0 = (x1[:, :, None, None, :] * x2[None, None]).sum(-1) + beta
    norms = q1[:, :, None, None] * q2[None, None]
    cos = (s0 / norms).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    nngp = norms * (torch.sqrt(1.0 - cos * cos) + (math.pi - angle) * cos)
    entries = (nngp + s0 * (math.pi - angle)) / (2 * math.pi)
    return entries.sum(3).sum(1) / (x1.shape[1] * x2.shape[1])


def _patch_block_eager(x1, x2, q1, q2, beta):
    """``_patch_block`` with one matrix product for the dot products (the uncompiled path)."""
    s0 = torch.einsum("akd,bld->akbl", x1, x2) + beta
    norms = q1[:, :, None, None] * q2[None, None]
    cos = (s0 / norms).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    nngp = norms * (torch.sqrt(1.0 - cos * cos) + (math.pi - angle) * cos)
    return ((nngp + s0 * (math.pi - angle)) / (2 * math.pi)).mean((1, 3))


_COMPILED = {}
EAGER_BLOCK_BYTES = 2**30  # the eager block's intermediates, (rows, k, cols, k) each, stay near this


def _compiled_block():
    """``_patch_block`` under ``torch.compile``, or None where torch.compile is not available."""
    if "block" not in _COMPILED:
        try:
            _COMPILED["block"] = torch.compile(_patch_block, dynamic=False)
        except Exception:  # torch.compile unsupported here (e.g. a Python it does not know yet)
            _COMPILED["block"] = None
    return _COMPILED["block"]


def _padded(x: torch.Tensor, multiple: int) -> torch.Tensor:
    extra = -len(x) % multiple
    return x if extra == 0 else torch.cat([x, x.new_zeros(extra, *x.shape[1:])])


def patch_ntk_gram(
    x1: torch.Tensor, x2: torch.Tensor | None = None, b_std: float = 0.1, rows: int = 8, cols: int = 512,
    compiled: bool = True,
) -> torch.Tensor:
    """The NTK of ``lsa_theory.patch_ntk`` between inputs of patches, in closed form.

    For patches ``u, v`` (filters ``N(0, I_d)``, biases ``N(0, b_std^2)``, ``beta = b_std^2``):
    ``S = <u, v> + beta``, ``q_u = sqrt(|u|^2 + beta)``, ``cos = S / (q_u q_v)``, ``theta = arccos(cos)``;
    the patch kernel is ``[q_u q_v (sin theta + (pi - theta) cos) + S (pi - theta)] / (2 pi)`` (the
    ReLU layer's NNGP plus its NTK term), and ``K(x, x') = mean over the k x k patch pairs``.

    Args:
        x1: (n1, k, d) patches; x2: (n2, k, d), or None for ``x1`` itself.
        rows, cols: inputs of ``x1`` and ``x2`` per block (padded with zero inputs, so that the
            compiled block has one shape).
        compiled: fuse each block with ``torch.compile``; falls back to an eager matrix-product
            block if compilation fails (its ``(rows, k, cols, k)`` intermediates kept near
            ``EAGER_BLOCK_BYTES`` by taking fewer columns).

    Returns:
        (n1, n2) in the dtype of ``x1``. Equal to ``patch_ntk(d, b_std)`` on ``(n, d, k, 1)``
        inputs (tested to 1e-10 in float64). Cost: ``n1 n2 k^2`` patch-kernel entries.
    """
    same = x2 is None
    x2 = x1 if same else x2
    block = _compiled_block() if compiled else None
    k = x1.shape[1]
    if block is None:  # eager: (rows, k, cols, k) intermediates, so fewer columns at large k
        block = _patch_block_eager
        cols = max(1, min(cols, EAGER_BLOCK_BYTES // (8 * x1.element_size() * rows * k * k)))
    beta = b_std**2
    n1, n2 = len(x1), len(x2)
    cols = min(cols, -(-n2 // 32) * 32)  # no more padding than a multiple of 32 columns
    a, b = _padded(x1, rows), _padded(x2, cols)
    q1, q2 = ((a * a).sum(-1) + beta).sqrt(), ((b * b).sum(-1) + beta).sqrt()
    out = torch.empty(len(a), len(b), dtype=x1.dtype, device=x1.device)
    first = True
    for j in range(0, len(b), cols):
        for i in range(0, len(a), rows):
            args = (a[i:i + rows], b[j:j + cols], q1[i:i + rows], q2[j:j + cols], beta)
            try:
                out[i:i + rows, j:j + cols] = block(*args)
            except Exception:
                if not (first and compiled and block is not _patch_block_eager):
                    raise  # not a failure to compile (that shows on the first block): e.g. out of memory
                _COMPILED["block"] = None  # no compiler at hand: the eager block gives the same numbers
                return patch_ntk_gram(x1, None if same else x2, b_std, rows, cols, compiled=False)
            first = False
    out = out[:n1, :n2]
    return 0.5 * (out + out.T) if same else out


def kernel_entries(k: int, n: int, n_test: int) -> int:
    """Patch-kernel entries of the Gram matrices of ``n`` training and ``n_test`` test inputs."""
    return k * k * (n * n + n * n_test)


def kernel_sizes(k: int, sizes: list[int], n_test: int, entry_budget: float) -> list[int]:
    """The sizes of ``sizes`` whose Gram matrices (nested subsets of the largest) fit the budget."""
    return [n for n in sorted(sizes) if kernel_entries(k, n, n_test) <= entry_budget]


@dataclass
class FilterFit:
    """A one-filter model trained on a fixed sample; ``history`` rows are (step, <w, w*>, |w_perp|, b)."""

    w: torch.Tensor  # (d,)
    b: float
    history: np.ndarray
    train_accuracy: float
    seconds: float


def filter_outputs(w: torch.Tensor, b: float | torch.Tensor, x: torch.Tensor, batch: int = 2048) -> torch.Tensor:
    """``f(x) = sum_i phi_b(<w, x_i>)`` for inputs ``x`` (n, k, d), shape (n,)."""
    return torch.cat([soft_threshold_pair(x[i:i + batch] @ w, b).sum(1) for i in range(0, len(x), batch)])


def margin_accuracies(margin: torch.Tensor) -> tuple[float, float]:
    """(accuracy with a tie f = 0 counted one half, the official code's ``mean(y f >= 0)``)."""
    return float((margin > 0).double().mean() + 0.5 * (margin == 0).double().mean()), float((margin >= 0).double().mean())


def train_filter_on_sample(
    x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 0.1, seed: int = 0, record_every: int = 100,
) -> FilterFit:
    """Full-batch gradient descent of the one-filter model on the mean logistic loss over the
    fixed sample ``x`` (n, k, d), ``y`` (n,) in {-1, +1}: ``w <- w - lr grad_w``,
    ``b <- b - lr grad_b / k`` (the official script's scaling of the bias step), from ``w`` in a
    random direction with norm 1e-6 and ``b = 0`` (the official initialisation)."""
    check_positive_int("steps", steps)
    n, k, d = x.shape
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g, dtype=x.dtype).to(x.device)
    w = 1e-6 * w / w.norm()
    b = torch.zeros((), dtype=x.dtype, device=x.device)
    flat = x.reshape(-1, d)
    w_star = signal_direction(d, x.dtype, x.device)
    history = []
    start = time.perf_counter()
    for step in range(steps + 1):
        if step % record_every == 0 or step == steps:
            along = float(w @ w_star)
            history.append((step, along, math.sqrt(max(float(w @ w) - along**2, 0.0)), float(b)))
        if step == steps:
            break
        z = (flat @ w).view(n, k)
        margin = y * soft_threshold_pair(z, b).sum(1)
        delta = -y * torch.sigmoid(-margin) / n  # d(mean logistic loss) / d f
        dz, db = soft_threshold_pair_grads(z, b)
        w = w - lr * (flat.T @ (delta[:, None] * dz).reshape(-1))
        b = b - lr * (delta[:, None] * db).sum() / k
    seconds = time.perf_counter() - start
    train = margin_accuracies(y * filter_outputs(w, b, x))[0]
    return FilterFit(w, float(b), np.array(history), train, seconds)


def filter_ceiling(k: int, d: int, noise_level: float, n: int, generator: torch.Generator,
                   thresholds: int = 60) -> float:
    """Test accuracy of the one-filter model with the ideal direction ``w*`` and the threshold
    chosen among ``thresholds`` values in [0, 1) on one fresh sample of ``n`` inputs, scored on
    another: what the best-trained one-filter model reaches (ties count one half)."""
    w_star = signal_direction(d)
    select, test = (sample_patch_data(n, k, d, noise_level, generator) for _ in range(2))
    grid = torch.linspace(0.0, 1.0, thresholds + 1)[:-1]
    scores = [margin_accuracies(select.y * filter_outputs(w_star, -t, select.x))[0] for t in grid]
    best = float(grid[int(np.argmax(scores))])
    return margin_accuracies(test.y * filter_outputs(w_star, -best, test.x))[0]


@dataclass
class Separation:
    """Test accuracies of the network and the NTK on the same samples; one row per (k, n, method)."""

    rows: list[dict]
    kernel_sizes: dict[int, list[int]]  # k -> the sizes at which the NTK was fitted
    ceiling: dict[int, float]  # k -> filter_ceiling
    histories: dict[tuple[int, int], np.ndarray]  # (k, n) -> the network's FilterFit.history
    seconds: dict[str, float] = field(default_factory=dict)

    def accuracy(self, method: str, k: int, metric: str = "accuracy") -> dict[int, float]:
        """n -> test accuracy of ``method`` ("network" or "NTK") at ``k``."""
        return {r["n"]: r[metric] for r in self.rows if r["method"] == method and r["k"] == k}


def run_separation(
    ks: list[int], sizes: list[int], n_test: int, steps: int, noise_level: float = 1.0, d: int = 10,
    kernel_entry_budget: float = 1.3e10, lr: float = 0.1, seed: int = 0, device: torch.device | str = "cpu",
    progress: bool = True,
) -> Separation:
    """For every ``k``: one training sample of ``max(sizes)`` inputs (the smaller sizes are its
    first ``n``), one test sample of ``n_test``; the network trained on each ``n`` and the NTK at
    every ``n`` whose Gram matrices fit ``kernel_entry_budget`` (``kernel_sizes``)."""
    for name, v in [("n_test", n_test), ("steps", steps), ("d", d)]:
        check_positive_int(name, v)
    device = torch.device(device)
    rows, fitted, ceiling, histories = [], {}, {}, {}
    seconds = {"network": 0.0, "kernel": 0.0}
    for k in tqdm(ks, desc="k", disable=not progress):
        g = torch.Generator().manual_seed(seed * 7919 + k)
        train = sample_patch_data(max(sizes), k, d, noise_level, g)
        test = sample_patch_data(n_test, k, d, noise_level, g)
        ceiling[k] = filter_ceiling(k, d, noise_level, n_test, g)
        x_te, y_te = test.x.to(device), test.y.to(device)
        for n in sorted(sizes):
            x, y = train.x[:n].to(device), train.y[:n].to(device)
            fit = train_filter_on_sample(x, y, steps, lr, seed=seed)
            seconds["network"] += fit.seconds
            histories[(k, n)] = fit.history
            ours, official = margin_accuracies(y_te * filter_outputs(fit.w, fit.b, x_te))
            rows.append(dict(k=k, n=n, method="network", accuracy=ours, official_accuracy=official,
                             train_accuracy=fit.train_accuracy, bias=fit.b,
                             cosine=float(fit.w @ signal_direction(d, fit.w.dtype, device) / fit.w.norm())))
        fitted[k] = kernel_sizes(k, sizes, n_test, kernel_entry_budget)
        if not fitted[k]:
            continue
        n_max = max(fitted[k])
        start = time.perf_counter()
        x = train.x[:n_max].to(device)
        k_train = patch_ntk_gram(x).double().cpu()
        k_test = patch_ntk_gram(x_te, x).double().cpu()
        seconds["kernel"] += time.perf_counter() - start
        for n in fitted[k]:
            pred = kernel_ridge_predict(k_train[:n, :n], k_test[:, :n], train.y[:n].double(), KERNEL_DIAG_REG,
                                        relative_reg=True)
            ours, official = margin_accuracies(test.y.double() * pred)
            rows.append(dict(k=k, n=n, method="NTK", accuracy=ours, official_accuracy=official,
                             train_accuracy=np.nan, bias=np.nan, cosine=np.nan))
    return Separation(rows, fitted, ceiling, histories, seconds)


def samples_to_reach(accuracy_by_n: dict[int, float], target: float) -> tuple[float, str]:
    """The training-set size at which the accuracy first reaches ``target``, and what is known of it:
    ``(n, "=")`` interpolated in (log n, log accuracy) between the sizes around the crossing
    (``representation_scaling.crossing_n``); ``(max n, ">")`` when no size reaches the target;
    ``(min n, "<=")`` when the smallest size already does."""
    from .representation_scaling import crossing_n

    ns = sorted(accuracy_by_n)
    values = [accuracy_by_n[n] for n in ns]
    if max(values) < target:
        return float(ns[-1]), ">"
    if values[0] >= target:
        return float(ns[0]), "<="
    return crossing_n(ns, values, target, falling=False), "="


def reach_interval(n: float, bound: str) -> tuple[float, float]:
    """The sizes ``samples_to_reach``'s answer allows, as ``(low, high)`` (``low`` exclusive for ">")."""
    return {"=": (n, n), ">": (n, math.inf), "<=": (0.0, n)}[bound]
