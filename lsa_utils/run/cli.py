"""Command line: ``python -m lsa_utils {list,run,book,data}``.

Examples::

    python -m lsa_utils list
    python -m lsa_utils run lazy_vs_rich --scale paper --device cuda -p seed=3
    python -m lsa_utils run all --scale smoke --force
    python -m lsa_utils book --scale default
    python -m lsa_utils data fetch mnist cifar10 --dir ~/data
    python -m lsa_utils gpu-check                     # on a CUDA machine (make gpu-check)
    python -m lsa_utils plan                          # every chapter's paper scale: work, memory, time
    python -m lsa_utils plan linearization --scale paper   # one chapter, part by part
"""

from __future__ import annotations

import argparse
import ast
import sys
from typing import Any

from .chapters import CHAPTERS, SCALES


def parse_override(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)``; the value is a Python literal when it parses as one."""
    if "=" not in text:
        raise ValueError(f"-p {text!r} is not allowed; write -p key=value, e.g. -p seed=3")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lsa_utils", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the chapters, their parameters and scales")

    run = sub.add_parser("run", help="execute one chapter (or 'all') through papermill")
    run.add_argument("chapter", help=f"one of: {', '.join(CHAPTERS)}, all")
    run.add_argument("--scale", default="default", help=f"one of: {', '.join(SCALES)}")
    run.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: auto)")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter of the chapter (repeatable)")
    run.add_argument("--force", action="store_true", help="rerun even if the cache is up to date")
    run.add_argument("--progress", action="store_true", help="show papermill's progress bar over cells")

    book = sub.add_parser("book", help="execute every chapter (cached) and build the HTML book")
    book.add_argument("--scale", default="default", help=f"one of: {', '.join(SCALES)}")
    book.add_argument("--force", action="store_true", help="re-execute every chapter")
    book.add_argument("--out", default=None, help="folder to build in; the HTML goes to OUT/_build/html (default: the project root)")

    gpu = sub.add_parser("gpu-check", help="run every chapter's smoke sizes and the kernels on a GPU, "
                         "compared with the CPU smoke runs (lsa_utils/run/gpu_check.py)")
    gpu.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu to try the script on the CPU")
    gpu.add_argument("--chapters", default=",".join(CHAPTERS), help="comma-separated chapters (default: all)")
    gpu.add_argument("--cases", default=None, help="comma-separated `make bench` cases (default: all; '' for none)")
    gpu.add_argument("--dtypes", default="float32,float64", help="the kernels' dtypes")
    gpu.add_argument("--bench-budget", type=float, default=None, help="seconds per case and dtype (default 8)")
    gpu.add_argument("--deadline", type=float, default=None, help="seconds the whole check aims at (default 570)")
    gpu.add_argument("--no-bench-compare", action="store_true", help="never time neural-tangents, even where it imports")
    gpu.add_argument("--reference", default=None, help="project folder holding the CPU smoke runs (default: this one)")
    gpu.add_argument("--out", default=None, help="where the record goes (default: results/gpu-check)")
    gpu.add_argument("--seed", type=int, default=0)

    plan = sub.add_parser("plan", help="estimate a scale's work, memory and time without running it "
                          "(lsa_utils/run/scale_plan)")
    plan.add_argument("chapter", nargs="?", default=None, help="one chapter, part by part (default: the paper table)")
    plan.add_argument("--scale", default="paper", help=f"one of: {', '.join(SCALES)}")

    from ..data import fetch as data_fetch  # standard library only; pooch is imported when it runs

    data = sub.add_parser("data", help="manage the real image data sets (MNIST, CIFAR-10)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download and verify MNIST and/or CIFAR-10",
                                description=data_fetch.DESCRIPTION)
    data_fetch.add_arguments(fetch)
    return parser


def _list() -> None:
    for chapter in CHAPTERS.values():
        print(f"{chapter.name}: {chapter.title} ({chapter.notebook})")
        params = [n for n in chapter.parameter_names if n != "scale"]
        print(f"  parameters (-p key=value; the scale with --scale): {', '.join(params)}")
        for scale in SCALES:
            sizes = ", ".join(f"{k}={v}" for k, v in chapter.sizes(scale).items())
            print(f"  {scale} [{chapter.run_time.get(scale, '?')}]: {sizes}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            _list()
        elif args.command == "run":
            from .executor import run_chapters

            overrides = dict(parse_override(t) for t in args.param)
            if args.device is not None:
                overrides["device"] = args.device
            if args.seed is not None:
                overrides["seed"] = args.seed
            names = list(CHAPTERS) if args.chapter == "all" else [args.chapter]
            run_chapters(names, args.scale, overrides, force=args.force, progress=args.progress)
        elif args.command == "book":
            from .book import build_book

            index = build_book(args.scale, out=args.out, force=args.force)
            print(f"book built: {index}")
        elif args.command == "gpu-check":
            from .gpu_check import DEFAULT_BENCH_BUDGET_S, DEFAULT_DEADLINE_S, gpu_check

            record = gpu_check(
                args.device, chapters=[c for c in args.chapters.split(",") if c],
                cases=None if args.cases is None else [c for c in args.cases.split(",") if c],
                dtypes=tuple(d for d in args.dtypes.split(",") if d),
                bench_budget_s=DEFAULT_BENCH_BUDGET_S if args.bench_budget is None else args.bench_budget,
                out=args.out, reference=args.reference, seed=args.seed, bench_compare=not args.no_bench_compare,
                deadline_s=DEFAULT_DEADLINE_S if args.deadline is None else args.deadline,
            )
            return 0 if record["passed"] else 1
        elif args.command == "plan":
            from .scale_plan import estimate, paper_table, part_table

            if args.chapter is None and args.scale == "paper":
                print(paper_table())
            else:
                for name in [args.chapter] if args.chapter else list(CHAPTERS):
                    print(part_table(estimate(name, args.scale)))
        elif args.command == "data":
            from ..data.fetch import run_command

            run_command(args)
    except (ValueError, OSError, RuntimeError) as err:  # OSError: FileNotFoundError, PermissionError, ...
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a chapter's own failure (papermill's PapermillExecutionError)
        if type(err).__name__ != "PapermillExecutionError":
            raise
        print(f"error: the notebook failed; see the .failed.ipynb next to its output.\n{err}", file=sys.stderr)
        return 1
    return 0
