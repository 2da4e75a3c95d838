"""Chapter 2 (Damian et al. 2022): Hermite targets, the one-step algorithm and its metrics."""

import math

import numpy as np
import pytest
import torch

from lsa_utils.data.multi_index import (
    SOURCE_LINK, TARGET_LINK, HermiteLink, MultiIndexTask, hermite, random_orthonormal_rows,
)
from lsa_utils.experiments.representation import (
    METHODS, empirical_hessian, first_layer_gradient, one_step_features, principal_angles, run_methods,
    subspace_energy, symmetric_init, top_eigenvectors,
)
from lsa_utils.kernels.solve import feature_ridge_path, kernel_ridge_predict, ridge_path_coefficients


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_hermite_polynomials_are_orthonormal_and_match_closed_forms():
    z = torch.linspace(-3, 3, 7, dtype=torch.float64)
    assert torch.allclose(hermite(z, 2), (z**2 - 1) / math.sqrt(2))
    assert torch.allclose(hermite(z, 4), (z**4 - 6 * z**2 + 3) / math.sqrt(24))
    # Gauss-Hermite quadrature (probabilists'): exact for polynomials of degree <= 2*40-1
    x, w = np.polynomial.hermite_e.hermegauss(40)
    x, w = torch.tensor(x), torch.tensor(w) / math.sqrt(2 * math.pi)
    gram = torch.tensor([[float((w * hermite(x, j) * hermite(x, k)).sum()) for k in range(6)] for j in range(6)],
                        dtype=torch.float64)
    assert torch.allclose(gram, torch.eye(6, dtype=torch.float64), atol=1e-10)
    with pytest.raises(ValueError, match="degree"):
        hermite(z, -1)


def test_links_have_unit_second_moment_and_a_rank_r_expected_hessian():
    z = torch.randn(400_000, 2, generator=gen(), dtype=torch.float64)
    for link in (SOURCE_LINK, TARGET_LINK):
        values = link(z)
        assert float((values**2).mean()) == pytest.approx(1.0, abs=0.02)
        assert float(values.mean()) == pytest.approx(0.0, abs=0.01)
        assert link.degree == 4 and link.r == 2
    h = SOURCE_LINK.expected_hessian()
    assert torch.allclose(h, torch.tensor([[1.5 * math.sqrt(2), 0.5], [0.5, 1.5 * math.sqrt(2)]],
                                          dtype=torch.float64) / math.sqrt(7.75))
    assert int(torch.linalg.matrix_rank(h)) == 2
    # Stein: E[g(z) (z z^T - I)] = E[grad^2 g]
    stein = (z.T * SOURCE_LINK(z)) @ z / len(z) - SOURCE_LINK(z).mean() * torch.eye(2, dtype=torch.float64)
    assert torch.allclose(stein, h, atol=0.03)


def test_link_validation():
    with pytest.raises(ValueError, match="twice"):
        HermiteLink(((1.0, (2, 0)), (2.0, (2, 0))))
    with pytest.raises(ValueError, match="non-negative degrees"):
        HermiteLink(((1.0, (2, 0)), (2.0, (1,))))
    with pytest.raises(ValueError, match="zero"):
        HermiteLink(((0.0, (2, 0)),))


def test_task_hessian_lives_in_span_u_and_matches_the_empirical_estimate():
    u = random_orthonormal_rows(2, 6, gen(3))
    assert torch.allclose(u @ u.T, torch.eye(2, dtype=torch.float64), atol=1e-12)
    task = MultiIndexTask(u, SOURCE_LINK)
    h = task.expected_hessian()
    assert int(torch.linalg.matrix_rank(h, atol=1e-8)) == 2
    x, y = task.sample(300_000, gen(4))
    assert torch.allclose(empirical_hessian(x, y), h, atol=0.03)
    assert float(principal_angles(top_eigenvectors(h, 2), u).max()) < 1e-6


def test_symmetric_init_gives_a_zero_network_and_the_gradient_matches_autograd():
    d, m, n = 5, 8, 64
    w0, a0 = symmetric_init(m, d, gen(1))
    assert torch.allclose(w0.norm(dim=1), torch.ones(m, dtype=torch.float64))
    x = torch.randn(n, d, generator=gen(2), dtype=torch.float64)
    y = torch.randn(n, generator=gen(3), dtype=torch.float64)
    w = w0.clone().requires_grad_()
    f = torch.relu(x @ w.T) @ a0
    assert float(f.detach().abs().max()) < 1e-12
    loss = 0.5 * ((f - y) ** 2).mean()
    loss.backward()
    assert torch.allclose(first_layer_gradient(w0, a0, x, y, chunk=10), w.grad, atol=1e-12)
    # weight decay 1/eta: W_1 = W_0 - eta (grad + W_0 / eta) = -eta grad
    w1, eta = one_step_features(w0, a0, x, y, eta=0.7)
    assert eta == 0.7 and torch.allclose(w1, w0 - 0.7 * (w.grad + w0 / 0.7), atol=1e-12)
    w1, eta = one_step_features(w0, a0, x, y, row_norm=2.0)
    assert float(w1.norm(dim=1).mean()) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="even width"):
        symmetric_init(7, d)


def test_ridge_path_matches_kernel_ridge_for_each_ridge():
    x = torch.randn(30, 4, generator=gen(5), dtype=torch.float64)
    xt = torch.randn(7, 4, generator=gen(6), dtype=torch.float64)
    y = torch.randn(30, generator=gen(7), dtype=torch.float64)
    k, kt = torch.exp(-torch.cdist(x, x) ** 2), torch.exp(-torch.cdist(xt, x) ** 2)
    ridges = [1e-4, 1e-2, 1.0]
    path = kt @ ridge_path_coefficients(k, y, ridges)
    for column, r in zip(path.T, ridges):
        assert torch.allclose(column, kernel_ridge_predict(k, kt, y, r, relative_reg=True), atol=1e-9)
    with pytest.raises(ValueError, match="square"):
        ridge_path_coefficients(k[:, :5], y, ridges)


@pytest.mark.parametrize("n", [12, 40])
def test_feature_ridge_path_equals_the_primal_path_with_fewer_samples_than_features(n):
    """n < m goes through the n x n problem; it must give the m x m problem's coefficients (the
    same relative ridges, math.inf included), and n >= m is the m x m problem itself."""
    phi = torch.relu(torch.randn(n, 25, generator=gen(8), dtype=torch.float64))
    y = torch.randn(n, generator=gen(9), dtype=torch.float64)
    ridges = [1e-6, 1e-2, 1.0, math.inf]
    primal = ridge_path_coefficients(phi.T @ phi, phi.T @ y, ridges)
    path = feature_ridge_path(phi, y, ridges)
    assert path.shape == (25, 4) and float(primal[:, :3].abs().max()) > 1e-3
    assert torch.allclose(path, primal, rtol=1e-7, atol=1e-9 * float(primal.abs().max()))
    assert torch.all(path[:, 3] == 0)


def test_subspace_metrics():
    u = torch.eye(4, dtype=torch.float64)[:2]
    w = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 1.0]], dtype=torch.float64)
    assert subspace_energy(w, u) == pytest.approx(2 / 3)
    basis = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 1]], dtype=torch.float64)
    basis[1] /= basis[1].norm()
    angles = principal_angles(basis, u)
    assert torch.allclose(angles, torch.tensor([0.0, math.pi / 4], dtype=torch.float64), atol=1e-7)


def test_one_step_network_beats_random_features_and_the_ntk_at_n_of_16_d_squared():
    """At d = 8, n = 1024 = 16 d^2 the learned rows are mostly in span(U) and the network's test
    MSE is well below both baselines (measured: 0.150 against 0.322 and 0.277, energy 0.79)."""
    d = 8
    task = MultiIndexTask(random_orthonormal_rows(2, d, gen(8)), SOURCE_LINK)
    row = run_methods(task, 16 * d * d, 512, seed=2, n_val=2000, n_test=5000)
    assert set(METHODS) <= set(row)
    assert row["energy"] > 0.7 and row["angle_w"] < 35
    assert row["network"] < 0.7 * min(row["random features"], row["NTK"])


# --- Algorithm 1's preprocessing, fair baselines, the floor (issue 17) ----------------------------

def test_linear_part_and_split_minus_keep_every_error():
    from lsa_utils.experiments.representation import LinearPart, Split

    x = torch.randn(200_000, 3, generator=gen(11), dtype=torch.float64)
    beta = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    part = LinearPart.fit(x, 1.5 + x @ beta)
    # alpha = mean(y), beta = (1/n) sum y x: the sample forms of E[y] and E[y x] for x ~ N(0, I)
    assert part.alpha == pytest.approx(1.5, abs=0.02) and torch.allclose(part.beta, beta, atol=0.02)
    task = MultiIndexTask(random_orthonormal_rows(2, 3, gen(12)), SOURCE_LINK)
    split = Split.draw(task, 50, 20, 30, gen(13))
    shifted = split.minus(part)
    prediction = torch.randn(30, generator=gen(14), dtype=torch.float64)
    # a model fitted to the shifted labels predicts part(x) + its output: the same test error
    assert torch.allclose((prediction - shifted.f_test) ** 2, (prediction + part(split.x_test) - split.f_test) ** 2)
    assert torch.allclose(shifted.y_val + part(split.x_val), split.y_val)


def test_preprocessing_removes_the_shared_direction_of_a_linear_target():
    """On f*(x) = <u, x> every neuron's step without preprocessing is +-u/2 (up to sampling
    noise): W_1's rows all point along u. Step 0 leaves only that noise, so the rows spread."""
    from lsa_utils.experiments.representation import LinearPart

    d, n, m = 10, 20_000, 64
    u = random_orthonormal_rows(1, d, gen(15))[0]
    x = torch.randn(n, d, generator=gen(16), dtype=torch.float64)
    y = x @ u
    w0, a0 = symmetric_init(m, d, gen(17))
    raw, _ = one_step_features(w0, a0, x, y)
    cleaned, _ = one_step_features(w0, a0, x, y - LinearPart.fit(x, y)(x))
    cos = lambda w: (w @ u).abs() / w.norm(dim=1)  # noqa: E731
    assert float(cos(raw).min()) > 0.95
    assert float(cos(cleaned).mean()) < 0.6


def test_only_the_ratio_of_bias_scale_to_row_norm_matters():
    """ReLU is positively homogeneous and every ridge is relative: (row_norm, bias_std) and
    (2 row_norm, 2 bias_std) give the same network, random features and NTK errors."""
    task = MultiIndexTask(random_orthonormal_rows(2, 6, gen(18)), SOURCE_LINK)
    one = run_methods(task, 300, 64, seed=4, n_val=500, n_test=1000, row_norm=0.5, bias_std=1.0)
    two = run_methods(task, 300, 64, seed=4, n_val=500, n_test=1000, row_norm=1.0, bias_std=2.0)
    for method in METHODS:
        assert one[method] == pytest.approx(two[method], rel=1e-6), method
    three = run_methods(task, 300, 64, seed=4, n_val=500, n_test=1000, row_norm=1.0, bias_std=1.0)
    assert three["network"] != pytest.approx(one["network"], rel=1e-3)


def test_feature_floor_is_zero_for_an_affine_target_and_falls_with_its_samples():
    """The floor's readout includes the affine part, so an affine f* has floor 0. For a
    non-affine f* the readout on N samples is worse than on 96 N, and the half-sample readout
    bounds what is left: e(N/2) - e(N) is at least the remaining excess e(N) - e(96 N) in size
    order (an excess falling as 1/N makes them equal)."""
    from lsa_utils.claims.representation import fresh_readout_excess
    from lsa_utils.experiments.representation import Split, feature_floor

    d, m = 4, 24
    linear = MultiIndexTask(random_orthonormal_rows(2, d, gen(19)), HermiteLink(((1.0, (1, 0)), (0.5, (0, 1)))))
    w, _ = symmetric_init(m, d, gen(20))
    bias = torch.randn(m, generator=gen(21), dtype=torch.float64)
    split = Split.draw(linear, 10, 2000, 2000, gen(22))
    assert feature_floor(w, bias, linear, 20_000, gen(23), split)["floor"] < 1e-8
    task = MultiIndexTask(linear.u, HermiteLink(((1.0, (2, 0)), (1.0, (1, 1)))))  # degree 2: light tails
    split = Split.draw(task, 10, 4000, 20_000, gen(24))
    small = feature_floor(w, bias, task, 2000, gen(25), split)
    large = feature_floor(w, bias, task, 192_000, gen(26), split)["floor"]
    # measured: e(1,000) 0.0650, e(2,000) 0.0647, e(192,000) 0.0631
    assert small["floor_half"] > small["floor"] > large
    left, step = small["floor"] - large, small["floor_half"] - small["floor"]
    assert 0.1 * left < step < 3 * left
    # the excess of a fresh readout on n = 500 samples, predicted from N = 2,000 and 1,000
    assert fresh_readout_excess({**small, "n": 500}) == pytest.approx(3 * step)
    with pytest.raises(ValueError, match="at least 2"):
        feature_floor(w, bias, task, 1, gen(27), split)


def test_crossings_and_the_exponent_fit():
    from lsa_utils.experiments.representation_scaling import crossing_n, exponent, fit_exponent, sample_sizes

    ns = [100, 200, 400, 800]
    # a power law is a straight line in (log n, log value): the interpolation is exact
    assert crossing_n(ns, [1.0 / (n / 100) for n in ns], 0.3) == pytest.approx(100 / 0.3)
    assert crossing_n(ns, [0.1, 0.2, 0.5, 0.9], 0.3, falling=False) == pytest.approx(
        200 * 2 ** (math.log(0.3 / 0.2) / math.log(0.5 / 0.2)))
    assert math.isnan(crossing_n(ns, [0.9, 0.8, 0.7, 0.6], 0.3))  # never crosses
    assert math.isnan(crossing_n(ns, [0.2, 0.1, 0.05, 0.01], 0.3))  # crossed before the grid
    d = np.array([16, 16, 32, 32, 64, 64])
    exact = fit_exponent(d, 3.0 * d**2.0)
    assert exact["slope"] == pytest.approx(2.0) and exact["high"] - exact["low"] < 1e-6
    noisy = fit_exponent(d, 3.0 * d**2.0 * np.array([1.1, 0.9, 1.05, 0.95, 1.1, 0.9]))
    assert noisy["low"] < 2.0 < noisy["high"] and noisy["points"] == 6
    assert math.isnan(fit_exponent([16, 16, 16], [1.0, 2.0, 3.0])["slope"])  # one d: no slope
    rows = [{"d": dd, "rep": 0, "n": n, "mse": 1.0 / (n / dd**2)} for dd in (8, 16, 32) for n in (dd**2, 2 * dd**2, 4 * dd**2)]
    assert exponent(rows, "mse", 0.4)["slope"] == pytest.approx(2.0)
    # 4 log-spaced from d = 32 to 4 d² (32, 161, 813, 4096) and every 2^k d², k >= -2
    assert sample_sizes(32, 4, 4) == [32, 161, 256, 512, 813, 1024, 2048, 4096]
