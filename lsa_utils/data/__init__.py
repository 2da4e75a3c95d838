"""Data: synthetic tasks, image data sets (real or fallback) and the canvas transform."""

from .canvas import place_on_canvas
from .images import ImageDataset, load_image_dataset, read_idx
from .synthetic import RegressionTask, toy_regression_1d

__all__ = [
    "ImageDataset",
    "RegressionTask",
    "load_image_dataset",
    "place_on_canvas",
    "read_idx",
    "toy_regression_1d",
]
