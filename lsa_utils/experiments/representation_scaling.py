"""Chapter 2's scaling experiments: the sample complexity as an exponent in d (Damian, Lee and
Soltanolkotabi 2022, Theorem 1), transfer across d (their Section 5), and Algorithm 1's label
preprocessing against none.

``n*(d)`` is the smallest n at which a curve measured on a grid of n (one seed's test MSE, or
the energy of ``W_1`` in span(U)) crosses a fixed level, interpolated linearly in
``(log n, log value)`` between the two grid points around the crossing. The exponent is the
least-squares slope of ``log n*`` against ``log d`` over every (d, seed), with a t interval.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.multi_index import HermiteLink, MultiIndexTask, random_orthonormal_rows
from ..seeding import derived_seed
from ..validation import check_positive_float
from .representation import run_methods, transfer


def sample_sizes(d: int, n_points: int, n_max_factor: float) -> list[int]:
    """The training-set sizes of dimension ``d``: ``n_points`` log-spaced from ``d`` to
    ``n_max_factor * d^2``, and every ``2^k d^2`` (k >= -2) up to it, where the crossings of the
    exponent experiment lie (factor-2 steps keep its interpolation short)."""
    top = n_max_factor * d * d
    grid = {int(round(v)) for v in np.geomspace(d, top, n_points)}
    grid |= {int(d * d * 2.0**k) for k in range(-2, 1 + int(math.floor(math.log2(n_max_factor))))}
    return sorted(n for n in grid if d <= n <= top)


def crossing_n(ns, values, level: float, falling: bool = True) -> float:
    """The first n at which ``values`` (measured at the increasing sizes ``ns``) go below
    ``level`` (``falling``) or above it, interpolated linearly in ``(log n, log value)``.

    NaN when the curve never crosses on the grid, or is already past the level at the first n
    (then the crossing lies below the grid and cannot be located).
    """
    check_positive_float("level", level)
    ns, values = np.asarray(ns, dtype=float), np.asarray(values, dtype=float)
    past = values < level if falling else values > level
    if not past.any() or past[0]:
        return float("nan")
    i = int(np.argmax(past))
    x0, x1 = math.log(ns[i - 1]), math.log(ns[i])
    y0, y1, y = math.log(values[i - 1]), math.log(values[i]), math.log(level)
    return math.exp(x0 + (y - y0) * (x1 - x0) / (y1 - y0))


def _least_squares(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ordinary least squares of ``y`` on the columns of ``design``: the coefficients and their
    covariance (residual variance with ``len(y) - columns`` degrees of freedom)."""
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    dof = len(y) - design.shape[1]
    return coef, float(residual @ residual) / dof * np.linalg.inv(design.T @ design)


def _fitted_points(d, n_star) -> tuple[np.ndarray, np.ndarray] | None:
    """The finite points of ``(d, n_star)``, or None with fewer than 3 of them or one d only."""
    d, n_star = np.asarray(d, dtype=float), np.asarray(n_star, dtype=float)
    keep = np.isfinite(n_star)
    if keep.sum() < 3 or np.unique(d[keep]).size < 2:
        return None
    return d[keep], n_star[keep]


def fit_exponent(d, n_star, confidence: float = 0.95) -> dict:
    """Least-squares fit of ``log n* = c + s log d`` over all points (NaN points dropped).

    Returns ``slope``, its ``low``/``high`` two-sided t interval at ``confidence`` (degrees of
    freedom = points - 2), ``intercept`` and ``points`` (used). With fewer than 3 points, or one
    d only, every number is NaN.
    """
    from scipy.stats import t as student_t

    points = _fitted_points(d, n_star)
    if points is None:
        used = int(np.isfinite(np.asarray(n_star, dtype=float)).sum())
        return dict(slope=math.nan, low=math.nan, high=math.nan, intercept=math.nan, points=used)
    x, y = np.log(points[0]), np.log(points[1])
    (slope, intercept), cov = _least_squares(np.stack([x, np.ones_like(x)], axis=1), y)
    half = float(student_t.ppf(0.5 + confidence / 2, len(x) - 2)) * math.sqrt(cov[0, 0])
    return dict(slope=float(slope), low=float(slope - half), high=float(slope + half), intercept=float(intercept),
                points=int(len(x)))


def fit_square_plus_constant(d, n_star) -> dict:
    """Least-squares fit of ``n* = a d^2 + b`` (NaN points dropped): Theorem 1's d² cost of
    finding U plus a cost that does not grow with d. Returns ``a``, ``b``, their standard errors
    ``a_se``, ``b_se`` and ``points``; NaN with fewer than 3 points, or one d only."""
    points = _fitted_points(d, n_star)
    if points is None:
        used = int(np.isfinite(np.asarray(n_star, dtype=float)).sum())
        return dict(a=math.nan, b=math.nan, a_se=math.nan, b_se=math.nan, points=used)
    d, n_star = points
    (a, b), cov = _least_squares(np.stack([d**2, np.ones_like(d)], axis=1), n_star)
    return dict(a=float(a), b=float(b), a_se=float(math.sqrt(cov[0, 0])), b_se=float(math.sqrt(cov[1, 1])),
                points=len(d))


def crossings(rows: list[dict], column: str, level: float, falling: bool = True) -> list[dict]:
    """``n*`` of every (d, rep) curve of ``column`` in ``rows`` (records with d, rep, n)."""
    out = []
    for d, rep in sorted({(r["d"], r["rep"]) for r in rows}):
        curve = sorted((r["n"], r[column]) for r in rows
                       if r["d"] == d and r["rep"] == rep and r.get(column) is not None and np.isfinite(r[column]))
        n_star = crossing_n([n for n, _ in curve], [v for _, v in curve], level, falling) if curve else math.nan
        out.append(dict(d=d, rep=rep, n_star=n_star))
    return out


def exponent(rows: list[dict], column: str, level: float, falling: bool = True) -> dict:
    """``fit_exponent`` of the crossings of ``column`` at ``level``, with the crossings, their
    number (``curves``; ``points`` of them were inside the sweep and fitted) and
    ``fit_square_plus_constant`` of the same crossings (``square``)."""
    points = crossings(rows, column, level, falling)
    d, n_star = [p["d"] for p in points], [p["n_star"] for p in points]
    return dict(fit_exponent(d, n_star), crossings=points, curves=len(points), square=fit_square_plus_constant(d, n_star))


def transfer_across_d(d_values: list[int], source: HermiteLink, target: HermiteLink, n_source_factor: float,
                      n_targets: list[int], m: int, seeds: int, n_val: int, n_test: int, row_norm: float = 1.0,
                      bias_std: float = 1.0, noise_std: float = 0.0, seed: int = 0,
                      device: torch.device | str = "cpu", progress: bool = True) -> list[dict]:
    """Experiment 3 at every d: ``transfer`` with ``n_source_factor * d^2`` source samples and the
    same target sizes ``n_targets`` (the theorem's target cost does not depend on d). Rows carry d."""
    rows = []
    for d in tqdm(d_values, desc="transfer across d", disable=not progress):
        rows += transfer(d, source, target, int(n_source_factor * d * d), n_targets, m, seeds, n_val, n_test,
                         row_norm=row_norm, bias_std=bias_std, noise_std=noise_std, seed=derived_seed(4, seed, d),
                         device=device, progress=False)
    return rows


def preprocessing_comparison(d: int, links: dict[str, HermiteLink], n_factors: list[float], m: int, seeds: int,
                             n_val: int, n_test: int, row_norm: float = 1.0, bias_std: float = 1.0,
                             noise_std: float = 0.0, seed: int = 0, device: torch.device | str = "cpu",
                             progress: bool = True) -> list[dict]:
    """Algorithm 1 with and without its step 0 (``LinearPart``) on each target of ``links``
    (name -> link), at ``n = factor * d^2`` for each of ``n_factors``: the network's test MSE and
    the representation metrics of ``W_1``. The two runs of one (target, seed, n) share U, the
    samples, W_0 and the biases, so their difference is the preprocessing alone."""
    jobs = [(name, s, f) for name in links for s in range(seeds) for f in n_factors]
    rows = []
    for name, s, f in tqdm(jobs, desc="preprocessing", disable=not progress):
        u = random_orthonormal_rows(links[name].r, d, torch.Generator().manual_seed(derived_seed(5, seed, d, s)))
        task = MultiIndexTask(u.to(device), links[name], noise_std)
        n = int(f * d * d)
        for preprocess in (True, False):
            row = run_methods(task, n, m, seed=derived_seed(5, seed, s, n), n_val=n_val, n_test=n_test,
                              row_norm=row_norm, bias_std=bias_std, methods=("network",), device=device,
                              preprocess=preprocess)
            rows.append(dict(row, target=name, preprocess=preprocess, rep=s, n_factor=f))
    return rows
