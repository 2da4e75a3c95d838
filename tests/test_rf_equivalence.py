"""Random features at infinitely many samples by Gaussian equivalence (chapter 3, section 5),
and the ODE's stationary states, against direct computations."""

import math

import pytest
import torch

from lsa_utils.data.xor_mixture import CLUSTER_LABELS, CLUSTER_MEANS, XOR, mixed_snr_mixture, oracle_error, sample_xor_mixture
from lsa_utils.experiments.gaussian_mixture import (
    equivalent_rf_errors, lazy_methods, lazy_scaling_rows, random_feature_matrix, random_features,
    stationary_states,
)
from lsa_utils.experiments.rf_equivalence import (
    cluster_moments, conjugate_gradient, equivalent_error, population_readout, readout_error,
    relu_gaussian_moments,
)
from lsa_utils.experiments.xor_ode import (
    gaussian_base, informed_start, ode_derivative, population_errors, relax_to_stationarity, stiffness,
)
from lsa_utils.seeding import derived_seed


def test_relu_moments_match_monte_carlo():
    mean = torch.tensor([-1.0, -0.1, 0.0, 0.3, 2.0], dtype=torch.float64)
    sigma = 0.7
    u = mean + sigma * torch.randn(2_000_000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    first, var, slope = relu_gaussian_moments(mean, sigma)
    assert torch.allclose(first, torch.relu(u).mean(0), atol=2e-3)
    assert torch.allclose(var, torch.relu(u).var(0), atol=3e-3)
    assert torch.allclose(slope, (u > 0).double().mean(0), atol=2e-3)


def _explicit_matrix(moments, intercept, ridge):
    """The readout's system, formed densely: sum_c p_c Sigma_c + M~ diag(p) M~^T + ridge I."""
    p, means = moments.weights, moments.mean
    eye = torch.eye(means.shape[0], dtype=torch.float64)
    sigma = sum(p[c] * _column_cov(moments, c) for c in range(len(p)))
    spread = means - (means @ p)[:, None] if intercept else means
    return sigma + spread @ torch.diag(p) @ spread.T + ridge * eye, spread @ (p * moments.labels)


def _column_cov(moments, c):
    """Sigma_c as a dense matrix, column by column through covariance_times."""
    size, clusters = moments.mean.shape
    out = torch.empty(size, size, dtype=torch.float64)
    for j in range(size):
        v = torch.zeros(size, clusters, dtype=torch.float64)
        v[j, c] = 1.0
        out[:, j] = moments.covariance_times(v)[:, c]
    return out


@pytest.mark.parametrize("intercept,ridge", [(True, 0.0), (False, 0.01)])
def test_matrix_free_solve_equals_the_dense_solve(intercept, ridge):
    f = random_feature_matrix(20, 40, torch.Generator().manual_seed(1))
    moments = cluster_moments(f, 0.3**2)
    matrix, rhs = _explicit_matrix(moments, intercept, ridge)
    assert torch.allclose(matrix, matrix.T, atol=1e-12)
    beta, _ = population_readout(moments, ridge, intercept)
    assert torch.allclose(beta, torch.linalg.solve(matrix, rhs), rtol=1e-7, atol=1e-9)
    # the covariance's diagonal is the exact per-feature variance
    _, var, _ = relu_gaussian_moments(moments.features[:2].T @ torch.tensor([[1.0, -1.0, 0, 0], [0, 0, 1.0, -1.0]],
                                                                           dtype=torch.float64) / math.sqrt(20), 0.3)
    assert torch.allclose(torch.diagonal(_column_cov(moments, 0)), var[:, 0], atol=1e-12)


def test_conjugate_gradient_reports_failure():
    matrix = torch.diag(torch.logspace(0, 8, 50, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="did not reach"):
        conjugate_gradient(lambda v: matrix @ v, torch.ones(50, dtype=torch.float64), tol=1e-14, max_iter=3)


def _monte_carlo_error(f, delta, ridge, intercept, n=100_000, reps=4, seed=2, mixture=XOR):
    """Population least squares on sampled features (normal equations over reps * n samples),
    then the test error on as many fresh samples: the quantity the equivalence approximates."""
    g = torch.Generator().manual_seed(seed)
    size = f.shape[1] + 1
    gram, rhs, total = torch.zeros(size, size, dtype=torch.float64), torch.zeros(size, dtype=torch.float64), 0

    def design(x):
        z = random_features(x, f)
        return torch.cat([z, torch.full((len(z), 1), 1.0 if intercept else 0.0, dtype=z.dtype)], 1)

    for _ in range(reps):
        x, y = sample_xor_mixture(n, f.shape[0], delta, g, torch.float64, mixture=mixture)
        z = design(x)
        gram += z.T @ z
        rhs += z.T @ y.double()
        total += n
    reg = ridge * torch.eye(size, dtype=torch.float64)
    reg[-1, -1] = 0.0 if intercept else 1.0
    w = torch.linalg.solve(gram / total + reg, rhs / total)
    wrong = 0.0
    for _ in range(reps):
        x, y = sample_xor_mixture(n, f.shape[0], delta, g, torch.float64, mixture=mixture)
        wrong += float((~(design(x) @ w * y > 0)).double().sum())
    return wrong / total


@pytest.mark.parametrize("dim,ratio,inverse_snr,intercept,ridge,mixed", [
    (50, 2, 0.2, True, 0.0, False), (50, 2, 0.5, False, 0.01, False), (100, 2, 0.3, True, 0.0, False),
    (100, 2, 0.5, False, 0.01, True), (100, 4, 1.0, False, 0.01, True)])
def test_equivalent_error_matches_monte_carlo(dim, ratio, inverse_snr, intercept, ridge, mixed):
    """Before this test, a check with 10^6 samples per fit on (D, P/D, 1/SNR) = (50, 2, 0.2),
    (50, 2, 0.5), (100, 1, 0.3), (100, 4, 0.3) and (100, 2, 1.0), both readouts each, found a
    largest |difference| of 0.0048 (at 1/SNR = 0.5). Here 4 x 10^5 samples: the Monte-Carlo
    error's own standard error is about 0.0008. The mixed mixture (section 6: means of norm
    sqrt(D), so O(1) shifts of the pre-activations) is checked at the same tolerance."""
    f = random_feature_matrix(dim, ratio * dim, torch.Generator().manual_seed(1))
    mixture = mixed_snr_mixture(dim) if mixed else XOR
    theory = equivalent_error(f, inverse_snr**2, ridge, intercept, means=mixture.means, labels=mixture.labels)
    assert theory == pytest.approx(_monte_carlo_error(f, inverse_snr**2, ridge, intercept, mixture=mixture), abs=0.0075)
    assert 0.02 < theory < 0.45  # neither trivially solved nor at chance


def test_equivalent_error_limits_and_finite_dimension():
    g = torch.Generator().manual_seed(3)
    f = random_feature_matrix(100, 200, g)
    assert equivalent_error(f, 0.01**2, 0.01, False) < 1e-3  # clusters far apart
    assert equivalent_error(f, 5.0**2, 0.01, False) > 0.49  # noise swamps the O(1/sqrt(D)) signal
    # intercept or not, ridge 0 or the weight decay: the same up to a few thousandths
    assert equivalent_error(f, 0.3**2, 0.0, True) == pytest.approx(equivalent_error(f, 0.3**2, 0.01, False), abs=0.01)
    # a finite-D formula: at fixed P / D the error rises with D towards chance
    errors = [equivalent_error(random_feature_matrix(d, 2 * d, g), 0.2**2, 0.0, True) for d in (50, 400)]
    assert errors[1] > errors[0] + 0.05
    with pytest.raises(ValueError, match="norm sqrt"):
        cluster_moments(2 * f, 0.1)


def test_equivalent_rf_errors_records_and_more_features_help():
    rows = equivalent_rf_errors([0.2, 0.3], 80, [0.5, 4.0], 0.01, seed=4)
    assert [(r["inverse_snr"], r["ratio"]) for r in rows] == [(0.2, 0.5), (0.3, 0.5), (0.2, 4.0), (0.3, 4.0)]
    err = {(r["inverse_snr"], r["ratio"]): r["error"] for r in rows}
    assert err[(0.2, 4.0)] < err[(0.2, 0.5)] - 0.02


def test_lazy_scaling_rows_are_section_ones_fits_at_other_sizes():
    rows = lazy_scaling_rows([0.1, 0.4], [(20, 80)], kernel=False, seed=7)
    # each size and noise level its own SeedSequence stream: (seed, D, n, 1/SNR in thousandths)
    expected = lazy_methods(0.4, 20, 80, [1.0], kernel=False, seed=derived_seed(7, 20, 80, 400))
    assert len(rows) == 2 and rows[1]["error"] == expected[0]["error"] and rows[1]["method"] == "random features"
    assert rows[1]["seed"] == derived_seed(7, 20, 80, 400) != rows[0]["seed"]
    assert lazy_scaling_rows([0.4], [(20, 80)], kernel=False, seed=7)[0]["seed"] == rows[1]["seed"]  # keyed by level
    kernel = lazy_scaling_rows([0.1], [(20, 40), (30, 60)], kernel=True, seed=7)
    assert [(r["dim"], r["method"]) for r in kernel] == [(20, "kernel"), (30, "kernel")]


def test_informed_start_points_every_unit_at_a_cluster():
    start = informed_start(2, 8, cosine=0.9, norm=1.2, off_plane=0.01)
    assert start.q.shape == (2, 8, 8) and start.r.shape == (2, 8, 2) and start.v.shape == (2, 8)
    perp = start.q - start.r @ start.r.transpose(1, 2)
    assert torch.allclose(perp, 0.01 * torch.eye(8, dtype=torch.float64).expand(2, -1, -1))
    means = torch.tensor(CLUSTER_MEANS, dtype=torch.float64)  # unit k points at cluster k mod 4
    cos = (start.r[0, :4] * means).sum(1) / start.r[0, :4].norm(dim=1)
    assert torch.allclose(cos, torch.full((4,), 0.9, dtype=torch.float64))
    assert torch.allclose(start.r[0].norm(dim=1), torch.full((8,), 1.2, dtype=torch.float64))
    assert torch.equal(start.v[0].sign(), torch.tensor(CLUSTER_LABELS * 2, dtype=torch.float64))
    assert len({tuple(r.tolist()) for r in start.r[0].round(decimals=6)}) == 8  # no two units coincide


def test_relaxation_reaches_a_stationary_state_near_the_oracle():
    delta = torch.tensor([0.25, 1.0], dtype=torch.float64)
    base = gaussian_base(2048, 4, seed=5)
    state = relax_to_stationarity(informed_start(2, 4), delta, base, lr=0.05, weight_decay=0.01)
    assert state.converged.all() and state.time <= 60 / 0.05  # settled by lr * t = 60
    oracle = oracle_error(1 / delta.sqrt())
    gap = state.error - oracle
    assert (gap > -0.005).all() and (gap < 0.015).all()  # measured when written: 0.0003 and 0.009 at base 4096
    drift = ode_derivative(state.state, delta, base, 0.05, 0.01)
    start_drift = ode_derivative(informed_start(2, 4), delta, base, 0.05, 0.01)
    assert drift.r.abs().max() < 0.05 * start_drift.r.abs().max()
    # integrating on changes the error by little (a slow mode keeps lowering the half-MSE)
    later = relax_to_stationarity(state.state, delta, base, lr=0.05, weight_decay=0.01, window=40.0, tol=1.0)
    assert torch.allclose(later.error, state.error, atol=0.003)
    assert (population_errors(state.state, delta, base)["error"] == state.error).all()


def test_stationary_states_records():
    rows = stationary_states([0.3], [4], [0.05, 0.5], [0.01], gaussian_base(1024, 4), max_time=30.0)
    assert [(r["K"], r["lr"]) for r in rows] == [(4, 0.05), (4, 0.5)]
    oracle = float(oracle_error(1 / 0.3))  # 0.018
    assert all(abs(r["error"] - oracle) < 0.01 and r["time"] > 0 for r in rows)


def test_relaxation_is_stable_for_many_units_at_high_noise():
    """K = 16 at 1/SNR = 2 is stiff (stiffness about 44 at the informed start): the steps scale
    with it, so halving them changes nothing. Measured when written: 0.4614 with both (base 1024)."""
    delta = torch.tensor([4.0], dtype=torch.float64)
    base = gaussian_base(512, 16, seed=1)
    start = informed_start(1, 16)
    assert float(stiffness(start, delta, base)) > 10
    runs = [relax_to_stationarity(start, delta, base, 0.05, 0.01, step=step, tol=0.0, max_time=20.0)
            for step in (1.0, 0.5)]
    assert all(r.error.isfinite().all() and not r.converged.any() for r in runs)  # tol 0: ran to max_time
    assert float(runs[0].error[0]) == pytest.approx(float(runs[1].error[0]), abs=0.003)
    assert float(runs[0].error[0]) < 0.49  # left chance: the units found the clusters


def test_readout_error_scores_a_given_readout():
    f = random_feature_matrix(40, 80, torch.Generator().manual_seed(6))
    moments = cluster_moments(f, 0.3**2)
    beta, _ = population_readout(moments, 0.01, intercept=False)
    assert readout_error(f, 0.3**2, beta) == pytest.approx(equivalent_error(f, 0.3**2, 0.01, False), abs=1e-12)
    assert readout_error(f, 0.3**2, -beta) == pytest.approx(1 - equivalent_error(f, 0.3**2, 0.01, False), abs=1e-12)


def test_online_readout_theory_scores_the_reached_and_the_limit_readouts():
    from lsa_utils.experiments.gaussian_mixture import online_readout_theory, train_readout_online
    online = train_readout_online([0.2, 1.0], 30, 1.0, [0.0, 5.0], lr=0.05, weight_decay=0.01, n_test=500,
                                  progress=False)
    reached, limit = online_readout_theory(online, [0.2, 1.0], 0.01)
    f = online["features"]
    for i, s in enumerate([0.2, 1.0]):
        assert reached[s] == pytest.approx(readout_error(f, s**2, online["readout"][i]), abs=1e-12)
        assert limit[s] == pytest.approx(equivalent_error(f, s**2, 0.01, intercept=False), abs=1e-12)
