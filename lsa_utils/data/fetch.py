"""Download MNIST and CIFAR-10: ``python -m lsa_utils data fetch [mnist] [cifar10] [--dir DIR]``.

What: the official archives, checked against their published md5s, installed in the layout that
``lsa_utils.data.images`` reads (torchvision's)::

    <root>/MNIST/raw/train-images-idx3-ubyte.gz   uint8 (60000, 28, 28), IDX format, read as .gz
    <root>/MNIST/raw/train-labels-idx1-ubyte.gz   uint8 (60000,)
    <root>/MNIST/raw/t10k-images-idx3-ubyte.gz    uint8 (10000, 28, 28)
    <root>/MNIST/raw/t10k-labels-idx1-ubyte.gz    uint8 (10000,)
    <root>/cifar-10-batches-py/data_batch_1..5    pickled dict: "data" uint8 (10000, 3072), "labels"
    <root>/cifar-10-batches-py/test_batch         the same, the 10,000 test images
    <root>/cifar-10-batches-py/batches.meta       the class names
    <root>/cifar-10-batches-py/.complete          the archive's md5: the unpack finished

``<root>`` is ``--dir`` (``root=``), else ``$LSA_DATA_DIR``, else :func:`default_data_dir`.

Why this way: a chapter that finds half a file, or a folder that a failed download overwrote, gives
wrong numbers or a confusing error long after the fetch. So every file is written to a temporary
name and moved into place only once its md5 matched (pooch does this); a CIFAR-10 unpack goes into
a temporary folder next to ``cifar-10-batches-py`` and replaces it by a rename only when complete.
A failed or corrupt download is retried ``retries`` times per mirror, then the next mirror is
tried, and the final error names the file, every URL tried and why each failed. Files already
present are verified (MNIST: md5 of the 11 MB of files; CIFAR-10: the ``.complete`` marker) and
not downloaded again.

Mirrors: MNIST from torchvision's S3 copy, then Yann LeCun's page; CIFAR-10 from Alex
Krizhevsky's page. ``$LSA_MNIST_URL`` / ``$LSA_CIFAR10_URL`` (a base URL) or ``mirrors=`` replace
the list, e.g. for a local copy.

Needs ``pooch`` (``pip install 'lsa-utils[data]'``), imported only when :func:`fetch` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import shutil
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..validation import check_choice
from .folders import default_data_dir

DATASETS = ("mnist", "cifar10")

# file name -> published md5 (tests swap in their fixtures' md5s)
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
}
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_FOLDER = Path("MNIST", "raw")
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_MEMBERS = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
MARKER = ".complete"

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}
MIRROR_ENV = {"mnist": "LSA_MNIST_URL", "cifar10": "LSA_CIFAR10_URL"}
RETRY_WAIT_S = 1.0  # seconds before retry k on the same mirror: k * RETRY_WAIT_S
INSTALL_HINT = "pip install 'lsa-utils[data]'"
DESCRIPTION = (
    "Download MNIST and/or CIFAR-10, check their published md5s and install them where the "
    "image loaders read them (MNIST/raw/, cifar-10-batches-py/). Files already there are not "
    "fetched again."
)


class FetchError(RuntimeError):
    """A data set could not be downloaded, verified or unpacked (the message says which and why)."""


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The folder to fetch into: ``root``, else ``$LSA_DATA_DIR``, else :func:`default_data_dir`."""
    chosen = root if root is not None else os.environ.get("LSA_DATA_DIR") or default_data_dir()
    return Path(chosen).expanduser().absolute()


Mirrors = Mapping[str, str | Sequence[str]]  # data set -> base URL(s)


def mirror_urls(dataset: str, mirrors: Mirrors | None = None) -> list[str]:
    """Base URLs for ``dataset``, in the order tried: ``mirrors[dataset]``, else the environment
    variable (``$LSA_MNIST_URL`` / ``$LSA_CIFAR10_URL``), else the official list."""
    check_choice("dataset", dataset, DATASETS)
    chosen: str | Sequence[str] | None = (mirrors or {}).get(dataset)
    if chosen is None:
        chosen = os.environ.get(MIRROR_ENV[dataset]) or MIRRORS[dataset]
    bases = [chosen] if isinstance(chosen, str) else list(chosen)
    if not bases or not all(isinstance(b, str) and b for b in bases):
        raise ValueError(
            f"mirrors[{dataset!r}]={chosen!r} is not allowed; give one or more base URLs"
        )
    return bases


def file_url(base: str, name: str) -> str:
    """``base`` joined with a file name (a trailing slash on ``base`` is optional)."""
    return base.rstrip("/") + "/" + name


def md5sum(path: str | os.PathLike) -> str:
    """Hex md5 of a file, read in 1 MB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _import_pooch() -> Any:
    try:
        import pooch
    except ImportError as err:
        raise FetchError(
            "downloading the data sets needs the package pooch, which is not installed: "
            + INSTALL_HINT
        ) from err
    return pooch


@contextmanager
def _quiet_pooch(pooch: Any):
    """Silence pooch's own INFO log lines for the duration (this module prints its own)."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        logger.setLevel(level)


def _absent_dirs(path: Path) -> list[Path]:
    """``path`` and those of its ancestors that do not exist yet, deepest first."""
    absent = []
    while not path.exists() and path != path.parent:
        absent.append(path)
        path = path.parent
    return absent


@contextmanager
def _tidy_on_failure(folders: Iterable[Path]):
    """On an exception, remove those of ``folders`` (deepest first) that exist and are empty."""
    folders = list(folders)
    try:
        yield
    except BaseException:
        for folder in folders:
            try:
                folder.rmdir()
            except OSError:
                pass
        raise


class _RecordingDownloader:
    """A pooch downloader that also records the md5 of what it wrote, so that a checksum error can
    name both md5s (pooch deletes the file before the error reaches us)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.md5: str | None = None

    def __call__(self, url: str, output_file: Any, pooch_obj: Any) -> None:
        self.md5 = None
        self.inner(url, output_file, pooch_obj)
        self.md5 = md5sum(output_file)


def _retrieve_once(pooch: Any, url: str, name: str, folder: Path, progress: bool) -> str | None:
    """One download attempt of ``url`` into ``folder/name``; ``None`` on success, else the reason.

    pooch writes to a temporary file in ``folder``, checks the md5 and only then renames it to
    ``name``; on any failure the temporary file is deleted and ``folder/name`` is untouched.
    """
    import requests  # pooch's dependency

    expected = MD5[name]
    inner = pooch.downloaders.choose_downloader(url, progressbar=progress)
    downloader = _RecordingDownloader(inner)
    try:
        pooch.retrieve(
            url, known_hash=f"md5:{expected}", fname=name, path=folder, downloader=downloader
        )
    except (ValueError, OSError) as err:
        if downloader.md5 is not None and downloader.md5 != expected:
            return f"checksum mismatch: expected md5 {expected}, got md5 {downloader.md5}"
        if isinstance(err, requests.HTTPError) and err.response is not None:
            return f"HTTP {err.response.status_code} {err.response.reason}"
        return f"{type(err).__name__}: {err}"
    return None


def _download(
    pooch: Any, name: str, folder: Path, bases: Sequence[str], retries: int, progress: bool
) -> None:
    """Install ``folder/name`` from the first mirror that delivers it with the right md5.

    Each mirror gets ``1 + retries`` attempts (waiting ``k * RETRY_WAIT_S`` before retry ``k``;
    an HTTP 4xx answer moves on at once); raises :class:`FetchError` listing every failure.
    """
    failures = []
    for base in bases:
        url = file_url(base, name)
        for attempt in range(1 + retries):
            if attempt:
                time.sleep(attempt * RETRY_WAIT_S)
            print(f"  downloading {url}" + (f" (retry {attempt} of {retries})" if attempt else ""))
            reason = _retrieve_once(pooch, url, name, folder, progress)
            if reason is None:
                return
            print(f"  failed: {reason}")
            failures.append(f"{url}: {reason}")
            if reason.startswith("HTTP 4"):
                break
    tried = "\n".join(f"  {line}" for line in failures)
    raise FetchError(
        f"could not download {name} into {folder} (up to {1 + retries} attempts per mirror); "
        "nothing was installed for it and the folder's previous contents are unchanged. "
        f"Attempts:\n{tried}"
    )


def _mnist_needed(folder: Path) -> list[str]:
    """The MNIST files missing from ``folder`` or whose md5 differs from the published one."""
    return [n for n in MNIST_FILES if not (folder / n).is_file() or md5sum(folder / n) != MD5[n]]


def _fetch_mnist(
    pooch: Any, root: Path, bases: Sequence[str], retries: int, progress: bool
) -> None:
    """Install the four MNIST ``.gz`` files in ``root/MNIST/raw`` (each verified, each atomic)."""
    folder = root / MNIST_FOLDER
    needed = _mnist_needed(folder)
    if not needed:
        print(f"mnist: all {len(MNIST_FILES)} files present in {folder} with the right md5; "
              "nothing downloaded")
        return
    print(f"mnist: fetching {len(needed)} of {len(MNIST_FILES)} files into {folder}")
    with _tidy_on_failure(_absent_dirs(folder)):
        for name in needed:
            _download(pooch, name, folder, bases, retries, progress)
    print(f"mnist: done, {len(MNIST_FILES)} files verified in {folder}")


def cifar10_complete(root: Path) -> bool:
    """Whether ``root/cifar-10-batches-py`` came from a finished unpack of the expected archive:
    its ``.complete`` marker holds the archive's md5 and every batch file is there."""
    folder = root / CIFAR10_FOLDER
    marker = folder / MARKER
    if not marker.is_file() or marker.read_text().strip() != MD5[CIFAR10_ARCHIVE]:
        return False
    return all((folder / m).is_file() for m in CIFAR10_MEMBERS)


def _unpack_cifar10(archive: Path, staging: Path) -> Path:
    """Extract the archive's ``cifar-10-batches-py/`` into ``staging``, check that every batch is
    there, write the marker; returns the new folder (not yet in place)."""
    prefix = CIFAR10_FOLDER + "/"
    with tarfile.open(archive, "r:gz") as tar:
        members = [
            m for m in tar.getmembers() if m.name == CIFAR10_FOLDER or m.name.startswith(prefix)
        ]
        tar.extractall(staging, members=members, filter="data")
    folder = staging / CIFAR10_FOLDER
    missing = [m for m in CIFAR10_MEMBERS if not (folder / m).is_file()]
    if missing:
        raise FetchError(f"{archive} has the right md5 but lacks {prefix}{', '.join(missing)}")
    (folder / MARKER).write_text(MD5[CIFAR10_ARCHIVE] + "\n")
    return folder


def _replace_folder(new: Path, target: Path) -> None:
    """Put ``new`` at ``target`` by renames on the same file system; an old ``target`` is moved
    aside first and deleted only once ``new`` is in place (restored if that rename fails)."""
    if not target.exists():
        os.rename(new, target)
        return
    aside = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _fetch_cifar10(
    pooch: Any, root: Path, bases: Sequence[str], retries: int, progress: bool
) -> None:
    """Download and verify the archive, unpack it next to ``root/cifar-10-batches-py``, swap it
    in, delete the archive. A verified archive left by an earlier failed unpack is reused."""
    if cifar10_complete(root):
        print(f"cifar10: {root / CIFAR10_FOLDER} is complete (marker {MARKER}); nothing downloaded")
        return
    archive = root / CIFAR10_ARCHIVE
    if archive.is_file() and md5sum(archive) == MD5[CIFAR10_ARCHIVE]:
        print(f"cifar10: reusing the verified {archive}")
    else:
        print(f"cifar10: fetching {CIFAR10_ARCHIVE} into {root}")
        _download(pooch, CIFAR10_ARCHIVE, root, bases, retries, progress)
    staging = Path(tempfile.mkdtemp(prefix=f".{CIFAR10_FOLDER}.partial-", dir=root))
    try:
        _replace_folder(_unpack_cifar10(archive, staging), root / CIFAR10_FOLDER)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink()
    print(f"cifar10: done, unpacked into {root / CIFAR10_FOLDER}")


_FETCHERS = {"mnist": _fetch_mnist, "cifar10": _fetch_cifar10}


def _check_datasets(datasets: str | Iterable[str]) -> list[str]:
    names = [datasets] if isinstance(datasets, str) else list(datasets)
    if not names:
        names = list(DATASETS)
    for name in names:
        check_choice("dataset", name, DATASETS)
    return list(dict.fromkeys(names))  # drop repeats, keep the order


def fetch(
    datasets: str | Iterable[str] = DATASETS,
    root: str | os.PathLike | None = None,
    mirrors: Mirrors | None = None,
    retries: int = 2,
    progress: bool = True,
) -> Path:
    """Download, verify and install MNIST and/or CIFAR-10; returns the data folder.

    Args:
        datasets: ``"mnist"``, ``"cifar10"`` or several (empty: both).
        root: the data folder; default ``$LSA_DATA_DIR``, else :func:`default_data_dir`. Created
            if missing.
        mirrors: data set -> base URL or list of base URLs, replacing ``$LSA_MNIST_URL`` /
            ``$LSA_CIFAR10_URL`` and the official mirrors.
        retries: extra attempts per file and mirror after a failed or corrupt download.
        progress: show pooch's download progress bars.

    Returns:
        The data folder, laid out as in the module docstring; pass it as ``data_dir=`` to
        ``lsa_utils.data.load_image_dataset`` or export it as ``LSA_DATA_DIR``.

    Raises:
        ValueError: an unknown data set name, a bad ``retries`` or an empty mirror list.
        FetchError: pooch is missing, or a file could not be downloaded with the right md5 from
            any mirror (the message names it, every URL tried and each reason); what was already
            in the folder is left as it was.
    """
    names = _check_datasets(datasets)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries={retries!r} is not allowed; it must be a whole number >= 0")
    for key in mirrors or {}:
        check_choice("mirrors key", key, DATASETS)
    bases = {name: mirror_urls(name, mirrors) for name in names}
    pooch = _import_pooch()
    folder = resolve_root(root)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"root={str(folder)!r} is not allowed: it is a file, not a folder")
    print(f"data folder: {folder}")
    with _tidy_on_failure(_absent_dirs(folder)), _quiet_pooch(pooch):
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            _FETCHERS[name](pooch, folder, bases[name], retries, progress)
    return folder


def usage_hint(root: Path) -> str:
    """How the loaders get to ``root``: already their folder, or the line to export."""
    try:
        from .folders import resolve_data_dir

        read = resolve_data_dir(None)
    except ValueError:  # $LSA_DATA_DIR names a missing folder
        read = None
    if read is not None and Path(read).expanduser().absolute() == root:
        return f"the image loaders read {root} by default (load_image_dataset needs no data_dir)"
    return (
        f"to use it: export LSA_DATA_DIR={shlex.quote(str(root))}  "
        f"(or pass data_dir={str(root)!r} to load_image_dataset)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``data fetch``: data set names and ``--dir``."""
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"data sets to fetch: {', '.join(DATASETS)} (default: both)")
    parser.add_argument("--dir", default=None, metavar="DIR",
                        help="data folder (default: $LSA_DATA_DIR, else "
                             "$XDG_CACHE_HOME/lsa_utils/data or ~/.cache/lsa_utils/data)")


def run_command(args: argparse.Namespace) -> None:
    """Run ``data fetch`` with parsed ``args`` and print how to use the folder; raises on error."""
    folder = fetch(args.names, root=args.dir, progress=sys.stderr.isatty())
    print(usage_hint(folder))


def main(argv: list[str] | None = None) -> int:
    """``python -m lsa_utils.data.fetch [NAME ...] [--dir DIR]``: 0 on success, 2 on an error
    (printed as ``error: ...``). ``python -m lsa_utils data fetch`` is the same command."""
    parser = argparse.ArgumentParser(prog="python -m lsa_utils data fetch", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_command(args)
    except (ValueError, FetchError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
