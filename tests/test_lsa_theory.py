"""Chapter 1, Part A: the patch model, the one-filter model and the law-sampled online SGD."""

import math

import pytest
import torch

from lsa_utils.data.patches import noise_std, sample_patch_data, signal_direction
from lsa_utils.experiments.lsa_theory import law_accuracy, law_gradients, linear_patch_sum_accuracy, patch_ntk
from lsa_utils.models.patch_filter import PatchFilter, noise_pass_fraction, soft_threshold_pair


def test_patch_data_has_one_signal_patch_and_noise_of_the_stated_std():
    data = sample_patch_data(400, 50, 6, noise_level=1.0, generator=torch.Generator().manual_seed(0))
    assert data.x.shape == (400, 50, 6) and set(data.y.unique().tolist()) == {-1.0, 1.0}
    signal = data.x[torch.arange(400), data.signal_position]
    assert torch.allclose(signal, data.y[:, None] * signal_direction(6))
    mask = torch.ones(400, 50, dtype=torch.bool)
    mask[torch.arange(400), data.signal_position] = False
    s = noise_std(50, 1.0)
    assert s == pytest.approx(math.log(50) / math.sqrt(50))
    assert data.x[mask].std().item() == pytest.approx(s, rel=0.03)


def test_soft_threshold_pair_thresholds_for_negative_bias_and_is_linear_at_zero():
    z = torch.linspace(-2, 2, 81)
    assert torch.allclose(soft_threshold_pair(z, torch.tensor(0.0)), z)
    expected = torch.sign(z) * torch.clamp(z.abs() - 0.5, min=0)
    assert torch.allclose(soft_threshold_pair(z, torch.tensor(-0.5)), expected, atol=1e-6)


def test_noise_pass_fraction_matches_monte_carlo():
    w = torch.tensor([[0.3, -0.2, 0.5]])
    b = torch.tensor([-0.4])
    xi = 0.7 * torch.randn(200_000, 3, generator=torch.Generator().manual_seed(1))
    mc = ((xi @ w[0]).abs() > 0.4).double().mean().item()
    assert noise_pass_fraction(w, b, 0.7).item() == pytest.approx(mc, abs=0.005)
    assert noise_pass_fraction(w, torch.tensor([0.1]), 0.7).item() == 1.0


def test_linear_patch_sum_accuracy_matches_monte_carlo():
    k, c = 100, 0.5
    data = sample_patch_data(20_000, k, 5, c, torch.Generator().manual_seed(2))
    mc = ((data.patch_sum() @ signal_direction(5)) * data.y > 0).double().mean().item()
    assert linear_patch_sum_accuracy(k, c) == pytest.approx(mc, abs=0.01)


def _explicit_gradients(w, b, k, d, c, batch, seed):
    """Mean logistic-loss gradients by autograd on explicitly sampled patches (the paper's way)."""
    model = PatchFilter(d, w.shape[0], dtype=torch.float64)
    with torch.no_grad():
        model.w.copy_(w)
        model.b.copy_(b)
    data = sample_patch_data(batch, k, d, c, torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = model(data.x)  # (M, B)
    loss = torch.nn.functional.softplus(-data.y * out).mean(1).sum()
    gw, gb = torch.autograd.grad(loss, [model.w, model.b])
    return gw, gb


@pytest.mark.parametrize("b_value", [-0.3, 0.0, 0.2])
def test_law_sampled_gradients_have_the_mean_and_spread_of_explicit_ones(b_value):
    """The projection trick samples the same gradient distribution as explicit patches."""
    torch.manual_seed(0)
    k, d, c, batch, reps = 30, 4, 1.0, 64, 600
    w = torch.tensor([[0.9, 0.5, -0.2, 0.4]], dtype=torch.float64)
    b = torch.tensor([b_value], dtype=torch.float64)
    s = torch.tensor([noise_std(k, c)], dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    law = [law_gradients(w, b, s, batch, k, g)[:2] for _ in range(reps)]
    explicit = [_explicit_gradients(w, b, k, d, c, batch, 10 + r) for r in range(reps)]
    for part in range(2):
        a = torch.stack([x[part].reshape(-1) for x in law])
        e = torch.stack([x[part].reshape(-1) for x in explicit])
        se = torch.sqrt(a.var(0) / reps + e.var(0) / reps)
        assert torch.all((a.mean(0) - e.mean(0)).abs() < 4 * se + 1e-12), (part, a.mean(0), e.mean(0))
        assert torch.allclose(a.std(0), e.std(0), rtol=0.12, atol=1e-9), (part, a.std(0), e.std(0))


def test_law_accuracy_matches_the_model_on_explicit_patches():
    k, d, c = 200, 10, 0.5
    w = signal_direction(d, torch.float64)[None] * 2.0 + 0.1 * torch.randn(1, d, dtype=torch.float64,
                                                                           generator=torch.Generator().manual_seed(0))
    b = torch.tensor([-0.9], dtype=torch.float64)
    s = torch.tensor([noise_std(k, c)], dtype=torch.float64)
    law = law_accuracy(w, b, s, 20_000, k, torch.Generator().manual_seed(1)).item()
    model = PatchFilter(d, 1, dtype=torch.float64)
    with torch.no_grad():
        model.w.copy_(w)
        model.b.copy_(b)
    data = sample_patch_data(20_000, k, d, c, torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        explicit = ((model(data.x)[0] * data.y) > 0).double().mean().item()
    assert 0.6 < law < 1.0
    assert law == pytest.approx(explicit, abs=0.015)


def test_patch_ntk_agrees_with_neural_tangents(nt_reference):
    import numpy as np

    k, d = 12, 5
    data = sample_patch_data(6, k, d, 1.0, torch.Generator().manual_seed(4), dtype=torch.float64)
    x = data.x.permute(0, 2, 1)[..., None].contiguous()  # (n, d, k, 1), channels first
    ours = patch_ntk(d, b_std=0.1)(x).numpy()
    spec = [("conv", 1, 1, 1, "VALID", math.sqrt(d), 0.1), ("relu",), ("gap",), ("dense", 1, 1.0, None)]
    nhwc = data.x.numpy()[:, :, None, :]  # (n, k, 1, d)
    reference = nt_reference.stax_kernel(spec, nhwc, None, "ntk")
    assert np.max(np.abs(ours - reference)) / np.max(np.abs(reference)) < 1e-5
