"""Results as text (three decimals), JSON Lines or CSV. Consumes plain data only."""

import csv
import io
import json
import os
from typing import NamedTuple


class Result(NamedTuple):
    """One input: its path as the user gave it, and predictions or a Spanish error.

    With attention maps asked for: heatmap (rows x columns of patches), a display-size
    picture and the part of it the model saw.
    """

    path: str
    predictions: list | None = None
    error: str | None = None
    heatmap: object = None
    picture: object = None
    seen: object = None
    map_file: str | None = None


def format_predictions(predictions):
    """Aligned lines of rank, label and probability with exactly three decimals."""
    rank_width = len(str(len(predictions)))
    label_width = max((len(p.label) for p in predictions), default=0)
    return "\n".join(
        f"  {rank:>{rank_width}}  {p.label:<{label_width}}  {p.score:.3f}"
        for rank, p in enumerate(predictions, start=1)
    )


class TextWriter:
    """Path, then the top-k; errors go to stderr so stdout holds only results."""

    def __init__(self, out, err):
        self.out, self.err = out, err
        self._first = True

    def write(self, result):
        if result.error is not None:
            self.err.write(f"Error: {result.error}\n")
            self.err.flush()
            return
        if not self._first:
            self.out.write("\n")
        self._first = False
        self.out.write(f"{result.path}\n{format_predictions(result.predictions)}\n")
        if result.map_file is not None:
            self.out.write(f"  mapa de atención: {result.map_file}\n")
        self.out.flush()


class JsonLinesWriter:
    """One JSON object per input, errors included, with full-precision scores."""

    def __init__(self, out, err):
        self.out = out

    def write(self, result):
        if result.error is not None:
            record = {"path": result.path, "error": result.error}
        else:
            record = {"path": result.path,
                      "predictions": [{"label": p.label, "score": p.score} for p in result.predictions]}
            if result.map_file is not None:
                record["map"] = result.map_file
        # One write per line: an interrupted run leaves only whole lines behind.
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.out.flush()


class CsvWriter:
    """Header path,rank,label,score; one row per prediction. Errors go to stderr."""

    def __init__(self, out, err):
        self.out, self.err = out, err
        self._write_rows([["path", "rank", "label", "score"]])

    def write(self, result):
        if result.error is not None:
            self.err.write(f"Error: {result.error}\n")
            self.err.flush()
            return
        self._write_rows(
            [result.path, rank, p.label, repr(p.score)] for rank, p in enumerate(result.predictions, start=1)
        )

    def _write_rows(self, rows):
        # One write per image: an interrupted run never leaves half of an image's rows.
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        self.out.write(buffer.getvalue())
        self.out.flush()


class MapFolder:
    """Where --mapa writes one PNG per image, named after it (gato.jpg -> gato_mapa.png)."""

    def __init__(self, folder):
        self.folder = folder
        self.used = set()
        self.error = None
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            self.error = f"No se puede crear la carpeta de mapas «{folder}»: {exc.strerror or exc}."

    def save(self, result):
        from .drawing import save_result

        name = self._name_for(result.path)
        target = os.path.join(self.folder, name)
        try:
            save_result(target, result.picture, result.predictions, os.path.basename(result.path),
                        result.heatmap, result.seen)
        except OSError as exc:
            return result._replace(predictions=None, error=(
                f"No se pudo guardar el mapa de «{result.path}» en «{target}»: {exc.strerror or exc}."))
        return result._replace(map_file=target, heatmap=None, picture=None, seen=None)

    def _name_for(self, path):
        stem = os.path.splitext(os.path.basename(path))[0] or "imagen"
        name, copy = f"{stem}_mapa.png", 2
        while name in self.used:  # gato.jpg and gato.png, or two folders with a gato.jpg
            name, copy = f"{stem}_mapa_{copy}.png", copy + 1
        self.used.add(name)
        return name


WRITERS = {"text": TextWriter, "json": JsonLinesWriter, "csv": CsvWriter}
