"""Chapter 3's experiments: networks, random features and kernels on the XOR mixture.

Refinetti, Goldt, Krzakala and Zdeborova (ICML 2021). The network and its training are in
``lsa_utils.models.committee``, the order-parameter ODEs in ``xor_ode``, the data and the oracle
in ``lsa_utils.data.xor_mixture``. Here:

- ``simulate_networks``: many networks (noise levels x seeds) trained at once, with the
  population error (exact, from the order parameters) at log-spaced times ``t = steps / D``;
- random features ``z = relu(F^T x / sqrt(D))`` with ``p = gamma D`` columns of norm ``sqrt(D)``,
  readout by ridge regression (``ridge_classifier``) or by online SGD (``train_readout_online``);
- the kernel limit of those features, ``E_f[relu(f.x / sqrt(D)) relu(f.x' / sqrt(D))]`` with
  ``f ~ N(0, I_D)``: the arc-cosine kernel of degree 1 of ``x.x' / D``, which is the NNGP of the
  two-layer ReLU network (``two_layer_relu_kernel(get="nngp", b_std=0)``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.xor_mixture import XOR, Mixture, delta_from_inverse_snr, oracle_error, sample_streams, sample_xor_mixture
from ..kernels.arccos import two_layer_relu_kernel
from ..kernels.solve import feature_ridge_path, predict_in_blocks, ridge_path_coefficients
from ..models.committee import Committee, StepSchedule, init_committee, train_online_sgd
from ..seeding import derived_seed
from ..validation import check_positive_float, check_positive_int, check_positive_ints
from .rf_equivalence import classification_error, cluster_moments, equivalent_error, population_readout
from .xor_ode import (
    OrderParameters, informed_start, integrate_ode, largest_overlap, order_parameters, population_errors,
    relax_to_stationarity,
)
from ..run.data_plan import DataPlan, synthetic_plan

RIDGES = [10.0**e for e in range(-6, 3)]  # relative to the mean diagonal of the Gram matrix

# The chapter's independent random draws, each seeded by ``draw_seed(seed, name, ...)``.
DRAWS = ("data_figure", "networks", "width_sweep", "ode_base", "ode_base_check", "lazy", "rf_online",
         "rf_scaling", "kernel_scaling", "rf_theory", "budget", "mixture_networks", "mixture_rf", "mixture_theory")


def draw_seed(seed: int, draw: str, *coordinates: int) -> int:
    """The seed of one of the chapter's draws (``DRAWS``), from the chapter's ``seed`` and the
    draw's coordinates (D, n, a noise level by ``level_key``), by ``numpy.random.SeedSequence``:
    unlike ``seed + i``, no two draws share a stream. The number of coordinates is hashed too,
    so ``(draw)`` and ``(draw, 0)`` differ."""
    if draw not in DRAWS:
        raise ValueError(f"draw={draw!r} is not one of {DRAWS}")
    return derived_seed(seed, DRAWS.index(draw), len(coordinates), *coordinates)


def level_key(inverse_snr: float) -> int:
    """A noise level as a seed coordinate (1/SNR in thousandths), so that a level keeps its samples
    when others are added to or removed from the grid."""
    return int(round(1000 * inverse_snr))


def log_times(t_max: float, points: int, t_min: float = 0.05) -> list[float]:
    """``0`` and ``points`` log-spaced times from ``t_min`` to ``t_max``."""
    check_positive_float("t_max", t_max)
    check_positive_int("points", points)
    return [0.0] + [float(t) for t in np.geomspace(min(t_min, t_max), t_max, points)]


@dataclass
class Simulation:
    """Networks trained together. Per run (length ``B``): ``inverse_snr``, ``hidden`` (its
    number of units ``K``) and ``seed``; ``times``: length ``T``; ``error``, ``mse``:
    population errors, shape ``(T, B)``; ``overlaps``: the order parameters ``R_kj = w_k . e_j /
    sqrt(D)``, shape ``(T, B, K, 2)``, and ``readout``: ``v``, shape ``(T, B, K)``, at every time (the
    units' paths in the plane of the means); ``start``: the order parameters at ``t = 0``; ``net``:
    the final networks (units beyond a run's ``K`` are zero); ``samples_per_second``: SGD
    samples (over all runs) per second of wall time."""

    inverse_snr: list[float]
    hidden: list[int]
    seed: list[int]
    times: list[float]
    error: torch.Tensor
    mse: torch.Tensor
    overlaps: torch.Tensor
    readout: torch.Tensor
    start: OrderParameters
    net: Committee
    samples_per_second: float

    @property
    def delta(self) -> torch.Tensor:
        return torch.tensor([delta_from_inverse_snr(s) for s in self.inverse_snr], dtype=torch.float64)

    def runs(self, inverse_snr: float | None = None, hidden: int | None = None) -> list[int]:
        """Indices of the runs at that noise level and width (``None``: any)."""
        return [i for i, (s, k) in enumerate(zip(self.inverse_snr, self.hidden))
                if (inverse_snr is None or s == inverse_snr) and (hidden is None or k == hidden)]


def simulate_networks(
    configs: list[tuple[float, int]], seeds: int, dim: int, times: list[float],
    schedule: StepSchedule, weight_decay: float, init_std: float, base: torch.Tensor, seed: int = 0,
    device: torch.device | str = "cpu", progress: bool = True, mixture: Mixture = XOR,
) -> Simulation:
    """Train ``seeds`` networks for each ``(inverse_snr, K)`` of ``configs`` by one-pass SGD, batched.

    Runs are ordered config first, then seed; each starts from its own random initialisation
    (``init_std``). Networks narrower than the widest are padded with zero units, which stay
    zero (a unit with ``w = 0`` and ``v = 0`` gets no gradient), so all runs share one tensor.
    Runs with the same seed index share their random stream (``train_online_sgd``'s
    ``streams``): each is trained on i.i.d. samples, and the seeds stay independent of each
    other. The population error is computed at each of ``times`` on the fixed Gaussian sample
    ``base`` (``xor_ode.gaussian_base``, for the widest ``K``). ``mixture``: the cluster means
    (``xor_mixture.Mixture``), the same for every run.
    """
    inverse = [s for s, _ in configs for _ in range(seeds)]
    hidden = [k for _, k in configs for _ in range(seeds)]
    seed_of_run = [s for _ in configs for s in range(seeds)]
    g = torch.Generator(device=device).manual_seed(seed)
    net = init_committee(len(inverse), max(hidden), dim, init_std, generator=g, device=device)
    active = torch.arange(max(hidden), device=device)[None, :] < torch.tensor(hidden, device=device)[:, None]
    net.w.mul_(active[:, :, None])
    net.v.mul_(active)
    delta = torch.tensor([delta_from_inverse_snr(s) for s in inverse], dtype=torch.float32, device=device)
    streams = torch.tensor(seed_of_run, device=device)
    start = order_parameters(net)
    errors, overlaps, readouts = [], [], []
    bar = tqdm(total=int(round(times[-1] * dim)), desc=f"online SGD, {len(inverse)} networks", unit="step",
               disable=not progress, mininterval=2)
    done, seconds, t_done = 0, 0.0, 0.0
    for t in times:
        for _, end, lr in schedule.segments(t_done, t):
            steps = int(round(end * dim)) - done
            if steps > 0:
                begin = time.perf_counter()
                train_online_sgd(net, delta, steps, lr, weight_decay, generator=g, streams=streams,
                                 on_chunk=lambda k, before=done: bar.update(before + k - bar.n), mixture=mixture)
                seconds += time.perf_counter() - begin
                done += steps
        t_done = max(t_done, t)
        op = order_parameters(net)
        errors.append(population_errors(op, delta.double(), base, mixture))
        overlaps.append(op.r.cpu())
        readouts.append(op.v.cpu())
    bar.close()
    return Simulation(
        inverse, hidden, seed_of_run, list(times),
        torch.stack([e["error"] for e in errors]), torch.stack([e["mse"] for e in errors]),
        torch.stack(overlaps), torch.stack(readouts), start, net, done * len(inverse) / max(seconds, 1e-9),
    )


def random_feature_matrix(dim: int, width: int, generator: torch.Generator | None = None,
                          dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> torch.Tensor:
    """``F``, shape ``(D, p)``: Gaussian columns rescaled to norm ``sqrt(D)`` (as in the paper's
    analysis), so every pre-activation ``F_i . x / sqrt(D)`` has the variance of ``|x|^2 / D``."""
    f = torch.randn(dim, width, generator=generator, dtype=dtype, device=device)
    return f * (math.sqrt(dim) / f.norm(dim=0, keepdim=True))


def random_features(x: torch.Tensor, feature_matrix: torch.Tensor) -> torch.Tensor:
    """``relu(x F / sqrt(D))``: ``(..., n, D) -> (..., n, p)``."""
    return torch.relu(x @ feature_matrix.to(x) / math.sqrt(feature_matrix.shape[0]))


def mixture_kernel(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """The random features' kernel at infinite width, ``kappa_1(x.x' / D)`` (module docstring)."""
    return two_layer_relu_kernel(x1, x2, get="nngp", W_std=1.0, b_std=0.0)


def ridge_classifier(embed, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                     y_val: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                     kernel: bool) -> dict:
    """Ridge regression on labels +-1, ridge chosen by validation classification error.

    ``embed`` maps inputs ``(n, D)`` to features ``(n, p)`` (``kernel=False``) or to kernel
    columns ``K(x, X_train)`` (``kernel=True``). Returns ``error`` (test classification error),
    ``ridge`` (relative to the Gram matrix's mean diagonal) and ``seconds`` (the fit, excluding
    validation and test).
    """
    begin = time.perf_counter()
    train = embed(x_train).to(torch.float64)
    y64 = y_train.to(torch.float64)
    alphas = ridge_path_coefficients(train, y64, RIDGES) if kernel else feature_ridge_path(train, y64, RIDGES)
    seconds = time.perf_counter() - begin
    del train
    return dict(validated_test_error(embed, alphas, x_val, y_val, x_test, y_test), seconds=seconds)


def validated_test_error(embed, alphas: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
                         x_test: torch.Tensor, y_test: torch.Tensor) -> dict:
    """Of the readouts ``alphas`` (shape ``(p, len(RIDGES))``, one per ridge), the one with the
    lowest validation classification error: its ``error`` on the test set and its ``ridge``."""
    val_error = (predict_in_blocks(embed, x_val, alphas) * y_val.to(torch.float64)[:, None] <= 0).double().mean(0)
    best = int(torch.argmin(val_error))
    test = predict_in_blocks(embed, x_test, alphas[:, best:best + 1])[:, 0]
    wrong = ~(test * y_test.to(torch.float64) > 0)  # a tie or a NaN counts as wrong
    return dict(error=float(wrong.double().mean()), ridge=RIDGES[best])


def ridge_features_learning_curve(inverse_snr: float, dim: int, gamma: float, n_values: list[int],
                                  n_val: int = 2000, n_test: int = 10000, chunk: int = 16384, seed: int = 0,
                                  device: torch.device | str = "cpu", progress: bool = True,
                                  mixture: Mixture = XOR) -> list[dict]:
    """Random features ``p = gamma D`` with a ridge readout fitted on the first ``n`` samples of one
    stream, for every ``n`` of ``n_values``, up to the network's whole budget ``t_max D``.

    ``Phi^T Phi`` and ``Phi^T y`` are accumulated a chunk of samples at a time (features in
    float32, sums in float64), so memory is ``O(p^2 + chunk (D + p))`` whatever ``n``; the
    largest ``n`` sets the cost, ``O(n p (D + p))``, and the smaller ones come on the way. The
    ridge is chosen on ``n_val`` validation samples at each ``n``, as in ``ridge_classifier``.
    Rows: ``inverse_snr``, ``dim``, ``gamma``, ``n_train``, ``n_val``, ``error`` (test, ``n_test``
    samples), ``ridge``, ``seconds`` (the accumulation up to that ``n`` and the solve).
    """
    n_values = sorted(set(check_positive_ints("n_values", n_values)))
    g = torch.Generator(device=device).manual_seed(seed)
    delta = delta_from_inverse_snr(inverse_snr)
    f = random_feature_matrix(dim, max(1, int(round(gamma * dim))), g, device=device)
    x_val, y_val = sample_xor_mixture(n_val, dim, delta, g, torch.float64, device, mixture)
    x_test, y_test = sample_xor_mixture(n_test, dim, delta, g, torch.float64, device, mixture)
    embed = lambda z: random_features(z, f)  # noqa: E731
    f32 = f.to(torch.float32)
    gram = torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64, device=device)
    rhs = torch.zeros(f.shape[1], dtype=torch.float64, device=device)
    rows, done, seconds = [], 0, 0.0
    bar = tqdm(total=n_values[-1], desc=f"ridge random features, 1/SNR = {inverse_snr:g}", unit="sample",
               disable=not progress, mininterval=2)
    for n in n_values:
        begin = time.perf_counter()
        while done < n:
            size = min(chunk, n - done)
            x, y = sample_xor_mixture(size, dim, delta, g, torch.float32, device, mixture)
            z = random_features(x, f32)
            gram += (z.T @ z).double()
            rhs += (z.T @ y).double()
            done += size
            bar.update(size)
        alphas = ridge_path_coefficients(gram, rhs, RIDGES)
        seconds += time.perf_counter() - begin
        rows.append(dict(inverse_snr=inverse_snr, dim=dim, gamma=gamma, n_train=n, n_val=n_val, seconds=seconds,
                         **validated_test_error(embed, alphas, x_val, y_val, x_test, y_test)))
    bar.close()
    return rows


def lazy_methods(inverse_snr: float, dim: int, n_train: int, gammas: list[float], kernel: bool,
                 n_val: int = 2000, n_test: int = 10000, seed: int = 0,
                 device: torch.device | str = "cpu") -> list[dict]:
    """Random features (ridge readout) for each ``gamma = p / D``, and the kernel if ``kernel``,
    all on the same ``n_train`` samples. One row per method: ``method`` ("random features" or
    "kernel"), ``gamma`` (``inf`` for the kernel), ``error``, ``ridge``, ``seconds``."""
    g = torch.Generator(device=device).manual_seed(seed)
    delta = delta_from_inverse_snr(inverse_snr)
    x, y = sample_xor_mixture(n_train + n_val + n_test, dim, delta, g, torch.float64, device)
    parts = (x[:n_train], y[:n_train], x[n_train:n_train + n_val], y[n_train:n_train + n_val],
             x[n_train + n_val:], y[n_train + n_val:])
    common = dict(inverse_snr=inverse_snr, dim=dim, n_train=n_train, seed=seed)
    rows = []
    for gamma in gammas:
        f = random_feature_matrix(dim, max(1, int(round(gamma * dim))), g, device=device)
        fit = ridge_classifier(lambda z, f=f: random_features(z, f), *parts, kernel=False)
        rows.append(dict(common, method="random features", gamma=gamma, **fit))
    if kernel:
        x_train = parts[0]
        fit = ridge_classifier(lambda z: mixture_kernel(z, x_train), *parts, kernel=True)
        rows.append(dict(common, method="kernel", gamma=math.inf, **fit))
    return rows


def train_readout_online(inverse_snrs: list[float], dim: int, gamma: float, times: list[float],
                         lr: float, weight_decay: float, n_test: int = 10000, seed: int = 0,
                         chunk: int = 128, device: torch.device | str = "cpu",
                         progress: bool = True, mixture: Mixture = XOR) -> dict:
    """Random features whose readout ``a`` is trained by one-pass SGD, one run per noise level.

    ``yhat = a . z / sqrt(p)`` with ``z = relu(F^T x / sqrt(D))``; each step takes one fresh
    sample: ``a <- (1 - lr wd / p) a - lr / sqrt(p) * (yhat - y) z`` (the official code's K = 1
    linear student on the features). Returns ``times``, the test classification error,
    shape ``(T, B)``, on ``n_test`` fixed samples per run, the ``features`` ``F`` ``(D, p)`` and
    the final ``readout`` ``a / sqrt(p)`` ``(B, p)`` (so that ``yhat = readout . z``). The step changes the output by about
    ``lr |z|^2 / p ~ lr delta / 2``, so ``lr`` must stay below about ``4 / delta`` for the noisiest run.
    """
    g = torch.Generator(device=device).manual_seed(seed)
    width = max(1, int(round(gamma * dim)))
    f = random_feature_matrix(dim, width, g, dtype=torch.float32, device=device)
    delta = torch.tensor([delta_from_inverse_snr(s) for s in inverse_snrs], dtype=torch.float32, device=device)
    x_test, y_test = sample_xor_mixture(n_test, dim, delta, g, torch.float32, device, mixture)
    streams = torch.arange(len(inverse_snrs), device=device)
    z_test = random_features(x_test, f)  # (B, n_test, p)
    a = torch.zeros(len(inverse_snrs), width, device=device)
    decay, step = 1 - lr * weight_decay / width, -lr / math.sqrt(width)
    errors, done = [], 0
    bar = tqdm(total=int(round(times[-1] * dim)), desc="random features, online SGD", unit="step",
               disable=not progress, mininterval=2)
    for t in times:
        target = int(round(t * dim))
        while done < target:
            size = min(chunk, target - done)
            x, y = sample_streams(size, dim, delta, streams, g, mixture)  # (size, B, D), (size, B)
            z = random_features(x, f)  # (size, B, p)
            for i in range(size):
                err = (a * z[i]).sum(-1).div_(math.sqrt(width)).sub_(y[i])
                a.mul_(decay).add_(z[i] * err[:, None], alpha=step)
            done += size
            bar.update(size)
        yhat = (z_test @ a[:, :, None]).squeeze(-1)
        errors.append((~(yhat * y_test > 0)).float().mean(1).double().cpu())  # NaN counts as wrong
    bar.close()
    return dict(times=list(times), error=torch.stack(errors), features=f, readout=a / math.sqrt(width))


def lazy_scaling_rows(inverse_snrs: list[float], sizes: list[tuple[int, int]], kernel: bool, seed: int = 0,
                      device: torch.device | str = "cpu") -> list[dict]:
    """``lazy_methods`` at every ``(dim, n_train)`` of ``sizes`` and every noise level: random
    features with ``p = D`` (``kernel=False``) or the kernel alone (``kernel=True``). Each size
    and noise level draws its own samples, seeded by ``derived_seed(seed, dim, n_train,
    level_key(inverse_snr))``."""
    return [row for dim, n_train in sizes for s in inverse_snrs
            for row in lazy_methods(s, dim, n_train, [] if kernel else [1.0], kernel=kernel,
                                    seed=derived_seed(seed, dim, n_train, level_key(s)), device=device)]


def stationary_states(inverse_snrs: list[float], hidden_values: list[int], lrs: list[float],
                      weight_decays: list[float], base: torch.Tensor, **relax) -> list[dict]:
    """Where SGD at a constant rate settles, from the ODEs: for every ``K``, ``lr``,
    ``weight_decay`` and noise level, ``xor_ode.relax_to_stationarity`` from the informed start
    (``xor_ode.informed_start``, every cluster covered, as the official ``iid_SE.py``).

    ``base``: ``gaussian_base`` with at least ``max(hidden_values) + 2`` columns; ``relax``: keyword
    arguments of ``relax_to_stationarity``. One record per state: ``inverse_snr``, ``K``, ``lr``,
    ``weight_decay``, ``error``, ``mse``, ``converged``, ``time`` (the ODE time it ran for).
    """
    rows = []
    for k in hidden_values:
        for lr in lrs:
            for wd in weight_decays:
                for s in inverse_snrs:  # one at a time: each noise level gets its own stable step
                    delta = torch.tensor([delta_from_inverse_snr(s)], dtype=torch.float64)
                    state = relax_to_stationarity(informed_start(1, k), delta, base, lr, wd, **relax)
                    rows.append(dict(inverse_snr=s, K=k, lr=lr, weight_decay=wd, error=float(state.error[0]),
                                     mse=float(state.mse[0]), converged=bool(state.converged[0]), time=state.time))
    return rows


def plateau_escape(sim: Simulation, inverse_snrs: list[float], base: torch.Tensor, lr: float, weight_decay: float,
                   t_end: float, points: int = 40, dt_max: float | None = None) -> list[dict]:
    """How long the initial plateau lasts at a constant learning rate, from the ODEs: for every
    run of ``sim`` at the noise levels ``inverse_snrs``, the ODE from that run's own start
    (``sim.start``), at ``lr`` throughout, until its largest overlap with the plane of the
    means, ``max_k |R_k|`` (``|R_k|^2 = R_k1^2 + R_k2^2``), is halfway on a log scale from where it
    starts to its value in the state where SGD at this rate settles (``relax_to_stationarity``
    from the informed start, the run's ``K``): the geometric mean of the two. Or until ``t_end``.
    The overlaps grow from ``O(1/sqrt(D))`` by orders of magnitude and carry no Monte-Carlo noise,
    unlike the error, whose floor at a high rate can lie close to chance; a run from small weights
    may level off below the informed state's overlap, which is why the target is not a fraction
    of that overlap alone.

    One run at a time, with the adaptive steps of ``integrate_ode(stiffness_step=1)``, at most
    ``dt_max`` (default ``2.5 / lr``): on the plateau the ODEs are slow and the steps long, and a
    batch would move at the pace of its fastest run. The stiffness bounds the steps for
    stability only; ``dt_max`` keeps them accurate while the overlaps grow (at ``lr = 0.5``, steps of
    5 moved the error of a fast escape, 1/SNR = 0.1 at D = 100, by at most 0.006 from steps of 0.1).
    The state is recorded at ``points`` log-spaced times from 1 to ``t_end`` and the crossing
    interpolated between them (``time_to_reach``). Records: ``inverse_snr``, ``seed``, ``target``
    (the overlap to reach), ``settled_overlap`` and ``stationary_error`` (of that settled state),
    ``escape`` (the time, NaN if not reached by ``t_end``), and up to the escape ``times``,
    ``errors`` and ``overlaps``. Raises ``FloatingPointError`` if the ODE diverges or the settled
    state is not finite, and ``RuntimeError`` if it did not settle.
    """
    check_positive_float("t_end", t_end)
    check_positive_float("lr", lr)
    dt_max = 2.5 / lr if dt_max is None else dt_max
    schedule = StepSchedule(lr)
    grid = log_times(t_end, points, 1.0)
    rows, settled = [], {}
    for s in inverse_snrs:
        delta = torch.tensor([delta_from_inverse_snr(s)], dtype=torch.float64)
        for i in sim.runs(inverse_snr=s):
            k = sim.hidden[i]
            if k not in settled:
                state = relax_to_stationarity(informed_start(1, k), delta, base, lr, weight_decay)
                settled[k] = (float(largest_overlap(state.state.r[0])), float(state.error[0]))
                if not all(math.isfinite(x) for x in settled[k]):
                    raise FloatingPointError(f"the settled state at 1/SNR = {s:g}, K = {k}, lr = {lr:g} is not finite")
                if not bool(state.converged.all()):
                    raise RuntimeError(f"the state at 1/SNR = {s:g}, K = {k}, lr = {lr:g} did not settle "
                                       f"(relax_to_stationarity ran to t = {state.time:g})")
            settled_overlap, stationary_error = settled[k]
            op = OrderParameters(sim.start.q[i:i + 1, :k, :k], sim.start.r[i:i + 1, :k], sim.start.v[i:i + 1, :k])
            errors = [float(population_errors(op, delta, base)["error"][0])]
            overlaps = [float(largest_overlap(op.r[0]))]
            target = math.sqrt(overlaps[0] * settled_overlap)
            for begin, end in zip(grid[:-1], grid[1:]):
                (op,), out = integrate_ode(op, delta, base, schedule, weight_decay, [end - begin], dt=dt_max,
                                           stiffness_step=1.0)
                errors.append(float(out["error"][-1, 0]))
                overlaps.append(float(largest_overlap(op.r[0])))
                if not math.isfinite(overlaps[-1]) or not math.isfinite(errors[-1]):
                    raise FloatingPointError(f"the ODE diverged at 1/SNR = {s:g} (run {i}) before t = {end:g}")
                if overlaps[-1] >= target:
                    break
            times = grid[:len(errors)]
            rows.append(dict(inverse_snr=s, seed=int(sim.seed[i]), target=target, settled_overlap=settled_overlap,
                             stationary_error=stationary_error,
                             escape=time_to_reach([-o for o in overlaps], times, -target), times=times,
                             errors=errors, overlaps=overlaps))
        settled.clear()
    return rows


def equivalent_rf_errors(inverse_snrs: list[float], dim: int, ratios: list[float], weight_decay: float,
                         seed: int = 0, device: torch.device | str = "cpu", mixture: Mixture = XOR) -> list[dict]:
    """Random features with ``p = ratio * D`` trained on the whole population (infinitely many
    samples), by Gaussian equivalence (``rf_equivalence``): the readout of ``train_readout_online``
    (no intercept, ridge ``weight_decay``) at its ``t -> infinity`` limit. One feature matrix per
    ratio, shared by the noise levels. Records: ``inverse_snr``, ``dim``, ``ratio``, ``error``."""
    mixture.check_dim(dim)
    g = torch.Generator(device=device).manual_seed(seed)
    rows = []
    for ratio in ratios:
        f = random_feature_matrix(dim, max(1, int(round(ratio * dim))), g, device=device)
        rows += [dict(inverse_snr=s, dim=dim, ratio=ratio,
                      error=equivalent_error(f, delta_from_inverse_snr(s), ridge=weight_decay, intercept=False,
                                             means=mixture.means, labels=mixture.labels))
                 for s in inverse_snrs]
    return rows


def compare_on_mixture(mixture: Mixture, key: int, inverse_snrs: list[float], dim: int, hidden: int, seeds: int,
                       n_factors: list[float], ratios: list[float], schedule: StepSchedule, weight_decay: float,
                       init_std: float, base: torch.Tensor, seed: int = 0, device: torch.device | str = "cpu",
                       progress: bool = True) -> dict[str, list[dict]]:
    """Every method on ``mixture`` at the same numbers of samples ``n = f D``, ``f`` in ``n_factors``.

    - ``network``: ``seeds`` networks of ``hidden`` units per noise level, trained by one-pass SGD
      (``simulate_networks``, ``schedule``) up to ``t = max(n_factors)``; records ``inverse_snr``,
      ``seed``, ``t``, ``error`` (population) at log-spaced times and at every ``f``;
    - ``ridge``: random features ``P = D`` with a ridge readout on the first ``n`` samples of one
      stream (``ridge_features_learning_curve``); records as there;
    - ``theory``: random features with ``P = ratio D`` trained on the whole population
      (``equivalent_rf_errors``); records as there;
    - ``oracle``: one record per noise level, ``inverse_snr``, ``error``.

    ``key`` (an integer per mixture) seeds its draws apart from the other mixtures'. Every
    record also has ``mixture`` (its name).
    """
    n_factors = sorted(set(n_factors))
    # log-spaced times, less those within 10% of a factor (two readings a few steps apart would show
    # SGD's step-to-step noise as a jump), and the factors themselves
    spread = [t for t in log_times(n_factors[-1], 12, 0.05)
              if t == 0 or min(abs(math.log(t / f)) for f in n_factors) > math.log(1.1)]
    times = sorted(set(spread) | {float(f) for f in n_factors})
    sim = simulate_networks([(s, hidden) for s in inverse_snrs], seeds, dim, times, schedule, weight_decay,
                            init_std, base, seed=draw_seed(seed, "mixture_networks", key), device=device,
                            progress=progress, mixture=mixture)
    network = [dict(mixture=mixture.name, inverse_snr=s, seed=k, t=t, error=float(sim.error[i, run]))
               for run, (s, k) in enumerate(zip(sim.inverse_snr, sim.seed)) for i, t in enumerate(times)]
    ridge = [dict(row, mixture=mixture.name) for s in inverse_snrs
             for row in ridge_features_learning_curve(s, dim, 1.0, [max(1, int(round(f * dim))) for f in n_factors],
                                                      seed=draw_seed(seed, "mixture_rf", key, level_key(s)),
                                                      device=device, progress=progress, mixture=mixture)]
    theory = [dict(row, mixture=mixture.name)
              for row in equivalent_rf_errors(inverse_snrs, dim, ratios, weight_decay,
                                              seed=draw_seed(seed, "mixture_theory", key), device=device,
                                              mixture=mixture)]
    oracle = [dict(mixture=mixture.name, inverse_snr=s, error=float(mixture.bayes_error(delta_from_inverse_snr(s))))
              for s in inverse_snrs]
    return dict(network=network, ridge=ridge, theory=theory, oracle=oracle)


def online_readout_theory(online: dict, inverse_snrs: list[float], weight_decay: float) -> tuple[dict, dict]:
    """For the result of ``train_readout_online`` (its ``features`` and final ``readout``), per
    noise level: the closed-form error of the readout SGD reached, and that of the readout it
    tends to as ``t -> infinity`` (no intercept, ridge ``weight_decay``), both by Gaussian
    equivalence on the same features (their moments computed once). Two dicts 1/SNR -> error."""
    reached, limit = {}, {}
    for i, s in enumerate(inverse_snrs):
        moments = cluster_moments(online["features"], delta_from_inverse_snr(s))
        beta, _ = population_readout(moments, weight_decay, intercept=False)
        limit[s] = classification_error(moments, beta)
        reached[s] = classification_error(moments, online["readout"][i].to(moments.mean))
    return reached, limit


def plan_data(params: dict, inventories=None) -> DataPlan:
    """Chapter 3 uses synthetic data: its sizes run as given (``lsa_utils.run.data_plan``)."""
    return synthetic_plan(params, [
        ("rf_gammas contains 1.0 (figure 1 and the claims use p = D)", 1.0 in params["rf_gammas"]),
        ("hidden_values contains K = 8 (the over-parameterisation claim's reference)", 8 in params["hidden_values"]),
        ("dynamics_inverse_snrs lie in inverse_snrs (figure 2 reads their runs)",
         set(params["dynamics_inverse_snrs"]) <= set(params["inverse_snrs"])),
        ("inverse_snrs holds a noise level of the oracle claims (0.4, 0.5, 0.7 or 1.0)",
         bool({0.4, 0.5, 0.7, 1.0} & set(params["inverse_snrs"]))),
        ("inverse_snrs reaches 1/SNR >= 0.25 (the lazy methods' claims)", max(params["inverse_snrs"]) >= 0.25),
        ("theory_hidden contains hidden, theory_lrs lr_final and theory_weight_decays weight_decay (section 5's "
         "claims read the stationary state of the networks' own setting)",
         params["hidden"] in params["theory_hidden"] and params["lr_final"] in params["theory_lrs"]
         and params["weight_decay"] in params["theory_weight_decays"]),
        ("theory_inverse_snrs share a noise level with inverse_snrs (section 5 sets them side by side)",
         bool(set(params["theory_inverse_snrs"]) & set(params["inverse_snrs"]))),
        ("theory_hidden lists widths of at most max(hidden, *hidden_values) (they share the Gaussian sample)",
         max(params["theory_hidden"]) <= max(params["hidden"], *params["hidden_values"])),
        ("budget_inverse_snrs lie in inverse_snrs (the same-budget figure reads their networks)",
         set(params["budget_inverse_snrs"]) <= set(params["inverse_snrs"])),
        ("escape_inverse_snrs lie in inverse_snrs (the ODE starts from their networks' initial conditions)",
         set(params["escape_inverse_snrs"]) <= set(params["inverse_snrs"])),
        ("escape_t_end exceeds t_max (the escape finding compares the two)", params["escape_t_end"] > params["t_max"]),
        ("inverse_snrs differ by at least 0.001 (level_key seeds each level's samples by its value)",
         len({level_key(s) for s in params["inverse_snrs"]}) == len(params["inverse_snrs"])),
        ("budget_n_factors lie between 1/dim and t_max (ridge random features up to the network's budget)",
         all(1 <= f * params["dim"] and f <= params["t_max"] for f in params["budget_n_factors"])),
        ("mixture_n_factors are at least 1/dim (section 6 fits random features on n = f D samples)",
         all(1 <= f * params["dim"] for f in params["mixture_n_factors"])),
        ("mixture_rf_ratios contains 1.0 (section 6's ridge random features have P = D)",
         1.0 in params["mixture_rf_ratios"]),
        ("mixture_inverse_snrs differ by at least 0.001 (level_key seeds each level's samples)",
         len({level_key(s) for s in params["mixture_inverse_snrs"]}) == len(params["mixture_inverse_snrs"])),
    ])


FOUND_ALL_CLUSTERS = 0.05  # final error within this of the oracle: no cluster left uncovered
REACH_MARGIN = 0.01  # the time to reach counts from when the error is within this of the oracle


def time_to_reach(errors, times: list[float], level: float) -> float:
    """When ``errors`` (recorded at ``times``, same length, increasing) first fall to ``level``,
    interpolated between the two recorded times around the crossing: linearly in ``log t`` (the
    times are log-spaced), linearly in ``t`` from ``t = 0``. ``times[0]`` if the first error is
    already at most ``level``; NaN if no error is. With a grid step of a factor 1.2, reading the
    first time at or below the level instead would overstate the time by up to 20%."""
    errors, times = np.asarray(errors, dtype=float), np.asarray(times, dtype=float)
    if errors.shape != times.shape:
        raise ValueError(f"errors and times must have the same length; got {errors.shape} and {times.shape}")
    hit = np.nonzero(errors <= level)[0]
    if not len(hit):
        return math.nan
    i = int(hit[0])
    if i == 0:
        return float(times[0])
    (t0, t1), (e0, e1) = times[i - 1:i + 1], errors[i - 1:i + 1]
    share = (e0 - level) / (e0 - e1)  # in (0, 1]: e0 > level >= e1
    if t0 <= 0:
        return float(t0 + share * (t1 - t0))
    return float(math.exp(math.log(t0) + share * (math.log(t1) - math.log(t0))))


def over_parameterisation_runs(sim: Simulation, times: list[float], oracle: float) -> list[dict]:
    """One record per network of the width sweep: ``K``, ``seed``, ``final_gap`` (final error
    minus ``oracle``), ``reach`` (time to reach oracle + ``REACH_MARGIN``, NaN if never) and
    ``found`` (final gap at most ``FOUND_ALL_CLUSTERS``: every cluster covered)."""
    out = []
    for k in sorted(set(sim.hidden)):
        for i in sim.runs(hidden=k):
            gap = float(sim.error[-1, i]) - oracle
            out.append(dict(K=int(k), seed=int(sim.seed[i]), final_gap=gap, found=gap <= FOUND_ALL_CLUSTERS,
                            reach=time_to_reach(sim.error[:, i].numpy(), times, oracle + REACH_MARGIN)))
    return out


def over_parameterisation_summary(runs: list[dict]):
    """Per width ``K``: the share of networks that found every cluster, and among those the
    median time to reach and the median final gap (a pandas DataFrame indexed by ``K``)."""
    import pandas as pd

    table = pd.DataFrame(runs)
    summary = table.groupby("K").agg(found=("found", "mean"))
    found = table[table.found]
    summary["reach_median"] = found.groupby("K").reach.median()
    summary["final_gap_median"] = found.groupby("K").final_gap.median()
    return summary
