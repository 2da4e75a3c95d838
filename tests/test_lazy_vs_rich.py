import numpy as np
import pytest
import torch

from lsa_utils.data.synthetic import toy_regression_1d, wavy_target_1d
from lsa_utils.experiments.lazy_vs_rich import loglog_slope, ntk_predictor, runs_table, width_sweep


def test_toy_task_is_stratified_and_seeded():
    task = toy_regression_1d(8, n_test=50, generator=torch.Generator().manual_seed(0))
    bins = torch.floor((task.x_train[:, 0] + 2) / 0.5)
    assert torch.equal(bins, torch.arange(8, dtype=bins.dtype))  # one point per bin of [-2, 2]
    assert torch.allclose(task.y_train, wavy_target_1d(task.x_train))
    assert task.x_test.shape == (50, 1) and float(task.x_test.max()) == pytest.approx(2.5)
    again = toy_regression_1d(8, n_test=50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(task.x_train, again.x_train)


def test_loglog_slope_recovers_a_power_law():
    x = np.array([10, 100, 1000.0])
    assert loglog_slope(x, 3 * x**-0.5) == pytest.approx(-0.5)
    with pytest.raises(ValueError):
        loglog_slope([1, 2], [1, -1])


def test_width_sweep_shows_lazy_and_rich_training():
    """Small but decisive: NTK-parameterized weights move less at larger width, mean-field ones do not."""
    task = toy_regression_1d(10, n_test=60, generator=torch.Generator().manual_seed(0))
    runs, f_ntk = width_sweep(task, [64, 4096], seeds=2, lr=0.5, steps=1000, progress=False)
    table = runs_table(runs).groupby(["parameterization", "width"]).mean(numeric_only=True)
    ntk, mf = table.loc["ntk"], table.loc["mean_field"]
    # the NTK-parameterized weight change shrinks about 8x for a 64x wider network (m^-1/2)
    assert 4 < ntk.weight_change[64] / ntk.weight_change[4096] < 16
    assert mf.weight_change[4096] > 10 * ntk.weight_change[4096]
    assert ntk.distance_to_kernel[4096] < 0.1 < mf.distance_to_kernel[4096]
    assert f_ntk.shape == (60,)
    assert torch.allclose(f_ntk, ntk_predictor(task, 0.5, 1000, 1.0, 1.0))


def test_width_sweep_rejects_bad_sizes():
    task = toy_regression_1d(4)
    with pytest.raises(ValueError, match="widths entry=0"):
        width_sweep(task, [0, 8], seeds=1, lr=0.1, steps=1, progress=False)
    for bad in ([64], [64, 64], [64, 129]):
        with pytest.raises(ValueError, match="at least two different even widths"):
            width_sweep(task, bad, seeds=1, lr=0.1, steps=1, progress=False)
    with pytest.raises(ValueError, match="parameterization='sp'"):
        width_sweep(task, [8, 16], seeds=1, lr=0.1, steps=1, parameterizations=("sp",), progress=False)
