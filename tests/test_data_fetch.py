"""``lsa_utils.data.fetch`` against a local HTTP server: no internet.

The server (``http.server.ThreadingHTTPServer`` on 127.0.0.1, port 0) serves tiny but valid
archives built here: IDX ``.gz`` files for MNIST and a ``cifar-10-python.tar.gz`` holding pickled
batches in the official layout. Their md5s replace the published ones in ``fetch.MD5``. The
server counts requests and can cut a response short (it announces the full Content-Length, sends
half, closes), so retries, checksum errors and "nothing downloaded twice" are all observable.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from lsa_utils.data import fetch as F
from lsa_utils.run.cli import main as cli_main

N_MNIST = {"train": 5, "t10k": 3}
N_CIFAR_PER_BATCH = 2
MNIST_NAMES = list(F.MNIST_FILES)


# ---------------------------------------------------------------- fixture archives


def idx_gz(array: np.ndarray) -> bytes:
    """A gzip-compressed IDX file of a uint8 array (magic 0x00 0x00 0x08 ndim, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def mnist_fixture(rng: np.random.Generator) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    files, arrays = {}, {}
    for prefix, n in N_MNIST.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        files[f"{prefix}-images-idx3-ubyte.gz"] = idx_gz(images)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = idx_gz(labels)
        arrays[f"{prefix}-images"], arrays[f"{prefix}-labels"] = images, labels
    return files, arrays


def cifar_fixture(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """``cifar-10-python.tar.gz`` with ``cifar-10-batches-py/{data_batch_1..5,test_batch,
    batches.meta,readme.html}``; each batch a pickled dict with ``data`` uint8 (N, 3072)."""
    members, arrays = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(N_CIFAR_PER_BATCH, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=N_CIFAR_PER_BATCH)]
        batch = {"batch_label": name, "labels": labels, "data": data,
                 "filenames": [f"img_{i}.png" for i in range(N_CIFAR_PER_BATCH)]}
        members[name] = pickle.dumps(batch, protocol=2)
        arrays[name] = (data, np.array(labels))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                            "horse", "ship", "truck"], "num_cases_per_batch": N_CIFAR_PER_BATCH}
    members["batches.meta"] = pickle.dumps(meta, protocol=2)
    members["readme.html"] = b"<html></html>"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folder = tarfile.TarInfo("cifar-10-batches-py")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue(), arrays


@pytest.fixture(scope="module")
def fixtures():
    rng = np.random.default_rng(0)
    mnist_files, mnist_arrays = mnist_fixture(rng)
    cifar_archive, cifar_arrays = cifar_fixture(rng)
    files = {**mnist_files, F.CIFAR10_ARCHIVE: cifar_archive}
    return files, mnist_arrays, cifar_arrays


# ---------------------------------------------------------------- the server


class Server:
    """Serves ``files`` under ``/mnist/`` and ``/cifar/`` (anything else: 404), logs every request
    path, and truncates the next ``drops[name]`` responses for file ``name``."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.log: list[str] = []
        self.drops: dict[str, int] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                folder, _, name = self.path.lstrip("/").partition("/")
                with server.lock:
                    server.log.append(self.path)
                    drop = server.drops.get(name, 0) > 0
                    if drop:
                        server.drops[name] -= 1
                payload = server.files.get(name) if folder in ("mnist", "cifar") else None
                if payload is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2] if drop else payload)
                self.wfile.flush()
                self.close_connection = True

        return Handler

    def requests_for(self, name: str) -> int:
        return sum(path.endswith("/" + name) for path in self.log)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(fixtures, monkeypatch):
    """The running server, with ``fetch.MD5`` set to the fixtures' md5s and no waiting between
    retries; the environment's data and mirror variables are cleared."""
    files = fixtures[0]
    monkeypatch.setattr(F, "MD5", {name: hashlib.md5(data).hexdigest() for name, data in files.items()})
    monkeypatch.setattr(F, "RETRY_WAIT_S", 0.0)
    for var in ("LSA_DATA_DIR", "LSA_MNIST_URL", "LSA_CIFAR10_URL"):
        monkeypatch.delenv(var, raising=False)
    srv = Server(files)
    yield srv
    srv.close()


def mirrors(srv: Server) -> dict[str, str]:
    return {"mnist": f"{srv.base}/mnist/", "cifar10": f"{srv.base}/cifar"}


def all_files(root: Path) -> set[str]:
    """Every file and folder under ``root``, relative, as strings."""
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


EXPECTED_LAYOUT = (
    {"MNIST", "MNIST/raw"} | {f"MNIST/raw/{n}" for n in MNIST_NAMES}
    | {"cifar-10-batches-py", "cifar-10-batches-py/.complete", "cifar-10-batches-py/readme.html"}
    | {f"cifar-10-batches-py/{m}" for m in F.CIFAR10_MEMBERS}
)


# ---------------------------------------------------------------- tests


def test_fetch_installs_both_and_the_loaders_read_them(server, fixtures, tmp_path, capsys):
    from lsa_utils.data.images import load_image_dataset

    _, mnist, cifar = fixtures
    root = tmp_path / "data"
    assert F.fetch(root=root, mirrors=mirrors(server), progress=False) == root
    assert all_files(root) == EXPECTED_LAYOUT  # archive deleted, no temporary file or folder left
    assert (root / "cifar-10-batches-py/.complete").read_text().strip() == F.MD5[F.CIFAR10_ARCHIVE]
    assert f"data folder: {root}" in capsys.readouterr().out

    for split, prefix in (("train", "train"), ("test", "t10k")):
        ds = load_image_dataset("mnist", split, data_dir=root, verbose=False)
        assert ds.name == "mnist" and tuple(ds.images.shape) == (N_MNIST[prefix], 1, 28, 28)
        assert ds.labels.tolist() == mnist[f"{prefix}-labels"].tolist()
        np.testing.assert_array_equal((ds.images[:, 0].numpy() * 255).round(), mnist[f"{prefix}-images"])

    train = load_image_dataset("cifar10", "train", data_dir=root, verbose=False)
    batches = [cifar[f"data_batch_{i}"] for i in range(1, 6)]
    assert train.name == "cifar10" and tuple(train.images.shape) == (5 * N_CIFAR_PER_BATCH, 3, 32, 32)
    assert train.labels.tolist() == np.concatenate([b[1] for b in batches]).tolist()
    np.testing.assert_array_equal((train.images.reshape(len(train), -1).numpy() * 255).round(),
                                  np.concatenate([b[0] for b in batches]))
    test = load_image_dataset("cifar10", "test", data_dir=root, verbose=False)
    assert test.labels.tolist() == cifar["test_batch"][1].tolist()


def test_a_second_fetch_downloads_nothing(server, tmp_path, capsys):
    root = tmp_path / "data"
    F.fetch(root=root, mirrors=mirrors(server), progress=False)
    assert len(server.log) == len(MNIST_NAMES) + 1
    before = snapshot(root)
    capsys.readouterr()
    F.fetch(root=root, mirrors=mirrors(server), progress=False)
    assert len(server.log) == len(MNIST_NAMES) + 1  # zero new requests
    out = capsys.readouterr().out
    assert "mnist: all 4 files present" in out and "nothing downloaded" in out
    assert "cifar10:" in out and "is complete (marker .complete); nothing downloaded" in out
    assert snapshot(root) == before


def test_a_corrupt_mnist_file_is_downloaded_again(server, tmp_path):
    root = tmp_path / "data"
    F.fetch("mnist", root=root, mirrors=mirrors(server), progress=False)
    (root / "MNIST/raw" / MNIST_NAMES[1]).write_bytes(b"truncated")
    F.fetch("mnist", root=root, mirrors=mirrors(server), progress=False)
    assert server.requests_for(MNIST_NAMES[1]) == 2 and server.requests_for(MNIST_NAMES[0]) == 1
    assert F.md5sum(root / "MNIST/raw" / MNIST_NAMES[1]) == F.MD5[MNIST_NAMES[1]]


@pytest.mark.parametrize("dataset,name", [("mnist", MNIST_NAMES[0]), ("cifar10", F.CIFAR10_ARCHIVE)])
def test_a_wrong_checksum_installs_nothing(server, tmp_path, monkeypatch, dataset, name):
    actual = F.MD5[name]
    monkeypatch.setitem(F.MD5, name, "0123456789abcdef0123456789abcdef")
    root = tmp_path / "data"
    with pytest.raises(F.FetchError) as info:
        F.fetch(dataset, root=root, mirrors=mirrors(server), retries=1, progress=False)
    message = str(info.value)
    assert f"could not download {name}" in message
    wrong = "0123456789abcdef0123456789abcdef"
    assert f"checksum mismatch: expected md5 {wrong}, got md5 {actual}" in message
    assert f"{mirrors(server)[dataset].rstrip('/')}/{name}" in message
    assert server.requests_for(name) == 2  # 1 + retries attempts, then the error
    assert all_files(root) == set()  # nothing installed, no temporary file; the new folder is gone


@pytest.mark.parametrize("dataset,name", [("mnist", MNIST_NAMES[2]), ("cifar10", F.CIFAR10_ARCHIVE)])
def test_a_dropped_connection_is_retried(server, tmp_path, capsys, dataset, name):
    server.drops[name] = 1
    root = tmp_path / "data"
    F.fetch(dataset, root=root, mirrors=mirrors(server), retries=2, progress=False)
    assert server.requests_for(name) == 2
    assert "(retry 1 of 2)" in capsys.readouterr().out
    expected = {p for p in EXPECTED_LAYOUT if p.startswith("MNIST" if dataset == "mnist" else "cifar")}
    assert all_files(root) == expected


def test_a_connection_that_always_drops_leaves_the_previous_data(server, fixtures, tmp_path):
    """An earlier, unmarked CIFAR-10 folder and an outdated MNIST file survive the failed fetch."""
    root = tmp_path / "data"
    with tarfile.open(fileobj=io.BytesIO(fixtures[0][F.CIFAR10_ARCHIVE])) as tar:
        tar.extractall(root, filter="data")
    old_mnist = root / "MNIST/raw" / MNIST_NAMES[0]
    old_mnist.parent.mkdir(parents=True)
    old_mnist.write_bytes(b"an older copy")
    before, layout = snapshot(root), all_files(root)

    server.drops[F.CIFAR10_ARCHIVE] = server.drops[MNIST_NAMES[0]] = 100
    bases = {"mnist": [f"{server.base}/mnist", f"{server.base}/mnist/"],  # two mirrors
             "cifar10": f"{server.base}/cifar"}
    for dataset, name, n_requests in (("cifar10", F.CIFAR10_ARCHIVE, 2), ("mnist", MNIST_NAMES[0], 4)):
        with pytest.raises(F.FetchError) as info:
            F.fetch(dataset, root=root, mirrors=bases, retries=1, progress=False)
        message = str(info.value)
        assert f"could not download {name}" in message and "up to 2 attempts per mirror" in message
        assert message.count(f"/{name}: ") == n_requests  # every attempt listed with its URL
        assert "ChunkedEncodingError" in message and "IncompleteRead" in message
        assert server.requests_for(name) == n_requests  # bounded: 1 + retries per mirror
    assert snapshot(root) == before and all_files(root) == layout  # untouched, nothing left over


def test_a_missing_file_on_one_mirror_moves_on_to_the_next(server, tmp_path):
    root = tmp_path / "data"
    dead = f"{server.base}/gone/"
    bases = {"mnist": [dead, f"{server.base}/mnist/"]}
    F.fetch(["mnist"], root=root, mirrors=bases, retries=3, progress=False)
    assert all(server.log.count(f"/gone/{n}") == 1 for n in MNIST_NAMES)  # a 404 is not retried
    assert all((root / "MNIST/raw" / n).is_file() for n in MNIST_NAMES)


def test_cli_fetches_with_the_mirror_from_the_environment(server, tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    monkeypatch.setenv("LSA_MNIST_URL", f"{server.base}/mnist/")
    assert cli_main(["data", "fetch", "mnist", "--dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"data folder: {root}" in out and f"export LSA_DATA_DIR={root}" in out
    assert all((root / "MNIST/raw" / n).is_file() for n in MNIST_NAMES)
    assert server.requests_for(F.CIFAR10_ARCHIVE) == 0

    monkeypatch.setenv("LSA_DATA_DIR", str(root))  # the folder the loaders read: no export needed
    assert cli_main(["data", "fetch", "mnist"]) == 0
    assert "the image loaders read" in capsys.readouterr().out


def test_cli_errors_print_error_and_return_2(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LSA_CIFAR10_URL", f"{server.base}/gone/")
    assert cli_main(["data", "fetch", "cifar10", "--dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: could not download {F.CIFAR10_ARCHIVE}") and "HTTP 404" in err
    assert cli_main(["data", "fetch", "svhn"]) == 2
    err = capsys.readouterr().err
    assert "error: dataset='svhn' is not allowed; choose one of: 'mnist', 'cifar10'" in err


def test_the_data_folder_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert F.default_data_dir() == tmp_path / "cache/lsa_utils/data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert F.default_data_dir() == tmp_path / "home/.cache/lsa_utils/data"
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    assert F.resolve_root() == F.default_data_dir()
    monkeypatch.setenv("LSA_DATA_DIR", str(tmp_path / "env"))
    assert F.resolve_root() == tmp_path / "env"
    assert F.resolve_root(tmp_path / "arg") == tmp_path / "arg"


def test_mirrors_come_from_the_argument_the_environment_or_the_official_list(monkeypatch):
    monkeypatch.delenv("LSA_MNIST_URL", raising=False)
    assert F.mirror_urls("mnist")[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert F.mirror_urls("cifar10") == ["https://www.cs.toronto.edu/~kriz/"]
    monkeypatch.setenv("LSA_MNIST_URL", "http://local/mnist")
    assert F.mirror_urls("mnist") == ["http://local/mnist"]
    assert F.mirror_urls("mnist", {"mnist": ["http://a/", "http://b/"]}) == ["http://a/", "http://b/"]
    assert F.file_url("http://local/mnist", "x.gz") == F.file_url("http://local/mnist/", "x.gz")
    with pytest.raises(ValueError, match="give one or more base URLs"):
        F.mirror_urls("mnist", {"mnist": []})


def test_bad_arguments_stop_before_any_download(tmp_path):
    with pytest.raises(ValueError, match="dataset='svhn' is not allowed"):
        F.fetch(["mnist", "svhn"], root=tmp_path / "d")
    with pytest.raises(ValueError, match="retries=-1 is not allowed"):
        F.fetch("mnist", root=tmp_path / "d", retries=-1)
    with pytest.raises(ValueError, match="mirrors key='MNIST' is not allowed"):
        F.fetch("mnist", root=tmp_path / "d", mirrors={"MNIST": "http://127.0.0.1:9/"})
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="it is a file, not a folder"):
        F.fetch("mnist", root=tmp_path / "file")
    assert not (tmp_path / "d").exists()


def test_without_pooch_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # makes ``import pooch`` raise ImportError
    with pytest.raises(F.FetchError, match=r"pip install 'lsa-utils\[data\]'"):
        F.fetch("mnist", root=tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_importing_the_module_does_not_import_pooch():
    code = "import sys, lsa_utils.data.fetch, lsa_utils.run.cli; assert 'pooch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
