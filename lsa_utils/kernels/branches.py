"""Branching layers of the kernel engine, as neural-tangents' ``stax`` has them.

A residual block ``x + f(x)`` is written as in stax::

    serial(Conv(64, 3), FanOut(2), parallel(serial(Relu(), Conv(64, 3)), Identity()), FanInSum())

``FanOut(n)`` turns the state into ``n`` copies (a list), ``parallel(b_1, ..., b_n)`` applies
branch ``b_i`` (a layer, or a list of layers) to copy ``i``, and ``FanInSum()`` /
``FanInConcat()`` merge them back into one state. The kernel rules (Novak et al. 2020, the
stax implementation):

- ``FanInSum``: ``Sigma' = sum_i Sigma_i``, ``Theta' = sum_i Theta_i``. This is the kernel of a
  sum of uncorrelated Gaussian branches. Like stax, we refuse a sum of more than one branch
  unless every branch's output is Gaussian (its last weight layer comes after its last
  nonlinearity). The rule also needs the branches uncorrelated, which holds when all branches
  but at most one pass through weights of their own (a residual block). Two branches without
  weights (``Identity`` and ``Identity``, or ``Identity`` and a pool) are correlated and the sum
  rule would be wrong for them; stax only warns, we refuse (``SerialKernel.plan``).
- ``FanInConcat`` along channels: the channel-weighted mean ``sum_i c_i Sigma_i / sum_i c_i``
  (the same for Theta), with ``c_i`` the branches' channel counts, as stax. It is exact for any
  branches, correlated or not, Gaussian or not: the next weight layer needs only the channels'
  second moments. The channels then fall into groups of different covariances, so a
  nonlinearity cannot come next (it would need each group's own covariance); a Dense or Conv
  layer must, as in stax.

Every nonlinearity needs a Gaussian input (a Dense or Conv layer before it, and no nonlinearity
or channel concatenation in between), as stax requires: its closed form is an expectation over
Gaussian pre-activations.

The layout (``diag`` or ``full``) is one for the whole network: if any layer of any branch mixes
pixels, every state carries pixel pairs (``SerialKernel.plan``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from ..validation import check_positive_int
from .layers import KernelState, Layer


@dataclass
class Identity(Layer):
    """The identity map: the state passes unchanged."""

    def apply(self, st: KernelState) -> KernelState:
        return st


@dataclass
class FanOut(Layer):
    """``num`` copies of the input, for ``parallel`` to send down as many branches."""

    num: int = 2

    def __post_init__(self) -> None:
        check_positive_int("num", self.num)

    def apply(self, st: KernelState) -> list[KernelState]:
        # the copies share tensors: no layer changes its input state in place
        return [st] * self.num


class Parallel(Layer):
    """Branch ``i`` applied to the ``i``-th state of a ``FanOut``; see ``parallel``."""

    def __init__(self, branches: Sequence[Layer | Sequence[Layer]]) -> None:
        if not branches:
            raise ValueError("parallel() needs at least one branch")
        self.branches = []
        for branch in branches:
            layers = [branch] if isinstance(branch, Layer) else list(getattr(branch, "layers", branch))
            for layer in layers:
                if not isinstance(layer, Layer):
                    raise ValueError(f"a branch of parallel() must be kernel layers; got {layer!r}")
            self.branches.append(layers)

    def __repr__(self) -> str:
        return "parallel(" + ", ".join("serial(" + ", ".join(map(repr, b)) + ")" for b in self.branches) + ")"


def parallel(*branches: Layer | Sequence[Layer]) -> Parallel:
    """Apply ``branches[i]`` (a layer, a list of layers, or a ``serial(...)``) to the ``i``-th
    output of the preceding ``FanOut``, in the spirit of ``stax.parallel``."""
    return Parallel(branches)


class _FanIn(Layer):
    """Merges the states of a ``parallel`` into one."""

    def merged_shape(self, shapes: list[tuple[int, tuple[int, ...]]]) -> tuple[int, tuple[int, ...]]:
        raise NotImplementedError

    def check_states(self, shapes: list[tuple[int, tuple[int, ...]]]) -> None:
        if len({spatial for _, spatial in shapes}) != 1:
            raise ValueError(f"{self.describe()} needs branches of the same spatial shape; got "
                             f"{[spatial for _, spatial in shapes]}")


@dataclass
class FanInSum(_FanIn):
    """The sum of the branches (module docstring for the rule and when it holds)."""

    def check_states(self, shapes):
        super().check_states(shapes)
        if len({channels for channels, _ in shapes}) != 1:
            raise ValueError(f"FanInSum needs branches with the same number of channels; got "
                             f"{[channels for channels, _ in shapes]}")

    def merged_shape(self, shapes):
        return shapes[0]

    def apply(self, states: list[KernelState]) -> KernelState:
        if len(states) > 1 and not all(s.gaussian for s in states):
            raise ValueError("FanInSum of several branches needs every branch to end in a Gaussian output (a "
                             "Dense or Conv layer after its last nonlinearity), as neural-tangents requires")
        ntks = [s.ntk for s in states if s.ntk is not None]
        return replace(states[0], nngp=_total(s.nngp for s in states), ntk=_total(ntks) if ntks else None,
                       gaussian=all(s.gaussian for s in states))


@dataclass
class FanInConcat(_FanIn):
    """The branches' channels side by side (module docstring)."""

    def merged_shape(self, shapes):
        return sum(channels for channels, _ in shapes), shapes[0][1]

    def apply(self, states: list[KernelState]) -> KernelState:
        counts = [float(s.channels) for s in states]
        total = sum(counts)

        def mean(tensors):
            tensors = list(tensors)
            if all(t is None for t in tensors):
                return None
            return _total(t * (c / total) for t, c in zip(tensors, counts) if t is not None)

        # not Gaussian: channel groups of different covariances, which a nonlinearity would have to
        # take one by one (stax refuses a nonlinearity here too); a Dense or Conv layer mixes them
        return replace(states[0], nngp=mean(s.nngp for s in states), ntk=mean(s.ntk for s in states),
                       channels=sum(counts), gaussian=False)


def _total(tensors) -> torch.Tensor:
    tensors = iter(tensors)
    out = next(tensors).clone()
    for t in tensors:
        out.add_(t)
    return out
