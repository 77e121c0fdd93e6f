"""Reading a JSON Lines log back: its lines as records, and whether a last line without its newline is
whole or the start of a record this program writes, cut short."""

import json
import os
import re

from .records import _could_be_absolute, _lines, _Record

_JSON_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_JSON_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


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
