"""The networks of the book's chapters, as plain ``torch.nn.Module``s."""

from .two_layer import PARAMETERIZATIONS, TwoLayerReLU

__all__ = ["PARAMETERIZATIONS", "TwoLayerReLU"]
