"""The command line's paths -> the pictures to classify: folders listed, this program's own PNGs left out."""

import os

from classifier.base.defaults import EXPLAINED_EXTENSIONS, IMAGE_EXTENSIONS, OUTPUT_SOFTWARE
from classifier.base.errors import InputError, display_path, system_reason
from classifier.base.files import open_regular_file

from .png import _png_text

_MARK_BYTES = 4096  # our PNGs carry their mark in the first chunks, before any pixel data
# What a folder of files the program cannot read holds, named by the students' words for them.
_UNREADABLE_KINDS = (({".heic", ".heif", ".hif"}, "foto HEIC/HEIF (el formato de los iPhone)",
                      "fotos HEIC/HEIF (el formato de los iPhone)"),
                     ({".pdf"}, "documento PDF", "documentos PDF"),
                     ({".svg", ".eps", ".ps"}, "dibujo vectorial", "dibujos vectoriales"))


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
        found, ours, explained = False, [], []
        for path, error in _images_in_folder(given, recursive, ours, explained):
            found = True
            yield path, error
        if not found and ours:  # said here, in its place, not in the note
            yield given, InputError(given, f"La carpeta «{display_path(given)}» solo contiene imágenes que escribió "
                                           "este programa (mapas de --mapa o figuras guardadas desde la ventana); "
                                           "para clasificar una, nómbrela como archivo.")
        elif not found and explained:  # an iPhone's folder: say what its files are and what to do
            yield given, InputError(given, f"La carpeta «{display_path(given)}» no contiene imágenes que se puedan "
                                           f"leer: tiene {_kinds_text(explained)}; conviértalas a JPEG o PNG "
                                           "para clasificarlas.")
        elif not found:
            where = " ni en sus subcarpetas" if recursive else " (use --recursivo para buscar en sus subcarpetas)"
            yield given, InputError(given, f"La carpeta «{display_path(given)}» no contiene imágenes{where}.")
        elif skipped is not None:
            skipped += ours


def each_once(inputs):
    """The (path, error) inputs with each photo once, however spelt: named as a file and through its folder too."""
    from ..results_log.paths import same_photo

    kept, seen = [], set()
    for path, error in inputs:
        key = same_photo(path)
        if key not in seen:
            seen.add(key)
            kept.append((path, error))
    return kept


def skipped_outputs_sentence(count):
    """The note that a folder's PNGs written by this program were left out, and how to classify one."""
    if count == 1:
        return ("Se omite 1 imagen que escribió este programa (un mapa de --mapa o una figura guardada desde la "
                "ventana): no es una foto; para clasificarla, nómbrela como archivo.")
    return (f"Se omiten {count} imágenes que escribió este programa (mapas de --mapa o figuras guardadas desde la "
            "ventana): no son fotos; para clasificar una, nómbrela como archivo.")


def _kinds_text(paths):
    """«3 fotos HEIC/HEIF (el formato de los iPhone) y 1 documento PDF»."""
    extensions = [os.path.splitext(path)[1].lower() for path in paths]
    parts = []
    for kind, one, many in _UNREADABLE_KINDS:
        count = sum(extension in kind for extension in extensions)
        if count:
            parts.append(f"1 {one}" if count == 1 else f"{count} {many}")
    return " y ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)


def _images_in_folder(folder, recursive, skipped, explained):
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
            if not os.path.isfile(path):
                continue
            if not is_image_name(name):
                if os.path.splitext(name)[1].lower() in EXPLAINED_EXTENSIONS:
                    explained.append(path)
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
        with open_regular_file(path) as (fp, _):
            head = fp.read(_MARK_BYTES)
    except OSError:  # a pipe, a folder, gone: open_image will say what is wrong with it, in its turn
        return False
    return _png_text(head, b"Software") in {name.encode("latin-1") for name in OUTPUT_SOFTWARE}


def is_image_name(name):
    """True when the file name ends in a usual image extension, in any case."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
