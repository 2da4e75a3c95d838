"""One figure style for the whole book, and small helpers every chapter uses.

Colours are fixed by role, so that "network", "kernel" and "reference" look the same in every
chapter.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

PALETTE = sns.color_palette("colorblind")
ROLE_COLORS = {
    "network": PALETTE[0],
    "ntk": PALETTE[0],
    "mean_field": PALETTE[3],
    "kernel": PALETTE[1],
    "random_features": PALETTE[2],
    "linearized": PALETTE[4],
    "data": "0.15",
    "reference": "0.45",
}


def use_book_style() -> None:
    """Set the seaborn theme and matplotlib defaults shared by every figure of the book."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "figure.figsize": (6.4, 4.0),
            "axes.titlesize": "medium",
            "axes.titleweight": "bold",
            "legend.frameon": True,
            "legend.framealpha": 0.9,
            "legend.fontsize": "small",
        }
    )


def figure_grid(ncols: int, width: float = 4.6, height: float = 3.6, **kwargs):
    """A row of ``ncols`` axes with the book's proportions; returns ``(fig, axes)``."""
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), **kwargs)
    return fig, np.atleast_1d(axes)


def log_axis_ticks(ax, values, axis: str = "x") -> None:
    """Put a log axis's ticks at ``values`` (e.g. the task indices or sample sizes that were run),
    labelled as plain numbers, without the minor labels matplotlib adds on short log ranges."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, StrMethodFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(list(values)))
    target.set_major_formatter(StrMethodFormatter("{x:g}"))
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())


def power_law_guide(ax, x, y_at_first: float, exponent: float, label: str | None = None) -> None:
    """Draw the reference line ``y = y_at_first * (x / x[0])^exponent`` as a dashed grey line."""
    x = np.asarray(x, dtype=float)
    ax.plot(
        x, y_at_first * (x / x[0]) ** exponent, ls="--", color=ROLE_COLORS["reference"],
        label=label or f"slope {exponent:g}",
    )


def mean_with_band(ax, x, samples, color, label: str, marker: str = "o") -> None:
    """Plot the mean over the rows of ``samples`` (shape ``(seeds, len(x))``) with a +-1 s.d. band."""
    samples = np.asarray(samples, dtype=float)
    mean, std = samples.mean(0), samples.std(0)
    ax.plot(x, mean, marker=marker, color=color, label=label)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, lw=0)


def annotated_heatmap(ax, table, label: str, fmt: str = "{:.2f}", cmap: str = "viridis_r", log: bool = True):
    """Draw a pandas table (rows: y, columns: x) as a heatmap with each cell's value written in it.

    The colour is ``log10`` of the value when ``log``; the text is black on light cells and white
    on dark ones, so every number stays readable. Returns the image (for a colorbar).
    """
    values = np.asarray(table, dtype=float)
    shown = np.log10(values) if log else values
    image = ax.imshow(shown, cmap=cmap, aspect="auto", origin="lower")
    ax.grid(False)
    ax.set_xticks(range(len(table.columns)), [f"{v:g}" for v in table.columns])
    ax.set_yticks(range(len(table.index)), [f"{v:g}" for v in table.index])
    for (i, j), value in np.ndenumerate(values):
        rgb = image.cmap(image.norm(shown[i, j]))[:3]
        luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=8,
                color="black" if luminance > 0.5 else "white")
    ax.figure.colorbar(image, ax=ax, label=("log10 " if log else "") + label)
    return image
