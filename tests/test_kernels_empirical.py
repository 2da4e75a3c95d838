"""Empirical NTK and linearization against neural-tangents on the same weights, and the
infinite-width limit (Monte Carlo)."""

import numpy as np
import pytest
import torch
from torch import nn

from lsa_utils.kernels import (
    Conv, Dense, Flatten, Relu, empirical_ntk, kernel_target_alignment, linearize,
    rayleigh_quotients, serial,
)
from conftest import skip_without_neural_tangents
from lsa_utils.models.ntk_layers import NHWCFlatten, NTKConv, NTKDense



def reference():
    """neural-tangents' modules ``(nt, stax, random, jnp)``; skips the test where it is absent."""
    skip_without_neural_tangents()
    import nt_reference  # noqa: F401  (switches JAX to float64, as the comparisons need)
    import jax.numpy as jnp
    import neural_tangents as nt
    from jax import random
    from neural_tangents import stax

    return nt, stax, random, jnp


def stax_mlp_and_torch_twin(key=0, d=5, width=16, k=3):
    _, stax, random, _ = reference()
    init_fn, apply_fn, _ = stax.serial(stax.Dense(width, b_std=1.0), stax.Relu(), stax.Dense(k, b_std=1.0))
    _, params = init_fn(random.PRNGKey(key), (-1, d))
    (W1, b1), _, (W2, b2) = params
    model = nn.Sequential(NTKDense(W1, b1), nn.ReLU(), NTKDense(W2, b2))
    return apply_fn, params, model


def stax_cnn_and_torch_twin(key=1, hw=5, c=2, k=2):
    _, stax, random, _ = reference()
    init_fn, apply_fn, _ = stax.serial(stax.Conv(4, (3, 3), padding="SAME", b_std=1.0), stax.Relu(), stax.Flatten(),
                                       stax.Dense(k, b_std=1.0))
    _, params = init_fn(random.PRNGKey(key), (-1, hw, hw, c))
    (Wc, bc), _, _, (Wd, bd) = params
    model = nn.Sequential(NTKConv(Wc, bc), nn.ReLU(), NHWCFlatten(), NTKDense(Wd, bd))
    return apply_fn, params, model


@pytest.mark.parametrize("method", ["jacobian", "jacobian_blocks", "ntk_vp", "auto"])
def test_empirical_ntk_matches_neural_tangents_mlp(method):
    nt, _, _, jnp = reference()
    apply_fn, params, model = stax_mlp_and_torch_twin()
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((6, 5)), rng.standard_normal((4, 5))
    ref = np.asarray(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,))(x1, x2, params))
    ours = empirical_ntk(model, torch.from_numpy(x1), torch.from_numpy(x2), method=method, batch_size=3)
    assert np.max(np.abs(ours.detach().numpy() - ref)) / np.max(np.abs(ref)) < 1e-5
    full_ref = np.asarray(nt.empirical_ntk_fn(apply_fn, trace_axes=())(x1, x1, params))
    full = empirical_ntk(model, torch.from_numpy(x1), method=method, trace_outputs=False, batch_size=4)
    assert full.shape == (6, 6, 3, 3)
    assert np.max(np.abs(full.detach().numpy() - full_ref)) / np.max(np.abs(full_ref)) < 1e-5


def test_blocked_jacobians_give_the_same_gram_and_auto_takes_them_when_blocks_fit(monkeypatch):
    import lsa_utils.kernels.empirical as empirical

    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).double()
    x1, x2 = torch.randn(9, 2, 6, 6, dtype=torch.float64), torch.randn(5, 2, 6, 6, dtype=torch.float64)
    per_input = 2 * sum(p.numel() for p in model.parameters()) * 8  # two outputs, float64
    for args in [(x1,), (x1, x2)]:
        for trace in (True, False):
            expected = empirical_ntk(model, *args, method="jacobian", trace_outputs=trace)
            blocked = empirical_ntk(model, *args, method="jacobian_blocks", trace_outputs=trace, batch_size=2,
                                    memory_budget=2 * 2 * per_input)  # blocks of 2 inputs: 5 x 5 blocks, 9 odd
            torch.testing.assert_close(blocked, expected, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(empirical, "_ntk_vp_block", lambda *a: pytest.fail("auto took NTK-vector products"))
    budget = 2 * empirical.MIN_BLOCK * per_input  # the whole Jacobian does not fit, blocks of MIN_BLOCK do
    x = torch.randn(3 * empirical.MIN_BLOCK, 2, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(empirical_ntk(model, x, memory_budget=budget), empirical_ntk(model, x, method="jacobian"))
    monkeypatch.undo()
    calls = []
    monkeypatch.setattr(empirical, "_ntk_vp_block", lambda *a: calls.append(1) or torch.zeros(
        a[2].shape[0], a[3].shape[0], 2, 2, dtype=torch.float64))
    empirical_ntk(model, x[:4], memory_budget=per_input)  # blocks of 1 < MIN_BLOCK: NTK-vector products
    assert calls


def test_empirical_ntk_matches_neural_tangents_cnn():
    nt, _, _, jnp = reference()
    apply_fn, params, model = stax_cnn_and_torch_twin()
    x = np.random.default_rng(1).standard_normal((5, 5, 5, 2))
    ref = np.asarray(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,))(x, None, params))
    xt = torch.from_numpy(np.moveaxis(x, -1, 1).copy())
    for method in ("jacobian", "ntk_vp"):
        ours = empirical_ntk(model, xt, method=method, batch_size=2).detach().numpy()
        assert np.max(np.abs(ours - ref)) / np.max(np.abs(ref)) < 1e-5, method
        assert np.array_equal(ours, ours.T)


def test_wide_empirical_ntk_approaches_the_analytic_kernel():
    """Monte Carlo check of the infinite-width limit: an 8192-channel CNN within 2e-2."""
    gen = torch.Generator().manual_seed(0)
    width = 8192
    model = nn.Sequential(
        NTKConv(torch.randn(3, 3, 1, width, generator=gen, dtype=torch.float64).numpy(),
                torch.randn(width, generator=gen, dtype=torch.float64).numpy()),
        nn.ReLU(), nn.Flatten(),
        NTKDense(torch.randn(width * 16, 1, generator=gen, dtype=torch.float64).numpy(),
                 torch.randn(1, generator=gen, dtype=torch.float64).numpy()),
    )
    x = torch.randn(5, 1, 4, 4, generator=gen, dtype=torch.float64)
    analytic = serial(Conv(width, 3, b_std=1.0), Relu(), Flatten(), Dense(1, b_std=1.0))(x)
    empirical = empirical_ntk(model, x).detach()
    assert float((empirical - analytic).abs().max() / analytic.abs().max()) < 2e-2


def test_linearize_matches_neural_tangents():
    nt, _, _, jnp = reference()
    apply_fn, params, model = stax_mlp_and_torch_twin(key=3)
    x = np.random.default_rng(2).standard_normal((7, 5))
    lin = linearize(model)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for t in lin.theta:
            t.add_(0.3 * torch.randn(t.shape, generator=gen, dtype=t.dtype))
    moved = [t.detach().numpy() for t in lin.theta]
    params_moved = [(jnp.asarray(moved[0]), jnp.asarray(moved[1])), (), (jnp.asarray(moved[2]), jnp.asarray(moved[3]))]
    ref = np.asarray(nt.linearize(apply_fn, params)(params_moved, x))
    ours = lin(torch.from_numpy(x)).detach().numpy()
    assert np.max(np.abs(ours - ref)) / np.max(np.abs(ref)) < 1e-5
    assert lin.distance_from_init() == pytest.approx(float(np.sqrt(sum(((m - p0.detach().numpy()) ** 2).sum()
                                                       for m, p0 in zip(moved, model.parameters())))))


def test_linearized_model_trains_with_torch_optimizers_and_its_ntk_stays_fixed():
    _, _, model = stax_mlp_and_torch_twin(key=5, k=1)
    x = torch.randn(20, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    y = torch.sin(x[:, :1])
    lin = linearize(model)
    ntk0 = empirical_ntk(lin, x).detach()
    opt = torch.optim.SGD(lin.parameters(), lr=0.5, momentum=0.9)
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = ((lin(x) - y) ** 2).mean()
        first = first if first is not None else float(loss.detach())
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first
    assert lin.distance_from_init() > 0.1
    assert torch.allclose(empirical_ntk(lin, x).detach(), ntk0, rtol=1e-10, atol=1e-12)  # linear in theta
    assert [p.shape for p in lin.parameters()] == [p.shape for p in model.parameters()]
    assert not list(lin.base.parameters())  # theta_0 is stored as buffers, never trained


def test_alignment_metrics():
    gen = torch.Generator().manual_seed(7)
    y = torch.sign(torch.randn(30, generator=gen, dtype=torch.float64))
    perfect = torch.outer(y, y)
    assert kernel_target_alignment(perfect, y, centered=False) == pytest.approx(1.0)
    assert kernel_target_alignment(perfect + 5.0, y, centered=True) == pytest.approx(1.0)  # offset ignored
    noise = torch.randn(30, 30, generator=gen, dtype=torch.float64)
    k = noise @ noise.T
    a = kernel_target_alignment(k, y)
    assert 0 <= a < kernel_target_alignment(k + 10 * perfect, y) <= 1
    lam, vecs = torch.linalg.eigh(k)
    assert torch.allclose(rayleigh_quotients(k, 3.0 * vecs), lam, rtol=1e-10)
    with pytest.raises(ValueError, match="y must have 30 rows"):
        kernel_target_alignment(k, y[:5])
    with pytest.raises(ValueError, match="vectors must have 30 rows"):
        rayleigh_quotients(k, vecs[:4])


def test_empirical_ntk_bad_input():
    _, _, model = stax_mlp_and_torch_twin()
    with pytest.raises(ValueError, match="method='exact' is not allowed"):
        empirical_ntk(model, torch.randn(3, 5, dtype=torch.float64), method="exact")
    with pytest.raises(ValueError, match="at least one input each"):
        empirical_ntk(model, torch.randn(0, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x2 must have trailing shape \(5,\)"):
        empirical_ntk(model, torch.randn(3, 5, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64))


def test_linearized_batchnorm_network_is_evaluated_in_eval_mode_at_theta0():
    """The official linearization of the WRN (get_apply_fn(train=False)): BatchNorm uses its running
    statistics at theta_0, in train mode too, and never updates them."""
    from lsa_utils.models.cnn import WideResNet

    torch.manual_seed(0)
    net = WideResNet(3, 4, depth=10, width=1).double()
    x = torch.randn(6, 3, 8, 8, dtype=torch.float64)
    lin = linearize(net).train()
    stats = [b.clone() for n, b in lin.base.named_buffers() if "running" in n]
    out = lin(x)
    torch.testing.assert_close(out, net.eval()(x))  # theta = theta_0: the network in eval mode
    out.sum().backward()
    assert all(t.grad is not None for t in lin.theta)
    after = [b for n, b in lin.base.named_buffers() if "running" in n]
    assert all(torch.equal(a, b) for a, b in zip(stats, after)) and not lin.base.training
