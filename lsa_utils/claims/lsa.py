"""Chapter 1's claims: Karp et al. 2021, local signal adaptivity.

Values (``results/lsa/<scale>.json``): ``theory``, per noise level c (as text), the network's
final ``cosine`` with w*, ``bias``, ``signal_projection`` <w, w*>, ``noise_projection``
s||w|| and test ``accuracy`` (means over seeds); ``theory_kernel_accuracy``, per c, the NTK's
test accuracy at each ``kernel_n``; ``images_relative_drop`` (method -> setting -> drop);
``mnist_relative_drop_against_n`` (method -> n -> drop); ``n_mnist``; ``fallback_data``.

The theory claims are read at the paper's noise level c = 1 (its experiments' setting), not
at the level where they pass most easily; they are stated for the end of the paper's 10,000
online steps.
"""

from __future__ import annotations

import math
from typing import Any

from ..run.results import Claim
from .core import finding, paper_claim

PAPER_NOISE_LEVEL = 1.0
PAPER_STEPS = 10_000
PAPER_IMAGES = 20_000
THEORY = "Karp et al. 2021, abstract; Fig. 3 (k = 1000, d = 10, c = 1: the official script's setting)"
IMAGES = "Karp et al. 2021, abstract; Fig. 6 (MNIST-20k: 20,000 images on a 42x42 Gaussian canvas)"


def claims(values: dict[str, Any], params: dict[str, Any]) -> list[Claim]:
    from scipy.stats import norm

    c = PAPER_NOISE_LEVEL
    theory = values["theory"][str(c)]
    k = params["k"]
    z_one = float(norm.ppf(1 - 1 / (2 * (k - 1))))
    samples = params["steps"] * params["batch"]
    kernel = values["theory_kernel_accuracy"][str(c)]
    long_enough = params["steps"] >= PAPER_STEPS
    when = f"after the paper's {PAPER_STEPS:,} steps (scale paper)"
    # the NTK's accuracy on kernel_test inputs has standard error at most 0.5 / sqrt(kernel_test)
    margin = 3 * 0.5 / math.sqrt(params["kernel_test"])
    real_mnist = not values.get("fallback_data", False)
    n_mnist = values["n_mnist"]
    drops = values["images_relative_drop"]
    gap = drops["NTK"]["mnist_gaussian"] - drops["CNN"]["mnist_gaussian"]
    weakest = min(params["gaussian_strengths"])  # the relative drop runs from the weakest background
    clean = [r["accuracy"] for r in values["images_accuracy"]
             if r["setting"] == "mnist_gaussian" and r["method"] in ("CNN", "NTK") and r["strength"] == weakest]
    # a relative drop (a0 - a1) / (a0 - chance) has binomial standard error at most
    # sqrt(2) * 0.5 / sqrt(n_test) / (a0 - chance); the difference of two such drops, sqrt(2) more
    drop_se = 1 / math.sqrt(values["n_test_mnist"]) / (min(clean) - values["chance_mnist"])
    cnn_against_n = {int(n): v for n, v in values["mnist_relative_drop_against_n"]["CNN"].items()}
    small, large = min(cnn_against_n), max(cnn_against_n)
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
        paper_claim(f"theory model, c = {c:g}: network accuracy minus NTK accuracy (network: {samples:,} online "
                    f"samples; NTK: n = {max(params['kernel_n'])}, its Gram matrix costs O(n²k²))",
                    theory["accuracy"] - kernel[-1], ">=", margin,
                    source="Karp et al. 2021, abstract (the NTK 'is unable to adapt to the signal')",
                    paper_value="network near 1, kernel near 1/2",
                    reason=f"3 standard errors of the NTK's accuracy on {params['kernel_test']} test inputs",
                    expected=long_enough, expected_when=when),
        paper_claim(f"theory model, c = {c:g}: network test accuracy", theory["accuracy"], ">=", 0.95,
                    source=THEORY, paper_value="test error -> 0",
                    reason="the theorem's vanishing error, with 5% left for a finite run; fixed before the default "
                           "run (no value read off the paper's Fig. 3)",
                    expected=long_enough, expected_when=when),
        paper_claim(f"MNIST on Gaussian noise, n = {n_mnist:,}: NTK relative drop minus CNN relative drop", gap,
                    ">=", 3 * drop_se, source=IMAGES, paper_value="the NTK drops notably, the CNN stays relatively robust",
                    reason=f"3 binomial standard errors of the difference of two relative drops on "
                           f"{values['n_test_mnist']:,} test images (the spread over training seeds is not "
                           "included: one seed below scale paper)",
                    expected=real_mnist and n_mnist >= PAPER_IMAGES,
                    expected_when=f"on real MNIST with {PAPER_IMAGES:,} training images (scale paper)"),
        finding("theory model: largest difference, over the noise levels, between the accuracy as the official "
                "code scores it (a tie f = 0 counts as correct) and ours (a tie counts one half)",
                max(v["ties"] for v in values["theory"].values()) / 2, ">", 0.01,
                source="Karp et al. 2021, Fig. 3; official code (accuracy = mean(y f >= 0))",
                paper_value="a network at f ≡ 0 scores 1.0",
                reason="where the bias switches every patch off (f ≡ 0) the official metric counts every input as "
                       "correct; ours scores such a network 0.5, chance"),
        finding(f"MNIST: the CNN's relative drop at n = {small:,} minus at n = {large:,}",
                cnn_against_n[small] - cnn_against_n[large], ">=", 3 * drop_se, source=IMAGES,
                paper_value="the paper trains on the full training set only",
                reason="the CNN has no pooling and must learn every position of the digit: its robustness "
                       "to the background needs thousands of images (criterion: 3 binomial standard errors)",
                expected=real_mnist and large >= 10 * small,
                expected_when="on real MNIST with sizes spanning a factor of 10"),
    ]
