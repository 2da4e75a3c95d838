"""The claims of every chapter: kinds, thresholds and verdicts from small recorded values.

Each chapter's ``lsa_utils.claims.<chapter>.claims`` is fed values with known verdicts, one
set where the paper's claims hold and one where they fail, so a threshold or a comparison that
drifts is caught without running a chapter.
"""

import math

import numpy as np
import pytest

from lsa_utils.claims import chapter_claims, check, claims_markdown, compare, finding, paper_claim, tally
from lsa_utils.claims.stats import (
    mann_whitney_p_less, mcnemar_p_greater, partial_spearman, partial_spearman_p_greater, spearman_p_greater,
    spearman_rho, t_p_less, welch_p_greater,
)
from lsa_utils.run.results import Claim, claims_payload, verdict


def by_text(claims, fragment):
    found = [c for c in claims if fragment in c.claim]
    assert len(found) == 1, f"{fragment!r} matches {[c.claim for c in found]}"
    return found[0]


# --- the building blocks -------------------------------------------------------------------------

def test_compare_writes_the_criterion_it_decides():
    assert compare(0.5, ">=", 0.5) == (True, ">= 0.5")
    assert compare(0.49, ">=", 0.5) == (False, ">= 0.5")
    assert compare(0.2, "between", (-0.65, -0.35)) == (False, "in [-0.65, -0.35]")
    assert compare(-0.5, "between", (-0.65, -0.35))[0]
    assert compare(0.1, "strictly between", (0.1, 0.3)) == (False, "in (0.1, 0.3)")
    assert compare(3e-6, "<=", 1e-5) == (True, "<= 1e-5")
    assert compare(float("nan"), "<=", 1.0)[0] is False
    with pytest.raises(ValueError, match="op='~'"):
        compare(1.0, "~", 1.0)


def test_claim_kinds_and_their_required_fields():
    c = paper_claim("x", 0.9, ">=", 0.8, source="Fig. 1", reason="the paper's 0.85 - 0.05")
    assert (c.kind, c.passed, c.criterion) == ("paper", True, ">= 0.8")
    with pytest.raises(ValueError, match="needs a source"):
        Claim("x", 1.0, ">= 0", True, kind="paper", reason="r")
    with pytest.raises(ValueError, match="needs a reason"):
        Claim("x", 1.0, ">= 0", True, kind="finding", source="s")
    with pytest.raises(ValueError, match="kind='theorem'"):
        Claim("x", 1.0, ">= 0", True, kind="theorem", source="s", reason="r")
    assert check("y", 0.0, "<=", 1e-10).kind == "check"
    f = finding("z", 0.37, "<", 0.4, source="abstract", paper_value="0.5", reason="finite D")
    assert verdict(claims_payload([f])[0]) == "seen in this run"


def test_tally_and_markdown_separate_the_three_kinds():
    claims = claims_payload([
        paper_claim("held claim", 0.9, ">=", 0.8, source="Fig. 1", paper_value="0.95", reason="paper - 0.15"),
        paper_claim("failed claim", 0.1, ">=", 0.8, source="Thm. 2", reason="r"),
        paper_claim("later claim", 0.1, ">=", 0.8, source="Fig. 3", reason="r", expected=False,
                    expected_when="from 10,000 steps"),
        finding("a finding s||w||", 0.37, "<", 0.4, source="abstract", paper_value="0.5", reason="finite D"),
        check("a check", 1e-16, "<=", 1e-10, reason="by construction"),
    ])
    assert tally(claims) == {"paper": 2, "paper_passed": 1, "paper_not_expected": 1, "findings": 1,
                             "checks": 1, "checks_passed": 1}
    text = claims_markdown(claims, "default")
    assert "**Reproduced 1 of 2 paper claims at scale `default`.**" in text
    assert "| held claim | Fig. 1 | 0.95 | 0.9 | >= 0.8 (paper - 0.15) | pass |" in text
    assert "| failed claim | Thm. 2 | – | 0.1 | >= 0.8 (r) | **FAIL** |" in text
    later = text.index("not expected at scale")
    assert text.index("later claim") > later and "from 10,000 steps" in text[later:]
    assert r"a finding s\|\|w\|\|" in text  # a '|' in a claim stays inside its cell
    assert "```{admonition} Checks: 1 of 1 hold" in text and ":class: dropdown" in text


def test_harmonic_share_is_the_traceless_projection():
    import itertools

    from lsa_utils.data.multi_index import SOURCE_LINK, harmonic_dimension

    d = 5  # embed the degree-4 tensor in R^5 and project out every sym(I x B) numerically
    t = np.zeros((d,) * 4)
    t[:2, :2, :2, :2] = SOURCE_LINK.chaos_tensor(4).numpy()
    eye, basis = np.eye(d), []
    for i, j in itertools.combinations_with_replacement(range(d), 2):
        b = np.zeros((d, d))
        b[i, j] = b[j, i] = 1
        basis.append(sum(np.einsum(f"{p},{q}->ijkl", eye, b).ravel()
                         for p, q in [("ij", "kl"), ("ik", "jl"), ("il", "jk"), ("jk", "il"), ("jl", "ik"), ("kl", "ij")]))
    m = np.array(basis).T
    residual = t.ravel() - m @ np.linalg.lstsq(m, t.ravel(), rcond=None)[0]
    assert SOURCE_LINK.harmonic_share(4, d) == pytest.approx(24 * residual @ residual, rel=1e-10)
    assert 24 * (t.ravel() @ t.ravel()) == pytest.approx(SOURCE_LINK.variance_share(4))  # the whole degree-4 part
    assert SOURCE_LINK.harmonic_share(4, 32) == pytest.approx(0.3043, abs=1e-4)
    assert SOURCE_LINK.harmonic_share(4, 10**6) == pytest.approx(SOURCE_LINK.variance_share(4), rel=1e-4)
    assert harmonic_dimension(4, 3) == 9 and harmonic_dimension(2, 5) == 14  # 2l + 1 on the sphere S^2; 5·6/2 - 1


def test_spearman_exact_p_values():
    assert spearman_rho([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]) == pytest.approx(1.0)
    assert spearman_p_greater([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(1 / 120)
    # rho = 0.9 at n = 5: the identity and the 4 adjacent swaps reach it, 5 of 120 orderings
    assert spearman_p_greater([1, 2, 3, 4, 5], [2, 1, 3, 4, 5]) == pytest.approx(5 / 120)
    assert spearman_p_greater([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(1.0)
    assert 0.01 < spearman_p_greater(np.arange(12), np.r_[np.arange(10)[::-1], 10, 11]) < 0.9
    assert math.isnan(spearman_p_greater([1, 2], [1, 2]))
    assert math.isnan(spearman_p_greater([1, 2, 3, 4, 5], [0.5] * 5))  # a constant input ranks nothing


def test_partial_spearman_is_the_correlation_of_rank_residuals():
    from scipy.stats import rankdata, t as student_t

    rng = np.random.default_rng(3)
    z = rng.normal(size=9)
    x, y = z + rng.normal(size=9), z + 0.5 * rng.normal(size=9)
    ranks = [rankdata(v) for v in (x, y, z)]
    design = np.c_[np.ones(9), ranks[2]]
    residuals = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in ranks[:2]]
    expected = float(np.corrcoef(*residuals)[0, 1])
    assert partial_spearman(x, y, z) == pytest.approx(expected)
    t = expected * math.sqrt(6 / (1 - expected**2))
    assert partial_spearman_p_greater(x, y, z) == pytest.approx(student_t.sf(t, 6))
    assert math.isnan(partial_spearman([1, 2, 3, 4], [2, 1, 4, 3], [1, 2, 3, 4]))  # z determines x's ranks
    assert math.isnan(partial_spearman_p_greater([1, 2, 3], [1, 2, 3], [3, 1, 2]))  # too few points
    assert partial_spearman_p_greater([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5]) == 0.0
    assert partial_spearman([1, 2, 3, 4], [1, 3, 2, 4], [0.5] * 4) == pytest.approx(spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]))


def test_mann_whitney_counts_never_reached_as_last():
    fast, slow = [1.0, 1.5, 2.0, 2.5], [5.0, 6.0, math.inf, math.inf]
    assert mann_whitney_p_less(fast, slow) == pytest.approx(1 / 70)
    assert mann_whitney_p_less(slow, fast) > 0.9


def test_every_chapter_has_a_claims_module():
    from lsa_utils.run.chapters import CHAPTERS

    for name in CHAPTERS:
        assert callable(__import__(f"lsa_utils.claims.{name}", fromlist=["claims"]).claims)
    with pytest.raises(ValueError, match="chapter=.nope. is not allowed"):
        chapter_claims("nope", {}, {})


# --- chapter 0 -----------------------------------------------------------------------------------

def lazy_values(ntk_exponent):
    widths = [32, 128, 512, 2048, 8192]
    return {"widths": widths,
            "weight_change_ntk": [0.5 * m**ntk_exponent for m in widths],
            "weight_change_mean_field": [0.8] * len(widths),
            "distance_to_kernel_ntk": [2.0 * m**-0.5 for m in widths],
            "distance_to_kernel_mean_field": [0.5] * len(widths)}


def test_lazy_vs_rich_claims():
    good = chapter_claims("lazy_vs_rich", lazy_values(-0.5), {})
    assert [c.kind for c in good] == ["paper", "paper", "paper", "check", "check"]
    assert all(c.passed for c in good)
    assert by_text(good, "falls like m^-1/2").measured == pytest.approx(-0.5)
    bad = chapter_claims("lazy_vs_rich", lazy_values(-0.2), {})
    assert not by_text(bad, "falls like m^-1/2").passed


# --- chapter 1 -----------------------------------------------------------------------------------

def lsa_separation(ntk_by_k, network=0.9, ceiling=None, n_test=2000):
    """A ``separation`` record: the NTK's accuracies ``ntk_by_k`` (k -> {n: accuracy}), the
    network at ``network`` everywhere, the ceilings ``ceiling`` (k -> accuracy, 0.95 by default)."""
    ks = sorted(ntk_by_k)
    sizes = sorted({n for acc in ntk_by_k.values() for n in acc} | {32, 512})
    rows = [{"k": k, "n": n, "method": "network", "accuracy": network} for k in ks for n in sizes]
    rows += [{"k": k, "n": n, "method": "NTK", "accuracy": a} for k in ks for n, a in ntk_by_k[k].items()]
    ceiling = ceiling or {k: 0.95 for k in ks}
    return {"rows": rows, "kernel_sizes": {str(k): sorted(ntk_by_k[k]) for k in ks},
            "ceiling": {str(k): v for k, v in ceiling.items()}, "n_test": n_test}


GROWING = {30: {32: 0.55, 128: 0.7, 512: 0.95}, 100: {32: 0.52, 128: 0.6, 512: 0.8}, 1000: {32: 0.5, 512: 0.52}}


def lsa_values(cosine, accuracy, bias=-0.4, fallback=False, n_mnist=20_000, separation=None):
    theory = {"cosine": cosine, "bias": bias, "signal_projection": 0.9, "noise_projection": 0.1,  # z s||w|| = 0.33
              "accuracy": accuracy, "official_accuracy": accuracy, "ties": 0.0}
    return {"theory": {"0.5": theory, "1.0": theory}, "separation": separation or lsa_separation(GROWING),
            "images_relative_drop": {"CNN": {"mnist_gaussian": 0.2, "cifar_gaussian": 0.1, "cifar_photo": 0.2},
                                     "NTK": {"mnist_gaussian": 0.6},
                                     "linearized CNN (wide)": {"mnist_gaussian": 0.7, "cifar_gaussian": 0.5,
                                                               "cifar_photo": 0.4}},
            "mnist_relative_drop_against_n": {"CNN": {"1000": 0.8, "20000": 0.2}},
            "images_accuracy": [{"setting": "mnist_gaussian", "method": m, "strength": 0, "accuracy": 0.9}
                                for m in ("CNN", "NTK")],
            "n_mnist": n_mnist, "n_test_mnist": 10_000, "chance_mnist": 0.1, "fallback_data": fallback,
            "mnist_clean_accuracy_against_n": {"CNN": {"1000": 0.6, "20000": 0.9}},
            "n_train_by_setting": {"cifar_gaussian": 20_000, "cifar_photo": 20_000},
            "n_test_by_setting": {"cifar_gaussian": 5_000, "cifar_photo": 5_000},
            "chance_by_setting": {"cifar_gaussian": 0.5, "cifar_photo": 0.5}}


LSA_PAPER = {"steps": 10_000, "batch": 500, "k": 1000, "mnist_strengths": [0.0, 2.0], "architecture": "wrn",
             "n_train": 20_000}


def test_lsa_claims_are_read_at_the_papers_noise_level():
    good = chapter_claims("lsa", lsa_values(0.999, 0.97), LSA_PAPER)
    assert all(c.passed and c.expected for c in good if c.kind == "paper")
    assert all("c = 1" in c.claim for c in good[:3])
    assert by_text(good, "MNIST on Gaussian").criterion == ">= 0.1"  # the paper's gap; 3 / (100 * 0.8) = 0.0375 is below
    assert not by_text(chapter_claims("lsa", lsa_values(0.999, 0.97, bias=-0.2), LSA_PAPER),
                       "learned threshold").passed  # above s||w|| but not above z s||w||: ~4% of patches pass
    weak = lsa_values(0.999, 0.97)
    weak["images_accuracy"] = [{**r, "strength": 0.5} for r in weak["images_accuracy"]]
    assert by_text(chapter_claims("lsa", weak, {**LSA_PAPER, "mnist_strengths": [0.5, 2.0]}), "MNIST on Gaussian").passed
    bad = chapter_claims("lsa", lsa_values(0.9, 0.7, bias=-0.05), LSA_PAPER)
    assert not any(c.passed for c in bad if c.kind == "paper" and "theory" in c.claim)
    short = chapter_claims("lsa", lsa_values(0.999, 0.97), {**LSA_PAPER, "steps": 1000})
    assert not any(c.expected for c in short if "theory" in c.claim and c.kind == "paper")
    digits = chapter_claims("lsa", lsa_values(0.999, 0.97, fallback=True), LSA_PAPER)
    assert not by_text(digits, "MNIST on Gaussian").expected
    assert by_text(digits, "relative drop at n").kind == "finding"
    ties = lsa_values(0.999, 0.97)
    ties["theory"]["1.5"] = {**ties["theory"]["1.0"], "ties": 1.0}  # a network stuck at f = 0
    metric = by_text(chapter_claims("lsa", ties, LSA_PAPER), "largest difference, over the noise levels")
    assert metric.kind == "finding" and metric.measured == 0.5 and metric.passed
    small = chapter_claims("lsa", lsa_values(0.999, 0.97, n_mnist=4000), LSA_PAPER)
    assert not by_text(small, "MNIST on Gaussian").expected  # below the 5,000 images where Fig. 6's gap is counted
    quiet = chapter_claims("lsa", lsa_values(0.999, 0.97), {**LSA_PAPER, "mnist_strengths": [0.0, 1.0]})
    assert not by_text(quiet, "MNIST on Gaussian").expected  # the paper's drop runs to σ = 2
    noisy = lsa_values(0.999, 0.97)
    noisy["n_test_mnist"] = 100  # 3 standard errors: 3 / (10 * 0.8) = 0.375 > 0.1
    assert by_text(chapter_claims("lsa", noisy, LSA_PAPER), "MNIST on Gaussian").criterion == ">= 0.375"
    fig4 = by_text(good, "share where the network's relative drop")
    assert fig4.passed and fig4.expected and fig4.measured == 1.0
    assert not by_text(good, "the small CNN on n").expected  # the finding is for the small CNN only
    small_cnn = chapter_claims("lsa", lsa_values(0.999, 0.97), {**LSA_PAPER, "architecture": "simple", "n_train": 1000})
    assert not by_text(small_cnn, "share where the network's relative drop").expected
    fragile = lsa_values(0.999, 0.97)
    fragile["images_relative_drop"]["CNN"]["cifar_photo"] = 0.9  # the CNN drops more than its linearization
    found = by_text(chapter_claims("lsa", fragile, {**LSA_PAPER, "architecture": "simple", "n_train": 1000}),
                    "the small CNN on n")
    assert found.kind == "finding" and found.expected and found.passed and found.measured == 0.5
    at_c1 = by_text(good, "minus ours")
    assert at_c1.kind == "finding" and at_c1.measured == 0.0 and at_c1.passed


def test_lsa_separation_claims_compare_the_ntk_across_k_at_equal_n():
    from lsa_utils.claims.lsa import separation_claims

    good = separation_claims(lsa_separation(GROWING))
    growth = by_text(good, "grows with k")
    # k = 30 reaches 0.75 between 128 and 512, k = 100 later; k = 1000 never, at a largest n of 512 >= k = 100's
    assert growth.passed and growth.expected and growth.measured == 1.0
    assert "k = 30: n = 175; k = 100: n = 375" in growth.claim and "k = 1000: n > 512" in growth.claim
    steady = by_text(good, "does not fall by more than")
    assert steady.passed and steady.measured == 0.0 and steady.criterion == ">= -0.0474"
    falling = lsa_separation(GROWING)
    falling["rows"] = [{**r, "accuracy": 0.6} if r["method"] == "network" and r["k"] == 1000 else r
                       for r in falling["rows"]]
    assert not by_text(separation_claims(falling), "does not fall by more than").passed  # 0.9 -> 0.6
    gap = by_text(good, "network minus NTK")
    assert gap.expected and gap.passed and gap.measured == pytest.approx(0.9 - 0.52)
    assert gap.criterion == ">= 0.0474"  # 3 sqrt(2) 0.5 / sqrt(2000)
    flat = separation_claims(lsa_separation({30: {32: 0.55, 128: 0.7, 512: 0.95}, 100: {32: 0.55, 128: 0.7, 512: 0.95}}))
    assert not by_text(flat, "grows with k").passed  # the same size at both k: no growth
    small = separation_claims(lsa_separation({30: {32: 0.55, 512: 0.9}, 100: {32: 0.5}}))
    undecided = by_text(small, "grows with k")  # k = 100 not reached at 32 < k = 30's size
    assert not undecided.expected and "undecided" in undecided.claim
    assert not by_text(small, "network minus NTK").expected  # the NTK at k = 100 only on n = 32
    early = by_text(separation_claims(lsa_separation({30: {32: 0.8, 128: 0.9}, 100: {32: 0.5, 128: 0.8}})),
                    "grows with k")
    assert early.expected and early.passed and "k = 30: n <= 32" in early.claim  # reached at once: n <= 32 < k = 100's
    kernel_wins = by_text(separation_claims(lsa_separation(GROWING, ceiling={30: 0.62, 100: 0.62, 1000: 0.99})),
                          "minus the best one-filter")
    assert kernel_wins.kind == "finding" and kernel_wins.passed and kernel_wins.measured == pytest.approx(0.95 - 0.62)
    too_good = by_text(separation_claims(lsa_separation(GROWING, network=0.99, ceiling={30: 0.62, 100: 0.62, 1000: 0.99})),
                       "does not beat the best one-filter")
    assert too_good.kind == "check" and not too_good.passed


def test_t_tests_are_one_sided_and_need_two_values():
    assert t_p_less([-1.0, -1.1, -0.9]) < 0.01 and t_p_less([1.0, 1.1, 0.9]) > 0.99
    assert math.isnan(t_p_less([-1.0]))
    # exact sign test on discordant pairs: 9 of 10 -> P(X >= 9) = 11 / 1024
    assert mcnemar_p_greater(9, 1) == pytest.approx(11 / 1024)
    assert mcnemar_p_greater(5, 5) == pytest.approx(638 / 1024) and mcnemar_p_greater(0, 0) == 1.0
    assert welch_p_greater([2.0, 2.1, 1.9], [1.0, 1.1, 0.9]) < 0.01
    assert welch_p_greater([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]) > 0.99
    assert math.isnan(welch_p_greater([2.0], [1.0, 1.1]))


# --- chapter 2 -----------------------------------------------------------------------------------

def representation_values(network_mse, ntk_mse, transfer_ratio, exponent=1.5, preprocess_gain=0.7):
    """Values of chapter 2 with known verdicts: by_seed curves whose network MSE is
    ``network_mse`` at d = 32, n = 4d² and ``network_mse (4d² / n) (d / 32)^(exponent - 2)``
    elsewhere (so n* at the level 0.2 scales as d^exponent); the energy crosses 0.5 at n = d²;
    kernels flat at ``ntk_mse`` (random features 0.6); transfer ``transfer_ratio`` times 0.5,
    flat in d, while the others grow by 1.5; step 0 multiplying the MSE by about
    ``preprocess_gain`` (and dividing the energy by it)."""
    by_seed = []
    for d in (16, 32, 64):
        for rep in range(3):
            jitter = 1 + 0.03 * (rep - 1)
            for n in (d * d // 4, d * d // 2, d * d, 2 * d * d, 4 * d * d):
                network = network_mse * jitter * (4 * d * d / n) * (d / 32) ** (exponent - 2)
                by_seed.append({"d": d, "rep": rep, "n": n, "network": network, "random features": 0.6,
                                "NTK": ntk_mse if n <= 4096 else float("nan"),
                                "energy": min(0.9, 0.5 * jitter * n / d**2)})
    transfer_rows = []
    for d in (16, 64):
        grow = 1.0 if d == 16 else 1.5
        for rep in range(4):
            others = {"network": 0.9 * grow, "random features": 0.5 * grow * (1 + 0.02 * rep), "NTK": 0.6 * grow}
            for n in (128, 512):
                transfer_rows.append({"d": d, "rep": rep, "n": n, **others,
                                      "transfer": transfer_ratio * 0.5 * (1 + 0.05 * (-1) ** rep)})
    preprocessing = []
    for target in ("linear part", "chapter's target"):
        for rep in range(4):
            gain = preprocess_gain * (1 + 0.02 * rep)
            for flag in (True, False):
                preprocessing.append({"target": target, "preprocess": flag, "rep": rep, "n_factor": 4,
                                      "network": 0.3 * (gain if flag else 1.0), "energy": 0.7 / (gain if flag else 1.0)})
    # a fresh readout on n = N/4 samples: 0.03 + 0.005 (4 - 1); the network may reach 0.03 + 1.5 x 0.015
    floor_check = [{"n": 16384, "network": 0.04, "floor": 0.03, "floor_half": 0.035, "floor_samples": 65536}]
    return {"r": 2, "degree": 4, "degree_p_share": 3 / 7.75,
            "harmonic_share": {"16": 0.25, "32": 0.30, "64": 0.33}, "by_seed": by_seed,
            "transfer_by_seed": transfer_rows, "preprocessing": preprocessing, "floor_check": floor_check}


REPRESENTATION = {"d_values": [16, 32, 64], "n_points": 5, "n_max_factor": 4, "n_targets": [16, 128, 512],
                  "kernel_max_n": 4096, "m": 2048, "seeds": 3, "transfer_d_values": [16, 64], "transfer_seeds": 4,
                  "widths": [512, 2048], "row_norms": [0.5, 1.0], "row_norm": 0.5, "floor_samples": 65536,
                  "preprocess_seeds": 4}


def test_representation_claims_hold_and_fail_as_their_values_say():
    good = chapter_claims("representation", representation_values(0.1, 0.45, 0.6), REPRESENTATION)
    assert all(c.passed for c in good), [c.claim for c in good if not c.passed]
    # the kernels' lower bound: the smallest margin over every (d, n) the NTK ran at, a check;
    # dim H_4 = C(67, 4) - C(65, 2) at d = 64
    bound = by_text(good, "NTK: test MSE at or above the kernels' lower bound")
    assert bound.kind == "check" and bound.measured == pytest.approx(0.45 - 0.33 * (1 - 1024 / 764400))
    assert "closest at d = 64, n = 1,024" in bound.claim
    # the network at n = 4d², every d: the closest is d = 16 (its MSE 0.1 sqrt 2, the bound 0.25 (1 - 1024 / 3740))
    network = by_text(good, "every d: the network's test MSE is below")
    assert network.kind == "paper" and network.measured == pytest.approx(0.1 * 2**0.5 - 0.25 * (1 - 1024 / 3740))
    slope = by_text(good, "exponent s of n*(d)")
    assert slope.kind == "finding" and slope.measured < 2  # the 95% upper bound of a slope of 1.5
    assert by_text(good, "exponent of n_E(d)").measured == pytest.approx(2.0, abs=0.05)
    assert by_text(good, "energy of W1 in span(U) at n = d").kind == "check"
    floor = by_text(good, "readout reaches its features' floor")
    assert floor.kind == "check" and floor.criterion == "<= 0.0525"
    bad = chapter_claims("representation", representation_values(0.5, 0.2, 2.0, exponent=4.0, preprocess_gain=1.2),
                         REPRESENTATION)
    for fragment in ("every d: the network's test MSE is below", "NTK: test MSE at or above", "transferred features beat",
                     "exponent s of n*(d)", "upper bound stays below", "lowers the network's test MSE",
                     "raises W1's energy"):
        assert not by_text(bad, fragment).passed, fragment
    # flat transfer: a transfer MSE that doubles over the range of d fails
    values = representation_values(0.1, 0.45, 0.6)
    for row in values["transfer_by_seed"]:
        row["transfer"] *= 2.0 if row["d"] == 64 else 1.0
    assert not by_text(chapter_claims("representation", values, REPRESENTATION), "transferred features' MSE at").passed
    # a crossing outside the sweep leaves the exponent undefined instead of fitting the others
    values = representation_values(0.1, 0.45, 0.6)
    for row in values["by_seed"]:
        row["network"] *= 10.0 if (row["d"], row["rep"]) == (64, 0) else 1.0
    assert math.isnan(by_text(chapter_claims("representation", values, REPRESENTATION), "upper bound stays").measured)


def test_representation_claim_points_lie_inside_every_scale():
    """Item 4 of issue 17: every point a claim reads is computed at smoke, default and paper,
    checked from the sizes alone (nothing runs)."""
    from lsa_utils.claims.representation import claim_points
    from lsa_utils.run.chapters import get_chapter

    for scale, params in get_chapter("representation").scales.items():
        unmet = [text for text, holds in claim_points(params).values() if not holds]
        assert not unmet, (scale, unmet)
    assert not claim_points({**REPRESENTATION, "d_values": [16, 24]})["exponent"][1]
    assert not claim_points({**REPRESENTATION, "n_max_factor": 2})["network"][1]


# --- chapter 3 -----------------------------------------------------------------------------------

def mixture_values(gap, deviation, fast_reach, theory_gap=0.002, rf_floor=0.47, rf_online_gap=0.01):
    runs = [{"K": k, "seed": s, "final_gap": 0.004, "found": True,
             "reach": (fast_reach if k == 32 else 20.0) + s} for k in (4, 8, 32) for s in range(4)]
    kernel = [{"dim": 1000, "n_train": 4000, "inverse_snr": s, "error": e} for s, e in [(0.3, 0.37), (1.0, 0.49)]]
    final = {0.4: 0.2, 1.0: 0.37, 2.0: 0.5}
    # stationary states at the run's own rate (K = 16 off by theory_gap, K = 4 by 0.003) and at another rate
    stationary = [{"inverse_snr": s, "K": k, "lr": lr, "weight_decay": 0.01, "converged": True,
                   "error": (e - (theory_gap if k == 16 else 0.003) if s <= 1 else 0.47) + (0.05 if lr == 0.5 else 0)}
                  for s, e in final.items() for k in (4, 16) for lr in (0.05, 0.5)]
    rf_theory = [{"inverse_snr": s, "ratio": r, "error": rf_floor + 0.01 * (s > 0.3) - 0.001 * r}
                 for s in (0.1, 0.3, 1.0) for r in (1.0, 8.0)]
    return {"final_gap_median": {"0.4": gap, "1.0": gap}, "final_error": {str(s): e for s, e in final.items()},
            "lazy_error": {"random features, gamma 1": {"0.1": 0.1, "0.3": 0.45, "1.0": 0.5}},
            "kernel_scaling": kernel, "ode_deviation": [deviation] * 3, "ode_final_deviation": deviation / 4,
            "ode_sample_error": 0.01, "ode_sample_error_end": 0.001,
            "over_parameterisation_runs": runs, "stationary": stationary, "rf_theory": rf_theory,
            "oracle": {"0.4": 0.19, "1.0": 0.365, "2.0": 0.462},
            "rf_online_error": {"0.1": 0.1, "0.3": 0.45, "1.0": 0.5},
            "rf_limit_same_features": {"0.1": 0.05, "0.3": 0.45, "1.0": 0.5},
            "rf_online_closed_form": {"0.1": 0.1 - rf_online_gap, "0.3": 0.45, "1.0": 0.5},
            # ridge random features up to the network's n = 600 D: only the largest n counts
            "budget": [{"inverse_snr": s, "n_train": n, "error": (rf_floor if n == 600_000 else 0.3) + 0.02 * (s > 0.5)}
                       for s in (0.1, 0.3, 1.0) for n in (4000, 600_000)],
            # the plateau's end: at 1/SNR = 2, one seed not by t_end (NaN, or None once read from JSON)
            "escape": [{"inverse_snr": s, "seed": i, "target": 0.4, "stationary_error": 0.48, "escape": e}
                       for s, times in [(1.0, [150.0, 160.0, 170.0]), (2.0, [4000.0, math.nan, None])]
                       for i, e in enumerate(times)]}


MIXTURE = {"dim": 1000, "t_max": 600, "n_factor": 4, "hidden": 16, "lr": 0.5, "lr_final": 0.05,
           "weight_decay": 0.01, "rf_online_t_max": 50, "switch_time": 100, "escape_t_end": 10000}


def test_gaussian_mixture_same_budget_and_escape_claims():
    good = chapter_claims("gaussian_mixture", mixture_values(0.005, 0.02, 5.0), MIXTURE)
    same = by_text(good, "the same number of samples, n = 600D = 600,000")
    assert same.kind == "paper" and same.passed and same.expected
    assert same.measured == pytest.approx(0.47) and "at 1/SNR = 0.3, where the network's median error is" in same.claim
    assert not by_text(chapter_claims("gaussian_mixture", mixture_values(0.005, 0.02, 5.0, rf_floor=0.40), MIXTURE),
                       "the same number of samples").passed
    short = mixture_values(0.005, 0.02, 5.0)
    short["budget"] = [r for r in short["budget"] if r["n_train"] < 600_000]  # not the network's whole budget
    assert not by_text(chapter_claims("gaussian_mixture", short, MIXTURE), "the same number of samples").expected
    escape = by_text(good, "1/SNR = 2: earliest time")
    assert escape.kind == "finding" and escape.passed and "2 of 3 still on it" in escape.claim
    assert escape.measured == pytest.approx(4000)  # the one seed that escaped; the others count as t_end
    early = mixture_values(0.005, 0.02, 5.0)
    early["escape"] = [r for r in early["escape"] if r["inverse_snr"] == 1.0]
    late = by_text(chapter_claims("gaussian_mixture", early, MIXTURE), "1/SNR = 1: earliest time")
    assert late.measured == pytest.approx(150) and not late.passed  # before t_max: not what the finding says


def test_gaussian_mixture_claims():
    good = chapter_claims("gaussian_mixture", mixture_values(0.005, 0.02, 5.0), MIXTURE)
    assert all(c.passed for c in good if c.kind == "paper")
    assert [c.claim.split(":")[0] for c in good[:2]] == ["1/SNR = 0.4", "1/SNR = 1"]
    assert by_text(good, "kernel (n = 4D, D = 1000)").kind == "finding"
    assert by_text(good, "whole trajectory").kind == "finding"
    end = by_text(good, "at t = 600")
    assert end.kind == "paper" and end.criterion == "<= 0.007"  # 0.005 + 2 x the ODE's Monte-Carlo error
    bad = chapter_claims("gaussian_mixture", mixture_values(0.02, 0.05, 25.0), MIXTURE)
    assert not any(c.passed for c in bad if "oracle" in c.claim and c.kind == "paper")
    assert not by_text(bad, "at t = 600").passed
    assert not by_text(bad, "reaches the oracle + 0.01 sooner").passed
    never = mixture_values(0.005, 0.02, 5.0)
    for r in never["over_parameterisation_runs"]:
        r["found"] = False
    spread = by_text(chapter_claims("gaussian_mixture", never, MIXTURE), "found every cluster, largest")
    assert math.isnan(spread.measured) and not spread.passed


def test_gaussian_mixture_theory_claims():
    good = chapter_claims("gaussian_mixture", mixture_values(0.005, 0.02, 5.0), MIXTURE)
    fixed_point = by_text(good, "against the ODE's stationary state (K = 16, η = 0.05")
    assert fixed_point.kind == "paper" and fixed_point.passed and fixed_point.measured == pytest.approx(0.002)
    assert fixed_point.criterion == "<= 0.007"  # the ODE end-point claim's tolerance
    late = by_text(good, "1/SNR > 1: network's final error")
    assert late.kind == "finding" and late.passed and late.measured == pytest.approx(0.03)
    widths = by_text(good, "informed start")
    assert widths.passed and widths.measured == pytest.approx(0.001)  # K = 16 and K = 4 differ by 0.003 - 0.002
    floor = by_text(good, "random features trained on the whole population")
    assert floor.passed and floor.measured == pytest.approx(0.462) and "P = 8D, 1/SNR = 0.3" in floor.claim
    online = by_text(good, "Gaussian equivalence on the online readout")
    assert online.kind == "check" and online.passed and online.measured == pytest.approx(0.01)
    assert fixed_point.expected  # 0.05 x (600 - 100) = 25 units of ηt at the final rate
    assert not by_text(chapter_claims("gaussian_mixture", mixture_values(0.005, 0.02, 5.0), {**MIXTURE, "switch_time": 350}),
                       "against the ODE's stationary state (K = 16").expected  # 12.5 < 20
    unsettled = mixture_values(0.005, 0.02, 5.0)
    unsettled["stationary"][0]["converged"] = False  # 1/SNR = 0.4, K = 4: the width claim reads it
    assert not by_text(chapter_claims("gaussian_mixture", unsettled, MIXTURE), "informed start").passed
    bad = chapter_claims("gaussian_mixture", mixture_values(0.005, 0.02, 5.0, theory_gap=0.02, rf_floor=0.40,
                                                            rf_online_gap=0.03), MIXTURE)
    assert not by_text(bad, "against the ODE's stationary state (K = 16").passed
    assert not by_text(bad, "informed start").passed  # 0.02 - 0.003
    assert not by_text(bad, "random features trained on the whole population").passed
    assert not by_text(bad, "Gaussian equivalence on the online readout").passed


def other_mixture_values(net_gap=0.0, rf_high=0.01, mixed_rf=(0.13, 0.32, 0.44), widest_gap=0.02):
    """Section 6's records, shaped as compare_on_mixture's, at 1/SNR 0.5, 1, 2 and D = 1000."""
    from lsa_utils.data.xor_mixture import high_snr_mixture, mixed_snr_mixture
    high, mixed = high_snr_mixture(1000), mixed_snr_mixture(1000)
    levels = (0.5, 1.0, 2.0)
    oracle = {(m.name, s): float(m.bayes_error(s**2)) for m in (high, mixed) for s in levels}
    network = [{"mixture": m, "inverse_snr": s, "seed": k, "t": t, "error": (0.5 if t < 50 else e + net_gap + 0.01 * k)}
               for (m, s), e in oracle.items() for k in range(3) for t in (1.0, 50.0)]
    ridge_end = {**{(high.name, s): oracle[(high.name, s)] + rf_high for s in levels},
                 **{(mixed.name, s): e for s, e in zip(levels, mixed_rf)}}
    ridge = [{"mixture": m, "inverse_snr": s, "n_train": n, "error": e if n == 50_000 else 0.5}
             for (m, s), e in ridge_end.items() for n in (1000, 50_000)]
    theory = [{"mixture": mixed.name, "inverse_snr": s, "ratio": r, "error": oracle[(mixed.name, s)] + (
        widest_gap if r == 8.0 else 0.1)} for s in levels for r in (1.0, 8.0)]
    return {"network": network, "ridge": ridge, "theory": theory,
            "oracle": [{"mixture": m, "inverse_snr": s, "error": e} for (m, s), e in oracle.items()]}


def test_gaussian_mixture_other_mixture_claims():
    params = {**MIXTURE, "mixture_n_factors": [1, 50], "mixture_inverse_snrs": [2.0, 0.5, 1.0],
              "mixture_rf_ratios": [1.0, 8.0]}
    values = mixture_values(0.005, 0.02, 5.0)
    assert not any("SNR (" in c.claim for c in chapter_claims("gaussian_mixture", values, MIXTURE))  # older results
    good = chapter_claims("gaussian_mixture", {**values, "mixtures": other_mixture_values()}, params)
    section = [c for c in good if c.claim.startswith(("high SNR", "mixed SNR"))]
    assert len(section) == 5 and all(c.kind == "finding" and c.passed and c.expected for c in section)
    network = by_text(good, "high SNR (|mu| = sqrt(D)), network (K = 16) at t = 50")
    assert network.measured == pytest.approx(0.01)  # the median of three seeds, 0.00 / 0.01 / 0.02 above
    equal_n = by_text(good, "the same n = 50D")
    # at 1/SNR = 0.5 the network (median: oracle 0.0228 + 0.01) is closest to the features (0.13)
    assert equal_n.measured == pytest.approx(float(mixed_oracle(0.5)) + 0.01 - 0.13)
    assert "at 1/SNR = 0.5" in equal_n.claim
    between = by_text(good, "at 1/SNR = 0.5 (oracle 0.023)")
    assert between.criterion == "in [0.0728, 0.45]"
    bad = chapter_claims("gaussian_mixture", {**values, "mixtures": other_mixture_values(
        net_gap=0.02, rf_high=0.08, mixed_rf=(0.05, 0.17, 0.30), widest_gap=0.06)}, params)
    assert not any(c.passed for c in bad if c.claim.startswith(("high SNR", "mixed SNR")))
    at_chance = chapter_claims("gaussian_mixture", {**values, "mixtures": other_mixture_values(
        mixed_rf=(0.47, 0.49, 0.5))}, params)
    assert not by_text(at_chance, "at 1/SNR = 0.5 (oracle 0.023)").passed  # above 0.45: at chance
    from lsa_utils.claims.gaussian_mixture import _mixture_claims
    small = _mixture_claims({"mixtures": other_mixture_values()}, {**params, "dim": 400})
    assert len(small) == 5 and not any(c.expected for c in small)


def mixed_oracle(inverse_snr):
    from lsa_utils.data.xor_mixture import mixed_snr_mixture
    return mixed_snr_mixture(1000).bayes_error(inverse_snr**2)


# --- chapter 4 -----------------------------------------------------------------------------------

def linearization_values(lin_order, lin_gap, spike, control_order=(1, 0, 3, 2, 4), lin_only=30):
    tasks, paired = [], []
    for model in ("mlp", "lenet"):
        for i, k in enumerate([1, 2, 5, 10, 20]):
            tasks.append({"model": model, "k": k, "kind": "network", "test_accuracy": 0.95 - 0.05 * i})
            tasks.append({"model": model, "k": k, "kind": "linearized", "test_accuracy": 0.96 - 0.05 * lin_order[i]})
            tasks.append({"model": model, "k": k, "kind": "RBF kernel (control)",
                          "test_accuracy": 0.9 - 0.05 * control_order[i]})
            paired.append({"model": model, "k": k, "only_linearized": lin_only, "only_network": 10})
    gain = np.ones(100)
    gain[4] = spike
    return {"eigen_tasks": tasks, "eigen_paired": paired, "real_data": True,
            "kernel_target_alignment": {"mlp, network": [0.1, 0.3], "mlp, linearized": [0.1, 0.1],
                                        "lenet, network": [0.1, 0.05], "lenet, linearized": [0.1, 0.1]},
            "rayleigh": {m: {"gain": gain.tolist(), "init_error": 1e-15} for m in ("mlp", "lenet")},
            "real_tasks": [{"dataset": "CIFAR-10", "model": "mlp", "n": 250, "network": 0.7, "linearized": 0.7 - lin_gap,
                            "test": 2000, "disagreement": 0.25},
                           {"dataset": "MNIST", "model": "mlp", "n": 250, "network": 0.9, "linearized": 0.85,
                            "test": 2000, "disagreement": 0.25}]}


LINEARIZATION = {"dataset": "cifar10", "models": ["mlp", "lenet"], "tracked_index": 5, "real_test": 2000, "n_test": 500}


def test_linearization_claims():
    good = chapter_claims("linearization", linearization_values([0, 1, 2, 3, 4], -0.05, 30.0), LINEARIZATION)
    kinds = {c.claim: c.kind for c in good}
    assert sum(k == "check" for k in kinds.values()) == 4  # the by-construction ones, per model
    rank = by_text(good, "MLP 100-100: the linearization ranks the 5")
    assert rank.kind == "paper" and rank.passed and rank.measured < 1e-12  # the same order: partial rho = 1
    assert "linearization 1.00, RBF-kernel control 0.80" in rank.claim
    # nine tasks, none of the orders identical: a linearization that tracks the network beyond the
    # control counts; one that tracks the control (rho 0.93 with it, 0.87 with the network) does not
    network = list(range(9))
    control = [1, 0, 2, 4, 3, 6, 5, 8, 7]
    beyond = partial_spearman_p_greater(network, [0, 2, 1, 3, 4, 5, 7, 6, 8], control)
    assert beyond < 0.05 and spearman_rho(network, control) > 0.9
    follows = [1, 0, 3, 2, 4, 6, 5, 7, 8]
    assert spearman_rho(follows, control) > 0.9 and partial_spearman_p_greater(network, follows, control) > 0.05
    assert by_text(good, "MLP 100-100, task 5: the network's kernel-target").passed
    assert not by_text(good, "LeNet, task 5: the network's kernel-target").passed  # it fell
    assert by_text(good, "MLP 100-100, task 5: rank of the growth").measured == 1
    assert by_text(good, "does not always beat").passed
    beats = by_text(good, "MLP 100-100: tasks where the linearization labels significantly more")
    assert beats.kind == "finding" and beats.passed and beats.measured == 5  # 30 against 10 images: p = 0.001
    even = chapter_claims("linearization", linearization_values([0, 1, 2, 3, 4], -0.05, 30.0, lin_only=16), LINEARIZATION)
    assert not by_text(even, "MLP 100-100: tasks where the linearization").passed  # 16 against 10: p = 0.16
    split = {**linearization_values([0, 1, 2, 3, 4], -0.05, 30.0)}
    split["rayleigh"]["mlp"] = {**split["rayleigh"]["mlp"], "gain_train": [1.0] * 4 + [40.0], "gain_test": [1.0] * 4 + [20.0]}
    finding_ = by_text(chapter_claims("linearization", split, LINEARIZATION), "MLP 100-100, task 5: growth of A(φ_5) on the")
    assert finding_.kind == "finding" and finding_.measured == pytest.approx(2.0) and finding_.passed
    # a gap within 2 paired standard errors (0.022 at a disagreement of 0.25 on 2,000 images) is no evidence
    assert not by_text(chapter_claims("linearization", linearization_values([0, 1, 2, 3, 4], -0.02, 30.0),
                                      LINEARIZATION), "does not always beat").passed
    bad = chapter_claims("linearization", linearization_values([4, 3, 2, 1, 0], -0.01, 1.0), LINEARIZATION)
    assert not by_text(bad, "MLP 100-100: the linearization ranks").passed
    assert not by_text(bad, "MLP 100-100, task 5: rank of the growth").passed
    digits = chapter_claims("linearization", {**linearization_values([0, 1, 2, 3, 4], 0.01, 30.0), "real_data": False},
                            LINEARIZATION)
    assert not any(c.expected for c in digits if c.kind == "paper")


def outcomes(correct, total=200):
    return "1" * correct + "0" * (total - correct)


def test_after_training_distance_ratio_and_its_bootstrap_bound():
    from lsa_utils.claims.linearization import after_training_distance_ratio

    pair = {"correct": {"network": outcomes(160), "kernel at θ_T": outcomes(164), "kernel at θ₀": outcomes(190)}}
    ratio, lower = after_training_distance_ratio([pair, pair])
    assert ratio == pytest.approx(0.04 / 0.30)  # (0.02 + 0.02) / (0.15 + 0.15)
    assert 0.15 < lower < 0.26  # the images nest: the difference is a count of 26 of 200, twice, over 200
    assert after_training_distance_ratio([pair], seed=1)[1] != after_training_distance_ratio([pair], seed=2)[1]
    # the kernel after training is the network; the one at θ₀ differs from it by chance (26 against 20
    # discordant images of 500, McNemar p = 0.46): not significantly closer
    network = "1" * 400 + "0" * 100
    noise = {"correct": {"network": network, "kernel at θ_T": network,
                         "kernel at θ₀": "0" * 20 + "1" * 380 + "1" * 26 + "0" * 74}}
    ratio, lower = after_training_distance_ratio([noise])
    assert ratio == 0.0 and lower < 0
    swapped = {"correct": {"network": outcomes(160), "kernel at θ₀": outcomes(170),
                           "kernel at θ_T": "0" * 30 + "1" * 170}}  # as accurate, on other images
    ratio, lower = after_training_distance_ratio([swapped])
    assert ratio == 1.0 and lower < 0
    tie = {"correct": {"network": outcomes(160), "kernel at θ_T": outcomes(170), "kernel at θ₀": outcomes(160)}}
    assert math.isnan(after_training_distance_ratio([tie])[0]) and after_training_distance_ratio([tie])[1] < 0


def test_linearization_kernel_after_training_claim_is_the_official_accuracy_comparison():
    values = linearization_values([0, 1, 2, 3, 4], -0.05, 30.0)
    accuracy = {"mlp": {5: (160, 164, 190), 20: (140, 138, 176)},  # of 200: network, kernel at θ_T, at θ₀
                "lenet": {5: (160, 140, 190), 20: (140, 120, 170)}}
    values["kernel_after_training"] = []
    for model, by_task in accuracy.items():
        for k, (net, after, before) in by_task.items():
            for r in values["eigen_tasks"]:
                if (r["model"], r["k"], r["kind"]) == (model, k, "network"):
                    r["test_accuracy"] = net / 200
            values["eigen_tasks"] += [
                {"model": model, "k": k, "kind": "kernel at θ_T", "test_accuracy": after / 200, "train_accuracy": 1.0,
                 "agreement": 0.97},
                {"model": model, "k": k, "kind": "kernel at θ₀", "test_accuracy": before / 200, "train_accuracy": 0.99,
                 "agreement": 0.85}]
            values["kernel_after_training"].append(
                {"model": model, "k": k, "only_after": 50 if model == "mlp" else 12, "only_before": 5 if model == "mlp" else 10,
                 "correct": {"network": outcomes(net), "kernel at θ₀": outcomes(before),  # the LeNet's θ_T errs elsewhere
                             "kernel at θ_T": outcomes(after)[::-1] if model == "lenet" else outcomes(after)}})
    claims = chapter_claims("linearization", values, LINEARIZATION)
    mlp = by_text(claims, "MLP 100-100, tasks 5, 20: the kernel after training is closer")
    assert mlp.kind == "paper" and mlp.passed and mlp.measured > 0.2
    assert "kernel at θ_T 0.820, 0.690, training 1.000, 1.000" in mlp.claim and "ratio 0.09" in mlp.claim
    assert mlp.expected and not by_text(chapter_claims("linearization", values, {**LINEARIZATION, "n_test": 150}),
                                        "MLP 100-100, tasks 5, 20: the kernel after training is closer").expected
    lenet = by_text(claims, "LeNet, tasks 5, 20: the kernel after training is closer")
    assert not lenet.passed and "ratio 0.67" in lenet.claim  # (0.1 + 0.1) / (0.15 + 0.15), not significantly below 1
    agree = by_text(claims, "MLP 100-100, tasks 5, 20: the kernel after training predicts the network's own")
    assert agree.kind == "finding" and agree.passed and agree.measured < 1e-19 and "only the first agrees: 100" in agree.claim
    assert by_text(claims, "LeNet, tasks 5, 20: the kernel after training predicts").measured == pytest.approx(
        mcnemar_p_greater(24, 20))


def test_real_task_gaps_count_a_setting_beyond_the_repetitions_and_the_test_set():
    from lsa_utils.claims.linearization import gap_by_setting

    def rows(gaps, n=250, test=2000, disagreement=0.25):
        return [{"dataset": "CIFAR-10", "model": "mlp", "n": n, "seed": s, "network": 0.7 + g, "linearized": 0.7,
                 "test": test, "disagreement": disagreement} for s, g in enumerate(gaps)]

    def test_margin(gaps, test=2000, disagreement=0.25):  # 2 sqrt((q - gap^2) / n), averaged over repetitions
        return float(np.mean([2 * ((disagreement - g**2) / test) ** 0.5 for g in gaps]))

    [steady] = gap_by_setting(rows([0.05, 0.06, 0.055]))
    assert steady["seeds"] == 3 and steady["gap"] == pytest.approx(0.055) and steady["sign"] == 1
    assert steady["margin"] == pytest.approx(4.302653 * 0.005 / 3**0.5 + test_margin([0.05, 0.06, 0.055]), rel=1e-5)
    [noisy] = gap_by_setting(rows([0.15, -0.05, 0.065]))  # the same mean, spread over repetitions
    assert noisy["gap"] == pytest.approx(0.055) and noisy["sign"] == 0
    [small] = gap_by_setting(rows([-0.02]))  # one repetition: the test set's margin alone (0.022)
    assert small["seed_margin"] == 0 and small["margin"] == pytest.approx(test_margin([-0.02])) and small["sign"] == 0
    assert gap_by_setting(rows([-0.03]))[0]["sign"] == -1
    [capped] = gap_by_setting(rows([-0.03], test=300))  # the test images actually used, not the requested ones
    assert capped["test_margin"] == pytest.approx(test_margin([-0.03], test=300))
    both = gap_by_setting(rows([0.05, 0.06, 0.055]) + rows([-0.05, -0.06, -0.055], n=1000))
    assert [g["sign"] for g in both] == [1, -1]
    values = {**linearization_values([0, 1, 2, 3, 4], -0.05, 30.0),
              "real_tasks": rows([0.05, 0.06, 0.055]) + rows([0.15, -0.05, 0.065], n=1000)}
    assert not by_text(chapter_claims("linearization", values, LINEARIZATION), "does not always beat").passed


# --- appendix ------------------------------------------------------------------------------------

def test_kernel_checks():
    values = {"agreement": [{"max_rel_error": 1e-12}, {"max_rel_error": 3e-6}],
              "timing_case_a": {"speedup": 4.0},
              "benchmarks": {"cpu": {"device": "cpu", "rows": [{"case": "(a) CNN-GAP", "speedup": 31.0},
                                                              {"case": "(b) MNIST CNN", "speedup": 6.7},
                                                              {"case": "(c) LeNet, empirical", "speedup": 2.1},
                                                              {"case": "(g) residual MLP", "speedup": 0.9}]}}}
    claims = chapter_claims("kernels", values, {"bench_images": 8})
    assert all(c.kind == "check" for c in claims)
    # (b) is convolutional and analytic: 10x asked; (c) and (g) need only not be slower
    assert [c.passed for c in claims] == [True, True, True, False, True, False]
    assert [c.criterion.split()[-1] for c in claims[2:]] == ["20", "10", "1", "1"]


def test_kernel_checks_without_neural_tangents_are_not_expected():
    values = {"agreement": [], "timing_case_a": None, "benchmarks": {}, "reference_missing": "no module"}
    claims = chapter_claims("kernels", values, {"bench_images": 8})
    assert [(c.passed, c.expected) for c in claims] == [(False, False), (False, False)]
    assert all("neural-tangents is installed" in c.expected_when for c in claims)
