"""The analytic kernel engine against neural-tangents' stax, architecture by architecture."""

import numpy as np
import pytest
import torch

from lsa_utils.kernels import (
    Conv, Dense, Flatten, GlobalAvgPool, Relu, serial, two_layer_relu_kernel,
)
from lsa_utils.kernels.reference import max_relative_error as rel_err
from lsa_utils.kernels.reference import ours as ours_layers
from lsa_utils.kernels.reference import to_nchw as to_torch



def conv(out, k=3, s=1, pad="SAME", W=1.0, b=0.0):
    return ("conv", out, k, s, pad, W, b)


R, E, F, GAP, GSP = ("relu",), ("erf",), ("flatten",), ("gap",), ("gsp",)


def dense(out=1, W=1.0, b=0.0):
    return ("dense", out, W, b)


# (name, spec, input shape (H, W, C) or (D,), parameterization)
ARCHITECTURES = [
    ("mlp1-relu", [dense(8, 1.0, 0.0), R, dense()], (5,), "ntk"),
    ("mlp1-bias", [dense(8, 1.5, 0.3), R, dense(1, 0.8, 0.1)], (6,), "ntk"),
    ("mlp3-relu", [dense(8, 1.4, 0.1), R, dense(8, 1.4, 0.1), R, dense(8, 1.4, 0.1), R, dense()], (4,), "ntk"),
    ("mlp2-erf", [dense(8, 1.2, 0.5), E, dense(8, 0.9, 0.0), E, dense()], (3,), "ntk"),
    ("mlp2-mixed", [dense(8), R, dense(8, 2.0, 1.0), E, dense(1, 1.0, 0.2)], (7,), "ntk"),
    ("mlp1-standard", [dense(8, 1.5, 0.3), R, dense(4, 0.8, 0.1)], (6,), "standard"),
    ("mlp2-erf-standard", [dense(5, 1.2, 0.5), E, dense(7, 0.9, 0.0), E, dense()], (3,), "standard"),
    ("conv1-flatten", [conv(4), R, F, dense()], (5, 6, 2), "ntk"),
    ("conv1-bias-flatten", [conv(4, W=1.3, b=0.2), R, F, dense(1, 1.0, 0.1)], (5, 6, 3), "ntk"),
    ("conv2-flatten", [conv(4), R, conv(4), R, F, dense()], (6, 6, 1), "ntk"),
    ("conv-k1", [conv(4, k=1), R, F, dense()], (4, 5, 3), "ntk"),
    ("conv-k5-same", [conv(4, k=5), R, F, dense()], (6, 6, 2), "ntk"),
    ("conv-k2-even-same", [conv(4, k=2), R, conv(4, k=4), R, F, dense()], (5, 7, 2), "ntk"),
    ("conv-rect-kernel", [conv(4, k=(3, 1)), R, conv(4, k=(1, 2), pad="VALID"), R, F, dense()], (5, 6, 2), "ntk"),
    ("conv-valid", [conv(4, pad="VALID"), R, F, dense()], (6, 5, 2), "ntk"),
    ("conv-stride2-valid", [conv(8, 3, 2, "VALID"), R, conv(16, 3, 2, "VALID"), R, F, dense(10)], (11, 11, 1), "ntk"),
    ("conv-stride2-same", [conv(4, 3, 2, "SAME", 1.3, 0.2), R, F, dense()], (8, 7, 2), "ntk"),
    ("conv-stride-rect", [conv(4, 3, (2, 1), "SAME"), R, F, dense()], (7, 6, 2), "ntk"),
    ("conv-erf-flatten", [conv(4, W=1.1, b=0.4), E, conv(4, k=2, pad="VALID"), E, F, dense()], (5, 5, 2), "ntk"),
    ("conv-gap", [conv(4), R, GAP, dense()], (5, 6, 2), "ntk"),
    ("conv2-gap", [conv(4, W=1.4, b=0.1), R, conv(4, W=1.4, b=0.1), R, GAP, dense(1, 1.0, 0.1)], (6, 6, 1), "ntk"),
    ("conv-gsp", [conv(4), R, GSP, dense()], (4, 5, 3), "ntk"),
    ("conv-gsp-bias", [conv(4, b=0.5), R, GSP, dense(1, 1.0, 0.5)], (5, 4, 2), "ntk"),
    ("conv-stride-gap", [conv(4, 3, 2, "SAME", 1.3, 0.2), R, GAP, dense()], (8, 8, 2), "ntk"),
    ("conv-avgpool-flatten", [conv(4), R, ("avgpool", 2, 2, "VALID"), F, dense()], (8, 8, 2), "ntk"),
    ("conv-avgpool-same", [conv(4), R, ("avgpool", 3, 2, "SAME"), F, dense()], (7, 7, 2), "ntk"),
    ("conv-avgpool-stride1", [conv(4), R, ("avgpool", 2, 1, "VALID"), conv(4), R, GAP, dense()], (6, 6, 1), "ntk"),
    ("lenet-like", [conv(6, 5), R, ("avgpool", 2, 2, "VALID"), conv(16, 5), R, ("avgpool", 2, 2, "VALID"),
                    F, dense(12), R, dense(8), R, dense()], (8, 8, 3), "ntk"),
    ("conv-dense-pixelwise", [conv(4), R, dense(4, 1.2, 0.3), R, F, dense()], (4, 4, 2), "ntk"),
    ("conv-standard-flatten", [conv(4, W=1.3, b=0.2), R, F, dense(1, 1.0, 0.1)], (5, 6, 3), "standard"),
    ("conv-standard-gap", [conv(5, W=1.3, b=0.2), R, conv(3), R, GAP, dense(2, 1.0, 0.1)], (5, 5, 2), "standard"),
    ("conv-standard-stride-nobias", [("conv", 4, 3, 2, "VALID", 1.2, None), R, F, ("dense", 1, 1.0, None)], (7, 7, 2), "standard"),
    ("dense-nobias", [("dense", 6, 1.3, None), R, ("dense", 1, 1.0, None)], (5,), "ntk"),
    ("gap-then-mlp", [conv(4), R, GAP, dense(8, 1.2, 0.1), R, dense()], (5, 5, 2), "ntk"),
]


@pytest.mark.parametrize("name,spec,shape,param", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_serial_kernel_matches_neural_tangents(name, spec, shape, param, nt_reference):
    rng = np.random.default_rng(len(name))
    x1, x2 = rng.standard_normal((4, *shape)), rng.standard_normal((3, *shape))
    kernel = serial(*ours_layers(spec, param))
    for get in ("nngp", "ntk"):
        ref12 = nt_reference.stax_kernel(spec, x1, x2, get, param)
        ref11 = nt_reference.stax_kernel(spec, x1, None, get, param)
        ours12 = kernel(to_torch(x1), to_torch(x2), get=get)
        ours11 = kernel(to_torch(x1), None, get=get)
        assert ours12.dtype == torch.float64 and ours12.shape == (4, 3)
        assert rel_err(ours12, ref12) < 1e-5, (get, "cross")
        assert rel_err(ours11, ref11) < 1e-5, (get, "symmetric")


def test_blocking_and_symmetry_do_not_change_the_numbers():
    """Tiny memory budgets force many blocks; the Gram matrix must be the same and symmetric."""
    x = torch.randn(13, 2, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    layers = [Conv(4, 3), Relu(), Conv(4, 3, stride=2), Relu(), GlobalAvgPool(), Dense()]
    whole = serial(*layers)(x)
    blocked = serial(*layers, memory_budget=6 * 36 * 36 * 8 * 9)(x)  # blocks of 3 inputs
    assert serial(*layers, memory_budget=6 * 36 * 36 * 8 * 9).block_size(36 * 36, 8) == 3
    assert torch.allclose(blocked, whole, rtol=1e-12, atol=0)
    assert torch.equal(blocked, blocked.T)
    cross = serial(*layers, memory_budget=6 * 36 * 36 * 8 * 4)(x, x[:5])
    assert torch.allclose(cross, whole[:, :5], rtol=1e-12, atol=0)


def test_serial_agrees_with_the_closed_form_two_layer_kernel():
    x = torch.randn(9, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    kernel = serial(Dense(16, 1.3, 0.4), Relu(), Dense(1, 1.3, 0.0))
    closed = two_layer_relu_kernel(x, get="ntk", W_std=1.3, b_std=0.4, readout_b_std=0.0)
    assert torch.allclose(kernel(x), closed, rtol=1e-12)


def test_float32_is_close_to_float64():
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    kernel = serial(Conv(8, 3), Relu(), Conv(8, 3), Relu(), GlobalAvgPool(), Dense())
    k64, k32 = kernel(x), kernel(x.float())
    assert k32.dtype == torch.float32
    assert rel_err(k32.double(), k64.numpy()) < 1e-5


def test_bad_input_fails_with_clear_messages():
    x = torch.randn(3, 1, 5, 5)
    with pytest.raises(ValueError, match=r"kernel_size=\(7, 7\) is not allowed for a 5x5 input with VALID padding"):
        serial(Conv(4, 7, padding="VALID"), Relu(), Flatten(), Dense())(x)
    with pytest.raises(ValueError, match=r"x2 must have shape \(n2, 1, 5, 5\)"):
        serial(Conv(4), Relu(), Flatten(), Dense())(x, torch.randn(2, 1, 4, 5))
    with pytest.raises(ValueError, match="serial\\(\\) takes kernel layers"):
        serial(Conv(4), torch.nn.ReLU())
    with pytest.raises(ValueError, match="parameterization='mup' is not allowed"):
        Dense(1, parameterization="mup")
    with pytest.raises(ValueError, match="padding='FULL' is not allowed"):
        Conv(4, padding="FULL")
    with pytest.raises(ValueError, match="must remove the spatial dimensions"):
        serial(Conv(4), Relu())(x)
    with pytest.raises(ValueError, match="Conv needs image inputs"):
        serial(Dense(4), Conv(4))(torch.randn(3, 5))
    with pytest.raises(ValueError, match="get='cov' is not allowed"):
        serial(Dense(1))(torch.randn(3, 5), get="cov")


def test_float32_kernels_of_identical_inputs_keep_float32_accuracy():
    """The self pass and the cross pass round differently; ReLU's arc-cosine would turn cos = 1 - eps
    into theta ~ sqrt(eps), 1e-4 relative in float32 (relu_expectations snaps it to 1)."""
    x = torch.randn(6, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    kernel = serial(*ours_layers([conv(4), R, conv(4), R, conv(4), R, F, dense()]))
    exact, single = kernel(x), kernel(x.float())
    assert rel_err(single.diagonal(), exact.diagonal()) < 1e-5
    assert rel_err(single, exact) < 1e-5


@pytest.mark.parametrize("kernel_size,stride,padding,param,b_std", [
    (3, 1, "SAME", "ntk", 0.3), (2, 1, "SAME", "standard", None), ((3, 1), (2, 1), "SAME", "ntk", 0.0),
    ((2, 4), (3, 2), "VALID", "standard", 0.5), (4, 2, "SAME", "ntk", None),
])
@pytest.mark.parametrize("layout", ["diag", "full"])
def test_a_first_conv_on_patches_is_the_conv_of_the_input_covariance(kernel_size, stride, padding, param, b_std,
                                                                      layout):
    """Conv.apply_to_input (image patches, the fast path of a first Conv) against Conv.apply on the
    inputs' covariance, for the cross and the self state."""
    from lsa_utils.kernels.composition import SerialKernel
    layer = Conv(3, kernel_size, stride, padding, 1.3, b_std, param)
    g = torch.Generator().manual_seed(4)
    x1, x2 = torch.randn(3, 2, 7, 6, dtype=torch.float64, generator=g), torch.randn(4, 2, 7, 6, dtype=torch.float64,
                                                                                     generator=g)
    for a, b in ((x1, x2), (x1, None)):
        fast = layer.apply_to_input(a, b, layout)
        slow = layer.apply(SerialKernel._input_state(a, b, layout))
        assert fast.nngp.shape == slow.nngp.shape and fast.spatial == slow.spatial and fast.channels == 3
        assert torch.allclose(fast.nngp, slow.nngp, rtol=1e-13, atol=1e-15)
        assert torch.allclose(fast.ntk, slow.ntk, rtol=1e-13, atol=1e-15)
    assert layer.apply_to_input(x1, None, layout, with_ntk=False).ntk is None


def test_a_first_conv_sizes_blocks_by_its_output():
    """The inputs' covariance is never formed, so the 42x42 input does not set the block size."""
    kernel = serial(*ours_layers([conv(8, 3, 2, "VALID"), R, conv(16, 3, 2, "VALID"), R, F, dense(10)]))
    assert kernel.plan((1, 42, 42)) == ("diag", 20 * 20)
    assert serial(Flatten(), Dense()).plan((1, 42, 42)) == ("diag", 42 * 42)


def test_a_gram_of_many_blocks_cuts_the_image_patches_once(monkeypatch):
    """The first Conv's image patches are cut once for the whole Gram matrix where they fit a
    quarter of the memory budget, else once per block; both give the same kernel."""
    from lsa_utils.kernels.layers import Conv

    x = torch.randn(13, 1, 10, 10, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    layers = ours_layers([("conv", 4, 3, 2, "VALID", 1.1, 0.2), ("relu",), ("conv", 6, 3, 1, "SAME", 1.0, 0.0),
                   ("relu",), ("flatten",), ("dense", 1, 1.0, 0.0)])
    cuts = []
    real_cut = Conv.image_patches
    monkeypatch.setattr(Conv, "image_patches", lambda self, images: (cuts.append(len(images)), real_cut(self, images))[1])
    monkeypatch.setenv("LSA_COMPILE", "0")
    once = serial(*layers, memory_budget=64_000)  # blocks of 9 inputs: 3 blocks; 15 KB of patches fit
    assert once.block_size(once.plan((1, 10, 10))[1], 8) == 9
    cuts.clear()
    k_once = once(x)
    assert cuts.count(13) == 1 and sum(cuts) == 2 * 13  # the Gram's cut, and the self pass's steps
    per_block = serial(*layers, memory_budget=40_000)  # 15 KB > 10 KB: each block cuts its own
    cuts.clear()
    k_per_block = per_block(x)
    assert 13 not in cuts and len(cuts) > 4
    assert torch.allclose(k_once, k_per_block, rtol=1e-13, atol=0)
    x2 = torch.randn(11, 1, 10, 10, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    cross = serial(*layers, memory_budget=128_000)  # 28 KB of patches fit; blocks of 11 inputs
    cuts.clear()
    cross_once = cross(x, x2)  # x2 independent of x: its own patches, cut once
    assert cuts.count(13) == 1 and cuts.count(11) == 1
    assert torch.allclose(cross_once, per_block(x, x2), rtol=1e-13, atol=0)
    assert not torch.allclose(cross_once, cross(x, x[:11]))  # the right-hand patches are x2's
