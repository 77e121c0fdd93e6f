"""Reading a CSV log back: its rows as records, and whether a last row without its newline is whole or torn."""

import csv
import sys
from contextlib import contextmanager

from ..output.csv import csv_line, path_from_csv, undefused
from .records import _as_stored, _could_be_absolute, _lines, _Record


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
    if len(rows) != 1 or len(rows[0]) != width or _as_stored(csv_line(rows[0], spreadsheet, defuse=False)) != line:
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


def _undefused_record(record):
    return record._replace(path=undefused(record.path),
                           labels=tuple((class_id, undefused(label)) for class_id, label in record.labels))


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
        return relative or _could_be_absolute(undefused(cell))
    if column >= 2 and cells[1]:  # an error record has nothing after the error
        return cell == ""
    kind = (column - 2) % 3 if column >= 2 else None
    if kind == 0:  # id
        return cell == "" or cell.isdigit() and cell.isascii()
    if kind == 2:  # score: digits, a point or a comma, an exponent
        return all(c in "0123456789.,e-+" for c in cell)
    return True  # the error, a label
