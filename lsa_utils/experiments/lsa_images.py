"""Chapter 1, Part B: images on noisy backgrounds (Karp et al. 2021, Figures 4 and 6).

A *setting* names a data set, a background and a label set. For each background strength
(``noise_std`` of ``place_on_canvas``) and seed, the same images are pasted at the same places
on backgrounds that differ only by their strength, and four predictors are fitted:

- ``CNN``: the paper's small CNN (or WRN-10-10 on CIFAR at the paper scale), SGD with momentum
  0.9, learning rate 0.1 times 0.2 at 40%, 50% and 60% of training, batch 128, and the official
  code's objective: cross-entropy averaged over the batch and the K classes (torch's CE / K) plus
  ``5e-4 ||theta||^2``;
- ``NTK``: kernel regression with the CNN's infinite-width NTK on one-hot targets,
  ``diag_reg = 1e-5 trace(K) / n`` (the paper's value). Not fitted for the WRN: its kernel
  (``lsa_utils.kernels.wide_resnet_kernel``, BatchNorm left out) costs about 1 ms per pair of
  16x16 images (``make bench``, case (e)), over 1,000 times the small CNN's on 42x42 (case (b)),
  and grows with the square of the number of pixels: 20,000 32x32 images are far out of reach.
  As in the paper's Fig. 4, the linearized WRN stands for the kernel side there;
- ``linearized CNN (narrow)`` and ``(wide)``: f0 + J (theta - theta0) of the network the scale
  trains (the small CNN, or the WRN at the paper scale on CIFAR, BatchNorm in eval mode at theta0
  as the official linearization) at two width factors (``lin_widths``: 1 and 10 on CIFAR at the
  paper scale, 50 and 100 on MNIST, as the official scripts), trained with Adam at learning rate 1e-3, batch 50, the loss CE / K, no weight decay, the
  rate times 0.2 at 70% and 85% of the epochs (the official 200 epochs with steps at 140 and 170).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.canvas import place_on_canvas
from ..data.images import load_image_dataset
from ..data.inventory import ImageInventory, image_inventory
from ..kernels.empirical import linearize
from ..kernels.solve import classification_accuracy, kernel_ridge_predict, one_hot_targets
from ..models.cnn import SimpleCNN, WideResNet, simple_cnn_kernel
from ..run.data_plan import DataPlan, cap_note, capped_sweep, dataset_names
from ..train import step_decay, train_minibatch
from ..validation import check_choice

CIFAR_ANIMALS = (2, 3, 4, 5, 6, 7)
CIFAR_VEHICLES = (0, 1, 8, 9)
METHODS = ("CNN", "NTK", "linearized CNN (narrow)", "linearized CNN (wide)")
FLOAT32_GRAM_MAX_N = 5000  # the largest training set whose float32 NTK Gram matrix was checked


@dataclass(frozen=True)
class CanvasSetting:
    """One experiment of Part B. ``labels``: ``"all"``, ``"animal_vs_vehicle"`` or ``"vehicles"``;
    ``tiles``: the classes whose images tile a ``"tiles"`` background."""

    key: str
    title: str
    dataset: str
    background: str
    labels: str
    image_size: int
    canvas_size: int
    location: str
    tiles: tuple[int, ...] = ()
    tile_fraction: float = 0.5  # a tile's side over the canvas's: 1/2 for the 2x2 blocks, 1 for a whole image
    tile_split: str = "train"  # the split the tiles come from ("test": those not drawn as test images)


SETTINGS = {
    s.key: s
    for s in [
        CanvasSetting("mnist_gaussian", "MNIST on Gaussian noise", "mnist", "gaussian", "all", 28, 42, "random"),
        CanvasSetting("cifar_gaussian", "CIFAR-10 animal vs vehicle on Gaussian noise", "cifar10", "gaussian",
                      "animal_vs_vehicle", 16, 32, "random"),
        CanvasSetting("cifar_photo", "CIFAR-10 animal vs vehicle on photographs", "cifar10", "photo",
                      "animal_vs_vehicle", 16, 32, "random"),
        CanvasSetting("cifar_blocks", "CIFAR-10 vehicles on blocks of animals", "cifar10", "tiles", "vehicles",
                      16, 32, "random_corner", CIFAR_ANIMALS),
        CanvasSetting("cifar10_photo", "CIFAR-10, 10 classes, on photographs", "cifar10", "photo", "all", 16, 32,
                      "random"),
        CanvasSetting("cifar_natural", "CIFAR-10 animal vs vehicle on CIFAR-10 images", "cifar10", "tiles",
                      "animal_vs_vehicle", 16, 32, "random", tuple(range(10)), tile_fraction=1.0, tile_split="test"),
    ]
}
# Without real data every setting runs on scikit-learn's 8x8 digits, on a canvas that keeps the
# setting's ratio of image to canvas (MNIST 28 on 42: digits on 12x12; CIFAR 16 on 32: on 16x16);
# the blocks setting classifies digits 0-4 on tiles of digits 5-9.
FALLBACK_LABELS = {"all": "all", "animal_vs_vehicle": "all", "vehicles": "low_digits"}
FALLBACK_IMAGE_SIZE = 8
# The classes each label scheme keeps (None: all of them).
SCHEME_CLASSES = {"all": None, "animal_vs_vehicle": None, "vehicles": CIFAR_VEHICLES, "low_digits": (0, 1, 2, 3, 4)}


@dataclass
class CanvasData:
    """Base images (before the canvas) and labels of one setting, for train and test."""

    setting: CanvasSetting
    train_images: torch.Tensor  # (n, C, h, w) in [0, 1]
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    tiles: torch.Tensor | None  # (M, C, h, w) for the tiles background
    classes: list[str]
    source: str
    canvas_size: int
    fallback: bool

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def label_scheme(setting: CanvasSetting, fallback: bool) -> str:
    """The label scheme of ``setting``, or its stand-in on the digits fallback."""
    return FALLBACK_LABELS[setting.labels] if fallback else setting.labels


def fallback_canvas_size(setting: CanvasSetting) -> int:
    """The canvas of ``setting`` on the 8x8 digits: the real setting's ratio of canvas to image."""
    return round(FALLBACK_IMAGE_SIZE * setting.canvas_size / setting.image_size)


def _relabel(labels: torch.Tensor, scheme: str, class_names: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(keep mask, new labels, class names) of a label scheme."""
    if scheme == "all":
        return torch.ones_like(labels, dtype=torch.bool), labels, class_names
    if scheme == "animal_vs_vehicle":
        animal = torch.isin(labels, torch.tensor(CIFAR_ANIMALS))
        return torch.ones_like(labels, dtype=torch.bool), animal.long(), ["vehicle", "animal"]
    kept = SCHEME_CLASSES[scheme]
    keep = torch.isin(labels, torch.tensor(kept))
    lookup = torch.full((10,), -1, dtype=torch.long)
    lookup[list(kept)] = torch.arange(len(kept))
    return keep, lookup[labels], [class_names[c] for c in kept]


def _downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average resize to ``size x size`` (32 -> 16 averages 2x2 blocks)."""
    return images if images.shape[-1] == size else F.adaptive_avg_pool2d(images, size)


def load_canvas_data(setting: CanvasSetting, n_train: int, n_test: int, seed: int = 0,
                     data_dir=None) -> CanvasData:
    """Images of ``setting`` from ``LSA_DATA_DIR`` (or the digits fallback), at most ``n_train``
    and ``n_test`` of them after filtering the label set, drawn with ``seed``."""
    train = load_image_dataset(setting.dataset, "train", data_dir, verbose=False)
    test = load_image_dataset(setting.dataset, "test", data_dir, verbose=False)
    fallback = train.name == "digits"
    scheme = label_scheme(setting, fallback)
    image_size = train.images.shape[-1] if fallback else setting.image_size
    canvas = fallback_canvas_size(setting) if fallback else setting.canvas_size
    rng = np.random.default_rng(seed)

    def pick(ds, n):
        keep, labels, names = _relabel(ds.labels, scheme, ds.classes)
        idx = np.flatnonzero(keep.numpy())
        idx = np.sort(rng.choice(idx, size=min(n, len(idx)), replace=False))
        return _downsample(ds.images[idx], image_size), labels[idx], names, idx

    x_tr, y_tr, names, _ = pick(train, n_train)
    if setting.background == "tiles" and setting.tile_split == "test":
        n_test = min(n_test, int(_relabel(test.labels, scheme, test.classes)[0].sum()) // 2)  # half are backgrounds
    x_te, y_te, _, picked_test = pick(test, n_test)
    tiles = None
    if setting.background == "tiles":
        source = train if setting.tile_split == "train" else test
        tile_classes = setting.tiles if not fallback or setting.tile_fraction == 1.0 else (5, 6, 7, 8, 9)
        mask = torch.isin(source.labels, torch.tensor(tile_classes)).numpy()
        if setting.tile_split == "test":
            mask[picked_test] = False  # no test image behind another (or behind itself)
        tile_side = round(canvas * setting.tile_fraction) if not fallback or setting.tile_fraction == 1.0 else image_size
        tiles = _downsample(source.images[np.flatnonzero(mask)], tile_side)
    return CanvasData(setting, x_tr, y_tr, x_te, y_te, tiles, names, train.source, canvas, fallback)


def canvases(data: CanvasData, strength: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test canvases at background ``strength``. With one ``seed``, every strength
    gets the same positions and the same background pattern, only scaled."""
    location = data.setting.location
    out = []
    for offset, images in [(0, data.train_images), (1, data.test_images)]:
        g = torch.Generator().manual_seed(1000 * seed + offset)
        x, _ = place_on_canvas(images, data.canvas_size, data.setting.background, strength, location,
                               data.tiles, g)
        out.append(x)
    return out[0], out[1]


def _accuracy(model, x, y, batch: int = 1000) -> float:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
    model.train()
    return classification_accuracy(logits, y)


OFFICIAL_WEIGHT_DECAY = 5e-4  # the official train.py's default penalty coefficient
LINEARIZED_MILESTONES = (0.7, 0.85)  # the official 200 epochs: x0.2 at epochs 140 and 170


def class_mean_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The official code's loss, ``-mean(log_softmax(f) * onehot(y))`` over the batch *and the K
    classes*: torch's cross-entropy divided by K (``logits``: (B, K); ``labels``: (B,))."""
    return F.cross_entropy(logits, labels) / logits.shape[1]


CNN_BATCH, LINEARIZED_BATCH = 128, 50  # the official batch sizes


def epochs_for(steps: int, n: int, batch: int) -> int:
    """Epochs of ``batch`` on ``n`` images closest to ``steps`` optimiser steps (at least 1)."""
    return max(1, round(steps / -(-n // batch)))


def train_cnn(model, x, y, steps: int, seed: int, lr: float = 0.1, progress: bool = False):
    """The official CNN recipe (module docstring) for about ``steps`` SGD steps whatever the number
    of images (``epochs_for``), so that training sets of different sizes get the same
    optimisation; trains ``model`` in place. The official loss is ``CE / K + wd ||theta||^2``;
    its penalty's gradient ``2 wd theta`` is SGD's ``weight_decay = 2 wd``."""
    epochs = epochs_for(steps, len(x), CNN_BATCH)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=2 * OFFICIAL_WEIGHT_DECAY)
    return train_minibatch(model, x, y, optimizer, epochs, CNN_BATCH, step_decay(), loss_fn=class_mean_cross_entropy,
                           generator=torch.Generator().manual_seed(seed), progress=progress, desc="CNN")


def train_linearized(model, x, y, steps: int, seed: int, lr: float = 1e-3, progress: bool = False):
    """The official linearized-network recipe for about ``steps`` Adam steps whatever the number of
    images (as ``train_cnn``): rate ``lr`` (1e-3), batch 50, no weight decay, the loss ``CE / K``,
    the rate times 0.2 at 70% and 85% of training (the official epochs 140 and 170 of 200)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    epochs = epochs_for(steps, len(x), LINEARIZED_BATCH)
    return train_minibatch(model, x, y, optimizer, epochs, LINEARIZED_BATCH, step_decay(LINEARIZED_MILESTONES),
                           loss_fn=class_mean_cross_entropy, generator=torch.Generator().manual_seed(seed),
                           progress=progress, desc="linearized CNN")


def ntk_accuracy(x_tr, y_tr, x_te, y_te, num_classes: int, diag_reg: float = 1e-5) -> tuple[float, float]:
    """Accuracy of kernel regression with the small CNN's infinite NTK, and the seconds the two
    Gram matrices took.

    Up to ``FLOAT32_GRAM_MAX_N`` training images the Gram matrices are computed in float32 and the
    regression solved in float64. On 5,000 MNIST canvases (sigma = 1, 2,000 test images) the
    entries then differed from a float64 computation by at most 6e-6 of the largest (the test
    block 1.8e-5), the predictions by 5e-5, the predicted classes and the accuracy not at all, in
    56% of the time (38 s against 68 s on 2 cores); at 1,000 images by 6e-7. Larger sets, where
    that was not measured, use float64.
    """
    kernel = simple_cnn_kernel()
    start = time.perf_counter()
    dtype = torch.float32 if len(x_tr) <= FLOAT32_GRAM_MAX_N else torch.float64
    x_tr, x_te = x_tr.to(dtype), x_te.to(dtype)
    k_train = kernel(x_tr).double()
    k_test = kernel(x_te, x_tr).double()
    seconds = time.perf_counter() - start
    pred = kernel_ridge_predict(k_train, k_test, one_hot_targets(y_tr, num_classes), diag_reg, relative_reg=True)
    return classification_accuracy(pred, y_te), seconds


WRN_WIDTH = 10  # the paper's WRN-10-10


def uses_wrn(architecture: str, data: "CanvasData") -> bool:
    """Whether ``architecture`` trains the WRN on ``data``: on real CIFAR-10 only (MNIST keeps the
    paper's small CNN, as the official scripts)."""
    return architecture == "wrn" and data.setting.dataset == "cifar10" and not data.fallback


def build_network(architecture: str, data: "CanvasData", width: int) -> torch.nn.Module:
    """The network a setting trains and linearizes: WRN-10-``width`` where ``uses_wrn``, else the
    small CNN at width factor ``width``."""
    channels, classes = data.train_images.shape[1], data.num_classes
    if uses_wrn(architecture, data):
        return WideResNet(channels, classes, 10, width)
    return SimpleCNN(channels, classes, data.canvas_size, width)


def setting_strengths(setting: CanvasSetting, params: dict) -> list[float]:
    """The background strengths a setting runs: ``mnist_strengths`` for MNIST (the paper's Fig. 6
    grid), ``gaussian_strengths`` for the other Gaussian backgrounds, ``image_strengths`` else."""
    if setting.dataset == "mnist":
        return list(params["mnist_strengths"])
    return list(params["gaussian_strengths"] if setting.background == "gaussian" else params["image_strengths"])


def run_setting(
    data: CanvasData, strengths: list[float], seeds: int, cnn_steps: int, lin_steps: int,
    lin_widths: tuple[int, int], architecture: str = "simple", device: torch.device | str = "cpu",
    progress: bool = True, lin_lr: float = 1e-3, methods: tuple[str, ...] = METHODS,
) -> tuple[list[dict], dict]:
    """Fit the predictors in ``methods`` (all four by default) at every strength and seed.

    Returns:
        ``(rows, models)``: one row per (strength, seed, method) with ``accuracy`` and ``seconds``
        (the NTK row also ``gram_seconds``), and the CNN trained at each strength with seed 0,
        keyed by strength (for the activation-map figure).
    """
    check_choice("architecture", architecture, ("simple", "wrn"))
    for method in methods:
        check_choice("method", method, METHODS)
    device = torch.device(device)
    rows, models = [], {}
    wrn = uses_wrn(architecture, data)
    jobs = [(s, seed) for seed in range(seeds) for s in strengths]
    bar = tqdm(jobs, desc=data.setting.key, disable=not progress)
    for strength, seed in bar:
        x_tr, x_te = canvases(data, strength, seed)
        x_tr, x_te = x_tr.to(device), x_te.to(device)
        y_tr, y_te = data.train_labels.to(device), data.test_labels.to(device)
        base = dict(setting=data.setting.key, strength=strength, seed=seed, n_train=len(y_tr))

        torch.manual_seed(seed)
        cnn = build_network(architecture, data, WRN_WIDTH if wrn else 1).to(device)
        start = time.perf_counter()
        train_cnn(cnn, x_tr, y_tr, cnn_steps, seed)
        rows.append(dict(base, method="CNN", accuracy=_accuracy(cnn, x_te, y_te),
                         seconds=time.perf_counter() - start))
        if seed == 0:
            models[strength] = cnn.cpu()

        if METHODS[1] in methods and not wrn:  # the WRN's NTK: out of reach (module docstring)
            start = time.perf_counter()
            acc, gram = ntk_accuracy(x_tr, y_tr, x_te, y_te, data.num_classes)
            rows.append(dict(base, method="NTK", accuracy=acc, seconds=time.perf_counter() - start,
                             gram_seconds=gram))

        for width, name in zip(lin_widths, METHODS[2:]):
            if name not in methods:
                continue
            torch.manual_seed(seed)
            lin = linearize(build_network(architecture, data, width)).to(device)
            start = time.perf_counter()
            train_linearized(lin, x_tr, y_tr, lin_steps, seed, lr=lin_lr)
            rows.append(dict(base, method=name, accuracy=_accuracy(lin, x_te, y_te),
                             seconds=time.perf_counter() - start, width=width))
        bar.set_postfix(strength=strength, seed=seed)
    return rows, models


def accuracy_against_n(
    setting: CanvasSetting, sizes: list[int], strengths: list[float], n_test: int, cnn_steps: int,
    kernel_max_n: int, seed: int = 0, device: torch.device | str = "cpu", data_dir=None,
    done_rows: list[dict] = (),
) -> tuple[list[dict], dict]:
    """The CNN, and its NTK where ``n <= kernel_max_n``, at each training-set size in ``sizes``
    and each background strength (one seed). The CNN's robustness to the background is learned,
    so it depends on n; the NTK's Gram matrix costs O(n^2), hence the cap.

    ``done_rows``: rows of a ``run_setting`` call on the same data (same ``seed``, ``n_test`` and
    ``cnn_steps``); a size they already cover at run seed 0 is taken from them, not refitted.

    Returns ``(rows, models)``: rows as ``run_setting`` does, each with its ``n_train``, and the
    CNN trained at the loudest strength for each size fitted here, keyed by n.
    """
    rows, models = [], {}
    for n in tqdm(sizes, desc=f"{setting.key}: sizes"):
        methods = METHODS[:2] if n <= kernel_max_n else METHODS[:1]
        known = [r for r in done_rows if r["setting"] == setting.key and r["seed"] == 0 and r["n_train"] == n
                 and r["strength"] in strengths and r["method"] in methods]
        if len(known) == len(strengths) * len(methods):
            rows += known
            continue
        data = load_canvas_data(setting, n, n_test, seed=seed, data_dir=data_dir)
        if len(data.train_labels) != n:
            raise ValueError(f"sizes={sizes} is not allowed: {setting.key} has only {len(data.train_labels):,} "
                             f"training images, fewer than n={n:,}; cap the sizes first (plan_data does)")
        new_rows, cnns = run_setting(data, strengths, 1, cnn_steps, 1, (1, 1), device=device, progress=False,
                                     methods=methods)
        rows += new_rows
        models[n] = cnns[max(strengths)]
    return rows, models


def relative_drop(accuracy_by_strength, chance: float) -> float:
    """``(acc(weakest) - acc(loudest)) / (acc(weakest) - chance)``: 0 when the background does
    not hurt, 1 when it pushes the predictor to chance. ``accuracy_by_strength``: a pandas
    Series indexed by strength (sorted here)."""
    acc = accuracy_by_strength.sort_index()
    return float((acc.iloc[0] - acc.iloc[-1]) / max(acc.iloc[0] - chance, 1e-9))


def first_layer_activity(model, x: torch.Tensor) -> torch.Tensor:
    """ReLU(first convolution), shape ``(n, C, H', W')``: where each first-layer channel responds."""
    with torch.no_grad():
        return torch.relu(model.first_layer(x))


def first_layer_selectivity(model, x_loud: torch.Tensor, x_clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean first-layer response of each channel on the image and on the background.

    ``x_loud`` and ``x_clean`` are the same canvases (``canvases`` with one seed) with a loud and
    a zero background; the pixels where they agree are the pasted image. A window counts as
    "image" when all its pixels are. Returns ``(on_image, on_background)``, each shape ``(C,)``.
    """
    conv = model.first_layer
    inside = (x_loud == x_clean).all(1, keepdim=True).to(x_loud.dtype)
    windows = F.avg_pool2d(inside, conv.kernel_size, conv.stride)[:, 0] > 1 - 1e-6  # (n, H', W')
    activity = first_layer_activity(model, x_loud).transpose(0, 1)  # (C, n, H', W')
    return activity[:, windows].mean(1), activity[:, ~windows].mean(1)


def setting_scheme(setting: CanvasSetting, inventory: ImageInventory) -> str:
    """The label scheme ``setting`` uses on the data of ``inventory`` (fallback-aware)."""
    return label_scheme(setting, inventory.fallback)


def plan_data(params: dict, inventories: dict[str, ImageInventory] | None = None) -> DataPlan:
    """Chapter 1's sizes on the data at hand (``lsa_utils.run.data_plan``).

    Adds ``n_train_by_setting`` and ``n_test_by_setting`` (setting key -> images of its label set
    the run uses: ``mnist_n_train`` / ``mnist_n_test`` for MNIST, ``n_train`` / ``n_test`` for the
    others) and caps ``scaling_n`` at the training images of the MNIST setting, merging
    sizes that become equal. ``inventories``: data set -> ``ImageInventory`` (default: what
    ``$LSA_DATA_DIR`` holds).
    """
    if inventories is None:
        inventories = {name: image_inventory(name) for name in ("mnist", "cifar10")}
    sizes, notes = dict(params), []
    by_train, by_test = {}, {}
    for setting in SETTINGS.values():
        inventory = inventories[setting.dataset]
        classes = SCHEME_CLASSES[setting_scheme(setting, inventory)]
        prefix = "mnist_" if setting.dataset == "mnist" else ""  # MNIST (paper Fig. 6) has its own sizes
        for split, key, target in [("train", f"{prefix}n_train", by_train), ("test", f"{prefix}n_test", by_test)]:
            available = inventory.count(split, classes)
            what = f"all the {inventory.name} {split} images of its classes"
            if split == setting.tile_split == "test" and setting.background == "tiles":
                available //= 2  # the other half of the test split is the pool of backgrounds
                what = f"half the {inventory.name} test images (the other half are its backgrounds)"
            target[setting.key] = min(params[key], available)
            if available < params[key]:
                notes.append(cap_note(f"{setting.title}, {split} images", params[key], available, what))
    mnist = SETTINGS["mnist_gaussian"]
    available = inventories[mnist.dataset].count("train", SCHEME_CLASSES[setting_scheme(mnist, inventories[mnist.dataset])])
    sizes["scaling_n"] = capped_sweep(params["scaling_n"], available)
    if sizes["scaling_n"] != list(params["scaling_n"]):
        notes.append(f"accuracy against n: n = {sizes['scaling_n']} instead of {list(params['scaling_n'])} "
                     f"(the {inventories[mnist.dataset].name} training split has {available:,} images)")
    sizes["n_train_by_setting"], sizes["n_test_by_setting"] = by_train, by_test
    fell_back = [name for name in ("mnist", "cifar10") if inventories[name].fallback]
    effect = ""
    if fell_back:
        digits = inventories[fell_back[0]]
        settings = [s for s in SETTINGS.values() if s.dataset in fell_back]
        canvases_used = ", ".join(f"{fallback_canvas_size(s)}x{fallback_canvas_size(s)} for {s.title}" for s in settings)
        effect = (
            f"The settings of Part B on {dataset_names(fell_back)} then classify 8x8 digits, on "
            f"a canvas with the real setting's ratio of image to canvas ({canvases_used}; animal against "
            "vehicle becomes the ten digits, the blocks setting digits 0-4 on tiles of digits 5-9), with at most "
            f"{digits.count('train'):,} training and {digits.count('test'):,} test images. The CNN is the same "
            "small network on a smaller input. The claims about MNIST are shown but not counted; Part A (the "
            "theory model) uses no images and is unchanged."
        )
    requirements = [
        ("noise_levels contains the paper's c = 1.0 (the theory claims are read there)",
         1.0 in params["noise_levels"]),
        ("separation_k has at least two values of k (the NTK's sample size is compared across k)",
         len(set(params["separation_k"])) >= 2),
        ("gaussian_strengths has a weakest and a louder background (the relative drop)",
         len(set(params["gaussian_strengths"])) >= 2),
        ("mnist_strengths has a weakest and a louder background", len(set(params["mnist_strengths"])) >= 2),
        ("lin_widths and mnist_lin_widths have two width factors each (the narrow and the wide linearization)",
         len(params["lin_widths"]) == 2 and len(params["mnist_lin_widths"]) == 2),
        ("image_strengths has a weakest and a louder background", len(set(params["image_strengths"])) >= 2),
        ("every setting has training and test images", min(by_train.values()) >= 1 and min(by_test.values()) >= 1),
    ]
    sources = {inv.requested: inv.source for inv in inventories.values()}
    return DataPlan(sizes, notes, sources, bool(fell_back), effect, requirements, fell_back)
