"""Binary image tasks of Ortiz-Jimenez et al. (2021): CIFAR-10 classes 0-4 against 5-9, MNIST (and
the scikit-learn digits fallback) even against odd. Label 1 goes to classes 0-4 and to even
digits, as in the official code's ``labels <= threshold``.

Images are standardised per channel with the training split's mean and standard deviation, and
shuffled by a seeded permutation, so that the first ``n`` training images are a random subset and
smaller training sets are nested in larger ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..validation import check_positive_int
from .images import load_image_dataset

RULES = {
    "cifar10": "classes 0-4 (airplane, automobile, bird, cat, deer) against 5-9 (dog, frog, horse, ship, truck)",
    "mnist": "even digits against odd digits",
    "digits": "even digits against odd digits",
}


def binary_labels(name: str, classes: torch.Tensor) -> torch.Tensor:
    """Labels in {0, 1} (float) from class indices (n,): 1 for CIFAR-10 classes 0-4 and for even digits."""
    if name == "cifar10":
        return (classes <= 4).float()
    if name in ("mnist", "digits"):
        return (classes % 2 == 0).float()
    raise ValueError(f"no binary task for data set {name!r}; choose one of {sorted(RULES)}")


@dataclass
class BinaryImages:
    """Standardised images ``(n, C, H, W)`` and labels ``(n,)`` in {0, 1} of both splits."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str
    rule: str
    source: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def pooled(self, n_train: int, n_test: int) -> torch.Tensor:
        """The first ``n_train`` training images followed by the first ``n_test`` test images."""
        return torch.cat([self.x_train[:n_train], self.x_test[:n_test]])


def load_binary_images(name: str, n_train: int, n_test: int, seed: int = 0,
                       data_dir: str | Path | None = None, verbose: bool = True) -> BinaryImages:
    """``n_train`` training and ``n_test`` test images of ``name`` ("mnist" or "cifar10"; the
    scikit-learn digits when the real data are missing, which the loader prints).

    When a split holds fewer images than asked for (the digits fallback has 1,437 and 360), all
    of it is used and the loader says so.
    """
    check_positive_int("n_train", n_train)
    check_positive_int("n_test", n_test)
    train = load_image_dataset(name, "train", data_dir, n_train, seed, verbose)
    test = load_image_dataset(name, "test", data_dir, n_test, seed + 1, verbose)
    for split, n in [(train, n_train), (test, n_test)]:
        if len(split) < n and verbose:
            print(f"note: {split.name} has only {len(split):,} {split.split} images; {n:,} were asked for")
    g = torch.Generator().manual_seed(seed)
    train_order, test_order = torch.randperm(len(train), generator=g), torch.randperm(len(test), generator=g)
    mean = train.images.mean(dim=(0, 2, 3), keepdim=True)
    std = train.images.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return BinaryImages(
        ((train.images - mean) / std)[train_order], binary_labels(train.name, train.labels)[train_order],
        ((test.images - mean) / std)[test_order], binary_labels(test.name, test.labels)[test_order],
        train.name, RULES[train.name], train.source,
    )
