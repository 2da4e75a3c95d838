"""The kernel engine against neural-tangents: agreement (float64) and speed (float32).

Used by the appendix chapter ("The kernels") and by ``benchmarks/kernels.py`` (``make bench``).
Speed is always measured in one process, on the same inputs, after one warm-up run of each
library (XLA's jit, ``torch.compile``), as the median of ``repeats`` runs.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from ..kernels.architectures import myrtle_spec, wide_resnet_spec
from ..kernels.empirical import empirical_ntk
from ..kernels.reference import max_relative_error, ours, stax_kernel_fn, to_nchw
from ..kernels.composition import serial
from ..models.ntk_layers import NHWCFlatten, NTKConv, NTKDense
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
}

CASE_A = [("conv", 64, 3, 1, "SAME", 1.0, 0.0), R, ("conv", 64, 3, 1, "SAME", 1.0, 0.0), R, GAP, ("dense", 1, 1.0, 0.0)]
CASE_B = [("conv", 8, 3, 2, "VALID", 1.0, 0.0), R, ("conv", 16, 3, 2, "VALID", 1.0, 0.0), R, F, ("dense", 10, 1.0, 0.0)]


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


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, list[float], object]:
    """Median wall time of ``repeats`` calls after one warm-up call; also all times and the output."""
    fn()
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out


def _synchronised(fn, device: torch.device):
    def run():
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    return run


def compare_timing(name: str, nt_fn, our_fn, repeats: int, device: torch.device) -> dict:
    """Time both libraries (see the module docstring) and compare their Gram matrices."""
    nt_time, nt_times, nt_out = timed(lambda: np.asarray(nt_fn()), repeats)
    our_time, our_times, our_out = timed(_synchronised(our_fn, device), repeats)
    our_out = our_out.detach().cpu().numpy()
    return {
        "case": name,
        "neural_tangents_s": round(nt_time, 3),
        "lsa_utils_s": round(our_time, 3),
        "speedup": round(nt_time / our_time, 2),
        "max_rel_diff": max_relative_error(our_out, np.asarray(nt_out)),
        "neural_tangents_runs_s": [round(t, 3) for t in nt_times],
        "lsa_utils_runs_s": [round(t, 3) for t in our_times],
    }


def time_analytic(name: str, spec: list[tuple], x: np.ndarray, repeats: int, device: torch.device) -> dict:
    """Time the full NTK Gram matrix of ``spec`` on NHWC inputs ``x`` (float32) in both libraries."""
    import jax

    nt_fn = jax.jit(stax_kernel_fn(spec), static_argnames="get")
    kernel, xt = serial(*ours(spec)), to_nchw(x).to(device)
    return compare_timing(name, lambda: nt_fn(x, None, get="ntk"), lambda: kernel(xt), repeats, device)


def time_case_a(n_images: int, repeats: int, device: torch.device, seed: int = 0) -> dict:
    """Benchmark case (a) on ``n_images`` random 16x16x1 images."""
    x = np.random.default_rng(seed).standard_normal((n_images, 16, 16, 1)).astype(np.float32)
    name = f"(a) Conv64-ReLU-Conv64-ReLU-GAP-Dense, {n_images} x 16x16x1, analytic NTK"
    return time_analytic(name, CASE_A, x, repeats, device)


def time_case_b(n_images: int, repeats: int, device: torch.device, seed: int = 1) -> dict:
    """Benchmark case (b): chapter 1's MNIST CNN on ``n_images`` random 42x42 images."""
    x = np.random.default_rng(seed).standard_normal((n_images, 42, 42, 1)).astype(np.float32)
    name = f"(b) chapter-1 MNIST CNN, {n_images:,} x 42x42x1, analytic NTK"
    return time_analytic(name, CASE_B, x, repeats, device)


def lenet_pair(seed: int = 0):
    """A stax LeNet (one output) and its torch twin carrying the same weights (NTK param.)."""
    from jax import random
    from neural_tangents import stax

    init_fn, apply_fn, _ = stax.serial(
        stax.Conv(6, (5, 5), padding="SAME", b_std=1.0), stax.Relu(), stax.AvgPool((2, 2), (2, 2)),
        stax.Conv(16, (5, 5), padding="SAME", b_std=1.0), stax.Relu(), stax.AvgPool((2, 2), (2, 2)),
        stax.Flatten(), stax.Dense(120, b_std=1.0), stax.Relu(), stax.Dense(84, b_std=1.0), stax.Relu(),
        stax.Dense(1, b_std=1.0),
    )
    _, params = init_fn(random.PRNGKey(seed), (-1, 32, 32, 3))
    (c1w, c1b), _, _, (c2w, c2b), _, _, _, (d1w, d1b), _, (d2w, d2b), _, (d3w, d3b) = params
    model = torch.nn.Sequential(
        NTKConv(c1w, c1b), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        NTKConv(c2w, c2b), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        NHWCFlatten(), NTKDense(d1w, d1b), torch.nn.ReLU(), NTKDense(d2w, d2b), torch.nn.ReLU(),
        NTKDense(d3w, d3b),
    )
    return apply_fn, params, model


def time_case_c(n_images: int, repeats: int, device: torch.device, seed: int = 2) -> dict:
    """Benchmark case (c): empirical NTK of a LeNet on ``n_images`` random 32x32x3 images."""
    import jax
    import neural_tangents as nt

    x = np.random.default_rng(seed).standard_normal((n_images, 32, 32, 3)).astype(np.float32)
    apply_fn, params, model = lenet_pair()
    model = model.float().to(device)
    nt_fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0))
    xt = to_nchw(x).to(device)
    name = f"(c) LeNet, {n_images} x 32x32x3, empirical NTK"
    return compare_timing(name, lambda: nt_fn(x, None, params), lambda: empirical_ntk(model, xt), repeats, device)


def load_benchmark_table(device_type: str = "cpu") -> dict | None:
    """The last ``make bench`` result, ``results/benchmarks/kernels-<device>.json``, if any."""
    from ..run.paths import project_root
    from ..run.results import read_json

    path = project_root() / "results" / "benchmarks" / f"kernels-{device_type}.json"
    return read_json(path) if path.is_file() else None


def plan_data(params: dict, inventories=None) -> DataPlan:
    """The appendix uses random inputs: its sizes run as given (``lsa_utils.run.data_plan``)."""
    return synthetic_plan(params)
