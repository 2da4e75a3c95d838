"""Kernel predictors: ridge regression and gradient descent on the squared loss.

A kernel machine trained on ``(X, y)`` predicts at new points through the Gram matrices
``k_train = K(X, X)`` (shape ``(n, n)``) and ``k_test_train = K(X*, X)`` (shape ``(n*, n)``).
All solves run in float64 and the predictions are returned in the dtype of ``k_test_train``.
"""

from __future__ import annotations

import warnings

import torch

from ..validation import check_choice, check_positive_float, check_positive_int
from .fusion import CPU_BLOCK_BYTES, keep_freed_memory


def _as_matrix(y: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """View targets of shape ``(n,)`` or ``(n, k)`` as ``(n, k)``; say whether it was a vector."""
    if y.ndim == 1:
        return y[:, None], True
    if y.ndim == 2:
        return y, False
    raise ValueError(f"y must have shape (n,) or (n, k); got shape {tuple(y.shape)}")


def _check_gram_shapes(k_train: torch.Tensor, k_test_train: torch.Tensor, y: torch.Tensor) -> None:
    n = k_train.shape[0]
    if k_train.shape != (n, n):
        raise ValueError(f"k_train must be square; got shape {tuple(k_train.shape)}")
    if k_test_train.ndim != 2 or k_test_train.shape[1] != n:
        raise ValueError(
            f"k_test_train must have shape (n_test, {n}); got shape {tuple(k_test_train.shape)}"
        )
    if y.shape[0] != n:
        raise ValueError(f"y must have {n} rows to match k_train; got shape {tuple(y.shape)}")


def cholesky_solve_psd(
    k: torch.Tensor, rhs: torch.Tensor, diag_reg: float = 0.0, max_tries: int = 6
) -> torch.Tensor:
    """Solve ``(k + diag_reg * I) a = rhs`` for a symmetric positive semi-definite ``k``.

    Works in float64. If the Cholesky factorisation fails, a jitter of ``1e-10 * mean(diag k)``
    is added and multiplied by 10 on each retry (at most ``max_tries``); a warning says which
    jitter was used, so a silently regularised solve never passes unnoticed.

    Args:
        k: shape ``(n, n)``.
        rhs: shape ``(n, k)``.
        diag_reg: absolute ridge added to the diagonal.

    Returns:
        ``a``, shape ``(n, k)``, float64. Cost: O(n^3 / 3) for the factorisation; memory: ``k``'s
        copy in float64 and the factor.
    """
    k64 = k.to(torch.float64, copy=True)  # one copy, its diagonal shifted in place: no n x n identity
    diagonal = k64.diagonal()
    diagonal.add_(diag_reg)
    regularised = diagonal.clone()
    scale = float(regularised.abs().mean()) or 1.0
    jitter = 0.0
    for attempt in range(max_tries + 1):
        torch.add(regularised, jitter, out=diagonal)
        chol, info = torch.linalg.cholesky_ex(k64)
        if int(info) == 0:
            if jitter:
                warnings.warn(
                    f"kernel matrix was not numerically positive definite; added jitter "
                    f"{jitter:.3g} (= {jitter / scale:.1e} x mean diagonal) after {attempt} retries",
                    stacklevel=2,
                )
            return torch.cholesky_solve(rhs.to(torch.float64), chol)
        jitter = 1e-10 * scale if jitter == 0.0 else jitter * 10
    raise torch.linalg.LinAlgError(
        f"Cholesky failed even with jitter {jitter / 10:.3g}; the kernel matrix is not PSD"
    )


def kernel_ridge_predict(
    k_train: torch.Tensor,
    k_test_train: torch.Tensor,
    y_train: torch.Tensor,
    diag_reg: float = 0.0,
    relative_reg: bool = False,
) -> torch.Tensor:
    """Kernel ridge regression, the infinite-time limit of gradient descent on the MSE.

        f(X*) = K(X*, X) (K(X, X) + lambda I)^{-1} y,

    with ``lambda = diag_reg`` or, when ``relative_reg``, ``diag_reg * trace(K) / n`` as
    neural-tangents' ``gradient_descent_mse_ensemble`` does.

    Args:
        k_train: shape ``(n, n)``. k_test_train: shape ``(n_test, n)``.
        y_train: shape ``(n,)`` or ``(n, k)``.

    Returns:
        Predictions, shape ``(n_test,)`` or ``(n_test, k)`` like ``y_train``.
    """
    _check_gram_shapes(k_train, k_test_train, y_train)
    check_positive_float("diag_reg", diag_reg, allow_zero=True)
    y, was_vector = _as_matrix(y_train)
    reg = diag_reg * float(torch.diagonal(k_train).mean()) if relative_reg else diag_reg
    alpha = cholesky_solve_psd(k_train, y, reg)
    pred = (k_test_train.to(torch.float64) @ alpha).to(k_test_train.dtype)
    return pred[:, 0] if was_vector else pred


def ridge_path_coefficients(gram: torch.Tensor, rhs: torch.Tensor, ridges, relative: bool = True) -> torch.Tensor:
    """Solutions of ``(gram + lambda I) alpha = rhs`` for every ``lambda`` in ``ridges`` (times
    ``mean(diag gram)`` when ``relative``), from one eigendecomposition.

    With a kernel, ``gram = K(X, X)`` and ``rhs = y``, and predictions are ``K(X*, X) alpha``;
    with features Phi, ``gram = Phi^T Phi``, ``rhs = Phi^T y`` and predictions ``Phi* alpha``.

    Args:
        gram: symmetric PSD, shape ``(p, p)``. rhs: shape ``(p,)``.

    Returns:
        float64, shape ``(p, len(ridges))``. Cost: one O(p^3) eigendecomposition, then
        O(p^2 len(ridges)).
    """
    p = gram.shape[0]
    if gram.shape != (p, p) or rhs.shape != (p,):
        raise ValueError(f"gram must be square and rhs a vector of its size; got {tuple(gram.shape)} "
                         f"and {tuple(rhs.shape)}")
    lams = torch.as_tensor([check_positive_float("ridge", r) for r in ridges], dtype=torch.float64,
                           device=gram.device)
    g64 = gram.to(torch.float64)
    if relative:
        lams = lams * torch.diagonal(g64).mean()
    values, vectors = torch.linalg.eigh(g64)
    coef = vectors.T @ rhs.to(torch.float64)
    return vectors @ (coef[:, None] / (values.clamp(min=0)[:, None] + lams[None, :]))


def feature_ridge_path(features: torch.Tensor, y: torch.Tensor, ridges) -> torch.Tensor:
    """Ridge coefficients ``(Phi^T Phi + lambda I)^-1 Phi^T y`` of features ``Phi`` (n, m) for
    every relative ridge (``lambda = r * mean(diag Phi^T Phi)``), shape ``(m, len(ridges))``.

    With fewer samples than features (n < m) the same coefficients come from the n x n problem,
    ``Phi^T (Phi Phi^T + lambda I)^-1 y`` (the push-through identity), whose eigendecomposition
    costs n^3 instead of m^3; the ridge keeps the m x m problem's scale, so both give the same
    numbers up to rounding."""
    ridges = [check_positive_float("ridge", r) for r in ridges]
    f64, y64 = features.to(torch.float64), y.to(torch.float64)
    n, m = f64.shape
    if n >= m:
        return ridge_path_coefficients(f64.T @ f64, f64.T @ y64, ridges)
    scale = float((f64 * f64).sum()) / m  # mean of diag(Phi^T Phi)
    return f64.T @ ridge_path_coefficients(f64 @ f64.T, y64, [r * scale for r in ridges], relative=False)


def predict_in_blocks(embed, x: torch.Tensor, coefficients: torch.Tensor, max_bytes: int | None = None) -> torch.Tensor:
    """``embed(x) @ coefficients`` without holding all of ``embed(x)`` in memory.

    ``embed`` maps inputs ``(n, d)`` to a matrix ``(n, p)`` (features, or kernel columns
    ``K(x, X_train)``); ``coefficients`` has shape ``(p, k)``. Rows are embedded a block at a time,
    each block at most ``max_bytes`` (default: the engine's CPU block size, which keeps freed
    blocks reusable; see ``fusion.py``). Returns float64, shape ``(n, k)``.
    """
    keep_freed_memory()
    width = coefficients.shape[0]
    rows = max(1, (max_bytes or CPU_BLOCK_BYTES) // (8 * width))
    coefficients = coefficients.to(torch.float64)
    return torch.cat([embed(x[i:i + rows]).to(torch.float64) @ coefficients for i in range(0, x.shape[0], rows)])


def gd_mse_predict(
    k_train: torch.Tensor,
    k_test_train: torch.Tensor,
    y_train: torch.Tensor,
    lr: float,
    steps: int,
) -> torch.Tensor:
    """Prediction of the kernel model after ``steps`` of full-batch gradient descent.

    For the loss ``L = 1 / (2n) * ||f(X) - y||^2`` and a model started at f = 0 whose tangent
    kernel is constant (the infinite-width network, Jacot et al. 2018, eq. 9), the training
    residual after t steps is ``(I - lr K / n)^t y``, hence with ``K = V diag(lam) V^T``

        f_t(X*) = K(X*, X) V diag((1 - (1 - lr lam / n)^t) / lam) V^T y.

    Args:
        k_train: shape ``(n, n)``. k_test_train: shape ``(n_test, n)``.
        y_train: shape ``(n,)`` or ``(n, k)``.
        lr: learning rate (must be below ``2 n / lam_max`` for stability).
        steps: number of gradient steps t.

    Returns:
        Predictions shaped like ``y_train`` with ``n_test`` rows. Cost: O(n^3) for ``eigh``.
    """
    _check_gram_shapes(k_train, k_test_train, y_train)
    check_positive_float("lr", lr)
    check_positive_int("steps", steps)
    y, was_vector = _as_matrix(y_train)
    n = k_train.shape[0]
    lam, vecs = torch.linalg.eigh(k_train.to(torch.float64))
    lam = lam.clamp(min=0.0)
    if lr * float(lam[-1]) / n >= 2:
        raise ValueError(
            f"lr={lr} is not allowed: gradient descent diverges for lr >= 2 n / lam_max = "
            f"{2 * n / float(lam[-1]):.4g}"
        )
    step = lr * lam / n
    # (1 - (1 - step)^t) / lam, computed stably, with its limit t * lr / n as lam -> 0.
    # 1 - (1 - step)^t; stable via expm1/log1p while step < 1, a plain power for 1 <= step < 2
    safe = torch.clamp(step, max=0.5)
    filt = torch.where(step < 0.5, -torch.expm1(steps * torch.log1p(-safe)), 1 - torch.pow(1 - step, steps))
    tiny = lam <= 1e-12 * float(lam[-1])
    filt = torch.where(tiny, torch.full_like(lam, steps * lr / n), filt / torch.where(tiny, 1.0, lam))
    coef = vecs @ (filt[:, None] * (vecs.T @ y.to(torch.float64)))
    pred = (k_test_train.to(torch.float64) @ coef).to(k_test_train.dtype)
    return pred[:, 0] if was_vector else pred


def one_hot_targets(labels: torch.Tensor, num_classes: int, dtype=torch.float64) -> torch.Tensor:
    """Regression targets for classification: one-hot rows, shape ``(n, num_classes)``."""
    check_positive_int("num_classes", num_classes)
    return torch.nn.functional.one_hot(labels.long(), num_classes).to(dtype)


def classification_accuracy(predictions: torch.Tensor, labels: torch.Tensor, coding: str = "auto") -> float:
    """Fraction of correct predictions.

    ``predictions`` of shape ``(n, c)`` with c > 1 are scored by their argmax against integer
    ``labels``. Of shape ``(n,)`` or ``(n, 1)``, they are scored by their sign against labels in
    {-1, +1} (``coding="pm1"``) or against ``predictions > 0.5`` for labels in {0, 1}
    (``coding="01"``); ``"auto"`` takes "01" when a label 0 occurs and no label -1, else "pm1".
    """
    check_choice("coding", coding, ("auto", "pm1", "01"))
    if predictions.ndim == 2 and predictions.shape[1] > 1:
        guess = predictions.argmax(1)
    else:
        p = predictions.reshape(-1)
        if coding == "auto":
            coding = "01" if bool((labels == 0).any()) and not bool((labels == -1).any()) else "pm1"
        guess = (p > 0.5).long() if coding == "01" else torch.where(p >= 0, 1, -1)
    if guess.shape[0] != labels.shape[0]:
        raise ValueError(f"{guess.shape[0]} predictions but {labels.shape[0]} labels")
    return float((guess.to(labels.device) == labels.long()).double().mean())
