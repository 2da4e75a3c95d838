import math

import pytest
import torch

from lsa_utils.models.two_layer import TwoLayerReLU
from lsa_utils.train import train_full_batch_gd


def x_batch(n=10, d=3):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(5), dtype=torch.float64)


@pytest.mark.parametrize("param", ["ntk", "mean_field"])
def test_symmetric_init_gives_zero_output(param):
    model = TwoLayerReLU(3, 64, param, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(model(x_batch()).detach().abs().max()) < 1e-12  # exact up to summation order


def test_output_formula_and_scales():
    gen = torch.Generator().manual_seed(0)
    model = TwoLayerReLU(3, 8, "ntk", W_std=1.5, b_std=0.5, symmetric=False, generator=gen, dtype=torch.float64)
    x = x_batch()
    pre = 1.5 / math.sqrt(3) * x @ model.w.T + 0.5 * model.b
    expected = 1.5 / math.sqrt(8) * torch.relu(pre) @ model.a
    assert torch.allclose(model(x), expected)
    mf = TwoLayerReLU(3, 8, "mean_field", W_std=1.5)
    assert mf.output_scale == pytest.approx(1.5 / 8) and mf.lr_multiplier == 8
    assert model.lr_multiplier == 1


def test_same_seed_same_weights():
    a = TwoLayerReLU(3, 16, generator=torch.Generator().manual_seed(7))
    b = TwoLayerReLU(3, 16, generator=torch.Generator().manual_seed(7))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_bad_arguments():
    with pytest.raises(ValueError, match="width=7 is not allowed with symmetric=True"):
        TwoLayerReLU(3, 7)
    with pytest.raises(ValueError, match="parameterization='mup' is not allowed"):
        TwoLayerReLU(3, 8, "mup")
    with pytest.raises(ValueError, match="width=-2"):
        TwoLayerReLU(3, -2)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 3\)"):
        TwoLayerReLU(3, 8)(torch.randn(4, 2))


def test_full_batch_gd_reduces_the_loss_and_records_history():
    x = x_batch(20)
    y = torch.sin(x[:, 0])
    model = TwoLayerReLU(3, 256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    history = train_full_batch_gd(model, x, y, lr=0.5, steps=300, record_every=100, progress=False)
    assert history.steps == [0, 100, 200, 300]
    assert history.loss[0] == pytest.approx(0.5 * float((y**2).mean()))  # f = 0 at init
    assert history.loss[-1] < 0.2 * history.loss[0]
    with pytest.raises(ValueError, match=r"y must have shape \(20,\)"):
        train_full_batch_gd(model, x, y[:5], lr=0.1, steps=1)
