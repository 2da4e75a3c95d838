"""Kernels in torch: analytic infinite-width NNGP/NTK of compositional architectures, empirical
NTKs and linearizations of any module, kernel predictors and alignment metrics.

Analytic kernels (``serial`` of layers, in the spirit of neural-tangents' ``stax``)::

    kernel = serial(Conv(64, 3), Relu(), Conv(64, 3), Relu(), GlobalAvgPool(), Dense(1))
    gram = kernel(x)  # (n, n) NTK; kernel(x1, x2, get="nngp") for the NNGP
"""

from .alignment import kernel_target_alignment, rayleigh_quotients
from .arccos import relu_expectations, two_layer_relu_kernel
from .empirical import LinearizedModel, empirical_ntk, linearize
from .layers import AvgPool, Conv, Dense, Erf, Flatten, GlobalAvgPool, GlobalSumPool, Relu
from .serial import SerialKernel, serial
from .solve import (
    cholesky_solve_psd,
    classification_accuracy,
    gd_mse_predict,
    kernel_ridge_predict,
    one_hot_targets,
)

__all__ = [
    "AvgPool", "Conv", "Dense", "Erf", "Flatten", "GlobalAvgPool", "GlobalSumPool",
    "LinearizedModel", "Relu", "SerialKernel", "cholesky_solve_psd", "classification_accuracy",
    "empirical_ntk", "gd_mse_predict", "kernel_ridge_predict", "kernel_target_alignment",
    "linearize", "one_hot_targets", "rayleigh_quotients", "relu_expectations", "serial",
    "two_layer_relu_kernel",
]
