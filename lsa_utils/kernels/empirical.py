"""Empirical NTK and linearization of any ``torch.nn.Module``, through ``torch.func``.

For a network f(x; theta) with k outputs, the empirical NTK is

    Theta(x, x') = J(x) J(x')^T,     J(x) = d f(x; theta) / d theta   (shape k x P),

(Jacot et al. 2018). Two ways to compute a Gram block (Novak et al. 2022, "Fast finite width
neural tangent kernel"):

- ``"jacobian"`` (Jacobian contraction): materialise J for every input with ``vmap(jacrev)``,
  then contract. Time O((n1 + n2) k [backward pass] + n1 n2 k^2 P), memory O((n1 + n2) k P).
- ``"jacobian_blocks"``: the same contraction with the Jacobians of two blocks of B inputs in
  memory at a time, B as large as the memory budget allows; a block's Jacobians are recomputed
  for every block it meets. Time O(n1 n2 / (2B) [per-input backward passes] + n1 n2 k^2 P),
  memory O(2 B k P). For networks whose Jacobians do not fit (chapter 4's ResNet18: 11.2
  million parameters, 45 MB per image in float32).
- ``"ntk_vp"`` (NTK-vector products): for each output of x2 form J(x2)^T e with ``vjp``, then push
  it through ``jvp`` at x1, ``VP_CHUNK`` outputs at a time. Time O(n2 k [vjp + batched jvp over
  n1]), memory O(VP_CHUNK P + n1 k) on top of the network's activations.

``"auto"`` takes the Jacobian contraction when the Jacobians of both inputs fit the memory
budget, else the blocked contraction when blocks of at least ``MIN_BLOCK`` inputs fit (n1 n2
jvp passes of NTK-vector products cost more than n1 n2 / (2B) backward passes and the
contraction), else NTK-vector products.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from ..devices import memory_budget as device_memory_budget
from ..validation import check_choice, check_positive_int

METHODS = ("auto", "jacobian", "jacobian_blocks", "ntk_vp")
VP_CHUNK = 16  # NTK-vector products evaluated together (memory O(VP_CHUNK * P))
MIN_BLOCK = 16  # "auto" takes blocked Jacobians only when blocks of this many inputs fit


def _parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters()}


def _call(model: nn.Module) -> Callable:
    buffers = dict(model.named_buffers())

    def f(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, {**params, **buffers}, (x,))
        return out.reshape(x.shape[0], -1)

    return f


def _jacobian(f, params, x: torch.Tensor) -> torch.Tensor:
    """Flattened Jacobian, shape (n, k, P)."""
    def single(p, xi):
        return f(p, xi[None])[0]

    jac = vmap(jacrev(single), in_dims=(None, 0))(params, x)
    return torch.cat([j.reshape(x.shape[0], j.shape[1], -1) for j in jac.values()], dim=-1)


def _ntk_vp_block(f, params, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Theta(x1, x2) with shape (n1, n2, k, k) by NTK-vector products."""
    out2, pullback = vjp(lambda p: f(p, x2), params)
    n2, k = out2.shape
    basis = torch.eye(n2 * k, dtype=out2.dtype, device=out2.device).reshape(n2 * k, n2, k)

    def column(cotangent):
        (tangent,) = pullback(cotangent)
        return jvp(lambda p: f(p, x1), (params,), (tangent,))[1]  # (n1, k)

    cols = vmap(column, chunk_size=VP_CHUNK)(basis)  # (n2 * k, n1, k), VP_CHUNK columns at a time
    return cols.reshape(n2, k, x1.shape[0], k).permute(2, 0, 3, 1)


def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    method: str = "auto",
    trace_outputs: bool = True,
    batch_size: int = 256,
    memory_budget: int | None = None,
) -> torch.Tensor:
    """Empirical NTK Gram matrix of ``model`` at its current parameters.

    Args:
        model: any module mapping ``(n, ...)`` to ``(n,)`` or ``(n, k)``.
        x1: shape ``(n1, ...)``. x2: shape ``(n2, ...)``, or ``None`` for ``x1`` (then only the
            upper-triangle blocks are computed).
        method: ``"auto"``, ``"jacobian"``, ``"jacobian_blocks"`` or ``"ntk_vp"`` (see the module
            docstring).
        trace_outputs: average over the k outputs, as neural-tangents' default
            ``trace_axes=(-1,)`` does, giving ``(n1, n2)``; else ``(n1, n2, k, k)``.
        batch_size: inputs per block.
        memory_budget: bytes the Jacobians may take (``"auto"`` chooses by it, ``"jacobian_blocks"``
            sizes its blocks by it); ``None``: 2 GiB on CPU,
            on a GPU a third of ``lsa_utils.devices.memory_budget`` (half its free memory), since
            the Jacobians are briefly held twice there.

    Returns: the Gram matrix, in the parameters' dtype and device.
    """
    check_choice("method", method, METHODS)
    check_positive_int("batch_size", batch_size)
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x2 must have trailing shape {tuple(x1.shape[1:])}; got {tuple(x2.shape)}")
    params, f = _parameters(model), _call(model)
    if x1.shape[0] == 0 or (x2 is not None and x2.shape[0] == 0):
        raise ValueError("x1 and x2 must hold at least one input each")
    symmetric = x2 is None
    x2 = x1 if symmetric else x2
    k = f(params, x1[:1]).shape[1]
    n_params = sum(p.numel() for p in params.values())
    itemsize = next(iter(params.values())).element_size()
    # on a GPU the Jacobians are briefly held twice (per-batch pieces and their concatenation),
    # and vmap's intermediates come on top: a third of its free-memory budget
    budget = memory_budget if memory_budget is not None else \
        device_memory_budget(x1.device) / (3 if x1.device.type == "cuda" else 1)
    per_input = k * n_params * itemsize  # bytes of one input's Jacobian
    block = max(1, int(budget // (2 * per_input)))  # inputs per block: two blocks in memory
    if method == "auto":
        jacobian_rows = x1.shape[0] + (0 if symmetric else x2.shape[0])
        method = ("jacobian" if jacobian_rows * per_input <= budget
                  else "jacobian_blocks" if block >= MIN_BLOCK else "ntk_vp")

    n1, n2 = x1.shape[0], x2.shape[0]
    shape = (n1, n2) if trace_outputs else (n1, n2, k, k)
    out = torch.empty(shape, dtype=next(iter(params.values())).dtype, device=x1.device)

    def jacobians(x):
        return torch.cat([_jacobian(f, params, x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])

    if method in ("jacobian", "jacobian_blocks"):  # "jacobian": one block holding every input
        rows = max(n1, n2) if method == "jacobian" else block
        for i in range(0, n1, rows):
            jac1 = jacobians(x1[i:i + rows])
            for j in range(i if symmetric else 0, n2, rows):
                diagonal = symmetric and j == i
                jac2 = jac1 if diagonal else jacobians(x2[j:j + rows])
                for a in range(0, len(jac1), batch_size):  # contracted in pieces: half of them on the diagonal
                    for b in range(a if diagonal else 0, len(jac2), batch_size):
                        p1, p2 = jac1[a:a + batch_size], jac2[b:b + batch_size]
                        piece = (torch.einsum("akp,bkp->ab", p1, p2) / k if trace_outputs
                                 else torch.einsum("akp,blp->abkl", p1, p2))
                        _store(out, piece, i + a, j + b, symmetric)
        return out
    for i in range(0, n1, batch_size):
        for j in range(i if symmetric else 0, n2, batch_size):
            i1, j1 = min(i + batch_size, n1), min(j + batch_size, n2)
            piece = _ntk_vp_block(f, params, x1[i:i1], x2[j:j1])
            _store(out, torch.diagonal(piece, dim1=2, dim2=3).mean(-1) if trace_outputs else piece, i, j, symmetric)
    return out


def _store(out: torch.Tensor, block: torch.Tensor, i: int, j: int, symmetric: bool) -> None:
    """Write the Gram block, (a, b) traced over the outputs or (a, b, k, k), of rows ``i:`` and
    columns ``j:`` into ``out``, and its transpose where ``out`` is symmetric."""
    a, b = block.shape[:2]
    traced = block.dim() == 2
    if traced and symmetric and j == i:
        block = (block + block.T) / 2  # exact symmetry despite rounding
    out[i:i + a, j:j + b] = block
    if symmetric and j != i:
        out[j:j + b, i:i + a] = block.transpose(0, 1) if traced else block.permute(1, 0, 3, 2)


class LinearizedModel(nn.Module):
    """First-order Taylor expansion of a network around its parameters theta_0:

        f_lin(x; theta) = f(x; theta_0) + J(x; theta_0) (theta - theta_0),

    or, with ``offset=False``, only its second term ``J(x; theta_0) (theta - theta_0)``, which
    is 0 at theta_0: a kernel method with the empirical NTK at theta_0 and nothing of the
    network's output there (the official ``linearize_diff_model`` of Ortiz-Jimenez et al. 2021,
    used to compare the kernels at initialisation and after training). It is
    evaluated with one ``jvp`` per forward pass (the Jacobian is never materialised). Its
    parameters ``theta`` start at theta_0 and train with any torch optimizer; the original
    network is copied and left untouched. The copy is always evaluated in eval mode: BatchNorm
    uses its running statistics at theta_0 and never updates them, as the official linearization
    of Karp et al.'s WideResNet (``get_apply_fn(train=False)``); without such layers the mode
    changes nothing. (Chapter 4 sets the ResNet's running statistics first:
    ``lsa_utils.experiments.linearization.with_batch_statistics``.)
    """

    def __init__(self, model: nn.Module, offset: bool = True) -> None:
        super().__init__()
        self.offset = offset
        self.base = copy.deepcopy(model)
        self._names = [name for name, _ in model.named_parameters()]
        # theta_0 lives in the copy as buffers: it moves with .to() but is not trained
        for module in self.base.modules():
            for name, p in list(module._parameters.items()):
                if p is not None:
                    del module._parameters[name]
                    module.register_buffer(name, p.detach().clone())
        self.theta = nn.ParameterList([nn.Parameter(p.detach().clone()) for p in model.parameters()])
        self.base.eval()

    def train(self, mode: bool = True) -> "LinearizedModel":
        super().train(mode)
        self.base.eval()  # the expansion point's layers stay in eval mode (class docstring)
        return self

    def initial_parameters(self) -> list[torch.Tensor]:
        return [self.base.get_buffer(name) for name in self._names]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta0 = dict(zip(self._names, self.initial_parameters()))
        delta = {n: t - t0 for n, t, t0 in zip(self._names, self.theta, theta0.values())}
        buffers = {n: b for n, b in self.base.named_buffers() if n not in theta0}

        def f(params):
            return functional_call(self.base, {**params, **buffers}, (x,))

        out, tangent_out = jvp(f, (theta0,), (delta,))
        return out + tangent_out if self.offset else tangent_out

    def distance_from_init(self) -> float:
        """``||theta - theta_0||_2`` over all parameters."""
        with torch.no_grad():
            sq = sum(float(((t - t0) ** 2).sum()) for t, t0 in zip(self.theta, self.initial_parameters()))
        return sq**0.5


def linearize(model: nn.Module, offset: bool = True) -> LinearizedModel:
    """The linearization of ``model`` around its current parameters (see ``LinearizedModel``)."""
    return LinearizedModel(model, offset)
