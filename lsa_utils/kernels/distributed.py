"""Gram matrices too large for one process: tiles computed on a Dask cluster, written to disk.

    from lsa_utils.kernels import gram, myrtle_kernel
    k = gram(myrtle_kernel(5), x, store="myrtle5.npy", executor="local")   # one worker per device
    k = gram(myrtle_kernel(5), x, store="myrtle5.npy", executor=Client("tcp://scheduler:8786"))

The matrix is cut into ``tile x tile`` tiles (for a symmetric matrix, ``x2=None``, only the tiles
on and above the diagonal; the others are their transposes). Each tile is one task,
``kernel(x1[rows], x2[cols], get=get)``, run where the executor sends it:

- ``executor=None``: in this process, one tile after the other;
- ``executor="local"``: a ``dask.distributed.LocalCluster`` started for the call, one worker per
  CUDA device (each task on its worker's GPU) or, without a GPU, one single-threaded worker per
  available core;
- a ``dask.distributed.Client``: the cluster it is connected to.

The client process alone writes: each finished tile goes into the store, an ``.npy`` file opened as
a ``numpy`` memmap, and is then marked done in a small companion file ``<store>.tiles.json``
(which also records what the matrix is of: the shapes, the tile, ``get``, the kernel and a hash
of the inputs). A rerun with the same store skips the tiles marked done, so an interrupted
computation resumes where it stopped; a store made for other inputs, another kernel or another
tiling is refused, not silently mixed. A tile is marked done only after it is flushed, so a
crash between the two recomputes it. If a worker dies, Dask's scheduler reruns its tasks on the
workers left (or on the one its nanny restarts); the result is the same matrix, since every tile
is a pure function of its inputs.

Each tile is computed by the same code as in one process: on CPU the cluster's matrix is bit for
bit the one ``gram`` computes in one process with the same tile and one thread (the tests check
it, with a worker killed too; other thread counts may change the rounding of some reductions).
Against a single call ``kernel(x1, x2)``, which blocks the pairs differently, entries differ by
rounding (1e-16 relative off the diagonal); ReLU's arc-cosine amplifies the rounding of identical
inputs, so diagonal entries agree to about 1e-9 in float64.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from ..validation import check_choice, check_positive_int

GETS = ("nngp", "ntk")
DEFAULT_TILE = 512
GPU_BY_WORKER_NAME = "LSA_GPU_BY_WORKER_NAME"  # set by local_cluster: worker k takes cuda:k


def tiles(n1: int, n2: int, tile: int, symmetric: bool) -> list[tuple[int, int, int, int]]:
    """``(row start, row end, column start, column end)`` of every tile to compute; for a
    symmetric matrix only those on and above the diagonal."""
    return [(i, min(i + tile, n1), j, min(j + tile, n2))
            for i in range(0, n1, tile) for j in range(i if symmetric else 0, n2, tile)]


def _fingerprint(kernel, x1: np.ndarray, x2: np.ndarray | None, tile: int, get: str, key: str | None) -> dict:
    digest = hashlib.sha256()
    for x in (x1, x2):
        if x is not None:
            digest.update(str((x.shape, x.dtype.str)).encode())
            digest.update(memoryview(np.ascontiguousarray(x)).cast("B"))
    return {"shape": [len(x1), len(x1 if x2 is None else x2)], "symmetric": x2 is None, "tile": tile, "get": get,
            "dtype": x1.dtype.str, "kernel": repr(kernel) if key is None else key, "inputs_sha256": digest.hexdigest()}


class TileStore:
    """The matrix (an ``.npy`` memmap at ``path``, or in memory for ``path=None``) and the record
    of its finished tiles (module docstring)."""

    def __init__(self, path: str | os.PathLike | None, fingerprint: dict, overwrite: bool = False) -> None:
        self.fingerprint, self.done = fingerprint, set()
        shape, dtype = tuple(fingerprint["shape"]), np.dtype(fingerprint["dtype"])
        if path is None:
            self.path = self.record = None
            self.matrix = np.empty(shape, dtype=dtype)
            return
        self.path = Path(path)
        self.record = self.path.with_name(self.path.name + ".tiles.json")
        if self.path.exists() and not self.record.exists() and not overwrite:
            raise ValueError(f"{self.path} exists and is not a store of gram (no {self.record.name} beside it); "
                             "give another path, or overwrite=True to replace it")
        if self.record.exists() and self.path.exists() and not overwrite:
            saved = json.loads(self.record.read_text())
            if saved["fingerprint"] != fingerprint:
                differ = sorted(k for k in fingerprint if saved["fingerprint"].get(k) != fingerprint[k])
                raise ValueError(f"the store {self.path} holds another Gram matrix (it differs in {', '.join(differ)}); "
                                 "give another store path, or delete it and its .tiles.json to start over")
            self.done = {tuple(t) for t in saved["done"]}
            self.matrix = np.load(self.path, mmap_mode="r+")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.matrix = np.lib.format.open_memmap(self.path, mode="w+", dtype=dtype, shape=shape)
            self._save()

    def _save(self) -> None:
        """Flush the matrix, then replace the record atomically: a killed process leaves the old
        record or the new one, and a tile is marked done only once its values are on disk (both
        synced, so that a crash of the machine keeps the same promise)."""
        if self.record is None:
            return
        self.matrix.flush()
        tmp = self.record.with_name(self.record.name + ".tmp")
        with open(tmp, "w") as handle:
            handle.write(json.dumps({"fingerprint": self.fingerprint, "done": sorted(self.done)}))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.record)

    def write(self, span: tuple[int, int, int, int], values: np.ndarray) -> None:
        """Put one tile (and, for a symmetric matrix, its transpose) in place; then mark it done."""
        i0, i1, j0, j1 = span
        self.matrix[i0:i1, j0:j1] = values
        if self.fingerprint["symmetric"] and i0 != j0:
            self.matrix[j0:j1, i0:i1] = values.T
        self.done.add(span)
        self._save()


def _tile_values(kernel, x1, x2, span, get: str, device: str) -> np.ndarray:
    """One tile, ``kernel(x1[rows], x2[cols], get=get)`` as numpy (run by a worker or in process)."""
    i0, i1, j0, j1 = span
    dev = torch.device(device)
    a = torch.as_tensor(x1[i0:i1], device=dev)
    b = torch.as_tensor((x1 if x2 is None else x2)[j0:j1], device=dev)
    out = kernel(a, None if (x2 is None and i0 == j0 and i1 == j1) else b, get=get)
    return out.detach().cpu().numpy()


def _worker_device() -> str:
    """The GPU of this Dask worker, or ``"cpu"``. Worker ``k`` of ``local_cluster`` (which sets
    ``GPU_BY_WORKER_NAME`` in its workers' environment) takes ``cuda:k``; any other worker takes
    ``cuda:0``, the GPU a dask-cuda worker (or one started by hand with its own
    ``CUDA_VISIBLE_DEVICES``) sees first."""
    if not torch.cuda.is_available():
        return "cpu"
    from distributed import get_worker

    name = str(get_worker().name)
    index = int(name) if os.environ.get(GPU_BY_WORKER_NAME) and name.isdigit() else 0
    index %= torch.cuda.device_count()
    torch.cuda.set_device(index)  # so that nothing else of the task lands on GPU 0
    return f"cuda:{index}"


def _worker_tile(kernel, x1, x2, span, get: str) -> np.ndarray:
    """A task on a Dask worker: one tile on the worker's device (``_worker_device``). On CPU a
    task uses one thread: a worker runs as many tasks at once as it has threads."""
    device = _worker_device()
    if device == "cpu":
        torch.set_num_threads(1)
    return _tile_values(kernel, x1, x2, span, get, device)


def available_cores() -> int:
    """Cores this process may use (its CPU affinity, which containers narrow; else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_cluster(n_workers: int | None = None):
    """A ``LocalCluster`` of single-threaded worker processes: one per CUDA device, or one per
    available core (``n_workers`` to choose)."""
    from distributed import LocalCluster

    if n_workers is None:
        n_workers = torch.cuda.device_count() if torch.cuda.is_available() else available_cores()
    check_positive_int("n_workers", n_workers)
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                        env={GPU_BY_WORKER_NAME: "1"})


def _results_from_cluster(client, kernel, x1, x2, todo, get: str) -> Iterator[tuple[tuple, np.ndarray]]:
    from distributed import as_completed

    x1_future = client.scatter(x1, broadcast=True)
    x2_future = None if x2 is None else client.scatter(x2, broadcast=True)
    futures = {client.submit(_worker_tile, kernel, x1_future, x2_future, span, get, pure=False): span
               for span in todo}
    for future in as_completed(futures):
        span = futures.pop(future)  # once written, a tile leaves the cluster's memory
        values = future.result()
        future.release()
        yield span, values


def gram(kernel: Callable, x1, x2=None, *, get: str = "ntk", executor=None, store: str | os.PathLike | None = None,
         tile: int = DEFAULT_TILE, device: str = "cpu", progress: Callable[[int, int], None] | None = None,
         key: str | None = None, overwrite: bool = False) -> np.ndarray:
    """The Gram matrix ``kernel(x1, x2, get=get)``, computed in tiles (module docstring).

    Args:
        kernel: a ``SerialKernel`` or any picklable callable ``kernel(a, b, get=...)`` that takes
            torch tensors (``b`` may be ``None`` for ``a`` against itself).
        x1: inputs, shape ``(n1, ...)`` (numpy or torch). x2: ``(n2, ...)``, or ``None`` for ``x1``.
        get: ``"ntk"`` or ``"nngp"``.
        executor: ``None`` (this process), ``"local"`` (a local cluster for this call) or a
            ``dask.distributed.Client``.
        store: an ``.npy`` path for the matrix and the resumable record of finished tiles; ``None``
            keeps the matrix in memory (nothing to resume).
        tile: rows and columns per task.
        device: where tiles computed in this process run (``executor=None``).
        progress: called as ``progress(tiles done, tiles in all)`` after each tile.
        key: what the store records as the kernel's identity (default ``repr(kernel)``, which
            names a ``SerialKernel``'s layers; give a key for a plain function, whose repr holds
            a memory address that changes between runs).
        overwrite: start the store afresh even if it holds finished tiles (or is another file).

    Returns: the ``(n1, n2)`` matrix (the store's memmap when ``store`` is given).
    """
    check_choice("get", get, GETS)
    check_positive_int("tile", tile)
    x1 = x1.detach().cpu().numpy() if isinstance(x1, torch.Tensor) else np.asarray(x1)
    if x2 is not None:
        x2 = x2.detach().cpu().numpy() if isinstance(x2, torch.Tensor) else np.asarray(x2)
        if x2.shape[1:] != x1.shape[1:] or x2.dtype != x1.dtype:
            raise ValueError(f"x2 must have trailing shape {x1.shape[1:]} and dtype {x1.dtype}; "
                             f"got {x2.shape} {x2.dtype}")
    if len(x1) == 0 or (x2 is not None and len(x2) == 0):
        raise ValueError("x1 and x2 must hold at least one input each")
    if not (executor is None or executor == "local" or hasattr(executor, "submit")):
        raise ValueError(f"executor={executor!r} is not allowed; give None, 'local' or a dask.distributed.Client")
    fingerprint = _fingerprint(kernel, x1, x2, tile, get, key)
    n1, n2 = fingerprint["shape"]
    target = TileStore(store, fingerprint, overwrite)
    spans = tiles(n1, n2, tile, x2 is None)
    todo = [span for span in spans if span not in target.done]
    if executor is None:
        results = ((span, _tile_values(kernel, x1, x2, span, get, device)) for span in todo)
    else:
        results = _cluster_results(executor, kernel, x1, x2, todo, get)
    for span, values in results:
        target.write(span, values)
        if progress is not None:
            progress(len(target.done), len(spans))
    return target.matrix


def _cluster_results(executor, kernel, x1, x2, todo, get):
    if executor != "local":
        yield from _results_from_cluster(executor, kernel, x1, x2, todo, get)
        return
    from distributed import Client

    with local_cluster() as cluster, Client(cluster) as client:
        yield from _results_from_cluster(client, kernel, x1, x2, todo, get)
