import warnings

import numpy as np
import pytest
import torch

from lsa_utils.kernels.arccos import two_layer_relu_kernel
from lsa_utils.kernels.solve import cholesky_solve_psd, gd_mse_predict, kernel_ridge_predict, predict_in_blocks


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    xt = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    k = two_layer_relu_kernel(x, b_std=0.5)
    kt = two_layer_relu_kernel(xt, x, b_std=0.5)
    return k, kt, y


def test_kernel_ridge_matches_a_direct_solve(problem):
    k, kt, y = problem
    reg = 1e-2
    expected = kt @ torch.linalg.solve(k + reg * torch.eye(30, dtype=k.dtype), y)
    assert torch.allclose(kernel_ridge_predict(k, kt, y, reg), expected, rtol=1e-10, atol=1e-12)
    # relative regularisation: diag_reg * trace(K) / n
    rel = reg * float(torch.trace(k)) / 30
    expected = kt @ torch.linalg.solve(k + rel * torch.eye(30, dtype=k.dtype), y)
    assert torch.allclose(kernel_ridge_predict(k, kt, y, reg, relative_reg=True), expected, rtol=1e-10)
    # a vector target gives a vector prediction
    assert kernel_ridge_predict(k, kt, y[:, 0], reg).shape == (9,)


def test_gd_mse_predict_equals_iterated_gradient_descent(problem):
    """The closed form equals t explicit steps of GD on the kernel model, loss 1/(2n)||f - y||^2."""
    k, kt, y = problem
    n, lr, steps = 30, 0.3, 250
    coef = torch.zeros(n, 2, dtype=k.dtype)  # f(x) = K(x, X) coef
    for _ in range(steps):
        coef -= lr / n * (k @ coef - y)
    expected = kt @ coef
    assert torch.allclose(gd_mse_predict(k, kt, y, lr, steps), expected, rtol=1e-9, atol=1e-12)


def test_gd_mse_predict_tends_to_ridgeless_regression(problem):
    k, kt, y = problem
    lam_min = float(torch.linalg.eigvalsh(k)[0])
    steps = int(60 * 30 / (0.5 * lam_min))  # many time constants of the slowest mode
    far = gd_mse_predict(k, kt, y, 0.5, steps)
    assert torch.allclose(far, kernel_ridge_predict(k, kt, y), rtol=1e-6, atol=1e-8)


def test_gd_mse_predict_rejects_a_divergent_learning_rate(problem):
    k, kt, y = problem
    lam_max = float(torch.linalg.eigvalsh(k)[-1])
    with pytest.raises(ValueError, match="lr=.* is not allowed: gradient descent diverges"):
        gd_mse_predict(k, kt, y, 2.5 * 30 / lam_max, 10)


def test_cholesky_adds_jitter_and_says_so():
    v = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    singular = v @ v.T  # rank 2
    rhs = torch.randn(6, 1, dtype=torch.float64)
    with pytest.warns(UserWarning, match="added jitter"):
        sol = cholesky_solve_psd(singular, rhs)
    assert torch.isfinite(sol).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a well-conditioned matrix needs no jitter and no warning
        cholesky_solve_psd(singular + torch.eye(6, dtype=torch.float64), rhs)


def test_shape_mismatches_fail_clearly(problem):
    k, kt, y = problem
    with pytest.raises(ValueError, match="k_test_train must have shape"):
        kernel_ridge_predict(k, kt[:, :5], y)
    with pytest.raises(ValueError, match="y must have 30 rows"):
        kernel_ridge_predict(k, kt, y[:4])
    with pytest.raises(ValueError, match="k_train must be square"):
        kernel_ridge_predict(k[:, :4], kt, y)


def test_kernel_ridge_matches_neural_tangents_predict(problem, nt_reference):
    import neural_tangents as nt

    k, kt, y = problem
    predict = nt.predict.gradient_descent_mse(k.numpy(), y.numpy(), diag_reg=1e-3)
    _, ref = predict(None, 0.0, 0.0, kt.numpy())  # t = None: infinite time, f0 = 0
    ours = kernel_ridge_predict(k, kt, y, 1e-3, relative_reg=True)
    assert np.max(np.abs(ours.numpy() - np.asarray(ref))) / np.max(np.abs(ref)) < 1e-6


def test_classification_helpers():
    from lsa_utils.kernels import classification_accuracy, one_hot_targets

    labels = torch.tensor([0, 2, 1, 2])
    targets = one_hot_targets(labels, 3)
    assert targets.dtype == torch.float64 and targets.tolist()[1] == [0.0, 0.0, 1.0]
    assert classification_accuracy(targets, labels) == 1.0
    assert classification_accuracy(targets[[1, 1, 2, 3]], labels) == 0.75
    signs = torch.tensor([1, -1, 1, 1])
    assert classification_accuracy(torch.tensor([0.3, -2.0, -0.1, 5.0]), signs) == 0.75
    bits = torch.tensor([1, 0, 0, 1])
    assert classification_accuracy(torch.tensor([[0.9], [0.2], [0.7], [0.6]]), bits) == 0.75
    with pytest.raises(ValueError, match="4 predictions but 3 labels"):
        classification_accuracy(targets, labels[:3])


def test_kernel_ridge_matches_gradient_descent_mse_ensemble(nt_reference):
    """Our serial kernel plus kernel ridge regression against nt.predict's ensemble predictor."""
    import neural_tangents as nt

    from lsa_utils.kernels import serial
    from lsa_utils.kernels.reference import max_relative_error, ours, stax_kernel_fn, to_nchw

    spec = [("conv", 4, 3, 1, "SAME", 1.3, 0.2), ("relu",), ("flatten",), ("dense", 2, 1.0, 0.1)]
    rng = np.random.default_rng(3)
    x_train, x_test = rng.standard_normal((12, 5, 5, 2)), rng.standard_normal((4, 5, 5, 2))
    y_train = rng.standard_normal((12, 2))
    predict = nt.predict.gradient_descent_mse_ensemble(stax_kernel_fn(spec), x_train, y_train, diag_reg=1e-2)
    ref = np.asarray(predict(x_test=x_test, get="ntk"))
    kernel = serial(*ours(spec))
    k_train, k_test = kernel(to_nchw(x_train)), kernel(to_nchw(x_test), to_nchw(x_train))
    mine = kernel_ridge_predict(k_train, k_test, torch.from_numpy(y_train), 1e-2, relative_reg=True)
    assert max_relative_error(mine.numpy(), ref) < 1e-6


def test_gd_mse_predict_with_large_stable_steps():
    """1 <= lr * lam / n < 2 still converges (the residual alternates sign); no NaN."""
    k = torch.tensor([[1.0]], dtype=torch.float64)
    y = torch.tensor([1.0], dtype=torch.float64)
    coef = 0.0
    for _ in range(3):
        coef -= 1.5 * (1.0 * coef - 1.0)
    assert float(gd_mse_predict(k, k, y, 1.5, 3)) == pytest.approx(coef)  # 1.125


def test_classification_accuracy_with_all_positive_pm1_labels():
    from lsa_utils.kernels import classification_accuracy

    assert classification_accuracy(torch.tensor([0.3]), torch.tensor([1])) == 1.0
    assert classification_accuracy(torch.tensor([0.3]), torch.tensor([1]), coding="01") == 0.0
    with pytest.raises(ValueError, match="coding='bits' is not allowed"):
        classification_accuracy(torch.tensor([0.3]), torch.tensor([1]), coding="bits")


def test_predict_in_blocks_equals_one_product():
    g = torch.Generator().manual_seed(12)
    x = torch.randn(1000, 5, generator=g, dtype=torch.float64)
    proj = torch.randn(5, 40, generator=g, dtype=torch.float64)
    coef = torch.randn(40, 3, generator=g, dtype=torch.float64)
    embed = lambda z: torch.relu(z @ proj)  # noqa: E731
    # 3,200 bytes per block: 10 rows of 40 features, so 100 blocks
    assert torch.allclose(predict_in_blocks(embed, x, coef, max_bytes=3200), embed(x) @ coef, atol=1e-12)
