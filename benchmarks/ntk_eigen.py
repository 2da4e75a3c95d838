"""The top eigenpairs of an empirical NTK: matrix-free Lanczos against the dense Gram and eigh.

    .venv/bin/python benchmarks/ntk_eigen.py                       # N = 500 ... 4,000, 20 eigenpairs
    .venv/bin/python benchmarks/ntk_eigen.py --sizes 1000,10000 --count 100 --device cuda
    .venv/bin/python benchmarks/ntk_eigen.py --model lenet --sizes 2500,10000 --count 100
    .venv/bin/python benchmarks/ntk_eigen.py --model resnet18 --sizes 1000,4000,16000,60000 \\
        --count 100 --device cuda --budget-s 240                   # chapter 4's ResNet18, as far as 4 min go

``--model random-mlp`` (the default) is a 784 -> 100 -> 100 -> 1 ReLU MLP; ``mlp``, ``lenet`` and
``resnet18`` (base width ``--width``) are chapter 4's models (``make_binary_classifier``) on
CIFAR-10-shaped inputs (3 x 32 x 32), in eval mode (BatchNorm on the statistics of 512 inputs). The
inputs are standard normal, float32. For each N the table gives both paths' time, the memory each
must hold (dense: the N x N Gram matrix in float64 and the Jacobians of one pass, N x P in
float32; Lanczos: its Krylov basis, N x ncv in float64), the largest relative difference of the
eigenvalues and the largest principal angle between the two eigenspaces. The dense path is
skipped where its memory would exceed ``--dense-limit-gb`` or its time, extrapolated as N^3 from
the last size, ``--budget-s``; the sizes stop where the next one's Lanczos time, extrapolated
linearly in N from the last, would pass ``--budget-s``. Results go to
``results/benchmarks/ntk-eigen-<model>-<device>.json``.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

import torch
from torch import nn

from lsa_utils.devices import device_description, resolve_device
from lsa_utils.experiments.linearization import with_batch_statistics
from lsa_utils.kernels import empirical_ntk
from lsa_utils.kernels.eigen import ntk_eigenpairs, principal_angles
from lsa_utils.models.small_nets import BINARY_CLASSIFIERS, make_binary_classifier
from lsa_utils.run.executor import source_commit
from lsa_utils.run.paths import project_root
from lsa_utils.run.results import write_json

CIFAR_SHAPE = (3, 32, 32)


def benchmark_model(name: str, width: int) -> tuple[nn.Module, tuple[int, ...]]:
    """The network (eval mode, float32) and the shape of one input; BatchNorm on the statistics
    of 512 inputs, as chapter 4's ``with_batch_statistics`` sets them."""
    if name == "random-mlp":
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 1)), (784,)
    model = make_binary_classifier(name, CIFAR_SHAPE, torch.Generator().manual_seed(0), resnet_width=width)
    sample = torch.randn(512, *CIFAR_SHAPE, generator=torch.Generator().manual_seed(1))
    return with_batch_statistics(model, sample).eval(), CIFAR_SHAPE


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="random-mlp", choices=("random-mlp", *BINARY_CLASSIFIERS))
    parser.add_argument("--width", type=int, default=64, help="the ResNet18's base width")
    parser.add_argument("--sizes", default="500,1000,2000,4000", help="comma-separated N, increasing")
    parser.add_argument("--count", type=int, default=20, help="eigenpairs")
    parser.add_argument("--batch-size", type=int, default=512, help="inputs per pass of the NTK-vector product")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dense-limit-gb", type=float, default=4.0)
    parser.add_argument("--budget-s", type=float, default=None, help="skip sizes whose Lanczos would pass this")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    model, shape = benchmark_model(args.model, args.width)
    model = model.to(device)
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.model} ({params:,} parameters) on {device_description(device)}", flush=True)
    rows, last = [], None
    for n in (int(s) for s in args.sizes.split(",")):
        if args.budget_s is not None and last is not None and last["lanczos_s"] * n / last["n"] > args.budget_s:
            print(f"N = {n:,}: skipped (about {last['lanczos_s'] * n / last['n']:.0f} s, over --budget-s)", flush=True)
            break
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        x = torch.randn(n, *shape, generator=torch.Generator().manual_seed(n)).to(device)
        found = ntk_eigenpairs(model, x, args.count, batch_size=args.batch_size, tol=1e-6)
        ncv = min(n, max(2 * args.count + 1, 20))  # scipy's default Krylov dimension
        row = {"n": n, "count": args.count, "lanczos_s": round(found.seconds, 3), "products": found.products,
               "lanczos_bytes": n * ncv * 8, "dense_bytes": n * n * 8 + n * params * 4}
        if device.type == "cuda":
            row["peak_device_bytes"] = torch.cuda.max_memory_allocated(device)  # Lanczos alone
        dense_guess = None if last is None or "dense_s" not in last else last["dense_s"] * (n / last["n"]) ** 3
        if row["dense_bytes"] <= args.dense_limit_gb * 1e9 and (args.budget_s is None or dense_guess is None
                                                                 or dense_guess <= args.budget_s):
            begin = time.perf_counter()
            values, vectors = torch.linalg.eigh(empirical_ntk(model, x).double())
            row["dense_s"] = round(time.perf_counter() - begin, 3)
            values, vectors = values.flip(0)[:args.count].cpu(), vectors.flip(1)[:, :args.count].cpu()
            row["max_rel_eigenvalue_diff"] = float(((found.values - values).abs() / values.abs()).max())
            row["max_principal_angle"] = float(principal_angles(found.vectors, vectors).max())
        rows.append(row)
        last = row
        dense = (f"dense {row['dense_s']:.2f} s ({row['dense_bytes'] / 1e9:.2f} GB), eigenvalues to "
                 f"{row['max_rel_eigenvalue_diff']:.1e}, angle {row['max_principal_angle']:.1e}"
                 if "dense_s" in row else f"dense skipped ({row['dense_bytes'] / 1e9:.1f} GB)")
        print(f"N = {n:,}: Lanczos {row['lanczos_s']:.2f} s, {row['products']} products "
              f"({row['lanczos_bytes'] / 1e6:.1f} MB basis); {dense}", flush=True)
    out = project_root() / "results" / "benchmarks" / f"ntk-eigen-{args.model}-{device.type}.json"
    write_json(out, {"device": device_description(device), "model": args.model, "parameters": params,
                     "width": args.width if args.model == "resnet18" else None,
                     "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": source_commit(),
                     "rows": rows})
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
