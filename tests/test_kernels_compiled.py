"""The compiled (torch.compile) paths of the analytic kernel engine against eager ones.

Not among the core tests that CI also runs on a newer Python (.ci/core-tests-newer-python): those
install torch from PyPI without checking that inductor's C++ toolchain works there.
"""

import pytest
import torch

from lsa_utils.kernels import serial
from lsa_utils.kernels.layers import Conv
from lsa_utils.kernels.reference import max_relative_error as rel_err
from lsa_utils.kernels.reference import ours as ours_layers

R, F = ("relu",), ("flatten",)


def conv(out, k=3, s=1, pad="SAME", W=1.0, b=0.0):
    return ("conv", out, k, s, pad, W, b)


def dense(out=1, W=1.0, b=0.0):
    return ("dense", out, W, b)


def test_compiled_fusion_gives_the_eager_kernel(monkeypatch):
    """LSA_COMPILE=1 forces the fused path (torch.compile of the first Conv's patch products, of the
    pixel-diagonal window means with and without padding and of the nonlinearity steps) that large
    Gram computations take; it must give the eager kernel (float64: identical inputs make ReLU's
    arc-cosine amplify float32 rounding to about 1e-4)."""
    x = torch.randn(7, 1, 11, 11, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    kernel = serial(*ours_layers([conv(8, 3, 2, "VALID", 1.2, 0.3), R, conv(16, 3, 2, "VALID"), R,
                                  conv(4, 2, 1, "SAME"), R, F, dense()]))
    monkeypatch.setenv("LSA_COMPILE", "0")
    eager = kernel(x, x[:5])
    monkeypatch.setenv("LSA_COMPILE", "1")
    fused_relu = []  # whether each Gram block applied the first ReLU in the Conv's compiled loop
    real_apply = Conv.apply_to_input
    monkeypatch.setattr(Conv, "apply_to_input", lambda self, *args, **kwargs: (
        fused_relu.append(kwargs.get("relu_variances") is not None), real_apply(self, *args, **kwargs))[1])
    compiled = kernel(x, x[:5])
    assert fused_relu == [False, False, True]  # the two self passes, then the one cross block
    identical = torch.eye(7, 5, dtype=torch.bool)  # x[i] against itself
    assert rel_err(compiled[~identical], eager[~identical]) < 1e-12
    assert rel_err(compiled[identical], eager[identical]) < 1e-8


@pytest.mark.parametrize("kernel_size,stride,pads", [
    ((3, 1), (2, 1), ((0, 1), (1, 1))), ((1, 1), (3, 3), ((0, 0), (0, 0))), ((2, 3), (2, 2), ((0, 0), (0, 0))),
])
def test_compiled_window_means_equal_avg_pool(kernel_size, stride, pads):
    """The pixel-diagonal window mean compiled as strided slices (a rectangular filter with
    padding, a stride larger than the filter, a VALID size that does not fit exactly), on the
    self pass's rank and the cross pass's, against avg_pool2d; it must really be compiled."""
    from torch._dynamo.utils import counters

    from lsa_utils.kernels.layers import mean_over_offsets
    from lsa_utils.kernels.spatial import window_mean_2d
    before = counters["stats"]["unique_graphs"]
    for shape in ((5, 9, 7), (4, 3, 9, 7), (2, 6, 9, 7)):
        t = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(len(shape)))
        fast = mean_over_offsets(t.clone(), kernel_size, stride, pads, full=False, fuse=True)
        assert torch.allclose(fast, window_mean_2d(t, kernel_size, stride, pads), rtol=1e-12, atol=1e-15)
    assert counters["stats"]["unique_graphs"] > before

