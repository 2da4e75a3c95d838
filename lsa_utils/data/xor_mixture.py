"""The XOR Gaussian mixtures of Refinetti, Goldt, Krzakala and Zdeborova (ICML 2021, Sec. 2).

Inputs live in ``D`` dimensions. Four equally likely clusters have means in the plane of the
first two coordinates; a sample is ``x = mu + sqrt(delta) z`` with ``z ~ N(0, I_D)``. The
chapter's mixture (``XOR``, the paper's and the official code's ``--regime 1``) has means
``+e1, -e1`` (label ``y = +1``) and ``+e2, -e2`` (label ``y = -1``), of unit norm, so the
signal-to-noise ratio is ``snr = |mu| / sqrt(delta) = 1 / sqrt(delta)``. No linear function of
``x`` carries the label (the means of each label cancel), which is what defeats a kernel fitted
on ``O(D)`` samples. The official code has two more (``Mixture``): ``--regime 2``, the same
means times ``sqrt(D)`` (``high_snr_mixture``), and ``--regime 3``, label ``-1`` at
``+-(sqrt(D), 1)`` and ``+1`` at ``+-(sqrt(D), -1)`` (``mixed_snr_mixture``). In all three
the noise ``delta`` is the same in every direction; we keep calling ``sqrt(delta)`` "1/SNR",
the SNR of the unit-norm mixture.

Every mixture here puts label ``+1`` at ``+-m`` and ``-1`` at ``+-m'`` with ``|m| = |m'|``.
The Bayes classifier then says ``+1`` when ``|m . nu| > |m' . nu|`` (``nu = (x_1, x_2)``; the
two likelihoods are ``cosh(m . nu / delta)`` and ``cosh(m' . nu / delta)`` up to the same
factor), that is when ``u = (m - m') . nu`` and ``w = (m + m') . nu`` have the same sign. For a
point of any cluster ``u`` and ``w`` are independent Gaussians (``(m - m') . (m + m') = 0``), so
its error is

    eps* = p_u (1 - p_w) + p_w (1 - p_u),  p_u = Phi(-|m - m'| / (2 sqrt(delta))),
                                            p_w = Phi(-|m + m'| / (2 sqrt(delta))).

For ``XOR`` this is ``2 p (1 - p)``, ``p = Phi(-snr / sqrt(2))``; for the mixed mixture it is
``Phi(-1 / sqrt(delta))`` up to ``Phi(-sqrt(D / delta))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..validation import check_positive_float, check_positive_int

# cluster means in the (x_1, x_2) plane and their labels: +-e1 -> +1, +-e2 -> -1
CLUSTER_MEANS = ((1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0))
CLUSTER_LABELS = (1.0, 1.0, -1.0, -1.0)


def _phi_minus(x: torch.Tensor) -> torch.Tensor:
    """``Phi(-x)``, the standard normal's upper tail."""
    return 0.5 * torch.erfc(x / math.sqrt(2.0))


@dataclass(frozen=True)
class Mixture:
    """Four equally likely clusters in the (x_1, x_2) plane: label ``+1`` at ``plus`` and
    ``-plus``, label ``-1`` at ``minus`` and ``-minus`` (2-vectors of equal norm, not parallel).

    ``means`` and ``labels`` list the clusters in the order ``plus, -plus, minus, -minus``
    (shapes ``(4, 2)`` and ``(4,)`` as tuples); samplers, networks and the ODE index them by
    cluster. ``name`` labels figures. ``dim``: the input dimension ``D`` the means were scaled
    for (``high_snr_mixture``, ``mixed_snr_mixture``), or ``None`` for means that do not depend
    on ``D``; the samplers and the networks refuse any other ``D`` (``check_dim``).
    """

    name: str
    plus: tuple[float, float]
    minus: tuple[float, float]
    dim: int | None = None

    def __post_init__(self):
        a, b = (torch.tensor(v, dtype=torch.float64) for v in (self.plus, self.minus))
        if a.shape != (2,) or b.shape != (2,) or not bool(torch.isfinite(torch.cat([a, b])).all()):
            raise ValueError(f"plus and minus must be finite 2-vectors; got {self.plus} and {self.minus}")
        if not math.isclose(float(a.norm()), float(b.norm()), rel_tol=1e-9) or float(a.norm()) == 0:
            raise ValueError(f"plus and minus must have the same nonzero norm (the closed-form oracle needs it); "
                             f"got {float(a.norm()):g} and {float(b.norm()):g}")
        if abs(float(a[0] * b[1] - a[1] * b[0])) <= 1e-12 * float(a.norm() * b.norm()):
            raise ValueError("plus and minus must not be parallel (the labels would share a cluster)")

    def check_dim(self, dim: int) -> None:
        """Raise unless this mixture's means are meant for inputs of dimension ``dim``."""
        if self.dim is not None and self.dim != dim:
            raise ValueError(f"the mixture {self.name!r} was built for D = {self.dim}, not D = {dim}")

    @property
    def means(self) -> tuple[tuple[float, float], ...]:
        (a1, a2), (b1, b2) = self.plus, self.minus
        return ((a1, a2), (-a1, -a2), (b1, b2), (-b1, -b2))

    @property
    def labels(self) -> tuple[float, ...]:
        return (1.0, 1.0, -1.0, -1.0)

    @property
    def mean_norm(self) -> float:
        return math.hypot(*self.plus)

    def bayes_error(self, delta: float | torch.Tensor) -> torch.Tensor:
        """Bayes error at noise variance ``delta`` (a float or a tensor of any shape; float64,
        that shape): the closed form of the module docstring. (The module's ``oracle_error`` is
        ``XOR``'s, as a function of the SNR ``1 / sqrt(delta)``.)"""
        delta = torch.as_tensor(delta, dtype=torch.float64)
        if (delta < 0).any():
            raise ValueError(f"delta must be >= 0; got {delta.min().item()}")
        a, b = (torch.tensor(v, dtype=torch.float64) for v in (self.plus, self.minus))
        sd = 2 * delta.sqrt()
        p_u, p_w = _phi_minus(float((a - b).norm()) / sd), _phi_minus(float((a + b).norm()) / sd)
        return p_u * (1 - p_w) + p_w * (1 - p_u)

    def bayes_labels(self, nu: torch.Tensor) -> torch.Tensor:
        """The Bayes classifier's labels (+-1) for points ``nu`` of the plane, shape ``(..., 2)``."""
        a, b = (torch.tensor(v, dtype=nu.dtype, device=nu.device) for v in (self.plus, self.minus))
        same = ((nu @ (a - b)) * (nu @ (a + b))) > 0
        return torch.where(same, 1.0, -1.0).to(nu.dtype)


XOR = Mixture("XOR (|μ| = 1)", CLUSTER_MEANS[0], CLUSTER_MEANS[2])
assert XOR.means == CLUSTER_MEANS and XOR.labels == CLUSTER_LABELS


def high_snr_mixture(dim: int) -> Mixture:
    """The official code's ``--regime 2`` (with ``--NG 2``, four clusters): ``XOR``'s means times
    ``sqrt(D)`` (``|mu| = sqrt(D)``)."""
    check_positive_int("dim", dim)
    r = math.sqrt(dim)
    return Mixture("high SNR (|μ| = √D)", (r, 0.0), (0.0, r), dim)


def mixed_snr_mixture(dim: int) -> Mixture:
    """The official code's ``--regime 3`` (with ``--NG 2``): label ``+1`` at ``+-(sqrt(D), -1)``,
    ``-1`` at ``+-(sqrt(D), 1)``. The ``x_1`` coordinate is at high SNR but carries no label on its own;
    the label is ``-sign(x_1 x_2)``, and ``x_2`` is at the SNR of ``XOR``."""
    check_positive_int("dim", dim)
    r = math.sqrt(dim)
    return Mixture("mixed SNR (±√D, ±1)", (r, -1.0), (r, 1.0), dim)


def oracle_error(snr: float | torch.Tensor) -> torch.Tensor:
    """Bayes classification error of ``XOR``, ``2 p (1 - p)``, ``p = Phi(-snr / sqrt(2))``
    (module docstring), as a function of its SNR.

    Accepts a float or a tensor of SNRs (any shape) and returns a float64 tensor of that shape.
    """
    snr = torch.as_tensor(snr, dtype=torch.float64)
    if (snr < 0).any():
        raise ValueError(f"snr must be >= 0; got {snr.min().item()}")
    p = 0.5 * torch.erfc(snr / 2.0)  # Phi(-s / sqrt 2) = erfc(s / 2) / 2
    return 2 * p * (1 - p)


def delta_from_inverse_snr(inverse_snr: float) -> float:
    """Noise variance ``delta = (1 / snr)^2`` for unit-norm means."""
    check_positive_float("inverse_snr", inverse_snr)
    return float(inverse_snr) ** 2


def sample_xor_mixture(
    n: int,
    dim: int,
    delta: float | torch.Tensor,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    mixture: Mixture = XOR,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` samples of ``mixture``, for one noise variance or a batch of them.

    Args:
        n: samples per mixture.
        dim: input dimension ``D`` (at least 2).
        delta: noise variance; a float, or a tensor of shape ``(B,)`` for ``B`` mixtures at once.
        generator: torch random generator (on ``device``).

    Returns:
        ``(x, y)``: ``x`` of shape ``(n, D)`` (or ``(B, n, D)``), labels ``y`` in {+1, -1} of
        shape ``(n,)`` (or ``(B, n)``).
    """
    delta_t = torch.as_tensor(delta, dtype=dtype, device=device)
    if delta_t.ndim > 1:
        raise ValueError(f"delta must be a float or a 1-d tensor; got shape {tuple(delta_t.shape)}")
    batch = delta_t.reshape(-1)
    x, y = sample_streams(n, dim, batch, torch.arange(batch.shape[0], device=device), generator, mixture)
    x, y = x.transpose(0, 1), y.T  # (B, n, D), (B, n)
    return (x, y) if delta_t.ndim == 1 else (x[0], y[0])


@dataclass
class StreamDraws:
    """The random numbers of ``steps`` samples on ``G`` streams: standard-normal ``z`` of shape
    ``(steps, G, D)`` and cluster indices ``cluster`` of shape ``(steps, G)`` (into a
    ``Mixture``'s ``means``). ``sample(i, sd, streams, means)`` turns step ``i`` into inputs for ``B``
    mixtures; drawing once per stream and scaling per mixture is what makes runs that share a
    stream cheap."""

    z: torch.Tensor
    cluster: torch.Tensor

    def sample(self, i: int, sd: torch.Tensor, streams: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        """Inputs ``x`` of shape ``(B, D)`` at step ``i``: ``z[i, streams] * sd + mean`` with
        ``sd`` the noise standard deviations, shape ``(B, 1)``, and ``means`` the cluster mean of
        each mixture at this step, shape ``(B, 2)`` (added to the first two coordinates)."""
        x = self.z[i].index_select(0, streams).mul_(sd)
        x[:, :2] += means
        return x


def draw_streams(steps: int, dim: int, n_streams: int, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> StreamDraws:
    """The random numbers of ``steps`` samples on ``n_streams`` streams (``StreamDraws``)."""
    z = torch.randn(steps, n_streams, dim, generator=generator, dtype=dtype, device=device)
    cluster = torch.randint(0, 4, (steps, n_streams), generator=generator, device=device)
    return StreamDraws(z, cluster)


def check_streams(dim: int, delta: torch.Tensor, streams: torch.Tensor) -> None:
    check_positive_int("dim", dim)
    if dim < 2:
        raise ValueError(f"dim must be >= 2 (the means lie in the plane of e1 and e2); got {dim}")
    if delta.ndim != 1 or streams.shape != delta.shape:
        raise ValueError(f"delta and streams must both have shape (B,); got {tuple(delta.shape)} "
                         f"and {tuple(streams.shape)}")
    if (delta < 0).any():
        raise ValueError("delta must be >= 0")


def sample_streams(
    steps: int,
    dim: int,
    delta: torch.Tensor,
    streams: torch.Tensor,
    generator: torch.Generator | None = None,
    mixture: Mixture = XOR,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample per mixture and step, for ``B`` mixtures that may share randomness.

    All ``B`` share the cluster means of ``mixture`` and differ in their noise.
    Mixture ``b`` has noise variance ``delta[b]`` and random stream ``streams[b]`` (integers in
    ``[0, G)``): mixtures on the same stream get the same cluster and the same standard-normal
    ``z`` at each step, each scaled by its own ``sqrt(delta)`` (common random numbers). Every
    mixture on its own is an i.i.d. sequence of samples. Dtype and device are ``delta``'s.
    The same ``generator`` state gives the same samples as ``draw_streams`` + ``StreamDraws.sample``.

    Returns:
        ``x`` of shape ``(steps, B, D)`` and labels ``y`` of shape ``(steps, B)``.
    """
    check_positive_int("steps", steps)
    check_streams(dim, delta, streams)
    mixture.check_dim(dim)
    dtype, device = delta.dtype, delta.device
    draws = draw_streams(steps, dim, int(streams.max()) + 1, generator, dtype, device)
    cluster = draws.cluster[:, streams]
    x = draws.z[:, streams] * delta.sqrt()[:, None]
    x[..., :2] += torch.tensor(mixture.means, dtype=dtype, device=device)[cluster]
    return x, torch.tensor(mixture.labels, dtype=dtype, device=device)[cluster]
