"""Training loops shared by the chapters: seeded, with a tqdm progress bar and a returned history."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .validation import check_positive_float, check_positive_int


@dataclass
class History:
    """What a training loop recorded: the step numbers and the training loss at those steps."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)

    def record(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.loss.append(loss)


def train_full_batch_gd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    steps: int,
    record_every: int = 100,
    progress: bool = True,
    desc: str = "full-batch GD",
) -> History:
    """Full-batch gradient descent on ``L = 1 / (2n) * sum_i (f(x_i) - y_i)^2``.

    Args:
        model: maps ``(n, ...)`` inputs to ``(n,)`` outputs; trained in place.
        x: inputs, shape ``(n, ...)``. y: targets, shape ``(n,)``.
        lr: learning rate of plain gradient descent (no momentum, no weight decay).
        steps: number of gradient steps.
        record_every: record the loss every this many steps (and after the last one).
        progress: show a tqdm bar.

    Returns:
        The loss history. Cost: ``steps`` forward and backward passes over all n points.
    """
    check_positive_float("lr", lr)
    check_positive_int("steps", steps)
    check_positive_int("record_every", record_every)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape ({x.shape[0]},) to match x; got {tuple(y.shape)}")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    history = History()
    for step in tqdm(range(steps + 1), desc=desc, disable=not progress, mininterval=2.0):
        optimizer.zero_grad(set_to_none=True)
        loss = 0.5 * ((model(x) - y) ** 2).mean()
        if step % record_every == 0 or step == steps:
            history.record(step, float(loss.detach()))
        if step == steps:
            break
        loss.backward()
        optimizer.step()
    return history
