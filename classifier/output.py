"""Results as text (three decimals), JSON Lines or CSV. Consumes plain data only.

File names may hold anything but "/" and NUL, bytes that are not UTF-8 and terminal
escape sequences included: the text output shows them escaped (display_path), JSON
and CSV keep the exact name recoverable (see JsonLinesWriter and CsvWriter).
"""

import csv
import errno
import io
import json
import os
import re

from .errors import display_path, escape_character, printable, system_reason
from .results import Result  # noqa: F401 - re-exported: callers have long imported it from here

# A map is created, never opened: an existing file or link of that name is left alone.
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
_MAX_COPIES = 10_000
_CSV_ESCAPE = re.compile(r'\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[nrt"\\])')
_CSV_UNESCAPED = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def format_predictions(predictions):
    """Aligned lines of rank, label and probability with exactly three decimals."""
    rank_width = len(str(len(predictions)))
    labels = [printable(str(p.label)) for p in predictions]  # a model's label reaches no terminal raw
    label_width = max(map(len, labels), default=0)
    return "\n".join(
        f"  {rank:>{rank_width}}  {label:<{label_width}}  {p.score:.3f}"
        for rank, (p, label) in enumerate(zip(predictions, labels, strict=True), start=1)
    )


def format_result(result):
    """What a terminal shows for one result: its path and top-k, or «Error: » and the sentence."""
    if result.error is not None:
        # printable: sentences name paths with display_path already; any other text is made safe here.
        return f"Error: {printable(result.error)}"
    return f"{display_path(result.path)}\n{format_predictions(result.predictions)}"


class TextWriter:
    """Path, then the top-k; errors go to stderr so stdout holds only results."""

    def __init__(self, out, err):
        self.out, self.err = out, err
        self._first = True

    def write(self, result):
        if result.error is not None:
            self.err.write(format_result(result) + "\n")
            self.err.flush()
            return
        if not self._first:
            self.out.write("\n")
        self._first = False
        self.out.write(format_result(result) + "\n")
        if result.map_file is not None:
            self.out.write(f"  mapa: {display_path(result.map_file)}\n")
        self.out.flush()


class JsonLinesWriter:
    """One JSON object per input, errors included, with full-precision scores.

    Paths are exact: a byte that is not UTF-8 comes out as the JSON escape of the
    character Python holds for it (b"\\xff" -> "\\udcff"), so os.fsencode(json.loads(
    line)["path"]) gives back the name's bytes. Other invisible characters are escaped
    too: the file is valid UTF-8 and shows nothing raw on a terminal.
    """

    def __init__(self, out, err):
        self.out = out

    def write(self, result):
        if result.error is not None:
            record = {"path": result.path, "error": result.error}
        else:
            record = {"path": result.path,
                      "predictions": [{"id": p.id, "label": p.label, "score": p.score} for p in result.predictions]}
            if result.map_file is not None:
                record["map"] = result.map_file
        # One write per line: an interrupted run leaves only whole lines behind.
        self.out.write(json_line(record) + "\n")
        self.out.flush()


def json_line(record):
    """One JSON object on one line: exact names (lone surrogates escaped), nothing invisible written raw."""
    # NaN is not JSON: a score that is not a number is a bug upstream, never a line.
    line = json.dumps(record, ensure_ascii=False, allow_nan=False)  # escapes U+0000..U+001F, leaves the rest
    if line.isprintable():
        return line
    # Outside strings json.dumps writes only printable ASCII: every other character is in a string.
    return "".join(c if c.isprintable() else _json_escape(c) for c in line)


def _json_escape(c):
    units = c.encode("utf-16-be", "surrogatepass")  # a pair of \\u escapes above U+FFFF
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def csv_path(path):
    """The CSV path column (and label column): the text itself when it is printable and does not
    start with a quote. A model's class name goes the same way: it reaches no terminal raw, and
    one that UTF-8 cannot hold (a lone surrogate from config.json) is written as the table shows it.

    Any other text is written between double quotes, as git writes such names, with
    \\" and \\\\ for quotes and backslashes, \\xNN for a byte that is not UTF-8, and
    \\n, \\r, \\t or \\uNNNN / \\UNNNNNNNN for an invisible character. path_from_csv undoes it.
    """
    if path.isprintable() and not path.startswith('"'):
        return path
    body = "".join(("\\" + c if c in '"\\' else c) if c.isprintable() else escape_character(c) for c in path)
    return f'"{body}"'


def path_from_csv(field):
    """The exact path (as Python holds it; os.fsencode gives its bytes) from the CSV path column;
    the exact class name from the label column."""
    if len(field) < 2 or not (field.startswith('"') and field.endswith('"')):
        return field

    def unescape(match):
        token = match.group(1)
        if token[0] == "x":
            return chr(0xDC00 + int(token[1:], 16))  # the character surrogateescape keeps the byte as
        if token[0] in "uU":
            return chr(int(token[1:], 16))
        return _CSV_UNESCAPED[token]

    return _CSV_ESCAPE.sub(unescape, field[1:-1])


class CsvWriter:
    """Header path,rank,id,label,score; one row per prediction. Errors go to stderr.

    The path and label columns are csv_path(text): the text as it is, except text with
    bytes that are not UTF-8 or invisible characters, which is quoted and escaped, on a
    terminal or in a file alike.
    """

    def __init__(self, out, err):
        self.out, self.err = out, err
        self._write_rows([["path", "rank", "id", "label", "score"]])

    def write(self, result):
        if result.error is not None:
            self.err.write(format_result(result) + "\n")
            self.err.flush()
            return
        self._write_rows(
            [csv_path(result.path), rank, p.id, csv_path(str(p.label)), repr(p.score)]
            for rank, p in enumerate(result.predictions, start=1)
        )

    def _write_rows(self, rows):
        # One write per image: an interrupted run never leaves half of an image's rows.
        buffer = io.StringIO()
        for row in rows:
            # QUOTE_MINIMAL quotes only what holds the line terminator ("\n"): a lone "\r"
            # (a label, say) would go out bare and split the row in two for csv.reader.
            quoting = csv.QUOTE_ALL if any("\r" in str(field) for field in row) else csv.QUOTE_MINIMAL
            csv.writer(buffer, lineterminator="\n", quoting=quoting).writerow(row)
        self.out.write(buffer.getvalue())
        self.out.flush()


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
        from .drawing import save_result

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


WRITERS = {"text": TextWriter, "json": JsonLinesWriter, "csv": CsvWriter}
