"""Order parameters of two-layer networks on the XOR mixture and their closed ODEs.

Refinetti et al. (2021, Sec. 3) describe one-pass SGD at large ``D`` by the overlaps

    Q_kl = w_k . w_l / D,    R_kj = w_k . e_j / sqrt(D)  (j = 1, 2),    v_k,

shapes ``(B, K, K)``, ``(B, K, 2)``, ``(B, K)`` for a batch of ``B`` networks. For a sample of
cluster ``alpha`` (mean ``m_alpha`` in the (x_1, x_2) plane), ``nu = (x_1, x_2)`` and the local
fields ``lambda_k = w_k . x / sqrt(D)`` are jointly Gaussian, and exactly so at any ``D``:

    nu = m_alpha + sqrt(delta) zeta,    lambda = R nu + sqrt(delta) L xi,    L L^T = Q - R R^T,

with ``zeta ~ N(0, I_2)``, ``xi ~ N(0, I_K)`` independent (``L xi`` is the part of ``x`` outside
the plane). So the population error of a network is a ``K + 2``-dimensional Gaussian integral of
its order parameters. We compute every such integral on one fixed quasi-random (scrambled Sobol)
sample of ``(zeta, xi)``, shared by the simulation's error and the ODE, and report the error of
that choice by changing the sample's seed.

With ``e = yhat - y`` and ``E`` the average over the four clusters, the paper's ODEs (its eq. 9,
in the official code's scaling; ``eta`` the learning rate, ``kappa`` the weight decay) are

    dv_k/dt  = -eta E[e relu(lambda_k)] - eta kappa v_k,
    dR_kj/dt = -eta v_k E[e relu'(lambda_k) nu_j] - eta kappa R_kj,
    dQ_kl/dt = -eta E[e (v_k relu'(lambda_k) lambda_l + v_l relu'(lambda_l) lambda_k)]
               + eta^2 delta v_k v_l E[e^2 relu'(lambda_k) relu'(lambda_l)] - 2 eta kappa Q_kl,

where the ``eta^2`` term is the SGD noise (``|x|^2 / D -> delta``).

The cluster means are a parameter (``mixture``, default the chapter's ``XOR``). The population
error of given order parameters is exact for any means. The ODEs need means of norm ``O(1)``,
as in ``XOR``: with a mean of norm ``sqrt(D)`` (the official code's regimes 2 and 3) one
sample moves a unit's field along that mean by ``O(eta)`` (``|x|^2 / D`` then also tends to
``delta + 1``, not ``delta``), so the fields do not average over many samples and no ODE in
``t = steps / D`` describes SGD along that direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..data.xor_mixture import XOR, Mixture
from ..models.committee import Committee, StepSchedule
from ..validation import check_positive_float, check_positive_int


@dataclass
class OrderParameters:
    """``q`` ``(B, K, K)``, ``r`` ``(B, K, 2)``, ``v`` ``(B, K)``: see the module docstring."""

    q: torch.Tensor
    r: torch.Tensor
    v: torch.Tensor

    def combine(self, other: "OrderParameters", scale: float) -> "OrderParameters":
        """``self + scale * other``, field by field (for the Runge-Kutta steps)."""
        return OrderParameters(self.q + scale * other.q, self.r + scale * other.r, self.v + scale * other.v)


def order_parameters(net: Committee) -> OrderParameters:
    """The overlaps of a batch of networks, in float64."""
    w = net.w.to(torch.float64)
    dim = w.shape[-1]
    return OrderParameters(w @ w.transpose(-1, -2) / dim, w[..., :2] / math.sqrt(dim),
                            net.v.to(torch.float64, copy=True))  # a copy: training changes v in place


def largest_overlap(r: torch.Tensor) -> torch.Tensor:
    """``max_k |R_k|``, the largest overlap of a unit with the plane of the means, from overlaps ``r``
    of shape ``(..., K, 2)``; shape ``(...)``. Padding units (``R_k = 0``) do not change it."""
    return r.norm(dim=-1).max(-1).values


def gaussian_base(samples: int, hidden: int, seed: int = 0) -> torch.Tensor:
    """A fixed scrambled-Sobol sample of ``N(0, I_{K+2})``, shape ``(samples, K + 2)``, float64.

    Columns ``0, 1`` are ``zeta``, the rest ``xi`` (module docstring).
    """
    check_positive_int("samples", samples)
    check_positive_int("hidden", hidden)
    engine = torch.quasirandom.SobolEngine(hidden + 2, scramble=True, seed=seed)
    u = engine.draw(samples, dtype=torch.float64)
    eps = 0.5 / samples  # keep ndtri finite at the cube's faces
    return torch.special.ndtri(u.clamp(eps, 1 - eps))


@dataclass
class LocalFields:
    """Samples of the fields for every cluster: ``nu`` ``(B, 4, N, 2)``, ``lam`` ``(B, 4, N, K)``,
    labels ``y`` ``(4, 1)``."""

    nu: torch.Tensor
    lam: torch.Tensor
    y: torch.Tensor


def local_fields(op: OrderParameters, delta: torch.Tensor, base: torch.Tensor, mixture: Mixture = XOR) -> LocalFields:
    """Draw ``(nu, lambda)`` for each cluster of ``mixture`` from the fixed ``base`` sample
    (module docstring); ``base`` has at least ``K + 2`` columns and only the first ``K + 2`` are used."""
    hidden = op.q.shape[-1]
    if base.shape[-1] < hidden + 2:
        raise ValueError(f"base must have at least {hidden + 2} columns for K={hidden}; got {base.shape[-1]}")
    base = base[:, :hidden + 2].to(op.q)  # a wider base serves narrower networks
    means = torch.tensor(mixture.means, dtype=op.q.dtype, device=op.q.device)  # (4, 2)
    sd = delta.to(op.q).sqrt()[:, None, None, None]  # (B, 1, 1, 1)
    nu = means[None, :, None, :] + sd * base[None, None, :, :2]
    # L with L L^T = Q - R R^T: the symmetric square root, negative round-off clipped
    evals, evecs = torch.linalg.eigh(op.q - op.r @ op.r.transpose(-1, -2))
    sqrt_perp = evecs * evals.clamp(min=0).sqrt()[..., None, :] @ evecs.transpose(-1, -2)
    perp = base[:, 2:] @ sqrt_perp.transpose(-1, -2)[:, None]  # (B, 1, N, K)
    lam = nu @ op.r.transpose(-1, -2)[:, None] + sd * perp
    y = torch.tensor(mixture.labels, dtype=op.q.dtype, device=op.q.device)[:, None]
    return LocalFields(nu, lam, y)


def population_errors(op: OrderParameters, delta: torch.Tensor, base: torch.Tensor,
                      mixture: Mixture = XOR) -> dict[str, torch.Tensor]:
    """Classification error ``P(y yhat <= 0)`` and half mean squared error on ``mixture``, each
    shape ``(B,)``."""
    f = local_fields(op, delta, base, mixture)
    yhat = torch.relu(f.lam) @ op.v[:, None, :, None]  # (B, 4, N, 1)
    yhat = yhat.squeeze(-1)
    return {
        "error": (~(f.y * yhat > 0)).to(yhat.dtype).mean((1, 2)),  # a tie or a NaN counts as wrong
        "mse": 0.5 * ((yhat - f.y) ** 2).mean((1, 2)),
    }


def ode_derivative(
    op: OrderParameters, delta: torch.Tensor, base: torch.Tensor, lr: float, weight_decay: float,
    train_second_layer: bool = True, mixture: Mixture = XOR,
) -> OrderParameters:
    """``(dQ/dt, dR/dt, dv/dt)`` of the module docstring, expectations on ``base``. Refuses a
    mixture whose means scale with ``D`` (``mixture.dim`` set): the ODEs do not hold for it."""
    if mixture.dim is not None:
        raise ValueError(f"the ODEs need means of norm O(1); {mixture.name!r} has means of norm "
                         f"{mixture.mean_norm:.3g} that scale with D (module docstring)")
    f = local_fields(op, delta, base, mixture)
    act = torch.relu(f.lam)
    err = (act @ op.v[:, None, :, None]).squeeze(-1) - f.y  # (B, 4, N)
    batch, n = err.shape[0], err.shape[1] * err.shape[2]
    # e v_k relu'(lambda_k), flattened over clusters and samples: (B, 4N, K)
    weighted = (err[..., None] * (f.lam > 0) * op.v[:, None, None, :]).reshape(batch, n, -1)
    weighted_t = weighted.transpose(1, 2)
    if train_second_layer:
        dv = -lr * (err[..., None] * act).mean((1, 2)) - lr * weight_decay * op.v
    else:
        dv = torch.zeros_like(op.v)
    dr = -lr * weighted_t @ f.nu.reshape(batch, n, 2) / n - lr * weight_decay * op.r
    a = weighted_t @ f.lam.reshape(batch, n, -1) / n  # E[e v_k relu'_k lambda_l]
    noise = weighted_t @ weighted / n  # E[e^2 v_k v_l relu'_k relu'_l]
    dq = -lr * (a + a.transpose(1, 2)) + lr**2 * delta.to(op.q)[:, None, None] * noise - 2 * lr * weight_decay * op.q
    return OrderParameters(dq, dr, dv)


def integrate_ode(
    start: OrderParameters,
    delta: torch.Tensor,
    base: torch.Tensor,
    schedule: StepSchedule,
    weight_decay: float,
    times: list[float],
    dt: float = 0.5,
    train_second_layer: bool = True,
    on_step: Callable[[float], None] | None = None,
    stiffness_step: float | None = None,
    mixture: Mixture = XOR,
) -> tuple[list[OrderParameters], dict[str, torch.Tensor]]:
    """Integrate the ODEs from ``start`` with classical Runge-Kutta (order 4), step ``dt``.

    The learning rate follows ``schedule``. Returns the order parameters at each of ``times``
    (increasing, >= 0) and the population errors there, ``{"error": (len(times), B), "mse": ...}``.

    With ``stiffness_step``, the step adapts instead: ``stiffness_step / (lr * stiffness)`` (the
    largest over the batch, re-estimated at every step), at most ``dt``. On the
    initial plateau, where the weights are small, the ODEs are slow and the steps grow to
    ``dt``; ``relax_to_stationarity`` uses the same rule. For long runs (the plateau's escape at
    high noise lasts thousands of units of ``t``).
    """
    check_positive_float("dt", dt)
    if stiffness_step is not None:
        check_positive_float("stiffness_step", stiffness_step)
    if sorted(times) != list(times) or times[0] < 0:
        raise ValueError("times must be increasing and >= 0")

    op, t, saved, h_max = start, 0.0, [], dt
    for target in times:
        for begin, end, lr in schedule.segments(t, target):
            t = begin
            while t < end - 1e-12:
                if stiffness_step is not None:
                    rate = float(stiffness(op, delta, base, mixture).nan_to_num(nan=1.0).max().clamp(min=1e-12))
                    h_max = min(dt, stiffness_step / (lr * rate))
                h = min(h_max, end - t)
                op = _runge_kutta_step(op, h, lambda o, lr=lr: ode_derivative(
                    o, delta, base, lr, weight_decay, train_second_layer, mixture))
                t += h
                if on_step is not None:
                    on_step(t)
        t = max(t, target)
        saved.append(op)
    errors = [population_errors(o, delta, base, mixture) for o in saved]
    return saved, {key: torch.stack([e[key] for e in errors]) for key in ("error", "mse")}


def _runge_kutta_step(op: OrderParameters, h: float, rhs) -> OrderParameters:
    k1 = rhs(op)
    k2 = rhs(op.combine(k1, h / 2))
    k3 = rhs(op.combine(k2, h / 2))
    k4 = rhs(op.combine(k3, h))
    return op.combine(k1, h / 6).combine(k2, h / 3).combine(k3, h / 3).combine(k4, h / 6)


def informed_start(batch: int, hidden: int, cosine: float = 0.9, norm: float = 1.0,
                   off_plane: float = 0.01) -> OrderParameters:
    """Order parameters of ``batch`` copies of a network whose units already point at the clusters.

    The official ``iid_SE.py`` starts its fixed-point iteration this way for ``K = 4``: unit ``k``
    lies in the plane of the means at cosine ``cosine`` from the mean of cluster ``k mod 4``, with
    norm ``norm`` (``R_k = norm (cos phi_k, sin phi_k)``), its second-layer weight has that
    cluster's label times ``norm * cosine``, and every unit gets a small independent component
    ``Q_kk += off_plane`` off the plane. For ``K > 4`` the units go round the clusters again,
    tilted the other way on every second round and by half the angle from the third round on,
    so that no two units coincide. Shapes as ``OrderParameters``, float64.
    """
    check_positive_int("batch", batch)
    check_positive_int("hidden", hidden)
    if not 0 < cosine <= 1:
        raise ValueError(f"cosine must lie in (0, 1]; got {cosine}")
    tilt = math.acos(cosine)
    angles, v = [], []
    for k in range(hidden):
        cluster, turn = k % 4, k // 4
        mx, my = XOR.means[cluster]
        angles.append(math.atan2(my, mx) + (1 if turn % 2 == 0 else -1) * tilt / (1 + turn // 2))
        v.append(XOR.labels[cluster] * norm * cosine)
    phi = torch.tensor(angles, dtype=torch.float64)
    r = norm * torch.stack([phi.cos(), phi.sin()], -1)  # (K, 2)
    q = r @ r.T + off_plane * torch.eye(hidden, dtype=torch.float64)
    return OrderParameters(q.expand(batch, -1, -1).clone(), r.expand(batch, -1, -1).clone(),
                           torch.tensor(v, dtype=torch.float64).expand(batch, -1).clone())


@dataclass
class Stationary:
    """Where ``relax_to_stationarity`` stopped: ``state``; ``error`` and ``mse`` ``(B,)``;
    ``converged`` ``(B,)`` bool; ``time``: the ODE time ``t`` it ran for."""

    state: OrderParameters
    error: torch.Tensor
    mse: torch.Tensor
    converged: torch.Tensor
    time: float


def stiffness(op: OrderParameters, delta: torch.Tensor, base: torch.Tensor, mixture: Mixture = XOR) -> torch.Tensor:
    """A bound on the ODEs' fastest rate per unit of ``lr * t``, shape ``(B,)``: the largest
    eigenvalue of ``E[g g^T]`` (``g = relu(lambda)``, the second layer's curvature) plus that of
    ``(v v^T) o E[relu' relu'^T]`` times ``1 + delta (1 + max_k Q_kk)`` (the first layer's, whose
    inputs have second moment up to that). Explicit Runge-Kutta 4 is stable for steps below
    about 2.8 over it; ``relax_to_stationarity`` steps at ``step`` over it."""
    f = local_fields(op, delta, base, mixture)
    act, slope = torch.relu(f.lam), (f.lam > 0).to(f.lam.dtype)
    n = act.shape[1] * act.shape[2]
    flat = lambda x: x.reshape(x.shape[0], n, -1)  # noqa: E731
    second = flat(act).transpose(1, 2) @ flat(act) / n
    first = (flat(slope).transpose(1, 2) @ flat(slope) / n) * (op.v[:, :, None] * op.v[:, None, :])
    moment = 1 + delta.to(op.q) * (1 + torch.diagonal(op.q, dim1=-2, dim2=-1).max(-1).values)
    return torch.linalg.eigvalsh(second)[:, -1] + moment * torch.linalg.eigvalsh(first)[:, -1]


def relax_to_stationarity(
    start: OrderParameters, delta: torch.Tensor, base: torch.Tensor, lr: float, weight_decay: float,
    step: float = 1.0, window: float = 10.0, tol: float = 1e-3, max_time: float = 100.0,
) -> Stationary:
    """Integrate the ODEs at the constant learning rate ``lr`` until the half mean squared error
    stops changing: the state that SGD at that rate settles in after its transient.

    This is what the official ``iid_SE.py`` computes by damped fixed-point iteration (it stops
    when the half-MSE changes by less than ``eps``). The drift is proportional to ``lr`` but for
    the ``lr^2`` noise term, so we measure time in ``s = lr * t``; each window re-estimates the
    fastest rate (``stiffness``, largest over the batch) and takes Runge-Kutta steps of
    ``step / stiffness`` in ``s`` (at least 1), so the integration stays stable at high noise
    and large ``K``. It stops once, for every run, the half-MSE moved by at most ``tol`` over
    the last ``window`` units of ``s``; runs that have not by ``s = max_time``, or whose state
    is not finite, are reported as not converged. ``delta`` ``(B,)``; ``base`` from
    ``gaussian_base``.

    Set on K = 4 and 16, lr = 0.05, weight decay 0.01 at 1/SNR = 0.5, 1 and 2: steps of 1, 0.5
    and 0.25 (over the stiffness) gave errors within 3e-4 of each other, and the errors settle by
    ``s`` of 20 to 70, where this stops (the half-MSE then changes by less than 1e-3 per 10). It is the end of the transient, not a fixed point to
    machine precision: a slow mode (at the weight decay's rate) kept lowering the half-MSE at
    1/SNR = 0.5, by 0.004 from ``s = 50`` to 200, while the classification error moved by 0.001.
    """
    for name, value in [("lr", lr), ("step", step), ("window", window), ("max_time", max_time)]:
        check_positive_float(name, value)
    op, elapsed = start, 0.0
    rhs = lambda o: ode_derivative(o, delta, base, lr, weight_decay)  # noqa: E731
    last = population_errors(op, delta, base)["mse"]
    while True:
        rate = float(stiffness(op, delta, base).nan_to_num(nan=1.0).max().clamp(min=1.0))
        ds = step / rate
        for _ in range(max(1, math.ceil(window / ds))):
            op = _runge_kutta_step(op, ds / lr, rhs)
        elapsed += max(1, math.ceil(window / ds)) * ds
        now = population_errors(op, delta, base)
        converged = ((now["mse"] - last).abs() <= tol) & now["mse"].isfinite()
        last = now["mse"]
        if bool(converged.all()) or elapsed >= max_time or not bool(now["mse"].isfinite().any()):
            return Stationary(op, now["error"], now["mse"], converged, elapsed / lr)
