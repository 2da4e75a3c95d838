"""The benchmark's bookkeeping (lsa_utils.experiments.kernel_speed): operation counts and pairs."""

import torch

from lsa_utils.experiments.kernel_speed import count_operations, operations_per_pair, pairs_evaluated
from lsa_utils.kernels import Conv, Dense, Flatten, Relu, serial


def test_operations_of_known_calls():
    a, b = torch.randn(4, 5), torch.randn(5, 3)
    assert count_operations(lambda: a @ b) == 2 * 4 * 5 * 3  # a matrix product: 2 m n k
    x = torch.randn(10)
    assert count_operations(lambda: x + x) == 10  # one per element
    assert count_operations(lambda: x.view(2, 5).T) == 0  # views cost nothing
    assert count_operations(lambda: (x * 2).sum()) == 20


def test_operations_per_pair_is_the_second_difference():
    """a of ops(n1, n2) = a n1 n2 + b (n1 + n2) + c, against a direct second difference at m = 3
    and the same fit at m = 5 (the count is exactly of that form for this kernel)."""
    kernel = serial(Conv(4, 3), Relu(), Flatten(), Dense())
    x = torch.randn(12, 1, 5, 5)
    ops = {(p, q): count_operations(lambda p=p, q=q: kernel(x[:p], x[:q])) for p, q in [(3, 3), (3, 6), (6, 6)]}
    direct = (ops[6, 6] - 2 * ops[3, 6] + ops[3, 3]) / 9
    assert operations_per_pair(kernel, x, m=3) == direct
    assert abs(operations_per_pair(kernel, x, m=5) - direct) <= 0.02 * direct
    assert direct > 5 * 5  # at least one operation per pixel pair


def test_pairs_evaluated_counts_whole_blocks_on_and_above_the_diagonal():
    kernel = serial(Dense(4), Relu(), Dense(), memory_budget=6 * 3 * 3 * 4)  # blocks of 3 (float32, 1 per pair)
    x = torch.randn(8, 5)
    assert kernel.block_size(1, 4) == 3
    assert pairs_evaluated(kernel, x) == 9 + 9 + 6 + 9 + 6 + 4  # blocks of 3, 3, 2
