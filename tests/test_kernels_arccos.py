import math

import numpy as np
import pytest
import torch

from lsa_utils.kernels.arccos import relu_expectations, two_layer_relu_kernel
from lsa_utils.models.two_layer import TwoLayerReLU



def max_rel_err(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


CASES = [
    # (n1, n2, d, W_std, b_std, readout_b_std)
    (7, None, 1, 1.0, 1.0, 0.0),
    (9, 5, 3, 1.0, 0.0, None),
    (6, 6, 10, 1.5, 0.3, None),
    (8, None, 50, 0.7, 2.0, 0.5),
    (5, 11, 2, 2.0, 0.1, 0.0),
]


@pytest.mark.parametrize("get", ["nngp", "ntk"])
@pytest.mark.parametrize("n1,n2,d,W_std,b_std,readout", CASES)
def test_two_layer_relu_kernel_matches_neural_tangents(get, n1, n2, d, W_std, b_std, readout, nt_reference):
    rng = np.random.default_rng(n1 * 100 + d)
    x1 = rng.standard_normal((n1, d))
    x2 = None if n2 is None else rng.standard_normal((n2, d))
    ours = two_layer_relu_kernel(
        torch.from_numpy(x1), None if x2 is None else torch.from_numpy(x2),
        get=get, W_std=W_std, b_std=b_std, readout_b_std=readout,
    )
    # our readout_b_std=None means 'same as b_std'; in stax b_std=None means 'no bias'
    ref = nt_reference.two_layer_relu(x1, x2, get, W_std, b_std, b_std if readout is None else readout)
    assert ours.dtype == torch.float64
    assert ours.shape == ref.shape
    assert max_rel_err(ours.numpy(), ref) < 1e-5


def test_relu_expectations_at_known_angles():
    one = torch.tensor(1.0, dtype=torch.float64)
    k1, k0 = relu_expectations(one, one, one)  # u = v: E[relu(u)^2] = 1/2, E[1{u>0}] = 1/2
    assert float(k1) == pytest.approx(0.5, abs=1e-12) and float(k0) == pytest.approx(0.5, abs=1e-12)
    k1, k0 = relu_expectations(one, one, -one)  # u = -v: never both positive
    assert float(k1) == pytest.approx(0.0, abs=1e-12) and float(k0) == pytest.approx(0.0, abs=1e-12)
    k1, k0 = relu_expectations(one, one, 0 * one)  # independent: E[relu]^2 = 1/(2 pi)
    assert float(k1) == pytest.approx(1 / (2 * math.pi), rel=1e-12) and float(k0) == pytest.approx(0.25)


def test_relu_expectations_against_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    q11, q22, q12 = 2.0, 0.5, 0.6
    cov = torch.tensor([[q11, q12], [q12, q22]], dtype=torch.float64)
    z = torch.randn(2_000_000, 2, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    mc1 = (torch.relu(z[:, 0]) * torch.relu(z[:, 1])).mean()
    mc0 = ((z[:, 0] > 0) & (z[:, 1] > 0)).double().mean()
    k1, k0 = relu_expectations(*(torch.tensor(v, dtype=torch.float64) for v in (q11, q22, q12)))
    assert float(k1) == pytest.approx(float(mc1), rel=5e-3)
    assert float(k0) == pytest.approx(float(mc0), rel=5e-3)


def empirical_ntk(model: TwoLayerReLU, x: torch.Tensor) -> torch.Tensor:
    """J J^T of the scalar network over all parameters, shape (n, n)."""
    rows = []
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(model(x[i:i + 1]).sum(), list(model.parameters()))
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    jac = torch.stack(rows)
    return jac @ jac.T


def test_wide_network_empirical_ntk_matches_the_analytic_kernel():
    """Monte Carlo: at width 2^16 the empirical NTK is within 2e-2 of the infinite-width one."""
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = TwoLayerReLU(3, 2**16, "ntk", W_std=1.3, b_std=0.4, symmetric=False,
                         generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    analytic = two_layer_relu_kernel(x, get="ntk", W_std=1.3, b_std=0.4, readout_b_std=0.0)
    assert max_rel_err(empirical_ntk(model, x).detach(), analytic) < 2e-2


def test_bad_inputs_fail_with_clear_messages():
    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"get='cntk' is not allowed"):
        two_layer_relu_kernel(x, get="cntk")
    with pytest.raises(ValueError, match=r"x2 must have shape \(n2, 3\)"):
        two_layer_relu_kernel(x, torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="x1 must have shape"):
        two_layer_relu_kernel(torch.randn(4))
    with pytest.raises(ValueError, match="W_std=-1"):
        two_layer_relu_kernel(x, W_std=-1)


def test_zero_variance_inputs_give_finite_kernels_like_neural_tangents(nt_reference):
    """A zero input without bias has zero variance: the kernel must not become 0/0 = NaN."""
    x = np.zeros((2, 3))
    x[1] = [1.0, -2.0, 0.5]
    for get in ("nngp", "ntk"):
        ours = two_layer_relu_kernel(torch.from_numpy(x), get=get, b_std=0.0)
        assert torch.isfinite(ours).all()
        ref = nt_reference.two_layer_relu(x, None, get, 1.0, 0.0, 0.0)
        assert max_rel_err(ours.numpy(), ref) < 1e-5


def test_row_blocks_match_one_pass():
    """A Gram matrix too large for one CPU block is computed in row blocks; the blocks agree
    with the recursion evaluated on the whole matrix at once."""
    g = torch.Generator().manual_seed(11)
    x1 = torch.randn(2000, 7, generator=g, dtype=torch.float64)
    x2 = torch.randn(4096, 7, generator=g, dtype=torch.float64)  # 768 rows per 24 MiB block
    for get in ("nngp", "ntk"):
        blocked = two_layer_relu_kernel(x1, x2, get=get, W_std=1.3, b_std=0.4)
        s12 = 1.69 * x1 @ x2.T / 7 + 0.16
        s11 = (1.69 * (x1 * x1).sum(1) / 7 + 0.16)[:, None]
        s22 = (1.69 * (x2 * x2).sum(1) / 7 + 0.16)[None, :]
        k1, k0 = relu_expectations(s11, s22, s12)
        nngp = 1.69 * k1 + 0.16
        expected = nngp if get == "nngp" else nngp + 1.69 * k0 * s12
        assert torch.allclose(blocked, expected, rtol=1e-12, atol=1e-12)
