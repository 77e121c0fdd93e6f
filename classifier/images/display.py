"""A picture reduced for the screen: what the window and the --mapa PNGs draw, never what the model sees."""

from PIL import Image

DISPLAY_MAX_SIDE = 1024  # pixels drawn; the model saw its own copy


def display_copy(image):
    """A copy small enough to draw quickly; small pictures keep their pixels."""
    if max(image.size) <= DISPLAY_MAX_SIDE:
        return image
    scale = DISPLAY_MAX_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap: box-reduce first, then filter; plenty for the eye, a fraction of the time.
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
