"""``lsa_utils.data.fetch`` against a local HTTP server: no internet.

The server (``http.server.ThreadingHTTPServer`` on 127.0.0.1, port 0) serves tiny but valid
archives built here: IDX ``.gz`` files for MNIST and a ``cifar-10-python.tar.gz`` holding pickled
batches in the official layout. Their md5s replace the published ones in ``fetch.MD5``. The
server counts requests and can cut a response short (it announces the full Content-Length, sends
half, closes), so retries, checksum errors and "nothing downloaded twice" are all observable.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
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


def unpack_fixture(archive: bytes, root: Path) -> None:
    """Unpack a fixture archive into ``root`` (with ``filter="data"`` where tarfile has it)."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, filter="data")
        else:
            tar.extractall(root)


def member_md5s(archive: bytes) -> dict[str, str]:
    """The md5 of each file in a fixture archive's ``cifar-10-batches-py/``, by file name."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name.rpartition("/")[2]: hashlib.md5(tar.extractfile(m).read()).hexdigest()
                for m in tar.getmembers() if m.isfile()}


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
    """The running server, with ``fetch.MD5`` and ``fetch.CIFAR10_FILE_MD5`` set to the fixtures'
    md5s and no waiting between retries; the environment's data and mirror variables are cleared."""
    files = fixtures[0]
    monkeypatch.setattr(F, "MD5", {name: hashlib.md5(data).hexdigest() for name, data in files.items()})
    members = member_md5s(files[F.CIFAR10_ARCHIVE])
    monkeypatch.setattr(F, "CIFAR10_FILE_MD5", {m: members[m] for m in F.CIFAR10_MEMBERS})
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
    """A CIFAR-10 folder from an earlier fetch of another archive (its marker names another md5)
    and an outdated MNIST file survive the failed fetch."""
    root = tmp_path / "data"
    unpack_fixture(fixtures[0][F.CIFAR10_ARCHIVE], root)
    (root / F.CIFAR10_FOLDER / F.MARKER).write_text("0" * 32 + "\n")
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
        kept = f"{root / F.CIFAR10_FOLDER} was not changed" if dataset == "cifar10" else (
            f"No other file in {root / 'MNIST/raw'} was changed")
        assert f"{name} was not installed" in message and kept in message
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
    assert F.mirror_urls("mnist") == ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                                      "https://storage.googleapis.com/cvdf-datasets/mnist/"]
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


def test_importing_fetch_loads_neither_torch_nor_numpy_nor_pooch():
    code = ("import lsa_utils.data.fetch, sys; "
            "assert 'torch' not in sys.modules and 'pooch' not in sys.modules; "
            "assert 'numpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------ CIFAR-10 folders that fetch did not make


def test_every_cifar10_file_has_an_md5_to_check():
    assert all(len(md5) == 32 and int(md5, 16) >= 0 for md5 in F.CIFAR10_FILE_MD5.values())
    assert set(F.CIFAR10_FILE_MD5) == set(F.CIFAR10_MEMBERS)


def test_an_unmarked_cifar10_folder_with_the_right_md5s_is_used_as_it_is(
    server, fixtures, tmp_path, capsys
):
    root = tmp_path / "data"
    unpack_fixture(fixtures[0][F.CIFAR10_ARCHIVE], root)
    before, layout = snapshot(root), all_files(root)
    F.fetch("cifar10", root=root, mirrors=mirrors(server), progress=False)
    out = capsys.readouterr().out
    assert "has every file with the md5 torchvision publishes; nothing downloaded" in out
    assert server.log == [] and snapshot(root) == before and all_files(root) == layout  # no marker


@pytest.mark.parametrize("damage", ["changed", "missing", "not a folder"])
def test_an_unmarked_cifar10_folder_that_does_not_verify_is_left_alone(
    server, fixtures, tmp_path, monkeypatch, capsys, damage
):
    root = tmp_path / "data"
    folder = root / F.CIFAR10_FOLDER
    if damage == "not a folder":
        root.mkdir()
        folder.write_bytes(b"curated")
    else:
        unpack_fixture(fixtures[0][F.CIFAR10_ARCHIVE], root)
        if damage == "changed":
            (folder / "data_batch_3").write_bytes(b"another copy")
        else:
            (folder / "test_batch").unlink()
    before, layout = snapshot(root), all_files(root)
    monkeypatch.setenv("LSA_CIFAR10_URL", f"{server.base}/cifar")
    assert cli_main(["data", "fetch", "cifar10", "--dir", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {folder} exists but is not a verified CIFAR-10 folder")
    assert "fetch will not touch it" in err and "Move it away" in err and "--dir" in err
    reason = {"changed": "data_batch_3 has md5 ", "missing": "test_batch is missing",
              "not a folder": "it is not a folder"}[damage]
    assert reason in err
    assert server.log == [] and snapshot(root) == before and all_files(root) == layout


# ---------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    "umask,file_mode,folder_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)]
)
def test_installed_files_get_the_permissions_of_a_plain_open(
    server, tmp_path, umask, file_mode, folder_mode
):
    root = tmp_path / "data"
    old = os.umask(umask)
    try:
        F.fetch(root=root, mirrors=mirrors(server), progress=False)
        assert F.current_umask() == umask  # read, and put back
    finally:
        os.umask(old)

    def mode(path: Path) -> int:
        return path.stat().st_mode & 0o777

    assert all(mode(root / "MNIST/raw" / n) == file_mode for n in MNIST_NAMES)
    cifar = root / F.CIFAR10_FOLDER
    assert mode(cifar) == folder_mode
    assert all(mode(p) == file_mode for p in cifar.iterdir())  # the batches, readme and marker


# ---------------------------------------------------------------- uncompressed MNIST copies


def test_uncompressed_mnist_copies_are_mentioned_and_left_alone(server, tmp_path, capsys):
    raw = tmp_path / "data/MNIST/raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"an unchecked copy")
    note = ("also holds uncompressed copies (train-images-idx3-ubyte); "
            "fetch does not check or change them")
    for _ in range(2):  # while downloading, and when nothing is downloaded
        F.fetch("mnist", root=tmp_path / "data", mirrors=mirrors(server), progress=False)
        assert note in capsys.readouterr().out
    assert (raw / "train-images-idx3-ubyte").read_bytes() == b"an unchecked copy"


# ---------------------------------------------------------------- unpacking


def with_extra_member(archive: bytes, info: tarfile.TarInfo, payload: bytes = b"") -> bytes:
    """A copy of a fixture archive with one more member."""
    buffer = io.BytesIO()
    src = tarfile.open(fileobj=io.BytesIO(archive))
    with src, tarfile.open(fileobj=buffer, mode="w:gz") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        info.size = len(payload)
        dst.addfile(info, io.BytesIO(payload) if info.isfile() else None)
    return buffer.getvalue()


def test_without_tarfiles_data_filter_the_unpack_still_works(server, tmp_path, monkeypatch):
    monkeypatch.setattr(F, "TAR_DATA_FILTER", False)  # as on Python < 3.11.4
    root = tmp_path / "data"
    F.fetch("cifar10", root=root, mirrors=mirrors(server), progress=False)
    assert all_files(root) == {p for p in EXPECTED_LAYOUT if p.startswith("cifar")}


@pytest.mark.parametrize("data_filter", [True, False])
@pytest.mark.parametrize("kind", ["dotdot", "symlink", "hardlink"])
def test_an_archive_with_unsafe_members_is_refused(
    server, fixtures, tmp_path, monkeypatch, kind, data_filter
):
    if data_filter and not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python's tarfile has no data filter")
    monkeypatch.setattr(F, "TAR_DATA_FILTER", data_filter)
    info = tarfile.TarInfo(f"{F.CIFAR10_FOLDER}/" + ("../escaped" if kind == "dotdot" else "link"))
    if kind != "dotdot":
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = "/etc/passwd" if kind == "symlink" else f"{F.CIFAR10_FOLDER}/test_batch"
    bad = with_extra_member(fixtures[0][F.CIFAR10_ARCHIVE], info, b"x" if kind == "dotdot" else b"")
    monkeypatch.setitem(server.files, F.CIFAR10_ARCHIVE, bad)
    monkeypatch.setitem(F.MD5, F.CIFAR10_ARCHIVE, hashlib.md5(bad).hexdigest())
    root = tmp_path / "data"
    with pytest.raises(F.FetchError, match="unsafe path|not a plain file or folder"):
        F.fetch("cifar10", root=root, mirrors=mirrors(server), progress=False)
    assert all_files(tmp_path) == {"data", f"data/{F.CIFAR10_ARCHIVE}"}  # nothing unpacked anywhere


def test_stale_staging_folders_are_removed(server, tmp_path, capsys):
    root = tmp_path / "data"
    partial = root / f".{F.CIFAR10_FOLDER}.partial-abcd1234"
    old = root / f".{F.CIFAR10_FOLDER}.old-1234abcd"
    (partial / F.CIFAR10_FOLDER).mkdir(parents=True)
    (partial / F.CIFAR10_FOLDER / "data_batch_1").write_bytes(b"half")
    old.mkdir()
    (old / "test_batch").write_bytes(b"old")
    (root / ".unrelated").mkdir()
    F.fetch("cifar10", root=root, mirrors=mirrors(server), progress=False)
    out = capsys.readouterr().out
    assert f"removing {partial}, left by an earlier fetch" in out and f"removing {old}," in out
    assert all_files(root) == {p for p in EXPECTED_LAYOUT if p.startswith("cifar")} | {".unrelated"}


@pytest.mark.parametrize("restore_fails", [False, True])
def test_a_failed_swap_puts_the_old_folder_back(
    server, fixtures, tmp_path, monkeypatch, capsys, restore_fails
):
    root = tmp_path / "data"
    folder = root / F.CIFAR10_FOLDER
    unpack_fixture(fixtures[0][F.CIFAR10_ARCHIVE], root)
    (folder / F.MARKER).write_text("0" * 32 + "\n")  # an earlier fetch, of another archive
    (folder / "mine").write_text("kept")
    before = snapshot(folder)
    real_rename = os.rename
    failing = (".partial-", ".old-") if restore_fails else (".partial-",)

    def rename(src, dst):
        if any(part in str(src) for part in failing):
            raise OSError(errno.EIO, "simulated rename failure", str(src))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(F.FetchError, match="simulated rename failure") as info:
        F.fetch("cifar10", root=root, mirrors=mirrors(server), progress=False)
    monkeypatch.setattr(os, "rename", real_rename)
    (aside,) = root.glob(f".{F.CIFAR10_FOLDER}.old-*") if restore_fails else (folder,)
    assert snapshot(aside) == before  # the old folder, intact: back in place, or named in the error
    assert not list(root.glob(f".{F.CIFAR10_FOLDER}.partial-*"))
    if restore_fails:
        assert f"the old one is at {aside}; rename it to {folder} by hand" in str(info.value)
        assert not folder.exists()
        real_rename(aside, folder)

    capsys.readouterr()
    F.fetch("cifar10", root=root, mirrors=mirrors(server), progress=False)  # the archive was kept
    assert "reusing the verified" in capsys.readouterr().out
    assert server.requests_for(F.CIFAR10_ARCHIVE) == 1
    assert all_files(root) == {p for p in EXPECTED_LAYOUT if p.startswith("cifar")}


# ---------------------------------------------------------------- errors while writing


@pytest.mark.parametrize("error", [
    PermissionError(errno.EACCES, "Permission denied", "/somewhere/tmpabc"),
    OSError(errno.ENOSPC, "No space left on device"),
])
def test_a_write_error_is_not_retried_and_names_the_path(
    server, tmp_path, monkeypatch, capsys, error
):
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr("tempfile.NamedTemporaryFile", refuse)  # where pooch writes a download
    monkeypatch.setenv("LSA_MNIST_URL", f"{server.base}/mnist/")
    root = tmp_path / "data"
    assert cli_main(["data", "fetch", "mnist", "--dir", str(root)]) == 2
    err = capsys.readouterr().err
    target = root / "MNIST/raw" / MNIST_NAMES[0]
    assert err.startswith(f"error: could not write {target}: {error}") and "not retried" in err
    assert "Traceback" not in err
    assert ("360 MB" in err) == (error.errno == errno.ENOSPC)
    assert server.log == []  # stopped before asking any mirror, and no retry
    assert not root.exists()  # the folders it made are gone again


def test_a_failed_mnist_file_names_the_files_installed_before_it(server, tmp_path, monkeypatch):
    monkeypatch.delitem(server.files, MNIST_NAMES[2])  # HTTP 404 on every mirror
    root = tmp_path / "data"
    with pytest.raises(F.FetchError) as info:
        F.fetch("mnist", root=root, mirrors=mirrors(server), progress=False)
    message = str(info.value)
    assert f"{MNIST_NAMES[2]} was not installed" in message
    kept = f"Installed in {root / 'MNIST/raw'} by this fetch before the failure, and kept: "
    assert kept + f"{MNIST_NAMES[0]}, {MNIST_NAMES[1]}." in message
    assert all_files(root) == {"MNIST", "MNIST/raw"} | {f"MNIST/raw/{n}" for n in MNIST_NAMES[:2]}


def test_the_sizes_are_stated(server, tmp_path, capsys):
    assert "About 180 MB to download (MNIST 11.6 MB + CIFAR-10 170.5 MB)" in F.DESCRIPTION
    assert "about 360 MB of disk" in F.DESCRIPTION
    F.fetch(root=tmp_path / "data", mirrors=mirrors(server), progress=False)
    out = capsys.readouterr().out
    assert "(11.6 MB for all four files)" in out
    assert "(170.5 MB; about 360 MB of disk while it is unpacked)" in out
