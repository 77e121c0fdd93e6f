"""Any file a user can pick -> an upright 8-bit RGB image, or an ImageError in Spanish."""

import bisect
import codecs
import ctypes
import functools
import glob
import itertools
import os
import re
import stat
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .defaults import IMAGE_EXTENSIONS, IMAGE_FORMATS, OUTPUT_SOFTWARE
from .errors import ImageError, InputError, display_path, system_reason

_HEAD_BYTES = 512
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # absent on Windows, which has no named pipes in folders
_STRIP_SAMPLES = 1 << 20  # pixels converted at a time: 8 MB as float64 (high bit depths), 4 MB as RGBA
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MARK_BYTES = 4096  # our PNGs carry their mark in the first chunks, before any pixel data
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WHITE = (255, 255, 255, 255)
_ORIENTATION = 0x0112  # the EXIF tag
_HEVC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}  # iPhone photos
_ALPHA_OPTIONAL_FORMATS = {"BMP", "DIB", "ICO", "TGA"}  # 32-bit pixels whose fourth byte writers often leave 0
_SMAX_SAMPLE_VALUE, _BITS_PER_SAMPLE, _SAMPLE_FORMAT, _PHOTOMETRIC = 341, 258, 339, 262  # TIFF tags
_MAX_CHUNKS = 10_000  # PNG chunks looked through for sBIT before the pixel data
_COMPRESSED_METADATA = {b"zTXt", b"iCCP", b"iTXt"}
_ANIMATION_CHUNKS = {b"acTL", b"fcTL", b"fdAT"}  # APNG frames: Pillow streams them, never keeps them
_MAX_METADATA_CHUNKS = 1000  # other ancillary chunks Pillow sees; a photo has a handful
_INFLATE_STEP = 1 << 20  # bytes unpacked at a time when measuring a compressed PNG text
# A progressive JPEG of ~100 KB per scan can repeat a tiny scan without end, and libjpeg goes
# over the whole picture for each one: 20 000 empty scans of 8000 x 8000 (2.1 MB) took 70 s.
# Encoders write ~10 (libjpeg: 10 in colour, 6 in grey); Skia, the decoder of Chrome and
# Android, gives up at the 100th scan, as this program does.
MAX_JPEG_SCANS = 100
# The next JPEG marker: FF, then a byte that is not 00 (a stuffed FF inside the entropy-coded
# data), nor RST0-7 (restart markers, part of a scan's data), nor FF (fill: the marker is the
# last FF's). libjpeg reads the stream the same way. A plain FF prefix lets the regex engine
# jump from FF to FF: 50 times as fast as "FF+" on a photo's data.
_JPEG_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_CUT_SHORT = "el archivo está dañado o incompleto y no se puede decodificar"
_BAD_HEADER = "el archivo está dañado: su cabecera no se puede leer"
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9
_WINDOW_BYTES = 1 << 20  # read at a time when counting scans
# Huffman sequential and lossless frames: every scan spends at least a bit per block or sample,
# so its decoding costs what its bytes do, as in any picture. Progressive scans (EOB runs)
# and arithmetic coding can cover the whole picture in a few bytes.
_JPEG_BOUNDED_FRAMES = {0xC0, 0xC1, 0xC3}
_JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-15 but DHT, JPG and DAC
_JPEG_NO_LENGTH = {0x01, 0xD8}  # TEM, SOI: markers without a segment (RST never matches)

# Pillow refuses a PNG whose text or colour profile (iCCP) unpacks past 1 MB as damaged; cameras and
# editors write XMP and profiles of several MB. The bounds stay, larger; what passes them Pillow
# does not see (_oversized_png_metadata).
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, 32 * 1024 * 1024)
PngImagePlugin.MAX_TEXT_MEMORY = max(PngImagePlugin.MAX_TEXT_MEMORY, 64 * 1024 * 1024)


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
    _check_file_type(path, info)
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


def _check_file_type(path, info):
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(path, "es una carpeta, no un archivo de imagen")
    if not stat.S_ISREG(info.st_mode):
        # Pipes and devices would block or never end.
        raise ImageError(path, "no es un archivo normal ni una carpeta")


def _open_regular(path):
    """The file opened for reading, refused unless what was opened is a regular file.

    The name may stand for a pipe by the time it is opened (swapped after the check),
    and opening a pipe waits for a writer forever: O_NONBLOCK makes that open return at
    once, fstat judges the file actually opened, and reads block again as usual.
    """
    descriptor = os.open(path, _OPEN_FLAGS | _NONBLOCK)
    try:
        _check_file_type(path, os.fstat(descriptor))
        if _NONBLOCK:
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def pixel_count(path):
    """Width x height from the file's header alone, or 0 when it cannot be read (open_image will say why)."""
    try:
        with _open_regular(os.fspath(path)) as fp, _pillow_open(fp) as image:
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


def _jpeg_scans(fp, limit):
    """The number of scans (SOS markers) of a JPEG file's first picture, counted up to limit + 1.

    Marker by marker, as libjpeg reads the stream, jumping over each segment by its length
    and over each scan's data to the next marker: no pixel is decoded. The file is read a
    window at a time, not mapped: a mapped file that another program shortens meanwhile
    kills the process (SIGBUS). A stream that ends early is Pillow's to judge. A baseline
    photo (Huffman sequential) is not walked through: 1 at its first scan.
    """
    window = _Window(fp)
    scans, at, frame = 0, 2, None  # after SOI
    while scans <= limit:
        found = window.next_marker(at)
        if found is None:
            break
        marker, at = found
        if marker == _JPEG_EOI:
            break
        if marker in _JPEG_NO_LENGTH:
            continue
        length = window.bytes(at, 2)
        if len(length) < 2:
            break
        if marker in _JPEG_FRAMES:
            frame = marker
        if marker == _JPEG_SOS:
            scans += 1
            if frame in _JPEG_BOUNDED_FRAMES:
                break
        at += struct.unpack(">H", length)[0]
    return scans


class _Window:
    """A file read through one window of _WINDOW_BYTES at a time, for a search that moves forwards."""

    def __init__(self, fp):
        self._fp, self._start, self._data = fp, 0, b""

    def _load(self, at):
        self._fp.seek(at)
        self._start, self._data = at, self._fp.read(_WINDOW_BYTES)

    def bytes(self, at, count):
        if not self._start <= at <= at + count <= self._start + len(self._data):
            self._load(at)
        return self._data[at - self._start:at - self._start + count]

    def next_marker(self, at):
        """(marker byte, the offset after it) of the first JPEG marker at or after at; None at the end."""
        if not self._start <= at < self._start + len(self._data):
            self._load(at)
        while True:
            found = _JPEG_MARKER.search(self._data, at - self._start)
            if found:
                return self._data[found.end() - 1], self._start + found.end()
            if len(self._data) < _WINDOW_BYTES:  # the window reached the end of the file
                return None
            at = self._start + len(self._data) - 1  # its last byte may be a marker's FF
            self._load(at)


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


def _oversized_png_metadata(fp, size):
    """(start, end) of the PNG metadata chunks that Pillow would refuse or keep past its bounds.

    Pillow refuses the whole file («dañado») for one text or colour profile that unpacks past
    MAX_TEXT_CHUNK, or texts past MAX_TEXT_MEMORY in all; it reads any other metadata chunk
    whole into memory, however large, and keeps every private one (two million empty ones:
    9 s and 230 MB). None of them makes a pixel: such chunks are left out of what Pillow sees
    and the picture is read. Every ancillary chunk but tRNS and the APNG frames counts,
    unpacked size for compressed ones, until MAX_TEXT_MEMORY or _MAX_METADATA_CHUNKS
    is spent. A compressed one is unpacked only up to MAX_TEXT_CHUNK, and all of them together
    only up to twice MAX_TEXT_MEMORY: past that, the next compressed ones are left out unread.
    Neighbouring ranges are merged.
    """
    hidden, budget, count = [], PngImagePlugin.MAX_TEXT_MEMORY, 0
    inflate_left = 2 * PngImagePlugin.MAX_TEXT_MEMORY  # measuring 200 bombs of 32 MB took 34 s
    for at, length, kind in _png_chunks(fp):
        end = at + 12 + length  # length, type, data, CRC
        if kind == b"IEND" or end > size:  # a truncated chunk is Pillow's to judge
            return hidden
        if kind[:1].islower() and kind not in _ANIMATION_CHUNKS:  # ancillary, not a frame
            if kind == b"tRNS":  # it does change the pixels: only a nonsense size is left out
                drop = length >= PngImagePlugin.MAX_TEXT_CHUNK
            else:
                limit = min(PngImagePlugin.MAX_TEXT_CHUNK, budget)
                if kind in _COMPRESSED_METADATA:
                    limit = min(limit, inflate_left)
                unpacked, inflated = _metadata_size(fp, kind, length, limit)
                inflate_left -= inflated
                count += 1
                drop = unpacked >= limit or count > _MAX_METADATA_CHUNKS
                budget -= 0 if drop else unpacked
            if drop and hidden and hidden[-1][1] == at:
                hidden[-1] = (hidden[-1][0], end)
            elif drop:
                hidden.append((at, end))
    return hidden


def _png_chunks(fp):
    """(offset, data length, type) of each PNG chunk after the signature, from its 8-byte header alone,
    until the file ends; fp is left just past the header, so the chunk's data can be read next."""
    at = len(_PNG_SIGNATURE)
    while True:
        fp.seek(at)
        header = fp.read(8)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header)
        yield at, length, kind
        at += 12 + length  # length, type, data, CRC


def _metadata_size(fp, kind, length, limit):
    """(a metadata chunk's size once read, bytes unpacked to measure it); its data is read from fp.

    A compressed one is unpacked only until its size reaches limit.
    """
    if kind not in _COMPRESSED_METADATA or length >= limit:
        return length, 0
    packed = _packed_text(kind, fp.read(length))
    inflater, unpacked = zlib.decompressobj(), 0
    try:
        while unpacked < limit and not inflater.eof:
            piece = inflater.decompress(packed, _INFLATE_STEP)
            packed = inflater.unconsumed_tail
            if not piece and not packed:
                break
            unpacked += len(piece)
    except zlib.error:  # Pillow keeps an empty text for data that is not zlib
        return length, unpacked
    return max(unpacked, length), unpacked


def _packed_text(kind, data):
    """The zlib stream of a zTXt, iCCP or compressed iTXt chunk's data; b"" when it has none."""
    keyword_end = data.find(b"\0")
    if keyword_end < 0:
        return b""
    if kind != b"iTXt":
        return data[keyword_end + 2:]  # after the keyword's NUL and the compression method
    if data[keyword_end + 1:keyword_end + 2] != b"\1":  # the compression flag: a plain text
        return b""
    rest = data[keyword_end + 3:].split(b"\0", 2)  # language, translated keyword, text
    return rest[2] if len(rest) == 3 else b""


class _Without:
    """A read-only, seekable view of a file with some byte ranges left out."""

    def __init__(self, fp, hidden, size):
        self._fp, self._at, self._parts = fp, 0, []  # (view offset, file offset, length)
        view = kept_from = 0
        for start, end in [*hidden, (size, size)]:
            if start > kept_from:
                self._parts.append((view, kept_from, start - kept_from))
                view += start - kept_from
            kept_from = end
        self._starts = [part[0] for part in self._parts]
        self._size = view

    def seek(self, offset, whence=os.SEEK_SET):
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._at, os.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self):
        return self._at

    def read(self, count=-1):
        if count is None or count < 0:
            count = max(0, self._size - self._at)
        pieces = []
        while count > 0 and self._at < self._size:
            view, start, length = self._parts[bisect.bisect_right(self._starts, self._at) - 1]
            self._fp.seek(start + self._at - view)
            piece = self._fp.read(min(count, view + length - self._at))
            if not piece:
                break
            pieces.append(piece)
            self._at += len(piece)
            count -= len(piece)
        return b"".join(pieces)


def _too_large_reason():
    return (
        "la imagen tiene más píxeles que el límite de seguridad de Pillow "
        f"({Image.MAX_IMAGE_PIXELS:,} píxeles) y podría ser una bomba de descompresión"
    ).replace(",", ".")


def _not_an_image_reason(head, size):
    if head.startswith((_PNG_SIGNATURE, b"\xff\xd8\xff")):  # a PNG or JPEG start that Pillow could not follow
        return _BAD_HEADER
    if head.startswith(b"%PDF"):
        return "es un documento PDF, no una imagen"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):  # PostScript, as text or with a binary EPS header
        return "es un documento PostScript, no una imagen"
    if _looks_like_text(head):
        if b"<svg" in head.lower() or b"<!doctype svg" in head.lower():  # Illustrator's files name it first
            return ("es un dibujo vectorial (SVG), no una imagen de píxeles: conviértalo a PNG (por ejemplo, "
                    "ábralo en Inkscape o en un navegador y expórtelo o haga una captura)")
        return "es un archivo de texto, no una imagen"
    if head.startswith((b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")):  # classic and big TIFF
        if _tiff_cut_short(head, size):
            return _CUT_SHORT
        return ("es un TIFF de una variante que no se puede leer (por ejemplo, de coma flotante de 16 bits o "
                "en color, de 16 bits con transparencia o de 12 bits): guárdelo como PNG o como TIFF de 8 o 16 bits")
    if _is_heic(head):
        return ("es una foto HEIC/HEIF (el formato de los iPhone), que no se puede leer: conviértala a JPEG "
                "(en el iPhone, Ajustes > Cámara > Formatos > Más compatible, o ábrala y expórtela como JPEG)")
    return "no es una imagen en un formato que se pueda leer"


def _tiff_cut_short(head, size):
    """Whether a TIFF's first directory (which writers often put last) lies past the end of the file:
    a download cut short, not a variant Pillow cannot read."""
    order = "<" if head[:2] == b"II" else ">"
    if head[2:4] in (b"*\0", b"\0*"):  # classic: a 4-byte offset, 2-byte entry count
        if len(head) < 8:
            return True
        offset, count_bytes = struct.unpack(order + "I", head[4:8])[0], 2
    else:  # BigTIFF: an 8-byte offset after the offset size and a pad
        offset, count_bytes = (struct.unpack(order + "Q", head[8:16])[0] if len(head) >= 16 else size), 8
    return offset + count_bytes > size


def _is_heic(head):
    """An ISO media file (ftyp box) that names an HEVC picture brand and not AVIF, which Pillow reads."""
    if head[4:8] != b"ftyp":
        return False
    size = struct.unpack(">I", head[:4])[0]
    brands = {head[at:at + 4] for at in range(8, min(size, len(head)) - 3, 4)}  # major, version, compatible
    return bool(brands & _HEVC_BRANDS) and b"avif" not in brands


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


def _png_significant_bits(fp):
    """The sBIT chunk's grey (or first) value, read from the chunks before the pixel data; None without."""
    for _, length, kind in itertools.islice(_png_chunks(fp), _MAX_CHUNKS):
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"sBIT":
            data = fp.read(min(length, 4))
            return data[0] if data else None
    return None


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


def expand_inputs(paths, recursive=False, skipped=None):
    """Yield (path, error) per image named by the command line, in the order given.

    A folder stands for the image files in it, sorted by name (and those of its
    subfolders with recursive=True); the path of each is the folder as given
    joined with its name. error is an InputError or None: a folder (or subfolder)
    that cannot be read is one, in its place, and the rest goes on; files are
    judged later by open_image, so a missing path comes through as a path. The
    PNGs this program wrote (maps, saved figures) are not the user's pictures: a
    folder's are left out, each appended to the list skipped if one is given (a
    folder of nothing else is an error in its place); a file named on its own is
    taken whatever it is.
    """
    for given in paths:
        if not os.path.isdir(given):
            yield given, None
            continue
        found, ours = False, []
        for path, error in _images_in_folder(given, recursive, ours):
            found = True
            yield path, error
        if not found and ours:  # said here, in its place, not in the note
            yield given, InputError(given, f"La carpeta «{display_path(given)}» solo contiene imágenes que escribió "
                                           "este programa (mapas de --mapa o figuras guardadas desde la ventana); "
                                           "para clasificar una, nómbrela como archivo.")
        elif not found:
            where = " ni en sus subcarpetas" if recursive else " (use --recursivo para buscar en sus subcarpetas)"
            yield given, InputError(given, f"La carpeta «{display_path(given)}» no contiene imágenes{where}.")
        elif skipped is not None:
            skipped += ours


def skipped_outputs_sentence(count):
    """The note that a folder's PNGs written by this program were left out, and how to classify one."""
    if count == 1:
        return ("Se omite 1 imagen que escribió este programa (un mapa de --mapa o una figura guardada desde la "
                "ventana): no es una foto; para clasificarla, nómbrela como archivo.")
    return (f"Se omiten {count} imágenes que escribió este programa (mapas de --mapa o figuras guardadas desde la "
            "ventana): no son fotos; para clasificar una, nómbrela como archivo.")


def _images_in_folder(folder, recursive, skipped):
    def visible_sorted(names):
        # Hidden files (".foo.jpg", macOS "._foo.jpg") are not the user's pictures.
        return sorted((n for n in names if not n.startswith(".")), key=lambda n: (n.casefold(), n))

    # os.walk reports a folder it cannot list (no permission, a path too long) and goes on
    # with the rest; each becomes an error in the place its pictures would have had.
    unreadable = []

    def folder_errors():
        while unreadable:
            exc = unreadable.pop(0)
            where = exc.filename if exc.filename is not None else folder
            yield where, InputError(where, f"No se puede leer el contenido de la carpeta «{display_path(where)}» "
                                           f"({system_reason(exc)}).")

    for root, dirs, files in os.walk(folder, onerror=unreadable.append):
        yield from folder_errors()
        dirs[:] = visible_sorted(dirs) if recursive else []
        for name in visible_sorted(files):
            path = os.path.join(root, name)
            if not is_image_name(name) or not os.path.isfile(path):
                continue
            if _is_our_output(name, path):
                skipped.append(path)
            else:
                yield path, None
    yield from folder_errors()


def _is_our_output(name, path):
    # Only PNGs are read: the scan stays a listing for every other picture.
    return name.lower().endswith(".png") and is_map_file(path)


def is_map_file(path):
    """True for a PNG this program wrote (a --mapa map or a figure saved from the window): its Software
    text says so.

    Reads the first few KB only. A user's photo named *_mapa.png or *_resultado.png carries no such mark.
    """
    try:
        with _open_regular(path) as fp:
            head = fp.read(_MARK_BYTES)
    except (OSError, ImageError):  # open_image will say what is wrong with it, in its turn
        return False
    return _png_text(head, b"Software") in {name.encode("latin-1") for name in OUTPUT_SOFTWARE}


def _png_text(head, keyword):
    """The value of a tEXt chunk before the pixel data, or None."""
    if not head.startswith(_PNG_SIGNATURE):
        return None
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(head):
        length, kind = struct.unpack(">I4s", head[at:at + 8])
        data = head[at + 8:at + 8 + length]
        if kind == b"IDAT" or len(data) < length:
            return None
        if kind == b"tEXt":
            key, _, value = data.partition(b"\0")
            if key == keyword:
                return value
        at += 12 + length  # length, type, data, CRC
    return None


def is_image_name(name):
    """True when the file name ends in a usual image extension, in any case."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
