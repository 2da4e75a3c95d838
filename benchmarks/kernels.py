"""Time lsa_utils' kernels against neural-tangents on the same inputs, in the same process.

    .venv/bin/python benchmarks/kernels.py [--repeats 3] [--cases a,b,c] [--device cpu]

Cases (float32, as neural-tangents computes by default):

(a) analytic NTK of Conv(64, 3x3, SAME)-ReLU-Conv(64, 3x3, SAME)-ReLU-GlobalAvgPool-Dense on 100
    random 16x16x1 images: the full 100 x 100 Gram matrix;
(b) analytic NTK of chapter 1's MNIST CNN (Conv(8, 3x3, stride 2, VALID)-ReLU-Conv(16, 3x3,
    stride 2, VALID)-ReLU-Flatten-Dense(10)) on 1,000 random 42x42 images;
(c) empirical NTK of a LeNet (Conv 6@5x5 SAME, ReLU, AvgPool 2, Conv 16@5x5 SAME, ReLU, AvgPool 2,
    Flatten, Dense 120, ReLU, Dense 84, ReLU, Dense 1) on 500 random 32x32x3 images, both
    libraries on the same weights.

Each case runs once to warm up (compilation: XLA's jit, torch.compile) and then ``repeats`` times;
the table reports the median wall time of each library, the ratio, and the largest difference
between the two Gram matrices relative to the largest entry. Results go to
``results/benchmarks/kernels-<device>.json`` (read by the appendix chapter).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lsa_utils.devices import device_description, resolve_device  # noqa: E402
from lsa_utils.kernels import (  # noqa: E402
    Conv, Dense, Flatten, GlobalAvgPool, Relu, empirical_ntk, serial,
)
from lsa_utils.models.ntk_layers import NHWCFlatten, NTKConv, NTKDense  # noqa: E402
from lsa_utils.run.paths import project_root  # noqa: E402
from lsa_utils.run.results import write_json  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, list[float], object]:
    fn()  # warm-up: compilation and first-touch allocations
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out


def case_a(device):
    from neural_tangents import stax

    x = np.random.default_rng(0).standard_normal((100, 16, 16, 1)).astype(np.float32)
    nt_layers = [stax.Conv(64, (3, 3), padding="SAME"), stax.Relu(), stax.Conv(64, (3, 3), padding="SAME"),
                 stax.Relu(), stax.GlobalAvgPool(), stax.Dense(1)]
    ours = serial(Conv(64, 3), Relu(), Conv(64, 3), Relu(), GlobalAvgPool(), Dense(1))
    return "(a) Conv64-ReLU-Conv64-ReLU-GAP-Dense, 100 x 16x16x1, analytic NTK", x, nt_layers, ours


def case_b(device):
    from neural_tangents import stax

    x = np.random.default_rng(1).standard_normal((1000, 42, 42, 1)).astype(np.float32)
    nt_layers = [stax.Conv(8, (3, 3), (2, 2), "VALID"), stax.Relu(), stax.Conv(16, (3, 3), (2, 2), "VALID"),
                 stax.Relu(), stax.Flatten(), stax.Dense(10)]
    ours = serial(Conv(8, 3, 2, "VALID"), Relu(), Conv(16, 3, 2, "VALID"), Relu(), Flatten(), Dense(10))
    return "(b) chapter-1 MNIST CNN, 1,000 x 42x42x1, analytic NTK", x, nt_layers, ours


def analytic_case(build, device, repeats):
    import jax

    name, x, nt_layers, ours = build(device)
    from neural_tangents import stax

    _, _, kernel_fn = stax.serial(*nt_layers)
    nt_fn = jax.jit(kernel_fn, static_argnames="get")
    xt = torch.from_numpy(np.moveaxis(x, -1, 1).copy()).to(device)
    nt_time, nt_times, nt_out = timed(lambda: np.asarray(nt_fn(x, None, get="ntk")), repeats)

    def run_ours():
        out = ours(xt)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    our_time, our_times, our_out = timed(run_ours, repeats)
    return name, nt_time, nt_times, np.asarray(nt_out), our_time, our_times, our_out.cpu().numpy()


def lenet_pair(seed: int = 0):
    """A stax LeNet and its torch twin carrying the same weights (NTK parameterization)."""
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


def case_c(device, repeats):
    import jax
    import neural_tangents as nt

    x = np.random.default_rng(2).standard_normal((500, 32, 32, 3)).astype(np.float32)
    apply_fn, params, model = lenet_pair()
    model = model.float().to(device)
    nt_fn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0))
    xt = torch.from_numpy(np.moveaxis(x, -1, 1).copy()).to(device)
    nt_time, nt_times, nt_out = timed(lambda: np.asarray(nt_fn(x, None, params)), repeats)

    def run_ours():
        out = empirical_ntk(model, xt)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    our_time, our_times, our_out = timed(run_ours, repeats)
    name = "(c) LeNet, 500 x 32x32x3, empirical NTK"
    return name, nt_time, nt_times, np.asarray(nt_out), our_time, our_times, our_out.detach().cpu().numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default="a,b,c")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.set_float32_matmul_precision("highest")
    rows = []
    for case in args.cases.split(","):
        if case == "a":
            result = analytic_case(case_a, device, args.repeats)
        elif case == "b":
            result = analytic_case(case_b, device, args.repeats)
        elif case == "c":
            result = case_c(device, args.repeats)
        else:
            raise SystemExit(f"--cases: unknown case {case!r}; allowed: a, b, c")
        name, nt_time, nt_times, nt_out, our_time, our_times, our_out = result
        diff = float(np.max(np.abs(our_out - nt_out)) / np.max(np.abs(nt_out)))
        rows.append({
            "case": name, "neural_tangents_s": round(nt_time, 3), "lsa_utils_s": round(our_time, 3),
            "speedup": round(nt_time / our_time, 2), "max_rel_diff": diff,
            "neural_tangents_runs_s": [round(t, 3) for t in nt_times],
            "lsa_utils_runs_s": [round(t, 3) for t in our_times],
        })
        print(f"{name}: neural-tangents {nt_time:.2f} s, lsa_utils {our_time:.2f} s, "
              f"speedup {nt_time / our_time:.1f}x, max rel diff {diff:.1e}", flush=True)
    out = project_root() / "results" / "benchmarks" / f"kernels-{device.type}.json"
    write_json(out, {
        "device": device_description(device), "repeats": args.repeats, "dtype": "float32",
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": rows,
    })
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
