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

from ..data.xor_mixture import sample_streams
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
        chunk: samples drawn at once per network (memory ``chunk * B * D`` floats).
        on_chunk: called with the number of steps done after each chunk (progress bars).

    Cost: ``O(steps * B * K * D)`` time; one Python iteration per step whatever ``B``.
    """
    check_positive_int("steps", steps)
    check_positive_float("lr", lr)
    check_positive_float("weight_decay", weight_decay, allow_zero=True)
    batch, _, dim = net.w.shape
    delta = delta.to(net.w)
    if delta.shape != (batch,):
        raise ValueError(f"delta must have shape ({batch},); got {tuple(delta.shape)}")
    decay = 1.0 - lr * weight_decay / dim
    w_step = -lr / math.sqrt(dim)
    v_step = -lr / dim
    streams = torch.arange(batch, device=net.w.device) if streams is None else streams.to(net.w.device)
    done = 0
    while done < steps:
        size = min(chunk, steps - done)
        x, y = sample_streams(size, dim, delta, streams, generator)  # (size, B, D), (size, B)
        for i in range(size):
            xi = x[i]
            lam = torch.bmm(net.w, xi[:, :, None]).squeeze(-1).mul_(1.0 / math.sqrt(dim))
            act = torch.relu(lam)
            err = (act * net.v).sum(-1).sub_(y[i])
            coef = (lam > 0).to(lam.dtype).mul_(net.v).mul_(err[:, None])
            net.w.baddbmm_(coef[:, :, None], xi[:, None, :], beta=decay, alpha=w_step)
            if train_second_layer:
                net.v.mul_(decay).add_(act.mul_(err[:, None]), alpha=v_step)
        done += size
        if on_chunk is not None:
            on_chunk(done)
    return net
