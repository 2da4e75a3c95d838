"""Two-layer networks trained by one-pass SGD on the XOR mixture, many at once.

The network of Refinetti et al. (2021, eq. 2) is ``yhat(x) = sum_k v_k relu(w_k . x / sqrt(D))``
with ``K`` hidden units, trained on the squared loss ``(yhat - y)^2 / 2`` with one fresh sample
per step. As in the paper's official code, the first layer uses learning rate ``lr`` and weight
decay ``wd / D``, the second ``lr / D`` and ``wd``:

    w_k <- (1 - lr wd / D) w_k - lr / sqrt(D) * e v_k relu'(lambda_k) x,
    v_k <- (1 - lr wd / D) v_k - lr / D * e relu(lambda_k),

with ``lambda_k = w_k . x / sqrt(D)`` and ``e = yhat - y``. Time is ``t = steps / D``.

A batch of ``B`` independent networks (seeds, noise levels) shares every tensor operation, so
``B`` runs cost one Python loop: the weights are ``w`` of shape ``(B, K, D)`` and ``v`` of shape
``(B, K)``, and each step draws one sample per network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..data.xor_mixture import XOR, Mixture, check_streams, draw_streams
from ..validation import check_positive_float, check_positive_int


@dataclass
class Committee:
    """A batch of ``B`` two-layer networks: ``w`` of shape ``(B, K, D)``, ``v`` of shape ``(B, K)``."""

    w: torch.Tensor
    v: torch.Tensor

    @property
    def dim(self) -> int:
        return self.w.shape[-1]

    def clone(self) -> "Committee":
        return Committee(self.w.clone(), self.v.clone())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs for inputs ``x`` of shape ``(B, n, D)``; returns shape ``(B, n)``."""
        lam = torch.einsum("bkd,bnd->bnk", self.w, x) / math.sqrt(self.dim)
        return (torch.relu(lam) * self.v[:, None, :]).sum(-1)


def init_committee(
    batch: int,
    hidden: int,
    dim: int,
    init_std: float = 0.1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Committee:
    """``batch`` networks with ``hidden`` units in ``dim`` inputs; every weight ``N(0, init_std^2)``
    (the official code's ``--init``)."""
    check_positive_int("batch", batch)
    check_positive_int("hidden", hidden)
    check_positive_int("dim", dim)
    check_positive_float("init_std", init_std)
    w = init_std * torch.randn(batch, hidden, dim, generator=generator, dtype=dtype, device=device)
    v = init_std * torch.randn(batch, hidden, generator=generator, dtype=dtype, device=device)
    return Committee(w, v)


@dataclass(frozen=True)
class StepSchedule:
    """Learning rate ``lr`` until time ``switch_time`` (in units ``t = steps / D``), then
    ``lr_final``. A constant rate is ``StepSchedule(lr)``.

    With a constant rate, SGD's own noise keeps the weights off the plane of the means (the
    ``eta^2`` term of the ODE), which leaves an error floor that grows with ``eta``; a smaller
    rate once the network has found the means lowers it.
    """

    lr: float
    switch_time: float = math.inf
    lr_final: float | None = None

    def segments(self, t_start: float, t_end: float) -> list[tuple[float, float, float]]:
        """``(begin, end, lr)`` pieces covering ``[t_start, t_end]``."""
        if t_end <= t_start:
            return []
        if self.lr_final is None or t_end <= self.switch_time:
            return [(t_start, t_end, self.lr)]
        if t_start >= self.switch_time:
            return [(t_start, t_end, self.lr_final)]
        return [(t_start, self.switch_time, self.lr), (self.switch_time, t_end, self.lr_final)]


def train_online_sgd(
    net: Committee,
    delta: torch.Tensor,
    steps: int,
    lr: float,
    weight_decay: float,
    train_second_layer: bool = True,
    generator: torch.Generator | None = None,
    streams: torch.Tensor | None = None,
    chunk: int = 256,
    on_chunk: Callable[[int], None] | None = None,
    mixture: Mixture = XOR,
) -> Committee:
    """Run ``steps`` one-pass SGD steps on every network of ``net``, in place.

    Args:
        net: ``B`` networks (modified in place and returned).
        delta: noise variance of each network's mixture, shape ``(B,)``.
        steps: SGD steps, each on one fresh sample per network (``t = steps / D``).
        lr: the learning rate ``eta``; weight_decay: ``kappa`` (module docstring).
        train_second_layer: ``False`` freezes ``v`` (a random-features-like readout stays fixed).
        streams: shape ``(B,)``: networks on the same stream share their random samples up to
            the noise scale (``xor_mixture.sample_streams``). Each network still trains on
            fresh i.i.d. samples; drawing ``G`` instead of ``B`` noise vectors per step is most of
            the cost at ``D = 1000``. Default: every network its own stream.
        chunk: steps whose random numbers are drawn at once (memory ``chunk * G * D`` floats for
            ``G`` streams); the weights hold their true values after every chunk.
        on_chunk: called with the number of steps done after each chunk (progress bars).
        mixture: the cluster means and labels (``xor_mixture.Mixture``), the same for all ``B``.

    Cost: ``O(steps * B * K * D)`` time; one Python iteration per step whatever ``B``: the local
    fields (a broadcast product and a sum over ``D``) and the rank-one update touch ``w`` about
    three times a step, the weight decay none (it is folded into a scalar). About 0.3 ms a step for ``B = 30, K = 16, D = 1000`` on 2 CPU cores (0.75 ms with
    batched matrix-vector products, which MKL runs slowly on AMD processors).
    """
    check_positive_int("steps", steps)
    check_positive_float("lr", lr)
    check_positive_float("weight_decay", weight_decay, allow_zero=True)
    batch, _, dim = net.w.shape
    delta = delta.to(net.w)
    if delta.shape != (batch,):
        raise ValueError(f"delta must have shape ({batch},); got {tuple(delta.shape)}")
    decay = 1.0 - lr * weight_decay / dim
    if decay <= 0:
        raise ValueError(f"lr * weight_decay = {lr * weight_decay:g} is not allowed; it must be below dim = {dim} "
                         "(each step multiplies the weights by 1 - lr * weight_decay / dim)")
    w_step = -lr / math.sqrt(dim)
    v_step = -lr / dim
    streams = torch.arange(batch, device=net.w.device) if streams is None else streams.to(net.w.device)
    check_streams(dim, delta, streams)
    mixture.check_dim(dim)
    sd = delta.sqrt()[:, None]
    means = torch.tensor(mixture.means, dtype=net.w.dtype, device=net.w.device)
    labels = torch.tensor(mixture.labels, dtype=net.w.dtype, device=net.w.device)
    w, v = net.w, net.v
    done = 0
    while done < steps:
        size = min(chunk, steps - done)
        draws = draw_streams(size, dim, int(streams.max()) + 1, generator, net.w.dtype, net.w.device)
        cluster = draws.cluster[:, streams]  # (size, B)
        mean_of, label_of = means[cluster], labels[cluster]
        # The weight decay shrinks all of w every step; instead of a pass over w for it, keep
        # w = scale * stored and fold the shrinking into scale (stored again at the chunk's end).
        scale = 1.0
        for i in range(size):
            xi = draws.sample(i, sd, streams, mean_of[i])  # (B, D)
            lam = (w * xi[:, None, :]).sum(-1).mul_(scale / math.sqrt(dim))  # (B, K)
            act = torch.relu(lam)
            err = (act * v).sum(-1).sub_(label_of[i])
            coef = (lam > 0).to(lam.dtype).mul_(v).mul_(err[:, None])
            scale *= decay
            w.addcmul_(coef[:, :, None], xi[:, None, :], value=w_step / scale)
            if train_second_layer:
                v.mul_(decay).add_(act.mul_(err[:, None]), alpha=v_step)
        w.mul_(scale)
        done += size
        if on_chunk is not None:
            on_chunk(done)
    return net
