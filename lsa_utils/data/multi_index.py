"""Multi-index targets f*(x) = g(Ux) built from Hermite polynomials (Damian et al. 2022, Sec. 2).

Inputs are ``x ~ N(0, I_d)``; ``U`` (shape ``(r, d)``) has orthonormal rows, so ``z = U x`` is
``N(0, I_r)``. The link ``g`` is a combination of products of normalised probabilists' Hermite
polynomials ``h_k = He_k / sqrt(k!)``, which are orthonormal under ``N(0, 1)``:

    g(z) = sum_t c_t prod_i h_{alpha_t,i}(z_i) / sqrt(sum_t c_t^2),    so E[g(z)^2] = 1.

By Stein's lemma the expected Hessian of f* only sees the degree-2 terms:
``E[d^2 g / dz_i^2] = sqrt(2) c_{2 e_i}`` and ``E[d^2 g / dz_i dz_j] = c_{e_i + e_j}`` (i != j),
divided by the same norm, and ``E[grad^2 f*] = U^T E[grad^2 g] U``. The paper's theorem needs
this matrix to have rank r.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from ..validation import check_positive_int


def hermite(z: torch.Tensor, k: int) -> torch.Tensor:
    """Normalised probabilists' Hermite polynomial ``h_k(z) = He_k(z) / sqrt(k!)``, elementwise.

    Uses ``He_{j+1} = z He_j - j He_{j-1}``; ``E[h_j(z) h_k(z)] = 1[j = k]`` for ``z ~ N(0, 1)``.
    """
    if k < 0:
        raise ValueError(f"k={k} is not allowed; the degree must be >= 0")
    prev, cur = torch.ones_like(z), z
    if k == 0:
        return prev
    for j in range(1, k):
        prev, cur = cur, z * cur - j * prev
    return cur / math.sqrt(math.factorial(k))


def random_orthonormal_rows(r: int, d: int, generator: torch.Generator | None = None,
                            dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``U``, shape ``(r, d)``, with orthonormal rows spanning a uniformly random r-dim subspace."""
    check_positive_int("r", r)
    check_positive_int("d", d)
    if r > d:
        raise ValueError(f"r={r} is not allowed; it must be <= d={d}")
    q, rr = torch.linalg.qr(torch.randn(d, r, generator=generator, dtype=dtype))
    return (q * torch.sign(torch.diagonal(rr))).T.contiguous()


def harmonic_dimension(degree: int, d: int) -> int:
    """Dimension of the harmonic homogeneous polynomials of ``degree`` on R^d:
    ``C(d + p - 1, p) - C(d + p - 3, p - 2)``."""
    return math.comb(d + degree - 1, degree) - (math.comb(d + degree - 3, degree - 2) if degree >= 2 else 0)


@dataclass(frozen=True)
class HermiteLink:
    """``g(z)`` as a sum of ``coefficient * prod_i h_{degrees[i]}(z_i)`` terms, normalised to
    ``E[g^2] = 1``. ``terms``: tuples ``(coefficient, degrees)`` with ``len(degrees) = r``."""

    terms: tuple[tuple[float, tuple[int, ...]], ...]

    def __post_init__(self) -> None:
        if not self.terms:
            raise ValueError("a HermiteLink needs at least one term")
        r = len(self.terms[0][1])
        seen = set()
        for coef, degrees in self.terms:
            if len(degrees) != r or any(k < 0 for k in degrees):
                raise ValueError(f"every term needs {r} non-negative degrees; got {degrees}")
            if degrees in seen:
                raise ValueError(f"the multi-index {degrees} appears twice")
            seen.add(degrees)
        if self.norm == 0:
            raise ValueError("all coefficients are zero")

    @property
    def r(self) -> int:
        return len(self.terms[0][1])

    @property
    def degree(self) -> int:
        return max(sum(degrees) for _, degrees in self.terms)

    @property
    def norm(self) -> float:
        return math.sqrt(sum(c * c for c, _ in self.terms))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """``g(z)`` for ``z`` of shape ``(n, r)``; returns shape ``(n,)``."""
        if z.ndim != 2 or z.shape[1] != self.r:
            raise ValueError(f"z must have shape (n, {self.r}); got {tuple(z.shape)}")
        out = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
        for coef, degrees in self.terms:
            term = torch.full_like(out, coef)
            for i, k in enumerate(degrees):
                if k:
                    term = term * hermite(z[:, i], k)
            out = out + term
        return out / self.norm

    def variance_share(self, degree: int) -> float:
        """Share of ``E[g^2] = 1`` carried by the terms of total degree ``degree`` (the Hermite
        terms are orthonormal, so it is the sum of their squared coefficients over the norm²)."""
        return sum(c * c for c, degrees in self.terms if sum(degrees) == degree) / self.norm**2

    def chaos_tensor(self, degree: int) -> torch.Tensor:
        """The symmetric tensor ``T`` (r,)*degree with ``g``'s degree-``degree`` part equal to
        ``sum_i T_i :z_{i_1} ... z_{i_p}:`` (Wick powers), so that its variance is ``p! ||T||_F^2``.

        A term ``c prod_i h_{a_i}(z_i)`` (``h_k = He_k / sqrt(k!)``) puts ``c sqrt(a!) / p!`` on every
        index tuple with counts ``a``.
        """
        t = torch.zeros((self.r,) * degree, dtype=torch.float64)
        for coef, degrees in self.terms:
            if sum(degrees) != degree:
                continue
            value = coef / self.norm * math.sqrt(math.prod(math.factorial(a) for a in degrees)) / math.factorial(degree)
            for index in itertools.product(range(self.r), repeat=degree):
                if tuple(index.count(i) for i in range(self.r)) == degrees:
                    t[index] = value
        return t

    def harmonic_share(self, degree: int, d: int) -> float:
        """Share of ``E[f*^2] = 1`` of ``f*(x) = g(Ux)``, x in R^d, in the harmonic (traceless)
        part of its degree-``degree`` Wiener chaos: the O(d)-irreducible part of dimension
        ``harmonic_dimension(degree, d)``, the only one of that chaos a kernel cannot fit from fewer
        samples than that dimension (``lsa_utils.claims.representation``).

        Degree 2: ``||T||^2 - tr(T)^2 / d``; degree 4: ``||T||^2 - 6 ||A||^2 / (d + 4)
        + 3 tr(A)^2 / ((d + 2)(d + 4))`` with ``A = tr_12 T``, times ``p!`` (the norm of the
        traceless projection of a symmetric tensor; tested against a numerical projection).
        """
        t = self.chaos_tensor(degree)
        if degree == 2:
            left = (t * t).sum() - torch.trace(t) ** 2 / d
        elif degree == 4:
            a = torch.einsum("iikl->kl", t)
            left = (t * t).sum() - 6 * (a * a).sum() / (d + 4) + 3 * torch.trace(a) ** 2 / ((d + 2) * (d + 4))
        else:
            raise ValueError(f"degree={degree} is not allowed; harmonic_share knows degrees 2 and 4")
        return float(left) * math.factorial(degree)

    def expected_hessian(self) -> torch.Tensor:
        """``E[grad^2 g(z)]``, shape ``(r, r)``, in closed form (module docstring)."""
        h = torch.zeros(self.r, self.r, dtype=torch.float64)
        for coef, degrees in self.terms:
            if sum(degrees) != 2:
                continue
            nonzero = [i for i, k in enumerate(degrees) if k]
            if len(nonzero) == 1:
                h[nonzero[0], nonzero[0]] += math.sqrt(2) * coef
            else:
                i, j = nonzero
                h[i, j] += coef
                h[j, i] += coef
        return h / self.norm


# The chapter's two links for r = 2: degree 4, with He_2 parts in both directions and cross terms,
# so E[grad^2 g] = [[1.5 sqrt 2, 0.5], [0.5, 1.5 sqrt 2]] / sqrt 7.75 has rank 2 (eigenvalues 0.94
# and 0.58; 61% of the variance is in the degree-2 part, 39% in degree 4); and a different
# target for the transfer experiment (same U).
SOURCE_LINK = HermiteLink(((1.5, (2, 0)), (1.5, (0, 2)), (0.5, (1, 1)), (1.0, (4, 0)), (1.0, (0, 4)),
                           (1.0, (2, 2))))
# the source link plus a linear part (our addition, to show Algorithm 1's preprocessing at work):
# at a zero network a linear part adds the same direction E[y x] / 2 to every neuron's gradient
LINEAR_PART_LINK = HermiteLink((*SOURCE_LINK.terms, (1.0, (1, 0)), (1.0, (0, 1))))
TARGET_LINK = HermiteLink(((1.0, (2, 0)), (-1.0, (0, 2)), (1.0, (3, 1)), (-1.0, (1, 3)), (1.0, (2, 2)),
                           (0.5, (1, 1))))


@dataclass
class MultiIndexTask:
    """``f*(x) = link(U x)`` with ``x ~ N(0, I_d)`` and additive label noise ``noise_std``."""

    u: torch.Tensor  # (r, d), orthonormal rows
    link: HermiteLink
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        if self.u.ndim != 2 or self.u.shape[0] != self.link.r:
            raise ValueError(f"U must have shape ({self.link.r}, d); got {tuple(self.u.shape)}")

    @property
    def d(self) -> int:
        return self.u.shape[1]

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Noiseless ``f*(x)``, ``(n, d) -> (n,)``."""
        return self.link(x @ self.u.T.to(x))

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pairs ``(x, y)``: ``x`` shape ``(n, d)``, ``y = f*(x) + noise``, shape ``(n,)``."""
        check_positive_int("n", n)
        # drawn on the CPU (a CPU generator gives the same samples on every device), used on U's
        x = torch.randn(n, self.d, generator=generator, dtype=self.u.dtype).to(self.u.device)
        y = self.target(x)
        if self.noise_std:
            y = y + self.noise_std * torch.randn(n, generator=generator, dtype=self.u.dtype).to(y.device)
        return x, y

    def expected_hessian(self) -> torch.Tensor:
        """``E[grad^2 f*(x)] = U^T E[grad^2 g] U``, shape ``(d, d)``."""
        u = self.u.to(torch.float64).cpu()
        return u.T @ self.link.expected_hessian() @ u
