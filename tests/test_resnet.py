"""Chapter 4's ResNet18 (the official Flax ResNet V1, CIFAR variant) and its linearization."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lsa_utils.experiments.linearization import (
    at_trained_parameters, eigen_task_sweep, fit_binary, ntk_gram, ntk_spectrum, predictions, with_batch_statistics,
)
from lsa_utils.kernels import empirical_ntk
from lsa_utils.kernels.empirical import LinearizedModel
from lsa_utils.models.resnet import BasicBlock, FlaxBatchNorm2d, ResNet18, SameConv2d, load_flax_variables
from lsa_utils.models.small_nets import make_binary_classifier


GOLDEN = Path(__file__).parent / "data" / "resnet18_flax_golden.npz"  # tools/flax_golden.py


def golden_cases():
    """The official Flax ResNet18's recorded cases: name -> {key: array}."""
    arrays = np.load(GOLDEN)
    cases: dict[str, dict] = {}
    for key in arrays.files:
        name, rest = key.split(":", 1)
        cases.setdefault(name, {})[rest] = arrays[key]
    return cases


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_outputs_equal_the_official_flax_resnet(name):
    """With the official model's variables (random parameters and running statistics), our
    ResNet18 gives its outputs in eval mode (running statistics) and in train mode (batch
    statistics), and the running statistics after that train step, to float32 rounding (1e-6 of
    the largest output measured; 1e-5 asked). The
    reference is the official ``models/jax/resnet.py`` run by ``tools/flax_golden.py``
    (jax 0.4.25, flax 0.8.2): ReLU with one output on 32x32x3, GeLU with 3 on 16x16x1."""
    case = golden_cases()[name]
    variables = {k: v for k, v in case.items() if k.startswith(("params/", "batch_stats/"))}
    model = ResNet18(case["x"].shape[-1], width=int(case["width"]), outputs=int(case["outputs"]),
                     activation=str(case["activation"]))
    load_flax_variables(model, variables)
    x = torch.as_tensor(case["x"]).permute(0, 3, 1, 2)  # NHWC -> NCHW
    reference = {k: torch.as_tensor(case[k]) for k in ("eval_output", "train_output")}
    with torch.no_grad():
        out = model.eval()(x)
        scale = reference["eval_output"].abs().max()
        assert scale > 0.1  # the case is not degenerate
        assert torch.allclose(out.reshape(reference["eval_output"].shape), reference["eval_output"],
                              rtol=1e-5, atol=1e-5 * scale)
        out = model.train()(x)
        assert torch.allclose(out.reshape(reference["train_output"].shape), reference["train_output"],
                              rtol=1e-5, atol=1e-5 * reference["train_output"].abs().max())
    after = {k.split("/", 1)[1]: v for k, v in case.items() if k.startswith("batch_stats_after_train/")}
    loaded = load_flax_variables(ResNet18(x.shape[1], width=int(case["width"]), outputs=int(case["outputs"]),
                                          activation=str(case["activation"])), {**variables, **{
        "batch_stats/" + k: v for k, v in after.items()}})
    for module_now, module_ref in zip(model.modules(), loaded.modules()):
        if isinstance(module_now, FlaxBatchNorm2d):
            assert torch.allclose(module_now.running_mean, module_ref.running_mean, rtol=1e-5, atol=1e-6)
            assert torch.allclose(module_now.running_var, module_ref.running_var, rtol=1e-5, atol=1e-6)


def test_variables_of_another_width_are_refused():
    variables = {k: v for k, v in golden_cases()["relu"].items() if k.startswith(("params/", "batch_stats/"))}
    with pytest.raises(ValueError, match="shape"):
        load_flax_variables(ResNet18(3, width=4), variables)
    with pytest.raises(ValueError, match="missing"):
        load_flax_variables(ResNet18(3, width=2), {k: v for k, v in variables.items() if "Dense_0" not in k})


def test_running_variance_is_the_biased_one_as_flax():
    """One train step from running statistics (0, 1) with momentum 0.1 (Flax's 0.9) gives
    0.9 + 0.1 var_biased, and a cumulative average (momentum None) the biased variance itself."""
    x = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    norm = FlaxBatchNorm2d(2, momentum=0.1).train()
    norm(x)
    biased = x.var(dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(norm.running_var, 0.9 + 0.1 * biased, rtol=1e-6)
    assert torch.allclose(norm.running_mean, 0.1 * x.mean(dim=(0, 2, 3)), rtol=1e-6)
    cumulative = FlaxBatchNorm2d(2, momentum=None).train()
    cumulative(x[:2]), cumulative(x[2:])
    expected = (x[:2].var(dim=(0, 2, 3), unbiased=False) + x[2:].var(dim=(0, 2, 3), unbiased=False)) / 2
    assert torch.allclose(cumulative.running_var, expected, rtol=1e-6)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_are_resnet18s():
    # the CIFAR ResNet18 with 10 classes has 11,173,962 parameters; one logit drops 9 x 513
    assert n_params(ResNet18(3, outputs=10)) == 11_173_962
    assert n_params(ResNet18(3)) == 11_169_345
    narrow = make_binary_classifier("resnet18", (3, 32, 32), resnet_width=8)
    assert isinstance(narrow, ResNet18) and n_params(narrow) == 175_817
    assert narrow(torch.randn(2, 3, 32, 32)).shape == (2,)
    assert ResNet18(1, width=2, outputs=3)(torch.randn(4, 1, 28, 28)).shape == (4, 3)
    with pytest.raises(ValueError, match="activation='tanh' is not allowed"):
        ResNet18(3, activation="tanh")
    with pytest.raises(ValueError, match="width"):
        ResNet18(3, width=0)


@pytest.mark.parametrize("size, stride, pads", [(32, 2, (0, 1)), (32, 1, (1, 1)), (7, 2, (1, 1)), (8, 2, (0, 1))])
def test_same_convolution_pads_as_flax(size, stride, pads):
    conv = SameConv2d(2, 3, 3, stride)
    x = torch.randn(1, 2, size, size)
    expected = F.conv2d(F.pad(x, (*pads, *pads)), conv.weight, stride=stride)
    assert conv(x).shape[-1] == -(-size // stride)
    torch.testing.assert_close(conv(x), expected)
    one_by_one = SameConv2d(2, 3, 1, 2)  # the projection: no padding
    torch.testing.assert_close(one_by_one(x), F.conv2d(x, one_by_one.weight, stride=2))


def test_initialisation_zeroes_the_residual_branches_and_lecun_scales_the_weights():
    model = ResNet18(3, width=16, generator=torch.Generator().manual_seed(0))
    assert all(float(block.norm2.weight.detach().abs().max()) == 0 for block in model.blocks)
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    conv = model.blocks[2].conv1  # 16 -> 32 channels, fan-in 16 * 9
    weight = conv.weight.detach()
    assert float(weight.var()) == pytest.approx(1 / 144, rel=0.05) and float(weight.abs().max()) <= 2 / 12 / 0.8796 + 1e-6
    assert float(model.head.bias.detach().abs().max()) == 0
    block, x = model.blocks[2].eval(), torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(block(x), torch.relu(block.project(x)))  # the branch adds 0 at initialisation


def test_batch_norm_keeps_nine_tenths_of_its_running_average():
    block = BasicBlock(2, 2, 1, "gelu")
    x = torch.randn(16, 2, 4, 4) + 3.0
    block.train()(x)
    batch_mean = block.conv1(x).mean(dim=(0, 2, 3))
    torch.testing.assert_close(block.norm1.running_mean, 0.1 * batch_mean.detach())
    assert isinstance(block.act, nn.GELU) and block.act.approximate == "tanh"  # Flax's nn.gelu


def test_linearization_is_the_eval_mode_network_at_theta0_and_never_moves_the_statistics():
    model = ResNet18(3, width=4, generator=torch.Generator().manual_seed(1))
    x = torch.randn(6, 3, 8, 8)
    model.train()(x * 2 + 1)  # running statistics that differ from the initial ones
    lin = LinearizedModel(model)
    expected = model.eval()(x)
    torch.testing.assert_close(lin(x), expected)
    buffers = {name: b.clone() for name, b in lin.base.named_buffers() if "running" in name}
    lin.train()(x)
    assert all(torch.equal(b, lin.base.get_buffer(name)) for name, b in buffers.items())
    # its NTK is the eval-mode network's empirical NTK
    torch.testing.assert_close(empirical_ntk(lin, x), empirical_ntk(model.eval(), x), rtol=1e-4, atol=1e-6)


def test_batch_statistics_make_the_eval_mode_network_the_train_mode_one():
    model = ResNet18(3, width=4, generator=torch.Generator().manual_seed(5))
    x = torch.randn(64, 3, 8, 8) * 3 + 1
    with torch.no_grad():
        batch_mode = model.train()(x)
        initial_statistics = model.eval()(x)  # mean 0, variance 1: BatchNorm does not normalise
        recomputed = with_batch_statistics(model, x, batch_size=64)
        evaluated = recomputed.eval()(x)
    # one batch: its statistics are the running ones (the biased variance, as Flax), so the same
    # function to float32 rounding (2.8e-7 relative measured; an unbiased variance, 1.6 % larger
    # at the 1x1 stage, would fail)
    torch.testing.assert_close(evaluated, batch_mode, rtol=1e-5, atol=1e-6 * float(batch_mode.std()))
    assert float((initial_statistics - batch_mode).abs().max()) > 0.2 * float(batch_mode.std())
    assert model.blocks[0].norm1.momentum == 0.1 and recomputed.blocks[0].norm1.momentum == 0.1
    in_batches = with_batch_statistics(model, x, batch_size=16)  # the mean of four batches' means
    torch.testing.assert_close(in_batches.stem[1].running_mean, recomputed.stem[1].running_mean)
    uneven = torch.cat([x, x[:1] + 40.0])  # 65 images in batches of at most 32: 22, 22 and 21, not 32, 32 and 1
    with torch.no_grad():
        stem_mean = model.stem[0](uneven).mean(dim=(0, 2, 3))
    torch.testing.assert_close(with_batch_statistics(model, uneven, batch_size=32).stem[1].running_mean, stem_mean,
                               rtol=0.02, atol=0.02 * float(stem_mean.abs().max()))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(192, 1))
    assert torch.equal(with_batch_statistics(mlp, x)[1].weight, mlp[1].weight)  # nothing to do


def test_kernel_after_training_keeps_the_initial_batch_statistics_and_the_gram_is_in_eval_mode():
    generator = torch.Generator().manual_seed(2)
    model = ResNet18(1, width=2, generator=generator)
    x = torch.randn(40, 1, 8, 8)
    y = (x.mean(dim=(1, 2, 3)) > 0).float()
    fit = fit_binary(model, x[:30], y[:30], x[30:], y[30:], epochs=2, lr=0.01)
    assert not torch.equal(fit.model.blocks[0].norm1.running_var, model.blocks[0].norm1.running_var)
    point = at_trained_parameters(model, fit.model)
    assert torch.equal(point.blocks[0].norm1.running_var, model.blocks[0].norm1.running_var)
    assert torch.equal(point.head.weight, fit.model.head.weight)
    trained = fit.model.train()
    gram = ntk_gram(trained, x[:5])
    assert trained.training  # the mode is restored
    torch.testing.assert_close(gram, empirical_ntk(trained.eval(), x[:5]).double())
    assert torch.equal(predictions(trained.train(), x[30:]), fit.test_predictions)


def test_lanczos_spectrum_of_the_resnet_reads_batchnorm_in_eval_mode():
    """The ResNet left in train mode: both paths must evaluate BatchNorm on its running
    statistics (batch statistics would make the kernel another one), and restore the mode."""
    generator = torch.Generator().manual_seed(5)
    pooled = torch.randn(40, 3, 8, 8, generator=generator).double()
    model = with_batch_statistics(make_binary_classifier("resnet18", (3, 8, 8), generator, resnet_width=2).double(),
                                  pooled).train()
    dense, lanczos = ntk_spectrum(model, pooled), ntk_spectrum(model, pooled, count=5, batch_size=16)
    assert model.training
    assert torch.allclose(lanczos.eigenvalues, dense.eigenvalues[:5], rtol=1e-6, atol=0)
    from lsa_utils.kernels.eigen import ntk_eigenpairs

    with pytest.raises(ValueError, match="is in train mode"):  # batch statistics: not a kernel
        ntk_eigenpairs(model, pooled, 5, batch_size=16)


def test_eigen_task_sweep_runs_the_resnet_and_both_kernels():
    generator = torch.Generator().manual_seed(3)
    pooled = torch.randn(48, 3, 8, 8, generator=generator)
    initial = {"resnet18": make_binary_classifier("resnet18", (3, 8, 8), generator, resnet_width=2)}
    spectra = {"resnet18": ntk_spectrum(initial["resnet18"], pooled)}
    sweep = eigen_task_sweep(initial, spectra, pooled, 32, [1, 2], tracked_index=2, probe_size=8, epochs=2,
                             after_indices=[2], report=None)
    kinds = [(r["k"], r["kind"]) for r in sweep.rows]
    assert kinds == [(1, "network"), (1, "linearized"), (2, "network"), (2, "linearized"), (2, "kernel at θ₀"),
                     (2, "kernel at θ_T")]
    assert all(0 <= r["test_accuracy"] <= 1 for r in sweep.rows)
    assert sweep.tracks["resnet18", "linearized"].change[-1] < 1e-5  # its kernel cannot move


def test_chapter_runs_with_the_resnet_side_by_side(tmp_path, monkeypatch):
    """The notebook's ResNet18 path end to end (figures with three models, claims, prose), at tiny
    sizes on the digits fallback, with the NTK's eigenpairs and Rayleigh quotients by Lanczos and
    vector-Jacobian products: what the `paper` scale runs, on CPU, in seconds."""
    import json

    from lsa_utils.run.executor import run_chapter
    from conftest import make_project_copy

    root = make_project_copy(tmp_path)
    monkeypatch.setenv("LSA_ROOT", str(root))
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    outcome = run_chapter("linearization", "smoke", overrides=dict(
        models=["mlp", "lenet", "resnet18"], resnet_width=2, n_train=120, n_test=60, epochs=2, probe_size=32,
        rayleigh_count=40, real_sizes=[64, 128], real_test=100, real_steps=4, real_seeds=2, eigen_solver="lanczos"),
        progress=False)
    assert outcome.status == "executed"
    data = json.loads(outcome.results.read_text())
    values = data["values"]
    assert values["eigen_solver"] == "lanczos" and values["gram_seconds"] == {"mlp": None, "lenet": None, "resnet18": None}
    assert {m: sorted(map(int, r)) for m, r in values["eigen_residuals"].items()} == {
        m: [1, 2, 4, 8, 16, 32, 40] for m in ("mlp", "lenet", "resnet18")}  # 1, the tasks, the last of 40
    checks = {c["claim"].split(":")[0]: c for c in data["claims"] if "Lanczos eigenpairs" in c["claim"]}
    assert set(checks) == {"MLP 100-100", "LeNet", "ResNet18"} and checks["LeNet"]["criterion"] == "<= 0.01"
    assert checks["MLP 100-100"]["passed"] and checks["LeNet"]["passed"]
    # the width-2 ResNet's NTK on 8x8 digits falls below float32's resolution (about 1e-7 lambda_1) by
    # j = 32: its tail residuals are large, as they should be, while its leading eigenpair is accurate
    assert values["eigen_residuals"]["resnet18"]["1"] < 1e-5
    assert not any("A(φ_j) - λ_j" in c["claim"] for c in data["claims"])  # the dense path's check only
    assert {r["model"] for r in data["values"]["eigen_tasks"]} == {"mlp", "lenet", "resnet18"}
    assert {r["model"] for r in data["values"]["real_tasks"]} == {"mlp", "lenet", "resnet18"}
    assert any(c["claim"].startswith("ResNet18, task 4: rank of the growth") for c in data["claims"])
    glued = data["glued"]
    assert all(glued[key] != "n/a (not run)" for key in ("after_resnet18", "growth_summary_resnet18", "kta_resnet18"))
