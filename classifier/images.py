"""Any file a user can pick -> an upright 8-bit RGB image, or an ImageError in Spanish."""

import codecs
import os
import stat

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .defaults import IMAGE_EXTENSIONS
from .errors import ImageError, InputError

_HEAD_BYTES = 512
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255, 255)
_ORIENTATION = 0x0112  # the EXIF tag


def open_image(path, min_size=None):
    """Open, decode and normalise one file to an upright 8-bit RGB PIL image.

    min_size: (width, height) below which the decoder must not shrink the picture;
    given, JPEG files are decoded at a reduced scale (fast mode). None: full size.
    """
    path = os.fspath(path)
    _check_regular_file(path)
    try:
        with open(path, "rb") as fp:
            head = fp.read(_HEAD_BYTES)
            fp.seek(0)
            image = _decode(fp, head, path, min_size)
    except PermissionError:
        raise ImageError(path, "no hay permiso para leer el archivo") from None
    except OSError as exc:  # gone since the check, a disk error, a network drive that dropped
        raise ImageError(path, f"no se pudo leer el archivo ({exc.strerror or exc})") from exc
    try:
        return _to_rgb(_upright(image))
    except Exception as exc:  # Pillow raises many types on exotic modes; none may escape.
        raise ImageError(path, "la imagen no se puede convertir a color RGB") from exc


def _check_regular_file(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(path, "el archivo no existe") from None
    except PermissionError:
        raise ImageError(path, "no hay permiso para acceder al archivo") from None
    except (OSError, ValueError) as exc:
        raise ImageError(path, "la ruta no es válida") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(path, "es una carpeta, no un archivo de imagen")
    if not stat.S_ISREG(info.st_mode):
        # Pipes and devices would block or never end.
        raise ImageError(path, "no es un archivo normal ni una carpeta")
    if info.st_size == 0:
        raise ImageError(path, "el archivo está vacío (0 bytes)")


def _decode(fp, head, path, min_size):
    try:
        image = Image.open(fp)
    except UnidentifiedImageError:
        raise ImageError(path, _not_an_image_reason(head)) from None
    except Image.DecompressionBombError:
        raise ImageError(path, _too_large_reason()) from None
    except Exception as exc:  # a broken header can raise almost anything inside Pillow
        raise ImageError(path, "el archivo está dañado: su cabecera no se puede leer") from exc
    # Pillow only warns between one and two times its limit; we refuse the whole band.
    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        raise ImageError(path, _too_large_reason())
    if min_size is not None and image.format == "JPEG":
        image.draft("RGB", min_size)
    try:
        image.load()
    except Image.DecompressionBombError:
        raise ImageError(path, _too_large_reason()) from None
    except Exception as exc:
        raise ImageError(path, "el archivo está dañado o incompleto y no se puede decodificar") from exc
    return image


def _too_large_reason():
    return (
        "la imagen tiene más píxeles que el límite de seguridad de Pillow "
        f"({Image.MAX_IMAGE_PIXELS:,} píxeles) y podría ser una bomba de descompresión"
    ).replace(",", ".")


def _not_an_image_reason(head):
    if head.startswith(b"%PDF"):
        return "es un documento PDF, no una imagen"
    if _looks_like_text(head):
        return "es un archivo de texto, no una imagen"
    return "no es una imagen en un formato que se pueda leer"


def _looks_like_text(head):
    try:
        # final=False: the head may end in the middle of a multi-byte letter.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    text = text.lstrip("\ufeff")
    return bool(text) and all(c.isprintable() or c in "\t\n\r\f" for c in text)


def _upright(image):
    try:
        orientation = image.getexif().get(_ORIENTATION, 1)
        # exif_transpose copies an upright picture too: 36 MB for a 12-megapixel photo.
        return ImageOps.exif_transpose(image) if orientation in range(2, 9) else image
    except Exception:  # a broken EXIF block must not cost the picture: keep it as stored
        return image


def _to_rgb(image):
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image)), "L").convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in image.info:
        # Transparent pixels often hide black RGB: show them on white, as viewers do.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_uint8(samples):
    """Scale 16-bit, 32-bit integer or float samples to 0..255, never clipping.

    The data keeps its nominal scale when it fits one (float 0..1, float 0..255,
    0..65535 as 16 bits); anything else is stretched from its minimum to its maximum.
    """
    values = samples.astype(np.float64)
    values[~np.isfinite(values)] = 0.0
    low, high = values.min(), values.max()
    is_float = samples.dtype.kind == "f"
    if is_float and 0 <= low and high <= 1:
        scaled = values * 255.0
    elif is_float and 0 <= low and high <= 255:
        scaled = values
    elif 0 <= low and high <= 65535:
        scaled = values / 257.0  # 65535 -> 255 exactly, and 257 * v -> v
    elif high > low:
        scaled = (values - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(values)
    return np.rint(scaled).astype(np.uint8)


def expand_inputs(paths, recursive=False):
    """Yield (path, error) per image named by the command line, in the order given.

    A folder stands for the image files in it, sorted by name (and those of its
    subfolders with recursive=True); the path of each is the folder as given
    joined with its name. error is an InputError or None; files are judged later
    by open_image, so a missing path comes through as a path.
    """
    for given in paths:
        if not os.path.isdir(given):
            yield given, None
            continue
        try:
            found = list(_images_in_folder(given, recursive))
        except OSError:
            yield given, InputError(given, f"No se puede leer el contenido de la carpeta «{given}».")
            continue
        if not found:
            where = " ni en sus subcarpetas" if recursive else " (use --recursive para buscar en sus subcarpetas)"
            yield given, InputError(given, f"La carpeta «{given}» no contiene imágenes{where}.")
            continue
        for path in found:
            yield path, None


def _images_in_folder(folder, recursive):
    def visible_sorted(names):
        # Hidden files (".foo.jpg", macOS "._foo.jpg") are not the user's pictures.
        return sorted((n for n in names if not n.startswith(".")), key=lambda n: (n.casefold(), n))

    def raise_error(exc):
        raise exc

    for root, dirs, files in os.walk(folder, onerror=raise_error):
        dirs[:] = visible_sorted(dirs) if recursive else []
        for name in visible_sorted(files):
            if is_image_name(name) and os.path.isfile(os.path.join(root, name)):
                yield os.path.join(root, name)


def is_image_name(name):
    """True when the file name ends in a usual image extension, in any case."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
