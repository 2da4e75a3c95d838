"""Data: synthetic tasks, image data sets (real or fallback) and the canvas transform."""

from .._lazy import lazy_exports

# public name -> module that defines it (imported on first use)
_EXPORTS = {
    "place_on_canvas": "lsa_utils.data.canvas",
    "ImageDataset": "lsa_utils.data.images",
    "load_image_dataset": "lsa_utils.data.images",
    "read_idx": "lsa_utils.data.images",
    "RegressionTask": "lsa_utils.data.synthetic",
    "toy_regression_1d": "lsa_utils.data.synthetic",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
