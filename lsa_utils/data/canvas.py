"""Paste images onto a larger canvas with a distracting background (Karp et al. 2021, Sec. 5).

Each image of shape ``(C, h, w)`` is pasted (its pixels replace the background's) onto a canvas
of shape ``(C, H, W)`` whose background is one of

- ``"gaussian"``: i.i.d. N(0, noise_std^2) pixels (``noise_std = 0`` gives a black canvas);
- ``"photo"``: random H x W crops of every photograph that scikit-image ships in its wheel
  (``PHOTOGRAPHS``: 20 images, 9 in colour, from a cat and a rocket to a retina, the moon and
  gravel; its synthetic images, binary masks and 25x25 faces left out), standing in for the
  paper's ImageNet plant images; grey for one channel, scaled to [0, 1], times ``noise_std``;
- ``"tiles"``: a grid of other images (``tiles``, shape ``(M, C, th, tw)``), drawn at random,
  times ``noise_std`` (the paper's "blocks" background of CIFAR-10 animals behind vehicles).

The location of the image is ``"random"`` (uniform over all placements), ``"random_corner"``
(one of the four corners), ``"fixed"`` (the centre) or an explicit ``(row, col)`` of its top-left
pixel. Everything random is drawn from ``generator``, so one seed gives one data set.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ..validation import check_choice, check_positive_float, check_positive_int

BACKGROUNDS = ("gaussian", "photo", "tiles")
LOCATIONS = ("random", "random_corner", "fixed")


PHOTOGRAPHS = (
    "astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket",
    "stereo_motorcycle", "text",
)


@lru_cache(maxsize=1)
def natural_photographs() -> tuple[np.ndarray, ...]:
    """The photographs scikit-image ships in its wheel (no download), as float32 arrays
    ``(H, W, 3)`` in [0, 1]; grey ones repeated over the three channels."""
    from skimage import data

    out = []
    for name in PHOTOGRAPHS:
        loaded = getattr(data, name)()
        views = loaded[:2] if isinstance(loaded, tuple) else (loaded,)  # the stereo pair: both views
        for view in views:
            img = np.asarray(view, dtype=np.float32) / 255.0
            out.append(np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img)
    return tuple(out)


def _photo_crops(n: int, channels: int, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    photos = natural_photographs()
    H, W = size
    out = torch.empty(n, channels, H, W)
    which = torch.randint(len(photos), (n,), generator=generator)
    for i in range(n):
        photo = photos[int(which[i])]
        if H > photo.shape[0] or W > photo.shape[1]:
            raise ValueError(f"canvas_size={size} is larger than the photographs {photo.shape[:2]}")
        r = int(torch.randint(photo.shape[0] - H + 1, (1,), generator=generator))
        c = int(torch.randint(photo.shape[1] - W + 1, (1,), generator=generator))
        crop = torch.from_numpy(photo[r:r + H, c:c + W]).permute(2, 0, 1)
        out[i] = crop.mean(0, keepdim=True) if channels == 1 else crop[:channels]
    return out


def _tiled(n: int, size: tuple[int, int], tiles: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    m, channels, th, tw = tiles.shape
    H, W = size
    rows, cols = -(-H // th), -(-W // tw)
    pick = torch.randint(m, (n, rows * cols), generator=generator)
    grid = tiles[pick].reshape(n, rows, cols, channels, th, tw)
    grid = grid.permute(0, 3, 1, 4, 2, 5).reshape(n, channels, rows * th, cols * tw)
    return grid[:, :, :H, :W]


def _positions(n: int, free: tuple[int, int], location, generator: torch.Generator) -> torch.Tensor:
    fr, fc = free
    if isinstance(location, tuple | list):
        r, c = location
        if not (0 <= r <= fr and 0 <= c <= fc):
            raise ValueError(f"location={tuple(location)} is not allowed; rows 0..{fr}, columns 0..{fc}")
        return torch.tensor([[r, c]]).repeat(n, 1)
    check_choice("location", location, LOCATIONS)
    if location == "random":
        return torch.stack(
            [torch.randint(fr + 1, (n,), generator=generator), torch.randint(fc + 1, (n,), generator=generator)], 1
        )
    if location == "random_corner":
        corners = torch.tensor([[0, 0], [0, fc], [fr, 0], [fr, fc]])
        return corners[torch.randint(4, (n,), generator=generator)]
    return torch.tensor([[fr // 2, fc // 2]]).repeat(n, 1)


def place_on_canvas(
    images: torch.Tensor,
    canvas_size: int | tuple[int, int],
    background: str = "gaussian",
    noise_std: float = 1.0,
    location: str | tuple[int, int] = "random",
    tiles: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste each image onto its own canvas (see the module docstring).

    Args:
        images: shape ``(N, C, h, w)``.
        canvas_size: ``H`` (square) or ``(H, W)``, with ``H >= h`` and ``W >= w``.
        background: ``"gaussian"``, ``"photo"`` or ``"tiles"``.
        noise_std: standard deviation of the Gaussian background, or the factor on the photo
            and tile backgrounds.
        location: ``"random"``, ``"random_corner"``, ``"fixed"`` or ``(row, col)``.
        tiles: images to tile the background with, shape ``(M, C, th, tw)`` (``"tiles"`` only).
        generator: source of randomness; ``None`` uses a fresh ``torch.Generator`` seeded 0.

    Returns:
        ``(canvases, positions)``: shapes ``(N, C, H, W)`` (images' dtype) and ``(N, 2)``, the
        top-left (row, col) of each pasted image.
    """
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, h, w); got shape {tuple(images.shape)}")
    size = (canvas_size, canvas_size) if isinstance(canvas_size, int) else tuple(canvas_size)
    for v in size:
        check_positive_int("canvas_size", v)
    n, channels, h, w = images.shape
    if size[0] < h or size[1] < w:
        raise ValueError(f"canvas_size={size} is not allowed; it must be at least the image size {(h, w)}")
    check_choice("background", background, BACKGROUNDS)
    check_positive_float("noise_std", noise_std, allow_zero=True)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    if background == "gaussian":
        canvas = noise_std * torch.randn(n, channels, *size, generator=generator)
    elif background == "photo":
        canvas = noise_std * _photo_crops(n, channels, size, generator)
    else:
        if tiles is None or tiles.ndim != 4 or tiles.shape[1] != channels:
            got = None if tiles is None else tuple(tiles.shape)
            raise ValueError(f"tiles must have shape (M, {channels}, th, tw) for background='tiles'; got {got}")
        canvas = noise_std * _tiled(n, size, tiles.to(torch.float32), generator)
    canvas = canvas.to(images.dtype)
    positions = _positions(n, (size[0] - h, size[1] - w), location, generator)
    for i in range(n):
        r, c = int(positions[i, 0]), int(positions[i, 1])
        canvas[i, :, r:r + h, c:c + w] = images[i]
    return canvas, positions
