"""The result as a matplotlib figure: the picture, where the model looked, the top-k bars.

Used by the desktop window and by the batch's --mapa PNGs. Takes PIL images, plain
(label, score) predictions and a NumPy map; never touches tensors or pyplot.
"""

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

DISPLAY_MAX_SIDE = 1024  # pixels drawn; the model saw its own copy
FIGURE_DPI = 100
TWO_PANELS_INCHES = (11, 5.2)  # 1100 x 520 pixels: fits a 1280 x 720 screen
THREE_PANELS_INCHES = (12.4, 4.8)  # 1240 x 480 pixels
LABEL_WIDTH = 28
HEAT_COLORMAP = "inferno"
HEAT_ALPHA = 0.55


def display_copy(image):
    """A copy small enough to draw quickly; small pictures keep their pixels."""
    if max(image.size) <= DISPLAY_MAX_SIDE:
        return image
    scale = DISPLAY_MAX_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap: box-reduce first, then filter; plenty for the eye, a fraction of the time.
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def figure_inches(heatmap):
    return THREE_PANELS_INCHES if heatmap is not None else TWO_PANELS_INCHES


def draw_result(figure, image, predictions, title, heatmap=None, seen=None):
    """Draw into an empty figure: picture with the main prediction, the map over what
    the model saw (when a heatmap is given), and a horizontal bar chart of the top-k."""
    panels = 3 if heatmap is not None else 2
    axes = figure.subplots(1, panels, gridspec_kw={"width_ratios": [1.2] * (panels - 1) + [1]})
    picture, bars = axes[0], axes[-1]
    best = predictions[0]
    _show_picture(picture, image)
    picture.set_title(f"Predicción principal:\n{best.label} ({best.score:.3f})", fontsize=11)
    if heatmap is not None:
        overlay = axes[1]
        seen = display_copy(seen if seen is not None else image)
        _show_picture(overlay, seen)
        width, height = seen.size
        # The patch grid covers what the model saw; stretched over it, smoothed for the eye.
        overlay.imshow(_unit_range(heatmap), cmap=HEAT_COLORMAP, alpha=HEAT_ALPHA, interpolation="bilinear",
                       extent=(0, width, height, 0), vmin=0, vmax=1)
        overlay.set_title("Dónde miró el modelo\n(rollout de atención)", fontsize=11)

    labels = [textwrap.shorten(p.label, LABEL_WIDTH, placeholder="…") for p in predictions]
    scores = [p.score for p in predictions]
    positions = range(len(predictions))
    bars.barh(positions, scores, color=["tab:orange"] + ["tab:blue"] * (len(scores) - 1))
    bars.set_yticks(list(positions), labels)
    bars.invert_yaxis()  # rank 1 on top
    bars.set_xlim(0, 1)
    bars.set_xlabel("probabilidad")
    bars.set_title(f"Las {len(predictions)} clases más probables", fontsize=11)
    for position, score in zip(positions, scores, strict=True):
        bars.text(min(score + 0.01, 0.86), position, f"{score:.3f}", va="center", fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def _show_picture(axes, image):
    shown = display_copy(image)
    axes.imshow(shown, interpolation="nearest" if max(shown.size) < 64 else "antialiased")
    axes.axis("off")


def _unit_range(heatmap):
    """Stretched to 0..1: the map says where the model looked more than elsewhere in this image."""
    heatmap = np.asarray(heatmap, dtype=np.float32)
    low, high = heatmap.min(), heatmap.max()
    return (heatmap - low) / (high - low) if high > low else np.zeros_like(heatmap)


def save_result(out_path, image, predictions, title, heatmap=None, seen=None):
    """Write the figure to a PNG file without any window (no pyplot, no display needed)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figure_inches(heatmap), dpi=FIGURE_DPI)
    draw_result(figure, image, predictions, title, heatmap, seen)
    figure.savefig(Path(out_path), format="png")
