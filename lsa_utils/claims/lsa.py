"""Chapter 1's claims: Karp et al. 2021, local signal adaptivity.

Values (``results/lsa/<scale>.json``): ``theory``, per noise level c (as text), the network's
final ``cosine`` with w*, ``bias``, ``signal_projection`` <w, w*>, ``noise_projection``
s||w||, test ``accuracy`` (ties count one half) and ``official_accuracy`` (ties count as correct,
as the official code scores), means over seeds; ``separation``: the network and the NTK on the
same samples (``lsa_separation.Separation``: ``rows`` with k, n, method and accuracy,
``kernel_sizes`` k -> the sizes the NTK was fitted at, ``ceiling`` k -> the best one-filter
model's accuracy, ``n_test``); ``images_relative_drop`` (method -> setting -> drop);
``mnist_relative_drop_against_n`` (method -> n -> drop); ``n_mnist``; ``fallback_data``.

The theory claims are read at the paper's noise level c = 1 (its experiments' setting), not
at the level where they pass most easily; they are stated for the end of the paper's 10,000
online steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..run.results import Claim
from .core import check, finding, paper_claim

PAPER_NOISE_LEVEL = 1.0
PAPER_STEPS = 10_000
MIN_MNIST_IMAGES = 5_000  # the smallest training set at which the Fig. 6 gap is counted (issue 16: default's n)
FIG6_GAP = 0.1  # the NTK's relative drop exceeds the CNN's by at least this much in the paper's Fig. 6
THEORY = "Karp et al. 2021, abstract; Fig. 3 (k = 1000, d = 10, c = 1: the official script's setting)"
SEPARATION = ("Karp et al. 2021, abstract ('the corresponding neural tangent kernel ... is unable to adapt to the "
              "signal') and its lower bound for the NTK on the patch model")
TARGET_ACCURACY = 0.75  # halfway from chance to perfect: the level whose sample size is compared across k
FIG4 = "Karp et al. 2021, Fig. 4 (CIFAR-10 on Gaussian, ImageNet and block backgrounds; WRN-10-10 and its linearization)"
PAPER_CIFAR_IMAGES = 20_000
FIG4_SETTINGS = ("cifar_gaussian", "cifar_photo", "cifar_blocks", "cifar10_photo")  # the official script's
IMAGES = "Karp et al. 2021, abstract; Fig. 6 (MNIST-20k: 20,000 images on a 42x42 Gaussian canvas)"


def claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    from scipy.stats import norm

    c = PAPER_NOISE_LEVEL
    theory = values["theory"][str(c)]
    k = params["k"]
    z_one = float(norm.ppf(1 - 1 / (2 * (k - 1))))
    long_enough = params["steps"] >= PAPER_STEPS
    when = f"after the paper's {PAPER_STEPS:,} steps (scale paper)"
    real_mnist = not values.get("fallback_data", False)
    n_mnist = values["n_mnist"]
    drops = values["images_relative_drop"]
    gap = drops["NTK"]["mnist_gaussian"] - drops["CNN"]["mnist_gaussian"]
    weakest = min(params["mnist_strengths"])  # the relative drop runs from the weakest background
    loudest = max(params["mnist_strengths"])
    clean = [r["accuracy"] for r in values["images_accuracy"]
             if r["setting"] == "mnist_gaussian" and r["method"] in ("CNN", "NTK") and r["strength"] == weakest]
    # a relative drop (a0 - a1) / (a0 - chance) has binomial standard error at most
    # sqrt(2) * 0.5 / sqrt(n_test) / (a0 - chance); the difference of two such drops, sqrt(2) more
    drop_se = 1 / math.sqrt(values["n_test_mnist"]) / (min(clean) - values["chance_mnist"])
    cnn_against_n = {int(n): v for n, v in values["mnist_relative_drop_against_n"]["CNN"].items()}
    small, large = min(cnn_against_n), max(cnn_against_n)
    # the drop at the smallest n has the lowest clean accuracy, hence the largest standard error
    clean_small = values["mnist_clean_accuracy_against_n"]["CNN"][str(small)]
    against_n_se = 1 / math.sqrt(values["n_test_mnist"]) / (min(clean_small, *clean) - values["chance_mnist"])
    return [
        paper_claim(f"theory model, c = {c:g}: the filter aligns with w* (cos)", theory["cosine"], ">=", 0.99,
                    source=THEORY, paper_value="w/||w|| -> w*",
                    reason="alignment up to the 1% that a finite run leaves; fixed before the default run", expected=long_enough, expected_when=when),
        paper_claim(f"theory model, c = {c:g}: the learned threshold -b lies between z s||w|| (at most one of the "
                    f"{k - 1} noise patches passes on average) and the signal <w, w*>", -theory["bias"],
                    "strictly between", (z_one * theory["noise_projection"], theory["signal_projection"]),
                    source=THEORY, paper_value="the CNN thresholds out the noise and keeps the signal",
                    reason=f"z = Φ^-1(1 - 1/(2(k - 1))) = {z_one:.2f}: a noise patch projects as N(0, (s||w||)^2) "
                           "and passes when |projection| > -b",
                    expected=long_enough, expected_when=when),
        paper_claim(f"theory model, c = {c:g}: network test accuracy", theory["accuracy"], ">=", 0.95,
                    source=THEORY, paper_value="test error -> 0",
                    reason="the theorem's vanishing error, with 5% left for a finite run; fixed before the default "
                           "run (no value read off the paper's Fig. 3)",
                    expected=long_enough, expected_when=when),
        paper_claim(f"MNIST on Gaussian noise, σ = {weakest:g} to {loudest:g}, the same n = {n_mnist:,} for both: NTK "
                    "relative drop minus CNN relative drop", gap, ">=", max(FIG6_GAP, 3 * drop_se), source=IMAGES,
                    paper_value=f"the NTK drops notably, the CNN stays relatively robust (a gap of at least {FIG6_GAP})",
                    reason=f"the paper's gap of {FIG6_GAP} (Fig. 6), or 3 binomial standard errors of the difference "
                           f"of two relative drops on {values['n_test_mnist']:,} test images if larger (the spread "
                           "over training seeds is not included: one seed below scale paper)",
                    expected=real_mnist and n_mnist >= MIN_MNIST_IMAGES and loudest >= 2.0,
                    expected_when=f"on real MNIST with at least {MIN_MNIST_IMAGES:,} training images and σ up to 2"),
        finding(f"theory model, c = {c:g}: accuracy as the official code scores it (a tie f = 0 counts as "
                f"correct) minus ours (a tie counts one half); ours is {theory['accuracy']:.3f}",
                theory["official_accuracy"] - theory["accuracy"], "<=", 0.01,
                source="Karp et al. 2021, Fig. 3; official code (accuracy = mean(y f >= 0))",
                paper_value="test error -> 0 at c = 1",
                reason="at c = 1 the threshold does not silence every patch, so the tie rule moves the accuracy by "
                       "less than 0.01: the metric does not explain the distance to the paper's accuracy. Our "
                       f"hypothesis is the number of steps ({params['steps']:,} here, the paper's {PAPER_STEPS:,}), "
                       "which only the paper scale tests"),
        finding("theory model: largest difference, over the noise levels, between the accuracy as the official "
                "code scores it (a tie f = 0 counts as correct) and ours (a tie counts one half)",
                max(v["ties"] for v in values["theory"].values()) / 2, ">", 0.01,
                source="Karp et al. 2021, Fig. 3; official code (accuracy = mean(y f >= 0))",
                paper_value="a network at f ≡ 0 scores 1.0",
                reason="where the bias switches every patch off (f ≡ 0) the official metric counts every input as "
                       "correct; ours scores such a network 0.5, chance"),
        *separation_claims(values["separation"]),
        finding(f"MNIST: the CNN's relative drop at n = {small:,} minus at n = {large:,}",
                cnn_against_n[small] - cnn_against_n[large], ">=", 3 * against_n_se, source=IMAGES,
                paper_value="the paper trains on the full training set only",
                reason="the CNN's robustness to the background is learned from data (criterion: 3 binomial standard "
                       "errors, at the smaller n's clean accuracy). Our reading, not tested: the CNN has no pooling, "
                       "so it must learn the digit at every position",
                expected=real_mnist and large >= 10 * small,
                expected_when="on real MNIST with sizes spanning a factor of 10"),
        *cifar_claims(values, params),
    ]


def cifar_claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    """Fig. 4: on each of the paper's CIFAR settings the trained network's relative drop is below
    its wide linearization's by at least 2 standard errors (counted at the paper's scale: the
    WRN-10-10 and its linearization on 20,000 images); below that scale, where the small CNN on a
    thousand images is compared, a finding. The CIFAR-image background is ours, not the paper's:
    shown, not counted."""
    drops = values["images_relative_drop"]
    network, linear, ntk = drops["CNN"], drops["linearized CNN (wide)"], drops.get("NTK", {})
    keys = [k for k in FIG4_SETTINGS if k in network]
    chance = values["chance_by_setting"]
    weakest = {}
    for r in values["images_accuracy"]:
        weakest[r["setting"]] = min(weakest.get(r["setting"], math.inf), r["strength"])
    clean = {(r["setting"], r["method"]): r["accuracy"] for r in values["images_accuracy"]
             if r["strength"] == weakest[r["setting"]]}

    def margin(key):  # 2 standard errors of a difference of two relative drops
        a0 = min(clean.get((key, "CNN"), 1.0), clean.get((key, "linearized CNN (wide)"), 1.0))
        return 2 / math.sqrt(values["n_test_by_setting"][key]) / max(a0 - chance[key], 1e-9)

    below = [linear[k] - network[k] >= margin(k) for k in keys]
    share = float(np.mean(below)) if below else float("nan")
    listed = "; ".join(f"{k}: {network[k]:.2f} against {linear[k]:.2f}" for k in keys)
    with_ntk = "; ".join(f"{k}: {network[k]:.2f} against {ntk[k]:.2f}" for k in keys if k in ntk)
    n_cifar = min(values["n_train_by_setting"][k] for k in keys) if keys else 0
    paper_scale = (params["architecture"] == "wrn" and n_cifar >= PAPER_CIFAR_IMAGES
                   and not values.get("fallback_data", False))
    return [
        paper_claim(f"CIFAR-10, the paper's four settings: share where the network's relative drop is below its wide "
                    f"linearization's by 2 standard errors ({listed})", share, ">=", 1.0, source=FIG4,
                    paper_value="the CNN stays robust, its linearization drops, on every background",
                    reason="every setting, as the figure shows; 2 binomial standard errors of the difference of the "
                           "two drops per setting; one seed per setting below scale paper",
                    expected=paper_scale, expected_when="with the WRN-10-10 and 20,000 training images (scale paper)"),
        finding(f"CIFAR-10, the paper's four settings, the small CNN on n = {n_cifar:,}: share where the CNN's relative "
                f"drop is below its wide linearization's by 2 standard errors (CNN against its NTK: {with_ntk})",
                share, "<", 1.0, source=FIG4, paper_value="every setting (WRN-10-10)",
                reason="our guess, not tested on CIFAR: the small CNN's robustness is learned from data, as on "
                       "MNIST, where its drop falls with the number of images (the finding above), and a thousand "
                       "images are too few; it also has no pooling",
                expected=not paper_scale and bool(keys), expected_when="below scale paper (the small CNN)"),
    ]


def _kernel_growth(separation: dict) -> tuple[float, list[str]]:
    """The share of decidable pairs of consecutive k (with the NTK fitted at both) where the NTK's
    sample size to ``TARGET_ACCURACY`` is larger at the larger k, and each k's size as text. A pair
    is decided when the sizes' intervals (``reach_interval``) do not overlap."""
    from ..experiments.lsa_separation import reach_interval, samples_to_reach

    ks = sorted(int(k) for k, sizes in separation["kernel_sizes"].items() if sizes)
    reach = {}
    for k in ks:
        acc = {r["n"]: r["accuracy"] for r in separation["rows"] if r["method"] == "NTK" and r["k"] == k}
        reach[k] = samples_to_reach(acc, TARGET_ACCURACY)
    grows, text = [], [f"k = {k}: n {bound} {n:.0f}" for k, (n, bound) in reach.items()]
    for k1, k2 in zip(ks, ks[1:]):
        (low1, high1), (low2, high2) = reach_interval(*reach[k1]), reach_interval(*reach[k2])
        if low2 >= high1 and (low2 > high1 or reach[k2][1] == ">"):
            grows.append(True)
        elif high2 <= low1:
            grows.append(False)
        else:
            text.append(f"k = {k1} to {k2} undecided")
    return (float(np.mean(grows)) if grows else float("nan")), text


def separation_claims(separation: dict) -> list[Claim]:
    """Claims on the network and the NTK trained on the same samples (``lsa_separation``)."""
    rows, n_test = separation["rows"], separation["n_test"]
    # two accuracies on n_test inputs each: the difference has standard error at most sqrt(2) 0.5 / sqrt(n_test)
    diff_se = math.sqrt(2) * 0.5 / math.sqrt(n_test)
    growth, pairs = _kernel_growth(separation)
    ceiling = {int(k): v for k, v in separation["ceiling"].items()}
    network = {(r["k"], r["n"]): r["accuracy"] for r in rows if r["method"] == "network"}
    ntk = {(r["k"], r["n"]): r["accuracy"] for r in rows if r["method"] == "NTK"}
    k_large = max(ceiling)
    both = sorted(n for (k, n) in ntk if k == k_large)
    k_small = min(ceiling)
    n_network = max(n for (_, n) in network)
    network_change = network[(k_large, n_network)] - network[(k_small, n_network)]
    small_sizes = sorted(n for (k, n) in ntk if k == k_small)
    kernel_small = ntk[(k_small, small_sizes[-1])] if small_sizes else float("nan")
    return [
        paper_claim(f"NTK on the patch model, c = 1: the training-set size it needs to reach accuracy "
                    f"{TARGET_ACCURACY} grows with k (share of decidable consecutive pairs of k; {'; '.join(pairs)})",
                    growth, ">=", 1.0, source=SEPARATION, paper_value="kernel sample complexity grows with k",
                    reason=f"every pair that can be decided; the size is interpolated in (log n, log accuracy) on "
                           f"{n_test:,} test inputs (one training draw per k)",
                    expected=math.isfinite(growth), expected_when="when at least one pair of k can be decided"),
        paper_claim(f"patch model, c = 1: the network's test accuracy at n = {n_network} from k = {k_small} to "
                    f"k = {k_large} (it does not fall by more than 3 standard errors)", network_change, ">=",
                    -3 * diff_se, source=SEPARATION,
                    paper_value="the network's sample complexity does not grow with k (the kernel's does)",
                    reason=f"the same n and the same number of gradient steps at every k; 3 standard errors of a "
                           f"difference of two accuracies on {n_test:,} test inputs"),
        paper_claim(f"patch model, k = {k_large}, c = 1: network minus NTK test accuracy at the same n = "
                    f"{both[-1] if both else 'n/a (the NTK did not fit the budget)'}",
                    network[(k_large, both[-1])] - ntk[(k_large, both[-1])] if both else float("nan"), ">=",
                    3 * diff_se, source=SEPARATION, paper_value="the network learns, the kernel stays near chance",
                    reason=f"3 standard errors of a difference of two accuracies on {n_test:,} test inputs",
                    expected=bool(both) and both[-1] >= 512,
                    expected_when=f"with the NTK fitted at k = {k_large} on n >= 512 (scale paper, a GPU)"),
        finding(f"patch model, k = {k_small}, c = 1: the NTK at n = {small_sizes[-1] if small_sizes else 'n/a'} minus "
                f"the best one-filter model (ideal filter w*, best threshold: {ceiling[k_small]:.3f})",
                kernel_small - ceiling[k_small], ">=", 3 * diff_se, source=SEPARATION,
                paper_value="the network beats its kernel",
                reason="at small k the noise per patch, s = c ln k / sqrt k, is loud: at c = 1 no threshold separates "
                       "the signal patch from the noise patches, so even the ideal one-filter model stays near "
                       f"{ceiling[k_small]:.2f}, while a kernel of many filters fits more than one threshold; the "
                       "separation is a statement about large k"),
        check("the trained network does not beat the best one-filter model (largest excess over the ceiling, "
              "over every k and n)", max(network[(k, n)] - ceiling[k] for (k, n) in network), "<=", 3 * diff_se,
              reason="the ceiling is the same model with the ideal filter and its threshold chosen on a fresh "
                     "sample; 3 standard errors"),
    ]
