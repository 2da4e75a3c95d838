"""Branching kernel layers (FanOut, parallel, FanInSum, FanInConcat, Identity) against stax."""

import zlib

import numpy as np
import pytest
import torch

from lsa_utils.kernels import Conv, Dense, FanInConcat, FanInSum, FanOut, Flatten, Identity, Relu, parallel, serial
from lsa_utils.kernels.reference import max_relative_error as rel_err
from lsa_utils.kernels.reference import ours as ours_layers
from lsa_utils.kernels.reference import to_nchw as to_torch

# stax warns at every fan-in that it does not check the branches' independence (the module docstring
# of lsa_utils.kernels.branches says when it holds)
pytestmark = pytest.mark.filterwarnings("ignore:`FanIn` layers assume independent inputs")


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
    ("concat-of-activations", [conv(3), ("fanout", 2), ("parallel", [R], [E]), CAT, conv(4), R, GAP, dense()],
     (4, 4, 2), "ntk"),
    ("concat-with-the-input", [("fanout", 2), ("parallel", [SKIP], [conv(3), R]), CAT, conv(4), R, F, dense()],
     (4, 5, 2), "ntk"),
    ("identity-first", [conv(4), ("fanout", 2), ("parallel", [SKIP], [R, conv(4, 3, 1, "SAME", 1.2, 0.1),
                                                                     ("avgpool", 3, 1, "SAME")]), SUM, R, GAP, dense()],
     (5, 5, 2), "ntk"),
    ("nested-residual", [conv(4), *residual(R, conv(4), *residual(R, conv(4, k=1))), R, GAP, dense()], (4, 4, 1), "ntk"),
    ("residual-cnn-standard", [conv(3, W=1.2, b=0.2), *residual(R, conv(3, W=1.2)), R, F, dense(2)], (4, 5, 2),
     "standard"),
]


@pytest.mark.parametrize("name,spec,shape,param", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_branching_kernel_matches_neural_tangents(name, spec, shape, param, nt_reference):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x1 = rng.normal(size=(4, *shape))
    x2 = rng.normal(size=(3, *shape))
    kernel = serial(*ours_layers(spec, param))
    # After Sign the kernel of a pair moves like the square root of its distance from identical
    # inputs. stax's diagonal then carries its rounding (up to 3e-5 after a following ReLU); ours is
    # exact there (layers.Sign). So with Sign, the diagonal is left out of the comparison.
    off_diagonal = ~np.eye(len(x1), dtype=bool) if ("sign",) in spec else np.ones((len(x1),) * 2, dtype=bool)
    for get in ("nngp", "ntk"):
        ref = nt_reference.stax_kernel(spec, x1, x2, get, param)
        ours = kernel(to_torch(x1), to_torch(x2), get=get).numpy()
        assert rel_err(ours, ref) < 1e-5, (name, get, rel_err(ours, ref))
        ref_sym = nt_reference.stax_kernel(spec, x1, None, get, param)
        ours_sym = kernel(to_torch(x1), get=get).numpy()
        assert rel_err(ours_sym[off_diagonal], ref_sym[off_diagonal]) < 1e-5, (name, get)


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
        serial(Dense(4), FanOut(2), parallel([Dense(4), Relu()], [Dense(4), Relu()]), FanInSum(), Dense())(x)
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
    with pytest.raises(ValueError, match="correlated"):  # x + x is 4 K, not the sum rule's 2 K
        serial(Dense(4), FanOut(2), parallel(Identity(), Identity()), FanInSum(), Dense())(x)
    with pytest.raises(ValueError, match="correlated"):
        serial(Dense(4), FanOut(2), FanInSum(), Dense())(x)
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
    ("sign-mlp", [dense(8, 1.2, 0.3), ("sign",), dense(8, 1.1, 0.1), R, dense()], (5,), "ntk"),
    ("sign-cnn", [conv(4, W=1.1, b=0.2), ("sign",), conv(3), R, GAP, dense()], (4, 4, 2), "ntk"),
    ("layernorm-mlp", [dense(8, 1.4, 0.5), ("layernorm",), R, dense(8), ("layernorm",), dense()], (4,), "ntk"),
    ("layernorm-cnn", [conv(4, W=1.3, b=0.1), ("layernorm",), R, conv(4), ("layernorm",), R, F, dense()], (5, 4, 2),
     "ntk"),
    ("layernorm-residual-standard", [dense(6, 1.2, 0.2), *residual(R, dense(6)), ("layernorm",), R, dense(2)], (5,),
     "standard"),
    ("sumpool", [conv(4), R, ("sumpool", 2, 2, "VALID"), conv(3), R, ("sumpool", 3, 1, "SAME"), F, dense()], (6, 6, 2),
     "ntk"),
    ("gelu-mlp", [dense(8, 1.3, 0.4), ("gelu",), dense(8, 1.1, 0.1), ("gelu",), dense()], (5,), "ntk"),
    ("gelu-mlp-standard", [dense(6, 2.0, 0.3), ("gelu",), dense(3, 0.9, 0.2)], (4,), "standard"),
    ("gelu-cnn-gap", [conv(4, W=1.2, b=0.1), ("gelu",), conv(4), ("gelu",), GAP, dense()], (5, 5, 2), "ntk"),
    ("gelu-residual-cnn", [conv(4), *residual(("gelu",), conv(4)), ("gelu",), F, dense()], (4, 5, 2), "ntk"),
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
    with pytest.raises(ValueError, match="finite alpha"):
        LeakyRelu(float("inf"))
    with pytest.raises(ValueError, match="finite"):
        ABRelu(float("nan"), 1.0)


# --- architecture builders ----------------------------------------------------------------------------

from lsa_utils.kernels.architectures import cntk_gap_spec, myrtle_spec, wide_resnet_spec  # noqa: E402

BUILT = [
    ("wrn-10-1", wide_resnet_spec(10, 1, 3), (8, 8, 3)),
    ("wrn-10-2", wide_resnet_spec(10, 2, 1), (8, 8, 2)),  # the first block's shortcut is a 1x1 conv
    ("wrn-16-1-bias", wide_resnet_spec(16, 1, 1, W_std=1.3, b_std=0.1), (4, 4, 1)),
    ("myrtle-5", myrtle_spec(5, image_size=8), (8, 8, 3)),
    ("myrtle-7", myrtle_spec(7, image_size=8, num_classes=1), (8, 8, 2)),
    ("cntk-gap-3", cntk_gap_spec(3), (5, 5, 3)),
]


@pytest.mark.parametrize("name,spec,shape", BUILT, ids=[b[0] for b in BUILT])
def test_architecture_builders_match_neural_tangents(name, spec, shape, nt_reference):
    test_branching_kernel_matches_neural_tangents(name, spec, shape, "ntk", nt_reference)


def test_architecture_builders_shapes_and_errors():
    from lsa_utils.kernels.architectures import MYRTLE_GROUPS, cntk_gap_kernel, myrtle_kernel, wide_resnet_kernel
    def count(spec, kind):  # into the branches too
        return sum(count(branch, kind) for layer in spec if layer[0] == "parallel" for branch in layer[1:]) + sum(
            1 for layer in spec if layer[0] == kind)

    assert count(wide_resnet_spec(16, 1), "faninsum") == 6  # (16 - 4) / 6 = 2 blocks in each of 3 groups
    assert count(wide_resnet_spec(16, 1), "relu") == 2 * 6 + 1  # two a block, one before the pool
    # 1x1 shortcuts where the shape changes: groups 2 and 3, and group 1 too when 16 w != 16
    one_by_one = lambda spec: sum(  # noqa: E731
        1 for layer in spec if layer[0] == "parallel" for branch in layer[1:] for c in branch if c[0] == "conv" and c[2] == 1)
    assert one_by_one(wide_resnet_spec(10, 1)) == 2 and one_by_one(wide_resnet_spec(10, 2)) == 3
    for depth, groups in MYRTLE_GROUPS.items():
        assert sum(1 for layer in myrtle_spec(depth) if layer[0] == "conv") == sum(groups)
        assert sum(1 for layer in myrtle_spec(depth) if layer[0] == "avgpool") == 5  # 32 -> 1
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert wide_resnet_kernel(10, 1, 1)(x).shape == (2, 2)
    assert myrtle_kernel(5, image_size=8, num_classes=1)(x).shape == (2, 2)
    assert cntk_gap_kernel(2)(x).shape == (2, 2)
    with pytest.raises(ValueError, match="6 n \\+ 4"):
        wide_resnet_spec(12)
    with pytest.raises(ValueError, match="depth"):
        myrtle_spec(6)
    with pytest.raises(ValueError, match="power of two"):
        myrtle_spec(5, image_size=12)
    with pytest.raises(ValueError, match="power of two"):
        myrtle_spec(5, image_size=4)


def test_branches_in_blocks_and_in_float32():
    """Residual kernels do not depend on the blocking (several self-pass blocks, mirrored
    off-diagonal blocks), and float32 stays close to float64. The tolerance is 1e-9: a
    nonlinearity's derivative kernel moves like the square root of a pair's distance from
    identical inputs, so the blocks' different rounding (1e-16) shows as about 1e-11 on the
    diagonal (plain Conv-LeakyReLU-GAP included)."""
    x = torch.randn(9, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    layers = ours_layers([conv(4, W=1.2, b=0.1), *residual(R, conv(4)), ("layernorm",), ("leakyrelu", 0.1), GAP, dense()])
    whole = serial(*layers)(x)
    blocked = serial(*layers, memory_budget=6 * 25 * 25 * 8 * 4)  # blocks of 2 inputs
    assert blocked.block_size(25 * 25, 8) == 2
    assert torch.allclose(blocked(x), whole, rtol=1e-9, atol=0)
    assert torch.allclose(serial(*layers)(x, x[:4]), whole[:, :4], rtol=1e-9, atol=0)
    assert torch.allclose(serial(*layers)(x.float()).double(), whole, rtol=2e-4, atol=1e-5)


def test_sign_gives_exactly_one_for_identical_inputs():
    """E[sign(u)^2] = 1: the self pass and the cross pass agree on identical inputs to rounding,
    which the square-root behaviour near theta = 0 would otherwise magnify (layers.Sign)."""
    from lsa_utils.kernels import Sign
    x = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    nngp = serial(Dense(8, 1.2, 0.3), Sign(), Dense(8, 1.1, 0.1), Relu(), Dense())(x, get="nngp")
    expected = serial(Dense(8, 1.1, 0.1), Relu(), Dense())(torch.ones(1, 1, dtype=torch.float64), get="nngp")
    assert torch.allclose(nngp.diagonal(), expected[0, 0].expand(6), rtol=1e-14)


@pytest.mark.parametrize("s11,s22,rho", [(0.7, 1.9, 0.0), (0.5, 2.5, 0.6), (1.3, 0.4, -0.8), (3.0, 3.0, 0.95)])
def test_gelu_closed_form_against_monte_carlo(s11, s22, rho):
    """Gelu's E[phi(u) phi(v)] and E[phi'(u) phi'(v)] against 4e6 Gaussian samples (tolerance: 5
    Monte-Carlo standard errors), and at rho = 0 against Stein's lemma exactly."""
    from lsa_utils.kernels import Gelu
    from lsa_utils.kernels.layers import KernelState
    s12 = rho * np.sqrt(s11 * s22)
    var1, var2 = torch.tensor([s11], dtype=torch.float64), torch.tensor([s22], dtype=torch.float64)
    st = KernelState(nngp=torch.tensor([s12], dtype=torch.float64), ntk=torch.ones(1, dtype=torch.float64),
                     layout="flat", channels=1, spatial=())
    out = Gelu().apply(st, var1, var2)
    rng = np.random.default_rng(int(1000 * (s11 + s22 + rho)) % 2**31)
    chol = np.linalg.cholesky(np.array([[s11, s12], [s12, s22]]))
    u, v = chol @ rng.standard_normal((2, 4_000_000))
    cdf = (lambda z: 0.5 * (1 + torch.erf(torch.from_numpy(z) / np.sqrt(2))).numpy())
    pdf = (lambda z: np.exp(-z**2 / 2) / np.sqrt(2 * np.pi))
    for got, samples in ((out.nngp, u * cdf(u) * v * cdf(v)),
                         (out.ntk, (cdf(u) + u * pdf(u)) * (cdf(v) + v * pdf(v)))):
        assert abs(got.item() - samples.mean()) < 5 * samples.std() / np.sqrt(samples.size)
    if rho == 0.0:
        stein = s11 * s22 / (2 * np.pi * np.sqrt((1 + s11) * (1 + s22)))
        assert out.nngp.item() == pytest.approx(stein, rel=1e-12)


def test_wide_resnet_kernel_is_the_torch_networks_nngp():
    """The NNGP of wide_resnet_spec against the output covariance of chapter 1's torch WideResNet
    (lsa_utils.models.cnn) at its default initialisation, eval mode (BatchNorm is the identity up
    to 1/sqrt(1 + 1e-5)), head bias zeroed; standard parameterization with W_std = 1/sqrt(3)
    (torch's default), 9x9 images (odd: TF's SAME padding equals torch's). 100 initialisations x
    200 outputs: with width 4 the ratios came out within 0.97 to 1.02; 7% allows the Monte-Carlo
    and finite-width errors. A shortcut of the raw instead of the activated input gives 0.24, a
    missing last ReLU 0.55."""
    import math

    from lsa_utils.kernels.architectures import wide_resnet_kernel
    from lsa_utils.models.cnn import WideResNet

    torch.manual_seed(0)
    x = torch.randn(4, 3, 9, 9, dtype=torch.float64)
    outputs = []
    for _ in range(100):
        net = WideResNet(3, 200, depth=10, width=4).double().eval()
        with torch.no_grad():
            net.head.bias.zero_()
            outputs.append(net(x))
    f = torch.stack(outputs)  # (inits, n, classes)
    monte_carlo = torch.einsum("ina,ima->nm", f, f) / (f.shape[0] * f.shape[2])
    kernel = wide_resnet_kernel(10, 4, 200, parameterization="standard", W_std=1 / math.sqrt(3), b_std=None,
                                readout_b_std=0.0)
    ratio = monte_carlo / kernel(x, get="nngp")
    assert ratio.min() > 0.93 and ratio.max() < 1.07, ratio
