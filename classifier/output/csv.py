"""Results as CSV: one cell encoding and one row writer for stdout (--csv) and the --guardar log alike.

stdout writes a row per prediction (path,rank,id,label,score); the log a row per image
(path,error,id_1,label_1,score_1,…), which --csv-es writes for a Spanish spreadsheet.
"""

import csv
import io
import re

from classifier.base.errors import escape_character
from classifier.base.spanish import exact

from .text import format_result

_CSV_ESCAPE = re.compile(r'\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[nrt"\\])')
_CSV_UNESCAPED = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_OUTPUT_COLUMNS = ["path", "rank", "id", "label", "score"]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula
_DEFUSED_STARTS = (*_FORMULA_STARTS, "'")  # and the apostrophe itself, so that it reads back exactly


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


def columns(top_k=None, spreadsheet=False):
    """The header: stdout's path,rank,id,label,score (top_k None), or the log's
    path,error,id_1,label_1,score_1,…,id_K,label_K,score_K: the names scripts read, as the transformers
    pipeline's (label, score). The log for a Spanish spreadsheet (--csv-es) is read by a person: its names
    are Spanish, ruta;error;id_1;clase_1;probabilidad_1;…"""
    if top_k is None:
        return list(_OUTPUT_COLUMNS)
    path, label, score = ("ruta", "clase", "probabilidad") if spreadsheet else ("path", "label", "score")
    return [path, "error"] + [f"{name}_{rank}" for rank in range(1, top_k + 1) for name in ("id", label, score)]


def csv_rows(result, top_k=None, spreadsheet=False):
    """The text one result adds to a table: a row per prediction (top_k None, stdout; an error has
    none, it goes to stderr), or the log's one row per image with top_k groups of columns (fewer
    predictions leave theirs empty), its path as given (the log's is absolute) and its error.

    Labels are csv_path(label) in both: nothing invisible raw, always UTF-8 (a lone surrogate from a
    model's config.json is written as its escape, as the table and JSON show it).
    spreadsheet: the log for a Spanish spreadsheet (--csv-es): ";", decimal comma, formulas defused, CRLF.
    """
    if top_k is None:
        if result.error is not None:
            return ""
        return "".join(csv_line([csv_path(result.path), rank, p.id, csv_path(str(p.label)), repr(p.score)])
                       for rank, p in enumerate(result.predictions, start=1))
    cells = [result.path, result.error or ""]
    for p in result.predictions or []:
        cells += [int(p.id), csv_path(str(p.label)), exact(p.score) if spreadsheet else repr(float(p.score))]
    width = len(columns(top_k))
    if len(cells) > width:
        raise ValueError(f"{len(result.predictions)} predictions for a log of top_k={top_k}")
    return csv_line(cells + [""] * (width - len(cells)), spreadsheet)


def csv_line(cells, spreadsheet=False, defuse=True):
    """One row: "," and "\n", or ";" and "\r\n" with each cell defused (spreadsheet).

    With "\r\n" as terminator QUOTE_MINIMAL quotes a cell with a lone "\r" too; with "\n" it
    would not, and the "\r" would split the row in two for csv.reader.
    """
    if spreadsheet and defuse:
        cells = [_defused(cell) for cell in cells]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";" if spreadsheet else ",", lineterminator="\r\n").writerow(cells)
    text = buffer.getvalue()
    return text if spreadsheet else text[:-2] + "\n"


def _defused(cell):
    """For the spreadsheet flavour: a leading apostrophe keeps a name like =HYPERLINK(...) text.

    A name that already starts with an apostrophe gets one too, so that reading back
    (one apostrophe off) gives every name exactly: "'=a.jpg" and "=a.jpg" stay two files.
    """
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(_DEFUSED_STARTS) else cell


def undefused(cell):
    """A spreadsheet cell as it was before _defused."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_DEFUSED_STARTS) else cell


class CsvWriter:
    """Header path,rank,id,label,score; one row per prediction. Errors go to stderr.

    The path and label columns are csv_path(text): the text as it is, except text with
    bytes that are not UTF-8 or invisible characters, which is quoted and escaped, on a
    terminal or in a file alike.
    """

    def __init__(self, out, err):
        self.out, self.err = out, err
        self._write(csv_line(columns()))

    def write(self, result):
        if result.error is not None:
            self.err.write(format_result(result) + "\n")
            self.err.flush()
            return
        self._write(csv_rows(result))  # one write per image: an interrupted run never leaves half of its rows

    def _write(self, text):
        self.out.write(text)
        self.out.flush()
