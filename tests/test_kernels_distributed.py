"""Gram matrices in tiles (lsa_utils.kernels.distributed): in one process, resumed after an
interruption, and on a 2-worker Dask cluster that loses a worker mid-run."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lsa_utils.kernels import Conv, Dense, Flatten, Relu, serial
from lsa_utils.kernels.distributed import gram, tiles

KERNEL = serial(Conv(4, 3), Relu(), Conv(4, 3, stride=2), Relu(), Flatten(), Dense())
# A kernel computed in other blocks differs by rounding (1e-16), which ReLU's arc-cosine turns into
# about 1e-9 relative on the diagonal (theta ~ sqrt(rounding) for identical inputs); off the
# diagonal the matrices agree to 1e-16. The same tiles give the same bits.
ROUNDING = 1e-8


def same(a, b, tolerance=ROUNDING):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() <= tolerance * np.abs(b).max()


def inputs(n, seed=0):
    return torch.randn(n, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)).numpy()


class Counting:
    """A kernel that counts its calls (same repr as the kernel it wraps, so a store accepts it)."""

    def __init__(self, kernel):
        self.kernel, self.calls = kernel, 0

    def __call__(self, a, b=None, get="ntk"):
        self.calls += 1
        return self.kernel(a, b, get=get)

    def __repr__(self):
        return repr(self.kernel)


class DiesOnce:
    """A kernel whose worker process dies (``os._exit``) the first time it computes any tile,
    anywhere in the cluster (a marker file says it happened)."""

    def __init__(self, kernel, marker: str):
        self.kernel, self.marker = kernel, marker

    def __call__(self, a, b=None, get="ntk"):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return self.kernel(a, b, get=get)

    def __repr__(self):
        return repr(self.kernel)


@pytest.fixture(autouse=True)
def one_thread():
    """Workers compute with one thread; so does this process, so that rounding is the same."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiles_cover_the_matrix_once():
    spans = tiles(13, 13, 5, symmetric=True)
    assert spans == [(0, 5, 0, 5), (0, 5, 5, 10), (0, 5, 10, 13), (5, 10, 5, 10), (5, 10, 10, 13), (10, 13, 10, 13)]
    covered = np.zeros((13, 13), int)
    for i0, i1, j0, j1 in tiles(13, 7, 5, symmetric=False):
        covered[i0:i1, j0:j1] += 1
    assert (covered[:, :7] == 1).all()


def test_in_process_tiles_give_the_single_call():
    x, y = inputs(13), inputs(7, seed=1)
    whole = KERNEL(torch.from_numpy(x)).numpy()
    tiled = gram(KERNEL, x, tile=5)
    assert same(tiled, whole) and np.array_equal(tiled, tiled.T)
    off_diagonal = ~np.eye(13, dtype=bool)
    assert same(tiled[off_diagonal], whole[off_diagonal], 1e-14)
    assert np.array_equal(gram(KERNEL, x, tile=5), tiled)  # deterministic
    cross = gram(KERNEL, x, y, get="nngp", tile=4)
    assert same(cross, KERNEL(torch.from_numpy(x), torch.from_numpy(y), get="nngp").numpy())


def test_an_interrupted_computation_resumes_where_it_stopped(tmp_path):
    x = inputs(13)
    store = tmp_path / "gram.npy"

    def stop_after_three(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gram(KERNEL, x, tile=5, store=store, progress=stop_after_three)
    counting = Counting(KERNEL)
    seen = []
    result = gram(counting, x, tile=5, store=store, progress=lambda done, total: seen.append((done, total)))
    assert counting.calls == 3  # 6 tiles, 3 of them already on disk
    assert seen == [(4, 6), (5, 6), (6, 6)]
    assert np.array_equal(np.load(store), gram(KERNEL, x, tile=5))  # as if never interrupted
    assert np.array_equal(result, np.load(store))
    again = Counting(KERNEL)
    gram(again, x, tile=5, store=store)
    assert again.calls == 0  # everything is done


def test_a_store_for_other_inputs_or_tiles_is_refused(tmp_path):
    store = tmp_path / "gram.npy"
    gram(KERNEL, inputs(6), tile=4, store=store)
    with pytest.raises(ValueError, match="inputs_sha256"):
        gram(KERNEL, inputs(6, seed=2), tile=4, store=store)
    with pytest.raises(ValueError, match="tile"):
        gram(KERNEL, inputs(6), tile=3, store=store)


def test_a_file_that_is_not_a_store_is_not_overwritten(tmp_path):
    other = tmp_path / "results.npy"
    np.save(other, np.arange(3.0))
    with pytest.raises(ValueError, match="not a store of gram"):
        gram(KERNEL, inputs(5), store=other)
    assert np.array_equal(np.load(other), np.arange(3.0))
    assert np.array_equal(gram(KERNEL, inputs(5), store=other, overwrite=True), gram(KERNEL, inputs(5)))


def test_a_plain_function_resumes_under_its_key(tmp_path):
    """A function's repr holds its address, which changes between runs: a key identifies it."""
    store = tmp_path / "gram.npy"
    first = gram(lambda a, b=None, get="ntk": KERNEL(a, b, get=get), inputs(6), tile=4, store=store, key="cnn")
    counting = Counting(KERNEL)
    again = gram(counting, inputs(6), tile=4, store=store, key="cnn")
    assert counting.calls == 0 and np.array_equal(again, first)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="executor"):
        gram(KERNEL, inputs(4), executor="spark")
    with pytest.raises(ValueError, match="trailing shape"):
        gram(KERNEL, inputs(4), inputs(4)[:, :, :5])
    with pytest.raises(ValueError, match="get"):
        gram(KERNEL, inputs(4), get="cov")


@pytest.fixture(scope="module")
def two_workers():
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_a_two_worker_cluster_gives_the_single_process_matrix(two_workers):
    x = inputs(13)
    assert len(two_workers.scheduler_info()["workers"]) == 2
    result = gram(KERNEL, x, tile=4, executor=two_workers)
    assert np.array_equal(result, gram(KERNEL, x, tile=4))


def test_a_killed_worker_changes_nothing(two_workers, tmp_path):
    """The first tile kills its worker's process; the scheduler reruns it elsewhere (or on the
    restarted worker) and the matrix on disk is the single-process one."""
    x = inputs(13)
    marker = tmp_path / "killed"
    store = tmp_path / "gram.npy"
    result = gram(DiesOnce(KERNEL, str(marker)), x, tile=4, executor=two_workers, store=store)
    assert marker.exists()  # a worker did die
    assert np.array_equal(result, gram(KERNEL, x, tile=4))
    assert np.array_equal(np.load(store), np.asarray(result))


def test_a_local_cluster_started_for_the_call():
    pytest.importorskip("distributed")
    x = inputs(9)
    assert np.array_equal(gram(KERNEL, x, tile=4, executor="local"), gram(KERNEL, x, tile=4))
