"""The desktop window: the result figure in a matplotlib window that waits for its x."""

import os
import signal
import threading
from contextlib import contextmanager

from .drawing import FIGURE_DPI, draw_result, figure_inches

SCREEN_MARGIN = 0.92  # of the screen's width and height, left for borders and panels


def _pyplot():
    import matplotlib

    # One GUI toolkit per process: Tk, as the easygui picker. MPLBACKEND still wins.
    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("TkAgg")
    import matplotlib.pyplot as plt

    return plt


def window_title(path):
    return f"Clasificador de imágenes: {os.path.basename(path)}"


def build_figure(image, predictions, path, plt=None, heatmap=None, seen=None):
    """A pyplot figure holding the result; not shown yet."""
    plt = plt or _pyplot()
    figure = plt.figure(figsize=figure_inches(heatmap), dpi=FIGURE_DPI)
    return draw_result(figure, image, predictions, os.path.basename(path), heatmap, seen)


def show_result(image, predictions, path, heatmap=None, seen=None):
    """Open the window and wait until the user closes it; the figure is freed afterwards.

    Ctrl+C in the terminal closes the window and is raised here as KeyboardInterrupt.
    """
    plt = _pyplot()
    figure = build_figure(image, predictions, path, plt, heatmap, seen)
    interrupted = threading.Event()
    try:
        manager = figure.canvas.manager
        manager.set_window_title(window_title(path))
        window = getattr(manager, "window", None)
        if hasattr(window, "after"):
            # Once shown: only then does Tk know the real size (screen DPI scaling included).
            window.after(50, _fit_screen, figure, window)
            when_set(window, interrupted, lambda: plt.close(figure))
        with ctrl_c_sets(interrupted):
            plt.show(block=True)
    finally:
        plt.close(figure)
        collect_tk_garbage()
    if interrupted.is_set():
        raise KeyboardInterrupt


@contextmanager
def ctrl_c_sets(event):
    """While Tk waits inside Tcl, Python cannot raise at Ctrl+C: note it in event instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def when_set(widget, event, action, every_ms=100):
    """Poll from Tk's own loop (which lets Python see signals too); run action once event is set."""

    def poll():
        if event.is_set():
            action()
        else:
            widget.after(every_ms, poll)

    widget.after(every_ms, poll)


def _fit_screen(figure, window):
    """Shrink the window on screens smaller than it (a laptop at 1024 x 600, say)."""
    window.update_idletasks()
    scale = min(1.0, SCREEN_MARGIN * window.winfo_screenwidth() / max(window.winfo_width(), 1),
                SCREEN_MARGIN * window.winfo_screenheight() / max(window.winfo_height(), 1))
    if scale < 1.0:
        figure.set_size_inches(figure.get_size_inches() * scale, forward=True)


def collect_tk_garbage():
    """Free closed Tk windows now, on the main thread.

    A closed figure leaves reference cycles holding Tk variables and images. Left to the
    cyclic collector, they may be freed on whichever thread allocates next (a resize
    worker, say); Tk calls from there fail or block the window of the next image.
    """
    import gc

    gc.collect()
