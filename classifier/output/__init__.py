"""Results as text (three decimals), JSON Lines or CSV. Consumes plain data only (--mapa's PNGs are drawn in gui/).

One encoder per format (text, jsonl, csv), used by stdout and the --guardar log alike.
File names may hold anything but "/" and NUL, bytes that are not UTF-8 and terminal
escape sequences included: the text output shows them escaped (display_path), JSON
and CSV keep the exact name recoverable (see JsonLinesWriter and CsvWriter).
"""

from classifier.base.results import Result

from .csv import CsvWriter, csv_path, path_from_csv
from .jsonl import JsonLinesWriter, json_line
from .text import TextWriter, format_result

WRITERS = {"text": TextWriter, "json": JsonLinesWriter, "csv": CsvWriter}

# Result: callers have long imported it from here.
__all__ = ["WRITERS", "CsvWriter", "JsonLinesWriter", "Result", "TextWriter", "csv_path", "format_result",
           "json_line", "path_from_csv"]
