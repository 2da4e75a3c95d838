"""lsa_utils: models, data, kernels and the chapter executor of the book
"Why do neural networks beat their kernels?".

The public names below are imported lazily (PEP 562), so ``import lsa_utils`` is cheap and the
chapter cache can tell exactly which modules a chapter uses (see ``lsa_utils.run.cache``).
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "resolve_device": "lsa_utils.devices",
    "TwoLayerReLU": "lsa_utils.models.two_layer",
    "two_layer_relu_kernel": "lsa_utils.kernels.arccos",
    "relu_expectations": "lsa_utils.kernels.arccos",
    "kernel_ridge_predict": "lsa_utils.kernels.solve",
    "gd_mse_predict": "lsa_utils.kernels.solve",
    "train_full_batch_gd": "lsa_utils.train",
    "load_image_dataset": "lsa_utils.data.images",
    "place_on_canvas": "lsa_utils.data.canvas",
    "toy_regression_1d": "lsa_utils.data.synthetic",
    "start_chapter": "lsa_utils.run.context",
    "Claim": "lsa_utils.run.results",
    "run_chapter": "lsa_utils.run.executor",
    "use_book_style": "lsa_utils.plotting",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
