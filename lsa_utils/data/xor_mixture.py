"""The XOR Gaussian mixture of Refinetti, Goldt, Krzakala and Zdeborova (ICML 2021, Sec. 2).

Inputs live in ``D`` dimensions. Four equally likely clusters have means ``+e1, -e1`` (label
``y = +1``) and ``+e2, -e2`` (label ``y = -1``); a sample is ``x = mu + sqrt(delta) z`` with
``z ~ N(0, I_D)``. The signal-to-noise ratio is ``snr = |mu| / sqrt(delta) = 1 / sqrt(delta)``.
No linear function of ``x`` carries the label (the means of each label cancel), which is what
defeats a kernel fitted on ``O(D)`` samples.

The Bayes classifier compares ``|x_1|`` with ``|x_2|``; for a point of cluster ``+e1``,
``x_1 = 1 + sqrt(delta) z_1`` and ``x_2 = sqrt(delta) z_2``, so its error is

    eps* = P(|snr + z_1| < |z_2|) = 2 p (1 - p),    p = Phi(-snr / sqrt(2)),

because ``|a| < |b|`` exactly when ``(a - b)(a + b) < 0`` and ``a - b``, ``a + b`` are independent
``N(snr, 2)`` variables when ``a = snr + z_1``, ``b = z_2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..validation import check_positive_float, check_positive_int

# cluster means in the (x_1, x_2) plane and their labels: +-e1 -> +1, +-e2 -> -1
CLUSTER_MEANS = ((1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0))
CLUSTER_LABELS = (1.0, 1.0, -1.0, -1.0)


def oracle_error(snr: float | torch.Tensor) -> torch.Tensor:
    """Bayes classification error ``2 p (1 - p)``, ``p = Phi(-snr / sqrt(2))`` (module docstring).

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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` samples of the mixture, for one noise variance or a batch of them.

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
    x, y = sample_streams(n, dim, batch, torch.arange(batch.shape[0], device=device), generator)
    x, y = x.transpose(0, 1), y.T  # (B, n, D), (B, n)
    return (x, y) if delta_t.ndim == 1 else (x[0], y[0])


@dataclass
class StreamDraws:
    """The random numbers of ``steps`` samples on ``G`` streams: standard-normal ``z`` of shape
    ``(steps, G, D)`` and cluster indices ``cluster`` of shape ``(steps, G)`` (into
    ``CLUSTER_MEANS``). ``sample(i, delta, streams)`` turns step ``i`` into inputs for ``B``
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
        raise ValueError(f"dim must be >= 2 (the means are e1 and e2); got {dim}")
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
) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample per mixture and step, for ``B`` mixtures that may share randomness.

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
    dtype, device = delta.dtype, delta.device
    draws = draw_streams(steps, dim, int(streams.max()) + 1, generator, dtype, device)
    cluster = draws.cluster[:, streams]
    x = draws.z[:, streams] * delta.sqrt()[:, None]
    x[..., :2] += torch.tensor(CLUSTER_MEANS, dtype=dtype, device=device)[cluster]
    return x, torch.tensor(CLUSTER_LABELS, dtype=dtype, device=device)[cluster]
