"""Chapter 2: one gradient step learns the subspace of f*(x) = g(Ux) (Damian, Lee and
Soltanolkotabi 2022, Algorithm 1), against random features and the NTK.

The network is ``f(x) = sum_j a_j ReLU(<w_j, x> + b_j)`` of width m, with a symmetric start:
rows ``w_j`` uniform on the unit sphere, ``b_j = 0``, ``a_j = +-1`` and the second half of the
neurons a copy of the first with ``a`` negated, so ``f = 0`` at initialisation. The algorithm:

0. preprocessing: ``alpha = mean(y)``, ``beta = (1/n) sum_i y_i x_i`` and ``y <- y - alpha -
   <beta, x>``, so the labels have no mean and no linear part (``LinearPart``); the prediction
   adds ``alpha + <beta, x>`` back;
1. one full-batch gradient step on W for ``L = 1/(2n) sum_i (f(x_i) - y_i)^2`` with weight
   decay ``1/eta``, which leaves ``W_1 = -eta grad_W L``; at a zero network
   ``grad_{w_j} L = -(a_j / n) sum_i y_i 1[<w_j, x_i> > 0] x_i`` (paper, eq. 4);
2. fresh biases ``b_j ~ N(0, bias_std^2)``;
3. the readout ``a`` by ridge regression on the features ``ReLU(W_1 x + b)`` (a convex problem).

``eta`` sets the size of the learned rows; ``row_norm`` instead picks ``eta`` so that their
mean norm is ``row_norm``.

Baselines, at the same scale of rows and biases as the network: random features (m independent
rows uniform on the sphere of radius ``row_norm``, the network's fresh biases, the same ridge;
the network's ``W_0`` has only m/2 distinct directions) and the infinite-width NTK of the
two-layer ReLU network whose first-layer pre-activations have the same variances
(``W_std = row_norm``, ``b_std = bias_std``; kernel ridge regression). Every method picks its ridge from ``RIDGES`` on a held-out validation set.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.multi_index import HermiteLink, MultiIndexTask, random_orthonormal_rows
from ..kernels.arccos import two_layer_relu_kernel
from ..kernels.solve import feature_ridge_path, predict_in_blocks, ridge_path_coefficients
from ..seeding import derived_seed
from ..validation import check_positive_float, check_positive_int
from ..run.data_plan import DataPlan, synthetic_plan

# relative to the mean diagonal of the Gram matrix; infinity is the zero readout (predicting 0, or
# for the network with step 0 its alpha + <beta, x> alone)
RIDGES = (*(10.0 ** k for k in range(-6, 4)), math.inf)
METHODS = ("network", "random features", "NTK")


def symmetric_init(m: int, d: int, generator: torch.Generator | None = None,
                   dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W, a)``: W shape ``(m, d)`` with unit rows, a shape ``(m,)`` in {-1, +1}; rows
    ``m/2 + j`` repeat row j with a negated, so the network is 0 at initialisation."""
    check_positive_int("m", m)
    if m % 2:
        raise ValueError(f"m={m} is not allowed; a symmetric initialisation needs an even width")
    w = torch.randn(m // 2, d, generator=generator, dtype=dtype)
    w = w / w.norm(dim=1, keepdim=True)
    a = torch.where(torch.rand(m // 2, generator=generator, dtype=dtype) < 0.5, -1.0, 1.0).to(dtype)
    return torch.cat([w, w]), torch.cat([a, -a])


def first_layer_gradient(w: torch.Tensor, a: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                         chunk: int = 8192) -> torch.Tensor:
    """``grad_W L`` at a network that outputs 0 (no bias), shape ``(m, d)``:
    ``-(a_j / n) sum_i y_i 1[<w_j, x_i> > 0] x_i``. Memory O(chunk * m)."""
    grad = torch.zeros_like(w)
    for start in range(0, x.shape[0], chunk):
        xs, ys = x[start:start + chunk], y[start:start + chunk]
        active = (xs @ w.T > 0).to(x.dtype)  # (chunk, m)
        grad -= (active * ys[:, None]).T @ xs
    return grad * (a[:, None] / x.shape[0])


def one_step_features(w0: torch.Tensor, a0: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                      eta: float | None = None, row_norm: float = 1.0) -> tuple[torch.Tensor, float]:
    """Step 1 of the algorithm: ``W_1 = -eta grad_W L`` (weight decay 1/eta removes ``W_0``).

    Returns ``(W_1, eta)``; with ``eta=None``, eta makes the mean row norm of ``W_1`` equal to
    ``row_norm``.
    """
    grad = first_layer_gradient(w0, a0, x, y)
    if eta is None:
        check_positive_float("row_norm", row_norm)
        eta = row_norm / float(grad.norm(dim=1).mean())
    check_positive_float("eta", eta)
    return -eta * grad, eta


@dataclass(frozen=True)
class LinearPart:
    """``alpha + <beta, x>``: the mean and linear part of the labels that Algorithm 1 removes
    before the gradient step and adds back at prediction (``alpha = mean(y)``, ``beta = (1/n)
    sum_i y_i x_i``, the sample form of ``E[y]`` and ``E[y x]`` for ``x ~ N(0, I)``)."""

    alpha: float
    beta: torch.Tensor  # (d,)

    @classmethod
    def fit(cls, x: torch.Tensor, y: torch.Tensor) -> "LinearPart":
        """From samples ``x`` ``(n, d)`` and labels ``y`` ``(n,)``."""
        return cls(float(y.mean()), x.T @ y / x.shape[0])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha + x beta``, shape ``(n,)``."""
        return self.alpha + x @ self.beta.to(x)


def relu_features(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``ReLU(x W^T + b)``, shape ``(n, m)``."""
    return torch.relu(x @ w.T + b)


@dataclass
class Split:
    """Training, validation and test samples of one task."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    f_test: torch.Tensor  # noiseless targets: the test MSE measures the error in f*

    @classmethod
    def draw(cls, task: MultiIndexTask, n: int, n_val: int, n_test: int, generator: torch.Generator) -> "Split":
        x, y = task.sample(n + n_val, generator)
        x_test, _ = task.sample(n_test, generator)
        return cls(x[:n], y[:n], x[n:], y[n:], x_test, task.target(x_test))

    def minus(self, part: LinearPart) -> "Split":
        """Every label less ``part(x)``: a model fitted to these and predicting ``part(x)`` plus
        its output has the same validation and test errors as on the original labels."""
        return Split(self.x_train, self.y_train - part(self.x_train), self.x_val, self.y_val - part(self.x_val),
                     self.x_test, self.f_test - part(self.x_test))


def fit_ridge(embed, split: Split, kernel: bool) -> tuple[float, float, float]:
    """Ridge regression with the ridge picked on the validation set, tested in blocks.

    ``embed(x)`` maps inputs ``(n, d)`` to a matrix: ReLU features ``(n, m)`` (``kernel=False``)
    or kernel columns ``K(x, X_train)`` (``kernel=True``). The test set can be large (the
    degree-4 targets are heavy-tailed, so a test MSE needs many samples); validation and test
    inputs are embedded a block of rows at a time (``predict_in_blocks``). Returns ``(test MSE
    against f*, chosen relative ridge, seconds of embedding the training inputs)`` (for a kernel,
    the seconds of its Gram matrix).
    """
    start = time.perf_counter()
    train = embed(split.x_train)
    embed_seconds = time.perf_counter() - start
    if kernel:
        alphas = ridge_path_coefficients(train, split.y_train, RIDGES)  # (n, len(RIDGES))
    else:
        alphas = feature_ridge_path(train, split.y_train, RIDGES)  # (m, len(RIDGES))
    del train
    val_mse = ((predict_in_blocks(embed, split.x_val, alphas) - split.y_val[:, None]) ** 2).mean(0)
    best = int(torch.argmin(val_mse))
    test = predict_in_blocks(embed, split.x_test, alphas[:, best:best + 1])[:, 0]
    return float(((test - split.f_test) ** 2).mean()), RIDGES[best], embed_seconds


def evaluate_features(w: torch.Tensor, bias: torch.Tensor, split: Split) -> tuple[float, float]:
    """Ridge on ``ReLU(W x + b)`` features; ``(test MSE, ridge)``."""
    return fit_ridge(lambda x: relu_features(w, bias, x), split, kernel=False)[:2]


def evaluate_ntk(split: Split, bias_std: float = 1.0, row_norm: float = 1.0) -> tuple[float, float, float]:
    """Kernel ridge with the two-layer ReLU NTK (``W_std = row_norm``, ``b_std = bias_std``): the
    infinite width of a network whose first-layer pre-activations ``<w, x> + b`` have the
    variances ``row_norm^2`` (rows of norm ``row_norm``, ``x ~ N(0, I)``) and ``bias_std^2`` of the
    features used here, and a readout without bias as theirs. Returns ``(test MSE, ridge, seconds
    of the training Gram matrix)``."""
    return fit_ridge(lambda x: two_layer_relu_kernel(x, split.x_train, W_std=row_norm, b_std=bias_std,
                                                     readout_b_std=0.0), split, kernel=True)


def algorithm_split(split: Split, preprocess: bool = True) -> Split:
    """The labels Algorithm 1 learns from: ``split`` less the ``LinearPart`` fitted on its
    training samples (step 0) when ``preprocess``, else ``split`` itself. A readout fitted on them
    predicts ``LinearPart(x)`` plus its output, with the same errors as measured on them."""
    return split.minus(LinearPart.fit(split.x_train, split.y_train)) if preprocess else split


def run_methods(task: MultiIndexTask, n: int, m: int, seed: int, n_val: int, n_test: int,
                eta: float | None = None, row_norm: float = 1.0, bias_std: float = 1.0,
                methods: tuple[str, ...] = METHODS, device: torch.device | str = "cpu",
                fixed_features: dict | None = None, preprocess: bool = True, floor_samples: int = 0,
                fresh_readout: bool = False) -> dict:
    """The methods on one draw of ``n`` training samples (and fresh validation and test sets).

    Returns a row: the test MSE per method (key: the method's name) and its ridge
    (``<method>_ridge``); for the network also ``eta``, the representation metrics of ``W_1``
    (``representation_metrics``) and, with ``floor_samples``, the floor of its features
    (``feature_floor`` on that many fresh samples: ``floor``, ``floor_half``); with
    ``fresh_readout`` also ``network_fresh``, Algorithm 1's steps 0 and 3 on n fresh samples at the
    same ``W_1`` and biases (what reusing the step's samples for the readout costs); for the NTK
    ``gram_seconds``. ``preprocess``: the network runs Algorithm 1 with its step 0
    (``algorithm_split``). ``fixed_features`` maps a name to ``(W, b)``: a ridge readout of those
    ReLU features too, on the same samples and the raw labels. Step 0 is not applied to it: its
    ``beta`` is a d-dimensional estimate whose error adds about ``d / n`` times ``Var y`` to the
    test MSE, which would make a readout's sample cost grow with d (at n = d it doubles the error).
    """
    g = torch.Generator().manual_seed(seed)
    split = Split.draw(task, n, n_val, n_test, g)
    split = Split(*(t.to(device) for t in vars(split).values()))
    w0, a0 = (t.to(device) for t in symmetric_init(m, task.d, g, task.u.dtype))
    bias = (bias_std * torch.randn(m, generator=g, dtype=task.u.dtype)).to(device)
    row = dict(n=n, d=task.d, m=m, seed=seed)
    fit_split = algorithm_split(split, preprocess)
    if "network" in methods:
        w1, row["eta"] = one_step_features(w0, a0, fit_split.x_train, fit_split.y_train, eta, row_norm)
        row["network"], row["network_ridge"] = evaluate_features(w1, bias, fit_split)
        row.update(representation_metrics(w1, split.x_train, split.y_train, task.u))
        if floor_samples:
            row.update(feature_floor(w1, bias, task, floor_samples, g, split))
        if fresh_readout:
            x, y = task.sample(n, g)
            fresh = Split(x.to(device), y.to(device), split.x_val, split.y_val, split.x_test, split.f_test)
            row["network_fresh"] = evaluate_features(w1, bias, algorithm_split(fresh, preprocess))[0]
    if "random features" in methods:  # m independent rows, as the kernel's infinite width (W_0 has m/2 directions)
        w_rf = torch.randn(m, task.d, generator=g, dtype=task.u.dtype).to(device)
        w_rf = row_norm * w_rf / w_rf.norm(dim=1, keepdim=True)
        row["random features"], row["random features_ridge"] = evaluate_features(w_rf, bias, split)
    if "NTK" in methods:
        row["NTK"], row["NTK_ridge"], row["gram_seconds"] = evaluate_ntk(split, bias_std, row_norm)
    for name, (w, b) in (fixed_features or {}).items():  # a readout alone: no d-dimensional linear part to fit
        row[name], row[f"{name}_ridge"] = evaluate_features(w, b, split)
    return row


def subspace_energy(w: torch.Tensor, u: torch.Tensor) -> float:
    """``||W U^T||_F^2 / ||W||_F^2``: the share of the rows' energy inside span(U)."""
    u = u.to(w)
    return float((w @ u.T).norm() ** 2 / w.norm() ** 2)


def principal_angles(basis: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between span of ``basis`` rows ``(r, d)`` and
    span(U); both with orthonormal rows."""
    cos = torch.linalg.svdvals(basis.to(torch.float64) @ u.to(torch.float64).T)
    return torch.arccos(torch.clamp(cos, -1.0, 1.0))  # svdvals descend, so the angles ascend


def top_right_singular(w: torch.Tensor, r: int) -> torch.Tensor:
    """The top-r right singular vectors of ``W`` as rows, shape ``(r, d)``."""
    return torch.linalg.svd(w.to(torch.float64), full_matrices=False).Vh[:r]


def empirical_hessian(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Stein's estimate of ``E[grad^2 f*]``: ``(1/n) sum_i y_i (x_i x_i^T - I)``, shape ``(d, d)``."""
    n, d = x.shape
    return (x.T * y) @ x / n - y.mean() * torch.eye(d, dtype=x.dtype, device=x.device)


def top_eigenvectors(h: torch.Tensor, r: int) -> torch.Tensor:
    """The r eigenvectors of the symmetric ``h`` with the largest |eigenvalue|, as rows."""
    values, vectors = torch.linalg.eigh(h.to(torch.float64))
    order = torch.argsort(values.abs(), descending=True)[:r]
    return vectors[:, order].T


def representation_metrics(w1: torch.Tensor, x: torch.Tensor, y: torch.Tensor, u: torch.Tensor) -> dict:
    """Energy in span(U) and largest principal angle (degrees) of the top-r singular subspace of
    ``W_1``, and the largest angle of the Hessian estimate's top-r eigenspace from the same data."""
    r = u.shape[0]
    return dict(
        energy=subspace_energy(w1, u),
        angle_w=math.degrees(float(principal_angles(top_right_singular(w1, r), u)[-1])),
        angle_hessian=math.degrees(float(principal_angles(top_eigenvectors(empirical_hessian(x, y), r), u)[-1])),
    )


def feature_floor(w: torch.Tensor, bias: torch.Tensor, task: MultiIndexTask, samples: int,
                  generator: torch.Generator, split: Split, chunk: int = 16384) -> dict:
    """The approximation error of the network's features: the test MSE against ``f*`` of the best
    readout of ``[ReLU(W x + b), 1, x]`` (the features and the affine part Algorithm 1 adds back),
    measured with a training set far larger than the network's.

    Ridge readouts are fitted to the noiseless ``f*`` on the first ``samples / 2`` and on all
    ``samples`` fresh inputs (one stream: the normal equations ``Phi^T Phi``, ``(m + d + 1)^2``,
    and ``Phi^T f*`` are accumulated ``chunk`` inputs at a time, so memory is O(chunk m + m^2)
    whatever ``samples`` is), each with its relative ridge picked from ``RIDGES`` on ``split``'s
    validation inputs and its error measured on ``split``'s test inputs (the ones the network is
    measured on: the degree-4 target is heavy-tailed, and a shared test set makes differences of
    errors far less noisy than the errors). Returns ``floor`` (the error with all ``samples``: an
    upper estimate of the floor, since a readout's excess keeps falling with its training size;
    ``tests/test_representation.py`` found e(N/2) - e(N) several times smaller than what is left
    at N, so it does not bound the rest), ``floor_half`` (with ``samples / 2``) and
    ``floor_samples``.
    """
    if not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples={samples!r} is not allowed; the floor needs an integer of at least 2")

    def embed(x):
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        return torch.cat([relu_features(w, bias, x), ones, x], dim=1)

    width = w.shape[0] + w.shape[1] + 1
    gram = torch.zeros(width, width, dtype=torch.float64, device=w.device)
    rhs = torch.zeros(width, dtype=torch.float64, device=w.device)
    target_val = task.target(split.x_val)
    errors = {}
    for seen in (samples // 2, samples):  # stream up to half the samples, fit; then the rest, fit
        start = samples // 2 if errors else 0
        for first in range(start, seen, chunk):
            x, _ = task.sample(min(chunk, seen - first), generator)
            phi = embed(x.to(w.device)).to(torch.float64)
            gram += phi.T @ phi
            rhs += phi.T @ task.target(x).to(torch.float64)
        alphas = ridge_path_coefficients(gram, rhs, RIDGES)
        best = int(torch.argmin(((predict_in_blocks(embed, split.x_val, alphas) - target_val[:, None]) ** 2).mean(0)))
        test = predict_in_blocks(embed, split.x_test, alphas[:, best:best + 1])[:, 0]
        errors[seen] = float(((test - split.f_test) ** 2).mean())
    return dict(floor=errors[samples], floor_half=errors[samples // 2], floor_samples=samples)


def sample_complexity(d_values: list[int], n_per_d: dict[int, list[int]], link: HermiteLink, m: int,
                      seeds: int, n_val: int, n_test: int, kernel_max_n: int, row_norm: float = 1.0,
                      bias_std: float = 1.0, noise_std: float = 0.0, seed: int = 0,
                      device: torch.device | str = "cpu", progress: bool = True) -> list[dict]:
    """Experiments 1 and 2: for each d, training-set size n and seed, the test MSE of the three
    methods (the NTK only while ``n <= kernel_max_n``) and the representation metrics of W_1.

    Every (d, repetition) has its own U; the sizes for dimension d are ``n_per_d[d]``. Rows
    carry ``rep``, the repetition index (``seed`` is the seed of the draw).
    """
    jobs = [(d, s, n) for d in d_values for s in range(seeds) for n in n_per_d[d]]
    rows = []
    for d, s, n in tqdm(jobs, desc="sample complexity", disable=not progress):
        u = random_orthonormal_rows(link.r, d, torch.Generator().manual_seed(derived_seed(1, seed, d, s)))
        task = MultiIndexTask(u.to(device), link, noise_std)
        methods = METHODS if n <= kernel_max_n else METHODS[:2]
        row = run_methods(task, n, m, seed=derived_seed(1, seed, d, s, n), n_val=n_val, n_test=n_test,
                          row_norm=row_norm, bias_std=bias_std, methods=methods, device=device)
        rows.append(dict(row, rep=s))
    return rows


def transfer(d: int, source: HermiteLink, target: HermiteLink, n_source: int, n_targets: list[int], m: int,
             seeds: int, n_val: int, n_test: int, row_norm: float = 1.0, bias_std: float = 1.0,
             noise_std: float = 0.0, seed: int = 0, device: torch.device | str = "cpu", progress: bool = True,
             preprocess: bool = True) -> list[dict]:
    """Experiment 3: learn ``W_1`` on ``source`` with ``n_source`` samples, then fit only the
    readout on ``target`` (same U) with each of ``n_targets`` samples.

    Rows per (seed, target size): test MSE of the transferred features (``"transfer"``), of the
    one-step network trained on the target samples alone (``"network"``), of random features and
    of the NTK, all with the ridge picked on ``n_val`` target validation samples.
    """
    rows = []
    for s in tqdm(range(seeds), desc="transfer", disable=not progress):
        g = torch.Generator().manual_seed(derived_seed(2, seed, s))
        u = random_orthonormal_rows(source.r, d, g).to(device)
        source_task, target_task = MultiIndexTask(u, source, noise_std), MultiIndexTask(u, target, noise_std)
        x_src, y_src = source_task.sample(n_source, g)
        if preprocess:
            y_src = y_src - LinearPart.fit(x_src, y_src)(x_src)
        w0, a0 = (t.to(device) for t in symmetric_init(m, d, g, u.dtype))
        w1, _ = one_step_features(w0, a0, x_src, y_src, row_norm=row_norm)
        bias = (bias_std * torch.randn(m, generator=g, dtype=u.dtype)).to(device)
        source_energy = subspace_energy(w1, u)
        for n in n_targets:
            row = run_methods(target_task, n, m, seed=derived_seed(2, seed, s, n), n_val=n_val, n_test=n_test,
                              row_norm=row_norm, bias_std=bias_std, device=device, preprocess=preprocess,
                              fixed_features={"transfer": (w1, bias)})
            rows.append(dict(row, source_energy=source_energy, rep=s))
    return rows


def width_step_sweep(d: int, n: int, link: HermiteLink, widths: list[int], row_norms: list[float], seeds: int,
                     n_val: int, n_test: int, floor_samples: int, fresh_at: tuple[int, float] | None = None,
                     bias_std: float = 1.0, noise_std: float = 0.0, seed: int = 0,
                     device: torch.device | str = "cpu", progress: bool = True) -> list[dict]:
    """Experiment 4: for each width m and step size (set through the mean row norm of ``W_1``;
    ``eta`` is proportional to it), the network's and random features' test MSE (the same row
    norm and biases) and the floor of the network's features (``feature_floor`` on
    ``floor_samples`` inputs; at ``fresh_at = (m, row_norm)`` also the readout on fresh samples,
    ``run_methods(fresh_readout=True)``). Every (m, row norm) of a seed shares U and the samples;
    every row norm of a width shares W_0 and the biases too."""
    jobs = [(s, m, rn) for s in range(seeds) for m in widths for rn in row_norms]
    rows = []
    for s, m, rn in tqdm(jobs, desc="width and step", disable=not progress):
        u = random_orthonormal_rows(link.r, d, torch.Generator().manual_seed(derived_seed(3, seed, s)))
        task = MultiIndexTask(u.to(device), link, noise_std)
        row = run_methods(task, n, m, seed=derived_seed(3, seed, s), n_val=n_val, n_test=n_test, row_norm=rn,
                          bias_std=bias_std, methods=("network", "random features"), device=device,
                          floor_samples=floor_samples, fresh_readout=fresh_at == (m, rn))
        rows.append(dict(row, row_norm=rn, rep=s))
    return rows


def plan_data(params: dict, inventories=None) -> DataPlan:
    """Chapter 2 uses synthetic data: its sizes run as given (``lsa_utils.run.data_plan``). It
    refuses sizes without a sweep or without a single NTK fit; a claim point outside what the
    sizes compute becomes a note (that claim is then shown but not expected)."""
    from ..claims.representation import claim_points

    points = claim_points(params)
    plan = synthetic_plan(params, [
        ("n_points >= 2 (the sample-size sweep from n = d to its largest n)", params["n_points"] >= 2),
        ("kernel_max_n >= the smallest d (the NTK is fitted from n = d up)", params["kernel_max_n"] >= min(params["d_values"])),
    ])
    plan.notes += [f"not computed, so its claim is not expected: {text}" for text, holds in points.values() if not holds]
    return plan
