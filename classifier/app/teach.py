"""--aprender CARPETA --nuevo-modelo DESTINO: read the classes, the photos' representations, fit the
head, report its cross-validated figures and write the new model. Prints what a user reads;
cli.py turns Ctrl+C and signals into exit statuses as for every run."""

import argparse
import sys
import time

from classifier.app.console import INTERRUPTED, is_terminal, say
from classifier.base.errors import ImageError, ModelLoadError, quoted
from classifier.base.status import ExitStatus
from classifier.hub.download_progress import duration
from classifier.teaching.classes import TeachingError, read_classes


class TeachingCancelled(Exception):
    """Cancelar in the reading's window: nothing is written; the cache keeps the photos already read."""


def run_teaching(args, progress=None, summary=None, failed=None):
    """progress: a window (advance(done, total), cancelled()) instead of the terminal's bar; summary: a list
    that gets the lines a user reads about the result (classes, accuracy, warnings); failed(sentence): told
    the error's sentence, also said in the terminal."""
    started = time.monotonic()
    try:
        return _teach(args, started, progress, [] if summary is None else summary)
    except TeachingError as exc:
        say(f"Error: {exc}")
        if failed is not None:
            failed(str(exc))
        return ExitStatus.USAGE
    except _ModelFailed as exc:
        say(f"Error: {exc}")
        if failed is not None:
            failed(str(exc))
        return ExitStatus.MODEL_FAILED


class _ModelFailed(Exception):
    """The base model could not be loaded: its sentence, status 3 as for any run."""


def _teach(args, started, progress, told):
    from classifier.engine.session import load_classifier, loaded_sentence
    from classifier.teaching.writing import check_destination

    if args.paths:
        raise TeachingError("Con --aprender no se clasifican rutas: las fotos van en las subcarpetas de CARPETA, "
                            "una por clase.")
    if args.aprender is None:
        raise TeachingError("--nuevo-modelo va con --aprender CARPETA: la carpeta con una subcarpeta de fotos por "
                            "clase.")
    notes = []
    classes = read_classes(args.aprender, notes)
    check_destination(args.nuevo_modelo, args.aprender)
    names = [taught.name for taught in classes]
    _show(classes_lines_of(classes))
    told += classes_lines_of(classes)
    for note in notes:
        say(note)
    if progress is not None:
        progress.advance(0, sum(len(taught.photos) for taught in classes))  # on screen while the model loads
    # The exact float32 model, its layers not repacked: its own classification layer is the one replaced.
    exact = argparse.Namespace(**{**vars(args), "rapido": False, "mapa": None})
    try:
        classifier = load_classifier(exact, images_expected=1)
    except ModelLoadError as exc:
        raise _ModelFailed(str(exc)) from None
    INTERRUPTED.raise_if_set()
    say(loaded_sentence(classifier, args.verbose))
    from classifier.teaching.features import Representation

    representation = Representation(classifier, args.model)
    features, labels, counts, duplicates, fresh = _read_photos(representation, classes, progress)
    empty = [name for name, count in zip(names, counts, strict=True) if count == 0]
    if empty:
        raise TeachingError(f"La clase «{empty[0]}» no tiene ninguna foto que se pueda leer: añada fotos que sean "
                            "imágenes.")
    cached = len(labels) - fresh
    _show([f"Fotos leídas con el modelo: {fresh}" + (f"; de la caché (ya leídas antes): {cached}." if cached else ".")])
    from classifier.teaching.report import accuracy_lines, input_warnings

    for line in input_warnings(names, counts, duplicates):
        say(line)
        told.append(line)
    from classifier.teaching.head import teach

    head = teach(features, labels, len(names))
    lines = accuracy_lines(names, labels, head.held_out, head.folds)
    _show([line for line in lines if not line.startswith("Aviso:")])
    for line in lines:
        if line.startswith("Aviso:"):
            say(line)
    told += [line for line in lines if not line.startswith("Aviso:")] + [
        line for line in lines if line.startswith("Aviso:")]
    INTERRUPTED.raise_if_set()
    from classifier.teaching.writing import put_head, write_model

    put_head(classifier.model, representation.layer_name, head.weight, head.bias, names)
    summary = {"base": str(args.model), "clases": dict(zip(names, counts, strict=True)),
               "precision_estimada": float((head.held_out == labels).mean()), "lambda": head.lam}
    write_model(classifier.model, classifier.processor, args.nuevo_modelo, summary)
    saved = [f"Modelo nuevo guardado en {quoted(args.nuevo_modelo)}. Para usarlo: "
             f"python script_modelo.py --modelo {args.nuevo_modelo}",
             f"Tiempo: {duration(time.monotonic() - started)}."]
    _show(saved)
    told += saved
    return ExitStatus.OK


def classes_lines_of(classes):
    from classifier.teaching.report import classes_lines

    return classes_lines([taught.name for taught in classes], [len(taught.photos) for taught in classes])


def _read_photos(representation, classes, progress=None):
    """(features, labels, readable photos per class, duplicates across classes, photos run through the model)."""
    import numpy as np

    from classifier.teaching.cache import FeatureCache
    from classifier.teaching.features import content_hash, representations

    cache = FeatureCache(representation.identity(), representation.size)
    total = sum(len(taught.photos) for taught in classes)
    bar = _bar(total) if progress is None else _WindowBar(progress, total)
    rows, labels, counts, duplicates, first_seen = [], [], [0] * len(classes), [], {}
    pending = []  # (path, class index, hash) not in the cache
    try:
        for index, taught in enumerate(classes):
            for path in taught.photos:
                try:
                    photo_hash = content_hash(path)
                except ImageError as exc:
                    _skipped(bar, exc)
                    continue
                earlier = first_seen.setdefault(photo_hash, (index, path))
                if earlier[0] != index:
                    duplicates.append((classes[earlier[0]].name, taught.name, earlier[1], path))
                row = cache.get(photo_hash)
                if row is None:
                    pending.append((path, index, photo_hash))
                    continue
                rows.append(row)
                labels.append(index)
                counts[index] += 1
                _advance(bar)
        if progress is not None:
            progress.advance(len(rows), total)
        by_path = {path: (index, photo_hash) for path, index, photo_hash in pending}
        for path, row in representations(representation, [path for path, _, _ in pending]):
            INTERRUPTED.raise_if_set()
            if isinstance(row, ImageError):
                _skipped(bar, row)
                continue
            index, photo_hash = by_path[path]
            cache.put(photo_hash, row)
            rows.append(row)
            labels.append(index)
            counts[index] += 1
            _advance(bar)
    finally:
        if bar is not None:
            bar.close()
    features = np.stack(rows) if rows else np.zeros((0, representation.size), dtype=np.float32)
    return features, np.asarray(labels), counts, duplicates, len(pending)


class _WindowBar:
    """The reading's window in the place of tqdm's bar: skipped photos are said in the terminal."""

    def __init__(self, window, total):
        self.window, self.total, self.done = window, total, 0

    def update(self):
        self.done += 1
        self.window.advance(self.done, self.total)
        if self.window.cancelled():
            raise TeachingCancelled

    def write(self, sentence, file=None):
        say(sentence)

    def close(self):
        self.window.close()  # the reading is over: the summary box comes next, alone on screen


def _bar(total):
    if not is_terminal(sys.stderr):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="foto", desc="Leyendo las fotos", file=sys.stderr, leave=False)


def _advance(bar):
    if bar is not None:
        bar.update()


def _skipped(bar, error):
    sentence = f"Se omite {quoted(error.path)}: {error.reason}."
    if bar is None:
        say(sentence)
    else:
        bar.write(sentence, file=sys.stderr)
        bar.update()


def _show(lines):
    for line in lines:
        print(line, flush=True)
