"""Random features on a Gaussian mixture with infinitely many samples, by Gaussian equivalence.

Refinetti, Goldt, Krzakala and Zdeborova (ICML 2021, Sec. 4) compute the error of random
features trained on the whole population in closed form; we follow their official
``RF_analytical_error.py`` (repository ``mariaref/rfvs2lnn_GMM_online``, commit a701931).

Features ``z = relu(F^T x / sqrt(D))`` with ``F`` of shape ``(D, P)``, columns of norm
``sqrt(D)`` (``gaussian_mixture.random_feature_matrix``). A sample of cluster ``c`` is
``x = m_c + sigma xi`` (``sigma^2 = Delta``), so each pre-activation ``u_i = f_i . x / sqrt(D)``
is ``N(a_ci, sigma^2)`` with ``a_ci = f_i . m_c / sqrt(D)``. With ``rho = a_ci / sigma``, the
exact per-feature moments are

    E_c z_i   = sigma [rho Phi(rho) + phi(rho)],
    Var_c z_i = sigma^2 [(rho^2 + 1) Phi(rho) + rho phi(rho)] - (E_c z_i)^2,

and, to first order in the feature overlaps ``C = F^T F / D``,

    Cov_c(z_i, z_j) = sigma^2 Phi(rho_ci) Phi(rho_cj) C_ij        (i != j).

The Gaussian equivalence replaces ``z`` given ``c`` by a Gaussian with these moments. The
readout minimises the population squared loss plus ``ridge |beta|^2``:

    (Sigma_Z + M~ diag(p) M~^T + ridge I) beta = M~ (p * y),

with ``Sigma_Z = sum_c p_c Sigma_c``, ``M~`` the cluster means of ``z`` (columns), centred on
the mixture's mean when the readout has an intercept (the official code's choice) and not
centred without one (the online SGD of ``train_readout_online``, whose weight decay is this
``ridge``). Given ``c`` the output is Gaussian with mean ``M_c`` and variance
``Q_c = beta^T Sigma_c beta``, so the classification error is

    eps = sum_c p_c Phi(-y_c M_c / sqrt(Q_c)).

Only the mixture's plane matters: ``a_ci`` reads the first two rows of ``F``. ``Sigma_c`` is
applied without forming it (``F`` twice, a diagonal), and the system is solved by conjugate
gradients, so ``P`` can be tens of thousands on a CPU. This is a finite-``D`` evaluation: for
means of norm 1 (the XOR) at a fixed ``P / D`` the mean shifts ``a_ci ~ 1 / sqrt(D)`` shrink as
``D`` grows and the error rises towards 1/2 (the paper's limit). Along a mean of norm ``sqrt(D)``
(chapter 3's section 6) the shifts are ``O(1)``; the tests check that case against Monte Carlo too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..data.xor_mixture import CLUSTER_LABELS, CLUSTER_MEANS
from ..validation import check_positive_float

_SQRT_2PI = math.sqrt(2 * math.pi)


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2))


def relu_gaussian_moments(mean: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For ``u ~ N(mean, sigma^2)`` (any shape): ``E relu(u)``, ``Var relu(u)`` and
    ``E relu'(u) = Phi(mean / sigma)``, each of ``mean``'s shape (module docstring)."""
    rho = mean / sigma
    cdf, pdf = _normal_cdf(rho), torch.exp(-rho**2 / 2) / _SQRT_2PI
    first = sigma * (rho * cdf + pdf)
    second = sigma**2 * ((rho**2 + 1) * cdf + rho * pdf)
    return first, (second - first**2).clamp(min=0), cdf


@dataclass
class ClusterMoments:
    """Gaussian-equivalent moments of ``z`` per cluster: ``mean`` ``(P, C)``, ``slope``
    ``(P, C)`` (``Phi(rho)``), ``diag`` ``(P, C)`` (``Var_c z_i - sigma^2 Phi(rho_ci)^2``, the
    diagonal left over by the low-rank part); ``weights`` ``(C,)``, ``labels`` ``(C,)``."""

    mean: torch.Tensor
    slope: torch.Tensor
    diag: torch.Tensor
    weights: torch.Tensor
    labels: torch.Tensor
    sigma: float
    features: torch.Tensor  # F, (D, P)

    def covariance_times(self, v: torch.Tensor) -> torch.Tensor:
        """``Sigma_c v`` for every cluster: ``v`` ``(P, C)`` -> ``(P, C)`` (column ``c`` by ``Sigma_c``)."""
        f = self.features
        low_rank = self.slope * (f.T @ (f @ (self.slope * v))) / f.shape[0]
        return self.sigma**2 * low_rank + self.diag * v


def cluster_moments(features: torch.Tensor, delta: float, means=CLUSTER_MEANS, labels=CLUSTER_LABELS,
                    weights=None) -> ClusterMoments:
    """The moments of ``relu(F^T x / sqrt(D))`` given each cluster (module docstring).

    ``features``: ``F``, ``(D, P)``; ``means``: ``(C, 2)`` cluster means in the plane of the
    first two coordinates; ``labels``: ``(C,)``; ``weights``: cluster probabilities (default
    uniform).
    """
    check_positive_float("delta", delta)
    f = features.to(torch.float64)
    dim = f.shape[0]
    m = torch.as_tensor(means, dtype=f.dtype, device=f.device)
    y = torch.as_tensor(labels, dtype=f.dtype, device=f.device)
    p = (torch.full_like(y, 1 / len(y)) if weights is None
         else torch.as_tensor(weights, dtype=f.dtype, device=f.device))
    if m.ndim != 2 or m.shape[1] != 2 or m.shape[0] != y.shape[0] or p.shape != y.shape:
        raise ValueError(f"means must be (C, 2) with C labels and weights; got {tuple(m.shape)}, "
                         f"{tuple(y.shape)}, {tuple(p.shape)}")
    sigma = math.sqrt(delta)
    shift = f[:2].T @ m.T / math.sqrt(dim)  # a_ci, (P, C)
    scale = f.norm(dim=0)[:, None] / math.sqrt(dim)  # |f_i| / sqrt(D): 1 for columns of norm sqrt(D)
    if not torch.allclose(scale, torch.ones_like(scale), rtol=1e-4):
        raise ValueError("feature columns must have norm sqrt(D) (random_feature_matrix)")
    mean, var, slope = relu_gaussian_moments(shift, sigma)
    return ClusterMoments(mean, slope, var - sigma**2 * slope**2, p, y, sigma, f)


def conjugate_gradient(apply, rhs: torch.Tensor, tol: float = 1e-10, max_iter: int = 2000) -> torch.Tensor:
    """Solve ``apply(x) = rhs`` for a symmetric positive-definite ``apply``; ``rhs`` ``(P,)``.

    Stops when the residual's norm is at most ``tol`` times ``rhs``'s; raises if it does not
    within ``max_iter`` steps."""
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    d = r.clone()
    rr, target = r @ r, (tol * rhs.norm()) ** 2
    for _ in range(max_iter):
        if rr <= target:
            return x
        ad = apply(d)
        step = rr / (d @ ad)
        x += step * d
        r -= step * ad
        rr_new = r @ r
        d = r + (rr_new / rr) * d
        rr = rr_new
    raise RuntimeError(f"conjugate gradients did not reach {tol:g} in {max_iter} steps "
                       f"(residual {float(rr.sqrt() / rhs.norm()):.2e})")


def population_readout(moments: ClusterMoments, ridge: float = 0.0, intercept: bool = True,
                       tol: float = 1e-10) -> tuple[torch.Tensor, float]:
    """The readout ``beta`` ``(P,)`` of least population squared loss plus ``ridge |beta|^2`` on
    the Gaussian-equivalent features, and its intercept (0 without one); module docstring."""
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0; got {ridge}")
    p, y, means = moments.weights, moments.labels, moments.mean
    centre = means @ p if intercept else torch.zeros_like(means[:, 0])
    spread = means - centre[:, None]  # M~, (P, C)

    def apply(v: torch.Tensor) -> torch.Tensor:
        sigma_v = moments.covariance_times(v[:, None].expand(-1, len(p)).contiguous()) @ p
        return sigma_v + spread @ (p * (spread.T @ v)) + ridge * v

    beta = conjugate_gradient(apply, spread @ (p * y), tol=tol)
    offset = float(p @ y - beta @ centre) if intercept else 0.0
    return beta, offset


def classification_error(moments: ClusterMoments, beta: torch.Tensor, offset: float = 0.0) -> float:
    """``sum_c p_c Phi(-y_c M_c / sqrt(Q_c))`` for the readout ``beta`` (module docstring)."""
    out_mean = offset + beta @ moments.mean  # (C,)
    out_var = (beta[:, None] * moments.covariance_times(beta[:, None].expand(-1, len(moments.weights)).contiguous())).sum(0)
    return float(moments.weights @ _normal_cdf(-moments.labels * out_mean / out_var.sqrt()))


def equivalent_error(features: torch.Tensor, delta: float, ridge: float = 0.0, intercept: bool = True,
                     means=CLUSTER_MEANS, labels=CLUSTER_LABELS) -> float:
    """Classification error of random features ``F`` (``(D, P)``) trained on the whole
    population of the mixture (noise variance ``delta``), by Gaussian equivalence."""
    moments = cluster_moments(features, delta, means, labels)
    beta, offset = population_readout(moments, ridge, intercept)
    return classification_error(moments, beta, offset)


def readout_error(features: torch.Tensor, delta: float, beta: torch.Tensor, offset: float = 0.0,
                  means=CLUSTER_MEANS, labels=CLUSTER_LABELS) -> float:
    """Classification error of a given readout ``yhat = beta . z + offset`` (``beta`` ``(P,)``) on
    the mixture, by Gaussian equivalence: how the closed form scores a trained readout, to set
    beside that readout's test error."""
    moments = cluster_moments(features, delta, means, labels)
    return classification_error(moments, beta.to(moments.mean), offset)
