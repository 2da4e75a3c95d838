"""Plot helpers."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from lsa_utils.plotting import annotated_heatmap, log_axis_ticks  # noqa: E402


def test_annotated_heatmap_writes_every_value_readably():
    table = pd.DataFrame([[0.08, 0.5], [0.3, 0.9]], index=[64, 256], columns=[0.25, 1.0])
    fig, ax = plt.subplots()
    annotated_heatmap(ax, table, "test MSE")
    texts = {t.get_text(): t.get_color() for t in ax.texts}
    assert set(texts) == {"0.08", "0.50", "0.30", "0.90"}
    # viridis_r: the smallest value is drawn light (yellow), the largest dark (purple)
    assert texts["0.08"] == "black" and texts["0.90"] == "white"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.25", "1"]
    plt.close(fig)


def test_log_axis_ticks_labels_exactly_the_given_values():
    fig, ax = plt.subplots()
    ax.plot([2, 5, 13, 100], [1, 2, 3, 4])
    ax.set_xscale("log")
    log_axis_ticks(ax, [2, 5, 13, 100])
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "5", "13", "100"]
    assert [t.get_text() for t in ax.get_xticklabels(minor=True)] == []
    plt.close(fig)
