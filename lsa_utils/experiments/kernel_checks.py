"""The kernel engine against neural-tangents: agreement (float64), for the appendix chapter ("The
kernels"); the speed comparison is ``lsa_utils.experiments.kernel_speed``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..kernels.architectures import cntk_gap_spec, myrtle_spec, wide_resnet_spec
from ..kernels.reference import max_relative_error, ours, stax_kernel_fn, to_nchw
from ..kernels.composition import serial
from ..run.data_plan import DataPlan, synthetic_plan

R, F, GAP = ("relu",), ("flatten",), ("gap",)

# name -> (spec, input shape (H, W, C) or (D,), parameterization)
AGREEMENT_ARCHITECTURES: dict[str, tuple[list[tuple], tuple[int, ...], str]] = {
    "MLP, 2 ReLU layers": ([("dense", 64, 1.4, 0.1), R, ("dense", 64, 1.4, 0.1), R, ("dense", 1, 1.0, 0.0)], (8,), "ntk"),
    "chapter-1 CNN (stride 2, Flatten)": (
        [("conv", 8, 3, 2, "VALID", 1.0, 0.0), R, ("conv", 16, 3, 2, "VALID", 1.0, 0.0), R, F,
         ("dense", 10, 1.0, 0.0)], (13, 13, 1), "ntk"),
    "CNN, global average pool": (
        [("conv", 16, 3, 1, "SAME", 1.4, 0.1), R, ("conv", 16, 3, 1, "SAME", 1.4, 0.1), R, GAP,
         ("dense", 1, 1.0, 0.0)], (8, 8, 1), "ntk"),
    "LeNet-like, average pools": (
        [("conv", 6, 5, 1, "SAME", 1.0, 0.1), R, ("avgpool", 2, 2, "VALID"), ("conv", 16, 5, 1, "SAME", 1.0, 0.1),
         R, ("avgpool", 2, 2, "VALID"), F, ("dense", 32, 1.0, 0.1), R, ("dense", 1, 1.0, 0.0)], (8, 8, 3), "ntk"),
    "CNN with erf, standard parameterization": (
        [("conv", 8, 3, 1, "SAME", 1.2, 0.3), ("erf",), ("conv", 8, 2, 1, "VALID", 1.2, 0.3), ("erf",), F,
         ("dense", 1, 1.0, 0.1)], (6, 6, 2), "standard"),
    "residual CNN (x + f(x)), LeakyReLU, global average pool": (
        [("conv", 16, 3, 1, "SAME", 1.4, 0.1), ("fanout", 2),
         ("parallel", [("leakyrelu", 0.1), ("conv", 16, 3, 1, "SAME", 1.4, 0.1)], [("identity",)]), ("faninsum",),
         ("leakyrelu", 0.1), GAP, ("dense", 1, 1.0, 0.0)], (8, 8, 1), "ntk"),
    "WRN-10-2 (chapter 1's network without BatchNorm)": (wide_resnet_spec(10, 2, 1), (8, 8, 3), "ntk"),
    "Myrtle-5": (myrtle_spec(5, image_size=8, num_classes=1), (8, 8, 3), "ntk"),
    "CNTK-GAP, depth 3": (cntk_gap_spec(3), (8, 8, 3), "ntk"),
    "MLP, GELU and LayerNorm, standard parameterization": (
        [("dense", 32, 1.5, 0.2), ("layernorm",), ("gelu",), ("dense", 32, 1.2, 0.1), ("gelu",),
         ("dense", 1, 1.0, 0.0)], (6,), "standard"),
}

def agreement_with_neural_tangents(n_inputs: int, seed: int = 0):
    """Gram matrices of every ``AGREEMENT_ARCHITECTURES`` entry by both libraries, float64.

    Returns ``(table, pairs)``: a DataFrame (architecture, get, max_rel_error) and a dict
    ``(architecture, get) -> (ours, theirs)`` of the two ``(n_inputs, n_inputs)`` matrices.
    """
    import pandas as pd
    from jax.experimental import enable_x64

    rng = np.random.default_rng(seed)
    rows, pairs = [], {}
    with enable_x64(), warnings.catch_warnings():
        # stax warns at every fan-in that it does not check the branches' independence; ours checks
        warnings.filterwarnings("ignore", message="`FanIn` layers assume independent inputs")
        for name, (spec, shape, param) in AGREEMENT_ARCHITECTURES.items():
            x = rng.standard_normal((n_inputs, *shape))
            kernel, kernel_fn = serial(*ours(spec, param)), stax_kernel_fn(spec, param)
            for get in ("nngp", "ntk"):
                mine = kernel(to_nchw(x), get=get).numpy()
                theirs = np.asarray(kernel_fn(x, None, get))
                pairs[(name, get)] = (mine, theirs)
                rows.append({"architecture": name, "get": get, "max_rel_error": max_relative_error(mine, theirs)})
    return pd.DataFrame(rows), pairs


def load_benchmark_table(device_type: str = "cpu") -> dict | None:
    """The last ``make bench`` result, ``results/benchmarks/kernels-<device>.json``, if any."""
    from ..run.paths import project_root
    from ..run.results import read_json

    path = project_root() / "results" / "benchmarks" / f"kernels-{device_type}.json"
    return read_json(path) if path.is_file() else None


def plan_data(params: dict, inventories=None) -> DataPlan:
    """The appendix uses random inputs: its sizes run as given (``lsa_utils.run.data_plan``)."""
    return synthetic_plan(params)
