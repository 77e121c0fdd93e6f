"""What reading a log back gives: its records, line by line; shared by the CSV and JSON recoveries."""

import os
import re
from typing import NamedTuple


class _Record(NamedTuple):
    path: str
    predictions: int | None  # how many; None for an error record
    labels: tuple = ()  # (class id, name) of each prediction


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


def _could_be_absolute(start):
    """Whether a path that begins so may be absolute, as every path this program records is."""
    return start == "" or os.path.isabs(start) or (os.name == "nt" and re.fullmatch(r"[A-Za-z]:?|[\\/]", start))


def _as_stored(text):
    """A line's bytes in the log. surrogateescape: the undecodable bytes of a file name go back to disk as
    they were."""
    return text.encode("utf-8", "surrogateescape")
