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


def step_decay(milestones: tuple[float, ...] = (0.4, 0.5, 0.6), factor: float = 0.2):
    """Learning-rate multiplier as a function of the fraction of training done: ``factor`` to
    the power of the number of ``milestones`` passed (Karp et al.'s CNN recipe: x0.2 at 40%, 50%
    and 60%)."""

    def multiplier(fraction: float) -> float:
        return factor ** sum(fraction >= m for m in milestones)

    return multiplier


def train_minibatch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    lr_multiplier=None,
    loss_fn=None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    desc: str = "minibatch training",
    on_epoch=None,
) -> History:
    """Minibatch training, reshuffled every epoch; the loss is recorded once per epoch.

    Args:
        model: maps ``(n, ...)`` to outputs; trained in place (on the device of ``x``).
        x: inputs ``(n, ...)``. y: targets (class indices for the default cross-entropy loss).
        optimizer: a torch optimizer over the model's trainable parameters; its initial learning
            rate is multiplied by ``lr_multiplier(fraction of training done)`` at every step.
        epochs, batch_size: passes over the data and examples per step (the last batch of an
            epoch may be smaller).
        loss_fn: ``loss_fn(outputs, targets)``; cross-entropy by default.
        generator: the shuffling's randomness.
        on_epoch: called as ``on_epoch(epoch)`` after every epoch (epoch 1 is the first), e.g. to
            measure the model's kernel as it trains.

    Returns:
        The mean training loss of every epoch (``History.steps`` are epoch numbers).
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x and y must have the same number of examples; got {x.shape[0]} and {y.shape[0]}")
    loss_fn = loss_fn or nn.functional.cross_entropy
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    n = x.shape[0]
    steps_per_epoch = -(-n // batch_size)
    total = epochs * steps_per_epoch
    history = History()
    step = 0
    for epoch in tqdm(range(1, epochs + 1), desc=desc, disable=not progress, mininterval=2.0):
        order = torch.randperm(n, generator=generator).to(x.device)
        running = 0.0
        for start in range(0, n, batch_size):
            if lr_multiplier is not None:
                for group, lr in zip(optimizer.param_groups, base_lrs):
                    group["lr"] = lr * lr_multiplier(step / total)
            idx = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            running += float(loss.detach()) * len(idx)
            step += 1
        history.record(epoch, running / n)
        if on_epoch is not None:
            on_epoch(epoch)
    return history
