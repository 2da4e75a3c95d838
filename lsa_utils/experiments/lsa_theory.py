"""Chapter 1, Part A: online SGD of the one-filter model against its NTK on the patch model.

Training follows the paper's code: logistic loss, fresh samples every step, learning rate 0.1,
batch 500, the gradient of ``b`` divided by ``k``; ``w`` starts in a random direction with norm
1e-6 and ``b = 0``.

Sampling the same law, cheaply. The model sees a noise patch ``xi ~ N(0, s^2 I_d)`` only through
``z = <w, xi>``, and the rest of ``xi`` is independent of ``z``: with ``u = w / ||w||``,

    xi = (z / ||w||) u + s P_perp h,    z ~ N(0, s^2 ||w||^2),   h ~ N(0, I_d) independent.

So a batch's gradient ``sum_n delta_n sum_i phi'(z_ni) xi_ni`` equals, in distribution,

    s u sum_{n,i} delta_n phi'_ni g_ni  +  s sqrt(sum_{n,i} delta_n^2 phi'^2_ni) P_perp h,

with ``g = z / (s ||w||)`` standard normal. ``train_patch_filters`` draws ``k - 1`` projections per
input and one ``h`` per step instead of ``k d`` coordinates per input: the same stochastic process
(tested against plain autograd on explicit patches in ``tests/test_lsa_theory.py``), ``d`` times
cheaper.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.patches import noise_std, signal_direction
from ..models.patch_filter import PatchFilter, noise_pass_fraction, soft_threshold_pair, soft_threshold_pair_grads
from ..validation import check_positive_int


@dataclass
class PatchTraining:
    """Histories of ``M`` models trained side by side; arrays of shape (evaluations, M)."""

    noise_levels: np.ndarray  # (M,)
    seeds: np.ndarray  # (M,)
    steps: np.ndarray  # (E,)
    samples_seen: np.ndarray  # (E,)
    accuracy: np.ndarray
    cosine: np.ndarray
    norm: np.ndarray
    bias: np.ndarray
    noise_pass: np.ndarray  # fraction of noise patches passing |<w, xi>| > -b
    signal_pass: np.ndarray  # 1 when the signal patch passes, <w, w*> > -b
    ties: np.ndarray  # share of test inputs with f(x) = 0 exactly (the official code scores them correct)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def rows(self, noise_level: float) -> np.ndarray:
        """Indices of the models trained at ``noise_level``."""
        return np.flatnonzero(np.isclose(self.noise_levels, noise_level))


def _projections(w, b, s, y, k, generator):
    """Signal and noise projections of a batch: z_sig (M, B), z_noise (M, B, k-1), g (M, B, k-1)."""
    M, B = y.shape
    d = w.shape[1]
    norm = w.norm(dim=1)
    z_sig = y * (w @ signal_direction(d, w.dtype, w.device))[:, None]
    g = torch.randn(M, B, k - 1, generator=generator, dtype=w.dtype, device=w.device)
    z_noise = (s * norm)[:, None, None] * g
    return z_sig, z_noise, g


def _outputs(z_sig, z_noise, b):
    return soft_threshold_pair(z_sig, b[:, None]) + soft_threshold_pair(z_noise, b[:, None, None]).sum(-1)


def law_gradients(w, b, s, batch, k, generator):
    """One step's mean logistic-loss gradients ``(grad_w (M, d), grad_b (M,), loss (M,))`` for a
    fresh batch, sampled through the projections (module docstring). ``grad_b`` is not yet
    divided by ``k``."""
    M, d = w.shape
    y = 2.0 * torch.randint(2, (M, batch), generator=generator, device=w.device).to(w.dtype) - 1.0
    z_sig, z_noise, g = _projections(w, b, s, y, k, generator)
    f = _outputs(z_sig, z_noise, b)
    margin = y * f
    loss = torch.nn.functional.softplus(-margin).mean(1)
    delta = -y * torch.sigmoid(-margin) / batch  # dL/df, (M, B)
    dz_sig, db_sig = soft_threshold_pair_grads(z_sig, b[:, None])
    dz_noise, db_noise = soft_threshold_pair_grads(z_noise, b[:, None, None])
    grad_b = (delta * (db_sig + db_noise.sum(-1))).sum(1)
    w_star = signal_direction(d, w.dtype, w.device)
    norm = w.norm(dim=1, keepdim=True)
    u = w / norm
    along = (delta * (dz_noise * g).sum(-1)).sum(1)  # (M,)
    spread = ((delta**2) * (dz_noise**2).sum(-1)).sum(1).sqrt()  # (M,)
    h = torch.randn(M, d, generator=generator, dtype=w.dtype, device=w.device)
    h_perp = h - (h * u).sum(1, keepdim=True) * u
    grad_w = (
        (delta * dz_sig * y).sum(1)[:, None] * w_star
        + (s * along)[:, None] * u
        + (s * spread)[:, None] * h_perp
    )
    return grad_w, grad_b, loss


def law_margins(w, b, s, n, k, generator) -> torch.Tensor:
    """Margins ``y f(x)`` on ``n`` fresh inputs per model, shape (M, n)."""
    y = 2.0 * torch.randint(2, (w.shape[0], n), generator=generator, device=w.device).to(w.dtype) - 1.0
    z_sig, z_noise, _ = _projections(w, b, s, y, k, generator)
    return y * _outputs(z_sig, z_noise, b)


def accuracy_and_ties(margin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy with a tie f = 0 counted one half (a coin flip), and the share of ties, per row.

    The paper's official code scores ``mean(y f >= 0)``, which counts every tie as correct: its
    accuracy is ``accuracy + ties / 2``.
    """
    ties = (margin == 0).to(margin.dtype).mean(1)
    return (margin > 0).to(margin.dtype).mean(1) + 0.5 * ties, ties


def law_accuracy(w, b, s, n, k, generator) -> torch.Tensor:
    """Test accuracy on ``n`` fresh inputs per model (a tie f = 0 counts one half), shape (M,)."""
    return accuracy_and_ties(law_margins(w, b, s, n, k, generator))[0]


def train_patch_filters(
    noise_levels: list[float], seeds: int, k: int, d: int, steps: int, batch: int = 500,
    lr: float = 0.1, eval_every: int = 100, n_eval: int = 5000, seed: int = 0,
    device: torch.device | str = "cpu", progress: bool = True,
) -> PatchTraining:
    """Train ``len(noise_levels) * seeds`` one-filter models by online SGD, side by side.

    Args:
        noise_levels: the noise levels ``c`` (``s = c ln k / sqrt k``).
        seeds: independent runs per noise level. k, d: patches and patch dimension.
        steps, batch, lr: online SGD (a fresh batch every step); ``b``'s gradient is divided by ``k``.
        eval_every, n_eval: test accuracy on ``n_eval`` fresh inputs every ``eval_every`` steps.

    Returns:
        ``PatchTraining`` with the histories (evaluations at step 0, eval_every, ..., steps).
    """
    for name, v in [("seeds", seeds), ("k", k), ("d", d), ("steps", steps), ("batch", batch),
                    ("eval_every", eval_every), ("n_eval", n_eval)]:
        check_positive_int(name, v)
    device = torch.device(device)
    levels = np.repeat(np.asarray(noise_levels, dtype=float), seeds)
    seed_ids = np.tile(np.arange(seeds), len(noise_levels))
    M = len(levels)
    init = torch.Generator().manual_seed(seed)
    model = PatchFilter(d, M, generator=init).to(device)
    w, b = model.w.detach().clone(), model.b.detach().clone()
    s = torch.tensor([noise_std(k, c) for c in levels], dtype=w.dtype, device=device)
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    w_star = signal_direction(d, w.dtype, device)
    records: dict[str, list] = {key: [] for key in
                                ["step", "accuracy", "ties", "cosine", "norm", "bias", "noise_pass", "signal_pass"]}

    def record(step):
        def keep(t):
            return t.detach().cpu().numpy().copy()

        records["step"].append(step)
        accuracy, ties = accuracy_and_ties(law_margins(w, b, s, n_eval, k, generator))
        records["accuracy"].append(keep(accuracy))
        records["ties"].append(keep(ties))
        norm = w.norm(dim=1)
        records["cosine"].append(keep((w @ w_star) / norm))
        records["norm"].append(keep(norm))
        records["bias"].append(keep(b))
        records["noise_pass"].append(keep(noise_pass_fraction(w, b, s)))
        records["signal_pass"].append(keep(((w @ w_star) > -b).to(w.dtype)))

    start = time.perf_counter()
    record(0)
    for step in tqdm(range(1, steps + 1), desc=f"online SGD, {M} models", disable=not progress,
                     mininterval=2.0):
        grad_w, grad_b, _ = law_gradients(w, b, s, batch, k, generator)
        w -= lr * grad_w
        b -= lr * grad_b / k
        if step % eval_every == 0 or step == steps:
            record(step)
    seconds = time.perf_counter() - start
    out = {key: np.array(v) for key, v in records.items()}
    return PatchTraining(
        noise_levels=levels, seeds=seed_ids, steps=out["step"], samples_seen=out["step"] * batch,
        accuracy=out["accuracy"], cosine=out["cosine"], norm=out["norm"], bias=out["bias"],
        noise_pass=out["noise_pass"], signal_pass=out["signal_pass"], ties=out["ties"], seconds=seconds,
        extra={"samples_per_second": steps * batch * M / seconds},
    )


def linear_patch_sum_accuracy(k: int, noise_level: float) -> float:
    """Accuracy of the best linear classifier of the patch sum ``sum_i x_i = y w* + N(0, (k-1) s^2 I)``:
    by symmetry its direction is ``w*``, so the accuracy is ``Phi(1 / (s sqrt(k - 1)))``."""
    from scipy.stats import norm

    s = noise_std(k, noise_level)
    return float(norm.cdf(1.0 / (s * math.sqrt(k - 1)))) if s > 0 else 1.0


def patch_ntk(d: int, b_std: float = 0.1):
    """The infinite-width NTK of ``x -> sum_i sum_j a_j ReLU(<w_j, x_i> + b_j)`` (a bank of
    filters with bias, summed over patches, linear readout), with ``w_j ~ N(0, I_d)``,
    ``b_j ~ N(0, b_std^2)``: a 1x1 convolution over the ``k`` patches (inputs ``(n, d, k, 1)``),
    ReLU, global average pool, Dense."""
    from ..kernels import Conv, Dense, GlobalAvgPool, Relu, serial

    return serial(Conv(1, 1, 1, "VALID", math.sqrt(d), b_std), Relu(), GlobalAvgPool(), Dense(1, 1.0, None))
