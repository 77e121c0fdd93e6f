"""The matplotlib window: the picture, its main prediction and a bar chart of the top-k.

Takes a PIL image and (label, score) predictions; never touches tensors.
"""

import os
import textwrap

DISPLAY_MAX_SIDE = 1024  # pixels drawn on screen; the model saw its own copy
FIGURE_INCHES = (11, 5.2)  # 1100 x 520 pixels at 100 dpi: fits a 1280 x 720 screen
FIGURE_DPI = 100
LABEL_WIDTH = 28


def _pyplot():
    import matplotlib

    # One GUI toolkit per process: Tk, as the easygui picker. MPLBACKEND still wins.
    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("TkAgg")
    import matplotlib.pyplot as plt

    return plt


def display_copy(image):
    """A copy small enough to draw quickly; tiny pictures keep their pixels."""
    if max(image.size) <= DISPLAY_MAX_SIDE:
        return image
    shown = image.copy()
    shown.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE))
    return shown


def window_title(path):
    return f"Clasificador de imágenes: {os.path.basename(path)}"


def build_figure(image, predictions, path, plt=None):
    """A figure with the image (title: main prediction) and a horizontal bar chart."""
    plt = plt or _pyplot()
    figure, (picture, bars) = plt.subplots(
        1, 2, figsize=FIGURE_INCHES, dpi=FIGURE_DPI, gridspec_kw={"width_ratios": [1.25, 1]},
    )
    best = predictions[0]
    picture.imshow(display_copy(image), interpolation="nearest" if max(image.size) < 64 else "antialiased")
    picture.set_title(f"Predicción principal:\n{best.label} ({best.score:.3f})", fontsize=12)
    picture.axis("off")

    labels = [textwrap.shorten(p.label, LABEL_WIDTH, placeholder="…") for p in predictions]
    scores = [p.score for p in predictions]
    positions = range(len(predictions))
    bars.barh(positions, scores, color=["tab:orange"] + ["tab:blue"] * (len(scores) - 1))
    bars.set_yticks(list(positions), labels)
    bars.invert_yaxis()  # rank 1 on top
    bars.set_xlim(0, 1)
    bars.set_xlabel("probabilidad")
    bars.set_title(f"Las {len(predictions)} clases más probables", fontsize=12)
    for position, score in zip(positions, scores, strict=True):
        bars.text(min(score + 0.01, 0.86), position, f"{score:.3f}", va="center", fontsize=9)
    figure.suptitle(os.path.basename(path), fontsize=10)
    figure.tight_layout()
    return figure


def show_result(image, predictions, path):
    """Open the window and wait until the user closes it; the figure is freed afterwards."""
    plt = _pyplot()
    figure = build_figure(image, predictions, path, plt)
    try:
        figure.canvas.manager.set_window_title(window_title(path))
        plt.show(block=True)
    finally:
        plt.close(figure)
        collect_tk_garbage()


def collect_tk_garbage():
    """Free closed Tk windows now, on the main thread.

    A closed figure leaves reference cycles holding Tk variables and images. Left to the
    cyclic collector, they may be freed on whichever thread allocates next (a resize
    worker, say); Tk calls from there fail or block the window of the next image.
    """
    import gc

    gc.collect()
