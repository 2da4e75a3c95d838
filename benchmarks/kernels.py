"""Time lsa_utils' kernels against neural-tangents on the same inputs, in the same process.

    make bench                      # = .venv/bin/python benchmarks/kernels.py
    .venv/bin/python benchmarks/kernels.py --repeats 5 --cases a,c --device cuda

Cases (float32, as neural-tangents computes by default; full NTK Gram matrices of random inputs):

(a) analytic NTK of Conv(64, 3x3, SAME)-ReLU-Conv(64, 3x3, SAME)-ReLU-GlobalAvgPool-Dense on 100
    16x16x1 images;
(b) analytic NTK of chapter 1's MNIST CNN (Conv(8, 3x3, stride 2, VALID)-ReLU-Conv(16, 3x3,
    stride 2, VALID)-ReLU-Flatten-Dense(10)) on 1,000 42x42 images;
(c) empirical NTK of a LeNet (Conv 6@5x5 SAME, ReLU, AvgPool 2, Conv 16@5x5 SAME, ReLU, AvgPool 2,
    Flatten, Dense 120, ReLU, Dense 84, ReLU, Dense 1) on 500 32x32x3 images, both libraries on
    the same weights;
(d) analytic NTK of Myrtle-5 (Shankar et al. 2020) on 8 32x32x3 images;
(e) analytic NTK of a WRN-10-1 (chapter 1's WideResNet, one residual block per group, without
    BatchNorm) on 40 16x16x3 images;
(f) analytic NTK of the CNTK-GAP of Arora et al. (2019) with 5 convolutions on 40 16x16x3 images;
(g) analytic NTK of a residual MLP (Dense 64, three blocks x + Dense(ReLU(Dense(ReLU(x)))), ReLU,
    Dense) on 2,000 inputs of dimension 64.

Each case runs once to warm up (XLA's jit, torch.compile), then ``--repeats`` times; the table
gives the median wall time of each library, the ratio, the largest difference between the two
Gram matrices relative to the largest entry, and our rate against the device's matrix-product
peak (``lsa_utils.experiments.kernel_speed``). The results go to
``results/benchmarks/kernels-<device>.json``, which the appendix chapter shows.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lsa_utils.devices import device_description, resolve_device, use_full_float32  # noqa: E402
from lsa_utils.experiments.kernel_speed import CASE_NAMES, matmul_peak, time_case, write_benchmark  # noqa: E402
from lsa_utils.run.executor import source_commit  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per library (median)")
    parser.add_argument("--cases", default=",".join(CASE_NAMES),
                        help=f"comma-separated subset of {','.join(CASE_NAMES)}")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in CASE_NAMES]
    if unknown or args.repeats < 1:
        parser.error(f"--cases must name cases among {', '.join(CASE_NAMES)} (got {unknown}); "
                     "--repeats must be >= 1")
    device = resolve_device(args.device)
    use_full_float32()
    peak = matmul_peak(device)
    print(f"{device_description(device)}: float32 matrix-product peak {peak / 1e9:.0f} GFLOP/s", flush=True)
    rows = []
    for case in cases:
        row = time_case(case, args.repeats, device, peak=peak)
        rows.append(row)
        rate = (f", {row['ops_per_s'] / 1e9:.1f} Gop/s = {100 * row['fraction_of_peak']:.1f}% of peak"
                if "ops_per_s" in row else "")
        print(f"{row['case']}: neural-tangents {row['neural_tangents_s']:.2f} s, lsa_utils "
              f"{row['lsa_utils_s']:.2f} s, speedup {row['speedup']:.1f}x, max rel diff "
              f"{row['max_rel_diff']:.1e}{rate}", flush=True)
    out = write_benchmark(device, rows, peak, args.repeats, source_commit())
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
