"""--mapa's folder: one PNG per image (the figure of drawing.py), each a new file under the first free name.

Presentation, not output/: a map is a matplotlib figure, and core code never imports the Tk/matplotlib side.
"""

import errno
import os

from classifier.base.errors import display_path, system_reason

# A map is created, never opened: an existing file or link of that name is left alone.
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
_MAX_COPIES = 10_000
_NAME_MAX = 255  # bytes in a file name, where the system does not say


class MapFolder:
    """Where --mapa writes one PNG per image, named after it (gato.jpg -> gato_mapa.png).

    Each map is a new file: when the name is taken (a photo, an earlier map, a link)
    the next free one is used, gato_mapa_2.png and so on. Maps carry the mark
    MAP_SOFTWARE, by which folder scans leave them out. The folder is made at once, so
    that a name that cannot be one is told before the model loads; discard() removes
    what was made if no map went into it.
    """

    def __init__(self, folder):
        self.folder = folder
        self.error = None
        self._made = _missing_folders(folder)
        try:
            os.makedirs(folder, exist_ok=True)
        except FileExistsError:
            self.error = f"No se puede crear la carpeta de mapas «{display_path(folder)}»: ya existe un archivo así."
        except OSError as exc:
            self.error = f"No se puede crear la carpeta de mapas «{display_path(folder)}»: {system_reason(exc)}."
        self._name_max = _name_max(folder)

    def discard(self):
        """Remove the folders this run made, innermost first, where they are still empty."""
        for folder in self._made:
            try:
                os.rmdir(folder)
            except OSError:  # a map (or anything else) is in it, or it is gone: leave it
                return
        self._made = []

    def save(self, result):
        from classifier.gui.drawing import save_result  # matplotlib only once a map is written

        name = os.path.basename(result.path)
        try:
            target, fp = self._create(os.path.splitext(name)[0] or "imagen")
        except OSError as exc:
            return result._replace(predictions=None, error=(
                f"No se pudo guardar el mapa de «{display_path(result.path)}» en la carpeta "
                f"«{display_path(self.folder)}»: {system_reason(exc)}."))
        try:
            with fp:
                save_result(fp, result.picture, result.predictions, result.heatmap, result.seen)
        except OSError as exc:
            _remove(target)
            return result._replace(predictions=None, error=(
                f"No se pudo guardar el mapa de «{display_path(result.path)}» en «{display_path(target)}»: "
                f"{system_reason(exc)}."))
        except BaseException:
            _remove(target)  # half a PNG is not a map
            raise
        return result._replace(map_file=target, heatmap=None, picture=None, seen=None)

    def _create(self, stem):
        """(path, binary file) of a file made now, under the first free name for this stem."""
        for copy in range(1, _MAX_COPIES + 1):
            suffix = "_mapa.png" if copy == 1 else f"_mapa_{copy}.png"
            target = os.path.join(self.folder, self._fitting(stem, suffix) + suffix)
            try:
                descriptor = os.open(target, _CREATE_FLAGS, 0o666)
            except FileExistsError:  # also a link by that name, dangling or not
                continue
            return target, os.fdopen(descriptor, "wb")
        raise FileExistsError(errno.EEXIST, "too many maps", os.path.join(self.folder, f"{stem}_mapa.png"))

    def _fitting(self, stem, suffix):
        """The stem, shortened by whole characters where stem + suffix would pass the file system's
        name limit (255 bytes on most): a photo with a long name still gets its map."""
        room = self._name_max - len(os.fsencode(suffix))
        while len(os.fsencode(stem)) > room and stem:
            stem = stem[:-1]
        return stem or "imagen"


def _missing_folders(folder):
    """The folders os.makedirs(folder) would make, innermost first."""
    missing = []
    folder = os.path.abspath(folder)
    while not os.path.lexists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing


def _name_max(folder):
    """Bytes a file name may have in folder."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), or no answer
        return _NAME_MAX


def _remove(path):
    try:
        os.remove(path)
    except OSError:  # already gone, or the folder went read-only: nothing more to undo
        pass
