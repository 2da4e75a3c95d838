"""Chapter 4 (Ortiz-Jimenez et al. 2021): the small classifiers, the binary image tasks, NTK
eigenfunction tasks, and training a network against its linearization."""

import copy
import math

import pytest
import torch
from torch import nn

from lsa_utils.data.binary_images import binary_labels, load_binary_images
from lsa_utils.experiments.linearization import (
    KernelTracker, eigenfunction_labels, fit_binary, fit_network_and_linearization, linear_decay, ntk_spectrum,
)
from lsa_utils.kernels import empirical_ntk, linearize, rayleigh_quotients
from lsa_utils.models.small_nets import MLP, LeNet, lecun_normal_, make_binary_classifier
from lsa_utils.train import train_minibatch


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_lecun_normal_has_variance_one_over_fan_in_and_is_truncated():
    w = torch.empty(400, 50, 5, 5)  # fan_in 1250
    lecun_normal_(w, torch.Generator().manual_seed(0))
    assert float(w.var()) == pytest.approx(1 / 1250, rel=0.02)
    bound = 2 / math.sqrt(1250) / 0.87962566103423978
    assert float(w.abs().max()) <= bound + 1e-7
    assert float(w.abs().max()) > 0.95 * bound


@pytest.mark.parametrize("image_shape, expected", [((1, 28, 28), 107_021), ((3, 32, 32), 136_121)])
def test_lenet_shapes_and_parameter_count(image_shape, expected):
    model = make_binary_classifier("lenet", image_shape, torch.Generator().manual_seed(0))
    assert n_params(model) == expected  # 6@5x5, 16@5x5, 120, 84, 1 with SAME padding and two pools
    assert model(torch.randn(5, *image_shape)).shape == (5,)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def test_mlp_parameter_count_and_validation():
    assert n_params(MLP(784)) == 784 * 100 + 100 + 100 * 100 + 100 + 101
    assert MLP(12)(torch.randn(3, 3, 2, 2)).shape == (3,)
    with pytest.raises(ValueError, match="model must be"):
        make_binary_classifier("resnet", (1, 8, 8))
    with pytest.raises(ValueError, match="square"):
        make_binary_classifier("lenet", (1, 8, 12))
    with pytest.raises(ValueError, match="too small"):
        LeNet(1, 3)


def per_sample_gradient_gram(model, x):
    rows = []
    for xi in x:
        model.zero_grad()
        model(xi[None]).sum().backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    jac = torch.stack(rows)
    return jac @ jac.T


def test_empirical_ntk_of_lenet_matches_per_sample_gradients():
    torch.manual_seed(0)
    model = LeNet(1, 12).double()
    x = torch.randn(7, 1, 12, 12, dtype=torch.float64)
    expected = per_sample_gradient_gram(model, x)
    assert torch.allclose(empirical_ntk(model, x), expected, rtol=1e-10, atol=1e-12)


def test_linearized_model_has_the_initial_ntk_before_and_after_training():
    torch.manual_seed(1)
    model = MLP(6, hidden=(16, 16)).double()
    x = torch.randn(40, 6, dtype=torch.float64)
    y = (x[:, 0] * x[:, 1] > 0).double()
    lin = linearize(model)
    before = empirical_ntk(lin, x[:10])
    assert torch.allclose(before, empirical_ntk(model, x[:10]), rtol=1e-12)
    opt = torch.optim.SGD(lin.parameters(), lr=0.5, momentum=0.9)
    train_minibatch(lin, x, y, opt, 20, 8, loss_fn=nn.functional.binary_cross_entropy_with_logits,
                    generator=torch.Generator().manual_seed(0), progress=False)
    assert lin.distance_from_init() > 0.1
    assert torch.allclose(empirical_ntk(lin, x[:10]), before, rtol=1e-12)


def test_linearization_without_offset_is_zero_at_its_point_with_the_same_ntk():
    torch.manual_seed(5)
    model = MLP(6, hidden=(16, 16)).double()
    x = torch.randn(12, 6, dtype=torch.float64)
    with_offset, kernel_only = linearize(model), linearize(model, offset=False)
    assert float(kernel_only(x).detach().abs().max()) == 0.0
    assert torch.allclose(with_offset(x), model(x), rtol=1e-12)
    assert torch.allclose(empirical_ntk(kernel_only, x), empirical_ntk(model, x), rtol=1e-12)
    with torch.no_grad():  # the same step for both: they differ by f(x; theta_0) only
        for a, b in zip(with_offset.theta, kernel_only.theta):
            step = 0.1 * torch.randn_like(a)
            a.add_(step)
            b.add_(step)
    assert float(kernel_only(x).detach().abs().max()) > 1e-3
    assert torch.allclose(kernel_only(x), with_offset(x) - model(x), rtol=1e-10, atol=1e-12)


def test_at_trained_parameters_takes_the_parameters_and_keeps_the_initial_batch_statistics():
    from lsa_utils.experiments.linearization import at_trained_parameters

    torch.manual_seed(6)
    initial = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    trained = copy.deepcopy(initial)
    trained.train()
    opt = torch.optim.SGD(trained.parameters(), lr=0.1)
    for _ in range(3):  # moves the parameters and BatchNorm's running statistics
        opt.zero_grad()
        trained(torch.randn(32, 4) + 2.0).pow(2).mean().backward()
        opt.step()
    point = at_trained_parameters(initial, trained)
    assert all(torch.equal(p, q) for p, q in zip(point.parameters(), trained.parameters()))
    assert all(torch.equal(b, c) for b, c in zip(point.buffers(), initial.buffers()))
    assert not torch.equal(trained[1].running_mean, initial[1].running_mean)
    assert point is not initial and point[0].weight is not trained[0].weight


def test_ntk_spectrum_rayleigh_quotients_equal_eigenvalues():
    torch.manual_seed(2)
    model = MLP(5, hidden=(32, 32))
    x = torch.randn(60, 5)
    spectrum = ntk_spectrum(model, x)
    assert spectrum.gram.dtype == torch.float64
    assert torch.allclose(spectrum.gram, empirical_ntk(model, x).double())
    assert bool((spectrum.eigenvalues[:-1] >= spectrum.eigenvalues[1:]).all())
    quotients = rayleigh_quotients(spectrum.gram, spectrum.eigenvectors)
    assert float((quotients - spectrum.eigenvalues).abs().max() / spectrum.eigenvalues[0]) < 1e-12
    assert spectrum.gram_seconds > 0 and spectrum.eigen_seconds > 0 and spectrum.products is None
    assert spectrum.describe().startswith("Gram matrix 60 x 60 in ")


def test_eigenfunction_labels_and_binary_labels():
    assert eigenfunction_labels(torch.tensor([0.3, -0.1, 0.0, 2.0])).tolist() == [1.0, 0.0, 0.0, 1.0]
    classes = torch.arange(10)
    assert binary_labels("cifar10", classes).tolist() == [1.0] * 5 + [0.0] * 5
    assert binary_labels("mnist", classes).tolist() == [1.0, 0.0] * 5
    with pytest.raises(ValueError, match="no binary task"):
        binary_labels("imagenet", classes)


def test_load_binary_images_standardises_and_nests():
    data = load_binary_images("digits", 300, 100, seed=0, verbose=False)
    assert data.x_train.shape == (300, 1, 8, 8) and data.x_test.shape == (100, 1, 8, 8)
    assert float(data.x_train.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(data.x_train.std()) == pytest.approx(1.0, abs=1e-3)
    assert 0.3 < float(data.y_train.mean()) < 0.7
    assert data.pooled(50, 20).shape == (70, 1, 8, 8)
    assert torch.equal(data.pooled(50, 20)[50:], data.x_test[:20])


def test_load_binary_images_uses_what_the_fallback_has(capsys):
    data = load_binary_images("digits", 5000, 50, verbose=True)
    assert len(data.y_train) == 1437
    assert "only 1,437 train images" in capsys.readouterr().out


def test_train_minibatch_calls_on_epoch_after_every_epoch():
    seen = []
    model = nn.Linear(3, 2)
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    train_minibatch(model, x, y, torch.optim.SGD(model.parameters(), lr=0.1), 4, 8, progress=False,
                    on_epoch=seen.append)
    assert seen == [1, 2, 3, 4]


def xor_images(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g)
    return x, ((x[:, 0, 0, 0] > 0) == (x[:, 0, 1, 1] > 0)).float()


def test_fit_binary_network_learns_xor_and_linearization_kernel_stays_fixed():
    torch.manual_seed(3)
    model = MLP(16, hidden=(64, 64))
    x_train, y_train = xor_images(2048, 0)
    x_test, y_test = xor_images(1000, 1)
    probe = (x_train[:64], y_train[:64])
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    fits = fit_network_and_linearization(model, x_train, y_train, x_test, y_test, epochs=30, probe=probe)
    net, lin = fits["network"], fits["linearized"]
    assert net.test_accuracy > 0.9
    assert lin.test_accuracy < net.test_accuracy - 0.1  # seen: 0.95 against 0.72
    assert net.train_accuracy >= net.test_accuracy - 0.05
    assert net.distance > 0 and lin.distance > 0
    assert len(net.track.epochs) == 31 and net.track.epochs[0] == 0
    # the network's kernel moves and aligns with the task; the linearization's does not move
    assert net.track.change[-1] > 0.1
    assert net.track.alignment[-1] > 1.2 * net.track.alignment[0]  # seen: 0.106 -> 0.144
    assert max(lin.track.change) < 1e-5
    assert max(lin.track.alignment) - min(lin.track.alignment) < 1e-5
    assert lin.track.alignment[0] == pytest.approx(net.track.alignment[0], rel=1e-5)
    # the original model is untouched
    assert all(torch.equal(v, initial[k]) for k, v in model.state_dict().items())


def test_the_kernel_after_training_learns_what_the_kernel_at_initialisation_cannot():
    from lsa_utils.experiments.linearization import fit_kernels_before_and_after

    torch.manual_seed(3)
    model = MLP(16, hidden=(64, 64))
    data = (*xor_images(2048, 0), *xor_images(1000, 1))
    network = fit_binary(model, *data, epochs=30)
    fits = fit_kernels_before_and_after(model, network.model, *data, epochs=30)
    before, after = fits["kernel at θ₀"], fits["kernel at θ_T"]

    def agreement(fit):
        return float((fit.test_predictions == network.test_predictions).float().mean())

    assert after.test_accuracy > before.test_accuracy + 0.1  # seen: 0.956 against 0.721 (network 0.953)
    assert agreement(after) > agreement(before) + 0.1  # seen: 0.989 against 0.736
    # the fits are kernel methods with the NTK of their expansion point: theta_0's and theta_T's
    x = data[0][:8]
    assert torch.allclose(empirical_ntk(after.model, x), empirical_ntk(network.model, x), rtol=1e-4)
    assert torch.allclose(empirical_ntk(before.model, x), empirical_ntk(model, x), rtol=1e-4)


def test_fit_binary_validates_labels_and_schedule():
    model = MLP(4, hidden=(8,))
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match="labels in"):
        fit_binary(model, x, torch.full((10,), 2.0), x, torch.zeros(10), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        fit_binary(model, x, torch.zeros(10), x, torch.zeros(10), epochs=0)
    assert linear_decay(0.0) == 1.0 and linear_decay(0.75) == pytest.approx(0.25)
    with pytest.raises(FloatingPointError, match="diverged"):  # a diverged fit is not scored as predicting 0
        fit_binary(model, x, torch.tensor([0.0, 1.0] * 5), x, torch.zeros(10), epochs=1, lr=1e30)


def test_predictions_use_running_statistics_and_restore_the_mode():
    from lsa_utils.experiments.linearization import predictions

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1), nn.Flatten(0))
    x = torch.randn(16, 3) * 5 + 2
    model.train()
    with torch.no_grad():
        expected = (model.eval()(x) > 0).float()
    model.train()
    assert torch.equal(predictions(model, x, batch_size=3), expected) and model.training  # batches of 3: eval mode


def test_rbf_control_is_kernel_ridge_on_the_pixels():
    from lsa_utils.experiments.linearization import CONTROL, rbf_control_rows

    torch.manual_seed(2)
    pooled, _ = xor_images(50, 9)
    spectra = {"mlp": ntk_spectrum(MLP(16, hidden=(8,)), pooled)}
    rows = rbf_control_rows(spectra, pooled, 30, [1, 4])
    assert [(r["model"], r["k"], r["kind"]) for r in rows] == [("mlp", 1, CONTROL), ("mlp", 4, CONTROL)]
    x = pooled.reshape(50, -1).double()
    d2 = torch.cdist(x, x[:30]) ** 2
    kernel = torch.exp(-d2 / d2[:30].median())
    y = 2 * eigenfunction_labels(spectra["mlp"].eigenvectors[:, 3]).double() - 1
    alpha = torch.linalg.solve(kernel[:30] + 1e-3 * torch.eye(30, dtype=torch.float64), y[:30])
    expected = float(((kernel[30:] @ alpha > 0).double() * 2 - 1 == y[30:]).double().mean())
    assert rows[1]["test_accuracy"] == pytest.approx(expected)
    assert rows[1]["train_accuracy"] == pytest.approx(1.0)  # ridge 1e-3 nearly interpolates 30 distinct images


def test_kernel_tracker_starts_at_zero_change():
    model = MLP(4, hidden=(8,))
    tracker = KernelTracker(model, torch.randn(12, 4), torch.tensor([0.0, 1.0] * 6))
    assert tracker.track.epochs == [0] and tracker.track.change == [0.0]
    assert -1 <= tracker.track.alignment[0] <= 1


def test_eigen_task_sweep_rows_tracks_and_rayleigh_growth():
    from lsa_utils.experiments.linearization import eigen_task_sweep, rayleigh_growth

    torch.manual_seed(4)
    pooled, _ = xor_images(90, 5)
    initial = {"mlp": make_binary_classifier("mlp", (1, 4, 4), torch.Generator().manual_seed(0))}
    spectra = {"mlp": ntk_spectrum(initial["mlp"], pooled)}
    lines = []
    sweep = eigen_task_sweep(initial, spectra, pooled, 60, [1, 3], tracked_index=3, probe_size=20, epochs=3,
                             after_indices=[3], report=lines.append)
    assert [(r["k"], r["kind"]) for r in sweep.rows] == [
        (1, "network"), (1, "linearized"), (3, "network"), (3, "linearized"), (3, "kernel at θ₀"), (3, "kernel at θ_T")]
    assert all(0 <= r["test_accuracy"] <= 1 and 0 <= r["agreement"] <= 1 for r in sweep.rows) and len(lines) == 2
    assert [r["agreement"] for r in sweep.rows if r["kind"] == "network"] == [1.0, 1.0]
    rows = {r["kind"]: r for r in sweep.rows if r["k"] == 3}
    [after] = sweep.after
    y_test = eigenfunction_labels(spectra["mlp"].eigenvectors[60:, 0])
    paired = {r["k"]: r for r in sweep.paired}
    assert set(paired) == {1, 3}
    one = [r for r in sweep.rows if r["k"] == 1]  # the paired counts are the two accuracies' difference
    assert (paired[1]["only_linearized"] - paired[1]["only_network"]) / 30 == pytest.approx(
        one[1]["test_accuracy"] - one[0]["test_accuracy"], abs=1e-6)
    assert paired[1]["only_linearized"] + paired[1]["only_network"] <= 30 and y_test.shape == (30,)
    assert after["model"] == "mlp" and after["k"] == 3
    # the paired counts are the difference of the two agreements on the 30 test images
    assert (after["only_after"] - after["only_before"]) / 30 == pytest.approx(
        rows["kernel at θ_T"]["agreement"] - rows["kernel at θ₀"]["agreement"], abs=1e-6)
    with pytest.raises(ValueError, match="after_indices=\\[2\\] is not allowed"):
        eigen_task_sweep(initial, spectra, pooled, 60, [1, 3], tracked_index=3, probe_size=20, epochs=1,
                         after_indices=[2])
    assert set(sweep.tracks) == {("mlp", "network"), ("mlp", "linearized")}
    assert len(sweep.tracks["mlp", "network"].epochs) == 4
    growth = rayleigh_growth(spectra["mlp"], initial["mlp"], sweep.trained["mlp"], pooled, count=30, tracked_index=3)
    assert growth["gain"].shape == (30,) and growth["init_error"] < 1e-10
    assert growth["gain_at_task"] == pytest.approx(growth["after"][2] / growth["eigenvalues"][2])
    untrained = rayleigh_growth(spectra["mlp"], initial["mlp"], initial["mlp"], pooled, count=30, tracked_index=3, n_train=60)
    for key in ("gain", "gain_train", "gain_test"):  # the initial kernel: no growth, on either split
        assert untrained[key] == pytest.approx([1.0] * 30, rel=1e-6)
    split = rayleigh_growth(spectra["mlp"], initial["mlp"], sweep.trained["mlp"], pooled, count=30, tracked_index=3, n_train=60)
    assert split["gain"] == pytest.approx(growth["gain"])
    trained_gram, v = ntk_spectrum(sweep.trained["mlp"], pooled).gram, spectra["mlp"].eigenvectors[60:, 4]
    expected = float(v @ trained_gram[60:, 60:] @ v) / float(v @ spectra["mlp"].gram[60:, 60:] @ v)
    assert split["gain_test"][4] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="n_train=90 is not allowed"):
        rayleigh_growth(spectra["mlp"], initial["mlp"], initial["mlp"], pooled, count=30, tracked_index=3, n_train=90)
    with pytest.raises(ValueError, match="tracked_index=2 is not allowed"):
        eigen_task_sweep(initial, spectra, pooled, 60, [1, 3], tracked_index=2, probe_size=20, epochs=1)
    with pytest.raises(ValueError, match="tracked_index=40"):
        rayleigh_growth(spectra["mlp"], initial["mlp"], initial["mlp"], pooled, count=30, tracked_index=40)


def test_lanczos_spectrum_and_rayleigh_growth_match_the_dense_path():
    """The `paper` scale's path (top eigenpairs by Lanczos, Rayleigh quotients from
    vector-Jacobian products, no Gram matrix) against the dense one on the same model."""
    from lsa_utils.experiments.linearization import rayleigh_growth

    pooled, _ = xor_images(90, 5)
    pooled = pooled.double()
    model = make_binary_classifier("mlp", (1, 4, 4), torch.Generator().manual_seed(0)).double()
    trained = copy.deepcopy(model)
    with torch.no_grad():  # a kernel far from the initial one stands in for training
        for q in trained.parameters():
            q.add_(0.5 * torch.randn(q.shape, generator=torch.Generator().manual_seed(q.numel()), dtype=q.dtype))
    dense, lanczos = ntk_spectrum(model, pooled), ntk_spectrum(model, pooled, count=8, batch_size=32)
    assert lanczos.gram is None and lanczos.gram_seconds is None and lanczos.products > 0
    assert lanczos.eigenvectors.shape == (90, 8) and "8 eigenpairs of the 90 x 90 NTK by Lanczos" in lanczos.describe()
    assert set(lanczos.residuals) == {1, 8} and max(lanczos.residuals.values()) < 1e-5
    assert torch.allclose(lanczos.eigenvalues, dense.eigenvalues[:8].cpu(), rtol=1e-6, atol=0)
    assert (lanczos.eigenvectors * dense.eigenvectors[:, :8].cpu()).sum(0).abs().sub(1).abs().max() < 1e-6
    by_gram = rayleigh_growth(dense, model, trained, pooled, count=8, tracked_index=3, n_train=60)
    free = rayleigh_growth(lanczos, model, trained, pooled, count=8, tracked_index=3, n_train=60)
    for key in ("before", "after", "gain", "gain_train", "gain_test"):
        assert free[key] == pytest.approx(by_gram[key], rel=1e-5), key
    assert abs(free["gain"] - 1).max() > 0.1 and free["init_error"] < 1e-6
    with pytest.raises(ValueError, match="must lie in \\[1, 8\\]"):  # only 8 eigenvectors were found
        rayleigh_growth(lanczos, model, trained, pooled, count=30, tracked_index=9)


def test_real_task_sweep_nests_sizes_holds_the_steps_and_repeats_over_seeds():
    from lsa_utils.data.binary_images import BinaryImages
    from lsa_utils.experiments.linearization import epochs_for_steps, real_task_sweep

    x_train, y_train = xor_images(256, 6)
    x_test, y_test = xor_images(40, 7)
    task = BinaryImages(x_train, y_train, x_test, y_test, name="xor", rule="xor", source="test")
    lines = []
    rows = real_task_sweep([task], ["mlp", "lenet"], [[64, 256]], steps=4, seeds=2, seed=1, report=lines.append)
    assert [(r["model"], r["seed"], r["n"]) for r in rows] == [
        (m, s, n) for m in ("mlp", "lenet") for s in (0, 1) for n in (64, 256)]
    assert [r["epochs"] for r in rows[:2]] == [4, 2] and {r["steps"] for r in rows} == {4}  # 1 and 2 steps an epoch
    assert len(lines) == len(rows)
    for r in rows:
        assert r["dataset"] == "xor"
        assert all(0 <= r[key] <= 1 for key in ("network", "linearized", "network_train", "linearized_train"))
        assert r["test"] == 40 and abs(r["network"] - r["linearized"]) <= r["disagreement"] + 1e-9
    assert rows[0]["network"] != rows[2]["network"] or rows[0]["network_train"] != rows[2]["network_train"]
    assert rows == real_task_sweep([task], ["mlp", "lenet"], [[64, 256]], steps=4, seeds=2, seed=1)  # seeded
    assert epochs_for_steps(480, 250) == 240 and epochs_for_steps(480, 2000) == 30 and epochs_for_steps(3, 5000) == 1
    with pytest.raises(ValueError, match="steps"):
        epochs_for_steps(0, 100)
