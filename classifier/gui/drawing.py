"""The result as a matplotlib figure: the picture, where the model looked, the top-k bars.

Used by the desktop window and by the batch's --mapa PNGs. Takes PIL images, plain
predictions and a map (a maps.Heatmap, or bare NumPy values); never touches tensors,
pyplot or a GUI toolkit. The layout is planned in pixels for the space available, so
that panels follow the picture's shape (a panorama is stacked, a tall strip stands
side by side) and no title runs into another.
"""

import textwrap
from pathlib import Path
from typing import NamedTuple

import numpy as np

from classifier.base.defaults import FIGURE_SOFTWARE, MAP_SOFTWARE
from classifier.base.spanish import percent  # the window's: the terminal keeps three decimals
from classifier.images import display_copy
from classifier.maps import ROLLOUT, Heatmap

FIGURE_DPI = 100
MAP_FILE_BOX = (1500, 800)  # largest --mapa picture, in pixels
HEAT_COLORMAP = "inferno"
HEAT_ALPHA = 0.55
MAP_TITLE = "Dónde se fijó el modelo"
MAP_TITLE_SHORT = "Dónde se fijó"  # over a narrow map, where the method's line must fit too

# Pixel sizes of the fixed parts of the layout.
PAD = 14
TITLE_HEIGHT = 46  # two lines of a 12-point title
TITLE_POINTS = 12
LEGEND_HEIGHT = 44  # the map's colour scale and its words under it
LEGEND_BAR = 12
LEGEND_GAP = 12  # pixels at least between the scale's two ends
LEGEND_MIN_POINTS = 8  # the smallest size of its words before each end goes on two lines
BARS_WIDTH = 400  # at most; a third of a small window
MIN_COLUMN = 190  # a picture's column, however narrow the picture: room for its title
BAR_ROW_HEIGHT = 30
LABEL_POINTS = 10
LABEL_SHARE = 0.58  # of the bars panel's width, for the class names


class Box(NamedTuple):
    """A rectangle in pixels, from the figure's top-left corner."""

    left: float
    top: float
    width: float
    height: float


class Layout(NamedTuple):
    """Where each panel goes: the figure's size and one box per panel (map and legend may be None)."""

    arrangement: str  # "fila": side by side; "apilada": pictures stacked, bars beside; "columna": all stacked
    width: int
    height: int
    picture: Box
    map: Box | None
    legend: Box | None
    bars: Box


def plan_layout(picture_size, seen_size, has_map, bars, box):
    """The arrangement that shows the picture largest within box (width, height) in pixels.

    picture_size, seen_size: (width, height) of the picture and of the part the model
    saw; bars: how many predictions. Every arrangement is tried at the largest scale
    that fits; the one giving the picture the most area wins.
    """
    max_width, max_height = box
    bars_width = min(BARS_WIDTH, max_width * 0.3)
    a = picture_size[0] / max(picture_size[1], 1)
    b = seen_size[0] / max(seen_size[1], 1) if has_map else 0.0
    bars_height = bars * BAR_ROW_HEIGHT + TITLE_HEIGHT + 3 * PAD
    legend = LEGEND_HEIGHT if has_map else 0
    panels = 2 if has_map else 1
    plans = []

    # Side by side: one row of pictures, bars at the right; a narrow picture's column keeps
    # room for its title.
    height = min((max_width - (panels + 2) * PAD - bars_width) / (a + b), max_height - TITLE_HEIGHT - legend - 2 * PAD)
    while height > 1 and _row_width(height, a, b, has_map, bars_width) > max_width:
        height *= 0.97
    if height > 0:
        plans.append(("fila", a * height, height))
    # Stacked pictures with the bars beside them; or everything in one column.
    shares = 1 / a + (1 / b if has_map else 0)
    stacked_height = max_height - panels * TITLE_HEIGHT - legend - (panels + 1) * PAD
    width = min(max_width - 3 * PAD - bars_width, stacked_height / shares)
    if width > 0:
        plans.append(("apilada", width, width / a))
    width = min(max_width - 2 * PAD, (stacked_height - bars_height) / shares)
    if width > 0:
        plans.append(("columna", width, width / a))
    if not plans:  # a box too small for anything: the smallest sensible picture
        plans.append(("fila", 32 * a, 32.0))
    arrangement, width, height = max(plans, key=lambda plan: plan[1] * plan[2])
    return _place(arrangement, width, height, b if has_map else None, bars_width, bars_height)


def _row_width(height, a, b, has_map, bars_width):
    columns = max(a * height, MIN_COLUMN) + (max(b * height, MIN_COLUMN) if has_map else 0)
    return columns + ((3 if has_map else 2) + 1) * PAD + bars_width


def _place(arrangement, pic_width, pic_height, seen_aspect, bars_width, bars_height):
    """Boxes for the chosen arrangement; the figure is just as large as its content."""
    has_map = seen_aspect is not None
    legend = LEGEND_HEIGHT if has_map else 0
    picture = Box(PAD, PAD + TITLE_HEIGHT, pic_width, pic_height)
    map_box = legend_box = None
    if arrangement == "fila":
        # Each picture centred in a column at least MIN_COLUMN wide.
        column = max(pic_width, MIN_COLUMN)
        picture = Box(PAD + (column - pic_width) / 2, PAD + TITLE_HEIGHT, pic_width, pic_height)
        right = 2 * PAD + column
        if has_map:
            map_width = seen_aspect * pic_height
            column = max(map_width, MIN_COLUMN)
            map_box = Box(right + (column - map_width) / 2, PAD + TITLE_HEIGHT, map_width, pic_height)
            right += column + PAD
        content_height = max(TITLE_HEIGHT + pic_height + legend, bars_height - PAD)
        bars = Box(right, PAD + TITLE_HEIGHT, bars_width, content_height - TITLE_HEIGHT)
        width, height = right + bars_width + PAD, content_height + 2 * PAD
    else:
        bottom = picture.top + pic_height
        if has_map:
            map_box = Box(PAD, bottom + PAD + TITLE_HEIGHT, pic_width, pic_width / seen_aspect)
            bottom = map_box.top + map_box.height + legend
        if arrangement == "apilada":
            bars_bottom = max(bottom, bars_height)
            bars = Box(2 * PAD + pic_width, PAD + TITLE_HEIGHT, bars_width, bars_bottom - PAD - TITLE_HEIGHT)
            width, height = 3 * PAD + pic_width + bars_width, bars_bottom + PAD
        else:
            bars = Box(PAD, bottom + PAD + TITLE_HEIGHT, pic_width, bars_height - TITLE_HEIGHT - 2 * PAD)
            width, height = 2 * PAD + pic_width, bars.top + bars.height + PAD
    if has_map:
        # As wide as the map's column at least: its two words must not run into each other.
        legend_width = max(map_box.width, MIN_COLUMN)
        legend_box = Box(map_box.left + (map_box.width - legend_width) / 2, map_box.top + map_box.height + PAD / 2,
                         legend_width, LEGEND_BAR)
    return Layout(arrangement, round(width), round(height), picture, map_box, legend_box, bars)


def draw_result(figure, image, predictions, heatmap=None, seen=None, box=None):
    """Draw into an empty figure sized for box (width, height in pixels; default: the map files' box).

    The figure is resized to the planned layout. Returns the Layout used.
    """
    import matplotlib

    # Labels and names are shown as written: "$5 $6" is not TeX to typeset (nor an error).
    with matplotlib.rc_context({"text.parse_math": False}):
        return _draw(figure, image, predictions, heatmap, seen, box)


def _draw(figure, image, predictions, heatmap, seen, box):
    seen = seen if seen is not None else image
    has_map = heatmap is not None
    dpi = figure.dpi
    layout = plan_layout(image.size, seen.size, has_map, len(predictions), box or MAP_FILE_BOX)
    figure.set_size_inches(layout.width / dpi, layout.height / dpi, forward=False)

    def axes_for(box):
        return _axes(figure, layout, box)

    best = predictions[0]
    picture = axes_for(layout.picture)
    _show_picture(picture, image)
    _main_title(picture, best, max(layout.picture.width, MIN_COLUMN), dpi)
    if has_map:
        values, method = heatmap if isinstance(heatmap, Heatmap) else (heatmap, None)
        overlay = axes_for(layout.map)
        width, height = _show_picture(overlay, seen)
        # The patch grid (or feature map) covers what the model saw: stretched over exactly that picture.
        overlay.imshow(_unit_range(values), cmap=HEAT_COLORMAP, alpha=HEAT_ALPHA, interpolation="bilinear",
                       extent=(0, width, height, 0), vmin=0, vmax=1)
        _map_title(overlay, method, max(layout.map.width, MIN_COLUMN), dpi)
        _legend(figure, axes_for(layout.legend), layout.legend.width, method)
    _bars(figure, layout, predictions)
    return layout


def _title_chars(width_px, dpi):
    return max(8, int(width_px / (TITLE_POINTS * dpi / 72 * 0.56)))


def _title(axes, text, width_px, dpi):
    """At most two lines that fit the panel's width; longer text ends in an ellipsis."""
    lines = textwrap.wrap(text, _title_chars(width_px, dpi), max_lines=2, placeholder="…")
    axes.set_title("\n".join(lines), fontsize=TITLE_POINTS, pad=6)


def _map_title(axes, method, width_px, dpi):
    """«Dónde se fijó el modelo» and, on a second line, how the map was drawn; short forms where narrow."""
    chars = _title_chars(width_px, dpi)
    if method is None:
        _title(axes, MAP_TITLE, width_px, dpi)
        return
    first = MAP_TITLE if len(MAP_TITLE) <= chars else MAP_TITLE_SHORT
    second = method.name if len(method.name) <= chars else method.short
    axes.set_title(f"{first}\n{second}", fontsize=TITLE_POINTS, pad=6)


def _main_title(axes, best, width_px, dpi):
    """The answer and its percentage, always whole: one line where it fits, else the label shortened."""
    chars = _title_chars(width_px, dpi)
    score = f" ({percent(best.score)})"
    one_line = f"Predicción principal: {best.label}{score}"
    if len(one_line) <= chars:
        text = one_line
    else:
        label = textwrap.shorten(best.label, max(4, chars - len(score)), placeholder="…")
        text = f"Predicción principal:\n{label}{score}"
    axes.set_title(text, fontsize=TITLE_POINTS, pad=6)


def _show_picture(axes, image):
    """Draw the picture (its display copy) filling the axes; returns the size drawn."""
    shown = display_copy(image)
    width, height = shown.size
    # extent on pixel edges (not centres), so the map laid over it covers exactly the same area.
    axes.imshow(shown, interpolation="nearest" if max(shown.size) < 64 else "antialiased",
                extent=(0, width, height, 0))
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.axis("off")
    return width, height


def _legend(figure, axes, width_px, method=None):
    """The colour scale in the method's words (little to much attention, or weight in the answer), each
    end's words whole: a smaller size where the map is narrow, then each end on two lines."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    method = method or ROLLOUT
    scale = figure.colorbar(ScalarMappable(Normalize(0, 1), HEAT_COLORMAP), cax=axes, orientation="horizontal")
    words, points = _legend_words(method.low, method.high, width_px, figure.dpi)
    scale.set_ticks([0, 1], labels=words, fontsize=points)
    scale.outline.set_visible(False)
    for label, align in zip(axes.get_xticklabels(), ("left", "right"), strict=True):
        label.set_horizontalalignment(align)


def _legend_words(low, high, width_px, dpi):
    """The two ends as drawn and their size: on one line at the largest size whose words leave a gap."""
    for points in range(LABEL_POINTS, LEGEND_MIN_POINTS - 1, -1):
        if _text_px(low, points, dpi) + _text_px(high, points, dpi) + LEGEND_GAP <= width_px:
            return [low, high], points
    return [low.replace(" ", "\n", 1), high.replace(" ", "\n", 1)], LEGEND_MIN_POINTS


def _text_px(text, points, dpi):
    """The width of a line of text in pixels, as matplotlib's default font draws it."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(size=points), ismath=False)
    return width * dpi / 72


def _bars(figure, layout, predictions):
    """Horizontal bars of the top-k, labels on their left, all inside the bars box."""
    box, dpi = layout.bars, figure.dpi
    scores = [p.score for p in predictions]
    label_px = box.width * LABEL_SHARE
    labels, points = _bar_labels([p.label for p in predictions], label_px, box.height / max(len(predictions), 1),
                                 dpi)
    axes = _axes(figure, layout, Box(box.left + label_px, box.top, box.width - label_px, box.height))
    positions = range(len(predictions))
    axes.barh(positions, scores, color=["tab:orange"] + ["tab:blue"] * (len(scores) - 1))
    axes.set_yticks(list(positions), labels, fontsize=points)
    axes.invert_yaxis()  # rank 1 on top
    axes.set_xlim(0, 1.45)  # room for the values after the longest bar
    axes.set_xticks([])
    for side in ("top", "right", "bottom"):
        axes.spines[side].set_visible(False)
    for position, score in zip(positions, scores, strict=True):
        axes.text(score + 0.02, position, percent(score), va="center", fontsize=LABEL_POINTS - 1)
    # Centred over the whole box (labels included), where the panel's title belongs.
    figure.text((box.left + box.width / 2) / layout.width, 1 - (box.top - 6) / layout.height,
                bars_title(len(predictions)), fontsize=TITLE_POINTS, ha="center", va="bottom")


def _bar_labels(names, width_px, row_px, dpi):
    """The names as drawn, and their size: two lines, then a point smaller, before a name is cut."""
    for points in (LABEL_POINTS, LABEL_POINTS - 1):
        chars = max(10, int(width_px / (points * dpi / 72 * 0.55)))
        lines = 2 if row_px >= 2.1 * points * dpi / 72 else 1  # rows tall enough for two lines
        labels = ["\n".join(textwrap.wrap(name, chars, max_lines=lines, placeholder="…")) or name for name in names]
        if all(label.replace("\n", " ") == name for label, name in zip(labels, names, strict=True)):
            break
    return labels, points


def bars_title(count):
    return "La clase más probable" if count == 1 else f"Las {count} clases más probables"


def _axes(figure, layout, box):
    return figure.add_axes([box.left / layout.width, 1 - (box.top + box.height) / layout.height,
                            box.width / layout.width, box.height / layout.height])


def _unit_range(heatmap):
    """Stretched to 0..1: the map says where the model looked more than elsewhere in this image."""
    heatmap = np.asarray(heatmap, dtype=np.float32)
    low, high = heatmap.min(), heatmap.max()
    return (heatmap - low) / (high - low) if high > low else np.zeros_like(heatmap)


def save_result(target, image, predictions, heatmap=None, seen=None):
    """Write the figure as PNG to a path or an open binary file; no window, no display needed."""
    from matplotlib.figure import Figure

    figure = Figure(dpi=FIGURE_DPI)
    draw_result(figure, image, predictions, heatmap, seen)
    # The mark lets folder scans leave the program's own maps out.
    figure.savefig(target if hasattr(target, "write") else Path(target), format="png",
                   metadata={"Software": MAP_SOFTWARE})


def save_figure(figure, target):
    """The window's «Guardar la figura»: PNG, PDF or SVG by target's extension.

    A PNG carries the program's mark, so that a later run on its folder does not take it for a photo.
    """
    png = Path(target).suffix.lower() == ".png"
    figure.savefig(target, metadata={"Software": FIGURE_SOFTWARE} if png else None)
