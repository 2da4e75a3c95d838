"""Branching kernel layers (FanOut, parallel, FanInSum, FanInConcat, Identity) against stax."""

import numpy as np
import pytest
import torch

from lsa_utils.kernels import Conv, Dense, FanInConcat, FanInSum, FanOut, Flatten, Identity, Relu, parallel, serial
from lsa_utils.kernels.reference import max_relative_error as rel_err
from lsa_utils.kernels.reference import ours as ours_layers
from lsa_utils.kernels.reference import to_nchw as to_torch


def conv(out, k=3, s=1, pad="SAME", W=1.0, b=0.0):
    return ("conv", out, k, s, pad, W, b)


def dense(out=1, W=1.0, b=0.0):
    return ("dense", out, W, b)


R, E, F, GAP, SKIP = ("relu",), ("erf",), ("flatten",), ("gap",), ("identity",)
SUM, CAT = ("faninsum",), ("faninconcat",)


def residual(*branch):
    """x + f(x): stax's residual block."""
    return [("fanout", 2), ("parallel", list(branch), [SKIP]), SUM]


# (name, spec, input shape (H, W, C) or (D,), parameterization)
ARCHITECTURES = [
    ("residual-mlp", [dense(8, 1.3, 0.1), *residual(R, dense(8, 1.3, 0.1)), R, dense()], (5,), "ntk"),
    ("residual-mlp-twice", [dense(8, 1.2), *residual(R, dense(8, 0.9, 0.2)), *residual(E, dense(8, 1.1)), R,
                            dense(1, 1.0, 0.1)], (4,), "ntk"),
    ("two-weight-branches", [dense(8), ("fanout", 2), ("parallel", [R, dense(8, 1.4)], [dense(8, 0.7, 0.3)]), SUM,
                             R, dense()], (6,), "ntk"),
    ("residual-mlp-standard", [dense(6, 1.3, 0.1), *residual(R, dense(6, 1.3, 0.1)), R, dense(3)], (5,), "standard"),
    ("concat-three-mlp", [dense(6), ("fanout", 3), ("parallel", [R, dense(5)], [E, dense(5, 1.2)], [dense(5)]), CAT,
                          dense(6, 1.1), R, dense()], (4,), "ntk"),
    ("residual-cnn-flatten", [conv(4), *residual(R, conv(4, W=1.2)), R, F, dense()], (5, 6, 2), "ntk"),
    ("residual-cnn-gap", [conv(4, W=1.3, b=0.1), *residual(R, conv(4, W=1.3)), R, GAP, dense()], (5, 5, 2), "ntk"),
    ("downsampling-shortcut", [conv(4), ("fanout", 2), ("parallel", [R, conv(4, 3, 2, "SAME")], [conv(4, 1, 2, "SAME")]),
                               SUM, R, F, dense()], (6, 6, 2), "ntk"),
    ("concat-unequal-channels", [conv(3), ("fanout", 2), ("parallel", [R, conv(4)], [conv(2, k=1)]), CAT, conv(3),
                                 R, F, dense()], (5, 4, 2), "ntk"),
    ("concat-then-readout", [conv(3), ("fanout", 2), ("parallel", [R, conv(4)], [E, conv(2)]), CAT, F, dense()],
     (4, 4, 2), "ntk"),
    ("nested-residual", [conv(4), *residual(R, conv(4), *residual(R, conv(4, k=1))), R, GAP, dense()], (4, 4, 1), "ntk"),
    ("residual-cnn-standard", [conv(3, W=1.2, b=0.2), *residual(R, conv(3, W=1.2)), R, F, dense(2)], (4, 5, 2),
     "standard"),
]


@pytest.mark.parametrize("name,spec,shape,param", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_branching_kernel_matches_neural_tangents(name, spec, shape, param, nt_reference):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    x1 = rng.normal(size=(4, *shape))
    x2 = rng.normal(size=(3, *shape))
    kernel = serial(*ours_layers(spec, param))
    for get in ("nngp", "ntk"):
        ref = nt_reference.stax_kernel(spec, x1, x2, get, param)
        ours = kernel(to_torch(x1), to_torch(x2), get=get).numpy()
        assert rel_err(ours, ref) < 1e-5, (name, get, rel_err(ours, ref))
        ref_sym = nt_reference.stax_kernel(spec, x1, None, get, param)
        assert rel_err(kernel(to_torch(x1), get=get).numpy(), ref_sym) < 1e-5, (name, get)


def test_residual_block_adds_the_branch_kernels():
    """x + f(x) after a Dense layer: the NNGP is the input branch's plus the residual branch's."""
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    trunk = [Dense(8, 1.2, 0.1)]
    block = serial(*trunk, FanOut(2), parallel([Relu(), Dense(8, 1.1)], Identity()), FanInSum())
    alone = serial(*trunk, Relu(), Dense(8, 1.1))
    skip = serial(*trunk)
    for get in ("nngp", "ntk"):
        assert torch.allclose(block(x, get=get), alone(x, get=get) + skip(x, get=get), rtol=1e-12, atol=1e-12)


def test_branches_accept_serial_kernels_and_single_layers():
    x = torch.randn(3, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    as_lists = serial(Conv(3), FanOut(2), parallel([Relu(), Conv(3)], [Identity()]), FanInSum(), Relu(), Flatten(), Dense())
    as_serials = serial(Conv(3), FanOut(2), parallel(serial(Relu(), Conv(3)), Identity()), FanInSum(), Relu(), Flatten(),
                        Dense())
    assert torch.equal(as_lists(x), as_serials(x))


def test_bad_branching_fails_with_clear_messages():
    x = torch.randn(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="needs every branch to end in a Gaussian output"):
        serial(Dense(4), FanOut(2), parallel(Relu(), Relu()), FanInSum(), Dense())(x)
    with pytest.raises(ValueError, match="same number of channels"):
        serial(Dense(4), FanOut(2), parallel(Dense(3), Dense(5)), FanInSum(), Relu(), Dense())(x)
    with pytest.raises(ValueError, match="cannot take the 2 branches of a FanOut"):
        serial(Dense(4), FanOut(2), Relu(), FanInSum(), Dense())(x)
    with pytest.raises(ValueError, match="put FanOut\\(3\\) before it"):
        serial(Dense(4), FanOut(2), parallel(Dense(4), Dense(4), Dense(4)), FanInSum(), Dense())(x)
    with pytest.raises(ValueError, match="ends in 2 branches"):
        serial(Dense(4), FanOut(2), parallel(Dense(1), Dense(1)))(x)
    with pytest.raises(ValueError, match="merges the branches of a FanOut"):
        serial(Dense(4), FanInSum(), Dense())(x)
    with pytest.raises(ValueError, match="same spatial shape"):
        img = torch.randn(2, 1, 6, 6, dtype=torch.float64)
        serial(Conv(2), FanOut(2), parallel(Conv(2, stride=2), Conv(2)), FanInSum(), Relu(), Flatten(), Dense())(img)
    with pytest.raises(ValueError, match="needs a Gaussian input"):
        serial(Dense(4), FanOut(2), parallel(Dense(3), Dense(3)), FanInConcat(), Relu(), Dense())(x)
    with pytest.raises(ValueError, match="needs a Gaussian input"):
        serial(Relu(), Dense())(x)
    with pytest.raises(ValueError, match="needs a Gaussian input"):
        serial(Dense(4), Relu(), Relu(), Dense())(x)
    with pytest.raises(ValueError, match="kernel layers"):
        parallel([Dense(2), "relu"])
    with pytest.raises(ValueError, match="num"):
        FanOut(0)


# --- ABRelu, LeakyRelu and Abs ---------------------------------------------------------------------

ABRELU_ARCHITECTURES = [
    ("leaky-mlp", [dense(8, 1.3, 0.2), ("leakyrelu", 0.1), dense(8, 1.1), ("leakyrelu", 0.1), dense()], (5,), "ntk"),
    ("abs-mlp", [dense(8, 1.0, 0.1), ("abs",), dense(1, 0.9, 0.1)], (4,), "ntk"),
    ("abrelu-mlp-standard", [dense(6, 1.2, 0.3), ("abrelu", -0.4, 1.5), dense(3)], (5,), "standard"),
    ("abrelu-cnn-gap", [conv(4, W=1.2, b=0.1), ("abrelu", 0.3, -0.7), conv(4), ("abs",), GAP, dense()], (5, 5, 2), "ntk"),
    ("leaky-residual-cnn", [conv(4), *residual(("leakyrelu", 0.2), conv(4)), ("leakyrelu", 0.2), F, dense()], (4, 5, 2),
     "ntk"),
]


@pytest.mark.parametrize("name,spec,shape,param", ABRELU_ARCHITECTURES, ids=[a[0] for a in ABRELU_ARCHITECTURES])
def test_abrelu_family_matches_neural_tangents(name, spec, shape, param, nt_reference):
    test_branching_kernel_matches_neural_tangents(name, spec, shape, param, nt_reference)


def test_abrelu_special_cases():
    """a = 0, b = 1 is ReLU; a = b = 1 the identity (the kernel of the layer below)."""
    from lsa_utils.kernels import ABRelu, LeakyRelu
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for get in ("nngp", "ntk"):
        relu = serial(Dense(6, 1.3, 0.2), Relu(), Dense())(x, get=get)
        assert torch.allclose(serial(Dense(6, 1.3, 0.2), ABRelu(0.0, 1.0), Dense())(x, get=get), relu, rtol=1e-12)
        linear = serial(Dense(6, 1.3, 0.2), Dense())(x, get=get)
        assert torch.allclose(serial(Dense(6, 1.3, 0.2), ABRelu(1.0, 1.0), Dense())(x, get=get), linear, rtol=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        LeakyRelu(1.5)
    with pytest.raises(ValueError, match="finite"):
        ABRelu(float("nan"), 1.0)
