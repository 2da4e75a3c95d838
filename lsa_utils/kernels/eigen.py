"""Top eigenpairs of an empirical NTK without forming it: Lanczos on NTK-vector products.

For a network f(x; theta) on N inputs with one output (or k outputs, averaged as
``empirical_ntk`` does by default), the NTK Gram matrix is

    Theta = J J^T / k,      J = d f(X; theta) / d theta   (shape N k x P),

and its product with a vector needs neither Theta nor J (Novak et al. 2022, "Fast finite width
neural tangent kernel", NTK-vector products):

    Theta v = (1/k) sum_c J_c (J_c^T v):   w_c = J_c^T v by one vector-Jacobian product (a backward
    pass over the data with the cotangent v on output c, in batches, summed over batches into one
    parameter-shaped w_c), then J_c w_c by one Jacobian-vector product (a forward-mode pass over the
    data, in batches); k passes of each for k outputs.

``ntk_eigenpairs`` runs the implicitly restarted Lanczos method (ARPACK's, through
``scipy.sparse.linalg.eigsh``) on that product: memory O(N ncv) for the Krylov basis (``ncv`` about
2 k_eig) plus one batch of the network's activations and two copies of the parameters, against
O(N^2) for the Gram matrix and O(N P) for the Jacobian. Time: two passes over the data per
product and output; Lanczos needs a few times ``ncv`` products for the top eigenpairs.

``ntk_rayleigh_quotients`` gives ``v^T Theta v / v^T v`` along many vectors from the first half of
the product alone, ``||J^T v||^2``, vmapped over a block of vectors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import jvp, vjp, vmap

from ..validation import check_positive_int
from .empirical import _call, _parameters


def _batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _transposed_products(f: Callable, params: dict[str, torch.Tensor], x: torch.Tensor, vectors: torch.Tensor,
                         output: int, batch_size: int) -> dict[str, torch.Tensor]:
    """``J_c^T V`` for the Jacobian ``J_c`` (N, P) of output ``c`` = ``output`` of ``f(params, x)``
    and ``vectors`` V (N, b): one vector-Jacobian product per column, vmapped over the b columns,
    summed over batches of ``x`` of ``max(1, batch_size // b)`` inputs (so that a pass holds about
    ``batch_size`` input-vector pairs). Returns ``{name: (b, *parameter shape)}``."""
    n, b = vectors.shape
    w = {name: p.new_zeros((b, *p.shape)) for name, p in params.items()}
    for i0, i1 in _batches(n, max(1, batch_size // b)):
        out, pullback = vjp(lambda p: f(p, x[i0:i1]), params)
        cotangents = out.new_zeros((b, *out.shape))
        cotangents[:, :, output] = vectors[i0:i1].T.to(out.dtype)
        (grads,) = vmap(pullback)(cotangents)
        for name in w:
            w[name].add_(grads[name])
    return w


def _functional(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], Callable, int]:
    """As ``empirical_ntk``: the parameters, ``f(params, x)`` of shape (n, k) and k, after
    refusing a BatchNorm in train mode (``_refuse_training_batchnorm``)."""
    _refuse_training_batchnorm(model)
    params, f = _parameters(model), _call(model)
    return params, f, f(params, x[:1]).shape[1]


def ntk_vector_product(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> Callable[[torch.Tensor], torch.Tensor]:
    """``v -> Theta v`` for the empirical NTK of ``model`` on ``x`` (module docstring).

    Args:
        model: maps ``(n, ...)`` to ``(n,)`` or ``(n, k)``; its parameters and buffers are used as
            they are now (BatchNorm in whatever mode the model is in).
        x: the N inputs, shape ``(N, ...)``, on the model's device.
        batch_size: inputs per pass.

    Returns: a function taking ``v`` of shape ``(N,)`` (the model's dtype and device) and returning
    ``Theta v`` of shape ``(N,)``, where ``Theta`` is ``empirical_ntk(model, x)`` (outputs averaged).
    """
    check_positive_int("batch_size", batch_size)
    params, f, k = _functional(model, x)

    def product(v: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(v)
        for c in range(k):  # Theta = (1/k) sum_c J_c J_c^T, J_c the Jacobian of output c
            w = {name: t[0] for name, t in _transposed_products(f, params, x, v[:, None], c, batch_size).items()}
            for i0, i1 in _batches(x.shape[0], batch_size):  # J_c w
                out[i0:i1] += jvp(lambda p: f(p, x[i0:i1]), (params,), (w,))[1][:, c]
        return out / k

    return product


RAYLEIGH_BLOCK = 8  # vectors per vmapped vector-Jacobian pass in ntk_rayleigh_quotients


def ntk_rayleigh_quotients(model: nn.Module, x: torch.Tensor, vectors: torch.Tensor, batch_size: int = 512,
                           block: int = RAYLEIGH_BLOCK, split: int | None = None) -> torch.Tensor:
    """Rayleigh quotients ``A(v) = v^T Theta v / v^T v`` of the empirical NTK of ``model`` on ``x``
    along each column v of ``vectors`` (N, m), without forming Theta (the paper's alignment
    measure, Ortiz-Jimenez et al. 2021, Sec. 5):

        v^T Theta v = (1/k) sum_c ||J_c^T v||^2,

    one vector-Jacobian pass over the data per column and output, ``block`` columns at a time
    (memory: ``block`` copies of the parameters). ``model`` as in ``ntk_vector_product``.

    With ``split`` = s, also the quotient of each block of the kernel along its rows, as the
    official ``ntk_comparison`` measures train and test: with ``a = J[:s]^T v[:s]`` and
    ``b = J[s:]^T v[s:]``, ``||a||^2 / ||v[:s]||^2``, ``||b||^2 / ||v[s:]||^2`` and the whole
    ``||a + b||^2 / ||v||^2`` from the same single pass. Returns (m,), or with ``split`` (3, m)
    (whole, first rows, the rest), in float64.
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("block", block)
    n = x.shape[0]
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise ValueError(f"vectors of shape {tuple(vectors.shape)} are not allowed for {n} inputs; "
                         f"they must be (N, m) = ({n}, m)")
    if split is not None and not 0 < split < n:
        raise ValueError(f"split={split} is not allowed; it must lie in [1, {n - 1}]")
    params, f, k = _functional(model, x)
    dtype = next(iter(params.values())).dtype
    parts = [slice(0, n)] if split is None else [slice(0, split), slice(split, n)]
    measured = [slice(0, n)] + (parts if split is not None else [])  # the rows of each quotient returned

    def squared_norms(w: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(t.double().pow(2).reshape(len(t), -1).sum(1) for t in w.values())

    quotients = []
    for j0 in range(0, vectors.shape[1], block):
        chunk = vectors[:, j0:j0 + block].to(dtype=dtype, device=x.device)
        squares = 0
        for c in range(k):
            ws = [_transposed_products(f, params, x[rows], chunk[rows], c, batch_size) for rows in parts]
            whole = {name: sum(w[name] for w in ws) for name in ws[0]}  # J^T v = J[:s]^T v[:s] + J[s:]^T v[s:]
            squares = squares + torch.stack([squared_norms(w) for w in [whole, *(ws if split is not None else [])]])
        lengths = torch.stack([chunk[rows].double().pow(2).sum(0) for rows in measured])
        quotients.append(squares / k / lengths)
    out = torch.cat(quotients, dim=1)
    return out[0] if split is None else out


def _refuse_training_batchnorm(model: nn.Module) -> None:
    """Raise where a BatchNorm of ``model`` is in train mode: its output for one input would depend
    on the others, and running a batch through it would change its running statistics."""
    training = [name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if training:
        raise ValueError(f"the model's BatchNorm {training[0]!r} is in train mode; the NTK needs a function of one "
                         "input: call model.eval() (the chapter's ntk_spectrum does, inside `evaluating`)")


@dataclass
class NTKEigenpairs:
    """The top eigenpairs, largest first: ``values`` (k,), ``vectors`` (N, k) orthonormal."""

    values: torch.Tensor
    vectors: torch.Tensor
    products: int  # NTK-vector products Lanczos used
    seconds: float


def ntk_eigenpairs(model: nn.Module, x: torch.Tensor, count: int, batch_size: int = 512, tol: float = 1e-10,
                   seed: int = 0) -> NTKEigenpairs:
    """The ``count`` largest eigenpairs of ``empirical_ntk(model, x)`` by Lanczos on NTK-vector
    products (module docstring), in float64 whatever the model's dtype (the products run in the
    model's dtype: a float32 model gives eigenvalues to about 1e-6 relative).

    Args:
        count: eigenpairs wanted, ``1 <= count < N``.
        tol: ARPACK's relative accuracy of the Ritz values (0: machine precision).
        seed: the start vector's seed (Lanczos is deterministic from it).
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    n = x.shape[0]
    check_positive_int("count", count)
    if count >= n:
        raise ValueError(f"count={count} is not allowed for {n} inputs: Lanczos finds at most N - 1 eigenpairs; "
                         "use empirical_ntk and torch.linalg.eigh for all of them")
    dtype = next(model.parameters()).dtype
    product = ntk_vector_product(model, x, batch_size)
    calls = 0

    def matvec(v: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        tv = torch.as_tensor(np.ascontiguousarray(v).reshape(-1), dtype=dtype, device=x.device)
        return product(tv).double().cpu().numpy()

    start_vector = np.random.default_rng(seed).standard_normal(n)
    begin = time.perf_counter()
    values, vectors = eigsh(LinearOperator((n, n), matvec=matvec, dtype=np.float64), k=count, which="LA",
                            tol=tol, v0=start_vector)
    seconds = time.perf_counter() - begin
    order = np.argsort(values)[::-1]
    return NTKEigenpairs(torch.from_numpy(values[order].copy()), torch.from_numpy(vectors[:, order].copy()),
                         calls, seconds)


def ntk_eigen_residuals(model: nn.Module, x: torch.Tensor, values: torch.Tensor, vectors: torch.Tensor,
                        indices: list[int], batch_size: int = 512) -> dict[int, float]:
    """``||Theta phi_j - lambda_j phi_j|| / (|lambda_j| ||phi_j||)`` for the eigenpairs (``values``
    (m,), ``vectors`` (N, m)) at ``indices`` (from 1), one fresh NTK-vector product each, in the
    model's dtype (``ntk_vector_product``). It tells a converged eigenpair from a Ritz pair that
    is not: both have a Rayleigh quotient equal to their value. Returns ``{j: residual}``."""
    if not indices or not all(1 <= j <= len(values) for j in indices):
        raise ValueError(f"indices={indices} is not allowed; each must lie in [1, {len(values)}]")
    product = ntk_vector_product(model, x, batch_size)
    dtype = next(model.parameters()).dtype
    residuals = {}
    for j in indices:
        value, vector = values[j - 1].double().cpu(), vectors[:, j - 1].double().cpu()
        image = product(vector.to(dtype=dtype, device=x.device)).double().cpu()
        residuals[j] = float(torch.linalg.norm(image - value * vector) / (value.abs() * torch.linalg.norm(vector)))
    return residuals


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spans of ``a`` (N, k) and ``b`` (N, k)."""
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.arccos(cosines)  # singular values come largest first: angles smallest first
