"""The image processor's geometry: the size its resize gives a picture, the crop it takes after, the
bounds a picture must keep, and the resize done ahead of it, in bands on several cores."""

from itertools import pairwise

from PIL import Image

_BAND_MIN_PIXELS = 1_000_000  # below this, starting threads costs more than it saves
MAX_RESIZED_PIXELS = 16_000_000  # a 1:250 strip at a 256-pixel shortest edge; photos need well under 1 %


def _resized_size(size, width, height):
    """(width, height) the processor's resize gives a width x height picture, as floats; None if unknown."""
    if size.height and size.width:
        return size.width, size.height
    if size.shortest_edge:
        scale = size.shortest_edge / min(width, height)
        if size.longest_edge:
            scale = min(scale, size.longest_edge / max(width, height))
    elif size.max_height and size.max_width:  # fitted into a box, aspect kept
        scale = min(size.max_height / height, size.max_width / width)
    elif size.longest_edge:
        scale = size.longest_edge / max(width, height)
    else:
        return None
    return width * scale, height * scale


def crop_after_resize(processor):
    """(width, height) of the centre crop the processor takes after its resize; None when it takes none."""
    from transformers.models.convnext.image_processing_pil_convnext import ConvNextImageProcessorPil

    size = getattr(processor, "size", None)
    if isinstance(processor, ConvNextImageProcessorPil):
        # Its resize crops shortest_edge x shortest_edge below 384 pixels, and warps without a crop above.
        edge = size.shortest_edge if size is not None and getattr(processor, "do_resize", True) else None
        return (edge, edge) if edge and edge < 384 else None
    crop = getattr(processor, "crop_size", None)
    if not getattr(processor, "do_center_crop", False) or not crop or not crop.height or size is None:
        return None
    return crop.width, crop.height


def resize_bound(processor, width, height):
    """(width, height) of the largest picture the processor's resize makes of a width x height one; None if
    unknown. A crop_pct (ConvNeXT, PoolFormer) resizes to size / crop_pct before cropping back to size: a
    crop_pct of 0.0015 turns a 32-pixel shortest edge into 21,333 pixels."""
    from transformers.image_processing_backends import SizeDict
    from transformers.models.poolformer.image_processing_pil_poolformer import PoolFormerImageProcessorPil

    size = processor.size
    crop_pct = getattr(processor, "crop_pct", None)
    if type(processor).__name__.startswith("ConvNextImageProcessor") and (size.shortest_edge or 0) >= 384:
        return size.shortest_edge, size.shortest_edge  # ConvNeXT warps to a square there, crop_pct unused
    if isinstance(processor, PoolFormerImageProcessorPil) and crop_pct is not None and size.height and \
            size.height == size.width and not size.shortest_edge:
        # PoolFormer reads a square size with a crop_pct as a shortest edge: proportions kept.
        resized = _resized_size(SizeDict(shortest_edge=size.height), width, height)
    else:
        resized = _resized_size(size, width, height)
    if resized is None or isinstance(crop_pct, bool) or not isinstance(crop_pct, int | float) or not 0 < crop_pct < 1:
        return resized  # no crop_pct, or one that does not enlarge (a bad one fails the load's probe)
    return resized[0] / crop_pct, resized[1] / crop_pct


def resize_in_bands(image, size, resample, pool, bands):
    """image.resize(size, resample), byte for byte, with the costly pass spread over threads.

    Pillow resizes in two passes. When it runs the horizontal pass first (Pillow 13
    runs the vertical one first only when the height shrinks more than twice as much
    as the width; older versions never do), that pass applied to bands of rows, then
    the vertical pass on the reassembled middle image, gives the same bytes: each
    output pixel sees the same source pixels and the same filter coefficients.
    """
    width, height = size
    source_width, source_height = image.size
    vertical_first = source_height - height > 0 and source_height - height > (source_width - width) * 2
    if (vertical_first or bands < 2 or width == source_width or height == source_height
            or source_width * source_height < _BAND_MIN_PIXELS):
        return image.resize(size, resample=resample)
    edges = [source_height * i // bands for i in range(bands + 1)]
    strips = pool.map(
        lambda rows: image.resize((width, rows[1] - rows[0]), resample=resample,
                                  box=(0, rows[0], source_width, rows[1])),
        pairwise(edges),
    )
    middle = Image.new(image.mode, (width, source_height))
    for top, strip in zip(edges[:-1], strips, strict=True):
        middle.paste(strip, (0, top))
    return middle.resize(size, resample=resample, box=(0, 0, width, source_height))


def plain_resize_target(processor):
    """(width, height) when the processor only resizes to a fixed size with PIL, else None."""
    from transformers.image_processing_backends import PilBackend

    kind = type(processor)
    if not (isinstance(processor, PilBackend) and processor.do_resize
            and kind.resize is PilBackend.resize and kind._preprocess is PilBackend._preprocess):
        return None
    size = processor.size
    return (size.width, size.height) if size.height and size.width else None
