"""CARPETA -> its classes (one subfolder each, named by the folder, NFC) and their photos.

Only the first level of each class folder counts: a photo in a deeper folder would silently
belong to its parent's class, so such a layout is refused, saying where the photos are.
"""

import os
import unicodedata
from dataclasses import dataclass, field

from classifier.base.errors import ClassifierError, quoted
from classifier.images.folders import is_image_name, is_map_file


class TeachingError(ClassifierError):
    """Input that cannot be taught from: str() is the one Spanish sentence, the exit status is 2."""


@dataclass
class TeachingClass:
    name: str  # the folder's name, NFC
    folder: str
    photos: list = field(default_factory=list)  # paths, sorted by name


def read_classes(folder, notes=None):
    """The classes under folder, sorted by name; TeachingError when they cannot be taught from.

    notes: a list that gets a sentence for each group of photos left out (loose in folder, or deeper
    inside a class folder that has photos of its own)."""
    if not os.path.isdir(folder):
        raise TeachingError(f"La carpeta de clases {quoted(folder)} no existe o no es una carpeta.")
    classes, loose = [], 0
    for entry in _visible_entries(folder):
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            classes.append(TeachingClass(_class_name(entry, path), path, _photos_in(path)))
        elif is_image_name(entry):
            loose += 1
    if len(classes) < 2:
        where = (f" (tiene {loose} foto{'s' if loose != 1 else ''} sueltas: póngalas en una subcarpeta por clase)"
                 if loose else "")
        raise TeachingError(f"La carpeta {quoted(folder)} tiene {len(classes)} subcarpeta"
                            f"{'s' if len(classes) != 1 else ''} de clase y hacen falta al menos dos, una por "
                            f"clase{where}.")
    seen = {}
    for taught in classes:
        other = seen.setdefault(taught.name.casefold(), taught)
        if other is not taught:
            raise TeachingError(f"Las carpetas {quoted(other.folder)} y {quoted(taught.folder)} dan la misma "
                                "clase: cambie el nombre de una.")
        if not taught.photos:
            raise TeachingError(_empty_class_sentence(taught))
    if notes is not None:
        if loose:
            notes.append(f"Aviso: se omite{'n' if loose != 1 else ''} {loose} foto{'s' if loose != 1 else ''} "
                         f"suelta{'s' if loose != 1 else ''} en {quoted(folder)}, fuera de las carpetas de clase: "
                         "para enseñarlas, póngalas en la carpeta de su clase.")
        for taught in classes:
            deeper = _first_deeper_photo_folder(taught.folder)
            if deeper is not None:
                notes.append(f"Aviso: se omiten las fotos de {quoted(deeper)} (y de cualquier otra subcarpeta de "
                             f"«{taught.name}»): solo cuentan las que están directamente en {quoted(taught.folder)}.")
    return classes


def _visible_entries(folder):
    try:
        names = os.listdir(folder)
    except OSError as exc:
        from classifier.base.errors import system_reason

        raise TeachingError(f"No se puede leer la carpeta {quoted(folder)} ({system_reason(exc)}).") from None
    # Hidden entries (".git", macOS "._foto.jpg") are not the user's classes or photos.
    return sorted((n for n in names if not n.startswith(".")), key=lambda n: (n.casefold(), n))


def _class_name(entry, path):
    name = unicodedata.normalize("NFC", entry)
    if not name.strip():
        raise TeachingError(f"La carpeta {quoted(path)} tiene un nombre vacío (solo espacios): el nombre de la "
                            "carpeta es el de la clase; póngale uno.")
    if not name.isprintable():
        raise TeachingError(f"El nombre de la carpeta {quoted(path)} tiene caracteres que no se pueden mostrar "
                            "(saltos de línea, controles o bytes que no son texto): el nombre de la carpeta es el "
                            "de la clase; cámbielo.")
    return name


def _photos_in(folder):
    photos = []
    for name in _visible_entries(folder):
        path = os.path.join(folder, name)
        if is_image_name(name) and os.path.isfile(path) and not (name.lower().endswith(".png") and is_map_file(path)):
            photos.append(path)
    return photos


def _empty_class_sentence(taught):
    deeper = _first_deeper_photo_folder(taught.folder)
    if deeper is not None:
        return (f"La clase «{taught.name}» no tiene fotos en su carpeta {quoted(taught.folder)}; las hay más "
                f"adentro, en {quoted(deeper)}: muévalas a {quoted(taught.folder)} (solo cuentan las fotos que "
                "están directamente en la carpeta de cada clase).")
    return (f"La clase «{taught.name}» no tiene ninguna foto (su carpeta {quoted(taught.folder)} está vacía de "
            "imágenes): añada fotos o quite la carpeta.")


def _first_deeper_photo_folder(folder):
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if root != folder and any(is_image_name(name) for name in files if not name.startswith(".")):
            return root
    return None
