"""The --guardar log: one record per classified image, appended and flushed as it comes.

Records name each photo by its absolute path, so that a rerun from another folder knows them.
Rerunning the same command reopens the log, drops a torn last record (a power cut, a full
disk) and keeps a whole one that only lacks its newline; `pending` tells the front-end which
inputs are left to do: those without a record, and those whose latest record is an error. A
photo is one photo however its path is spelt (./a.jpg, a.jpg, dir/../a.jpg, the absolute path).
"""

import csv
import errno
import io
import json
import os
import re
import stat
import sys
import time
from contextlib import contextmanager
from typing import NamedTuple

from .errors import ClassifierError, printable, quoted, system_reason
from .output import csv_path, json_line, path_from_csv

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two sessions on one log are not caught there.
    fcntl = None

CSV_EXTENSIONS = (".csv",)
JSON_LINES_EXTENSIONS = (".jsonl", ".json", ".ndjson")
SYNC_INTERVAL_S = 1.0

_BOM = b"\xef\xbb\xbf"
# How every JSON Lines record of this program begins (json.dumps keeps key order).
_JSON_START = b'{"path": '
_CHUNK_BYTES = 1 << 16
_KEPT = "(este no se modificará)"


class ResultsLogError(ClassifierError):
    """The results log cannot be opened, continued or written."""


class ResultsLog:
    """An append-only results file in CSV (plain or Spanish spreadsheet) or JSON Lines.

    recorded: the paths in the file (after repair), plus every one written since, as recorded.
    """

    def __init__(self, path, fd, top_k, spreadsheet, json_lines):
        self.path = path
        self.top_k = top_k
        self.spreadsheet = spreadsheet
        self.json_lines = json_lines
        self.recorded = set()
        self._classified = {}  # same_photo(path) -> whether its latest record holds predictions
        self._prediction_counts = set()  # of the records that hold predictions
        self._labels = {}  # class id -> the names the records give it
        self._fd = fd
        self._synced_at = time.monotonic()
        self._unended = b""  # the newline a whole last record lacks: written with the next record
        self._created = None  # the file this run made (a link's target, maybe): without a record it goes again
        self._wrote = False

    @classmethod
    def open(cls, path, top_k, spreadsheet=False):
        """Open or create the log at path; repair a torn tail and fill `recorded`.

        The format comes from the extension: .csv, or .jsonl/.json/.ndjson for JSON Lines.
        spreadsheet: CSV for a Spanish-locale spreadsheet (";", decimal comma, BOM, CRLF).
        """
        path = os.fsdecode(path)
        extension = os.path.splitext(path)[1].lower()
        if extension not in CSV_EXTENSIONS + JSON_LINES_EXTENSIONS:
            raise ResultsLogError(
                f"El archivo de resultados {quoted(path)} debe terminar en .csv (tabla) "
                f"o en .jsonl, .json o .ndjson (JSON Lines).")
        json_lines = extension in JSON_LINES_EXTENSIONS
        if json_lines and spreadsheet:
            raise ResultsLogError(
                f"El formato de hoja de cálculo (separador «;» y coma decimal) es solo para archivos .csv, "
                f"y {quoted(path)} es JSON Lines.")
        # O_APPEND: every record lands at the end, whatever else moved the offset.
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        try:
            fd, created = _open_or_create(path, flags)
        except OSError as exc:
            raise ResultsLogError(
                f"No se puede abrir el archivo de resultados {quoted(path)}: {_reason(exc)}.") from exc
        log = cls(path, fd, top_k, spreadsheet, json_lines)
        log._created = created
        try:
            log._lock()
            log._resume()
        except BaseException:
            os.close(fd)
            raise
        return log

    def pending(self, inputs):
        """The (path, error) inputs left to do, in order: each photo once, however spelt, and only
        if it has no record yet or its latest record is an error (a failed image is retried)."""
        left, seen = [], set()
        for path, error in inputs:
            key = same_photo(path)
            if key not in seen and not self._classified.get(key, False):
                left.append((path, error))
            seen.add(key)
        return left

    def check_model(self, top_k, names):
        """Refuse a model that cannot continue this log. names: per class id of the model, the names it
        may be written with (in either language). Records that name a class otherwise were written by
        another model; records that hold another number of predictions than this run writes
        (min(top_k, classes)) would make a file of mixed rows. The sentence names a way that works.
        """
        classes, count = len(names), min(top_k, len(names))
        for class_id, written in sorted(self._labels.items()):
            if class_id >= classes:
                raise ResultsLogError(
                    f"{quoted(self.path)} tiene resultados de otro modelo: nombra la clase {class_id} y este "
                    f"solo tiene {classes}; elija otro archivo o use el modelo con el que se hizo {_KEPT}.")
            if not written <= set(names[class_id]):
                old = min(written - set(names[class_id]))
                raise ResultsLogError(
                    f"{quoted(self.path)} tiene resultados de otro modelo: su clase {class_id} es "
                    f"«{printable(old)}» y la de este, «{printable(next(iter(names[class_id])))}»; elija otro "
                    f"archivo o use el modelo con el que se hizo {_KEPT}.")
        saved = max(self._prediction_counts, default=count)
        if saved == count:
            return
        if saved > classes:
            raise ResultsLogError(
                f"{quoted(self.path)} guarda {saved} predicciones por imagen y este modelo solo tiene {classes} "
                f"clases; elija otro archivo o use el modelo con el que se hizo {_KEPT}.")
        if not self.json_lines and saved < top_k:
            # The header has top_k columns: fewer predictions in a record means its model had that many classes.
            raise ResultsLogError(
                f"{quoted(self.path)} se hizo con un modelo de {saved} clases (guarda {saved} predicciones por "
                f"imagen) y este tiene {classes}; elija otro archivo o use el modelo con el que se hizo {_KEPT}.")
        raise self._count_refused(saved, count)

    def _count_refused(self, saved, count):
        return ResultsLogError(
            f"{quoted(self.path)} guarda {saved} predicciones por imagen y ahora se piden {count}; "
            f"elija otro archivo o pida {saved} {_KEPT}.")

    def write(self, result):
        """Append one record, under the photo's absolute path, with a single write; fsync at most once a second.

        A photo already recorded with its predictions is not recorded again (picked twice in the
        desktop, say); a new record of a photo whose latest one is an error becomes its state.
        """
        key = same_photo(result.path)
        if self._classified.get(key, False):
            return
        result = result._replace(path=photo_path(result.path))
        data = self._unended + (self._json_record(result) if self.json_lines else self._csv_record(result))
        self._wrote = True
        try:
            self._write_all(data)  # a regular file takes it all at once unless the disk fills up
            self._unended = b""
            now = time.monotonic()
            if now - self._synced_at >= SYNC_INTERVAL_S:
                os.fsync(self._fd)
                self._synced_at = now
        except OSError as exc:
            raise ResultsLogError(
                f"No se pudo guardar el resultado de {quoted(result.path)} en {quoted(self.path)}: "
                f"{_reason(exc)}.") from exc
        self.recorded.add(result.path)
        self._classified[key] = result.error is None

    def close(self):
        """Sync the records to disk and close the file; a second call does nothing."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if self._created is not None and not self._wrote:
            _remove_if_still(self._created, fd)  # a model refused, nothing picked: no file of a lone header
        try:
            os.fsync(fd)
        except OSError as exc:
            raise ResultsLogError(f"No se pudo terminar de guardar {quoted(self.path)}: {_reason(exc)}.") from exc
        finally:
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- records ----------------------------------------------------------------------------

    def _json_record(self, result):
        if result.error is not None:
            record = {"path": result.path, "error": result.error}
        else:
            record = {"path": result.path, "predictions": [
                {"id": int(p.id), "label": p.label, "score": float(p.score)} for p in result.predictions]}
        # The batch's own JSON line: names exact (\udcff escapes), nothing invisible written raw.
        return (json_line(record) + "\n").encode("utf-8")

    def _csv_record(self, result):
        cells = [result.path, result.error or ""]
        for p in result.predictions or []:
            score = repr(float(p.score))
            # The label as the CSV output writes it: nothing invisible raw, and always UTF-8 (a lone surrogate
            # from a model's config.json is written as its escape, as the table and JSON show it).
            cells += [int(p.id), csv_path(str(p.label)), score.replace(".", ",") if self.spreadsheet else score]
        width = len(_columns(self.top_k))
        if len(cells) > width:
            raise ValueError(f"{len(result.predictions)} predictions for a log of top_k={self.top_k}")
        try:
            return _csv_line(cells + [""] * (width - len(cells)), self.spreadsheet)
        except UnicodeEncodeError as exc:
            raise ResultsLogError(
                f"No se puede guardar {quoted(result.path)} en {quoted(self.path)}: el nombre tiene caracteres "
                f"que no se pueden escribir en UTF-8.") from exc

    # --- reopening --------------------------------------------------------------------------

    def _lock(self):
        if fcntl is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsLogError(
                f"Otra sesión del clasificador está guardando resultados en {quoted(self.path)}; "
                f"espere a que termine o elija otro archivo.") from None
        except OSError:
            pass  # a file system without locks (some network drives): go on unlocked

    def _resume(self):
        try:
            if not stat.S_ISREG(os.fstat(self._fd).st_mode):
                raise ResultsLogError(
                    f"No se pueden guardar resultados en {quoted(self.path)}: no es un archivo normal.")
            keep = self._resume_json_lines() if self.json_lines else self._resume_csv()
            if keep is not None:
                os.ftruncate(self._fd, keep)
                os.fsync(self._fd)  # the repair reaches the disk before any new record
        except OSError as exc:
            raise ResultsLogError(
                f"No se puede abrir el archivo de resultados {quoted(self.path)}: {_reason(exc)}.") from exc

    def _resume_csv(self):
        """Check the header, read the rows; return the size to truncate to, or None."""
        header = (_BOM if self.spreadsheet else b"") + _csv_line(_columns(self.top_k), self.spreadsheet)
        head = self._read(len(header))
        if len(head) < len(header) and header.startswith(head):  # new, empty, or cut while created
            os.ftruncate(self._fd, 0)
            self._write_all(header)
            os.fsync(self._fd)
            return None
        if head != header:
            raise self._other_csv_layout()
        data, zeros = _zeros_off(self._read())
        delimiter, width = ";" if self.spreadsheet else ",", len(_columns(self.top_k))
        rows = _csv_rows(data, len(header), delimiter, width)
        if self.spreadsheet:
            rows = [(end, None if record is None else _undefused_record(record)) for end, record in rows]
        return self._keep_whole(data, zeros, len(header), rows,
                                ending=lambda tail: _csv_ending(tail, delimiter, width, self.spreadsheet),
                                torn=lambda tail, relative: _torn_csv(tail, delimiter, width, relative))

    def _resume_json_lines(self):
        data, zeros = _zeros_off(self._read())
        if not _JSON_START.startswith(data[:len(_JSON_START)]) or zeros and not data:
            raise ResultsLogError(_foreign(self.path))  # nor a file of zeros: they follow no record
        keep = self._keep_whole(data, zeros, 0, _json_lines(data), ending=_json_ending, torn=_torn_json)
        saved = max(self._prediction_counts, default=0)
        if saved > self.top_k:  # more saved than asked: wrong for any model
            raise self._count_refused(saved, self.top_k)
        return keep

    def _keep_whole(self, data, zeros, start, rows, ending, torn):
        """Fill the records from rows [(end, _Record or None)] of data; return the size to truncate to, or None.

        zeros: how many NUL bytes followed data in the file. A power cut can leave them where the last
        bytes written never reached the disk; they go, and only they: any other byte with them is kept.
        Only a last row without its newline may be cut short. It stays when it is a whole record
        (ending(tail): the bytes it lacks and its record; they are written before the next record),
        and goes when it is the start of one that this program writes (torn(tail, relative)), with
        an absolute path, or a relative one in a log of an older version, which wrote those. Anything
        else, and every complete line that is not a record, is not ours to delete: refused.
        """
        whole = next((number for number, (_, record) in enumerate(rows) if record is None), len(rows))
        end = rows[whole - 1][0] if whole else start
        tail = data[end:]
        unended = whole + 1 == len(rows) and not tail.endswith(b"\n") and b"\0" not in tail
        if unended and (kept := ending(tail)) is not None:
            self._unended, record = kept
            rows, whole, end, tail = rows[:whole] + [(len(data), record)], whole + 1, len(data), b""
        for _, record in rows[:whole]:  # in file order: the latest record of a photo is its state
            self.recorded.add(record.path)
            if os.path.isabs(record.path):  # a relative one (older versions) was relative to a folder nobody knows
                self._classified[same_photo(record.path)] = record.predictions is not None
            if record.predictions is not None:
                self._prediction_counts.add(record.predictions)
            for class_id, label in record.labels:
                self._labels.setdefault(class_id, set()).add(label)
        if whole == len(rows):
            return end if zeros else None
        older = any(not os.path.isabs(record.path) for _, record in rows[:whole])
        if any(record is not None for _, record in rows[whole:]) or not (unended and torn(tail, older)):
            line = data[:end].count(b"\n") + 1
            raise ResultsLogError(_foreign(self.path, f": la línea {line} no es un resultado"))
        return end

    def _other_csv_layout(self):
        first = self._read(_CHUNK_BYTES).split(b"\n", 1)[0]
        bom = first.startswith(_BOM)
        line = first.removeprefix(_BOM).rstrip(b"\r").decode("utf-8", "replace")
        for delimiter, spreadsheet in ((",", False), (";", True)):
            fields = line.split(delimiter)
            k = (len(fields) - 2) // 3
            if fields != _columns(k) or bom != spreadsheet:
                continue
            if spreadsheet and not self.spreadsheet:
                return ResultsLogError(
                    f"{quoted(self.path)} está en el formato de hoja de cálculo en español (separador «;» y "
                    f"coma decimal), no en CSV normal; elija otro archivo o use ese mismo formato {_KEPT}.")
            if self.spreadsheet and not spreadsheet:
                return ResultsLogError(
                    f"{quoted(self.path)} está en CSV normal (separador «,» y punto decimal), no en el formato "
                    f"de hoja de cálculo en español; elija otro archivo o use CSV normal {_KEPT}.")
            if k != self.top_k:
                return ResultsLogError(
                    f"{quoted(self.path)} tiene columnas para {k} predicciones por imagen y ahora se piden "
                    f"{self.top_k}; elija otro archivo o pida {k} {_KEPT}.")
        return ResultsLogError(_foreign(self.path))

    # --- file access ------------------------------------------------------------------------

    def _read(self, size=None):
        """Bytes from the start of the file: size of them, or all."""
        os.lseek(self._fd, 0, os.SEEK_SET)
        chunks, left = [], size
        while left is None or left > 0:
            chunk = os.read(self._fd, _CHUNK_BYTES if left is None else min(left, _CHUNK_BYTES))
            if not chunk:
                break
            chunks.append(chunk)
            left = None if left is None else left - len(chunk)
        return b"".join(chunks)

    def _write_all(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]


class _Record(NamedTuple):
    path: str
    predictions: int | None  # how many; None for an error record
    labels: tuple = ()  # (class id, name) of each prediction


def _open_or_create(path, flags):
    """(fd, the path of the file this call made, or None when it was there)

    A link to nothing (a log moved away, a folder renamed) makes its target: O_EXCL refuses any link, so
    the target is made by its own name, or a refused model would leave a lone header there.
    """
    try:
        return os.open(path, flags | os.O_EXCL, 0o666), path
    except FileExistsError:
        if os.path.islink(path) and not os.path.exists(path):
            target = os.path.realpath(path)
            try:
                return os.open(target, flags | os.O_EXCL, 0o666), target
            except FileExistsError:  # made meanwhile, or a loop of links: opened (or refused) as it is
                pass
        return os.open(path, flags, 0o666), None


def _remove_if_still(path, fd):
    """Remove path while it is still the file open as fd (the lock is held: no other session wrote to it)."""
    try:
        opened, named = os.fstat(fd), os.stat(path, follow_symlinks=False)
        if (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino):
            os.unlink(path)
    except OSError:
        pass  # left as it is: a header alone is still a valid log


def _undefused_record(record):
    return record._replace(path=_undefused(record.path),
                           labels=tuple((class_id, _undefused(label)) for class_id, label in record.labels))


def same_photo(path):
    """One key per photo, however its path is spelt: ./a.jpg, a.jpg, d//a.jpg, d/../d/a.jpg, /abs/a.jpg."""
    return os.path.normcase(photo_path(path))


def photo_path(path):
    """The path a record keeps: absolute, so that a rerun from any folder knows the photo, and spelt
    one way: no "." or empty parts, and no "d/.." where d is a real folder.

    Links are not resolved: two names of one file are two photos to the user, as in the folder,
    and the record keeps the name the user knows. "link/.." stays: the system goes up from the
    link's target there, so dropping the pair could name another file.
    """
    path = os.fsdecode(path)
    try:
        absolute = os.path.join(os.getcwd(), path)  # an absolute path stays as it is
    except OSError:  # no current folder (it was deleted): nothing relative opens either
        return path
    drive, rest = os.path.splitdrive(absolute)
    parts = re.split("[" + re.escape(os.sep + (os.altsep or "")) + "]", rest)
    kept = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == ".." and (not kept or kept[-1] != ".." and _real_folder(drive + os.sep + os.sep.join(kept))):
            del kept[-1:]  # at the root, ".." is the root
            continue
        kept.append(part)
    # "gato.png/" or "gato.png/." is not the photo gato.png (the system says it is not a folder).
    trailing = os.sep if kept and parts[-1] in ("", ".", "..") else ""
    return drive + os.sep + os.sep.join(kept) + trailing


def _real_folder(path):
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (OSError, ValueError):  # missing, unreadable, or a NUL in the name
        return False


def _columns(top_k):
    """path,error,id_1,label_1,score_1,…,id_K,label_K,score_K"""
    return ["path", "error"] + [f"{name}_{rank}" for rank in range(1, top_k + 1) for name in ("id", "label", "score")]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula
_DEFUSED_STARTS = (*_FORMULA_STARTS, "'")  # and the apostrophe itself, so that it reads back exactly


def _defused(cell):
    """For the spreadsheet flavour: a leading apostrophe keeps a name like =HYPERLINK(...) text.

    A name that already starts with an apostrophe gets one too, so that reading back
    (one apostrophe off) gives every name exactly: "'=a.jpg" and "=a.jpg" stay two files.
    """
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(_DEFUSED_STARTS) else cell


def _undefused(cell):
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_DEFUSED_STARTS) else cell


def _csv_line(cells, spreadsheet, defuse=True):
    if spreadsheet and defuse:
        cells = [_defused(cell) for cell in cells]
    buffer = io.StringIO()
    # With "\r\n" as terminator QUOTE_MINIMAL also quotes a lone "\r"; with "\n" it would not.
    csv.writer(buffer, delimiter=";" if spreadsheet else ",", lineterminator="\r\n").writerow(cells)
    text = buffer.getvalue()
    if not spreadsheet:
        text = text[:-2] + "\n"
    # surrogateescape: the undecodable bytes of a file name go back to disk as they were.
    return text.encode("utf-8", "surrogateescape")


def _zeros_off(data):
    """(data without the NUL bytes at its very end, how many there were)."""
    body = data.rstrip(b"\0")
    return body, len(data) - len(body)


def _lines(data, start=0):
    """Byte lines ending in b"\\n" (never split on "\\r"), the last one maybe without it."""
    while start < len(data):
        end = data.find(b"\n", start) + 1 or len(data)
        yield data[start:end]
        start = end


def _csv_rows(data, start, delimiter, width):
    """[(end offset, _Record)] per row after the header; None for a row that is not whole."""
    with _long_fields():
        return _csv_records(data, start, delimiter, width, [start])


@contextmanager
def _long_fields():
    # The csv module refuses fields over 131,072 characters; this program writes longer ones (a long
    # label, a deep path), so the limit is lifted while its own file is read.
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _csv_records(data, start, delimiter, width, consumed):

    def text_lines():
        for line in _lines(data, start):
            consumed[0] += len(line)
            yield line.decode("utf-8", "surrogateescape")

    # csv.reader pulls lines only as a row needs them: `consumed` is where each row ends.
    reader = csv.reader(text_lines(), delimiter=delimiter, strict=True)
    rows = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error:  # a quote left open by the end of the file, or not CSV at all
            rows.append((consumed[0], None))
            continue
        whole = len(row) == width and data[consumed[0] - 1:consumed[0]] == b"\n"
        rows.append((consumed[0], _csv_record_of(row) if whole else None))


def _csv_record_of(row):
    if row[1]:
        return _Record(row[0], None)
    labels = tuple((int(class_id), path_from_csv(label)) for class_id, label in zip(row[2::3], row[3::3], strict=True)
                   if class_id.isdigit() and class_id.isascii())
    return _Record(row[0], sum(1 for cell in row[2::3] if cell != ""), labels)


def _csv_ending(tail, delimiter, width, spreadsheet):
    """(the bytes it lacks, its record) when a last row without its newline is a whole record as this
    program writes it; else None.

    Only the last cell could still be cut short. Empty, it is whole (the row has all its separators).
    A score alone never proves it: «0.75» may be all of one or the start of «0.7511999607086182», so
    such a row is taken for torn (unless --csv-es's "\r" follows it), and its photo classified again:
    that costs one photo's time, a wrong score kept would cost the result.
    """
    missing = (b"\n" if tail.endswith(b"\r") else b"\r\n") if spreadsheet else b"\n"
    line = tail + missing
    with _long_fields():
        try:
            rows = list(csv.reader((part.decode("utf-8", "surrogateescape") for part in _lines(line)),
                                   delimiter=delimiter, strict=True))
        except csv.Error:
            return None
    if len(rows) != 1 or len(rows[0]) != width or _csv_line(rows[0], spreadsheet, defuse=False) != line:
        return None
    row = rows[0]
    # A record's predictions fill whole (id, label, score) groups, none after an error: a row cut just
    # after its last separator has a group without its score.
    groups = [row[column:column + 3] for column in range(2, width, 3)]
    if any(bool(group[0]) != bool(group[2]) or row[1] and group[0] for group in groups):
        return None
    if row[-1] and not tail.endswith(b"\r"):  # a score with the "\r" of --csv-es after it is whole
        return None
    record = _csv_record_of(row)
    return missing, _undefused_record(record) if spreadsheet else record


def _torn_csv(tail, delimiter, width, relative=False):
    """The start of a row this program writes, cut short: none of its later lines reads as a whole
    row by itself (a quote opened by hand above them is not a torn record), and its cells are what
    the writer puts in each column, the path first: an absolute one (relative: any, as older versions
    wrote)."""
    later = list(_lines(tail))[1:]
    if any(_csv_rows(line, 0, delimiter, width)[:1] not in ([], [(len(line), None)]) for line in later):
        return False
    text, cells, start = tail.decode("utf-8", "surrogateescape"), [], 0
    while len(cells) < width:
        if text.startswith('"', start):  # quoted: doubled quotes inside, and the delimiter or the end after
            end = start + 1
            while (end := text.find('"', end)) >= 0 and text.startswith('"', end + 1):
                end += 2
            if end < 0 or end + 1 == len(text):  # the quote is still open (or this one may be the first of two)
                return _cell_starts(relative, cells, text[start + 1:].replace('""', '"'))
            if text[end + 1] != delimiter:
                return False
            cell, start = text[start + 1:end].replace('""', '"'), end + 2
        else:
            end = text.find(delimiter, start)
            cell = text[start:] if end < 0 else text[start:end]
            if any(c in cell for c in '"\r\n'):  # the writer quotes a cell with any of these
                return False
            if end < 0:
                return _cell_starts(relative, cells, cell)
            start = end + 1
        if not _cell_starts(relative, cells, cell):
            return False
        cells.append(cell)
    return False


def _cell_starts(relative, cells, cell):
    """Whether the next cell of a row that has `cells` may begin with (or be) `cell`."""
    column = len(cells)
    if column == 0:
        return relative or _could_be_absolute(_undefused(cell))
    if column >= 2 and cells[1]:  # an error record has nothing after the error
        return cell == ""
    kind = (column - 2) % 3 if column >= 2 else None
    if kind == 0:  # id
        return cell == "" or cell.isdigit() and cell.isascii()
    if kind == 2:  # score: digits, a point or a comma, an exponent
        return all(c in "0123456789.,e-+" for c in cell)
    return True  # the error, a label


def _could_be_absolute(start):
    """Whether a path that begins so may be absolute, as every path this program records is."""
    return start == "" or os.path.isabs(start) or (os.name == "nt" and re.fullmatch(r"[A-Za-z]:?|[\\/]", start))


def _json_lines(data):
    rows, end = [], 0
    for line in _lines(data):
        end += len(line)
        rows.append((end, _json_record_of(line)))
    return rows


def _json_record_of(line):
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        return None
    if isinstance(record.get("predictions"), list):
        labels = tuple((p["id"], p["label"]) for p in record["predictions"]
                       if isinstance(p, dict) and type(p.get("id")) is int and isinstance(p.get("label"), str))
        return _Record(record["path"], len(record["predictions"]), labels)
    if "error" in record:
        return _Record(record["path"], None)
    return None


def _json_ending(tail):
    """(b"\\n", its record) when a last line without its newline is a whole record; else None."""
    record = _json_record_of(tail + b"\n")
    return None if record is None else (b"\n", record)


def _torn_json(tail, relative=False):
    """The start of a record as this program writes it, cut short, not someone's text: our keys in
    our order, an absolute path, and no raw newline (records never hold one)."""
    try:
        text = tail.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut in the middle
        if exc.end != len(tail) or exc.reason != "unexpected end of data":
            return False
        text = tail[:exc.start].decode("utf-8", "replace")
    reader = _JsonPrefix(text, relative)
    try:
        reader.record()
    except _CutShort:
        return True
    except _NotOurs:
        return False
    return False  # a whole record with more after it, or one the full reader refused


class _CutShort(Exception):
    pass


class _NotOurs(Exception):
    pass


_JSON_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_JSON_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


class _JsonPrefix:
    """Reads a JSON Lines record as json_line writes it; _CutShort where the text ends first."""

    def __init__(self, text, relative=False):
        self.text, self.at, self.relative = text, 0, relative  # relative: paths as older versions wrote

    def record(self):
        self.literal('{"path": ')
        self.string(path=True)
        self.literal(', "')
        if self.next() == "e":
            self.literal('error": ')
            self.string()
        else:
            self.literal('predictions": [')
            while True:
                self.literal('{"id": ')
                self.number(integer=True)
                self.literal(', "label": ')
                self.string()
                self.literal(', "score": ')
                self.number()
                self.literal("}")
                if self.next() == "]":
                    break
                self.literal(", ")
            self.literal("]")
        self.literal("}")
        if self.at < len(self.text):
            raise _NotOurs

    def next(self):
        if self.at >= len(self.text):
            raise _CutShort
        return self.text[self.at]

    def literal(self, expected):
        for c in expected:
            if self.next() != c:
                raise _NotOurs
            self.at += 1

    def string(self, path=False):
        self.literal('"')
        value = []
        try:
            while (c := self.next()) != '"':
                self.at += 1
                if c == "\\":
                    escape = self.next()
                    self.at += 1
                    if escape == "u":
                        digits = "".join(self.next_char() for _ in range(4))
                        if not all(d in "0123456789abcdefABCDEF" for d in digits):
                            raise _NotOurs
                        value.append(chr(int(digits, 16)))
                    elif escape in _JSON_ESCAPES:
                        value.append(_JSON_ESCAPES[escape])
                    else:
                        raise _NotOurs
                elif not c.isprintable():  # json_line escapes every invisible character
                    raise _NotOurs
                else:
                    value.append(c)
        except _CutShort:
            if path and not (self.relative or _could_be_absolute("".join(value))):
                raise _NotOurs from None
            raise
        self.at += 1
        if path and not (self.relative or os.path.isabs("".join(value))):
            raise _NotOurs

    def next_char(self):
        c = self.next()
        self.at += 1
        return c

    def number(self, integer=False):
        start = self.at
        while self.at < len(self.text) and self.text[self.at] in "0123456789.eE-+":
            self.at += 1
        if self.at == len(self.text):
            if not all(c in "0123456789" for c in self.text[start:]) and integer:
                raise _NotOurs
            raise _CutShort
        number = self.text[start:self.at]
        if not _JSON_NUMBER.fullmatch(number) or integer and not number.isdigit():
            raise _NotOurs


def _foreign(path, detail=""):
    return f"{quoted(path)} no es un archivo de resultados de este programa{detail}; elija otro archivo {_KEPT}."


_OPEN_REASONS = {errno.ENOENT: "la carpeta que debe contenerlo no existe"}  # clearer than "no existe" here


def _reason(exc):
    """A short Spanish reason for an OSError (never the English strerror)."""
    return _OPEN_REASONS.get(exc.errno) or system_reason(exc)
