"""What image data a run will get: the number of images of each class in each split.

A chapter plans its sizes against an ``ImageInventory`` before it trains anything
(``lsa_utils.run.data_plan``): where it asks for more images than the data hold, it caps the size,
merges the sweep points that become equal, and says so on its page. The inventory of the data a
run really reads comes from ``image_inventory`` (the same loader the chapters use, so the counts
are exact); tests also plan against the standard layouts listed in ``REFERENCE_LAYOUTS`` without
any data on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..validation import check_choice
from .images import DATASETS, PARTIAL_TRAIN_FRACTION, load_image_dataset, resolve_data_dir

# Per-class counts of the official splits (MNIST: LeCun et al.; CIFAR-10: 5,000 / 1,000 a class).
MNIST_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
CIFAR10_TRAIN_COUNTS = (5000,) * 10
CIFAR10_TEST_COUNTS = (1000,) * 10
# cifar10_train_subset.npz in ../shared/datasets: 8,068 of the 50,000 training images.
SHARED_CIFAR10_TRAIN_SUBSET = 8068


@dataclass(frozen=True)
class ImageInventory:
    """Images per class (10 entries) in each split of the data set a loader returns.

    ``requested``: the data set a chapter asked for (``"mnist"`` or ``"cifar10"``); ``name``: the
    one it gets (``"digits"`` when the loader falls back to scikit-learn's 8x8 digits);
    ``source``: where from, in words.
    """

    requested: str
    name: str
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    source: str

    @property
    def fallback(self) -> bool:
        return self.name == "digits" and self.requested != "digits"

    def count(self, split: str, classes: tuple[int, ...] | None = None) -> int:
        """Images of ``split`` whose class is in ``classes`` (all classes when ``None``)."""
        check_choice("split", split, ("train", "test"))
        counts = self.train_counts if split == "train" else self.test_counts
        return int(sum(counts if classes is None else (counts[c] for c in classes)))


def _carved(counts: tuple[int, ...], share: float) -> tuple[int, ...]:
    """Approximate per-class counts of an 80/20 carve of one split (for reference layouts)."""
    return tuple(int(round(c * share)) for c in counts)


def _digits_inventory(requested: str, why: str) -> ImageInventory:
    split_counts = {}
    for split in ("train", "test"):
        labels = load_image_dataset("digits", split, verbose=False).labels.numpy()
        split_counts[split] = tuple(int(c) for c in np.bincount(labels, minlength=10))
    return ImageInventory(requested, "digits", split_counts["train"], split_counts["test"],
                          f"scikit-learn 8x8 digits instead of {requested} ({why})")


def reference_inventory(name: str, layout: str) -> ImageInventory:
    """The inventory of ``name`` under a standard ``layout`` of the data folder, without any file:

    - ``"full"``: the official data sets (MNIST 60,000 / 10,000; CIFAR-10 50,000 / 10,000);
    - ``"shared"``: the layout of ``../shared/datasets`` (all of MNIST; CIFAR-10's test batch and
      a subset of 8,068 training images);
    - ``"one_split"``: only MNIST's t10k files and CIFAR-10's ``test_batch``, carved 80/20;
    - ``"none"``: no data folder, so the digits fallback.
    """
    check_choice("dataset", name, ("mnist", "cifar10"))
    check_choice("layout", layout, REFERENCE_LAYOUTS)
    if layout == "none":
        return _digits_inventory(name, "LSA_DATA_DIR is not set")
    train, test = ((MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS) if name == "mnist"
                   else (CIFAR10_TRAIN_COUNTS, CIFAR10_TEST_COUNTS))
    if layout == "shared" and name == "cifar10":
        train = _carved(train, SHARED_CIFAR10_TRAIN_SUBSET / sum(train))
    if layout == "one_split":
        train, test = _carved(test, PARTIAL_TRAIN_FRACTION), _carved(test, 1 - PARTIAL_TRAIN_FRACTION)
    return ImageInventory(name, name, train, test, f"{name}, layout {layout!r}")


REFERENCE_LAYOUTS = ("full", "shared", "one_split", "none")


@lru_cache(maxsize=16)
def _inventory_cached(name: str, root: str | None) -> ImageInventory:
    counts, sources, actual = {}, [], name
    for split in ("train", "test"):
        data = load_image_dataset(name, split, root, verbose=False)
        counts[split] = tuple(int(c) for c in np.bincount(data.labels.numpy(), minlength=10))
        actual = data.name
        if data.source not in sources:
            sources.append(data.source)
    return ImageInventory(name, actual, counts["train"], counts["test"], "; ".join(sources))


def image_inventory(name: str, data_dir: str | Path | None = None) -> ImageInventory:
    """The inventory of what ``load_image_dataset(name, ...)`` returns for ``data_dir`` (default
    ``$LSA_DATA_DIR``): exact per-class counts of both splits, fallback included. Reads the data
    once per folder and data set (a second or two for all of MNIST)."""
    check_choice("dataset", name, DATASETS)
    root = resolve_data_dir(data_dir)
    return _inventory_cached(name, None if root is None else str(root.resolve()))
