"""Infinite-width and empirical kernels in torch, and the kernel predictors that use them."""

from .arccos import relu_expectations, two_layer_relu_kernel
from .solve import cholesky_solve_psd, gd_mse_predict, kernel_ridge_predict

__all__ = [
    "cholesky_solve_psd",
    "gd_mse_predict",
    "kernel_ridge_predict",
    "relu_expectations",
    "two_layer_relu_kernel",
]
