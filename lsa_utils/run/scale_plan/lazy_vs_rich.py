"""The cost of chapter 0: lazy and rich training (``lsa_utils.run.scale_plan``)."""

from __future__ import annotations


from .units import (
    FLOAT64,
    PartCost,
    dispatch_work,
    elementwise_work,
    start_up,
)

GD_STEP_PASSES = 12.0  # elementwise passes over the (n, m) activations in one full-batch step (fwd + bwd)
GD_STEP_TORCH_OPS = 40.0  # torch ops of one step of train_full_batch_gd on TwoLayerReLU (fwd, bwd, SGD)
TOY_TEST_POINTS = 200  # its default n_test


def lazy_vs_rich_cost(sizes: dict) -> list[PartCost]:
    """Chapter 0 (``experiments/lazy_vs_rich.py:width_sweep``): ``2 x len(widths) x seeds``
    networks (NTK and mean-field parameterizations), each ``steps`` full-batch GD steps of
    ``train_full_batch_gd`` on ``n_train`` points, float64. A step touches the ``(n, m)``
    activations ``GD_STEP_PASSES`` times (d = 1: the products are elementwise) and dispatches
    ``GD_STEP_TORCH_OPS`` ops. Left out: the NTK predictor (``gd_mse_predict`` on 16 points) and
    the test predictions (one forward on 200 points per network)."""
    from ...models.two_layer import PARAMETERIZATIONS

    n, widths, seeds, steps = sizes["n_train"], sizes["widths"], sizes["seeds"], sizes["steps"]
    runs_per_width = len(PARAMETERIZATIONS) * seeds
    step_work = [elementwise_work(n * m, GD_STEP_PASSES, float64=True) + dispatch_work(GD_STEP_TORCH_OPS)
                 for m in widths]
    work = runs_per_width * steps * sum(step_work)
    memory = FLOAT64 * max(widths) * (max(GD_STEP_PASSES * n, 3 * TOY_TEST_POINTS) + 4 * 3)
    return [start_up(), PartCost(
        "width sweep: full-batch GD of every network", work, memory,
        f"2 parameterizations x seeds x steps x sum over widths m of ({GD_STEP_PASSES:g} passes over "
        f"n_train x m float64 + {GD_STEP_TORCH_OPS:g} torch ops)")]


