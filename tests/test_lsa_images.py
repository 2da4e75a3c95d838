"""Chapter 1, Part B: canvases of the settings, the CNNs, their NTK, the training recipes."""

import numpy as np
import pytest
import torch

from lsa_utils.experiments.lsa_images import SETTINGS, canvases, load_canvas_data, ntk_accuracy, run_setting
from lsa_utils.models.cnn import SimpleCNN, WideResNet, simple_cnn_kernel
from lsa_utils.train import step_decay, train_minibatch


def test_step_decay_multiplies_by_0_2_at_40_50_60_percent():
    m = step_decay()
    assert [m(f) for f in (0.0, 0.39, 0.4, 0.55, 0.6, 0.99)] == pytest.approx([1, 1, 0.2, 0.04, 0.008, 0.008])


def test_train_minibatch_fits_a_separable_problem_and_validates():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(5, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    history = train_minibatch(model, x, y, opt, epochs=30, batch_size=32, generator=g, progress=False)
    assert history.steps == list(range(1, 31)) and history.loss[-1] < 0.5 * history.loss[0]
    assert (model(x).argmax(1) == y).float().mean() > 0.95
    with pytest.raises(ValueError, match="same number"):
        train_minibatch(model, x, y[:10], opt, 1, 8, progress=False)


@pytest.mark.parametrize("size,channels", [(42, 1), (32, 3), (12, 1), (16, 1)])
def test_simple_cnn_shapes(size, channels):
    net = SimpleCNN(channels, 10, size, width_factor=2)
    assert net(torch.zeros(3, channels, size, size)).shape == (3, 10)
    assert net.first_layer.out_channels == 16
    with pytest.raises(ValueError, match="image_size"):
        SimpleCNN(1, 10, 5)


def test_wide_resnet_10_shapes():
    net = WideResNet(3, 4, depth=10, width=1)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(ValueError, match="depth"):
        WideResNet(3, 4, depth=12)


def test_simple_cnn_kernel_agrees_with_neural_tangents(nt_reference):
    x = torch.rand(5, 1, 13, 13, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = simple_cnn_kernel()(x).numpy()
    spec = [("conv", 1, 3, 2, "VALID", 1.0, None), ("relu",), ("conv", 1, 3, 2, "VALID", 1.0, None),
            ("relu",), ("flatten",), ("dense", 1, 1.0, None)]
    reference = nt_reference.stax_kernel(spec, np.moveaxis(x.numpy(), 1, -1), None, "ntk")
    assert np.max(np.abs(ours - reference)) / np.max(np.abs(reference)) < 1e-5


def test_fallback_settings_use_digits_and_say_so(monkeypatch):
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    blocks = load_canvas_data(SETTINGS["cifar_blocks"], 50, 20, seed=0)
    assert blocks.fallback and "FALLBACK" in blocks.source and blocks.canvas_size == 16
    assert blocks.num_classes == 5 and int(blocks.train_labels.max()) <= 4
    x_tr, x_te = canvases(blocks, 1.0, seed=0)
    assert x_tr.shape == (50, 1, 16, 16) and x_te.shape == (20, 1, 16, 16)
    mnist = load_canvas_data(SETTINGS["mnist_gaussian"], 50, 20, seed=0)
    assert mnist.canvas_size == 12  # 8 / 12 = 28 / 42, the real setting's ratio


def test_strengths_share_positions_and_background_pattern(monkeypatch):
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    data = load_canvas_data(SETTINGS["mnist_gaussian"], 30, 10, seed=0)
    a, _ = canvases(data, 1.0, seed=3)
    b, _ = canvases(data, 2.0, seed=3)
    zero, _ = canvases(data, 0.0, seed=3)
    background = zero == 0  # pixels outside the pasted digit (and the digit's own zeros)
    assert torch.allclose(2 * a[background], b[background])
    assert torch.equal(a[~background], zero[~background])


def test_real_settings_load_the_stated_label_sets(shared_data, monkeypatch):
    monkeypatch.setenv("LSA_DATA_DIR", str(shared_data))
    photo = load_canvas_data(SETTINGS["cifar_photo"], 100, 50, seed=0)
    assert not photo.fallback and photo.classes == ["vehicle", "animal"]
    assert photo.train_images.shape[1:] == (3, 16, 16)
    x, _ = canvases(photo, 0.5, seed=0)
    assert x.shape == (100, 3, 32, 32)
    blocks = load_canvas_data(SETTINGS["cifar_blocks"], 100, 50, seed=0)
    assert blocks.classes == ["airplane", "automobile", "ship", "truck"]
    assert blocks.tiles is not None and blocks.tiles.shape[1:] == (3, 16, 16)
    mnist = load_canvas_data(SETTINGS["mnist_gaussian"], 100, 50, seed=0)
    assert mnist.num_classes == 10 and mnist.canvas_size == 42


def test_run_setting_with_centred_digits_learns_them(monkeypatch):
    """Fallback digits pasted at the centre of a black canvas: the NTK and the CNN are far above
    chance (0.1). (At random places 300 images are too few for either: no pooling.)"""
    from dataclasses import replace

    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    data = load_canvas_data(replace(SETTINGS["mnist_gaussian"], location="fixed"), 300, 200, seed=0)
    rows, models = run_setting(data, [0.0], seeds=1, cnn_steps=600, lin_steps=90, lin_widths=(1, 2), progress=False)
    acc = {r["method"]: r["accuracy"] for r in rows}
    assert acc["NTK"] > 0.8 and acc["CNN"] > 0.5 and acc["linearized CNN (wide)"] > 0.2, acc
    assert set(models) == {0.0}
    x_tr, x_te = canvases(data, 0.0, 0)
    again, _ = ntk_accuracy(x_tr, data.train_labels, x_te, data.test_labels, data.num_classes)
    assert again == pytest.approx(acc["NTK"])


def test_accuracy_against_n_reuses_the_rows_it_is_given(monkeypatch):
    """A size already fitted by run_setting (run seed 0, same data) is taken from its rows; the
    other sizes are fitted, the NTK only up to kernel_max_n."""
    import lsa_utils.experiments.lsa_images as images

    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    setting = SETTINGS["mnist_gaussian"]
    data = load_canvas_data(setting, 60, 30, seed=0)
    done, _ = run_setting(data, [0.0, 1.0], seeds=1, cnn_steps=1, lin_steps=1, lin_widths=(1, 1), progress=False)
    fitted_sizes = []
    real_run_setting = images.run_setting

    def counting_run_setting(data, *args, **kwargs):
        fitted_sizes.append(len(data.train_labels))
        return real_run_setting(data, *args, **kwargs)

    monkeypatch.setattr(images, "run_setting", counting_run_setting)
    rows, models = images.accuracy_against_n(setting, [60, 80], [0.0, 1.0], 30, cnn_steps=1, kernel_max_n=60,
                                             done_rows=done)
    assert fitted_sizes == [80] and set(models) == {80}
    reused = [r for r in rows if r["n_train"] == 60]
    assert sorted((r["method"], r["strength"]) for r in reused) == [("CNN", 0.0), ("CNN", 1.0), ("NTK", 0.0), ("NTK", 1.0)]
    assert all(r in done for r in reused)
    assert {r["method"] for r in rows if r["n_train"] == 80} == {"CNN"}


def test_first_layer_selectivity_separates_image_and_background_windows():
    """One channel that copies the centre pixel: its mean response on windows inside the pasted
    image equals the image's mean there, on the background it is the mean of ReLU(noise)."""
    from lsa_utils.experiments.lsa_images import first_layer_selectivity

    model = SimpleCNN(1, 2, 9)
    conv = model.first_layer
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[:, 0, 1, 1] = 1.0
    clean = torch.zeros(1, 1, 9, 9)
    clean[0, 0, :5, :5] = 0.5  # the "image": top-left 5x5, 2x2 windows of stride 2 fit inside
    loud = clean.clone()
    noise = torch.randn(1, 1, 9, 9, generator=torch.Generator().manual_seed(0))
    outside = torch.ones(9, 9, dtype=torch.bool)
    outside[:5, :5] = False
    loud[0, 0][outside] = noise[0, 0][outside]
    on_image, on_background = first_layer_selectivity(model, loud, clean)
    assert on_image.shape == (8,)
    assert torch.allclose(on_image, torch.full((8,), 0.5))
    centres = torch.relu(loud[0, 0, 1::2, 1::2])  # the 4x4 window centres
    inside = torch.zeros(4, 4, dtype=torch.bool)
    inside[:2, :2] = True
    assert torch.allclose(on_background, centres[~inside].mean().expand(8))


def test_official_loss_is_cross_entropy_over_batch_and_classes():
    from lsa_utils.experiments.lsa_images import class_mean_cross_entropy

    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(7, 4, generator=g), torch.tensor([0, 1, 2, 3, 0, 1, 2])
    onehot = torch.nn.functional.one_hot(labels, 4).float()
    official = -(torch.log_softmax(logits, 1) * onehot).mean()  # the official train.py's expression
    assert float(class_mean_cross_entropy(logits, labels)) == pytest.approx(float(official), rel=1e-6)


def test_cnn_recipe_penalty_is_wd_times_squared_norm():
    """One SGD step of train_cnn on a linear model equals a step on CE / K + 5e-4 ||theta||^2."""
    from lsa_utils.experiments.lsa_images import OFFICIAL_WEIGHT_DECAY, class_mean_cross_entropy, train_cnn

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 5, generator=g), torch.randint(3, (16,), generator=g)
    model = torch.nn.Linear(5, 3)
    reference = torch.nn.Linear(5, 3)
    reference.load_state_dict(model.state_dict())
    train_cnn(model, x, y, steps=1, seed=0)  # one batch of 16 < 128: one step at lr 0.1
    loss = class_mean_cross_entropy(reference(x), y) + OFFICIAL_WEIGHT_DECAY * sum(
        (p**2).sum() for p in reference.parameters())
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    for p, p0, gr in zip(model.parameters(), reference.parameters(), grads):
        torch.testing.assert_close(p.detach(), p0.detach() - 0.1 * gr, rtol=1e-5, atol=1e-7)


def test_linearized_schedule_steps_at_70_and_85_percent():
    from lsa_utils.experiments.lsa_images import LINEARIZED_MILESTONES

    m = step_decay(LINEARIZED_MILESTONES)
    assert [m(f) for f in (0.0, 0.69, 0.7, 0.84, 0.85, 0.99)] == pytest.approx([1, 1, 0.2, 0.2, 0.04, 0.04])


def test_wrn_scale_trains_and_linearizes_the_same_wrn_and_skips_its_ntk():
    """At the paper scale on CIFAR the CNN is WRN-10-10 and both linearizations are WRNs (no NTK:
    out of reach); MNIST keeps the small CNN."""
    from lsa_utils.experiments.lsa_images import CanvasData, build_network, uses_wrn
    from lsa_utils.models.cnn import WideResNet

    g = torch.Generator().manual_seed(0)
    data = CanvasData(SETTINGS["cifar_gaussian"], torch.rand(6, 3, 16, 16, generator=g), torch.tensor([0, 1] * 3),
                      torch.rand(4, 3, 16, 16, generator=g), torch.tensor([0, 1] * 2), None, ["vehicle", "animal"],
                      "test", 32, False)
    assert uses_wrn("wrn", data) and not uses_wrn("simple", data)
    net = build_network("wrn", data, 2)
    assert isinstance(net, WideResNet) and net.head.in_features == 128  # 64 x width 2
    rows, models = run_setting(data, [0.0], seeds=1, cnn_steps=1, lin_steps=1, lin_widths=(1, 1),
                               architecture="wrn", progress=False)
    assert [r["method"] for r in rows] == ["CNN", "linearized CNN (narrow)", "linearized CNN (wide)"]
    assert isinstance(models[0.0], WideResNet) and models[0.0].head.in_features == 640  # WRN-10-10
    mnist = CanvasData(SETTINGS["mnist_gaussian"], data.train_images[:, :1], data.train_labels, data.test_images[:, :1],
                       data.test_labels, None, ["0", "1"], "test", 42, False)
    assert not uses_wrn("wrn", mnist)


def test_cifar_image_background_is_a_whole_held_out_test_image(monkeypatch):
    """The second natural background: a whole image of the pool (test images not drawn as test
    inputs), on the digits fallback here; at most half of the test split is drawn."""
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    data = load_canvas_data(SETTINGS["cifar_natural"], 50, 10**6, seed=0)
    n_test_split = 360  # the digits fallback's test images
    assert len(data.test_labels) == n_test_split // 2
    assert data.tiles.shape == (n_test_split - n_test_split // 2, 1, data.canvas_size, data.canvas_size)
    x_tr, _ = canvases(data, 1.0, 0)
    inside = (x_tr == canvases(data, 0.0, 0)[0])  # where the pasted image is (same at any strength)
    for i in range(5):
        outside = ~inside[i]
        assert any(torch.equal(x_tr[i][outside], tile[outside]) for tile in data.tiles)
