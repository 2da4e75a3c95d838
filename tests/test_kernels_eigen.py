"""The matrix-free NTK eigensolver (lsa_utils.kernels.eigen) against the dense Gram and eigh."""

import pytest
import torch
from torch import nn

from lsa_utils.kernels import empirical_ntk
from lsa_utils.kernels.eigen import (
    ntk_eigen_residuals, ntk_eigenpairs, ntk_rayleigh_quotients, ntk_vector_product, principal_angles,
)


def mlp(outputs=1, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, outputs)).to(dtype)


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 8), nn.ReLU(), nn.Linear(8, 1)).double()


def dense_top(model, x, count):
    values, vectors = torch.linalg.eigh(empirical_ntk(model, x).double())
    return values.flip(0)[:count], vectors.flip(1)[:, :count]


@pytest.mark.parametrize("outputs", [1, 3])
def test_ntk_vector_product_is_the_gram_times_the_vector(outputs):
    model = mlp(outputs)
    x = torch.randn(37, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    v = torch.randn(37, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    product = ntk_vector_product(model, x, batch_size=10)(v)  # batches of 10, 10, 10, 7
    assert torch.allclose(product, empirical_ntk(model, x) @ v, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make,shape", [(mlp, (6,)), (small_cnn, (2, 6, 6))], ids=["mlp", "cnn"])
def test_lanczos_eigenpairs_match_the_dense_eigh(make, shape):
    model = make()
    x = torch.randn(80, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    found = ntk_eigenpairs(model, x, count=6, batch_size=32)
    values, vectors = dense_top(model, x, 6)
    assert found.values.shape == (6,) and found.vectors.shape == (80, 6)
    assert torch.all(found.values[:-1] >= found.values[1:])  # largest first
    assert torch.allclose(found.values, values, rtol=1e-6, atol=0)
    assert principal_angles(found.vectors, vectors).max() < 1e-5
    for j in range(6):  # each vector, not only the span (the top eigenvalues are distinct here)
        assert (values[j] - values[j + 1 if j < 5 else j - 1]).abs() > 1e-3 * values[0]
        assert abs(abs(float(found.vectors[:, j] @ vectors[:, j])) - 1) < 1e-8
    assert torch.allclose(found.vectors.T @ found.vectors, torch.eye(6, dtype=torch.float64), atol=1e-10)
    assert found.products > 0


def test_float32_models_give_eigenvalues_to_float32_accuracy():
    model = mlp(dtype=torch.float32)
    x = torch.randn(60, 6, generator=torch.Generator().manual_seed(4))
    found = ntk_eigenpairs(model, x, count=4, tol=1e-6)
    values, _ = dense_top(model.double(), x.double(), 4)
    assert torch.allclose(found.values, values, rtol=1e-5)


def test_principal_angles_of_known_subspaces():
    e = torch.eye(4, dtype=torch.float64)
    rotated = torch.stack([e[0], torch.cos(torch.tensor(0.3, dtype=torch.float64)) * e[1] + torch.sin(torch.tensor(0.3, dtype=torch.float64)) * e[2]], 1)
    angles = principal_angles(e[:, :2], rotated.double())
    assert torch.allclose(angles, torch.tensor([0.0, 0.3], dtype=torch.float64), atol=1e-7)


def test_asking_for_n_eigenpairs_is_refused():
    x = torch.randn(5, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="at most N - 1"):
        ntk_eigenpairs(mlp(), x, count=5)


@pytest.mark.parametrize("outputs", [1, 3])
def test_rayleigh_quotients_without_the_gram_match_the_dense_ones(outputs):
    model = mlp(outputs)
    x = torch.randn(41, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    vectors = torch.randn(41, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    gram = empirical_ntk(model, x)
    dense = torch.einsum("ij,ik,kj->j", vectors, gram, vectors) / vectors.pow(2).sum(0)
    # blocks of 4 columns (4, 4, 3) and passes of 10 // 4 = 2 inputs: every remainder taken
    found = ntk_rayleigh_quotients(model, x, vectors, batch_size=10, block=4)
    assert found.shape == (11,) and found.dtype == torch.float64
    assert torch.allclose(found, dense, rtol=1e-10, atol=0)
    assert (found.max() / found.min()) > 1.5  # the directions differ: a constant would not pass
    # with split = 15, the whole and both diagonal blocks from the same pass, as the official ntk_comparison
    split = ntk_rayleigh_quotients(model, x, vectors, batch_size=10, block=4, split=15)
    assert split.shape == (3, 11) and torch.allclose(split[0], dense, rtol=1e-10, atol=0)
    for row, rows in [(1, slice(0, 15)), (2, slice(15, None))]:
        v, block = vectors[rows], gram[rows, rows]
        assert torch.allclose(split[row], torch.einsum("ij,ik,kj->j", v, block, v) / v.pow(2).sum(0), rtol=1e-10, atol=0)
    assert not torch.allclose(split[1], split[0], rtol=1e-2)  # a block is not the whole kernel


def test_rayleigh_quotients_refuse_vectors_of_the_wrong_length_and_a_split_outside():
    x = torch.randn(5, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"must be \(N, m\)"):
        ntk_rayleigh_quotients(mlp(), x, torch.ones(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"split=5 is not allowed"):
        ntk_rayleigh_quotients(mlp(), x, torch.ones(5, 2, dtype=torch.float64), split=5)


def test_residuals_tell_converged_eigenpairs_from_ritz_pairs_that_are_not():
    """A Ritz pair from a small Krylov space has a Rayleigh quotient equal to its Ritz value, as an
    eigenpair does; only the residual ||Theta phi - lambda phi|| / lambda tells them apart."""
    model = mlp()
    x = torch.randn(80, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    gram = empirical_ntk(model, x)
    values, vectors = dense_top(model, x, 5)
    assert max(ntk_eigen_residuals(model, x, values, vectors, [1, 3, 5], batch_size=32).values()) < 1e-10
    krylov = [torch.randn(80, dtype=torch.float64, generator=torch.Generator().manual_seed(8))]
    for _ in range(5):  # a 6-dimensional Krylov space, Rayleigh-Ritz in it
        krylov.append(gram @ krylov[-1])
    basis, _ = torch.linalg.qr(torch.stack(krylov, 1))
    ritz_values, small = torch.linalg.eigh(basis.T @ gram @ basis)
    ritz_vectors = basis @ small
    assert torch.allclose((ritz_vectors * (gram @ ritz_vectors)).sum(0), ritz_values, rtol=1e-10)  # quotient = value
    residuals = ntk_eigen_residuals(model, x, ritz_values.flip(0), ritz_vectors.flip(1), [1, 2, 3, 4, 5, 6])
    assert residuals[1] < 1e-3 < max(residuals.values())  # the top one has converged, the rest have not
    with pytest.raises(ValueError, match=r"indices=\[7\] is not allowed"):
        ntk_eigen_residuals(model, x, ritz_values, ritz_vectors, [7])


def test_batchnorm_in_train_mode_is_refused_before_any_buffer_changes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1)).double().train()
    x = torch.randn(20, 6, dtype=torch.float64)
    before = model[1].running_mean.clone()
    for call in (lambda: ntk_vector_product(model, x), lambda: ntk_rayleigh_quotients(model, x, x[:, :2])):
        with pytest.raises(ValueError, match="BatchNorm '1' is in train mode"):
            call()
    assert torch.equal(model[1].running_mean, before) and model[1].num_batches_tracked == 0
    model.eval()
    assert ntk_rayleigh_quotients(model, x, x[:, :2]).shape == (2,)


def test_the_eigen_benchmark_runs_a_chapter_model_and_stops_at_its_budget(tmp_path, monkeypatch, capsys):
    """benchmarks/ntk_eigen.py on chapter 4's LeNet at tiny sizes: both paths agree, and a size
    whose extrapolated Lanczos time passes --budget-s is skipped."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ntk_eigen.py"
    spec = importlib.util.spec_from_file_location("ntk_eigen_benchmark", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setenv("LSA_ROOT", str(tmp_path))
    assert script.main(["--model", "lenet", "--sizes", "40,60,1000000", "--count", "3", "--device", "cpu",
                        "--budget-s", "30"]) == 0
    record = json.loads((tmp_path / "results" / "benchmarks" / "ntk-eigen-lenet-cpu.json").read_text())
    assert record["model"] == "lenet" and [r["n"] for r in record["rows"]] == [40, 60]
    for row in record["rows"]:  # float32 products against the float32 Gram matrix
        assert row["max_rel_eigenvalue_diff"] < 1e-4 and row["max_principal_angle"] < 1e-2
    assert "N = 1,000,000: skipped" in capsys.readouterr().out
