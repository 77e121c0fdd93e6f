"""Why a file is no picture this program reads, in the Spanish words the user sees."""

import codecs
import struct

from .png import _PNG_SIGNATURE

_HEVC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}  # iPhone photos
_CUT_SHORT = "el archivo está dañado o incompleto y no se puede decodificar"
_BAD_HEADER = "el archivo está dañado: su cabecera no se puede leer"


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
