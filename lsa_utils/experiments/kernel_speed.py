"""Speed of the kernel engine against neural-tangents, and against the machine's own limit.

Used by ``benchmarks/kernels.py`` (``make bench``) and the appendix chapter ("The kernels").
Speed is always measured in one process, on the same inputs, after one warm-up run of each
library (XLA's jit, ``torch.compile``), as the median of ``repeats`` runs, in float32.

Beside the ratio to neural-tangents, each case reports how far it is from the machine's limit:

- **peak**: the rate of a plain float32 matrix product on this device (``matmul_peak``), in
  floating-point operations per second, ``2 m n k / time``;
- **operations** of our computation (``count_operations``): ``2 m n k`` for every matrix product
  torch runs (as ``torch.utils.flop_counter`` counts them) and one per element for every other
  operation (the larger of its inputs' and outputs' sizes; views cost nothing). Elementwise work
  is memory-bound, so its fraction of the matrix-product peak is small by nature: the number
  says how much of the time goes to arithmetic a matrix unit could do. A convolution's backward
  pass counts twice its forward (the input and the weight gradients): under ``vmap`` (the
  per-input Jacobians of the empirical NTK) torch runs it as a grouped convolution, which
  ``torch.utils.flop_counter`` counts about 250 times too high on case (c). The rule overcounts
  the first convolution's input gradient, which is never computed (about a quarter of case (c)'s
  backward count). Allocations (``empty``, ``zeros``) count one per element; a pooling window
  counts one per output element, not one per element it reads.

For an analytic kernel the count is per pair of inputs: measured on small blocks with the
compiled fusion off, ``a`` in ``ops(n1, n2) = a n1 n2 + b (n1 + n2) + c`` from three block sizes,
then multiplied by the number of pairs the symmetric Gram computation evaluates (whole blocks on
and above the diagonal). The per-input work (the self pass, ``b``) is left out: it is O(n)
against the pairs' O(n^2), but not negligible for case (d)'s 8 images.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from ..kernels.architectures import cntk_gap_spec, myrtle_spec, wide_resnet_spec
from ..kernels.composition import SerialKernel, serial
from ..kernels.empirical import empirical_ntk
from ..kernels.reference import max_relative_error, ours, stax_kernel_fn, to_nchw
from ..models.ntk_layers import NHWCFlatten, NTKConv, NTKDense

R, F, GAP = ("relu",), ("flatten",), ("gap",)

CASE_A = [("conv", 64, 3, 1, "SAME", 1.0, 0.0), R, ("conv", 64, 3, 1, "SAME", 1.0, 0.0), R, GAP, ("dense", 1, 1.0, 0.0)]
CASE_B = [("conv", 8, 3, 2, "VALID", 1.0, 0.0), R, ("conv", 16, 3, 2, "VALID", 1.0, 0.0), R, F, ("dense", 10, 1.0, 0.0)]
RESIDUAL_MLP = [("dense", 64, 1.4, 0.1)] + 3 * [
    ("fanout", 2), ("parallel", [R, ("dense", 64, 1.4, 0.1), R, ("dense", 64, 1.4, 0.1)], [("identity",)]),
    ("faninsum",)] + [R, ("dense", 1, 1.0, 0.0)]

# case -> (description, spec, input shape (H, W, C) or (D,), default number of inputs, seed)
ANALYTIC_CASES: dict[str, tuple[str, list[tuple], tuple[int, ...], int, int]] = {
    "a": ("Conv64-ReLU-Conv64-ReLU-GAP-Dense", CASE_A, (16, 16, 1), 100, 0),
    "b": ("chapter-1 MNIST CNN (stride 2, Flatten)", CASE_B, (42, 42, 1), 1000, 1),
    "d": ("Myrtle-5", myrtle_spec(5, image_size=32, num_classes=1), (32, 32, 3), 8, 3),
    "e": ("WRN-10-1 (one block per group)", wide_resnet_spec(10, 1, 1), (16, 16, 3), 40, 4),
    "f": ("CNTK-GAP, depth 5", [layer for layer in cntk_gap_spec(5)], (16, 16, 3), 40, 5),
    "g": ("residual MLP (3 blocks, ReLU)", RESIDUAL_MLP, (64,), 2000, 6),
}
EMPIRICAL_CASES = {"c": ("LeNet, empirical NTK", (32, 32, 3), 500, 2)}
CASE_NAMES = tuple(sorted([*ANALYTIC_CASES, *EMPIRICAL_CASES]))


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


def matmul_peak(device: torch.device, size: int | None = None, repeats: int = 5) -> float:
    """Float32 operations per second of a plain ``size x size`` matrix product on ``device``
    (the best of ``repeats`` after a warm-up): ``2 size^3 / time``. ``size``: 2,048 on CPU,
    8,192 on a GPU (a smaller product does not fill a large GPU)."""
    size = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    run = _synchronised(lambda: a @ b, device)
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


class _OperationCounter(TorchDispatchMode):
    """Counts operations as the module docstring defines them."""

    def __init__(self):
        super().__init__()
        self.flops = FlopCounterMode(display=False)
        self.elementwise = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        packet = func._overloadpacket
        if packet in self.flops.flop_registry:
            return out
        tensors_in = [a for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        tensors_out = [o for o in torch.utils._pytree.tree_leaves(out) if isinstance(o, torch.Tensor)]
        storages = {t.untyped_storage().data_ptr() for t in tensors_in}
        if tensors_out and all(o.untyped_storage().data_ptr() in storages for o in tensors_out) \
                and not func._schema.is_mutable:
            return out  # a view
        self.elementwise += max([t.numel() for t in tensors_in + tensors_out], default=0)
        return out


def count_operations(fn: Callable[[], object]) -> int:
    """Operations (module docstring) of one call of ``fn``, with torch's compiled fusion off."""
    previous = os.environ.get("LSA_COMPILE")
    os.environ["LSA_COMPILE"] = "0"
    try:
        counter = _OperationCounter()
        with counter.flops, counter:
            fn()
    finally:
        if previous is None:
            del os.environ["LSA_COMPILE"]
        else:
            os.environ["LSA_COMPILE"] = previous
    by_op = {str(op).split(".")[-1]: n for op, n in counter.flops.get_flop_counts().get("Global", {}).items()}
    if "convolution_backward" in by_op:  # see the module docstring: twice the forward convolutions
        by_op["convolution_backward"] = 2 * by_op.get("convolution", 0)
    return int(sum(by_op.values())) + counter.elementwise


def operations_per_pair(kernel: SerialKernel, x: torch.Tensor, m: int = 4) -> float:
    """``a`` of ``ops(n1, n2) = a n1 n2 + b (n1 + n2) + c`` for one NTK Gram block (module
    docstring), from blocks of ``m x m``, ``m x 2m`` and ``2m x 2m`` inputs of ``x``."""
    if x.shape[0] < 2 * m:
        raise ValueError(f"operations_per_pair needs at least {2 * m} inputs; got {x.shape[0]}")
    ops = {(a, b): count_operations(lambda a=a, b=b: kernel(x[:a], x[:b])) for a, b in
           [(m, m), (m, 2 * m), (2 * m, 2 * m)]}
    return (ops[2 * m, 2 * m] - 2 * ops[m, 2 * m] + ops[m, m]) / m**2


def pairs_evaluated(kernel: SerialKernel, x: torch.Tensor) -> int:
    """Pairs of inputs the symmetric Gram computation ``kernel(x)`` evaluates: whole blocks of
    ``kernel.block_size`` on and above the diagonal."""
    layout, per_pair = kernel.plan(tuple(x.shape[1:]))
    block = kernel.block_size(per_pair, x.element_size(), x.device)
    sizes = [min(block, x.shape[0] - i) for i in range(0, x.shape[0], block)]
    return sum(a * b for i, a in enumerate(sizes) for b in sizes[i:])


def compare_timing(name: str, nt_fn, our_fn, repeats: int, device: torch.device,
                   operations: int | None = None, peak: float | None = None) -> dict:
    """Time both libraries (module docstring) and compare their Gram matrices; with
    ``operations`` and ``peak``, our rate and its fraction of the peak."""
    nt_time, nt_times, nt_out = timed(lambda: np.asarray(nt_fn()), repeats)
    our_time, our_times, our_out = timed(_synchronised(our_fn, device), repeats)
    our_out = our_out.detach().cpu().numpy()
    row = {
        "case": name,
        "neural_tangents_s": round(nt_time, 3),
        "lsa_utils_s": round(our_time, 3),
        "speedup": round(nt_time / our_time, 2),
        "max_rel_diff": max_relative_error(our_out, np.asarray(nt_out)),
        "neural_tangents_runs_s": [round(t, 3) for t in nt_times],
        "lsa_utils_runs_s": [round(t, 3) for t in our_times],
    }
    if operations is not None:
        row["operations"] = int(operations)
        row["ops_per_s"] = operations / our_time
        if peak:
            row["fraction_of_peak"] = row["ops_per_s"] / peak
    return row


def case_inputs(case: str, n_inputs: int | None = None) -> np.ndarray:
    """The random float32 inputs of ``case`` (NHWC or flat), ``n_inputs`` of them (default: the case's)."""
    table = ANALYTIC_CASES if case in ANALYTIC_CASES else EMPIRICAL_CASES
    if case not in table:
        raise ValueError(f"case={case!r} is not allowed; choose among {', '.join(CASE_NAMES)}")
    *_, shape, default_n, seed = table[case]
    n = default_n if n_inputs is None else n_inputs
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def case_name(case: str) -> str:
    """``"(a) Conv64-ReLU-Conv64-ReLU-GAP-Dense"``: the case's letter and architecture."""
    return f"({case}) {(EMPIRICAL_CASES if case in EMPIRICAL_CASES else ANALYTIC_CASES)[case][0]}"


def case_title(case: str, n: int) -> str:
    """The case's name, ``n`` inputs of its shape, and the kind of kernel."""
    shape = EMPIRICAL_CASES[case][1] if case in EMPIRICAL_CASES else ANALYTIC_CASES[case][2]
    kind = "empirical NTK" if case in EMPIRICAL_CASES else "analytic NTK"
    return f"{case_name(case)}, {n:,} x {'x'.join(map(str, shape))}, {kind}"


def write_benchmark(device: torch.device, rows: list[dict], peak: float, repeats: int, commit: str):
    """Write ``make bench``'s comparison rows to ``results/benchmarks/kernels-<device>.json``
    (what the appendix shows) and return the path."""
    from datetime import datetime, timezone

    from ..devices import device_description
    from ..run.paths import project_root
    from ..run.results import write_json

    out = project_root() / "results" / "benchmarks" / f"kernels-{device.type}.json"
    write_json(out, {"device": device_description(device), "repeats": repeats, "dtype": "float32",
                     "peak_flops": peak, "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "commit": commit, "rows": rows})
    return out


def time_case(case: str, repeats: int, device: torch.device, n_inputs: int | None = None,
              peak: float | None = None) -> dict:
    """Benchmark ``case`` (``CASE_NAMES``) on its random inputs in both libraries."""
    x = case_inputs(case, n_inputs)
    if case in EMPIRICAL_CASES:
        return _time_empirical(case_title(case, len(x)), x, repeats, device, peak)
    import jax

    spec = ANALYTIC_CASES[case][1]
    nt_fn = jax.jit(stax_kernel_fn(spec), static_argnames="get")
    kernel, xt = serial(*ours(spec)), to_nchw(x).to(device)
    operations = operations_per_pair(kernel, xt[:8]) * pairs_evaluated(kernel, xt) if len(x) >= 8 else None
    return compare_timing(case_title(case, len(x)), lambda: nt_fn(x, None, get="ntk"), lambda: kernel(xt),
                          repeats, device, operations, peak)


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


def _time_empirical(name: str, x: np.ndarray, repeats: int, device: torch.device, peak: float | None) -> dict:
    """Empirical NTK of a LeNet, both libraries on the same weights."""
    import jax
    import neural_tangents as nt

    apply_fn, params, model = lenet_pair()
    model = model.float().to(device)
    nt_fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0))
    xt = to_nchw(x).to(device)
    operations = count_operations(lambda: empirical_ntk(model, xt))
    return compare_timing(name, lambda: nt_fn(x, None, params), lambda: empirical_ntk(model, xt), repeats, device,
                          operations, peak)


def torch_lenet(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """Case (c)'s LeNet in torch alone (``lenet_pair``'s twin without neural-tangents): the same
    layers in NTK parameterization, weights and biases drawn i.i.d. N(0, 1) as stax draws them,
    from a numpy generator seeded with ``seed`` (other numbers than stax's for the same seed)."""
    rng = np.random.default_rng(seed)

    def conv(h, w, c_in, c_out):
        return NTKConv(rng.standard_normal((h, w, c_in, c_out)), rng.standard_normal(c_out))

    def dense(n_in, n_out):
        return NTKDense(rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out))

    model = torch.nn.Sequential(
        conv(5, 5, 3, 6), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        conv(5, 5, 6, 16), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        NHWCFlatten(), dense(16 * 8 * 8, 120), torch.nn.ReLU(), dense(120, 84), torch.nn.ReLU(), dense(84, 1),
    )
    return model.to(dtype)


def our_gram(case: str, n_inputs: int, device: torch.device, dtype: torch.dtype = torch.float32):
    """A function computing ``case``'s full NTK Gram matrix on its first ``n_inputs`` random
    inputs with lsa_utils alone (no neural-tangents), on ``device`` in ``dtype``."""
    x = to_nchw(case_inputs(case, n_inputs)).to(device=device, dtype=dtype)
    if case in EMPIRICAL_CASES:
        model = torch_lenet(EMPIRICAL_CASES[case][-1], dtype).to(device)
        return _synchronised(lambda: empirical_ntk(model, x), device)
    kernel = serial(*ours(ANALYTIC_CASES[case][1]))
    return _synchronised(lambda: kernel(x), device)


def _out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def _seconds_of(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


ONE_TIME_COST_FACTOR = 2.0  # a first call this many times slower than predicted is timed again


def largest_gram_within(case: str, device: torch.device, dtype: torch.dtype, budget_s: float,
                        start: int | None = None, max_inputs: int = 1_000_000) -> dict:
    """The largest Gram matrix of ``case`` that lsa_utils computes within ``budget_s`` seconds.

    Starting from ``start`` inputs (default: the case's benchmark size), computes the first Gram
    matrix once to warm up (not counted in the budget), then times one computation per size,
    doubling the number of inputs while the next size's predicted time (four times this one's:
    the pairs grow as n^2) fits what is left of the budget, up to ``max_inputs``; stops at the
    first size that runs out of memory. A size whose first call takes more than
    ``ONE_TIME_COST_FACTOR`` times its predicted time (the kernel engine compiles its fused steps
    once a block reaches ``COMPILE_MIN_ENTRIES`` entries, which can take tens of seconds) is timed
    a second time, and the second call counts, for the size and for the budget; both are recorded. Returns ``{"case", "name",
    "dtype", "sizes": [{"n", "seconds", "first_call_seconds", "peak_device_memory_bytes"}],
    "largest_n", "seconds_at_largest", "stopped": reason}``.
    """
    n = start or (EMPIRICAL_CASES[case][2] if case in EMPIRICAL_CASES else ANALYTIC_CASES[case][3])
    sizes, stopped, began = [], "", time.perf_counter()
    while True:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        try:
            fn = our_gram(case, n, device, dtype)
            if not sizes:
                fn()  # warm-up at the first size (torch.compile, the allocator), not counted
                began = time.perf_counter()
            first = seconds = _seconds_of(fn)
            if sizes and first > ONE_TIME_COST_FACTOR * 4 * sizes[-1]["seconds"] + 0.5:
                seconds = _seconds_of(fn)
                began += max(0.0, first - seconds)  # the one-time cost is not charged to the budget
        except (RuntimeError, MemoryError) as err:
            if not _out_of_memory(err):
                raise
            stopped = f"out of memory at {n:,} inputs"
            break
        sizes.append({"n": n, "seconds": round(seconds, 4), "first_call_seconds": round(first, 4),
                      "peak_device_memory_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None})
        left = budget_s - (time.perf_counter() - began)
        if 2 * n > max_inputs:
            stopped = f"reached the largest size asked for ({max_inputs:,} inputs)"
            break
        if 4 * seconds > left:
            stopped = f"the next size ({2 * n:,} inputs) would take about {4 * seconds:.1f} s, over the {left:.1f} s left"
            break
        n *= 2
    last = sizes[-1] if sizes else {"n": 0, "seconds": float("nan")}
    return {"case": case_title(case, last["n"]), "name": case_name(case), "dtype": str(dtype).replace("torch.", ""), "sizes": sizes,
            "largest_n": last["n"], "seconds_at_largest": last["seconds"], "stopped": stopped}
