"""Small significance tests the claims use, exact where the sample is small."""

from __future__ import annotations

import itertools
import math

import numpy as np

EXACT_MAX_N = 9  # 9! = 362,880 permutations: exact; above, the t approximation


def _ranks(x) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(np.asarray(x, dtype=float))


def spearman_rho(x, y) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    rx, ry = _ranks(x), _ranks(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def spearman_p_greater(x, y) -> float:
    """One-sided p-value of Spearman's rho against 'no association' (alternative: rho > 0).

    Exact (all n! orderings of ``y``'s ranks) for n <= 9; Student-t approximation above.
    NaN for fewer than 3 points or a constant input (so a claim on it fails).
    """
    n = len(x)
    if n < 3 or len(y) != n or np.ptp(_ranks(x)) == 0 or np.ptp(_ranks(y)) == 0:
        return float("nan")  # no ranking to compare (too few points, or a constant input)
    rho = spearman_rho(x, y)
    if n <= EXACT_MAX_N:
        rx, ry = _ranks(x), _ranks(y)
        perms = np.array(list(itertools.permutations(ry)))
        rx_c = rx - rx.mean()
        num = (perms - ry.mean()) @ rx_c
        denom = math.sqrt(((rx_c) ** 2).sum() * ((ry - ry.mean()) ** 2).sum())
        null = num / denom
        return float(np.mean(null >= rho - 1e-12))
    from scipy.stats import t as student_t

    if rho >= 1:
        return 0.0
    t = rho * math.sqrt((n - 2) / (1 - rho**2))
    return float(student_t.sf(t, n - 2))


EXACT_MAX_SPLITS = 200_000


def mann_whitney_p_less(x, y) -> float:
    """One-sided p-value that values ``x`` tend to be smaller than ``y``: the Mann-Whitney rank
    sum of ``x``, exact over all splits of the pooled ranks (ties as mid-ranks) when there are at
    most 200,000 of them, else scipy's normal approximation. ``inf`` entries (never reached) are
    the largest values, tied with each other."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    if math.comb(len(x) + len(y), len(x)) > EXACT_MAX_SPLITS:
        from scipy.stats import mannwhitneyu

        finite = np.concatenate([x, y])
        big = np.max(np.abs(finite[np.isfinite(finite)]), initial=1.0) * 10
        return float(mannwhitneyu(np.where(np.isfinite(x), x, big), np.where(np.isfinite(y), y, big),
                                  alternative="less").pvalue)
    ranks = _ranks(np.concatenate([x, y]))  # rankdata puts inf last and ties them
    observed = ranks[: len(x)].sum()
    sums = np.array([ranks[list(pick)].sum() for pick in itertools.combinations(range(len(ranks)), len(x))])
    return float(np.mean(sums <= observed + 1e-9))


def t_p_less(values) -> float:
    """One-sided p-value that the mean of ``values`` is below 0 (one-sample t-test; a paired test
    when the values are paired differences). NaN for fewer than 2 values."""
    from scipy.stats import ttest_1samp

    values = np.asarray(values, dtype=float)
    return float(ttest_1samp(values, 0.0, alternative="less").pvalue) if len(values) >= 2 else math.nan


def welch_p_greater(x, y) -> float:
    """One-sided Welch p-value that the mean of ``x`` exceeds that of ``y``. NaN when either
    sample has fewer than 2 values."""
    from scipy.stats import ttest_ind

    if len(x) < 2 or len(y) < 2:
        return math.nan
    return float(ttest_ind(np.asarray(x, dtype=float), np.asarray(y, dtype=float), equal_var=False,
                           alternative="greater").pvalue)


def mcnemar_p_greater(only_first: int, only_second: int) -> float:
    """One-sided exact McNemar (sign) test on paired outcomes: the p-value that the first method
    succeeds more often than the second, from the discordant pairs only (``only_first``: pairs
    where only the first succeeded, ``only_second``: only the second), P(Binomial(b + c, 1/2) >= b).
    1.0 when there is no discordant pair."""
    from scipy.stats import binom

    trials = only_first + only_second
    return float(binom.sf(only_first - 1, trials, 0.5)) if trials else 1.0


def partial_spearman(x, y, z) -> float:
    """Spearman's correlation of ``x`` and ``y`` with ``z`` partialled out: the partial
    correlation of the ranks, ``(r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))``. NaN
    when ``z``'s ranks determine those of ``x`` or ``y`` (nothing is left to correlate) or ``x``
    or ``y`` is constant; Spearman's rho of ``x`` and ``y`` when ``z`` is constant."""
    if np.ptp(_ranks(z)) == 0:  # a constant control explains nothing
        return spearman_rho(x, y)
    r_xy, r_xz, r_yz = spearman_rho(x, y), spearman_rho(x, z), spearman_rho(y, z)
    denom = (1 - r_xz**2) * (1 - r_yz**2)
    return float((r_xy - r_xz * r_yz) / math.sqrt(denom)) if denom > 1e-12 else float("nan")


def partial_spearman_p_greater(x, y, z) -> float:
    """One-sided p-value that the partial Spearman correlation of ``x`` and ``y`` given ``z`` is
    positive: Student's t with n - 3 degrees of freedom, ``t = r sqrt((n - 3) / (1 - r^2))`` (an
    approximation for small n). NaN for fewer than 4 points or an undefined correlation."""
    from scipy.stats import t as student_t

    n, r = len(x), partial_spearman(x, y, z)
    if n < 4 or math.isnan(r):
        return float("nan")
    if r >= 1:
        return 0.0
    return float(student_t.sf(r * math.sqrt((n - 3) / (1 - r**2)), n - 3))
