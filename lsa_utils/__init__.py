"""lsa_utils: models, data, kernels and the chapter executor of the book
"Why do neural networks beat their kernels?".

The public names below are imported lazily (PEP 562), so ``import lsa_utils`` is cheap and the
chapter cache can tell exactly which modules a chapter uses (see ``lsa_utils.run.cache``).
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lsa_utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
