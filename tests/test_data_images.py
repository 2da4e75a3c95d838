import gzip
import pickle
import struct

import numpy as np
import pytest

from lsa_utils.data.images import load_image_dataset, read_idx


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    """Write ``array`` (uint8) in the IDX format MNIST uses."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", s) for s in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_mnist(root, splits=("train", "test"), n=20, compress=True, layout="MNIST/raw"):
    folder = root / layout
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split in splits:
        prefix = "train" if split == "train" else "t10k"
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", x, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", y, compress)
        arrays[split] = (x, y)
    return arrays


def write_cifar(root, batches=("test_batch",), n=10):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {}
    for name in batches:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, f)
        arrays[name] = (data, labels)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a-idx3-ubyte", x, compress)
    path = tmp_path / ("a-idx3-ubyte.gz" if compress else "a-idx3-ubyte")
    assert np.array_equal(read_idx(path), x)


def test_read_idx_rejects_other_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x89PNG....")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))
    with pytest.raises(ValueError, match="header says"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("compress,layout", [(True, "MNIST/raw"), (False, ".")])
def test_mnist_from_fixture_files(tmp_path, compress, layout, capsys):
    arrays = write_mnist(tmp_path, compress=compress, layout=layout)
    ds = load_image_dataset("mnist", "test", data_dir=tmp_path)
    x, y = arrays["test"]
    assert ds.name == "mnist" and ds.images.shape == (20, 1, 28, 28)
    assert np.allclose(ds.images[:, 0].numpy(), x / 255.0) and np.array_equal(ds.labels.numpy(), y)
    assert "MNIST test split from" in capsys.readouterr().out


def test_mnist_with_only_the_test_split_is_carved_80_20(tmp_path, capsys):
    write_mnist(tmp_path, splits=("test",), n=50)
    train = load_image_dataset("mnist", "train", data_dir=tmp_path)
    test = load_image_dataset("mnist", "test", data_dir=tmp_path)
    assert (len(train), len(test)) == (40, 10)
    flat = lambda d: {bytes(img.numpy().tobytes()) for img in d.images}  # noqa: E731
    assert not flat(train) & flat(test)  # the two splits do not overlap
    assert "which has no train split" in capsys.readouterr().out


def test_cifar10_pickles_and_subsets(tmp_path):
    arrays = write_cifar(tmp_path, batches=("data_batch_1", "data_batch_2", "test_batch"))
    train = load_image_dataset("cifar10", "train", data_dir=tmp_path)
    assert train.images.shape == (20, 3, 32, 32) and train.classes[0] == "airplane"
    data, labels = arrays["data_batch_1"]
    assert np.allclose(train.images[0].numpy(), data[0].reshape(3, 32, 32) / 255.0)
    assert train.labels[:10].tolist() == labels
    sub = load_image_dataset("cifar10", "test", data_dir=tmp_path, n=4, seed=3)
    again = load_image_dataset("cifar10", "test", data_dir=tmp_path, n=4, seed=3)
    assert len(sub) == 4 and np.array_equal(sub.labels.numpy(), again.labels.numpy())


def test_fallback_to_digits_says_so(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn", reason="the digits fallback needs scikit-learn (the [experiments] extra)")
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no fetched data either
    ds = load_image_dataset("mnist", "train")
    assert ds.name == "digits" and ds.images.shape[1:] == (1, 8, 8)
    assert float(ds.images.max()) == pytest.approx(1.0)
    out = capsys.readouterr().out
    assert ("FALLBACK: scikit-learn 8x8 digits instead of mnist (LSA_DATA_DIR is not set and "
            f"{tmp_path / 'cache' / 'lsa_utils' / 'data'} does not exist)") in out
    assert "python -m lsa_utils data fetch" in out
    ds = load_image_dataset("cifar10", "test", data_dir=tmp_path)  # folder exists, no CIFAR in it
    assert ds.name == "digits" and f"no cifar10 files in {tmp_path}" in ds.source


def test_fetched_data_in_the_default_folder_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    write_mnist(tmp_path / "lsa_utils" / "data", ("test",), n=20)
    ds = load_image_dataset("mnist", "train", verbose=False)  # carved from the t10k files
    assert ds.name == "mnist" and len(ds) == 16 and str(tmp_path / "lsa_utils" / "data") in ds.source


def test_without_scikit_learn_the_fallback_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"no mnist files were found.*lsa-utils\[experiments\].*data fetch"):
        load_image_dataset("mnist", "train", data_dir=tmp_path)


def test_missing_data_folder_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LSA_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="LSA_DATA_DIR=.*nowhere' is not allowed: no such folder"):
        load_image_dataset("mnist")
    with pytest.raises(ValueError, match="dataset='imagenet' is not allowed"):
        load_image_dataset("imagenet")
    with pytest.raises(ValueError, match="split='val' is not allowed"):
        load_image_dataset("mnist", "val", data_dir=tmp_path)


def test_real_mnist(shared_data):
    train = load_image_dataset("mnist", "train", data_dir=shared_data, verbose=False)
    test = load_image_dataset("mnist", "test", data_dir=shared_data, verbose=False)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]  # the official first training labels
    assert test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(train.labels.numpy()).tolist()[:2] == [5923, 6742]
    assert float(train.images.mean()) == pytest.approx(0.1307, abs=1e-3)


def test_real_cifar10_training_subset_and_test_batch(shared_data):
    train = load_image_dataset("cifar10", "train", data_dir=shared_data, verbose=False)
    test = load_image_dataset("cifar10", "test", data_dir=shared_data, verbose=False)
    assert (len(train), len(test)) == (8_068, 10_000)
    assert "cifar10_train_subset.npz" in train.source and "test split" in test.source
    assert np.bincount(test.labels.numpy()).tolist() == [1000] * 10
    assert train.images.shape[1:] == (3, 32, 32)
    # CIFAR-10's training-set channel means (0.491, 0.482, 0.447), to sampling error of 8k images
    assert train.images.mean((0, 2, 3)).tolist() == pytest.approx([0.491, 0.482, 0.447], abs=0.01)


def test_cifar10_training_subset_npz_is_channel_first(tmp_path):
    write_cifar(tmp_path, batches=("test_batch",))
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[:, 0, 1, 2] = 255  # row 0, column 1, blue channel
    np.savez(tmp_path / "cifar-10-batches-py" / "cifar10_train_subset.npz", images=images,
             labels=np.array([4, 5, 6]))
    train = load_image_dataset("cifar10", "train", data_dir=tmp_path, verbose=False)
    assert len(train) == 3 and train.labels.tolist() == [4, 5, 6]
    assert float(train.images[0, 2, 0, 1]) == 1.0 and float(train.images.sum()) == 3.0


def test_cifar10_with_some_training_batches_says_how_many(tmp_path):
    write_cifar(tmp_path, batches=("data_batch_1", "test_batch"))
    train = load_image_dataset("cifar10", "train", data_dir=tmp_path, verbose=False)
    assert len(train) == 10 and "only 1 of the 5 training batches" in train.source
