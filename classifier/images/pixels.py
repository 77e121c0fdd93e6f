"""A decoded picture of any mode -> upright 8-bit RGB: EXIF turn, alpha over white, deep samples scaled."""

import struct

import numpy as np
from PIL import Image, ImageOps

from .png import _png_significant_bits

_STRIP_SAMPLES = 1 << 20  # pixels converted at a time: 8 MB as float64 (high bit depths), 4 MB as RGBA
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255, 255)
_ORIENTATION = 0x0112  # the EXIF tag
_ALPHA_OPTIONAL_FORMATS = {"BMP", "DIB", "ICO", "TGA"}  # 32-bit pixels whose fourth byte writers often leave 0
_SMAX_SAMPLE_VALUE, _BITS_PER_SAMPLE, _SAMPLE_FORMAT, _PHOTOMETRIC = 341, 258, 339, 262  # TIFF tags


def _upright(image):
    try:
        orientation = image.getexif().get(_ORIENTATION, 1)
        # exif_transpose copies an upright picture too: 36 MB for a 12-megapixel photo.
        return ImageOps.exif_transpose(image) if orientation in range(2, 9) else image
    except Exception:  # a broken EXIF block must not cost the picture: keep it as stored
        return image


def _alpha_left_unset(image):
    """True for a 32-bit BMP, ICO or TGA picture whose alpha bytes are all 0.

    Pillow honours a BMP's alpha mask (BI_BITFIELDS in a V4 or V5 header) and the fourth
    byte of every 32-bit ICO and TGA: all zero, the picture is wholly transparent, a white
    page here. Many writers leave that byte 0, as in a BI_RGB file where it means nothing:
    Chromium's decoder shows such a BMP or ICO opaque, and so does this program (Chromium
    then applies an ICO's AND mask, which Pillow does not read: here the icon keeps its
    hidden background colour). Some alpha above 0 is honoured, as written.
    """
    if image.format not in _ALPHA_OPTIONAL_FORMATS or image.mode != "RGBA":
        return False
    return all(not image.crop(box).getchannel("A").getbbox() for box in _strips(image.size))


def _transparent_colour_at_eight_bits(image, head):
    """A 16-bit RGB PNG's transparent colour (tRNS) brought to the 8 bits Pillow reads its pixels at.

    Pillow keeps the high byte of each sample but matched the 16-bit colour otherwise: unless
    each value's two bytes were equal (an 8-bit colour scaled up), the transparent pixels kept
    their colour. At 8 bits, a pixel within 1/256 of the colour is transparent too.
    """
    colour = image.info.get("transparency")
    if image.format == "PNG" and image.mode == "RGB" and isinstance(colour, tuple) and head[24:26] == b"\x10\x02":
        image.info["transparency"] = tuple(value >> 8 for value in colour)  # IHDR: 16 bits, RGB


def _declared_samples(fp, image):
    """(largest sample value the data use, or None; unsigned 32-bit; min-is-white) as the file declares them.

    A 16-bit PNG may say in sBIT that its data use 8 or 12 bits, a TIFF in SMaxSampleValue or
    BitsPerSample; Pillow reads unsigned 32-bit TIFF samples as signed. A TIFF may store its
    grey as min-is-white (PhotometricInterpretation 0: X-rays, scanners): Pillow inverts such
    pictures of 1 to 8 bits, never those of 16 bits or floats. Only pictures of more than
    8 bits ask.
    """
    if image.mode not in _SIXTEEN_BIT_MODES and image.mode not in ("I", "F"):
        return None, False, False
    try:
        if image.format == "PNG":
            bits = _png_significant_bits(fp)
            return (2**bits - 1 if bits and bits < 16 else None), False, False
        if image.format == "TIFF":
            tags = image.tag_v2
            min_is_white = _first(tags.get(_PHOTOMETRIC, 1)) == 0
            if image.mode == "F":
                return None, False, min_is_white
            unsigned = image.mode == "I" and _first(tags.get(_SAMPLE_FORMAT, 1)) == 1 and \
                _first(tags.get(_BITS_PER_SAMPLE, 0)) == 32
            top = _first(tags.get(_SMAX_SAMPLE_VALUE, 0))
            bits = _first(tags.get(_BITS_PER_SAMPLE, 0))
            if not top and 0 < bits < (32 if image.mode == "I" else 16):
                top = 2**bits - 1
            if not top and unsigned:
                top = 2**32 - 1
            return (int(top) if top and top > 0 else None), unsigned, min_is_white
    except (OSError, ValueError, TypeError, struct.error):  # a declaration that cannot be read: the container's scale
        pass
    return None, False, False


def _first(value):
    return value[0] if isinstance(value, tuple) and value else value


def _to_rgb(image, samples=(None, False, False)):
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:  # an RGB PNG may name one colour transparent
        return image
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return _high_depth_to_rgb(image, *samples)
    if mode in _ALPHA_MODES or "transparency" in image.info:
        return _on_white(image)
    return image.convert("RGB")


def _on_white(image):
    """A transparent picture -> RGB over white, as viewers show it (transparent pixels often hide black).

    Strip by strip: at once, the RGBA copy, the white background and the composite took
    three more full pictures (1.66 GB for a 9400 x 9400 RGBA PNG, 657 MB now); by strips,
    memory holds the decoded picture, the RGB result and one strip. Each pixel is
    composited alone, so the strips give the same pixels.
    """
    rgb = Image.new("RGB", image.size)
    for box in _strips(image.size):
        strip = image.crop(box).convert("RGBA")
        rgb.paste(Image.alpha_composite(Image.new("RGBA", strip.size, _WHITE), strip).convert("RGB"), box[:2])
    return rgb


def _strips(size):
    """Crop boxes (0, top, width, bottom) of whole rows, _STRIP_SAMPLES pixels or so each, top to bottom."""
    width, height = size
    rows = max(1, _STRIP_SAMPLES // max(1, width))
    return [(0, top, width, min(top + rows, height)) for top in range(0, height, rows)]


def _high_depth_to_rgb(image, top=None, unsigned=False, min_is_white=False):
    """A grey picture of 16 or 32 bits -> RGB, scaled as _to_uint8 scales the whole, strip by strip.

    At once, the float64 copies of the whole picture lifted the peak to 2.85 GB for a
    9400 x 9400 16-bit PNG of 194 KB. By strips of rows, memory holds the decoded
    picture, the RGB result and one strip; every pixel comes out as it did.
    top: the largest value the file says its data use; unsigned: 32-bit samples Pillow read as signed;
    min_is_white: the scale runs from white to black, as TIFF's PhotometricInterpretation 0 says:
    each grey is mirrored on the scale (NaN, no value, stays white).
    A PNG's transparent grey value (tRNS) comes out white, as the other transparent pictures do.
    """
    def samples(box):
        values = np.asarray(image.crop(box))
        return values.view(np.uint32) if unsigned and values.dtype == np.int32 else values

    transparent = image.info.get("transparency")
    transparent = transparent if isinstance(transparent, int) else None
    strips = _strips(image.size)
    if not strips:
        raise ValueError("a picture without pixels")  # open_image turns it into its Spanish sentence
    ranges = [found for found in (_finite_range(samples(box)) for box in strips) if found]
    low, high = (min(low for low, _ in ranges), max(high for _, high in ranges)) if ranges else (0.0, 0.0)
    rgb = Image.new("RGB", image.size)
    for box in strips:
        values = samples(box)
        grey = _to_uint8(values, low, high, top)
        if min_is_white:
            # 255 - round(v * 255 / top) is round((top - v) * 255 / top): the spec's 2**bits - 1 - v.
            valued = ~np.isnan(values) if values.dtype.kind == "f" else slice(None)
            grey[valued] = 255 - grey[valued]
        if transparent is not None:
            grey[values == transparent] = 255
        rgb.paste(Image.fromarray(grey, "L").convert("RGB"), box[:2])
    return rgb


def _finite_range(samples):
    """(minimum, maximum) of the samples' finite values, or None when there are none.

    NaN and the infinities have no place on a scale: counted, one +inf darkened a whole float
    picture to black, or one counted as 0 stretched the scale down to it.
    """
    if samples.dtype.kind != "f":
        return float(samples.min()), float(samples.max())
    finite = samples[np.isfinite(samples)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


def _to_uint8(samples, low, high, top=None):
    """Scale 16-bit, 32-bit integer or float samples to 0..255, never clipping.

    The data keeps its nominal scale when it fits one (the file's declared top value,
    float 0..1, float 0..255, 0..65535 as 16 bits); anything else is stretched from its
    minimum to its maximum. low, high: the range of the whole picture's finite values
    (_finite_range), samples one strip of it. -inf is black and +inf white, the ends of
    the scale; NaN, a sample without a value, is white as transparent pixels are
    (matplotlib and GIS viewers leave NaN transparent).
    """
    is_float = samples.dtype.kind == "f"
    values = samples.astype(np.float64)
    if is_float:
        finite = np.isfinite(values)
        values[~finite] = low
    if top and not is_float and 0 <= low and high <= top:
        scaled = values * (255.0 / top)
    elif is_float and 0 <= low and high <= 1:
        scaled = values * 255.0
    elif is_float and 0 <= low and high <= 255:
        scaled = values
    elif 0 <= low and high <= 65535:
        scaled = values / 257.0  # 65535 -> 255 exactly, and 257 * v -> v
    elif high > low:
        scaled = (values - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(values)
    grey = np.rint(scaled).astype(np.uint8)
    if is_float:
        grey[~finite] = np.where(samples[~finite] == -np.inf, 0, 255)
    return grey
