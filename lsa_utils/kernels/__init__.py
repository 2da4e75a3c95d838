"""Kernels in torch: analytic infinite-width NNGP/NTK of compositional architectures, empirical
NTKs and linearizations of any module, kernel predictors and alignment metrics.

Analytic kernels (``serial`` of layers, in the spirit of neural-tangents' ``stax``)::

    kernel = serial(Conv(64, 3), Relu(), Conv(64, 3), Relu(), GlobalAvgPool(), Dense(1))
    gram = kernel(x)  # (n, n) NTK; kernel(x1, x2, get="nngp") for the NNGP
"""

from .._lazy import lazy_exports

# public name -> module that defines it (imported on first use)
_EXPORTS = {
    "kernel_target_alignment": "lsa_utils.kernels.alignment",
    "rayleigh_quotients": "lsa_utils.kernels.alignment",
    "relu_expectations": "lsa_utils.kernels.arccos",
    "two_layer_relu_kernel": "lsa_utils.kernels.arccos",
    "LinearizedModel": "lsa_utils.kernels.empirical",
    "empirical_ntk": "lsa_utils.kernels.empirical",
    "linearize": "lsa_utils.kernels.empirical",
    "gram": "lsa_utils.kernels.distributed",
    "ntk_eigenpairs": "lsa_utils.kernels.eigen",
    "ntk_vector_product": "lsa_utils.kernels.eigen",
    "ntk_rayleigh_quotients": "lsa_utils.kernels.eigen",
    "ntk_eigen_residuals": "lsa_utils.kernels.eigen",
    "local_cluster": "lsa_utils.kernels.distributed",
    "FanInConcat": "lsa_utils.kernels.branches",
    "FanInSum": "lsa_utils.kernels.branches",
    "FanOut": "lsa_utils.kernels.branches",
    "Identity": "lsa_utils.kernels.branches",
    "parallel": "lsa_utils.kernels.branches",
    "cntk_gap_kernel": "lsa_utils.kernels.architectures",
    "myrtle_kernel": "lsa_utils.kernels.architectures",
    "wide_resnet_kernel": "lsa_utils.kernels.architectures",
    "ABRelu": "lsa_utils.kernels.layers",
    "Abs": "lsa_utils.kernels.layers",
    "LeakyRelu": "lsa_utils.kernels.layers",
    "AvgPool": "lsa_utils.kernels.layers",
    "Conv": "lsa_utils.kernels.layers",
    "Dense": "lsa_utils.kernels.layers",
    "Erf": "lsa_utils.kernels.layers",
    "Flatten": "lsa_utils.kernels.layers",
    "Gelu": "lsa_utils.kernels.layers",
    "GlobalAvgPool": "lsa_utils.kernels.layers",
    "GlobalSumPool": "lsa_utils.kernels.layers",
    "LayerNorm": "lsa_utils.kernels.layers",
    "Relu": "lsa_utils.kernels.layers",
    "Sign": "lsa_utils.kernels.layers",
    "SumPool": "lsa_utils.kernels.layers",
    "SerialKernel": "lsa_utils.kernels.composition",
    "serial": "lsa_utils.kernels.composition",
    "cholesky_solve_psd": "lsa_utils.kernels.solve",
    "classification_accuracy": "lsa_utils.kernels.solve",
    "feature_ridge_path": "lsa_utils.kernels.solve",
    "gd_mse_predict": "lsa_utils.kernels.solve",
    "kernel_ridge_predict": "lsa_utils.kernels.solve",
    "one_hot_targets": "lsa_utils.kernels.solve",
    "ridge_path_coefficients": "lsa_utils.kernels.solve",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
