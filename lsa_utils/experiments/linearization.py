"""Networks against their linearizations (Ortiz-Jimenez, Moosavi-Dezfooli and Frossard, NeurIPS 2021).

- **NTK eigenfunction tasks.** The empirical NTK Gram matrix Theta_0 of a network at its
  initialisation theta_0, on N pooled train and test images, has eigenpairs
  ``Theta_0 phi_k = lambda_k phi_k`` (lambda_1 >= lambda_2 >= ...). Task k labels image i by
  ``[phi_k(i) > 0]``. The paper's finding: both the network and its linearization
  ``f_lin(x; theta) = f(x; theta_0) + J(x; theta_0)(theta - theta_0)`` learn these tasks worse as k
  grows, in the same order.
- **Alignment.** The Rayleigh quotient ``A(phi_j) = phi_j^T Theta phi_j / phi_j^T phi_j`` of a
  kernel Theta along the initial eigenvectors (the paper's Sec. 5), and the centered
  kernel-target alignment of Theta with the labels; training moves the network's kernel towards
  the task, while the linearization's kernel ``J(theta_0) J(theta_0)^T`` cannot move.
- **Training recipe** (the official code): SGD, momentum 0.9, learning rate 0.05 decayed linearly
  to 0, batch 128, sigmoid binary cross-entropy on labels in {0, 1}.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..data.inventory import ImageInventory, image_inventory
from ..kernels.alignment import kernel_target_alignment, rayleigh_quotients
from ..kernels.solve import kernel_ridge_predict
from ..models.small_nets import make_binary_classifier
from ..kernels.eigen import ntk_eigen_residuals, ntk_eigenpairs, ntk_rayleigh_quotients
from ..kernels.empirical import LinearizedModel, empirical_ntk
from ..run.data_plan import DataPlan, cap_note, capped_sweep
from ..train import train_minibatch
from ..validation import check_positive_float, check_positive_int

LR = 0.05
MOMENTUM = 0.9
BATCH_SIZE = 128
# Per-example Jacobians up to this size are kept in memory (the faster Jacobian contraction):
# 2,500 CIFAR-10 images through the MLP (318,000 parameters) take 3.2 GB in float32.
GRAM_MEMORY_BUDGET = 8 * 1024**3


@contextmanager
def evaluating(model: nn.Module):
    """``model`` in eval mode inside the block (BatchNorm on its running statistics: see
    ``with_batch_statistics``), its own mode restored after."""
    mode = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(mode)


def ntk_gram(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Empirical NTK Gram matrix (N, N) of ``model`` on ``images`` (N, ...), in float64, the
    model in eval mode (``evaluating``)."""
    with evaluating(model):
        return empirical_ntk(model, images, memory_budget=GRAM_MEMORY_BUDGET).double()


# ARPACK's relative residual for the Lanczos path: the NTK-vector products of a float32 model
# carry relative errors of about 1e-7, so a tighter tolerance need not converge.
LANCZOS_TOL = 1e-6


@dataclass
class NTKSpectrum:
    """Eigenpairs of a model's empirical NTK on N images: eigenvalues (m,), in decreasing order,
    and unit eigenvectors as columns of ``eigenvectors`` (N, m), in float64. From the dense path
    (``count=None`` in ``ntk_spectrum``) m = N and ``gram`` is the Gram matrix (N, N) in float64;
    from Lanczos m = ``count``, ``gram`` is ``None``, ``products`` counts the NTK-vector products
    and ``residuals`` maps eigen-indices j (from 1) to ``||Theta phi_j - lambda_j phi_j|| / lambda_j``,
    recomputed from fresh products. ``gram_seconds`` (``None`` for Lanczos) and ``eigen_seconds``:
    the time each took."""

    gram: torch.Tensor | None
    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    gram_seconds: float | None
    eigen_seconds: float
    products: int | None = None
    residuals: dict[int, float] | None = None

    def describe(self) -> str:
        """One line on how the eigenpairs were found and what it took."""
        n = len(self.eigenvectors)
        if self.gram is None:
            return (f"top {self.eigenvectors.shape[1]:,} eigenpairs of the {n:,} x {n:,} NTK by Lanczos in "
                    f"{self.eigen_seconds:.1f} s ({self.products:,} NTK-vector products, no Gram matrix); largest "
                    f"relative residual {max(self.residuals.values()):.1e} at j in {sorted(self.residuals)}")
        return f"Gram matrix {n:,} x {n:,} in {self.gram_seconds:.1f} s, eigendecomposition in {self.eigen_seconds:.1f} s"


def ntk_spectrum(model: nn.Module, images: torch.Tensor, count: int | None = None, batch_size: int = 512,
                 residual_indices: list[int] | None = None) -> NTKSpectrum:
    """Eigenpairs of ``model``'s empirical NTK on ``images`` (N, ...), the model in eval mode.

    ``count=None``: all N, dense. The Gram matrix is computed in the model's dtype by the kernel
    engine (``empirical_ntk``), then symmetrised and decomposed in float64 (``torch.linalg.eigh``):
    memory O(N^2), time O(N^3). ``count`` = m: the top m by Lanczos on NTK-vector products
    (``kernels.eigen.ntk_eigenpairs``, tolerance ``LANCZOS_TOL``, ``batch_size`` images per pass),
    neither the Gram matrix nor the Jacobian formed: memory O(N m) plus one batch. Lanczos's
    Ritz pairs are then checked against the kernel itself: the residual
    ``||Theta phi_j - lambda_j phi_j|| / lambda_j`` from one more product each, at
    ``residual_indices`` (eigen-indices from 1) and always at 1 and m. A Ritz pair that has not
    converged has a Rayleigh quotient equal to its Ritz value all the same; its residual shows it.
    Eigenvectors are defined up to sign, by either path, as in the official code's ``eigh``.
    """
    if count is not None:
        indices = sorted({1, count, *(residual_indices or [])})
        with evaluating(model):
            found = ntk_eigenpairs(model, images, count, batch_size=batch_size, tol=LANCZOS_TOL)
            residuals = ntk_eigen_residuals(model, images, found.values, found.vectors, indices, batch_size)
        return NTKSpectrum(None, found.values, found.vectors, None, found.seconds, found.products, residuals)
    begin = time.perf_counter()
    gram = ntk_gram(model, images)
    gram_seconds = time.perf_counter() - begin
    begin = time.perf_counter()
    values, vectors = torch.linalg.eigh((gram + gram.T) / 2)
    eigen_seconds = time.perf_counter() - begin
    return NTKSpectrum(gram, values.flip(0), vectors.flip(1), gram_seconds, eigen_seconds)


def ntk_quotients(model: nn.Module, images: torch.Tensor, vectors: torch.Tensor, gram: torch.Tensor | None = None,
                  n_train: int | None = None) -> dict[str, np.ndarray]:
    """Rayleigh quotients (m,) of ``model``'s empirical NTK on ``images`` (N, ...) along the
    columns of ``vectors`` (N, m), the model in eval mode: ``{"all": ...}``, and with ``n_train``
    also ``"train"`` and ``"test"``, each split's block of the kernel along its rows (the
    official ``ntk_comparison``). From ``gram`` (N, N), that NTK's Gram matrix, where it is
    given; otherwise without one, all three from one vector-Jacobian pass
    (``kernels.eigen.ntk_rayleigh_quotients`` with ``split``)."""
    splits = {"all": slice(None)}
    if n_train is not None:
        splits.update(train=slice(0, n_train), test=slice(n_train, None))
    if gram is not None:
        return {name: rayleigh_quotients(gram[rows, rows], vectors[rows]).cpu().numpy() for name, rows in splits.items()}
    with evaluating(model):
        found = ntk_rayleigh_quotients(model, images, vectors.to(images.device), split=n_train).cpu().numpy()
    return dict(zip(splits, found if n_train is not None else [found]))


def eigenfunction_labels(eigenvector: torch.Tensor) -> torch.Tensor:
    """Labels in {0, 1} of the task given by one eigenvector (N,): 1 where it is positive."""
    return (eigenvector > 0).float()


@dataclass
class KernelTrack:
    """The model's empirical NTK on a fixed probe set, measured before training (epoch 0) and
    after every epoch: centered kernel-target alignment with the probe labels (as +-1), and the
    relative change ``||Theta_t - Theta_0||_F / ||Theta_0||_F``."""

    epochs: list[int] = field(default_factory=list)
    alignment: list[float] = field(default_factory=list)
    change: list[float] = field(default_factory=list)


class KernelTracker:
    """Records a ``KernelTrack`` of ``model`` on ``probe`` images (n, ...) with labels (n,) in {0, 1}."""

    def __init__(self, model: nn.Module, probe: torch.Tensor, probe_labels: torch.Tensor) -> None:
        self.model, self.probe = model, probe
        self.targets = (2 * probe_labels - 1).double()
        self.track = KernelTrack()
        self.initial = None
        self(0)

    def __call__(self, epoch: int) -> None:
        gram = ntk_gram(self.model, self.probe)
        if self.initial is None:
            self.initial = gram
        self.track.epochs.append(epoch)
        self.track.alignment.append(kernel_target_alignment(gram, self.targets))
        self.track.change.append(float(torch.linalg.norm(gram - self.initial) / torch.linalg.norm(self.initial)))


@dataclass
class FitResult:
    """One training run: the trained model, test and train accuracy at the end,
    ``||theta_T - theta_0||_2``, wall-clock seconds, the kernel track (``None`` when no probe
    set was given) and the predicted test labels (n_test,)."""

    model: nn.Module
    test_accuracy: float
    train_accuracy: float
    distance: float
    seconds: float
    track: KernelTrack | None
    test_predictions: torch.Tensor | None = None


def predictions(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Predicted labels (n,) in {0, 1} of ``x`` (n, ...): 1 where the logit is positive, the
    model in eval mode (BatchNorm on its running statistics; its mode is restored after).

    Raises ``FloatingPointError`` when a logit is not finite (a fit that diverged would otherwise
    predict 0 everywhere and be scored as a learner)."""
    with evaluating(model), torch.no_grad():
        logits = torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    if not bool(torch.isfinite(logits).all()):
        raise FloatingPointError(f"{int((~torch.isfinite(logits)).sum())} of {len(logits)} logits are not finite: "
                                 "the fit diverged (try a smaller lr)")
    return (logits > 0).float()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Share of ``x`` (n, ...) whose logit sign matches ``y`` (n,) in {0, 1}."""
    return float((predictions(model, x, batch_size) == y).float().mean())


def with_batch_statistics(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are the average, over ``images``
    (n, ...) in near-equal batches of at most ``batch_size``, of the batch statistics at its
    current parameters.

    Our choice for the ResNet, not the official code's: an empirical NTK and a linearization need
    a function of one image, so BatchNorm is evaluated in eval mode, with these statistics. (The
    official code asks for ``train=False`` and keeps the initial statistics, mean 0 and variance
    1, with which BatchNorm would not normalise at all; as published with its pinned Flax 0.3.5,
    its ResNet forward pass with ``mutable=False`` raises an error, so what it ran cannot be
    read from it.) The ResNet's BatchNorm averages the biased batch variance, as Flax's
    (``lsa_utils.models.resnet.FlaxBatchNorm2d``). Models without BatchNorm are returned as an
    unchanged copy.
    """
    model = copy.deepcopy(model)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches, which are near-equal in size
    mode = model.training
    model.train()
    with torch.no_grad():
        for batch in torch.tensor_split(images, -(-len(images) // batch_size)):
            model(batch)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(mode)
    return model


def at_trained_parameters(initial: nn.Module, trained: nn.Module) -> nn.Module:
    """The expansion point theta_T of the kernel after training: a copy of ``initial`` holding
    ``trained``'s parameters and ``initial``'s buffers.

    As the official ``pretrained_ntk_comparison.py``, which keeps the parameters of the trained
    network and puts back the batch statistics of the initialisation ("we reinitialize batch
    norm to not introduce an unfair advantage"); here those of ``with_batch_statistics`` at
    theta_0. Networks without buffers are simply copied.
    """
    model = copy.deepcopy(initial)
    with torch.no_grad():
        for p, q in zip(model.parameters(), trained.parameters(), strict=True):
            p.copy_(q)
    return model


def _distance(model: nn.Module, initial: list[torch.Tensor]) -> float:
    with torch.no_grad():
        return float(sum(((p - p0) ** 2).sum() for p, p0 in zip(model.parameters(), initial))) ** 0.5


def linear_decay(fraction: float) -> float:
    """The official learning-rate schedule: from 1 at the start to 0 at the end of training."""
    return 1.0 - fraction


def fit_binary(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    epochs: int,
    lr: float = LR,
    seed: int = 0,
    probe: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: bool = False,
    desc: str = "training",
) -> FitResult:
    """Train a copy of ``model`` (a network or a ``LinearizedModel``) with the paper's recipe.

    Args:
        model: maps ``(n, ...)`` to logits ``(n,)``; left untouched (a deep copy is trained).
        x_train, y_train: images ``(n, ...)`` and labels ``(n,)`` in {0, 1}; likewise the test set.
        epochs: passes over the training set; the learning rate decays linearly to 0 over them.
        seed: the shuffling's seed.
        probe: ``(images, labels)`` on which to track the model's NTK after every epoch.
    """
    check_positive_int("epochs", epochs)
    check_positive_float("lr", lr)
    for name, y in [("y_train", y_train), ("y_test", y_test)]:
        if not bool(((y == 0) | (y == 1)).all()):
            raise ValueError(f"{name} must hold labels in {{0, 1}}")
    model = copy.deepcopy(model)
    initial = [p.detach().clone() for p in model.parameters()]
    tracker = KernelTracker(model, *probe) if probe is not None else None
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    begin = time.perf_counter()
    train_minibatch(model, x_train, y_train.float(), optimizer, epochs, BATCH_SIZE, linear_decay,
                    loss_fn=nn.functional.binary_cross_entropy_with_logits,
                    generator=torch.Generator().manual_seed(seed), progress=progress, desc=desc,
                    on_epoch=tracker)
    seconds = time.perf_counter() - begin
    test_predictions = predictions(model, x_test)
    return FitResult(model, float((test_predictions == y_test).float().mean()), accuracy(model, x_train, y_train),
                     _distance(model, initial), seconds, tracker.track if tracker else None, test_predictions)


def fit_network_and_linearization(model: nn.Module, *data: torch.Tensor, epochs: int, seed: int = 0,
                                  probe=None, progress: bool = False) -> dict[str, FitResult]:
    """``fit_binary`` for ``model`` and for its linearization at the same theta_0, with the same
    data order: ``{"network": ..., "linearized": ...}``."""
    return {
        "network": fit_binary(model, *data, epochs=epochs, seed=seed, probe=probe, progress=progress,
                              desc="network"),
        "linearized": fit_binary(LinearizedModel(model), *data, epochs=epochs, seed=seed, probe=probe,
                                 progress=progress, desc="linearized"),
    }


# The kinds of fit of an eigen-task: the network, its linearization at theta_0 as the official
# train_ntk.py trains it (f(x; theta_0) + J(theta_0)(theta - theta_0)), and, on the tasks of
# ``after_indices``, the official pretrained_ntk_comparison.py's pair: the kernel alone
# (J(theta)(theta - theta'), no offset) at theta_0 and at the trained network's theta_T.
KINDS = ("network", "linearized", "kernel at θ₀", "kernel at θ_T")


@dataclass
class EigenTaskSweep:
    """Every eigenfunction task trained by the network and its linearization.

    ``rows``: one dict per fit with ``model``, ``k``, ``kind`` (one of ``KINDS``),
    ``test_accuracy``, ``train_accuracy``, ``agreement`` (share of test images on which the fit
    predicts the trained network's label), ``distance`` and ``seconds``; ``tracks``: the kernel
    track of the tracked task, keyed ``(model name, kind)``; ``trained``: the network trained
    on the tracked task, per model name; ``paired``: one dict per task with ``model``, ``k`` and
    the counts of test images that only the linearization (``only_linearized``) or only the
    network (``only_network``) labels correctly; ``after``: one dict per task of ``after_indices`` with
    ``model``, ``k`` and the paired counts of test images on which only the kernel after
    training (``only_after``) or only the kernel at theta_0 (``only_before``) predicts the
    network's label, and ``correct``: for the network and both kernels, a string with one
    character per test image, "1" where it is labelled correctly."""

    rows: list[dict] = field(default_factory=list)
    paired: list[dict] = field(default_factory=list)
    after: list[dict] = field(default_factory=list)
    tracks: dict[tuple[str, str], KernelTrack] = field(default_factory=dict)
    trained: dict[str, nn.Module] = field(default_factory=dict)


def fit_kernels_before_and_after(initial: nn.Module, trained: nn.Module, *data: torch.Tensor, epochs: int,
                                 seed: int = 0) -> dict[str, FitResult]:
    """The official comparison of the kernel at initialisation with the kernel after training.

    Both are ``LinearizedModel(..., offset=False)``, ``J(x; theta') (theta - theta')``, trained
    by ``fit_binary`` with the network's recipe and data order: at theta' = theta_0 (``initial``)
    and at theta' = theta_T (``trained``'s parameters, ``initial``'s BatchNorm statistics:
    ``at_trained_parameters``). Returns ``{"kernel at θ₀": ..., "kernel at θ_T": ...}``.
    """
    points = {KINDS[2]: initial, KINDS[3]: at_trained_parameters(initial, trained)}
    return {kind: fit_binary(LinearizedModel(point, offset=False), *data, epochs=epochs, seed=seed, desc=kind)
            for kind, point in points.items()}


def eigen_task_sweep(initial: dict[str, nn.Module], spectra: dict[str, NTKSpectrum], pooled: torch.Tensor,
                     n_train: int, eigen_indices: list[int], tracked_index: int, probe_size: int, epochs: int,
                     seed: int = 0, after_indices: list[int] = (), report=print) -> EigenTaskSweep:
    """Train each model of ``initial`` and its linearization on task k (the sign of the k-th
    eigenvector of its NTK spectrum) for every k in ``eigen_indices``.

    ``pooled`` (N, ...) are the images the spectra were computed on; the first ``n_train`` train,
    the rest test. On ``tracked_index`` the kernel is tracked on the first ``probe_size`` images
    after every epoch. On the tasks of ``after_indices`` the kernel at theta_0 and the kernel
    after training are also fitted (``fit_kernels_before_and_after``). ``report`` gets one line
    per task (``None``: silent).
    """
    if tracked_index not in eigen_indices:
        raise ValueError(f"tracked_index={tracked_index} is not allowed; it must be one of eigen_indices {eigen_indices}")
    if not set(after_indices) <= set(eigen_indices):
        raise ValueError(f"after_indices={list(after_indices)} is not allowed; each must be one of eigen_indices "
                         f"{eigen_indices}")
    if not 0 < n_train < len(pooled):
        raise ValueError(f"n_train={n_train} is not allowed; it must lie in [1, {len(pooled) - 1}]")
    sweep = EigenTaskSweep()
    for name, model in initial.items():
        vectors = spectra[name].eigenvectors
        for k in eigen_indices:
            labels = eigenfunction_labels(vectors[:, k - 1]).to(pooled.device)
            split = (pooled[:n_train], labels[:n_train], pooled[n_train:], labels[n_train:])
            probe = (pooled[:probe_size], labels[:probe_size]) if k == tracked_index else None
            fits = fit_network_and_linearization(model, *split, epochs=epochs, seed=seed, probe=probe)
            if k in after_indices:
                fits.update(fit_kernels_before_and_after(model, fits["network"].model, *split, epochs=epochs,
                                                         seed=seed))
            network_labels = fits["network"].test_predictions
            net_right, lin_right = network_labels == split[3], fits["linearized"].test_predictions == split[3]
            sweep.paired.append(dict(model=name, k=k, only_linearized=int((lin_right & ~net_right).sum()),
                                     only_network=int((net_right & ~lin_right).sum())))
            if k in after_indices:
                before_agrees = fits[KINDS[2]].test_predictions == network_labels
                after_agrees = fits[KINDS[3]].test_predictions == network_labels
                correct = {kind: "".join("1" if c else "0" for c in (fits[kind].test_predictions == split[3]).tolist())
                           for kind in ("network", KINDS[2], KINDS[3])}
                sweep.after.append(dict(model=name, k=k, only_after=int((after_agrees & ~before_agrees).sum()),
                                        only_before=int((before_agrees & ~after_agrees).sum()), correct=correct))
            for kind, fit in fits.items():
                agreement = float((fit.test_predictions == network_labels).float().mean())
                sweep.rows.append(dict(model=name, k=k, kind=kind, test_accuracy=fit.test_accuracy,
                                       train_accuracy=fit.train_accuracy, agreement=agreement, distance=fit.distance,
                                       seconds=fit.seconds))
                if fit.track is not None:
                    sweep.tracks[name, kind] = fit.track
            if k == tracked_index:
                sweep.trained[name] = fits["network"].model
            if report:
                report(f"{name}, task {k}: test accuracy " + ", ".join(
                    f"{kind} {fit.test_accuracy:.3f}" for kind, fit in fits.items()))
    return sweep


# The control learner of the ranking claim: a kernel method that knows nothing of the networks.
CONTROL = "RBF kernel (control)"
CONTROL_RIDGE = 1e-3


def rbf_control_rows(spectra: dict[str, NTKSpectrum], pooled: torch.Tensor, n_train: int,
                     eigen_indices: list[int], ridge: float = CONTROL_RIDGE) -> list[dict]:
    """Test accuracy of a Gaussian-kernel ridge classifier on raw pixels on every eigen-task.

    ``k(x, x') = exp(-||x - x'||^2 / h)``, ``h`` the median squared distance between training
    images; ``alpha = (K_tr + ridge I)^-1 y_tr`` on labels +-1 (``K``'s diagonal is 1, so
    ``ridge`` is relative to it), a test image labelled 1 where ``K_te,tr alpha > 0``. Its
    difficulty may well rise with k (the NTK's leading eigenfunctions are smooth functions of the
    pixels too), but it shares nothing with a network's kernel: the ranking claim asks that the
    linearization track the network beyond what this learner explains.

    ``pooled`` (N, ...): the first ``n_train`` train, the rest test. Returns one row per (model,
    k) with ``model``, ``k``, ``kind`` = ``CONTROL``, ``test_accuracy`` and ``train_accuracy``.
    """
    check_positive_float("ridge", ridge)
    x = pooled.reshape(len(pooled), -1).double().cpu()
    squared = torch.cdist(x, x[:n_train]).pow_(2)
    bandwidth = float(squared[:n_train].median())
    kernel = squared.div_(-bandwidth).exp_()  # in place: N x n_train numbers, 24 GB at the paper's size
    labels = torch.cat([torch.stack([eigenfunction_labels(spectrum.eigenvectors[:, k - 1]) for k in eigen_indices], 1)
                        for spectrum in spectra.values()], 1).cpu()  # every model's tasks: one factorisation
    predicted = (kernel_ridge_predict(kernel[:n_train], kernel, 2 * labels[:n_train].double() - 1, ridge) > 0).float()
    correct_all = (predicted == labels).float()
    rows = []
    for i, name in enumerate(spectra):
        correct = correct_all[:, i * len(eigen_indices):(i + 1) * len(eigen_indices)]
        for j, k in enumerate(eigen_indices):
            rows.append(dict(model=name, k=k, kind=CONTROL, test_accuracy=float(correct[n_train:, j].mean()),
                             train_accuracy=float(correct[:n_train, j].mean())))
    return rows


def rayleigh_growth(spectrum: NTKSpectrum, initial: nn.Module, trained: nn.Module, pooled: torch.Tensor, count: int,
                    tracked_index: int, n_train: int | None = None) -> dict:
    """The Rayleigh quotients ``A(phi_j)`` of the initial and of the trained NTK along the
    ``count`` leading initial eigenvectors (the paper's alignment measure), their growth
    ``A_T(phi_j) / lambda_j``, the growth at ``tracked_index`` and the median growth elsewhere.

    ``spectrum`` is ``initial``'s on ``pooled``. Where it holds the Gram matrix, the quotients
    come from Gram matrices (the trained model's computed here); from Lanczos (no Gram matrix),
    both models' quotients come from vector-Jacobian products (``ntk_quotients``). ``init_error``
    is then only a consistency check of that code: a Ritz pair's quotient is its Ritz value,
    converged or not (``NTKSpectrum.residuals`` checks the eigenpairs).

    With ``n_train`` (the first ``n_train`` pooled images trained, the rest tested) also the
    growth on each split, as the official ``ntk_comparison`` of ``train_ntk.py`` measures it: the
    quotient of the split's block of the kernel along the split's rows of phi_j,
    ``phi_j[S]^T Theta[S, S] phi_j[S] / ||phi_j[S]||^2``, after training over before.

    Returns ``before``, ``eigenvalues``, ``after``, ``gain`` (arrays of length ``count``),
    ``gain_at_task``, ``median_gain_elsewhere``, ``init_error``, max |A_0(phi_j) - lambda_j| / lambda_1,
    and with ``n_train`` ``gain_train`` and ``gain_test`` (arrays of length ``count``).
    """
    count = min(count, spectrum.eigenvectors.shape[1])
    if not 1 <= tracked_index <= count:
        raise ValueError(f"tracked_index={tracked_index} is not allowed; it must lie in [1, {count}]")
    if n_train is not None and not 0 < n_train < len(pooled):
        raise ValueError(f"n_train={n_train} is not allowed; it must lie in [1, {len(pooled) - 1}]")
    vectors = spectrum.eigenvectors[:, :count]
    trained_gram = None if spectrum.gram is None else ntk_gram(trained, pooled)
    initial_q = ntk_quotients(initial, pooled, vectors, spectrum.gram, n_train)
    trained_q = ntk_quotients(trained, pooled, vectors, trained_gram, n_train)
    before, after = initial_q["all"], trained_q["all"]
    eigenvalues = spectrum.eigenvalues[:count].cpu().numpy()
    gain = after / eigenvalues
    out = dict(before=before, eigenvalues=eigenvalues, after=after, gain=gain,
               gain_at_task=float(gain[tracked_index - 1]),
               median_gain_elsewhere=float(np.median(np.delete(gain, tracked_index - 1))),
               init_error=float(np.abs(before - eigenvalues).max() / eigenvalues[0]))
    if n_train is not None:
        for split in ("train", "test"):
            out[f"gain_{split}"] = trained_q[split] / initial_q[split]
    return out


def epochs_for_steps(steps: int, n: int, batch_size: int = BATCH_SIZE) -> int:
    """Epochs over ``n`` images that make ``steps`` SGD steps of ``batch_size`` (rounded to the
    nearest whole epoch, at least 1): an epoch is ceil(n / batch_size) steps."""
    check_positive_int("steps", steps)
    return max(1, round(steps / -(-n // batch_size)))


def real_task_sweep(tasks: list, models: list[str], sizes: list[list[int]], steps: int, seeds: int = 1,
                    seed: int = 0, device: torch.device | str = "cpu", report=None, resnet_width: int = 64) -> list[dict]:
    """The network against its linearization on real binary tasks, at nested training sizes and
    the same number of SGD steps at every size (``epochs_for_steps``).

    ``tasks``: ``BinaryImages`` (one per data set); ``sizes[i]``: the training-set sizes of
    ``tasks[i]``; ``seeds`` repetitions, each with its own initialisation (seeded from ``seed``,
    the repetition, the data set's position and the model's), shared by the network and its
    linearization, and its own data order. Returns one record per (data set, model, n,
    repetition): ``dataset``, ``model``, ``n``, ``seed``, ``epochs``, ``steps`` (as made; an
    epoch is rounded whole, so within half an epoch of ``steps``), ``test`` (test images),
    ``disagreement`` (share of them the two label differently), ``network`` and ``linearized``
    test accuracy, ``network_train`` and ``linearized_train``
    training accuracy. ``report`` gets one line per record (``None``: silent); ``resnet_width``:
    the ResNet18's base width when ``models`` has it.
    """
    check_positive_int("seeds", seeds)
    rows = []
    for d, (task, task_sizes) in enumerate(zip(tasks, sizes)):
        x_train, y_train = task.x_train.to(device), task.y_train.to(device)
        test = (task.x_test.to(device), task.y_test.to(device))
        for i, name in enumerate(models):
            for s in range(seeds):
                generator = torch.Generator().manual_seed(seed + 1000 * s + 100 + 10 * d + i)
                model = make_binary_classifier(name, task.image_shape, generator, resnet_width).to(device)
                for n in task_sizes:
                    epochs = epochs_for_steps(steps, n)
                    start = with_batch_statistics(model, x_train[:n])  # theta_0 as the linearization sees it
                    fits = fit_network_and_linearization(start, x_train[:n], y_train[:n], *test, epochs=epochs,
                                                         seed=seed + 1000 * s)
                    disagree = fits["network"].test_predictions != fits["linearized"].test_predictions
                    rows.append(dict(dataset=task.name, model=name, n=n, seed=s, epochs=epochs,
                                     steps=epochs * -(-n // BATCH_SIZE), test=len(test[1]),
                                     disagreement=float(disagree.float().mean()),
                                     network=fits["network"].test_accuracy, linearized=fits["linearized"].test_accuracy,
                                     network_train=fits["network"].train_accuracy,
                                     linearized_train=fits["linearized"].train_accuracy))
                    if report:
                        r = rows[-1]
                        report(f"{task.name}, {name}, n = {n:,}, seed {s}: network {r['network']:.3f} (train "
                               f"{r['network_train']:.3f}), linearized {r['linearized']:.3f} (train "
                               f"{r['linearized_train']:.3f}), {r['steps']} steps")
    return rows


def plan_data(params: dict, inventories: dict[str, ImageInventory] | None = None) -> DataPlan:
    """Chapter 4's sizes on the data at hand (``lsa_utils.run.data_plan``).

    Caps ``n_train`` and ``n_test`` of the eigen-tasks at the data set's splits, drops eigen-tasks
    beyond the ``N`` pooled images, caps ``probe_size`` and ``rayleigh_count``, adds
    ``eigen_count`` (the eigenpairs Lanczos finds for ``eigen_solver="lanczos"``: the largest task
    index or ``rayleigh_count``, at most N - 1; ``None`` for the dense path); for the real
    tasks adds ``real_tasks``, one entry per distinct data set actually loaded (both requested
    sets are the digits on the fallback, which then runs once), each with its ``dataset``
    (requested), ``name`` (loaded), ``index`` (position in ``real_datasets``, which seeds it),
    capped ``sizes`` and ``test``.
    """
    if inventories is None:
        inventories = {name: image_inventory(name) for name in {params["dataset"], *params["real_datasets"]}}
    sizes, notes = dict(params), []
    inventory = inventories[params["dataset"]]
    for key, split in [("n_train", "train"), ("n_test", "test")]:
        available = inventory.count(split)
        sizes[key] = min(params[key], available)
        if available < params[key]:
            notes.append(cap_note(f"eigen-tasks, {split} images", params[key], available,
                                  f"the {inventory.name} {split} split"))
    pooled = sizes["n_train"] + sizes["n_test"]
    lanczos = params["eigen_solver"] == "lanczos"
    eigenpairs = pooled - 1 if lanczos else pooled  # Lanczos finds at most N - 1
    sizes["eigen_indices"] = [k for k in params["eigen_indices"] if k <= eigenpairs]
    if len(sizes["eigen_indices"]) < len(params["eigen_indices"]):
        notes.append(f"eigen-tasks: k = {sizes['eigen_indices']} (the NTK on {pooled:,} images has "
                     f"{eigenpairs:,} eigenvectors {'Lanczos can find' if lanczos else 'in all'})")
    sizes["after_indices"] = [k for k in params["after_indices"] if k in sizes["eigen_indices"]]
    if len(sizes["after_indices"]) < len(params["after_indices"]):
        notes.append(f"kernel after training: k = {sizes['after_indices']} (the eigen-tasks that run)")
    for key, limit in [("probe_size", sizes["n_train"]), ("rayleigh_count", eigenpairs)]:
        sizes[key] = min(params[key], limit)
        if sizes[key] < params[key]:
            notes.append(cap_note(key, params[key], sizes[key], "no more images"))
    # Lanczos finds the eigenpairs the tasks and the Rayleigh quotients read (both capped at N - 1 above)
    sizes["eigen_count"] = max([*sizes["eigen_indices"], sizes["rayleigh_count"]]) if lanczos else None
    tasks, loaded = [], set()
    for index, dataset in enumerate(params["real_datasets"]):
        real = inventories[dataset]
        if real.name in loaded:
            notes.append(f"real tasks: {dataset} is {real.name} here, already run; skipped")
            continue
        loaded.add(real.name)
        task_sizes = capped_sweep(params["real_sizes"], real.count("train"))
        if task_sizes != list(params["real_sizes"]):
            notes.append(f"real tasks on {real.name}: n = {task_sizes} instead of {list(params['real_sizes'])} "
                         f"(its training split has {real.count('train'):,} images)")
        test = min(params["real_test"], real.count("test"))
        if test < params["real_test"]:
            notes.append(cap_note(f"real tasks on {real.name}, test images", params["real_test"], test,
                                  "its test split"))
        tasks.append(dict(dataset=dataset, name=real.name, index=index, sizes=task_sizes, test=test))
    sizes["real_tasks"] = tasks
    used = [inventory, *(inventories[t["dataset"]] for t in tasks)]
    fell_back = list(dict.fromkeys(inv.requested for inv in used if inv.fallback))
    effect = ""
    if fell_back:
        digits = next(inv for inv in used if inv.fallback)
        parts = (["the eigen-tasks"] if inventory.fallback else []) + [
            f"the real task on {t['dataset']}" for t in tasks if inventories[t["dataset"]].fallback]
        effect = (
            f"{' and '.join(parts).capitalize()} then use 8x8 digits ({digits.count('train'):,} training and "
            f"{digits.count('test'):,} test images; real task: even against odd digits). The LeNet's 5x5 "
            "convolutions see most of an 8x8 image, the MLP has 64 inputs instead of 784 or 3,072, and "
            f"the eigen-tasks come from a Gram matrix of at most {pooled:,} images. The paper states its "
            "claims (rank agreement, alignment, growth along the trained direction) for CIFAR-10 and MNIST "
            "networks; on this degenerate input they are shown but not counted. The checks that hold by "
            "construction still count."
        )
    requirements = [
        ("tracked_index is one of the eigen-tasks that run", params["tracked_index"] in sizes["eigen_indices"]),
        ("after_indices are eigen-tasks (its requested ones: " + str(list(params["after_indices"])) + ")",
         set(params["after_indices"]) <= set(params["eigen_indices"])),
        ("at least one task of after_indices runs (the kernel after training)", bool(sizes["after_indices"])),
        ("at least two eigen-tasks run (the rank correlation)", len(sizes["eigen_indices"]) >= 2),
        ("tracked_index <= rayleigh_count (its Rayleigh quotient is read)", params["tracked_index"] <= sizes["rayleigh_count"]),
        ("every real task has a training size", all(t["sizes"] for t in tasks) and bool(tasks)),
    ]
    sources = {inv.requested: inv.source for inv in used}
    return DataPlan(sizes, notes, sources, bool(fell_back), effect, requirements, fell_back)
