"""Download MNIST and CIFAR-10: ``python -m lsa_utils data fetch [mnist] [cifar10] [--dir DIR]``.

What: the official archives, checked against the md5s torchvision publishes (LeCun publishes none
for MNIST), installed in the layout that ``lsa_utils.data.images`` reads (torchvision's)::

    <root>/MNIST/raw/train-images-idx3-ubyte.gz   uint8 (60000, 28, 28), IDX format, read as .gz
    <root>/MNIST/raw/train-labels-idx1-ubyte.gz   uint8 (60000,)
    <root>/MNIST/raw/t10k-images-idx3-ubyte.gz    uint8 (10000, 28, 28)
    <root>/MNIST/raw/t10k-labels-idx1-ubyte.gz    uint8 (10000,)
    <root>/cifar-10-batches-py/data_batch_1..5    pickled dict: "data" uint8 (10000, 3072), "labels"
    <root>/cifar-10-batches-py/test_batch         the same, the 10,000 test images
    <root>/cifar-10-batches-py/batches.meta       the class names
    <root>/cifar-10-batches-py/.complete          the archive's md5: fetch unpacked it fully

``<root>`` is ``--dir`` (``root=``), else ``$LSA_DATA_DIR``, else :func:`default_data_dir`.

Size: about 180 MB to download (MNIST 11.6 MB + CIFAR-10 170.5 MB); while CIFAR-10 is unpacked the
archive and the unpacked batches are both on disk, about 360 MB at the peak.

Why this way: a chapter that finds half a file, or a folder that a failed download overwrote, gives
wrong numbers or a confusing error long after the fetch. So every file is written to a temporary
name and moved into place only once its md5 matched (pooch does this); a CIFAR-10 unpack goes into
a temporary folder next to ``cifar-10-batches-py`` and replaces it by a rename only when complete.
A failed or corrupt download is retried ``retries`` times per mirror, then the next mirror is
tried, and the final error names the file, every URL tried and why each failed; an error while
writing (no permission, a full disk) is not retried. Files already present are verified (MNIST:
md5 of the 11.6 MB of files; CIFAR-10: the ``.complete`` marker) and not downloaded again.

A ``cifar-10-batches-py`` that fetch did not make (no marker), e.g. a curated shared copy, is never
replaced or deleted: it is accepted when every file has the md5 torchvision publishes for it
(:data:`CIFAR10_FILE_MD5`), and otherwise fetch stops with an error and leaves it alone. Installed
files get the permissions a plain ``open`` would give them (``0o666 & ~umask``; folders
``0o777 & ~umask``), not the 0600 of pooch's temporary files. Staging folders that a killed fetch
left next to ``cifar-10-batches-py`` are removed at the start of the next CIFAR-10 fetch.

Mirrors: MNIST from torchvision's S3 copy, then Google's CVDF copy; CIFAR-10 from Alex
Krizhevsky's page. ``$LSA_MNIST_URL`` / ``$LSA_CIFAR10_URL`` (a base URL) or ``mirrors=`` replace
the list, e.g. for a local copy.

Needs ``pooch`` (``pip install 'lsa-utils[data]'``), imported only when :func:`fetch` runs; this
module itself uses the standard library only (no numpy, no torch).
"""

from __future__ import annotations

import argparse
import errno
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

# file name -> the md5 torchvision publishes for it (tests swap in their fixtures' md5s)
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
}
# unpacked CIFAR-10 file -> the md5 torchvision publishes for it: how a cifar-10-batches-py that
# fetch did not make (no marker) is verified (tests swap in their fixtures' md5s)
CIFAR10_FILE_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
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
# leftovers of a killed fetch next to cifar-10-batches-py, removed by the next CIFAR-10 fetch
STAGING_PATTERNS = (f".{CIFAR10_FOLDER}.partial-*", f".{CIFAR10_FOLDER}.old-*")
# tarfile's "data" extraction filter: Python >= 3.11.4 (and 3.8.17, 3.9.17, 3.10.12)
TAR_DATA_FILTER = hasattr(tarfile, "data_filter")

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}
MIRROR_ENV = {"mnist": "LSA_MNIST_URL", "cifar10": "LSA_CIFAR10_URL"}
RETRY_WAIT_S = 1.0  # seconds before retry k on the same mirror: k * RETRY_WAIT_S
INSTALL_HINT = "pip install 'lsa-utils[data]'"
SIZE_NOTE = {
    "mnist": "11.6 MB for all four files",
    "cifar10": "170.5 MB; about 360 MB of disk while it is unpacked",
}
DESCRIPTION = (
    "Download MNIST and/or CIFAR-10, check them against the md5s torchvision publishes and install "
    "them where the image loaders read them (MNIST/raw/, cifar-10-batches-py/). About 180 MB to "
    "download (MNIST 11.6 MB + CIFAR-10 170.5 MB), about 360 MB of disk at the peak while CIFAR-10 "
    "is unpacked. Files already there are not fetched again; a cifar-10-batches-py that fetch did "
    "not make is used only if its md5s match, and never replaced."
)
# errno values of a failed local write (besides any OSError that names a file)
_WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", -1)}


class FetchError(RuntimeError):
    """A data set could not be downloaded, verified, unpacked or written (the message says which
    and why)."""


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


# ---------------------------------------------------------------- permissions and local errors


def current_umask() -> int:
    """The process's umask. ``os.umask`` can only be read by setting it, so it is set to 0 and
    restored at once (another thread creating a file in between would get mode 0o666/0o777)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _set_default_mode(path: Path, umask: int) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would: ``0o666 & ~umask`` for a file,
    ``0o777 & ~umask`` for a folder. pooch's temporary files are 0600 and ``mkdtemp`` folders 0700,
    which would hide a shared data folder from its other users. A failure is reported, not fatal."""
    mode = (0o777 if path.is_dir() else 0o666) & ~umask
    try:
        path.chmod(mode)
    except OSError as err:
        print(f"  warning: could not set the permissions of {path} to {mode:o}: {err}")


def _set_tree_modes(folder: Path) -> None:
    """:func:`_set_default_mode` for ``folder`` and everything in it (no links are in it)."""
    umask = current_umask()
    _set_default_mode(folder, umask)
    for path in folder.rglob("*"):
        _set_default_mode(path, umask)


def _is_write_error(err: BaseException) -> bool:
    """Whether ``err`` came from writing here (no permission, a full disk, a read-only folder)
    rather than from the network: such an error is not retried."""
    import requests  # pooch's dependency; its exceptions are OSErrors too

    if not isinstance(err, OSError) or isinstance(err, requests.RequestException):
        return False
    if isinstance(err, PermissionError) or err.filename is not None:
        return True
    return err.errno in _WRITE_ERRNOS


def _write_error_message(err: OSError, where: Path) -> str:
    """The :class:`FetchError` text for a failed file operation in ``where``."""
    message = f"could not write {where}: {err}"
    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        message += (" (the download is about 180 MB; unpacking CIFAR-10 needs about 360 MB of "
                    "free disk at the peak)")
    return message


# ---------------------------------------------------------------- pooch


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
    ``name``; on any failure the temporary file is deleted and ``folder/name`` is untouched. An
    error while writing raises :class:`FetchError` at once (retrying would not help).
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
        if _is_write_error(err):
            raise FetchError(
                _write_error_message(err, folder / name) + f" (while downloading {url}; not "
                f"retried); {name} was not installed"
            ) from err
        if downloader.md5 is not None and downloader.md5 != expected:
            return f"checksum mismatch: expected md5 {expected}, got md5 {downloader.md5}"
        if isinstance(err, requests.HTTPError) and err.response is not None:
            return f"HTTP {err.response.status_code} {err.response.reason}"
        return f"{type(err).__name__}: {err}"
    return None


def _download(
    pooch: Any, name: str, folder: Path, bases: Sequence[str], retries: int, progress: bool
) -> None:
    """Install ``folder/name`` from the first mirror that delivers it with the right md5, with the
    permissions of a plain ``open``.

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
                _set_default_mode(folder / name, current_umask())
                return
            print(f"  failed: {reason}")
            failures.append(f"{url}: {reason}")
            if reason.startswith("HTTP 4"):
                break
    tried = "\n".join(f"  {line}" for line in failures)
    raise FetchError(
        f"could not download {name} into {folder} (up to {1 + retries} attempts per mirror); "
        f"{name} was not installed and any copy of it already there is unchanged. "
        f"Attempts:\n{tried}"
    )


# ---------------------------------------------------------------- MNIST


def _mnist_needed(folder: Path) -> list[str]:
    """The MNIST files missing from ``folder`` or whose md5 differs from torchvision's."""
    return [n for n in MNIST_FILES if not (folder / n).is_file() or md5sum(folder / n) != MD5[n]]


def _note_uncompressed_twins(folder: Path) -> None:
    """Say so when ``folder`` also holds uncompressed MNIST files next to the ``.gz`` ones: fetch
    neither checks nor touches them, and the image loaders read the verified ``.gz`` files."""
    plain = [n.removesuffix(".gz") for n in MNIST_FILES]
    twins = [n for n in plain if (folder / n).exists()]
    if twins:
        print(f"mnist: {folder} also holds uncompressed copies ({', '.join(twins)}); fetch does "
              "not check or change them, and the image loaders read the verified .gz files")


def _mnist_kept(installed: Sequence[str], folder: Path) -> str:
    """The end of an MNIST error message: which files this fetch installed before it failed."""
    if not installed:
        return f"No other file in {folder} was changed."
    names = ", ".join(installed)
    return f"Installed in {folder} by this fetch before the failure, and kept: {names}."


def _fetch_mnist(
    pooch: Any, root: Path, bases: Sequence[str], retries: int, progress: bool
) -> None:
    """Install the four MNIST ``.gz`` files in ``root/MNIST/raw`` (each verified, each atomic)."""
    folder = root / MNIST_FOLDER
    needed = _mnist_needed(folder)
    if not needed:
        print(f"mnist: all {len(MNIST_FILES)} files present in {folder} with the right md5; "
              "nothing downloaded")
        _note_uncompressed_twins(folder)
        return
    print(f"mnist: fetching {len(needed)} of {len(MNIST_FILES)} files ({SIZE_NOTE['mnist']}) "
          f"into {folder}")
    installed: list[str] = []
    with _tidy_on_failure(_absent_dirs(folder)):
        for name in needed:
            try:
                _download(pooch, name, folder, bases, retries, progress)
            except FetchError as err:
                raise FetchError(f"{err}\n{_mnist_kept(installed, folder)}") from err
            installed.append(name)
    print(f"mnist: done, {len(MNIST_FILES)} files verified in {folder}")
    _note_uncompressed_twins(folder)


# ---------------------------------------------------------------- CIFAR-10


def cifar10_complete(root: Path) -> bool:
    """Whether ``root/cifar-10-batches-py`` came from a finished unpack of the expected archive:
    its ``.complete`` marker holds the archive's md5 and every batch file is there."""
    folder = root / CIFAR10_FOLDER
    marker = folder / MARKER
    if not marker.is_file() or marker.read_text().strip() != MD5[CIFAR10_ARCHIVE]:
        return False
    return all((folder / m).is_file() for m in CIFAR10_MEMBERS)


def cifar10_mismatches(folder: Path) -> list[str]:
    """Why ``folder`` is not a verified CIFAR-10 folder (empty: it is): each file of
    :data:`CIFAR10_FILE_MD5` that is missing or whose md5 differs from torchvision's."""
    if not folder.is_dir():
        return ["it is not a folder"]
    problems = []
    for name, expected in CIFAR10_FILE_MD5.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif (actual := md5sum(path)) != expected:
            problems.append(f"{name} has md5 {actual}, not {expected}")
    return problems


def _cifar10_usable(root: Path) -> bool:
    """Decide what to do with an existing ``root/cifar-10-batches-py``: ``True`` to use it as it
    is, ``False`` to fetch (it is absent, or fetch made it, marker and all, but it is incomplete
    or from another archive). A folder without the marker, which fetch did not make, is never
    replaced: it is used when every file has torchvision's md5 (no marker is written into it),
    else :class:`FetchError`."""
    folder = root / CIFAR10_FOLDER
    if not os.path.lexists(folder):
        return False
    if cifar10_complete(root):
        print(f"cifar10: {folder} is complete (marker {MARKER}); nothing downloaded")
        return True
    if (folder / MARKER).is_file():
        print(f"cifar10: {folder} is from an unfinished or older fetch; it will be replaced")
        return False
    problems = cifar10_mismatches(folder)
    if problems:
        raise FetchError(
            f"{folder} exists but is not a verified CIFAR-10 folder ({'; '.join(problems)}), and "
            "fetch did not make it (no .complete marker), so fetch will not touch it. Move it "
            "away, or fetch into another folder with --dir (root=)."
        )
    print(f"cifar10: {folder} has every file with the md5 torchvision publishes; "
          "nothing downloaded")
    return True


def _remove_stale_staging(root: Path) -> None:
    """Remove the ``.cifar-10-batches-py.partial-*`` / ``.old-*`` folders that an earlier fetch,
    killed during its unpack or swap, left in ``root`` (a failure is reported, not fatal)."""
    for pattern in STAGING_PATTERNS:
        for path in sorted(root.glob(pattern)):
            print(f"cifar10: removing {path}, left by an earlier fetch that did not finish")
            try:
                _remove(path)
            except OSError as err:
                print(f"  warning: could not remove it: {err}")


def _remove(path: Path) -> None:
    """Delete a folder with its contents, or a file or link (a link's target is left alone)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _check_members(members: Sequence[tarfile.TarInfo], archive: Path) -> None:
    """Refuse to unpack anything but plain files and folders inside the target: no absolute
    path, no ``..``, no link or device (what ``filter="data"`` ensures on newer Pythons)."""
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith(("/", "\\")) or Path(m.name).is_absolute() or ".." in parts:
            raise FetchError(f"{archive} holds an unsafe path {m.name!r}; nothing was unpacked")
        if not (m.isfile() or m.isdir()):
            raise FetchError(
                f"{archive} holds {m.name!r}, which is not a plain file or folder; nothing was "
                "unpacked"
            )


def _extract(
    tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: Path, archive: Path
) -> None:
    """Extract ``members`` into ``dest``: checked by :func:`_check_members`, and with tarfile's
    ``filter="data"`` where this Python has it (>= 3.11.4)."""
    _check_members(members, archive)
    if TAR_DATA_FILTER:
        tar.extractall(dest, members=members, filter="data")
    else:
        tar.extractall(dest, members=members)


def _unpack_cifar10(archive: Path, staging: Path) -> Path:
    """Extract the archive's ``cifar-10-batches-py/`` into ``staging``, check that every batch is
    there, write the marker, set plain permissions; returns the new folder (not yet in place)."""
    prefix = CIFAR10_FOLDER + "/"
    with tarfile.open(archive, "r:gz") as tar:
        members = [
            m for m in tar.getmembers() if m.name == CIFAR10_FOLDER or m.name.startswith(prefix)
        ]
        _extract(tar, members, staging, archive)
    folder = staging / CIFAR10_FOLDER
    missing = [m for m in CIFAR10_MEMBERS if not (folder / m).is_file()]
    if missing:
        raise FetchError(f"{archive} has the right md5 but lacks {prefix}{', '.join(missing)}")
    (folder / MARKER).write_text(MD5[CIFAR10_ARCHIVE] + "\n")
    _set_tree_modes(folder)
    return folder


def _replace_folder(new: Path, target: Path) -> None:
    """Put ``new`` at ``target`` by renames on the same file system; an old ``target`` is moved
    aside first and deleted only once ``new`` is in place, and moved back if that rename fails."""
    if not os.path.lexists(target):
        os.rename(new, target)
        return
    aside = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except OSError as err:
        try:
            os.rename(aside, target)
        except OSError as restore_err:
            raise FetchError(
                f"could not move the new {target.name} into place ({err}) nor the old one back "
                f"({restore_err}): the old one is at {aside}; rename it to {target} by hand"
            ) from err
        raise
    try:
        _remove(aside)
    except OSError:
        pass  # a leftover .old-* folder: the next CIFAR-10 fetch removes it


def _cifar10_archive(
    pooch: Any, root: Path, bases: Sequence[str], retries: int, progress: bool
) -> Path:
    """``root/cifar-10-python.tar.gz`` with the right md5: one left by an earlier fetch whose
    unpack failed, else downloaded."""
    archive = root / CIFAR10_ARCHIVE
    if archive.is_file() and md5sum(archive) == MD5[CIFAR10_ARCHIVE]:
        print(f"cifar10: reusing the verified {archive}")
        return archive
    print(f"cifar10: fetching {CIFAR10_ARCHIVE} ({SIZE_NOTE['cifar10']}) into {root}")
    try:
        _download(pooch, CIFAR10_ARCHIVE, root, bases, retries, progress)
    except FetchError as err:
        raise FetchError(f"{err}\n{root / CIFAR10_FOLDER} was not changed.") from err
    return archive


def _fetch_cifar10(
    pooch: Any, root: Path, bases: Sequence[str], retries: int, progress: bool
) -> None:
    """Download and verify the archive, unpack it next to ``root/cifar-10-batches-py``, swap it
    in, delete the archive. A verified archive left by an earlier failed unpack is reused; an
    existing folder that fetch did not make is used if verified and never replaced."""
    _remove_stale_staging(root)
    if _cifar10_usable(root):
        return
    archive = _cifar10_archive(pooch, root, bases, retries, progress)
    staging = Path(tempfile.mkdtemp(prefix=f".{CIFAR10_FOLDER}.partial-", dir=root))
    try:
        _replace_folder(_unpack_cifar10(archive, staging), root / CIFAR10_FOLDER)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink()
    print(f"cifar10: done, unpacked into {root / CIFAR10_FOLDER}")


_FETCHERS = {"mnist": _fetch_mnist, "cifar10": _fetch_cifar10}


# ---------------------------------------------------------------- the entry points


def _check_datasets(datasets: str | Iterable[str]) -> list[str]:
    """The data set names, checked, without repeats; empty means both."""
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

    About 180 MB to download (MNIST 11.6 MB + CIFAR-10 170.5 MB); about 360 MB of disk at the
    peak while CIFAR-10 is unpacked.

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
        FetchError: pooch is missing; a file could not be downloaded with the md5 torchvision
            publishes from any mirror (the message names it, every URL tried and each reason);
            writing failed (the message names the path; not retried); or an existing
            ``cifar-10-batches-py`` that fetch did not make does not verify. The file that failed
            and any folder fetch did not make are left as they were; MNIST files installed
            before the failure stay, and the message names them.
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
    try:
        with _tidy_on_failure(_absent_dirs(folder)), _quiet_pooch(pooch):
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                _FETCHERS[name](pooch, folder, bases[name], retries, progress)
    except OSError as err:  # a local file operation: no permission, a full disk, ...
        raise FetchError(_write_error_message(err, folder)) from err
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
