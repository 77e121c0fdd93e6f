"""A path -> a decoded picture, opened safely and refused before decoding when it is a bomb."""

import ctypes
import functools
import glob
import os
import stat
import struct
from contextlib import contextmanager

from PIL import Image, UnidentifiedImageError

from classifier.base.defaults import IMAGE_FORMATS
from classifier.base.errors import ImageError, system_reason
from classifier.base.files import NotSmallRegularFile, open_regular_file
from classifier.base.spanish import thousands

from .jpeg import MAX_JPEG_SCANS, _jpeg_scans
from .pixels import _alpha_left_unset, _declared_samples, _to_rgb, _transparent_colour_at_eight_bits, _upright
from .png import _PNG_SIGNATURE, _oversized_png_metadata, _Without
from .sniffing import _BAD_HEADER, _CUT_SHORT, _looks_like_text, _not_an_image_reason

_HEAD_BYTES = 512
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # absent on Windows, which has no named pipes in folders
_IHDR_END = 24  # signature, IHDR's length and type, width and height


def open_image(path, min_size=None):
    """Open, decode and normalise one file to an upright 8-bit RGB PIL image.

    min_size: (width, height) below which the decoder must not shrink the picture;
    given, JPEG files are decoded at a reduced scale (fast mode). None: full size.
    """
    path = os.fspath(path)
    _check_regular_file(path)
    try:
        with _open_regular(path) as fp:
            head = fp.read(_HEAD_BYTES)
            fp.seek(0)
            image = _decode(fp, head, path, min_size)
            samples = _declared_samples(fp, image)
    except PermissionError:
        raise ImageError(path, "no hay permiso para leer el archivo") from None
    except OSError as exc:  # gone since the check, a disk error, a network drive that dropped
        raise ImageError(path, f"no se pudo leer el archivo ({system_reason(exc)})") from exc
    try:
        if _alpha_left_unset(image):
            image = image.convert("RGB")
        _transparent_colour_at_eight_bits(image, head)
        return _to_rgb(_upright(image), samples)
    except Exception as exc:  # Pillow raises many types on exotic modes; none may escape.
        raise ImageError(path, "la imagen no se puede convertir a color RGB") from exc


def _check_regular_file(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(path, "el archivo no existe") from None
    except PermissionError:
        raise ImageError(path, "no hay permiso para acceder al archivo") from None
    except OSError as exc:
        raise ImageError(path, f"la ruta no es válida ({system_reason(exc)})") from exc
    except ValueError as exc:  # a NUL character in the name
        raise ImageError(path, "la ruta no es válida") from exc
    _check_file_type(path, info.st_mode)
    if info.st_size == 0:
        raise ImageError(path, _zero_size_reason(path))


def _zero_size_reason(path):
    """Why a file whose size says 0 bytes is no picture: empty, or a system file that reads as more.

    The files of /proc and /sys say 0 bytes and have content made on reading. Only the
    first bytes are read, without waiting: some (/proc/kmsg) wait for data that may never come.
    """
    try:
        descriptor = os.open(path, _OPEN_FLAGS | _NONBLOCK)
    except OSError:
        return "el archivo está vacío (0 bytes)"  # gone or locked since the stat: its size is all we know
    try:
        head = os.read(descriptor, _HEAD_BYTES)
    except OSError:  # no data yet (EAGAIN), or one that refuses to be read
        head = None
    finally:
        os.close(descriptor)
    if head == b"":
        return "el archivo está vacío (0 bytes)"
    if head and _looks_like_text(head):
        return "es un archivo de texto, no una imagen"
    return "es un archivo especial del sistema (dice medir 0 bytes, como los de /proc), no una imagen"


def _check_file_type(path, mode):
    if stat.S_ISDIR(mode):
        raise ImageError(path, "es una carpeta, no un archivo de imagen")
    if not stat.S_ISREG(mode):
        # Pipes and devices would block or never end.
        raise ImageError(path, "no es un archivo normal ni una carpeta")


@contextmanager
def _open_regular(path):
    """files.open_regular_file (judged by what was opened: the name may stand for a pipe by now),
    with what it refuses said as the check before it says it."""
    try:
        with open_regular_file(path) as (fp, _):
            yield fp
    except NotSmallRegularFile as exc:  # without a limit, only something other than a regular file
        _check_file_type(path, exc.mode)


def pixel_count(path):
    """Width x height from the file's header alone, or 0 when it cannot be read (open_image will say why).

    A PNG's come from its IHDR, the first chunk: through Pillow, its compressed metadata would be
    measured here and again by open_image. For a valid PNG Pillow reads the same two numbers.
    """
    try:
        with _open_regular(os.fspath(path)) as fp:
            head = fp.read(_IHDR_END)
            if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR" and len(head) == _IHDR_END:
                width, height = struct.unpack(">II", head[16:24])
                return width * height
            fp.seek(0)
            with _pillow_open(fp) as image:
                return image.width * image.height
    except Exception:  # noqa: BLE001 - only a hint for scheduling; the real open reports errors
        return 0


def readable_formats():
    """The Pillow formats open_image tries: those of IMAGE_EXTENSIONS, none that starts a program.

    Any other content is refused whatever the file is called: only these decoders run.
    The list is fixed (a test derives it again from Pillow's registry): asking the registry
    here would import every Pillow plugin, 3.5 MB more at the peak for nothing. The formats
    Pillow registers first come first, so a photo never loads the other plugins.
    """
    return IMAGE_FORMATS


def _decode(fp, head, path, min_size):
    try:
        image = _pillow_open(fp)
    except UnidentifiedImageError:
        raise ImageError(path, _not_an_image_reason(head, os.fstat(fp.fileno()).st_size)) from None
    except Image.DecompressionBombError:
        raise ImageError(path, _too_large_reason()) from None
    except Exception as exc:  # a broken header can raise almost anything inside Pillow
        raise ImageError(path, _BAD_HEADER) from exc
    # Pillow only warns between one and two times its limit; we refuse the whole band.
    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        raise ImageError(path, _too_large_reason())
    if image.format in ("JPEG", "MPO") and _jpeg_scans(fp, MAX_JPEG_SCANS) > MAX_JPEG_SCANS:  # MPO: camera files
        raise ImageError(path, f"el JPEG tiene más de {MAX_JPEG_SCANS} pasadas (scans; una foto tiene unas 10) "
                               "y decodificarlo podría llevar minutos: podría ser una bomba de descompresión")
    if image.format == "TIFF":
        _quiet_libtiff()
    if min_size is not None and image.format == "JPEG":
        image.draft("RGB", min_size)
    try:
        image.load()
    except Image.DecompressionBombError:
        raise ImageError(path, _too_large_reason()) from None
    except Exception as exc:
        raise ImageError(path, _CUT_SHORT) from exc
    return image


@functools.cache
def _quiet_libtiff():
    """Keep libtiff's errors off the terminal: Pillow turns them into exceptions all the same.

    Pillow decodes compressed TIFFs with libtiff, whose default error handler writes English
    lines on stderr from C («tempfile.tif: Using code not yet in table.»); Pillow silences only
    its warnings. libtiff's global error handlers are set to none, once, in the copy of libtiff
    Pillow loaded: one pointer for the whole process, safe with the desktop's decoding thread,
    where moving file descriptor 2 around a decode would hide the other threads' lines too.
    Where that copy cannot be found (Windows, where it is built into Pillow), nothing changes.
    """
    for path in _loaded_libtiff_paths():
        try:
            library = ctypes.CDLL(path)
            for name in ("TIFFSetErrorHandler", "TIFFSetErrorHandlerExt"):
                setter = getattr(library, name)
                setter.argtypes, setter.restype = [ctypes.c_void_p], ctypes.c_void_p
                setter(None)
        except (OSError, AttributeError):  # not a libtiff after all, or an older one without Ext
            continue


def _loaded_libtiff_paths():
    """The files of the libtiff this process has loaded (Linux), else the one Pillow's wheel ships (macOS)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            found = {line.split(None, 5)[5].strip() for line in maps if line.count(" ") >= 5 and "/libtiff" in line}
        found = {path for path in found if os.path.basename(path).startswith("libtiff")}
        if found:
            return sorted(found)
    except OSError:
        pass
    pillow = os.path.dirname(Image.__file__)
    return sorted(glob.glob(os.path.join(pillow, ".dylibs", "libtiff*")))


def _pillow_open(fp):
    """Image.open on the formats we read; a PNG is seen without its oversized metadata chunks."""
    head = fp.read(len(_PNG_SIGNATURE))
    fp.seek(0)
    if head == _PNG_SIGNATURE:
        size = os.fstat(fp.fileno()).st_size
        hidden = _oversized_png_metadata(fp, size)
        fp.seek(0)
        if hidden:
            fp = _Without(fp, hidden, size)
    return Image.open(fp, formats=readable_formats())


def _too_large_reason():
    return ("la imagen tiene más píxeles que el límite de seguridad de Pillow "
            f"({thousands(Image.MAX_IMAGE_PIXELS)} píxeles) y podría ser una bomba de descompresión")
