"""Image data sets: real MNIST and CIFAR-10 from a local folder, scikit-learn digits otherwise.

The folder is ``data_dir``, else the environment variable ``LSA_DATA_DIR``, else the folder that
``python -m lsa_utils data fetch`` fills by default (``default_data_dir()``, when it exists), laid
out as torchvision does (``MNIST/raw/*-idx?-ubyte[.gz]``, ``cifar-10-batches-py/{data_batch_1..5,test_batch}``);
the raw files directly in the folder work too. Nothing is downloaded. Partial sets are accepted:
when only one split is present (e.g. MNIST's 10k test images, or CIFAR-10's ``test_batch``), both
splits are carved from it by a fixed permutation, 80% train and 20% test, and the loader says so.
A subset of CIFAR-10's training images stored as ``cifar10_train_subset.npz`` (arrays ``images``,
uint8 ``(N, 32, 32, 3)``, and ``labels``) serves as the train split when the training batches are
absent.
Without the folder, or without the data set in it, the loader falls back to scikit-learn's 8x8
digits, which ship with scikit-learn (the ``experiments`` extra), and says that too.
"""

from __future__ import annotations

import gzip

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..validation import check_choice, check_positive_int
from .folders import default_data_dir, resolve_data_dir

DATASETS = ("mnist", "cifar10", "digits")
SPLITS = ("train", "test")
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]
PARTIAL_TRAIN_FRACTION = 0.8
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class ImageDataset:
    """Images and labels of one split.

    ``images``: float32 tensor ``(N, C, H, W)`` with values in [0, 1]; ``labels``: int64 ``(N,)``.
    ``source`` says in words where the data came from (shown on the chapter's page).
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not, into a numpy array.

    Format: two zero bytes, a type code (0x08 = uint8, ...), the number of dimensions, then each
    dimension as a big-endian int32, then the data in row-major order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r})")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {shape} ({expected} bytes) but {len(data) - offset} follow")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)


def _find(root: Path, names: list[str]) -> Path | None:
    """The first existing ``root/<sub>/<name>[.gz]`` among the usual sub-folders; the ``.gz``
    first, since that is the file ``data fetch`` verified (torchvision leaves both)."""
    for sub in ("MNIST/raw", "mnist/raw", "MNIST", "mnist", "cifar-10-batches-py", "."):
        for name in names:
            for candidate in (root / sub / f"{name}.gz", root / sub / name):
                if candidate.is_file():
                    return candidate
    return None


def _mnist_files(root: Path, split: str) -> list[Path] | None:
    images_name, labels_name = MNIST_FILES[split]
    images, labels = _find(root, [images_name]), _find(root, [labels_name])
    return None if images is None or labels is None else [images, labels]


def _read_mnist(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(files[0]), read_idx(files[1])
    if x.ndim != 3 or y.shape != (x.shape[0],):
        raise ValueError(f"MNIST files {files[0]} and {files[1]} do not match: {x.shape}, {y.shape}")
    return x[:, None].astype(np.float32) / 255.0, y.astype(np.int64)


CIFAR10_TRAIN_SUBSET = "cifar10_train_subset.npz"


def _cifar10_files(root: Path, split: str) -> list[Path] | None:
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    paths = [p for name in names if (p := _find(root, [name])) is not None]
    if not paths and split == "train" and (subset := _find(root, [CIFAR10_TRAIN_SUBSET])) is not None:
        paths = [subset]
    return paths or None


def _read_cifar10(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    for path in files:
        if path.name == CIFAR10_TRAIN_SUBSET:
            with np.load(path) as arrays:
                images, labels = arrays["images"], arrays["labels"]
            if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or labels.shape != (images.shape[0],):
                raise ValueError(f"{path}: expected images (N, 32, 32, 3) and labels (N,); got "
                                 f"{images.shape} and {labels.shape}")
            parts.append((images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0, labels.astype(np.int64)))
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        parts.append((data.astype(np.float32) / 255.0, np.asarray(batch["labels"], dtype=np.int64)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _carve(x: np.ndarray, y: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``split`` part of a fixed 80/20 permutation of one available split."""
    order = np.random.default_rng(12345).permutation(len(y))
    cut = int(PARTIAL_TRAIN_FRACTION * len(y))
    keep = order[:cut] if split == "train" else order[cut:]
    return x[keep], y[keep]


def _load_real(name: str, root: Path, split: str) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Read ``split`` of a real data set; when one split is missing carve both from the other."""
    locate, read = (_mnist_files, _read_mnist) if name == "mnist" else (_cifar10_files, _read_cifar10)
    label = "MNIST" if name == "mnist" else "CIFAR-10"
    other = "test" if split == "train" else "train"
    mine, theirs = locate(root, split), locate(root, other)
    if mine is not None and theirs is not None:
        note = ""
        if name == "cifar10" and split == "train" and mine[0].name == CIFAR10_TRAIN_SUBSET:
            note = f" ({mine[0].name}: a subset of the 50,000 training images)"
        elif name == "cifar10" and split == "train" and len(mine) < 5:
            note = f" (only {len(mine)} of the 5 training batches)"
        return *read(mine), f"{label} {split} split from {root}{note}"
    present, missing = (split, other) if mine is not None else (other, split)
    files = mine or theirs
    if files is None:
        return None
    x, y = _carve(*read(files), split)
    share = PARTIAL_TRAIN_FRACTION if split == "train" else 1 - PARTIAL_TRAIN_FRACTION
    return x, y, (
        f"{label} from {root}, which has no {missing} split: the {split} split is a fixed "
        f"{share:.0%} ({len(y):,} images) of its {present} split"
    )


def _load_digits(split: str, instead_of: str = "digits") -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        wanted = "" if instead_of == "digits" else (
            f"no {instead_of} files were found, so the loader falls back to scikit-learn's digits, but ")
        raise ImportError(
            f"{wanted}scikit-learn is not installed: `pip install 'lsa-utils[experiments]'`"
            + ("" if instead_of == "digits" else ", or fetch the real data with `python -m lsa_utils data fetch`")
        ) from err

    digits = load_digits()
    x = (digits.images[:, None] / 16.0).astype(np.float32)
    return _carve(x, digits.target.astype(np.int64), split)


def data_files(data_dir: str | Path | None = None) -> dict[str, int]:
    """The image files the loaders would read from ``data_dir`` (resolved as they resolve it):
    path -> size in bytes; empty when there is no folder. A chapter's cache key holds this, so a
    run repeats once data were fetched or changed."""
    root = resolve_data_dir(data_dir)
    if root is None:
        return {}
    files: dict[str, int] = {}
    for split in SPLITS:
        for found in (_mnist_files(root, split) or []) + (_cifar10_files(root, split) or []):
            files[str(found.resolve())] = found.stat().st_size
    return files


def load_image_dataset(
    name: str = "mnist",
    split: str = "train",
    data_dir: str | Path | None = None,
    n: int | None = None,
    seed: int = 0,
    verbose: bool = True,
) -> ImageDataset:
    """Load MNIST, CIFAR-10 or scikit-learn digits (see the module docstring for the rules).

    Args:
        name: ``"mnist"``, ``"cifar10"`` or ``"digits"``.
        split: ``"train"`` or ``"test"``.
        data_dir: folder with the real data; default ``$LSA_DATA_DIR``.
        n: keep a random subset of ``n`` images (all if ``None`` or more than available).
        seed: seed of that subset.
        verbose: print which data set was used.

    Returns:
        An ``ImageDataset``; ``name`` is ``"digits"`` whenever the fallback was used.
    """
    check_choice("dataset", name, DATASETS)
    check_choice("split", split, SPLITS)
    if n is not None:
        check_positive_int("n", n)
    root = resolve_data_dir(data_dir)
    loaded = None
    if name != "digits" and root is not None:
        loaded = _load_real(name, root, split)
    if loaded is not None:
        x, y, source = loaded
        classes = [str(i) for i in range(10)] if name == "mnist" else CIFAR10_CLASSES
    else:
        x, y = _load_digits(split, instead_of=name)
        classes = [str(i) for i in range(10)]
        if name == "digits":
            source = f"scikit-learn 8x8 digits ({split} split, 80/20 of 1,797 images)"
        else:
            why = (f"LSA_DATA_DIR is not set and {default_data_dir()} does not exist" if root is None
                   else f"no {name} files in {root}")
            source = (
                f"FALLBACK: scikit-learn 8x8 digits instead of {name} ({why}); "
                "fetch the real data with `python -m lsa_utils data fetch`, or set LSA_DATA_DIR to a folder with it"
            )
        name = "digits"
    if n is not None and n < len(y):
        keep = np.random.default_rng(seed).choice(len(y), size=n, replace=False)
        x, y = x[np.sort(keep)], y[np.sort(keep)]
    if verbose:
        print(f"data: {source}; {len(y):,} images of shape {tuple(x.shape[1:])}")
    return ImageDataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), name, split, classes, source)
