"""How well a kernel matrix is aligned with a task.

- Kernel-target alignment (Cristianini et al. 2002): the cosine between K and Y Y^T in the
  Frobenius inner product, ``A(K, Y) = <K, Y Y^T>_F / (||K||_F ||Y Y^T||_F)``. The centered
  version (Cortes, Mohri and Rostamizadeh 2012) first centers both, ``K_c = H K H`` with
  ``H = I - 1 1^T / n``, so that a constant offset in K or y does not count as alignment.
- Rayleigh quotient of K along a vector v: ``v^T K v / v^T v``; along an eigenvector of K it
  equals the eigenvalue. Ortiz-Jimenez et al. (2021) track it along the eigenvectors of the
  initial NTK to see which directions training amplifies.
"""

from __future__ import annotations

import torch


def _center(m: torch.Tensor) -> torch.Tensor:
    return m - m.mean(0, keepdim=True) - m.mean(1, keepdim=True) + m.mean()


def kernel_target_alignment(k: torch.Tensor, y: torch.Tensor, centered: bool = True) -> float:
    """Alignment of the kernel matrix ``k`` (n, n) with targets ``y`` of shape (n,) or (n, c).

    Cost: O(n^2 c). Returns a number in [-1, 1] (in [0, 1] for PSD k).
    """
    n = k.shape[0]
    if k.shape != (n, n):
        raise ValueError(f"k must be a square (n, n) matrix; got shape {tuple(k.shape)}")
    y = y.reshape(n, -1).to(k.dtype) if y.shape[0] == n else None
    if y is None:
        raise ValueError(f"y must have {n} rows to match k")
    target = y @ y.T
    if centered:
        k, target = _center(k), _center(target)
    denom = torch.linalg.norm(k) * torch.linalg.norm(target)
    if float(denom) == 0.0:
        raise ValueError("alignment is undefined: the (centered) kernel or target matrix is zero")
    return float((k * target).sum() / denom)


def rayleigh_quotients(k: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``v_j^T K v_j / v_j^T v_j`` for every column v_j of ``vectors`` (n, m); shape (m,)."""
    if vectors.ndim == 1:
        vectors = vectors[:, None]
    if vectors.shape[0] != k.shape[0]:
        raise ValueError(f"vectors must have {k.shape[0]} rows to match k; got {tuple(vectors.shape)}")
    vectors = vectors.to(k.dtype)
    return (vectors * (k @ vectors)).sum(0) / (vectors * vectors).sum(0)
