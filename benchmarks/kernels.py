"""Time lsa_utils' kernels against neural-tangents on the same inputs, in the same process.

    make bench                      # = .venv/bin/python benchmarks/kernels.py
    .venv/bin/python benchmarks/kernels.py --repeats 5 --cases a,c --device cuda

Cases (float32, as neural-tangents computes by default):

(a) analytic NTK of Conv(64, 3x3, SAME)-ReLU-Conv(64, 3x3, SAME)-ReLU-GlobalAvgPool-Dense on 100
    random 16x16x1 images: the full 100 x 100 Gram matrix;
(b) analytic NTK of chapter 1's MNIST CNN (Conv(8, 3x3, stride 2, VALID)-ReLU-Conv(16, 3x3,
    stride 2, VALID)-ReLU-Flatten-Dense(10)) on 1,000 random 42x42 images;
(c) empirical NTK of a LeNet (Conv 6@5x5 SAME, ReLU, AvgPool 2, Conv 16@5x5 SAME, ReLU, AvgPool 2,
    Flatten, Dense 120, ReLU, Dense 84, ReLU, Dense 1) on 500 random 32x32x3 images, both
    libraries on the same weights.

Each case runs once to warm up (XLA's jit, torch.compile), then ``--repeats`` times; the table
gives the median wall time of each library, the ratio and the largest difference between the two
Gram matrices relative to the largest entry. The results go to
``results/benchmarks/kernels-<device>.json``, which the appendix chapter shows.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lsa_utils.devices import device_description, resolve_device  # noqa: E402
from lsa_utils.experiments.kernel_checks import time_case_a, time_case_b, time_case_c  # noqa: E402
from lsa_utils.run.paths import project_root  # noqa: E402
from lsa_utils.run.results import write_json  # noqa: E402

CASES = {"a": (time_case_a, 100), "b": (time_case_b, 1000), "c": (time_case_c, 500)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per library (median)")
    parser.add_argument("--cases", default="a,b,c", help="comma-separated subset of a,b,c")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown or args.repeats < 1:
        parser.error(f"--cases must name cases among a, b, c (got {unknown}); --repeats must be >= 1")
    device = resolve_device(args.device)
    rows = []
    for case in cases:
        fn, n = CASES[case]
        row = fn(n, args.repeats, device)
        rows.append(row)
        print(f"{row['case']}: neural-tangents {row['neural_tangents_s']:.2f} s, lsa_utils "
              f"{row['lsa_utils_s']:.2f} s, speedup {row['speedup']:.1f}x, max rel diff "
              f"{row['max_rel_diff']:.1e}", flush=True)
    out = project_root() / "results" / "benchmarks" / f"kernels-{device.type}.json"
    write_json(out, {
        "device": device_description(device), "repeats": args.repeats, "dtype": "float32",
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": rows,
    })
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
