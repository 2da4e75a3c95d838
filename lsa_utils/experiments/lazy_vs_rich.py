"""Chapter 0: wide networks in NTK parameterization follow their kernel; mean-field ones do not.

For each parameterization, width m and seed, a symmetric-initialised ``TwoLayerReLU`` is trained
by full-batch gradient descent; its test predictions are compared with the infinite-width NTK
predictor after the same number of steps (``gd_mse_predict``), and its first-layer weights with
their initial values. Lazy-training theory (Jacot et al. 2018; Chizat, Oyallon and Bach 2019)
predicts, in NTK parameterization, ``||W_T - W_0|| / ||W_0|| = O(m^-1/2)`` and a distance to the
kernel predictor that vanishes as m grows; in mean-field parameterization the weights move by
O(1) and the network leaves its kernel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..data.synthetic import RegressionTask
from ..kernels.arccos import two_layer_relu_kernel
from ..kernels.solve import gd_mse_predict
from ..models.two_layer import PARAMETERIZATIONS, TwoLayerReLU
from ..train import train_full_batch_gd
from ..validation import check_choice, check_positive_int, check_positive_ints
from ..run.data_plan import DataPlan, synthetic_plan


@dataclass
class WidthRun:
    """One trained network: its settings, final training loss and the two distances."""

    parameterization: str
    width: int
    seed: int
    final_loss: float
    weight_change: float  # ||W_T - W_0||_F / ||W_0||_F of the first layer
    distance_to_kernel: float  # ||f_net - f_ntk|| / ||f_ntk|| on the test inputs
    test_prediction: torch.Tensor  # f_net on the test inputs, shape (n_test,)


def ntk_predictor(task: RegressionTask, lr: float, steps: int, W_std: float, b_std: float) -> torch.Tensor:
    """Infinite-width NTK prediction on ``task.x_test`` after ``steps`` of GD; shape ``(n_test,)``."""
    kwargs = dict(get="ntk", W_std=W_std, b_std=b_std, readout_b_std=0.0)
    k_train = two_layer_relu_kernel(task.x_train, **kwargs)
    k_test_train = two_layer_relu_kernel(task.x_test, task.x_train, **kwargs)
    return gd_mse_predict(k_train, k_test_train, task.y_train, lr=lr, steps=steps)


def train_one(
    task: RegressionTask,
    width: int,
    parameterization: str,
    seed: int,
    lr: float,
    steps: int,
    W_std: float,
    b_std: float,
    device: torch.device,
) -> tuple[TwoLayerReLU, torch.Tensor]:
    """Train one network; return it and its initial first-layer weights (both on ``device``)."""
    gen = torch.Generator().manual_seed(seed)
    model = TwoLayerReLU(
        task.x_train.shape[1], width, parameterization, W_std=W_std, b_std=b_std,
        generator=gen, dtype=task.x_train.dtype,
    ).to(device)
    w0 = model.w.detach().clone()
    train_full_batch_gd(
        model, task.x_train.to(device), task.y_train.to(device),
        lr=lr * model.lr_multiplier, steps=steps, progress=False,
    )
    return model, w0


def width_sweep(
    task: RegressionTask,
    widths: list[int],
    seeds: int,
    lr: float,
    steps: int,
    W_std: float = 1.0,
    b_std: float = 1.0,
    parameterizations: tuple[str, ...] = PARAMETERIZATIONS,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[list[WidthRun], torch.Tensor]:
    """Train every (parameterization, width, seed) and measure how lazy each network was.

    Returns:
        The runs (``len(parameterizations) * len(widths) * seeds`` of them) and the NTK
        predictor on ``task.x_test`` that they are compared with, shape ``(n_test,)``.

    Cost: ``steps`` full-batch passes per run, O(n * m * d) each.
    """
    from tqdm.auto import tqdm

    check_positive_ints("widths", widths)
    if len(set(widths)) < 2 or any(m % 2 for m in widths):
        raise ValueError(
            f"widths={widths} is not allowed: give at least two different even widths "
            "(even: the initialisation pairs neurons; two: the sweep fits a power law)"
        )
    check_positive_int("seeds", seeds)
    for p in parameterizations:
        check_choice("parameterization", p, PARAMETERIZATIONS)
    device = torch.device(device)
    f_ntk = ntk_predictor(task, lr, steps, W_std, b_std)
    x_test = task.x_test.to(device)
    runs = []
    grid = [(p, m, s) for p in parameterizations for m in widths for s in range(seeds)]
    for p, m, s in tqdm(grid, desc="width sweep", disable=not progress, mininterval=2.0):
        model, w0 = train_one(task, m, p, s, lr, steps, W_std, b_std, device)
        with torch.no_grad():
            f_net = model(x_test).cpu()
            loss = 0.5 * float(((model(task.x_train.to(device)).cpu() - task.y_train) ** 2).mean())
            change = float(torch.linalg.norm(model.w - w0) / torch.linalg.norm(w0))
        distance = float(torch.linalg.norm(f_net - f_ntk) / torch.linalg.norm(f_ntk))
        runs.append(WidthRun(p, m, s, loss, change, distance, f_net))
    return runs, f_ntk


def runs_table(runs: list[WidthRun]):
    """The runs as a pandas DataFrame, one row per run (without the test predictions)."""
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in runs]).drop(columns="test_prediction")


def loglog_slope(x, y) -> float:
    """Least-squares slope of log(y) against log(x): the exponent of a power law y ~ x^slope."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("loglog_slope needs two or more matching positive x and y values")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def plan_data(params: dict, inventories=None) -> DataPlan:
    """Chapter 0 uses synthetic data: its sizes run as given (``lsa_utils.run.data_plan``)."""
    return synthetic_plan(params, [
        ("widths has at least two distinct widths (the fitted slopes)", len(set(params["widths"])) >= 2),
    ])
