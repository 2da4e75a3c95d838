"""Chapter 1, Part A at equal n: the closed-form patch NTK, the fixed-sample training, the ceiling."""

import math

import pytest
import torch

from lsa_utils.data.patches import sample_patch_data, signal_direction
from lsa_utils.experiments.lsa_separation import (
    filter_ceiling, kernel_entries, kernel_sizes, margin_accuracies, patch_ntk_gram, run_separation,
    reach_interval, samples_to_reach, train_filter_on_sample,
)
from lsa_utils.experiments.lsa_theory import patch_ntk
from lsa_utils.models.patch_filter import soft_threshold_pair


def _as_image(x):
    return x.permute(0, 2, 1)[..., None].contiguous()


@pytest.mark.parametrize("compiled", [False, True])
def test_patch_ntk_gram_equals_the_kernel_engine(compiled):
    g = torch.Generator().manual_seed(0)
    a = sample_patch_data(11, 20, 6, 1.0, g, dtype=torch.float64).x
    b = sample_patch_data(37, 20, 6, 1.0, g, dtype=torch.float64).x
    engine = patch_ntk(6, b_std=0.1)
    cross = engine(_as_image(a), _as_image(b))
    ours = patch_ntk_gram(a, b, rows=4, cols=16, compiled=compiled)  # several padded blocks
    assert ours.shape == (11, 37)
    assert float((ours - cross).abs().max() / cross.abs().max()) < 1e-10
    same = engine(_as_image(a))
    ours_same = patch_ntk_gram(a, compiled=compiled)
    assert float((ours_same - same).abs().max() / same.abs().max()) < 1e-9
    assert torch.equal(ours_same, ours_same.T)
    single = patch_ntk_gram(a.float(), b.float(), compiled=compiled)
    assert float((single.double() - cross).abs().max() / cross.abs().max()) < 1e-5


def test_kernel_sizes_keep_the_gram_matrices_within_the_budget():
    assert kernel_entries(100, 512, 2000) == 100**2 * (512**2 + 512 * 2000)
    assert kernel_sizes(100, [32, 128, 512], 2000, 1.5e10) == [32, 128, 512]
    assert kernel_sizes(300, [32, 128, 512], 2000, 1.5e10) == [32]
    assert kernel_sizes(1000, [32, 128, 512], 2000, 1.5e10) == []


def test_train_filter_on_sample_takes_the_logistic_gradient_with_the_bias_step_over_k():
    """Two steps of the closed-form gradients equal two autograd steps of the same objective."""
    g = torch.Generator().manual_seed(1)
    data = sample_patch_data(40, 15, 4, 0.5, g, dtype=torch.float64)
    fit = train_filter_on_sample(data.x, data.y, steps=2, lr=0.5, seed=3, record_every=1)
    g0 = torch.Generator().manual_seed(3)
    w = torch.randn(4, generator=g0, dtype=torch.float64)
    w = (1e-6 * w / w.norm()).requires_grad_()
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    for _ in range(2):
        f = soft_threshold_pair(data.x @ w, b).sum(1)
        loss = torch.nn.functional.softplus(-data.y * f).mean()
        gw, gb = torch.autograd.grad(loss, [w, b])
        with torch.no_grad():
            w -= 0.5 * gw
            b -= 0.5 * gb / 15
    torch.testing.assert_close(fit.w, w.detach(), rtol=1e-10, atol=1e-14)
    assert fit.b == pytest.approx(float(b.detach()), rel=1e-10, abs=1e-14)
    along = float(w.detach() @ signal_direction(4, torch.float64))
    assert fit.history[-1, 1] == pytest.approx(along) and fit.history.shape == (3, 4)
    assert fit.history[-1, 2] == pytest.approx(math.sqrt(float(w.detach() @ w.detach()) - along**2))


def test_the_ideal_filter_reaches_its_ceiling_and_ties_count_half():
    g = torch.Generator().manual_seed(2)
    # a quiet noise (c = 0.3, k = 1000): the ideal filter with a threshold near 0.5 is almost perfect
    assert filter_ceiling(1000, 10, 0.3, 500, g) > 0.98
    # at c = 1 and k = 30 the noise per patch (s = 0.62) is too loud for any threshold
    assert 0.5 < filter_ceiling(30, 10, 1.0, 2000, g) < 0.7
    assert margin_accuracies(torch.tensor([1.0, -1.0, 0.0, 0.0])) == (0.5, 0.75)


def test_samples_to_reach_interpolates_and_marks_bounds():
    n, bound = samples_to_reach({32: 0.5, 128: 0.7, 512: 0.95}, 0.75)
    assert bound == "=" and n == pytest.approx(128 * 4 ** (math.log(0.75 / 0.7) / math.log(0.95 / 0.7)))
    assert samples_to_reach({32: 0.5, 128: 0.6}, 0.75) == (128.0, ">")
    assert samples_to_reach({32: 0.8, 128: 0.9}, 0.75) == (32.0, "<=")
    assert reach_interval(128.0, ">") == (128.0, math.inf) and reach_interval(32.0, "<=") == (0.0, 32.0)


def test_run_separation_shares_the_samples_and_skips_kernels_over_budget():
    result = run_separation([8, 40], [16, 32], n_test=64, steps=5, d=4, kernel_entry_budget=40**2 * (32**2 + 32 * 64) - 1,
                            progress=False)
    assert result.kernel_sizes == {8: [16, 32], 40: [16]}
    assert sorted(result.accuracy("network", 40)) == [16, 32] and list(result.accuracy("NTK", 40)) == [16]
    assert set(result.ceiling) == {8, 40} and result.histories[(8, 32)].shape == (2, 4)
    with pytest.raises(ValueError, match="n_test"):
        run_separation([8], [16], n_test=0, steps=5, progress=False)
