"""The --guardar log: one record per classified image, appended and flushed as it comes.

Records name each photo by its absolute path, so that a rerun from another folder knows them.
Rerunning the same command reopens the log, drops a torn last record (a power cut, a full
disk) and keeps a whole one that only lacks its newline; `pending` tells the front-end which
inputs are left to do: those without a record, and those whose latest record is an error. A
photo is one photo however its path is spelt (./a.jpg, a.jpg, dir/../a.jpg, the absolute path).
"""

import errno
import os
import stat
import time

from classifier.base.errors import ClassifierError, printable, quoted, system_reason

from ..output.csv import columns, csv_line, csv_rows
from ..output.jsonl import json_record
from .csv_recovery import _csv_ending, _csv_rows, _torn_csv, _undefused_record
from .json_recovery import _json_ending, _json_lines, _torn_json
from .paths import photo_path, same_photo
from .records import _as_stored, _zeros_off

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
        # The batch's own JSON line, without --mapa's file: names exact (\udcff escapes), nothing invisible raw.
        return (json_record(result, with_map=False) + "\n").encode("utf-8")

    def _csv_record(self, result):
        try:
            return _as_stored(csv_rows(result, self.top_k, self.spreadsheet))
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
        header = (_BOM if self.spreadsheet else b"") + _as_stored(
            csv_line(columns(self.top_k, self.spreadsheet), self.spreadsheet))
        head = self._read(len(header))
        if len(head) < len(header) and header.startswith(head):  # new, empty, or cut while created
            os.ftruncate(self._fd, 0)
            self._write_all(header)
            os.fsync(self._fd)
            return None
        if head != header:
            raise self._other_csv_layout()
        data, zeros = _zeros_off(self._read())
        delimiter, width = ";" if self.spreadsheet else ",", len(columns(self.top_k))
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
            if spreadsheet and bom and self.spreadsheet and fields == columns(k):
                # Written before --csv-es named its columns in Spanish: resuming would mix two headers.
                return ResultsLogError(
                    f"{quoted(self.path)} es de una versión anterior del programa (sus columnas tienen nombres en "
                    f"inglés); elija otro archivo {_KEPT}.")
            if fields != columns(k, spreadsheet) or bom != spreadsheet:
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


def _foreign(path, detail=""):
    return f"{quoted(path)} no es un archivo de resultados de este programa{detail}; elija otro archivo {_KEPT}."


_OPEN_REASONS = {errno.ENOENT: "la carpeta que debe contenerlo no existe"}  # clearer than "no existe" here


def _reason(exc):
    """A short Spanish reason for an OSError (never the English strerror)."""
    return _OPEN_REASONS.get(exc.errno) or system_reason(exc)
