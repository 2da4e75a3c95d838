"""The cost of chapter 3: the XOR mixture (``lsa_utils.run.scale_plan``)."""

from __future__ import annotations

import math

from .units import (
    FLOAT32,
    FLOAT64,
    PartCost,
    repeated,
    combined,
    dispatch_work,
    eigh_work,
    elementwise_work,
    embedding_work,
    features_ridge_memory,
    features_ridge_work,
    kernel_ridge_work,
    matmul_work,
    random_work,
    start_up,
)

# models.committee.train_online_sgd: the fields' product and sum and the rank-one update pass over w
SGD_PASSES_PER_WEIGHT = 3.0
SGD_STEP_TORCH_OPS = 14.0
READOUT_STEP_PASSES = 5.0  # gaussian_mixture.train_readout_online: ops on the (B, p) readout per sample
READOUT_STEP_TORCH_OPS = 7.0
ODE_FIELD_PASSES = 10.0  # xor_ode.ode_derivative: elementwise ops per (run, cluster sample, unit)
ODE_TORCH_OPS = 40.0  # per evaluation of the derivative, the stiffness or the population error
# Assumed (not counted: they follow the ODE's stiffness and the data): Runge-Kutta steps of one
# xor_ode.relax_to_stationarity (it stops at s = lr t of 20 to 70, its docstring, with steps of
# 1 / stiffness) and conjugate-gradient iterations of one rf_equivalence.population_readout.
RELAX_RK_STEPS = 200
CG_ITERATIONS = 100
ESCAPE_BASE_SAMPLES = 1024  # the notebook passes base[:1024] to plateau_escape
ESCAPE_DT_MAX_LR = 2.5  # plateau_escape's largest step, dt_max = 2.5 / lr
ESCAPE_EVALUATIONS_PER_STEP = 5  # the stiffness and 4 Runge-Kutta derivatives
VALIDATION, TEST = 2000, 10000  # gaussian_mixture.lazy_methods / ridge_features_learning_curve defaults
RIDGE_CHUNK = 16384  # ridge_features_learning_curve's samples per chunk
READOUT_TEST = 10000  # gaussian_mixture.train_readout_online's n_test


def _ode_evaluation(runs: int, samples: int, hidden: int) -> float:
    """One ``ode_derivative`` (or ``stiffness``) on ``runs`` networks: the local fields of 4
    clusters x ``samples`` and the products ``E[e v relu' lambda]``, ``E[e^2 ...]`` (float64)."""
    points = runs * 4 * samples * hidden
    return (matmul_work(points, 1, 2 * hidden + 10, True) + elementwise_work(points, ODE_FIELD_PASSES, True)
            + dispatch_work(ODE_TORCH_OPS))


def _ode_memory(runs: int, samples: int, hidden: int, copies: int = 5) -> float:
    """``copies`` float64 tensors of the local fields, ``(runs, 4, samples, hidden)``: about 5 in
    ``ode_derivative`` (fields, activations, slopes, weighted errors), 3 in ``population_errors``."""
    return FLOAT64 * copies * runs * 4 * samples * hidden


def _relax_work(samples: int, hidden: int) -> float:
    """``xor_ode.relax_to_stationarity`` of one state: ``RELAX_RK_STEPS`` steps of 4 derivatives."""
    return 4 * RELAX_RK_STEPS * _ode_evaluation(1, samples, hidden)


def _simulate_networks(runs: int, streams: int, hidden: int, dim: int, steps: int, times: int,
                       samples: int) -> tuple[float, float]:
    """``gaussian_mixture.simulate_networks``: ``steps`` one-pass SGD steps of ``runs`` networks
    (``SGD_PASSES_PER_WEIGHT`` passes over the ``(B, K, D)`` weights, ``streams`` normal draws of
    ``D``, ``SGD_STEP_TORCH_OPS`` dispatches) and the population error at ``times`` times."""
    weights = runs * hidden * dim
    step = (elementwise_work(weights, SGD_PASSES_PER_WEIGHT) + random_work(streams * dim)
            + elementwise_work(runs * dim, 3) + dispatch_work(SGD_STEP_TORCH_OPS))
    work = steps * step + times * _ode_evaluation(runs, samples, hidden) / 2
    return work, FLOAT32 * (2 * weights + 256 * streams * dim) + _ode_memory(runs, samples, hidden, copies=3)


def _ridge_learning_curve(dim: int, width: int, n_values: list[int]) -> tuple[float, float]:
    """``gaussian_mixture.ridge_features_learning_curve``: features of ``max(n)`` samples
    accumulated into ``Phi^T Phi`` (float32 products), an eigendecomposition and the validation
    and test features per n."""
    n = max(n_values)
    evaluated = VALIDATION + TEST
    work = (random_work(n * dim) + embedding_work(n, dim, width, False) + matmul_work(width, width, n)
            + random_work(evaluated * dim, True)
            + len(set(n_values)) * (eigh_work(width) + embedding_work(evaluated, dim, width)))
    memory = (FLOAT64 * 3 * width * width + FLOAT32 * RIDGE_CHUNK * (dim + 2 * width)
              + FLOAT64 * evaluated * (dim + width))
    return work, memory


def _lazy_methods(dim: int, n: int, gammas: list[float], kernel: bool,
                  draw: bool = True) -> tuple[float, float]:
    """``gaussian_mixture.lazy_methods``: the draw of the samples (unless ``draw`` is false: counted
    with another part), ridge random features per gamma (``p = gamma D``) and the kernel
    (``mixture_kernel``, the arc-cosine NNGP) on the same n samples, float64."""
    evaluated = VALIDATION + TEST
    costs = [(random_work((n + evaluated) * dim, True) if draw else 0.0, FLOAT64 * (n + evaluated) * dim)]
    for gamma in gammas:
        p = max(1, round(gamma * dim))
        costs.append((features_ridge_work(n, dim, p, evaluated), features_ridge_memory(n, dim, p)))
    if kernel:
        costs.append(kernel_ridge_work(n, dim, evaluated))
    return combined(costs)


def _equivalent_rf(dim: int, ratios: list[float], levels: int) -> tuple[float, float]:
    """``gaussian_mixture.equivalent_rf_errors``: per ratio a ``D x P`` feature matrix; per noise
    level ``CG_ITERATIONS`` conjugate-gradient steps, each four products with ``F`` on 4 clusters."""
    work = sum(random_work(dim * round(r * dim), True)
               + levels * CG_ITERATIONS * matmul_work(dim, 4, round(r * dim), True) * 2 for r in ratios)
    return work, FLOAT64 * 2 * dim * round(max(ratios) * dim)


def gaussian_mixture_cost(sizes: dict) -> list[PartCost]:
    """Chapter 3 (``notebooks/03_gaussian_mixture.py``): ``simulate_networks`` (the main
    networks, the width sweep, the networks of section 6's two mixtures), the lazy methods
    (``lazy_methods``, ``lazy_scaling_rows``), ridge random features up to the budget
    (``ridge_features_learning_curve``), online readouts (``train_readout_online``), Gaussian
    equivalence (``equivalent_rf_errors``, ``online_readout_theory``) and the ODEs
    (``integrate_ode`` twice, ``stationary_states``, ``plateau_escape``). The ODE's step counts
    of ``relax_to_stationarity`` and ``plateau_escape`` and the CG iterations are assumptions
    (``RELAX_RK_STEPS``, the escape runs to ``escape_t_end`` at its largest step, ``CG_ITERATIONS``).
    Left out: the data figure, the Sobol base, the oracle."""
    from ...experiments.gaussian_mixture import log_times

    s = sizes
    dim, seeds, levels = s["dim"], s["seeds"], len(s["inverse_snrs"])
    samples, escape_samples = s["base_samples"], min(ESCAPE_BASE_SAMPLES, s["base_samples"])
    times = len(set(log_times(s["t_max"], s["time_points"], 0.5)) | {float(s["switch_time"])})
    steps = round(s["t_max"] * dim)
    main = _simulate_networks(levels * seeds, seeds, s["hidden"], dim, steps, times, samples)
    sweep = _simulate_networks(len(s["hidden_values"]) * s["sweep_seeds"], s["sweep_seeds"],
                               max(s["hidden_values"]), dim, steps, times, samples)
    mixture_steps = round(max(s["mixture_n_factors"]) * dim)
    mixture_levels = len(s["mixture_inverse_snrs"])
    mixture_times = 13 + len(set(s["mixture_n_factors"]))  # compare_on_mixture: 0, 12 log-spaced, the factors
    mixture_sim = _simulate_networks(mixture_levels * seeds, seeds, s["hidden"], dim, mixture_steps,
                                     mixture_times, samples)
    mixture_ridge = _ridge_learning_curve(dim, dim, [max(1, round(f * dim)) for f in s["mixture_n_factors"]])
    mixture_theory = _equivalent_rf(dim, s["mixture_rf_ratios"], mixture_levels)
    mixtures = repeated(2, combined([mixture_sim, repeated(mixture_levels, mixture_ridge), mixture_theory]))

    n_lazy = s["n_factor"] * dim
    lazy = [_lazy_methods(dim, n_lazy, s["rf_gammas"], kernel=False)]
    kernel = [_lazy_methods(dim, n_lazy, [], kernel=True, draw=False)]  # the same call as the line above
    lazy += [_lazy_methods(d, s["n_factor"] * d, [1.0], kernel=False) for d in s["rf_dims"] if d != dim]
    kernel += [_lazy_methods(d, f * d, [], kernel=True) for d in s["kernel_dims"] for f in s["kernel_n_factors"]
               if (d, f) != (dim, s["n_factor"])]
    lazy = [repeated(levels, c) for c in lazy]
    kernel = [repeated(levels, c) for c in kernel]
    budget = repeated(len(s["budget_inverse_snrs"]),
                    _ridge_learning_curve(dim, dim, [int(f * dim) for f in s["budget_n_factors"]]))

    readout_steps = round(s["rf_online_t_max"] * dim)
    readout = (readout_steps * (random_work(levels * dim) + matmul_work(levels, dim, dim)
                                + elementwise_work(levels * dim, READOUT_STEP_PASSES)
                                + dispatch_work(READOUT_STEP_TORCH_OPS))
               + matmul_work(levels * READOUT_TEST, dim, dim) + random_work(levels * READOUT_TEST * dim),
               FLOAT32 * 2 * levels * READOUT_TEST * dim)
    theory = combined([_equivalent_rf(dim, s["rf_theory_ratios"], levels),
                     _equivalent_rf(dim, [1.0], 2 * levels)])  # online_readout_theory: two errors per level

    dynamics_runs = len(s["dynamics_inverse_snrs"]) * seeds
    ode_steps = math.ceil(s["t_max"] / s["ode_dt"]) + times
    dynamics = 2 * ode_steps * 4 * _ode_evaluation(dynamics_runs, samples, s["hidden"])
    states_per_width = len(s["theory_lrs"]) * len(s["theory_weight_decays"]) * len(s["theory_inverse_snrs"])
    stationary = states_per_width * sum(_relax_work(samples, k) for k in s["theory_hidden"])
    escape_runs = len(s["escape_inverse_snrs"]) * seeds
    escape_steps = s["escape_t_end"] / (ESCAPE_DT_MAX_LR / s["lr"])  # to the end at the largest step
    escape = (len(s["escape_inverse_snrs"]) * _relax_work(escape_samples, s["hidden"])
              + escape_runs * escape_steps * ESCAPE_EVALUATIONS_PER_STEP
              * _ode_evaluation(1, escape_samples, s["hidden"]))
    ode_memory = _ode_memory(max(dynamics_runs, 1), samples, max(s["hidden"], *s["theory_hidden"]))
    return [
        start_up(),
        PartCost("networks: online SGD, main grid", *main,
                 "t_max D steps x (3 passes over B K D + normal draws of seeds x D + 14 torch ops), "
                 "B = levels x seeds"),
        PartCost("networks: online SGD, width sweep", *sweep,
                 "t_max D steps x (3 passes over B K_max D + ...), B = hidden_values x sweep_seeds"),
        PartCost("other mixtures: networks, ridge and Gaussian equivalence", *mixtures,
                 "2 mixtures x (max(n_factors) D SGD steps + ridge features up to that n + CG per ratio)"),
        PartCost("lazy methods: random features", *combined(lazy),
                 "levels x (per gamma: 2 n D p + 2 n p^2 + 18 p^3 + 12,000 features), float64"),
        PartCost("lazy methods: kernel ridge", *combined(kernel),
                 "levels x per (D, n): (n^2 + 12,000 n) x (2D + 17 ops) + 18 n^3 eigh, float64"),
        PartCost("ridge random features up to the budget", *budget,
                 "budget levels x (n_max D p draws and products + n_max p^2 + per n an eigh(p))"),
        PartCost("random features: online readout", *readout,
                 "rf_online_t_max D steps x (2 B D^2 features + 5 passes over B D + 7 torch ops)"),
        PartCost("random features: Gaussian equivalence", *theory,
                 f"per ratio and level {CG_ITERATIONS} CG steps (assumed) x 4 products of D x P x 4"),
        PartCost("ODE: dynamics against the simulation", dynamics, ode_memory,
                 "2 x (t_max / ode_dt) RK4 steps x 4 derivatives on B x 4 base_samples x K"),
        PartCost("ODE: stationary states", stationary, _ode_memory(1, samples, max(s["theory_hidden"])),
                 f"states x {RELAX_RK_STEPS} RK4 steps (assumed) x 4 derivatives on 4 base_samples x K"),
        PartCost("ODE: plateau escape", escape, _ode_memory(1, escape_samples, s["hidden"]),
                 "runs x escape_t_end / (2.5 / lr) steps x 5 evaluations on 4 x 1024 x K (an upper bound)"),
    ]


